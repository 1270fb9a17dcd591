"""The local store: every example the user gave (SQLite) and the personalized models (files).

Layout of the store folder (``Store(root)``, else ``$EMOJISKETCH_HOME``, else the platform's
user data folder)::

    examples.sqlite3     raw strokes (Google's layout, with times), label, time, source
    models/              the current personalized model and the previous few (store_files)

Examples are kept so that a better base model can be personalized again from the same ones.
``add_example`` returns only after the row is committed with ``synchronous=FULL`` in WAL mode:
an acknowledged example survives a kill, and a power cut too. Ids are never reused
(AUTOINCREMENT, and never below an id a saved model refers to), so "the ids the current model
was built from" is a sound way to tell which examples are pending.

A damaged database or model file is moved aside (``*.corrupt-<time>``), the store goes on from
the last good state, and the message is added to :attr:`Store.warnings` for the app to show.
Disk full or read-only: :class:`~emojisketch.errors.StoreError`, nothing changed.

Thread-safe: one connection shared under a lock (the UI thread adds examples, a worker thread
saves models; model files are written outside the lock so an add never waits for a save).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable

from . import store_db
from .errors import EmojisketchError, ModelFileError, StoreError
from .ink import Drawing
from .store_db import COLUMNS, DB_NAME
from .store_files import ModelFiles

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

KEEP_PREVIOUS = 3


def default_root() -> Path:
    """``$EMOJISKETCH_HOME`` if set, else the platform's user data folder."""
    home = os.environ.get("EMOJISKETCH_HOME")
    if home:
        return Path(home).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("emojisketch", appauthor=False))


