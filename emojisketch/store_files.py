"""The personalized model files of a :class:`~emojisketch.store.Store` and the pointer that
says which one is current.

Layout of ``<root>/models/``::

    personal-000012.safetensors   one file per saved model, never rewritten
    state.json                    the pointer: the current entry, the previous few, newest first
    *.corrupt-<time>              files found damaged, moved aside and left for inspection

A save writes the model file and makes it durable (fsync), then rewrites ``state.json``
atomically; only from then on is it the current model. A kill between the two steps leaves a
file that nothing points to, removed at the next open. Each entry records the file's size and
SHA-256, so a file damaged after the fact is never taken for a model, and the example ids the
model was built from (``includes``), so the store can tell which examples are pending.

Pointer updates are serialised by a thread lock and, where the platform has ``fcntl``, a file
lock, so two processes sharing a folder do not lose each other's updates.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import fsync_dir, atomic_write_bytes
from .errors import StoreError

try:  # POSIX only; elsewhere the thread lock alone guards the pointer
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

FORMAT = "emojisketch.models/1"
MODEL_GLOB = "personal-*.safetensors"
_MODEL_NAME = re.compile(r"^personal-(\d{6,})\.safetensors$")


@dataclass(frozen=True)
class Entry:
    """One saved model: its file name, what it was built from, and how to check it."""

    file: str
    includes: tuple[int, ...]
    saved: float
    size: int
    sha256: str

    def to_json(self) -> dict:
        return {"file": self.file, "includes": list(self.includes), "saved": self.saved,
                "size": self.size, "sha256": self.sha256}

    @classmethod
    def from_json(cls, d: dict) -> "Entry":
        if not _MODEL_NAME.match(str(d["file"])):  # a pointer never leads out of the folder
            raise ValueError(f"bad model file name {d['file']!r}")
        return cls(str(d["file"]), tuple(sorted(int(i) for i in d["includes"])),
                   float(d["saved"]), int(d["size"]), str(d["sha256"]))


@dataclass
class State:
    """The pointer's content. ``erasing`` marks a reset that erases examples and has begun."""

    current: Entry | None = None
    previous: list[Entry] = field(default_factory=list)
    erasing: bool = False

    def entries(self) -> list[Entry]:
        return ([self.current] if self.current else []) + self.previous


def file_digest(path: Path) -> tuple[int, str]:
    """(size, sha256 hex) of a file."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def move_aside(path: Path) -> Path:
    """Rename a damaged file to ``<name>.corrupt-<time>`` beside it; returns the new path."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    os.replace(path, target)
    return target


