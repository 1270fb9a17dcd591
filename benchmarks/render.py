"""Time the ink pipeline on a folder of Quick, Draw! files:
``python benchmarks/render.py [PATH] [--check]``.

Reads every drawing first (parsing is not timed), then renders each with
``emojisketch.ink.rasterize`` (what training uses on Google's simplified strokes) and, for a
sample, ``ink.to_image`` (normalise + rasterise: what the canvas uses). ``native`` says whether
the compiled kernels did it (``EMOJISKETCH_NATIVE=0`` times the numpy code). With ``--check``
it also counts the drawings whose simplified points and pixels are the same, to the bit, as
numpy's (``ink.normalize_numpy``, ``ink.rasterize_numpy``). Prints one JSON object. Run it on
one core for the issue's figure: ``taskset -c 0 python benchmarks/render.py``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from emojisketch import ink, native, quickdraw

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared/data/quickdraw/simplified"


def timed(fn, items) -> np.ndarray:
    out = np.empty(len(items))
    for i, item in enumerate(items):
        t = time.perf_counter()
        fn(item)
        out[i] = time.perf_counter() - t
    return out * 1e3


def same_as_numpy(drawings) -> dict:
    """How many drawings the pipeline simplifies and rasterises exactly as the numpy code."""
    simplified = rasterized = 0
    for d in drawings:
        fast, ref = ink.normalize(d), ink.normalize_numpy(d)
        simplified += len(fast.strokes) == len(ref.strokes) and all(
            np.array_equal(a.points, b.points) for a, b in zip(fast.strokes, ref.strokes))
        rasterized += np.array_equal(ink.rasterize(d), ink.rasterize_numpy(d))
    return {"drawings": len(drawings), "normalize": int(simplified), "rasterize": int(rasterized)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path", nargs="?", default=str(DEFAULT), help="an ndjson file or a folder")
    p.add_argument("--check", action="store_true", help="also compare with the numpy code")
    args = p.parse_args()
    path = Path(args.path)
    drawings = [r.drawing for r in quickdraw.read(path) if r.drawing is not None]
    t0 = time.perf_counter()
    raster = timed(ink.rasterize, drawings)
    wall = time.perf_counter() - t0
    full = timed(ink.to_image, drawings[:: max(1, len(drawings) // 1000)])
    print(json.dumps({
        "path": str(path), "drawings": len(drawings),
        "rasterize_ms_mean": round(float(raster.mean()), 4),
        "rasterize_ms_p50": round(float(np.percentile(raster, 50)), 4),
        "rasterize_ms_p95": round(float(np.percentile(raster, 95)), 4),
        "rasterize_total_s": round(wall, 2),
        "to_image_ms_p50": round(float(np.percentile(full, 50)), 4),
        "to_image_ms_p95": round(float(np.percentile(full, 95)), 4),
        "to_image_sample": len(full),
        "native": native.available(),
        **({"same_as_numpy": same_as_numpy(drawings)} if args.check else {}),
    }, indent=1))


if __name__ == "__main__":
    main()
