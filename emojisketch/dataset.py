"""Drawings for training and testing the base model: one identity per drawing, and a split by it.

Google publishes each drawing several times: as simplified strokes, as raw strokes (same
``key_id``) and as a 28x28 bitmap (no ``key_id``, but row *i* of a word's bitmap file is line
*i* of its simplified file). This project's ``thin/`` renders follow the same order, and its
raw files hold drawings found at unknown positions of that order. So that a drawing is never
both trained on and tested on, every drawing gets one key:

* strokes: their ``key_id``;
* the image at position *i*: the ``key_id`` of simplified line *i*, or of the raw drawing whose
  render matches it, else ``"<word>#<i>"``.

The split hashes that key (:class:`Split`). An image whose drawing we also hold as strokes is
dropped: the strokes are better (they can be augmented and re-rendered).

Files are read one word at a time and at most ``cap`` drawings of each file, so a folder of
all 50M drawings needs no more memory than ``cap`` drawings a word.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import quickdraw
from .augment import StrokeAug, augment_drawing, thicken_thin
from .errors import DataFormatError, InkError
from .ink import SIDE, Drawing, normalize, rasterize, to_image, to_uint8

# A raw drawing's render is the image at some position if their mean abs difference is small
# and clearly smaller than with any other image (measured: same drawing ~10/255, with the
# next best image at least twice that).
MATCH_MAD = 24 / 255
MATCH_RATIO = 0.6


@dataclass(frozen=True)
class Split:
    """Test side if hash(salt, key) lands in the first ``test_percent`` of 10,000 buckets."""

    test_percent: float = 15.0
    salt: str = "emojisketch-split-1"

    def is_test(self, key: str) -> bool:
        h = hashlib.blake2b(f"{self.salt}:{key}".encode(), digest_size=8).digest()
        return int.from_bytes(h, "little") % 10_000 < self.test_percent * 100

    def to_dict(self) -> dict:
        return {"test_percent": self.test_percent, "salt": self.salt}


@dataclass
class Item:
    """One drawing: strokes in the 0..255 frame, or a 28x28 uint8 image in Google's look."""

    word: str
    key: str
    drawing: Drawing | None = None
    image: np.ndarray | None = None
    source: str = ""

    def render(self) -> np.ndarray:
        """The image the base model is tested on: the app's ink pipeline for strokes."""
        if self.drawing is not None:
            return to_image(self.drawing)
        return self.image.astype(np.float32) / 255.0


@dataclass
class WordFiles:
    simplified: list[Path] = field(default_factory=list)
    raw: list[Path] = field(default_factory=list)
    bitmap: list[Path] = field(default_factory=list)
    thin: list[Path] = field(default_factory=list)


def word_files(path: str | Path) -> tuple[dict[str, WordFiles], list[Path]]:
    """Files below ``path`` by word (the word read off Google's file names), and the files
    skipped because their name does not say which word they hold."""
    by_word: dict[str, WordFiles] = {}
    skipped = []
    for f in quickdraw.data_files(path):
        name = f.name
        if name.startswith("full_simplified_"):
            kind = "simplified"
        elif name.startswith("full_raw_"):
            kind = "raw"
        elif name.startswith("full_numpy_bitmap_") or (name.endswith(".npy") and f.parent.name != "thin"):
            kind = "bitmap"
        elif name.endswith(".npy"):
            kind = "thin"
        else:
            skipped.append(f)
            continue
        getattr(by_word.setdefault(quickdraw.word_of(f), WordFiles()), kind).append(f)
    return by_word, skipped


def record_image(rec: quickdraw.Record) -> np.ndarray:
    """Any record -> the (28, 28) float32 image the model sees (strokes: ``ink.to_image``;
    ``thin/`` renders: thickened; Google's bitmaps: as they are)."""
    if rec.drawing is not None:
        return to_image(rec.drawing)
    if rec.source == "thin":
        return thicken_thin(rec.image[None])[0]
    return np.asarray(rec.image, dtype=np.float32)


def _strokes(files: list[Path], cap: int) -> list[quickdraw.Record]:
    out = []
    for f in files:
        for rec in quickdraw.read_ndjson(f):
            if len(out) >= cap:
                return out
            out.append(rec)
    return out


def _images(files: list[Path], cap: int, thin: bool) -> dict[int, np.ndarray]:
    """Position -> uint8 image in Google's look, for the first ``cap`` rows."""
    out: dict[int, np.ndarray] = {}
    for f in files:
        rows = np.asarray(quickdraw.open_bitmaps(f)[: cap - len(out)])
        if thin and len(rows):
            rows = to_uint8(thicken_thin(rows.astype(np.float32) / 255.0)).reshape(len(rows), -1)
        for row in rows:
            out[len(out)] = row.reshape(SIDE, SIDE)
        if len(out) >= cap:
            break
    return out