class Store:
    """Examples and personalized models on disk. See the module docstring."""

    def __init__(self, root: str | os.PathLike | None = None, *,
                 loader: Callable[[Path], object] | None = None,
                 keep: int = KEEP_PREVIOUS) -> None:
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.warnings: list[str] = []  # problems found and handled; the app shows them
        self._loader = loader
        self._lock = threading.RLock()
        self._con: sqlite3.Connection | None = None
        # Rows never change once written, so each is parsed once (a raw drawing: ~0.5 ms).
        # Plain dict updates (atomic in CPython) from either thread; a stale entry for a row
        # deleted meanwhile is never returned, as ids always come from the database.
        self._cache: dict[int, object] = {}
        self._unreadable: set[int] = set()  # rows reported once, then skipped quietly
        self._instance_fd: int | None = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the emojisketch folder {self.root}: "
                             f"{exc.strerror or exc}") from None
        alone = self._take_instance_lock()
        try:
            self.models = ModelFiles(self.root / "models", keep, self.warnings)
            self._con = self._open_db()
            state = self.models.read()
            self._keep_ids_above(max((i for e in state.entries() for i in e.includes), default=0))
            if state.erasing:  # a reset that erases examples was cut short: finish it
                self.reset(keep_examples=False)
            for entry in state.entries():
                if (problem := self.models.check(entry)) is not None:
                    try:
                        self.models.discard(entry, problem)
                    except StoreError as exc:  # read-only: load_model skips it in memory
                        self.warnings.append(f"A personalized model could not be used: "
                                             f"{problem} ({exc}).")
            if alone:  # another process might be in the middle of a save
                self.models.sweep()
        except BaseException:
            self.close()
            raise

    # ---- examples ----------------------------------------------------------------------

    def add_example(self, drawing: Drawing, label: str, source: str = "correction") -> int:
        """Keep an example; returns its id once it is committed to disk."""
        if not isinstance(drawing, Drawing):
            raise TypeError(f"add_example takes a Drawing, not {type(drawing).__name__}")
        if not isinstance(label, str) or not label:
            raise ValueError("an example needs a label (an emoji)")
        strokes = json.dumps(drawing.to_google(), separators=(",", ":"))
        with self._db("Saving the example") as con:
            cur = con.execute("INSERT INTO examples (label, strokes, created, source) "
                              "VALUES (?, ?, ?, ?)", (label, strokes, time.time(), source))
            return int(cur.lastrowid)

    def examples(self, label: str | None = None) -> list:
        """Every example (or one label's), oldest first, as ``model.Example`` with id and time."""
        with self._db("Reading the examples") as con:
            if label is None:
                ids = [r[0] for r in con.execute("SELECT id FROM examples ORDER BY id")]
            else:
                ids = [r[0] for r in con.execute("SELECT id FROM examples WHERE label = ? "
                                                 "ORDER BY id", (label,))]
        return self._by_ids(ids)

    def counts(self) -> dict[str, int]:
        """Examples per label, in the order the labels were first given."""
        with self._db("Reading the examples") as con:
            rows = con.execute("SELECT label, COUNT(*) FROM examples GROUP BY label "
                               "ORDER BY MIN(id)").fetchall()
        return {label: n for label, n in rows}

    def delete_example(self, example_id: int) -> bool:
        """Forget one example; False if there was none with that id."""
        with self._transaction("Deleting the example") as con:
            gone = con.execute("DELETE FROM examples WHERE id = ?", (int(example_id),)).rowcount
            if gone:
                con.execute("INSERT OR REPLACE INTO deleted (id, at) VALUES (?, ?)",
                            (int(example_id), time.time()))
            self._cache.pop(int(example_id), None)
        return bool(gone)

    def undo_last(self):
        """Remove the most recent example and return it (None when there are none).

        If the current model was built with it, :meth:`needs_rebuild` turns True.
        """
        with self._transaction("Undoing the last correction") as con:
            row = con.execute(f"SELECT {COLUMNS} FROM examples ORDER BY id DESC LIMIT 1").fetchone()
            if row is None:
                return None
            con.execute("DELETE FROM examples WHERE id = ?", (row[0],))
            con.execute("INSERT OR REPLACE INTO deleted (id, at) VALUES (?, ?)",
                        (row[0], time.time()))
            self._cache.pop(row[0], None)
        return store_db.row_to_example(row)

    def current_includes(self) -> frozenset[int]:
        """Ids of the examples the current personalized model was built from."""
        current = self.models.read().current
        return frozenset(current.includes) if current else frozenset()

    def pending_examples(self) -> list:
        """Examples the current model does not include yet (all of them on the base model)."""
        included = self.current_includes()
        with self._db("Reading the examples") as con:
            ids = [r[0] for r in con.execute("SELECT id FROM examples ORDER BY id")]
        return self._by_ids([i for i in ids if i not in included])

    def needs_rebuild(self) -> bool:
        """True when the current model includes an example since deleted or undone: the next
        update must start again from the base model with :meth:`examples`."""
        included = self.current_includes()
        if not included:
            return False
        with self._db("Reading the examples") as con:
            deleted = {r[0] for r in con.execute("SELECT id FROM deleted")}
        return not included.isdisjoint(deleted)

    # ---- models ------------------------------------------------------------------------

    def save_model(self, model, includes: Iterable[int] | int) -> Path:
        """Save ``model`` as the current personalized model; returns its file.

        ``includes``: the ids of the examples it was built from, or an int ``n`` for "every
        example with id <= n" (resolved now; an example deleted meanwhile still counts as
        included, so a needed rebuild is never missed). The previous model stays current
        until the new file is durable; the oldest beyond ``keep`` are deleted.
        """
        if isinstance(includes, int):
            with self._db("Saving the model") as con:
                ids = [r[0] for r in con.execute(
                    "SELECT id FROM examples WHERE id <= ?1 UNION SELECT id FROM deleted "
                    "WHERE id <= ?1", (includes,))]
        else:
            ids = [int(i) for i in includes]
        path = self.models.new_path()
        try:
            model.save(path)
            self.models.commit(path, tuple(ids))
        except BaseException as exc:
            current = self.models.read().current
            if current is None or current.file != path.name:  # never the file pointed to
                try:
                    path.unlink()
                except OSError:
                    pass
            if isinstance(exc, (OSError, StoreError)):
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                raise StoreError(f"Saving your personalized model failed ({why}). The previous "
                                 "one is kept.") from None
            raise
        return path

    def load_model(self):
        """The current personalized model, or None (use the base model).

        A model file that is missing, damaged or foreign is moved aside and the previous one
        tried, then the next; what happened is added to :attr:`warnings`.
        """
        state = self.models.read()
        for entry in state.entries():
            problem = self.models.check(entry)
            if problem is None:
                try:
                    return self._load(self.models.path(entry))
                except ModelFileError as exc:
                    problem = str(exc)
            try:
                self.models.discard(entry, problem)
            except StoreError as exc:  # cannot even move it aside: say so, go on in memory
                self.warnings.append(f"Your personalized model could not be used: {problem} "
                                     f"({exc}).")
        return None

    def model_history(self) -> list[Path]:
        """The kept model files, newest (the current one) first."""
        return [self.models.path(e) for e in self.models.read().entries()]

    def reset(self, keep_examples: bool) -> None:
        """Go back to the base model; erase every example too unless ``keep_examples``."""
        files = self.models.clear(erasing=not keep_examples)
        if not keep_examples:
            with self._transaction("Erasing the examples") as con:
                # Their ids stay in `deleted`: a model saved late by an update that had read
                # them is then known to need a rebuild.
                con.execute("INSERT OR REPLACE INTO deleted (id, at) SELECT id, ? FROM examples",
                            (time.time(),))
                con.execute("DELETE FROM examples")
                self._cache.clear()
            with self._db("Erasing the examples") as con:
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # no erased rows left in the log
            self.models.set_erasing(False)
        for f in files:
            try:
                f.unlink()
            except OSError:
                pass

    def take_warnings(self) -> list[str]:
        """The messages not shown yet, emptied: for the app to show each problem once."""
        taken = []
        while self.warnings:  # pop, not copy-then-clear: another thread may append meanwhile
            taken.append(self.warnings.pop(0))
        return taken

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
            if self._instance_fd is not None:
                os.close(self._instance_fd)
                self._instance_fd = None

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- internals ---------------------------------------------------------------------

    def _load(self, path: Path):
        if self._loader is not None:
            return self._loader(path)
        from .model import UpdatableModel

        return UpdatableModel.load(path)

    def _take_instance_lock(self) -> bool:
        """Hold a shared lock while open; True if no other Store had the folder open."""
        if fcntl is None:
            return False
        try:
            self._instance_fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot write in the emojisketch folder {self.root}: "
                             f"{exc.strerror or exc}") from None
        try:
            fcntl.flock(self._instance_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            alone = True
        except OSError:
            alone = False
        fcntl.flock(self._instance_fd, fcntl.LOCK_SH)
        return alone

    @contextmanager
    def _db(self, doing: str):
        with self._lock:
            if self._con is None:
                raise StoreError(f"{doing} failed: the store is closed")
            try:
                yield self._con
            except sqlite3.Error as exc:
                raise StoreError(store_db.explain(exc, doing, self.root)) from None

    @contextmanager
    def _transaction(self, doing: str):
        with self._db(doing) as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.rollback()
                raise

    def _by_ids(self, ids: list[int]) -> list:
        """The examples with these ids, in this order, parsed once and then cached; a row that
        cannot be read (damage quick_check missed) is skipped with a warning. Parsing runs
        outside the lock, so a long read on the worker never holds up an add on the UI."""
        missing = [i for i in ids if i not in self._cache and i not in self._unreadable]
        for start in range(0, len(missing), 50):  # short holds of the lock
            part = missing[start : start + 50]
            with self._db("Reading the examples") as con:
                rows = con.execute(f"SELECT {COLUMNS} FROM examples WHERE id IN "
                                   f"({','.join('?' * len(part))})", part).fetchall()
            for row in rows:
                try:
                    self._cache[row[0]] = store_db.row_to_example(row)
                except (ValueError, TypeError, EmojisketchError) as exc:
                    self._unreadable.add(row[0])
                    self.warnings.append(f"Example {row[0]} could not be read ({exc}); "
                                         "it is skipped.")
        return [self._cache[i] for i in ids if i in self._cache]

    def _open_db(self) -> sqlite3.Connection:
        con, warning = store_db.open_db(self.root / DB_NAME)
        if warning:
            self.warnings.append(warning)
        return con

    def _keep_ids_above(self, floor: int) -> None:
        """New ids start above ``floor`` (ids a saved model refers to, after a lost database)."""
        with self._db("Opening the examples") as con:
            deleted = con.execute("SELECT MAX(id) FROM deleted").fetchone()[0] or 0
            floor = max(floor, deleted)
            row = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'examples'").fetchone()
            if floor <= (row[0] if row else 0):
                return  # the usual case: nothing to write (a full disk must not stop an open)
        with self._transaction("Opening the examples") as con:
            if row is None:
                con.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('examples', ?)",
                            (floor,))
            else:
                con.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'examples'",
                            (floor,))
