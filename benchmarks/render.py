"""Time the ink pipeline on a folder of Quick, Draw! files: ``python benchmarks/render.py [PATH]``.

Reads every drawing first (parsing is not timed), then renders each with
``emojisketch.ink.rasterize`` (what training uses on Google's simplified strokes) and, for a
sample, ``ink.to_image`` (normalise + rasterise: what the canvas uses). Prints one JSON object.
Run it on one core for the issue's figure: ``taskset -c 0 python benchmarks/render.py``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from emojisketch import ink, quickdraw

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared/data/quickdraw/simplified"


def timed(fn, items) -> np.ndarray:
    out = np.empty(len(items))
    for i, item in enumerate(items):
        t = time.perf_counter()
        fn(item)
        out[i] = time.perf_counter() - t
    return out * 1e3


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
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
    }, indent=1))


if __name__ == "__main__":
    main()