def load_word(word: str, files: WordFiles, cap: int = 3000) -> list[Item]:
    """Every distinct drawing of one word (at most ``cap`` of each file kind), keyed."""
    items: list[Item] = []
    position_key: dict[int, str] = {}
    seen: set[str] = set()
    for i, rec in enumerate(_strokes(files.simplified, cap)):
        position_key[i] = rec.key_id
        if rec.key_id not in seen:
            seen.add(rec.key_id)
            items.append(Item(word, rec.key_id, rec.drawing, None, "simplified"))
    loose = []  # raw drawings whose position we do not know
    for rec in _strokes(files.raw, cap):
        if rec.key_id in seen:
            continue  # Google's full data: the same drawing as a simplified line
        seen.add(rec.key_id)
        try:
            item = Item(word, rec.key_id, normalize(rec.drawing), None, "raw")
        except InkError:
            continue
        items.append(item)
        loose.append(item)
    images = _images(files.bitmap, cap, thin=False)
    for pos, img in _images(files.thin, cap, thin=True).items():
        images.setdefault(pos, img)  # Google's own render where there is one
    _match_loose(loose, images, position_key)
    n_bitmap = _n_rows(files.bitmap, cap)  # once: it opens every file
    for pos, img in sorted(images.items()):
        if pos in position_key:
            continue  # we hold this drawing's strokes
        source = "bitmap" if pos < n_bitmap else "thin"
        items.append(Item(word, f"{word}#{pos}", None, img, source))
    return items


def _n_rows(files: list[Path], cap: int) -> int:
    return min(sum(len(quickdraw.open_bitmaps(f)) for f in files), cap)


def _match_loose(loose: list[Item], images: dict[int, np.ndarray], position_key: dict[int, str]):
    """Find the image position of each raw drawing by comparing its render with the images."""
    free = [p for p in images if p not in position_key]
    if not loose or not free:
        return
    stack = np.stack([images[p] for p in free]).reshape(len(free), -1).astype(np.float32) / 255
    for item in loose:
        mad = np.abs(stack - rasterize(item.drawing).reshape(1, -1)).mean(axis=1)
        order = np.argsort(mad)
        best = int(order[0])
        runner_up = float(mad[order[1]]) if len(mad) > 1 else 1.0
        if mad[best] < min(MATCH_MAD, MATCH_RATIO * runner_up) and free[best] not in position_key:
            position_key[free[best]] = item.key


def split_items(items: list[Item], split: Split) -> tuple[list[Item], list[Item]]:
    train = [it for it in items if not split.is_test(it.key)]
    test = [it for it in items if split.is_test(it.key)]
    return train, test


def recorded_split(data: str | Path, recorded: dict, words: list[str] | None = None):
    """(word, training items, test items) for each word of ``data`` (or of ``words`` that
    ``data`` has), split as a trained model's checkpoint records it (its ``split`` extra:
    test_percent, salt, cap_per_word)."""
    the_split = Split(recorded.get("test_percent", 15.0), recorded.get("salt", ""))
    by_word, _ = word_files(data)
    if not by_word:
        raise DataFormatError(f"{data}: a recorded split needs Google's file names (they say the word)")
    for word in sorted(by_word) if words is None else [w for w in words if w in by_word]:
        items = load_word(word, by_word[word], int(recorded.get("cap_per_word", 3000)))
        yield (word, *split_items(items, the_split))


def first_per_class(pairs, per_class: int) -> list:
    """The first ``per_class`` (item, class) pairs of each class, in their order."""
    seen: dict[int, int] = {}
    chosen = []
    for item, c in pairs:
        seen[c] = seen.get(c, 0) + 1
        if seen[c] <= per_class:
            chosen.append((item, c))
    return chosen


def class_batches(pairs, batch: int = 256):
    """(images (B, 1, 28, 28), classes (B,)) of (item, class) pairs, rendered as the base
    model is tested (no augmentation)."""
    for i in range(0, len(pairs), batch):
        part = pairs[i : i + batch]
        x = torch.from_numpy(np.stack([it.render() for it, _ in part]).astype(np.float32))
        yield x[:, None], torch.tensor([c for _, c in part], dtype=torch.long)


def parse_word_list(text: str) -> list[str]:
    """Words from a file's text: one a line, '#' comments ignored."""
    words = [re.sub(r"#.*", "", line).strip() for line in text.splitlines()]
    return [w for w in words if w]


def pick_holdout(candidates: list[str], n: int, seed: int, avoid: set[str] = frozenset()) -> list[str]:
    """``n`` words chosen at random (with ``seed``) among ``candidates``, ``avoid`` last."""
    rng = np.random.default_rng(seed)
    first = [w for w in sorted(candidates) if w not in avoid]
    last = [w for w in sorted(candidates) if w in avoid]
    order = list(rng.permutation(first)) + list(rng.permutation(last)) if candidates else []
    return sorted(str(w) for w in order[: max(n, 0)])


class EpochImages(torch.utils.data.Dataset):
    """One epoch's training drawings as (image, class, is_image): strokes are augmented and
    re-rendered (in the DataLoader's worker), images pass as they are (augmented in batches)."""

    def __init__(self, items: list[tuple[Item, int]], seed: tuple[int, ...],
                 aug: StrokeAug | None = None):
        self.items, self.seed, self.aug = items, seed, aug or StrokeAug()

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        item, c = self.items[i]
        if item.drawing is not None:
            rng = np.random.default_rng([*self.seed, i])  # the same pixels whichever worker draws
            image = rasterize(augment_drawing(item.drawing, rng, self.aug))
            return torch.from_numpy(image)[None], c, False
        return torch.from_numpy(item.image.astype(np.float32) / 255.0)[None], c, True
