"""``emojisketch bench``: how fast the shipped model is on one core.

After a warm-up (:func:`emojisketch.update.warm_up` and a few predictions), it times:

* ``predict_ms_p50`` / ``_p95``: ink to ranked emoji (``model.predict(drawing)``: render,
  embed, classify), over the test drawings; target p50 < 2 ms.
* ``render_ms_p50``: the ink pipeline's share (normalise + rasterise); ``embed_ms_p50`` /
  ``_p95``: a drawing already in Google's frame rasterised and embedded (target p50 < 1.5 ms).
* ``teach3_ms_p50``: teaching 3 drawings to the k-NN (an ``UpdateTask`` run); target < 30 ms.
* ``nn_update_s``: a neural-head update of 100 drawings x 10 epochs, default parameters
  otherwise (median of the runs); target < 1.5 s.
* ``peak_rss_mb``: the process's peak resident memory.
* ``cold_predict_s``: in a fresh Python process, from the first import to the first
  prediction (import, load the model, predict one drawing; median of ``--cold-reps``), the
  core of the app's start-up without Qt; ``cold_imports_torch``: whether that imported torch
  (it need not where the compiled kernels are built: ``emojisketch/net_weights.py``).
* ``native``: whether the compiled kernels (``emojisketch/native.py``) did the rasterising and
  the network; with ``EMOJISKETCH_NATIVE=0`` set, the numpy and torch code is timed instead.

Drawings: ``tests/data/quickdraw_sample.ndjson``, so it runs on a fresh clone.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import ink, quickdraw
from .errors import DataFormatError
from .model import Example, load_model
from .update import UpdateTask, warm_up

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "data" / "quickdraw_sample.ndjson"

COLD_START = """
import sys, time
t0 = time.perf_counter()
from emojisketch.model import load_model
from emojisketch.quickdraw import read
model = load_model(sys.argv[1] or None)
model.predict(next(r.drawing for r in read(sys.argv[2]) if r.drawing is not None))
print(time.perf_counter() - t0, "torch" in sys.modules)
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model or base-net file (default: the shipped base model)")
    parser.add_argument("--data", default=str(SAMPLE), help="drawings to time (ndjson with strokes)")
    parser.add_argument("--predict-reps", type=int, default=500, help="predictions timed")
    parser.add_argument("--teach-reps", type=int, default=50, help="3-drawing k-NN updates timed")
    parser.add_argument("--nn-reps", type=int, default=3, help="100 x 10 neural-head updates timed")
    parser.add_argument("--cold-reps", type=int, default=3,
                        help="fresh processes timed from import to first prediction")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def percentile_ms(times: list[float], q: float) -> float:
    """The q-th percentile of times in seconds, in milliseconds (3 decimals)."""
    return round(float(np.percentile(times, q)) * 1e3, 3)


def cold_start(model_path, data, reps: int) -> tuple[float, bool]:
    """(median seconds, imported torch?) from a fresh process's first import to its first
    prediction."""
    times, torch_seen = [], False
    for _ in range(max(1, reps)):
        out = subprocess.run([sys.executable, "-c", COLD_START, str(model_path or ""), str(data)],
                             capture_output=True, text=True, timeout=300, check=True)
        seconds, imported = out.stdout.split()[-2:]
        times.append(float(seconds))
        torch_seen |= imported == "True"
    return round(float(np.median(times)), 3), torch_seen


def measure(model_path=None, data=SAMPLE, predict_reps=500, teach_reps=50, nn_reps=3,
            cold_reps=3) -> dict:
    cold_s, cold_torch = cold_start(model_path, data, cold_reps)  # before this process warms up
    torch.set_num_threads(1)
    predict_reps, teach_reps, nn_reps = max(1, predict_reps), max(1, teach_reps), max(1, nn_reps)
    knn = load_model(model_path, kind="knn")
    nn = knn.with_kind("nn")
    drawings = [r.drawing for r in quickdraw.read(data) if r.drawing is not None]
    words = [r.word for r in quickdraw.read(data) if r.drawing is not None]
    if len(drawings) < 3:
        raise DataFormatError(f"{data} holds fewer than 3 drawings with strokes to time")
    warm_up(knn)
    for d in drawings[:20]:
        knn.predict(d)

    predict, render = [], []
    for i in range(predict_reps):
        t0 = time.perf_counter()
        knn.predict(drawings[i % len(drawings)])
        predict.append(time.perf_counter() - t0)
    for i in range(predict_reps):  # the ink pipeline's share of it
        t0 = time.perf_counter()
        ink.to_image(drawings[i % len(drawings)])
        render.append(time.perf_counter() - t0)

    embed = []  # the "embedding a drawing": rasterise (Google's frame) + network
    for i in range(predict_reps):
        t0 = time.perf_counter()
        knn.embed(ink.rasterize(drawings[i % len(drawings)]))
        embed.append(time.perf_counter() - t0)

    teach = []
    for i in range(teach_reps):
        batch = [Example(drawings[(3 * i + j) % len(drawings)], words[(3 * i + j) % len(drawings)])
                 for j in range(3)]
        t0 = time.perf_counter()
        UpdateTask(knn, batch, seed=i).run()
        teach.append(time.perf_counter() - t0)

    examples = [Example(drawings[i % len(drawings)], words[i % len(drawings)]) for i in range(100)]
    updates = []
    for i in range(nn_reps):
        t0 = time.perf_counter()
        UpdateTask(nn, examples, {"epochs": 10}, seed=i).run()
        updates.append(time.perf_counter() - t0)

    return {
        "predict_ms_p50": percentile_ms(predict, 50), "predict_ms_p95": percentile_ms(predict, 95),
        "render_ms_p50": percentile_ms(render, 50),
        "embed_ms_p50": percentile_ms(embed, 50), "embed_ms_p95": percentile_ms(embed, 95),
        "teach3_ms_p50": percentile_ms(teach, 50),
        "nn_update_s": round(float(np.median(updates)), 3),
        "nn_update_parameters": dict(nn.parameters, epochs=10),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "cold_predict_s": cold_s, "cold_imports_torch": cold_torch,
        "repetitions": {"predict": predict_reps, "teach3": teach_reps, "nn_update": nn_reps,
                        "cold_start": max(1, cold_reps)},
        "threads": torch.get_num_threads(),
        "native": knn.native,
        "labels": len(knn.labels),
        "model": str(model_path or "models/base.safetensors"),
        "data": str(data),
    }


def run(args: argparse.Namespace) -> int:
    result = measure(args.model, args.data, args.predict_reps, args.teach_reps, args.nn_reps,
                     args.cold_reps)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value}")
    return 0
