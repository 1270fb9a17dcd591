"""``emojisketch pooled-prototypes``: give a trained base net the pooled features.

    emojisketch pooled-prototypes --data ../shared/data --model runs/run12.safetensors \
        --out models/base.safetensors

With pooled features (``NetConfig.pooled``, :meth:`emojisketch.net.DrawingNet.features`) the
classifiers compare the embedding and the power-normalised pooled features side by side, and
each base emoji needs a place among the pooled features too: the unit mean over its training
drawings (at most ``--per-class``, the training side of the split the file records, rendered
through the ink pipeline). ``train-base`` measures them at the end of every run; this command
does it for a net trained without (the shipped model was). No weight changes: the network,
its embedding and its base head give the same numbers as before.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from . import dataset
from .checkpoint import BASE_MODEL, load_net, save_net
from .errors import DataFormatError, EmojisketchError
from .training import with_pooled_features


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="the Quick, Draw! folder the net was trained on")
    p.add_argument("--model", default=str(BASE_MODEL), help="the trained base net")
    p.add_argument("--out", help="where to write it (default: over --model)")
    p.add_argument("--per-class", type=int, default=500, help="training drawings an emoji")


def measure(data, model: str | Path, per_class: int = 500) -> tuple:
    """(net with pooled features, its extra metadata, drawings used) for a base-net file."""
    net, extra = load_net(model)
    words = extra.get("words")
    if not isinstance(words, list) or len(words) != net.config.n_classes or not words:
        raise EmojisketchError(f"{Path(model).name} records no word for each base emoji")
    recorded = extra.get("split")
    if not isinstance(recorded, dict):
        raise EmojisketchError(f"{Path(model).name} records no train/test split")
    index = {w: c for c, w in enumerate(words)}
    pairs = [(it, index[w]) for w, train, _ in dataset.recorded_split(data, recorded, words)
             for it in train]
    found = {c for _, c in pairs}
    if len(found) < len(words):
        missing = [w for w in words if index[w] not in found]
        raise DataFormatError(f"{data} has no training drawings of {len(missing)} base "
                              f"word(s): {', '.join(missing[:5])}")
    chosen = dataset.first_per_class(pairs, per_class)
    return with_pooled_features(net, dataset.class_batches(chosen)), extra, len(chosen)


def run(args: argparse.Namespace) -> int:
    started = time.time()
    net, extra, used = measure(args.data, args.model, args.per_class)
    out = args.out or args.model
    extra["pooled"] = {"drawings": used, "per_class": args.per_class, "from": str(args.model),
                       "command": f"emojisketch pooled-prototypes --data {args.data} "
                                  f"--model {args.model} --out {out} --per-class {args.per_class}"}
    save_net(net, out, extra)
    print(f"wrote {out}: pooled prototypes of {net.config.n_classes} emoji from {used} "
          f"training drawings in {time.time() - started:.0f} s")
    return 0
