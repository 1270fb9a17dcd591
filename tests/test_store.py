"""The local store: examples in SQLite, personalized model files, and every way they can go
wrong (damaged files, a lost database, a full disk, a read-only folder, two threads)."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import platformdirs
import pytest

from emojisketch.errors import ModelFileError, StoreError
from emojisketch.ink import Drawing
from emojisketch.store import DB_NAME, Store, default_root

from hashed_model import HashedModel

DATA = Path(__file__).parent / "data"


class FakeModel(HashedModel):
    """A model named ``name`` whose file holds ``size`` bytes of it; loaded back, ``body`` is
    what the file held."""

    HEADER = b"fake-model/1\n"
    KIND = "fake model"

    def __init__(self, name: str, size: int = 1000):
        self.name = name
        self.size = size

    def payload(self) -> bytes:
        return (self.name.encode() * (self.size // max(len(self.name), 1) + 1))[: self.size]

    @classmethod
    def from_payload(cls, body: bytes) -> "FakeModel":
        model = cls(body[:8].decode(errors="replace"), len(body))
        model.body = body
        return model


class ForeignModel:
    """Something else's file: saves fine, is nothing FakeModel.load can read."""

    def save(self, path):
        Path(path).write_bytes(b"\x89PNG\r\n\x1a\n not a model at all")


def open_store(root) -> Store:
    return Store(root, loader=FakeModel.load)


def raw_drawings() -> list[Drawing]:
    """Real raw doodles with their times (Quick, Draw!, CC BY 4.0)."""
    lines = (DATA / "raw" / "full_raw_cat.ndjson").read_text().splitlines()
    return [Drawing.from_google(json.loads(line)["drawing"]) for line in lines if line.strip()]


def dot(x: float = 1.0) -> Drawing:
    return Drawing.from_google([[[x, x + 5.0, x + 9.0], [0.0, 4.0, 2.0], [0.0, 10.0, 25.0]]])


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "home")
    yield s
    s.close()


# ---- where it lives --------------------------------------------------------------------

