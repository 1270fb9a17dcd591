"""How fast this CPU multiplies the matrices of the network's convolutions:
``python benchmarks/matmul.py [MODEL] [--reps N]``.

A 3x3 convolution at batch 1 is, in its im2col form, one (H*W x C_in*9) by (C_in*9 x C_out)
matrix product. For each convolution of the model's net (the shipped base model by default)
this times that product alone, on one thread, through torch (its BLAS, MKL in the x86 wheels)
and through numpy (OpenBLAS), and prints one JSON object: the multiply-adds a second of each
shape and the time the net's multiply-adds would take at the best rate seen. No real
convolution is faster than its matrix product, so that time bounds the network from below
(``emojisketch bench``'s ``embed_ms`` adds rasterising and every other layer).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from emojisketch.model import load_model


def conv_shapes(net) -> list[tuple[int, int, int]]:
    """(M, K, N) of each convolution's im2col product, in order."""
    shapes, side, c_in = [], 28, 1
    for block in net.blocks:
        for conv in (block.conv1, block.conv2):
            k = conv.kernel_size[0]
            shapes.append((side * side, c_in * k * k, conv.out_channels))
            c_in = conv.out_channels
        side //= 2 if block.pool else 1
    if net.config.expand:
        shapes.append((side * side, c_in, net.config.expand))
    return shapes


def _median_s(f, reps: int) -> float:
    f()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", nargs="?", help="model file (default: the shipped base model)")
    p.add_argument("--reps", type=int, default=300)
    args = p.parse_args()
    torch.set_num_threads(1)
    net = load_model(args.model).net
    rows, total, best = [], 0, 0.0
    gen = np.random.default_rng(0)
    for m, k, n in conv_shapes(net):
        a = gen.standard_normal((m, k), dtype=np.float32)
        b = gen.standard_normal((k, n), dtype=np.float32)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        macs = m * k * n
        torch_rate = macs / _median_s(lambda: ta @ tb, args.reps) / 1e9
        numpy_rate = macs / _median_s(lambda: a @ b, args.reps) / 1e9
        rows.append({"shape": [m, k, n], "torch_gmac_s": round(torch_rate, 1),
                     "numpy_gmac_s": round(numpy_rate, 1)})
        total += macs
        best = max(best, torch_rate, numpy_rate)
    print(json.dumps({"convolutions": rows, "multiply_adds": total,
                      "best_gmac_s": round(best, 1),
                      "net_ms_at_best_rate": round(total / best / 1e6, 3), "threads": 1}))


if __name__ == "__main__":
    main()
