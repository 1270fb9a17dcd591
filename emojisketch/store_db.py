"""The SQLite database of examples: its schema, opening it, telling a damaged or foreign
file, and reading what can still be read from one.

One row per example: the raw strokes as JSON in Google's layout (with times), the label, the
time it was given and where it came from. ``deleted`` remembers deleted ids, so the store can
tell when the current model includes an example that is gone. The header's application id
marks the file as ours; ``user_version`` is the schema version.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from .errors import EmojisketchError, StoreError
from .ink import Drawing
from .store_files import move_aside

DB_NAME = "examples.sqlite3"
APP_ID = 0x454D4A53  # "EMJS" in the SQLite header: tells our database from any other
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS examples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    label TEXT NOT NULL,
    strokes TEXT NOT NULL,
    created REAL NOT NULL,
    source TEXT NOT NULL DEFAULT 'correction');
CREATE INDEX IF NOT EXISTS examples_label ON examples(label);
CREATE TABLE IF NOT EXISTS deleted (id INTEGER PRIMARY KEY, at REAL NOT NULL);
"""
COLUMNS = "id, label, strokes, created, source"
_CORRUPT_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB


class Corrupt(Exception):
    """The database file is damaged or not ours (internal: it is moved aside)."""


def open_db(path: Path) -> tuple[sqlite3.Connection, str | None]:
    """Our database at ``path``, and a warning for the user when it had to be replaced.

    A damaged one is replaced by a new file holding what could be read from it. The new file
    is filled beside it first, so that if that fails (a full disk) the damaged file is still
    in its place and the next start tries again.
    """
    try:
        return connect(path), None
    except Corrupt as exc:
        reason = str(exc)
    fresh = path.with_name(path.name + ".recovering")
    rows, deleted = salvage(path)
    try:
        for leftover in _with_logs(fresh):
            leftover.unlink(missing_ok=True)
        con = connect(fresh)
        try:
            with con:  # one transaction: one fsync, not one per row
                con.execute("BEGIN")
                con.executemany(f"INSERT INTO examples ({COLUMNS}) VALUES (?, ?, ?, ?, ?)", rows)
                con.executemany("INSERT OR IGNORE INTO deleted (id, at) VALUES (?, ?)", deleted)
        finally:
            con.close()  # the last connection: its log is folded into the file
        aside = move_aside(path)
        for log, aside_log in zip(_with_logs(path)[1:], _with_logs(aside)[1:]):
            if log.exists():  # the log goes with its database, renamed alike
                os.replace(log, aside_log)
        os.replace(fresh, path)
    except sqlite3.Error as exc:
        raise StoreError(explain(exc, "Recovering your examples", path.parent)) from None
    except OSError as exc:
        raise StoreError(f"The database of your examples is damaged ({reason}) and could not "
                         f"be replaced: {exc.strerror or exc}.") from None
    warning = (
        f"The database of your examples was damaged ({reason}). It was moved aside to "
        f"{aside.name} and a new one started; {len(rows)} example(s) could be read from it "
        "and were kept, any others in the damaged file are lost.")
    return connect(path), warning


def _with_logs(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def connect(path: Path) -> sqlite3.Connection:
    """Open (or create) our database; raises Corrupt for a damaged or foreign file."""
    try:
        con = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    except sqlite3.Error as exc:
        raise StoreError(explain(exc, "Opening the examples", path.parent)) from None
    try:
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        version = con.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if app_id != APP_ID and (app_id != 0 or tables - {"sqlite_sequence"}):
            raise Corrupt("it is not an emojisketch database")
        if version > SCHEMA_VERSION:
            raise StoreError(f"{path} was written by a newer version of emojisketch; "
                             "update the app to use it")
        if (check := con.execute("PRAGMA quick_check").fetchone()[0]) != "ok":
            raise Corrupt(check)
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = FULL")  # each commit reaches the disk before we return
        con.execute("PRAGMA secure_delete = ON")  # a deleted example is gone, not just unlinked
        # Only a new file is written to here, so that a full disk does not stop the app opening.
        if app_id != APP_ID or version != SCHEMA_VERSION:
            con.executescript(SCHEMA)
            con.execute(f"PRAGMA application_id = {APP_ID}")
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return con
    except BaseException as exc:
        con.close()
        if isinstance(exc, sqlite3.DatabaseError):
            if exc.sqlite_errorcode & 0xFF in _CORRUPT_CODES:
                raise Corrupt(str(exc)) from None
            raise StoreError(explain(exc, "Opening the examples", path.parent)) from None
        raise


def salvage(path: Path) -> tuple[list[tuple], list[tuple]]:
    """(examples, deleted ids) that can still be read from a damaged database, each checked."""
    try:
        con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return [], []
    try:
        rows = _readable_rows(con, "examples", COLUMNS)
        deleted = _readable_rows(con, "deleted", "id, at")
    finally:
        con.close()
    good = []
    for row in rows:
        try:
            row_to_example(row)
            good.append(row)
        except (EmojisketchError, ValueError, TypeError):
            pass
    return good, deleted


def _readable_rows(con: sqlite3.Connection, table: str, columns: str) -> list[tuple]:
    """A table's rows, in id order; past a damaged page, each id is asked for on its own, so
    that every row on a readable page is found."""
    found: dict[int, tuple] = {}
    try:
        for row in con.execute(f"SELECT {columns} FROM {table} ORDER BY id"):
            found[row[0]] = tuple(row)
        return list(found.values())
    except sqlite3.Error:
        pass
    top = 0
    for query in ("SELECT seq FROM sqlite_sequence WHERE name = 'examples'",
                  f"SELECT MAX(id) FROM {table}", "SELECT MAX(id) FROM examples"):
        try:
            top = max(top, int(con.execute(query).fetchone()[0] or 0))
        except (sqlite3.Error, TypeError, ValueError):
            pass
    for i in range(1, top + 1):
        if i not in found:
            try:
                row = con.execute(f"SELECT {columns} FROM {table} WHERE id = ?", (i,)).fetchone()
            except sqlite3.Error:
                continue
            if row is not None:
                found[i] = tuple(row)
    return sorted(found.values())


def row_to_example(row: tuple):
    """A stored row as a ``model.Example`` (raises ValueError or InkError for a bad row)."""
    from .model import Example  # here, not at the top: model imports torch (seconds), which
    # a process that only adds examples (or the crash test's children) need not wait for

    ex_id, label, strokes, created, source = row
    if not isinstance(label, str) or not label:
        raise ValueError("an example without a label")
    return Example(Drawing.from_google(json.loads(strokes)), label, id=int(ex_id),
                   created=float(created))


def explain(exc: sqlite3.Error, doing: str, folder: Path) -> str:
    """A message for the user from an SQLite error."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code == 13:  # SQLITE_FULL
        return f"{doing} failed: the disk is full. Nothing was changed; free some space and retry."
    if code in (3, 8, 14):  # PERM, READONLY, CANTOPEN
        return (f"{doing} failed: the emojisketch folder {folder} cannot be written ({exc}). "
                "Nothing was changed.")
    if code == 10:  # IOERR: the OS refused a read or a write
        return (f"{doing} failed: the disk refused a write in {folder} ({exc}); it may be full, "
                "read-only or failing. Nothing was changed.")
    return f"{doing} failed: {exc}"