def test_root_from_argument_then_environment_then_platform(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOJISKETCH_HOME", str(tmp_path / "env"))
    with Store() as s:
        assert s.root == tmp_path / "env"
        assert (tmp_path / "env" / DB_NAME).exists()
    with Store(tmp_path / "arg") as s:
        assert s.root == tmp_path / "arg"
    monkeypatch.delenv("EMOJISKETCH_HOME")
    assert default_root() == Path(platformdirs.user_data_dir("emojisketch", appauthor=False))


def test_a_folder_that_cannot_be_made_is_a_store_error(tmp_path):
    (tmp_path / "file").write_text("in the way")
    with pytest.raises(StoreError, match="cannot create"):
        Store(tmp_path / "file" / "home")


# ---- examples --------------------------------------------------------------------------

def test_examples_keep_raw_strokes_times_label_and_when(tmp_path):
    drawings = raw_drawings()
    before = time.time()
    with open_store(tmp_path) as s:
        ids = [s.add_example(d, "🐱") for d in drawings] + [s.add_example(dot(), "🍎", "confirmed")]
    after = time.time()
    with open_store(tmp_path) as s:  # a fresh open reads them back from disk
        got = s.examples()
        assert [e.id for e in got] == ids == sorted(ids)
        for d, e in zip(drawings, got):
            assert e.label == "🐱"
            assert e.drawing.to_google() == d.to_google()  # points and times, exactly
            assert all(st.t is not None for st in e.drawing.strokes)
            assert before <= e.created <= after
        assert [e.id for e in s.examples("🍎")] == [ids[-1]]
        assert s.examples("🚀") == []
        assert s.counts() == {"🐱": len(drawings), "🍎": 1}


def test_add_example_rejects_what_is_not_an_example(store):
    with pytest.raises(TypeError):
        store.add_example([[[0, 1], [0, 1]]], "🍎")
    with pytest.raises(ValueError):
        store.add_example(dot(), "")
    assert store.examples() == []


def test_delete_and_undo(store):
    a, b, c = (store.add_example(dot(i), "🍎") for i in range(3))
    assert [e.id for e in store.examples()] == [a, b, c]  # parsed and cached
    assert store.delete_example(b) is True
    assert store.delete_example(b) is False
    assert store.delete_example(999) is False
    last = store.undo_last()
    assert last.id == c and last.label == "🍎"
    assert [e.id for e in store.examples()] == [a]
    assert store.undo_last().id == a
    assert store.undo_last() is None
    assert store.counts() == {}


def test_ids_are_never_reused(tmp_path):
    with open_store(tmp_path) as s:
        first = s.add_example(dot(), "🍎")
        s.undo_last()
    with open_store(tmp_path) as s:
        second = s.add_example(dot(), "🍎")
        assert second > first
        s.reset(keep_examples=False)
        assert s.add_example(dot(), "🍎") > second


# ---- models ------------------------------------------------------------------------------

def test_no_model_until_one_is_saved(store):
    assert store.load_model() is None
    assert store.model_history() == []
    store.add_example(dot(), "🍎")
    assert [e.label for e in store.pending_examples()] == ["🍎"]
    assert store.needs_rebuild() is False


def test_save_model_records_what_it_includes(store):
    ids = [store.add_example(dot(i), "🍎🍌"[i % 2]) for i in range(4)]
    path = store.save_model(FakeModel("one"), ids[:2])
    assert path.exists() and path.parent == store.root / "models"
    assert store.current_includes() == set(ids[:2])
    assert [e.id for e in store.pending_examples()] == ids[2:]
    assert store.load_model().body.startswith(b"one")
    # an int means "every example up to that id"
    store.save_model(FakeModel("two"), ids[2])
    assert store.current_includes() == set(ids[:3])
    assert [e.id for e in store.pending_examples()] == ids[3:]


def test_undo_of_an_included_example_asks_for_a_rebuild(store):
    a, b = store.add_example(dot(1), "🍎"), store.add_example(dot(2), "🍎")
    store.save_model(FakeModel("m"), [a])
    assert store.undo_last().id == b  # b was pending: the model does not need it gone
    assert store.needs_rebuild() is False
    store.undo_last()  # a is inside the current model
    assert store.needs_rebuild() is True
    store.save_model(FakeModel("rebuilt"), [])  # the app rebuilds from the base without it
    assert store.needs_rebuild() is False


def test_int_includes_counts_an_example_deleted_during_the_update(store):
    a, b = store.add_example(dot(1), "🍎"), store.add_example(dot(2), "🍎")
    store.delete_example(a)  # deleted while the update that read it was running
    store.save_model(FakeModel("m"), b)
    assert store.current_includes() == {a, b}
    assert store.needs_rebuild() is True


def test_keeps_the_current_model_and_three_before_it(store):
    paths = [store.save_model(FakeModel(f"m{i}"), []) for i in range(6)]
    assert store.model_history() == paths[::-1][:4]
    assert [p.exists() for p in paths] == [False, False, True, True, True, True]
    assert store.load_model().body.startswith(b"m5")
    assert sorted(p.name for p in store.models.folder.glob("personal-*")) == \
        sorted(p.name for p in paths[2:])


def test_a_damaged_model_is_moved_aside_and_the_previous_one_used(tmp_path):
    with open_store(tmp_path) as s:
        a = s.add_example(dot(1), "🍎")
        b = s.add_example(dot(2), "🍎")
        old = s.save_model(FakeModel("old"), [a])
        new = s.save_model(FakeModel("new"), [a, b])
    data = bytearray(new.read_bytes())
    data[len(data) // 2] ^= 0xFF
    new.write_bytes(bytes(data))
    with open_store(tmp_path) as s:
        assert len(s.warnings) == 1
        assert "damaged" in s.warnings[0] and old.name in s.warnings[0]
        assert s.load_model().body.startswith(b"old")
        assert s.model_history() == [old]
        assert [e.id for e in s.pending_examples()] == [b]  # b must be learned again
        shown = list(s.warnings)
        assert s.take_warnings() == shown  # each problem is shown once
        assert s.warnings == [] and s.take_warnings() == []
        assert not new.exists()
        assert len(list(new.parent.glob(new.name + ".corrupt-*"))) == 1


def test_a_damaged_older_model_is_dropped_at_open(tmp_path):
    with open_store(tmp_path) as s:
        old = s.save_model(FakeModel("old"), [])
        new = s.save_model(FakeModel("new"), [])
    old.write_bytes(b"rot")
    with open_store(tmp_path) as s:
        assert s.model_history() == [new]
        assert len(s.warnings) == 1 and "older personalized model" in s.warnings[0]
        assert s.load_model().body.startswith(b"new")


def test_a_foreign_model_file_falls_back_to_the_base(store):
    store.save_model(ForeignModel(), [])
    assert store.load_model() is None
    assert len(store.warnings) == 1 and "not a fake model" in store.warnings[0]
    assert "base model" in store.warnings[0]
    assert store.model_history() == []
    assert list(store.models.folder.glob("personal-*.corrupt-*"))


def test_a_missing_model_file_falls_back(store):
    old = store.save_model(FakeModel("old"), [])
    store.save_model(FakeModel("new"), []).unlink()
    assert store.load_model().body.startswith(b"old")
    assert "missing" in store.warnings[0]
    assert store.model_history() == [old]


def test_a_damaged_pointer_starts_from_the_base_with_every_example_pending(tmp_path):
    with open_store(tmp_path) as s:
        ids = [s.add_example(dot(i), "🍎") for i in range(3)]
        s.save_model(FakeModel("m"), ids)
    (tmp_path / "models" / "state.json").write_bytes(b'{"format": "emojisketch.models/1", "cur')
    with open_store(tmp_path) as s:
        assert s.load_model() is None
        assert "moved aside" in s.warnings[0]
        assert [e.id for e in s.pending_examples()] == ids
        s.save_model(FakeModel("again"), ids)
        assert s.load_model().body.startswith(b"again")


def test_a_pointer_damaged_while_open_is_handled_inside_a_save(store):
    ids = [store.add_example(dot(i), "🍎") for i in range(2)]
    store.save_model(FakeModel("m"), ids)
    (store.models.folder / "state.json").write_bytes(b"\x00\x01")
    path = store.save_model(FakeModel("n"), ids[:1])  # reads the pointer under its lock
    assert store.model_history() == [path]
    assert len(store.warnings) == 1 and "record of your personalized models" in store.warnings[0]


def test_what_a_killed_save_left_behind_is_cleared_at_open(tmp_path):
    with open_store(tmp_path) as s:
        kept = s.save_model(FakeModel("m"), [])
    folder = tmp_path / "models"
    (folder / "personal-000007.safetensors").write_bytes(b"half a mod")  # never pointed to
    (folder / ".personal-000008.safetensors.x1y2.tmp").write_bytes(b"half")
    with open_store(tmp_path) as s:
        assert sorted(p.name for p in folder.glob("*personal*")) == [kept.name]
        assert s.warnings == []
        # the next save takes a name past every one seen, never reusing one
        assert s.save_model(FakeModel("n"), []).name == "personal-000002.safetensors"


def test_a_second_store_on_the_folder_leaves_files_it_did_not_write(tmp_path):
    with open_store(tmp_path) as first:
        in_progress = first.models.new_path()  # as a save in progress has reserved it
        with open_store(tmp_path) as second:
            assert in_progress.exists()
            second.add_example(dot(), "🍎")
        assert len(first.examples()) == 1


def test_reset_keeping_or_erasing_examples(store):
    ids = [store.add_example(dot(i), "🍎") for i in range(3)]
    paths = [store.save_model(FakeModel(f"m{i}"), ids) for i in range(2)]
    store.reset(keep_examples=True)
    assert store.load_model() is None and store.model_history() == []
    assert not any(p.exists() for p in paths)
    assert [e.id for e in store.pending_examples()] == ids
    store.save_model(FakeModel("m"), ids)
    store.undo_last()
    store.reset(keep_examples=False)
    assert store.examples() == [] and store.counts() == {}
    assert store.load_model() is None and store.needs_rebuild() is False


def test_a_model_saved_late_with_erased_examples_is_rebuilt(store):
    ids = [store.add_example(dot(i), "🍎") for i in range(2)]
    store.reset(keep_examples=False)  # while an update that read `ids` was running
    store.save_model(FakeModel("late"), ids)
    assert store.needs_rebuild() is True


def test_an_interrupted_erase_is_finished_at_the_next_open(tmp_path):
    with open_store(tmp_path) as s:
        s.add_example(dot(), "🍎")
        s.models.clear(erasing=True)  # where a kill would stop reset(keep_examples=False)
    with open_store(tmp_path) as s:
        assert s.examples() == []
        assert s.models.read().erasing is False


def test_a_real_model_goes_through_the_store(tmp_path):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from emojisketch.model import UpdatableModel, from_net
    from emojisketch.net import DrawingNet, NetConfig

    torch.manual_seed(0)
    net = DrawingNet(NetConfig(channels=(4, 8, 8), embed_dim=8, n_classes=2, labels=["🍎", "🍌"]))
    model = from_net(net, "knn")
    with Store(tmp_path) as s:  # the default loader: UpdatableModel.load
        a = s.add_example(raw_drawings()[0], "🐱")
        s.save_model(model, [a])
    with Store(tmp_path) as s:
        loaded = s.load_model()
        assert isinstance(loaded, UpdatableModel)
        assert loaded.labels == model.labels
        image = raw_drawings()[1]
        assert loaded.predict(image) == model.predict(image)
        # a truncated file is caught before the loader sees it; the base takes over
        cur = s.model_history()[0]
        cur.write_bytes(cur.read_bytes()[:1000])
        assert s.load_model() is None and "damaged" in s.warnings[0]


# ---- the database ------------------------------------------------------------------------

def test_a_damaged_database_is_moved_aside_and_readable_rows_kept(tmp_path):
    drawings = raw_drawings()
    with open_store(tmp_path) as s:
        ids = [s.add_example(drawings[i % len(drawings)], f"e{i % 5}") for i in range(120)]
        s.save_model(FakeModel("m"), ids[:10])
    db = tmp_path / DB_NAME
    size = db.stat().st_size
    with open(db, "r+b") as fh:  # wipe one page in the middle
        fh.seek((size // 4096 // 2) * 4096)
        fh.write(b"\xa5" * 4096)
    with open_store(tmp_path) as s:
        assert len(s.warnings) == 1
        msg = s.warnings[0]
        assert "damaged" in msg and "moved aside" in msg and "lost" in msg
        kept = [e.id for e in s.examples()]
        assert 0 < len(kept) < len(ids) and set(kept) <= set(ids)
        assert f"{len(kept)} example(s)" in msg
        assert s.load_model() is not None  # the model is not in the database
        assert s.add_example(dot(), "🍎") > max(ids)
    assert len(list(tmp_path.glob(DB_NAME + ".corrupt-*"))) >= 1


def test_a_recovery_cut_short_by_a_full_disk_is_tried_again(tmp_path):
    with open_store(tmp_path) as s:
        ids = [s.add_example(dot(i), "🍎") for i in range(50)]
    db = tmp_path / DB_NAME
    with open(db, "r+b") as fh:
        fh.seek(4096)
        fh.write(b"\xa5" * 4096)
    damaged = db.read_bytes()
    with file_size_limit(1024):
        with pytest.raises(StoreError, match="disk"):
            open_store(tmp_path)
    assert db.read_bytes() == damaged  # still in its place, nothing moved aside
    assert not list(tmp_path.glob(DB_NAME + ".corrupt-*"))
    with open_store(tmp_path) as s:
        assert "moved aside" in s.warnings[0]
        assert {e.id for e in s.examples()} <= set(ids)


def test_a_file_that_is_no_database_is_replaced(tmp_path):
    (tmp_path / DB_NAME).write_bytes(b"this is not SQLite " * 300)
    with open_store(tmp_path) as s:
        assert "0 example(s)" in s.warnings[0]
        assert s.add_example(dot(), "🍎") == 1
    assert (tmp_path / DB_NAME).read_bytes().startswith(b"SQLite format 3")


def test_another_programs_database_is_not_used(tmp_path):
    con = sqlite3.connect(tmp_path / DB_NAME)
    con.execute("CREATE TABLE accounts (name TEXT)")
    con.commit()
    con.close()
    with open_store(tmp_path) as s:
        assert "not an emojisketch database" in s.warnings[0]
        s.add_example(dot(), "🍎")
    aside = next(tmp_path.glob(DB_NAME + ".corrupt-*[0-9]"))
    con = sqlite3.connect(aside)
    assert con.execute("SELECT name FROM sqlite_master").fetchall() == [("accounts",)]
    con.close()


def test_a_database_from_a_newer_version_is_left_alone(tmp_path):
    with open_store(tmp_path) as s:
        s.add_example(dot(), "🍎")
        s._con.execute("PRAGMA user_version = 99")
    before = (tmp_path / DB_NAME).read_bytes()
    with pytest.raises(StoreError, match="newer version"):
        open_store(tmp_path)
    assert (tmp_path / DB_NAME).read_bytes() == before


def test_a_lost_database_never_hands_out_ids_a_model_refers_to(tmp_path):
    with open_store(tmp_path) as s:
        ids = [s.add_example(dot(i), "🍎") for i in range(5)]
        s.save_model(FakeModel("m"), ids)
    for f in tmp_path.glob(DB_NAME + "*"):
        f.unlink()
    with open_store(tmp_path) as s:
        new = s.add_example(dot(), "🍌")
        assert new > max(ids)
        assert [e.id for e in s.pending_examples()] == [new]


def test_a_damaged_row_is_skipped_with_a_warning(store):
    a = store.add_example(dot(), "🍎")
    b = store.add_example(dot(), "🍎")
    store._con.execute("UPDATE examples SET strokes = '[[[1, 2]' WHERE id = ?", (a,))
    assert [e.id for e in store.examples()] == [b]
    assert [e.id for e in store.pending_examples()] == [b]
    assert len(store.warnings) == 1 and f"Example {a} could not be read" in store.warnings[0]


def test_a_closed_store_says_so(tmp_path):
    s = open_store(tmp_path)
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.add_example(dot(), "🍎")


# ---- full disk, read-only folder -----------------------------------------------------------

@contextlib.contextmanager
def file_size_limit(limit: int):
    """Writes that would make any file larger than ``limit`` bytes fail (EFBIG), as on a
    full disk. Python ignores SIGXFSZ, so the write just returns the error."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_full_disk_loses_nothing(tmp_path):
    with open_store(tmp_path) as s:
        a = s.add_example(dot(), "🍎")
        good = s.save_model(FakeModel("good", 5000), [a])
        with file_size_limit(4096):
            with pytest.raises(StoreError, match="disk"):
                s.add_example(raw_drawings()[0], "🐱")  # bigger than a page: must grow a file
            with pytest.raises(StoreError):
                s.save_model(FakeModel("big", 20000), [a])
        assert [e.id for e in s.examples()] == [a]
        assert s.model_history() == [good]
        assert s.load_model().body.startswith(b"good")
        assert [p.name for p in good.parent.glob("*personal*")] == [good.name]
        assert s.add_example(dot(), "🍌") > a  # usable again once there is room
    with open_store(tmp_path) as s:
        assert s.counts() == {"🍎": 1, "🍌": 1} and s.warnings == []


FULL_DISK_CHILD = r'''
import json, sys
sys.path.insert(0, sys.argv[2])
from test_store import FakeModel, raw_drawings
from emojisketch.errors import StoreError
from emojisketch.store import Store

root, out = sys.argv[1], {}
drawing = raw_drawings()[0]
with Store(root, loader=FakeModel.load) as s:
    ids = [s.add_example(drawing, "🐱") for _ in range(3)]
    good = s.save_model(FakeModel("good", 40_000), ids)
    try:
        while True:  # until the disk is full
            ids.append(s.add_example(drawing, "🐱"))
    except StoreError as exc:
        out["add_error"] = str(exc)
    try:
        s.save_model(FakeModel("next", 40_000), ids)
    except StoreError as exc:
        out["save_error"] = str(exc)
    out["history"] = [p.name for p in s.model_history()]
    out["files"] = sorted(p.name for p in s.models.folder.iterdir())
    out["loaded"] = s.load_model().body[:4].decode()
with Store(root, loader=FakeModel.load) as s:
    out["acked"], out["kept"] = ids, [e.id for e in s.examples()]
    out["warnings"] = s.warnings
    out["loaded_again"] = s.load_model().body[:4].decode()
print(json.dumps(out))
'''


def test_a_really_full_disk_loses_nothing(tmp_path):
    """On a 512 KiB tmpfs (mounted in a user namespace): ENOSPC, as on a real full disk."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    cmd = ["unshare", "-rm", "sh", "-c",
           'mount -t tmpfs -o size=512k tmpfs "$0" && exec "$1" -c "$2" "$0/home" "$3"',
           str(mnt), sys.executable, FULL_DISK_CHILD, str(Path(__file__).parent)]
    try:
        probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs tmpfs {mnt}"],
                               capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a small disk here: {exc}")
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a small disk here: {probe.stderr.decode().strip()}")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert "the disk is full" in out["add_error"]
    assert "No space left" in out["save_error"] or "disk is full" in out["save_error"]
    assert out["history"] == ["personal-000001.safetensors"]
    assert out["files"] == ["personal-000001.safetensors", "state.json", "state.lock"]
    assert out["loaded"] == out["loaded_again"] == "good"
    assert len(out["acked"]) > 5 and out["kept"] == out["acked"]
    assert out["warnings"] == []


def _make_read_only(paths: list[Path]) -> Callable:
    """Really read-only, even for root: chmod for a user, the immutable flag for root."""
    if os.geteuid() != 0:
        modes = [(p, p.stat().st_mode) for p in paths]
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        return lambda: [p.chmod(m) for p, m in modes]
    try:
        subprocess.run(["chattr", "+i", *map(str, paths)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot make a folder read-only as root here: {exc}")
    return lambda: subprocess.run(["chattr", "-i", *map(str, paths)], check=True)


def test_read_only_folder_loses_nothing(tmp_path):
    root = tmp_path / "home"
    with open_store(root) as s:
        a = s.add_example(dot(), "🍎")
        good = s.save_model(FakeModel("good"), [a])
        # Not the -shm: SQLite maps it into memory, and writing to a mapped immutable file is
        # a SIGBUS, which no folder turning read-only under a running app would cause.
        files = [root, root / "models", root / DB_NAME, root / (DB_NAME + "-wal"),
                 *(root / "models").iterdir()]
        restore = _make_read_only(files)
        try:
            with pytest.raises(StoreError, match="refused a write|cannot be written"):
                s.add_example(dot(2), "🍌")
            with pytest.raises(StoreError, match="cannot write|could not"):
                s.save_model(FakeModel("new"), [a])
            with open_store(root) as again:  # reading still works: the app can start
                assert [e.id for e in again.examples()] == [a]
                assert again.load_model().body.startswith(b"good")
        finally:
            restore()
        assert [e.id for e in s.examples()] == [a]
        assert s.model_history() == [good] and s.load_model().body.startswith(b"good")


def test_a_new_store_in_a_read_only_folder_says_so(tmp_path):
    root = tmp_path / "home"
    root.mkdir()
    restore = _make_read_only([root])
    try:
        with pytest.raises(StoreError, match="cannot"):
            open_store(root)
    finally:
        restore()


# ---- threads -------------------------------------------------------------------------------

def test_ui_thread_adds_while_worker_saves(store):
    added: list[int] = []
    saved: list[Path] = []
    errors: list[BaseException] = []

    def worker():
        try:
            for i in range(15):
                pending = store.pending_examples()
                saved.append(store.save_model(FakeModel(f"w{i}", 50_000),
                                              store.current_includes() | {e.id for e in pending}))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    t = threading.Thread(target=worker)
    t.start()
    for i in range(150):
        added.append(store.add_example(dot(i), "🍎🍌🍇"[i % 3]))
    t.join()
    assert errors == []
    assert len(set(added)) == 150 and [e.id for e in store.examples()] == sorted(added)
    assert store.model_history()[0] == saved[-1]
    assert store.load_model().body.startswith(b"w14")
    assert store.current_includes() <= set(added)
