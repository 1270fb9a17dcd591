"""Time "embedding a drawing" for several model files, interleaved:
``python benchmarks/embed.py [MODEL ...] [--untrained CHANNELS ...] [--torch] [--direct]
[--reps N]``.

Each repetition takes the next doodle of ``tests/data/quickdraw_sample.ndjson`` and, for every
model in turn, rasterises it (the ink pipeline, Google's frame) and embeds it with the app's
embedder (batch norm folded), as ``emojisketch bench``'s ``embed_ms`` does. With ``--torch``
each model is also timed with the compiled kernels switched off (``EMOJISKETCH_NATIVE=0``:
numpy's rasteriser and torch's convolutions). With ``--direct`` the first model is also
timed through a kernel whose 3x3 convolutions are direct loops, not Winograd's
(``emojisketch.native.NetKernel``). Interleaving makes a busy or slower machine slow every
variant alike, so the ratio between two means something even where the absolute times do not.
Each variant also reports ``max_abs_diff_vs_net``: the largest difference of its features from
the torch net's own (``DrawingNet.features``, batch norm not folded) over the sample's drawings.
One thread; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from emojisketch import ink, quickdraw
from emojisketch.bench import SAMPLE, percentile_ms
from emojisketch.model import _Embedder, from_net, load_model
from emojisketch.net import DrawingNet, NetConfig


def untrained(channels: str, like) -> tuple[str, object]:
    """A model of random weights with ``channels`` ("16,32,64") and ``like``'s other settings."""
    cfg = NetConfig.from_dict(like.net.config.to_dict())
    cfg.channels = tuple(int(c) for c in channels.split(","))
    if len(cfg.channels) != len(cfg.pool):
        raise SystemExit(f"--untrained needs {len(cfg.pool)} widths, not {channels!r}")
    torch.manual_seed(0)
    return f"untrained {channels}", from_net(DrawingNet(cfg))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", help="model files (default: the shipped base model)")
    p.add_argument("--untrained", action="append", default=[], metavar="CHANNELS",
                   help="also a net of these block widths (comma-separated), random weights")
    p.add_argument("--torch", action="store_true",
                   help="also time each model with the compiled kernels off (numpy and torch)")
    p.add_argument("--direct", action="store_true",
                   help="also time the first model through a kernel without Winograd")
    p.add_argument("--reps", type=int, default=1500)
    args = p.parse_args()
    torch.set_num_threads(1)
    paths = args.models or ([] if args.untrained else [None])
    models = [load_model(path) for path in paths]
    like = models[0] if models else load_model(None)
    for name, model in (untrained(c, like) for c in args.untrained):
        paths.append(name)
        models.append(model)
    # (name, embed images, EMOJISKETCH_NATIVE while it runs, whether the kernels ran, its net)
    variants = [(str(path or "models/base.safetensors"), m.embed, "1", lambda m=m: m.native, m.net)
                for path, m in zip(paths, models)]
    if args.torch:
        variants += [(f"{name} (torch)", embed, "0", ran, net) for name, embed, _, ran, net in variants]
    if args.direct:
        emb = _Embedder(models[0].weights, winograd=False)
        variants.append((f"{variants[0][0]} (direct)", emb, "1", lambda: emb.uses_kernel,
                         models[0].net))
    drawings = [r.drawing for r in quickdraw.read(SAMPLE) if r.drawing is not None]
    times = [[] for _ in variants]
    for i in range(args.reps + 100):
        d = drawings[i % len(drawings)]
        for t, (_, embed, flag, _, _) in zip(times, variants):
            os.environ["EMOJISKETCH_NATIVE"] = flag
            t0 = time.perf_counter()
            embed(ink.rasterize(d)[None])
            t.append(time.perf_counter() - t0)
    images = np.stack([ink.rasterize_numpy(d) for d in drawings])
    out = {}
    for (name, embed, flag, ran, net), t in zip(variants, times):
        timed = t[100:]  # the first 100 are warm-up
        os.environ["EMOJISKETCH_NATIVE"] = flag
        with torch.inference_mode():
            want = net.features(torch.from_numpy(images[:, None])).numpy()
        got = np.concatenate([embed(x[None]) for x in images])  # one at a time, as timed
        out[name] = {"embed_ms_p50": percentile_ms(timed, 50),
                     "embed_ms_p95": percentile_ms(timed, 95),
                     "native": ran(),
                     "max_abs_diff_vs_net": float(np.abs(got - want).max())}
    print(json.dumps(out, indent=1))

if __name__ == "__main__":
    main()
