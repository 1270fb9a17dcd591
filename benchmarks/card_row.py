"""The model card's row for each model file, the drawings read once.

    python benchmarks/card_row.py runs/chain/base.safetensors models/base.safetensors

For each file, one JSON line: base top-1 / top-3 / macro top-1 on the held-out split
(``emojisketch evaluate base --data DATA --split test``), 5-way and 20-way 3-shot ``nway_top1``
over 200 episodes (``evaluate fewshot --ways N --shots 3``), and 20-way over 1,000 episodes
with seeds 0, 1 and 2 (``--episodes 1000 --seed S``) and their mean. The same functions as
those commands (:func:`emojisketch.episodes.fewshot`, :func:`emojisketch.evaluate.base`), so
the same figures; only the held-out words' drawings are read once for all the files that
hold out the same words.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from emojisketch import episodes, evaluate
from emojisketch.model import load_model


def row(path: str, data: Path, read: dict) -> dict:
    """The figures of one model file; ``read`` keeps the drawings by held-out words and
    labels, for the next file."""
    model = load_model(path, kind="knn")
    words, labels = episodes.holdout_words(model), episodes.base_word_labels(model)
    key = json.dumps([words, labels], sort_keys=True)
    if key not in read:
        read[key] = episodes.load_drawings(data / "quickdraw", words, labels)
    drawings = read[key]
    out = {"model": str(path)}
    out["20w3s_200"] = round(episodes.fewshot(model, drawings, 20, 3)["nway_top1"], 4)
    seeds = [episodes.fewshot(model, drawings, 20, 3, episodes=1000, seed=s)["nway_top1"]
             for s in (0, 1, 2)]
    out["20w3s_1000_seeds012"] = [round(v, 4) for v in seeds]
    out["20w3s_1000_mean"] = round(sum(seeds) / 3, 4)
    out["5w3s_200"] = round(episodes.fewshot(model, drawings, 5, 3)["nway_top1"], 4)
    base = evaluate.base(data, path, split="test")
    out["base_top1_top3_macro"] = [round(base[k], 4) for k in ("top1", "top3", "macro_top1")]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--data", type=Path, default=Path("../shared/data"),
                   help="the folder holding quickdraw/ (as the model card's commands use it)")
    args = p.parse_args()
    torch.set_num_threads(1)
    read: dict = {}
    for path in args.models:
        print(json.dumps(row(path, args.data, read)), flush=True)


if __name__ == "__main__":
    main()
