"""Readers for Google's Quick, Draw! files, streaming, in every format Google publishes.

* ``full_simplified_<word>.ndjson`` and ``full_raw_<word>.ndjson`` (plain or ``.gz``): one JSON
  object a line with ``word``, ``key_id`` and ``drawing``; raw strokes carry times.
* ``full_numpy_bitmap_<word>.npy`` (and this project's ``thin/<word>.npy``): ``N x 784`` uint8
  28x28 renders. Read through a memory map, so a 1 GB file does not need 1 GB of memory.

:func:`read` takes a file or a folder and yields :class:`Record` objects one at a time.
Anything malformed raises :class:`~emojisketch.errors.DataFormatError` naming the file and line.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .errors import DataFormatError, InkError
from .ink import SIDE, Drawing

CREDIT = "Quick, Draw! dataset by Google Creative Lab, CC BY 4.0"

_PREFIXES = ("full_simplified_", "full_raw_", "full_numpy_bitmap_")


@dataclass(frozen=True)
class Record:
    """One doodle: its word, an id, and either strokes or a ready 28x28 image (or both)."""

    word: str
    key_id: str
    drawing: Drawing | None = None
    image: np.ndarray | None = None  # (28, 28) float32 in [0, 1], when the file is a bitmap
    source: str = ""  # "simplified", "raw", "bitmap" or "thin"
    recognized: bool | None = None
    countrycode: str | None = None


def word_of(path: str | os.PathLike) -> str:
    """The category a Google file name stands for: ``full_raw_hot dog.ndjson.gz`` -> ``hot dog``."""
    name = Path(path).name
    for ext in (".gz", ".ndjson", ".npy"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _source_of(path: Path) -> str:
    name = path.name
    if name.startswith("full_raw_"):
        return "raw"
    if name.startswith("full_numpy_bitmap_"):
        return "bitmap"
    if name.endswith(".npy"):
        return "thin" if path.parent.name == "thin" else "bitmap"
    return "simplified"


def data_files(path: str | os.PathLike) -> list[Path]:
    """Every readable data file at ``path`` (itself, or those below a folder), sorted."""
    root = Path(path)
    if not root.exists():
        raise DataFormatError(f"no such file or folder: {root}")
    if root.is_file():
        return [root]
    found = [
        p for p in root.rglob("*")
        if p.is_file() and re.search(r"\.(ndjson|ndjson\.gz|npy)$", p.name)
    ]
    return sorted(found)


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def parse_line(line: str, *, where: str = "", y_up: bool = False) -> Record:
    """One ndjson line to a :class:`Record`; errors name ``where`` (file:line)."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(obj, dict) or "drawing" not in obj:
        raise DataFormatError(f"{where}: a Quick, Draw! line is an object with a 'drawing'")
    try:
        drawing = Drawing.from_google(obj["drawing"], y_up=y_up)
    except InkError as exc:
        raise DataFormatError(f"{where}: {exc}") from None
    return Record(
        word=str(obj.get("word", "")),
        key_id=str(obj.get("key_id", where)),
        drawing=drawing,
        recognized=obj.get("recognized"),
        countrycode=obj.get("countrycode"),
    )


def read_ndjson(path: str | os.PathLike, *, y_up: bool = False) -> Iterator[Record]:
    """Stream the drawings of one ``.ndjson`` or ``.ndjson.gz`` file, a line at a time."""
    path = Path(path)
    source = _source_of(path)
    try:
        with _open_text(path) as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                rec = parse_line(line, where=f"{path.name}:{n}", y_up=y_up)
                yield Record(rec.word or word_of(path), rec.key_id, rec.drawing, None,
                             source, rec.recognized, rec.countrycode)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: cannot be read ({exc})") from None


def open_bitmaps(path: str | os.PathLike) -> np.ndarray:
    """An ``N x 784`` uint8 bitmap file as a read-only memory map, shape checked."""
    path = Path(path)
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataFormatError(f"{path}: not a numpy bitmap file ({exc})") from None
    if arr.ndim != 2 or arr.shape[1] != SIDE * SIDE or arr.dtype != np.uint8:
        raise DataFormatError(
            f"{path}: expected N x {SIDE * SIDE} uint8 bitmaps, got {arr.shape} {arr.dtype}"
        )
    return arr


def read_bitmaps(path: str | os.PathLike) -> Iterator[Record]:
    """Stream the 28x28 images of one ``.npy`` bitmap file."""
    path = Path(path)
    arr = open_bitmaps(path)
    word, source = word_of(path), _source_of(path)
    for i in range(len(arr)):
        image = np.asarray(arr[i], dtype=np.float32).reshape(SIDE, SIDE) / 255.0
        yield Record(word, f"{path.name}#{i}", None, image, source)


def read(path: str | os.PathLike, *, words: Iterable[str] | None = None,
         y_up: bool = False) -> Iterator[Record]:
    """Every drawing at ``path`` (a file or a folder of Google's files), streamed.

    ``words`` keeps only those categories (matched on the file name where it tells the word,
    so other files are never opened).
    """
    wanted = None if words is None else set(words)
    for f in data_files(path):
        if wanted is not None and f.name.startswith(_PREFIXES) and word_of(f) not in wanted:
            continue
        if f.name.endswith(".npy"):
            if wanted is not None and word_of(f) not in wanted:
                continue
            yield from read_bitmaps(f)
        else:
            for rec in read_ndjson(f, y_up=y_up):
                if wanted is None or rec.word in wanted:
                    yield rec
