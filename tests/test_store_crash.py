"""A kill at any moment loses nothing acknowledged: a child process adds examples and saves
models in a loop and is SIGKILLed, after a random delay or at chosen points inside a save;
the store is then reopened and checked.

The child prints a line, flushed, after each step returns (``example <id>`` once the row is
committed, ``model <n>`` once the save is complete). Those lines are what it acknowledged.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emojisketch.store import DB_NAME, Store

# The stand-in model the child saves and the test loads (tests/hashed_model.py, which the
# child imports too): large enough (a few MB) that a random kill often lands inside a save.
from hashed_model import NumberedModel as Model


CHILD_SRC = r'''
import os, random, signal, sys
from hashed_model import NumberedModel as Model
import emojisketch.store_files as store_files
from emojisketch.ink import Drawing
from emojisketch.store import Store

root, seed, kill_at = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rng = random.Random(seed)

def die():
    os.kill(os.getpid(), signal.SIGKILL)

class HalfWriter(Model):
    """A saver that is no better than it must be: writes in place, dies half way."""
    def save(self, path):
        with open(path, "wb") as fh:
            fh.write(self.HEADER + b"0" * 64 + b"\n" + self.payload()[: self.size // 2])
            fh.flush()
            os.fsync(fh.fileno())
        die()

real_atomic = store_files.atomic_write_bytes
def atomic_then_die(path, data, before_rename):
    if before_rename:  # leave only the temporary file, as a kill before the rename would
        tmp = path.with_name(f".{path.name}.dead.tmp")
        tmp.write_bytes(data[: len(data) // 2])
        die()
    real_atomic(path, data)
    die()

store = Store(root, loader=Model.load)
print("ready", flush=True)
ids, n = [], 0
for step in range(1_000_000):
    strokes = [[[rng.uniform(0, 255) for _ in range(20)] for _ in range(2)] + [list(range(20))]
               for _ in range(rng.randint(1, 4))]
    ids.append(store.add_example(Drawing.from_google(strokes), rng.choice("🍎🍌🍇🐱")))
    print(f"example {ids[-1]}", flush=True)
    if rng.random() < 0.1 and ids:
        # delete_example: undo_last's transaction without building an Example (which
        # would import torch and slow every child down by seconds)
        gone = ids.pop(rng.randrange(len(ids)))
        print(f"undoing {gone}", flush=True)
        store.delete_example(gone)
        print(f"undone {gone}", flush=True)
    if rng.random() < 0.4:
        n += 1  # models are numbered from seed * 1000, so later runs number them higher
        # big models in the random runs, so that kills often land inside a save
        model = Model(seed * 1000 + n, rng.randint(1, 4) << (20 if kill_at == "random" else 16))
        if kill_at != "random" and n == 3:  # two good models first, then die in the third save
            if kill_at == "model-half":
                model = HalfWriter(model.n, model.size)
            elif kill_at == "model-tmp":
                model.save = lambda p: atomic_then_die(p, b"x" * model.size, True)
            elif kill_at == "before-pointer":
                store.models.commit = lambda *a: die()
            elif kill_at == "pointer-tmp":
                store_files.atomic_write_bytes = lambda p, d: atomic_then_die(p, d, True)
            elif kill_at == "after-pointer":
                store_files.atomic_write_bytes = lambda p, d: atomic_then_die(p, d, False)
        print(f"saving {model.n}", flush=True)
        store.save_model(model, list(ids))
        print(f"model {model.n}", flush=True)
'''


def run_child(root: Path, seed: int, kill_at: str, delay: float) -> list[str]:
    """The lines the child printed before it died."""
    tests = str(Path(__file__).resolve().parent)  # where the child finds Model
    env = dict(os.environ, PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")])))
    root.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f"{root.name}-child-stderr.txt", "w+b") as err:
        proc = subprocess.Popen([sys.executable, "-c", CHILD_SRC, str(root), str(seed), kill_at],
                                stdout=subprocess.PIPE, stderr=err, bufsize=0, env=env)
        # Read the pipe's raw bytes ourselves: a buffered readline could hold lines that a
        # later read never sees.
        out = b""
        try:
            while b"ready\n" not in out:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
            if kill_at == "random":
                time.sleep(delay)
                proc.send_signal(signal.SIGKILL)
            while chunk := os.read(proc.stdout.fileno(), 65536):
                out += chunk
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        err.seek(0)
        assert proc.returncode == -signal.SIGKILL, err.read().decode(errors="replace")
    lines = out.decode().splitlines()
    assert lines[0] == "ready"
    return lines[1:]


def check_reopened(root: Path, lines: list[str]) -> dict:
    """Every promise in ``lines`` (all the children's on this folder, in order) is kept by
    the reopened store; appends the example it adds itself; returns what was seen."""
    acked = {int(x.split()[1]) for x in lines if x.startswith("example ")}
    undoing = {int(x.split()[1]) for x in lines if x.startswith("undoing ")}
    undone = {int(x.split()[1]) for x in lines if x.startswith("undone ")}
    saved = [int(x.split()[1]) for x in lines if x.startswith("model ")]
    started = [int(x.split()[1]) for x in lines if x.startswith("saving ")]
    with Store(root, loader=Model.load) as store:
        assert store.warnings == []  # a kill damages nothing, so nothing was moved aside
        ids = {e.id for e in store.examples()}
        assert acked - undoing <= ids, f"acknowledged examples lost: {sorted(acked - undoing - ids)}"
        assert not (ids & undone)
        assert ids <= acked | {max(acked, default=0) + 1}  # at most the one being added
        model = store.load_model()
        if saved:
            # the last acknowledged model, or the one whose save was cut short after its
            # pointer was written
            assert model is not None and saved[-1] <= model.n <= max(started)
            assert store.current_includes() <= ids | undoing
        elif model is not None:
            assert model.n == max(started)
        assert store.warnings == []
        assert len(store.model_history()) <= 4
        leftovers = [p.name for p in store.models.folder.iterdir()
                     if p.name not in {h.name for h in store.model_history()}
                     and p.name not in ("state.json", "state.lock")]
        assert leftovers == []  # half-written files and temporaries were swept
        # and the store goes on working
        new = store.add_example(_dot(), "🍎")
        assert new > max(ids | acked, default=0)
        # From now on the example committed just before the kill, and this one, must stay.
        lines.extend(f"example {i}" for i in sorted(ids - acked) + [new])
    return {"examples": len(acked), "models": len(saved),
            "mid_save": bool(started) and (not saved or started[-1] > saved[-1])}


def _dot():
    from emojisketch.ink import Drawing

    return Drawing.from_google([[[0.0, 3.0], [0.0, 4.0], [0.0, 8.0]]])


@pytest.mark.slow  # about 12 s: 16 children, each killed after up to half a second
def test_random_kills_lose_nothing_acknowledged(tmp_path):
    rng = random.Random(20240607)
    seen = []
    for seed in range(8):
        root = tmp_path / f"run{seed}"
        # Twice on the same folder: the second child starts from what the first left.
        lines: list[str] = []
        for again in range(2):
            last = run_child(root, seed * 10 + again, "random", rng.uniform(0.05, 0.5))
            lines += last
            seen.append(check_reopened(root, lines))
            seen[-1]["mid_save"] = bool(last) and last[-1].startswith("saving ")
    assert sum(s["examples"] for s in seen) > 50  # the children did get work done
    print("kills that landed inside a save:", sum(s["mid_save"] for s in seen), "of", len(seen))


@pytest.mark.parametrize("kill_at", ["model-half", "model-tmp", "before-pointer",
                                     "pointer-tmp", "after-pointer"])
def test_a_kill_inside_a_save_keeps_the_last_good_model(tmp_path, kill_at):
    lines = run_child(tmp_path, 1, kill_at, 0.0)
    assert lines[-1] == "saving 1003"
    seen = check_reopened(tmp_path, lines)
    assert seen["models"] == 2
    with Store(tmp_path, loader=lambda p: None) as store:
        current = store.model_history()[0].name
    expected = 3 if kill_at == "after-pointer" else 2
    assert current == f"personal-{expected:06d}.safetensors", current
    assert not list(tmp_path.glob("models/*.corrupt-*"))
    assert (tmp_path / DB_NAME).exists()