class ModelFiles:
    """The folder of personalized models: current pointer, previous ``keep``, nothing else."""

    def __init__(self, folder: Path, keep: int, warnings: list[str]) -> None:
        self.folder = Path(folder)
        self.keep = keep
        self.warnings = warnings  # shared with the Store: messages the app shows
        self._lock = threading.RLock()
        self._depth = 0  # how deep this thread is in locked()
        self._fd: int | None = None
        self._pointer = self.folder / "state.json"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the models folder {self.folder}: "
                             f"{exc.strerror or exc}") from None

    @contextlib.contextmanager
    def locked(self):
        """Hold the pointer against other threads and other processes; re-entrant (a flock
        taken twice by one process through two descriptors would wait for itself)."""
        with self._lock:
            if self._depth == 0 and fcntl is not None:
                try:
                    self._fd = os.open(self.folder / "state.lock", os.O_RDWR | os.O_CREAT, 0o644)
                except OSError as exc:
                    raise StoreError(f"cannot write in {self.folder}: "
                                     f"{exc.strerror or exc}") from None
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    os.close(self._fd)  # closing releases the flock
                    self._fd = None

    def read(self) -> State:
        """The pointer; a damaged one is moved aside (with a warning) and read as empty."""
        state = self._parse()
        if isinstance(state, State):
            return state
        with self.locked():  # another thread may be reading the same damage: report it once
            state = self._parse()
            if isinstance(state, State):
                return state
            try:
                where = f"it was moved aside to {move_aside(self._pointer).name}"
            except OSError as exc:
                where = f"it could not be moved aside ({exc.strerror or exc})"
            self.warnings.append(
                f"The record of your personalized models was damaged ({state}); {where}. The "
                "app starts again from the base model and will personalize it again from your "
                "saved examples.")
            return State()

    def _parse(self) -> State | str:
        """The pointer, or why it cannot be read."""
        try:
            raw = self._pointer.read_bytes()
        except FileNotFoundError:
            return State()
        except OSError as exc:
            raise StoreError(f"cannot read {self._pointer}: {exc.strerror or exc}") from None
        try:
            d = json.loads(raw.decode("utf-8"))
            if d.get("format") != FORMAT:
                raise ValueError(f"format is {d.get('format')!r}")
            cur = Entry.from_json(d["current"]) if d.get("current") else None
            return State(cur, [Entry.from_json(e) for e in d.get("previous", [])],
                         bool(d.get("erasing", False)))
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            return str(exc) or type(exc).__name__

    def write(self, state: State) -> None:
        d = {"format": FORMAT,
             "current": state.current.to_json() if state.current else None,
             "previous": [e.to_json() for e in state.previous],
             "erasing": state.erasing}
        atomic_write_bytes(self._pointer, json.dumps(d).encode("utf-8"))

    def path(self, entry: Entry) -> Path:
        return self.folder / entry.file

    def new_path(self) -> Path:
        """A fresh file name, past every name in the folder or the pointer."""
        with self.locked():
            seqs = [int(m.group(1)) for p in self.folder.iterdir()
                    if (m := _MODEL_NAME.match(p.name.split(".corrupt-")[0]))]
            seqs += [int(_MODEL_NAME.match(e.file).group(1)) for e in self.read().entries()]
            path = self.folder / f"personal-{max(seqs, default=0) + 1:06d}.safetensors"
            # Reserve the name at once, so a second thread saving at the same time gets another.
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            except OSError as exc:
                raise StoreError(f"cannot write in {self.folder}: {exc.strerror or exc}") from None
            return path

    def commit(self, path: Path, includes: tuple[int, ...]) -> Entry:
        """Make a written model file the current one; the oldest beyond ``keep`` go."""
        try:
            fsync_file(path)  # the saver promised durability; make sure before pointing at it
            fsync_dir(self.folder)
            size, digest = file_digest(path)
        except OSError as exc:
            raise StoreError(f"could not write {path}: {exc.strerror or exc}") from None
        entry = Entry(path.name, tuple(sorted(set(includes))), time.time(), size, digest)
        with self.locked():
            state = self.read()
            if state.current:
                state.previous.insert(0, state.current)
            state.current = entry
            dropped = state.previous[self.keep:]
            del state.previous[self.keep:]
            self.write(state)
        for old in dropped:
            _unlink(self.path(old))
        return entry

    def check(self, entry: Entry) -> str | None:
        """Why a recorded file cannot be the model it claims to be, or None when it can."""
        path = self.path(entry)
        try:
            size, digest = file_digest(path)
        except FileNotFoundError:
            return f"{entry.file} is missing"
        except OSError as exc:
            return f"{entry.file} cannot be read ({exc.strerror or exc})"
        if (size, digest) != (entry.size, entry.sha256):
            return f"{entry.file} is damaged (its content changed after it was saved)"
        return None

    def discard(self, entry: Entry, reason: str) -> None:
        """Take a bad entry out of the pointer and move its file aside, with a warning."""
        with self.locked():
            state = self.read()
            if entry not in state.entries():
                return  # another thread got there first
            was_current = state.current == entry
            if was_current:
                state.current = state.previous.pop(0) if state.previous else None
            else:
                state.previous = [e for e in state.previous if e != entry]
            self.write(state)
            where = ""
            if self.path(entry).exists():
                try:
                    where = f"; it was moved aside to {move_aside(self.path(entry)).name}"
                except OSError:
                    pass
            if not was_current:
                self.warnings.append(f"An older personalized model, kept in case the current one "
                                     f"fails, could not be used: {reason}{where}.")
                return
            fallback = (f"the model saved before it ({state.current.file})" if state.current
                        else "the base model")
            self.warnings.append(f"Your personalized model could not be used: {reason}{where}. "
                                 f"The app goes on with {fallback}.")

    def clear(self, erasing: bool = False) -> list[Path]:
        """Point at no model (the base); returns the files that were kept."""
        with self.locked():
            state = self.read()
            files = [self.path(e) for e in state.entries()]
            state.current, state.previous, state.erasing = None, [], erasing
            self.write(state)
        return files

    def set_erasing(self, flag: bool) -> None:
        with self.locked():
            state = self.read()
            state.erasing = flag
            self.write(state)

    def sweep(self) -> None:
        """Remove what a killed save left: temporary files and files nothing points to."""
        with self.locked():
            known = {e.file for e in self.read().entries()}
            for p in self.folder.iterdir():
                if (p.name.startswith(".") and p.name.endswith(".tmp")) or (
                        _MODEL_NAME.match(p.name) and p.name not in known):
                    _unlink(p)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass  # a file left behind costs disk space, never correctness
