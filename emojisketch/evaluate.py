"""``emojisketch evaluate base|fewshot|stream``: the model's accuracy, measured on drawings.

* ``base``: every drawing whose word maps to one of the model's base emoji is classified by
  the base head; ``top1``/``top3`` over those, the rest counted as ``skipped``. ``--split test``
  keeps only the drawings the shipped model held out (the split its checkpoint records).
* ``fewshot`` and ``stream``: personalization, by :mod:`emojisketch.episodes`. By default on the
  words the base net never saw (its checkpoint's held-out words), when the data has them.

Data is a file or a folder in any of Google's formats and coordinate ranges: strokes go
through the app's ink pipeline (``ink.to_image``: normalise, then render), Google's bitmaps are
used as they are, and this project's ``thin/`` renders are thickened to Google's look first.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from . import dataset, quickdraw
from .checkpoint import BASE_MODEL, load_net
from .emojis import category_emoji
from .errors import EmojisketchError, InkError

BATCH = 256


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="mode", required=True, metavar="MODE")
    base = sub.add_parser("base", help="top-1/top-3 of the base head on drawings of its emoji")
    base.add_argument("--split", choices=("all", "test"), default="all",
                      help="test: only the drawings the model's training held out")
    few = sub.add_parser("fewshot", help="N-way K-shot episodes of teaching new drawings")
    few.add_argument("--ways", type=int, required=True)
    few.add_argument("--shots", type=int, required=True)
    few.add_argument("--queries", type=int, default=5)
    few.add_argument("--episodes", type=int, default=200)
    stream = sub.add_parser("stream", help="predict every drawing, teach it when wrong")
    stream.add_argument("--per-word", type=int, default=0,
                        help="only the first N drawings of each word (0: all)")
    stream.add_argument("--limit", type=int, default=0, help="stop after N drawings (0: all)")
    for p in (base, few, stream):
        p.add_argument("--data", required=True, help="a Quick, Draw! file or folder")
        p.add_argument("--model", help=f"a model file (default: {BASE_MODEL.name})")
        p.add_argument("--json", action="store_true", help="print one JSON object")
    for p in (few, stream):
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--kind", choices=("knn", "nn"), help="classifier (default: the model's)")
        p.add_argument("--prototype-radius", type=float,
                       help="a k-NN over a base-net file: the radius of the base emoji's "
                            "entries (default 1.15)")
        p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                       help="an update parameter for the teaching (e.g. mirror=0); repeatable")
        p.add_argument("--words", default="auto",
                       help="holdout, all, or a file of words; auto: the model's held-out "
                            "words when the data has them, else all")


# -- base ------------------------------------------------------------------------------------

class _Tally:
    """Hits by class and by source."""

    def __init__(self):
        self.rows: list[tuple[int, bool, bool, str]] = []  # class, top1 hit, top3 hit, source

    def add(self, classes, top3, sources):
        for c, t, s in zip(classes, top3, sources):
            self.rows.append((c, t[0] == c, c in t, s))

    def result(self) -> dict:
        n = len(self.rows)
        if n == 0:
            return {"top1": None, "top3": None, "n": 0, "classes": 0, "macro_top1": None,
                    "by_source": {}}
        c, h1, h3, src = (np.array(v) for v in zip(*self.rows))
        per_class = [h1[c == k].mean() for k in np.unique(c)]
        by_source = {str(s): {"n": int((src == s).sum()), "top1": round(float(h1[src == s].mean()), 4),
                         "top3": round(float(h3[src == s].mean()), 4)} for s in sorted(set(src))}
        return {"top1": round(float(h1.mean()), 4), "top3": round(float(h3.mean()), 4), "n": n,
                "classes": len(per_class), "macro_top1": round(float(np.mean(per_class)), 4),
                "by_source": by_source}


def _word_classes(net, extra: dict) -> dict[str, int]:
    """word -> index of the head's label, from the checkpoint's words or the emoji table."""
    labels = list(net.config.labels)
    words = extra.get("words")
    if isinstance(words, list) and len(words) == len(labels):
        return {w: i for i, w in enumerate(words)}
    index = {e: i for i, e in enumerate(labels)}
    return {w: index[e] for w, e in category_emoji().items() if e in index}


def _classify(net, images: list[np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        x = torch.from_numpy(np.stack(images))[:, None]
        logits = net(x)
        return logits.topk(min(3, logits.shape[1]), dim=1).indices.numpy()


def base(data: str | Path, model_path: str | Path | None = None, split: str = "all") -> dict:
    """top1, top3, n, classes, skipped (and macro_top1, by_source) of the base head."""
    torch.set_num_threads(1)
    net, extra = load_net(model_path or BASE_MODEL)
    if not net.config.n_classes:
        raise EmojisketchError("this model has no base head to evaluate")
    classes = _word_classes(net, extra)
    tally, skipped, unreadable = _Tally(), 0, 0
    batch: list[tuple[np.ndarray, int, str]] = []

    def flush():
        if batch:
            images, cs, srcs = zip(*batch)
            tally.add(list(cs), _classify(net, list(images)).tolist(), srcs)
            batch.clear()

    for word, source, make_image in _drawings(data, extra, split):
        c = classes.get(word)
        if c is None:
            skipped += 1
            continue
        try:
            batch.append((make_image(), c, source))
        except InkError:
            unreadable += 1
        if len(batch) >= BATCH:
            flush()
    flush()
    return dict(tally.result(), skipped=skipped, unreadable=unreadable, split=split,
                model=str(model_path or BASE_MODEL), data=str(data))


def _drawings(data, extra: dict, split: str):
    """(word, source, image maker) of every drawing (split "all") or of the test side."""
    if split == "all":
        for rec in quickdraw.read(data):
            yield rec.word, rec.source, lambda rec=rec: dataset.record_image(rec)
        return
    recorded = extra.get("split")
    if not isinstance(recorded, dict):
        raise EmojisketchError("this model records no train/test split: use --split all")
    for word, _, test in dataset.recorded_split(data, recorded):
        for item in test:
            yield word, item.source, item.render


# -- fewshot and stream ------------------------------------------------------------------------

def _chosen_words(option: str, model, data) -> list[str] | None:
    from .episodes import holdout_words

    if option == "all":
        return None
    if option not in ("auto", "holdout"):
        path = Path(option)
        if not path.is_file():
            raise EmojisketchError(f"--words {option}: not 'auto', 'holdout', 'all' or a file")
        return dataset.parse_word_list(path.read_text(encoding="utf-8"))
    held = holdout_words(model)
    if held is None:
        if option == "holdout":
            raise EmojisketchError("this model records no held-out words: use --words all")
        return None
    present = set(dataset.word_files(data)[0])
    if option == "auto" and not present & set(held):
        return None
    return [w for w in held if w in present]


def _examples(data, words: list[str] | None, model) -> dict:
    """word -> Examples, each distinct drawing once, images through the ink pipeline."""
    from .episodes import base_word_labels, load_drawings

    return load_drawings(data, words, base_word_labels(model))


def _parameters(settings: list[str]) -> dict:
    """``["mirror=0", ...]`` -> ``{"mirror": "0"}`` (the update task checks names and values)."""
    out = {}
    for item in settings:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise EmojisketchError(f"--set {item}: write NAME=VALUE, e.g. --set mirror=0")
        out[name.strip()] = value.strip()
    return out


def _personalization(args) -> dict:
    try:
        from . import episodes
    except ImportError as exc:  # the few-shot module belongs to another part of the project
        raise EmojisketchError(f"few-shot evaluation is not available: {exc}") from None
    from .model import load_model

    torch.set_num_threads(1)
    model = load_model(args.model, kind=args.kind, prototype_radius=args.prototype_radius)
    words = _chosen_words(args.words, model, args.data)
    drawings = _examples(args.data, words, model)
    parameters = _parameters(args.set)
    if args.mode == "fewshot":
        out = episodes.fewshot(model, drawings, args.ways, args.shots, args.queries,
                               args.episodes, args.seed, parameters=parameters)
    else:
        if args.per_word > 0:  # so that the 9 words with thousands of bitmaps do not drown the rest
            drawings = {w: ex[: args.per_word] for w, ex in drawings.items()}
        out = episodes.stream(model, drawings, args.seed, parameters=parameters,
                              limit=args.limit or None)
    if parameters:
        out["parameters"] = parameters
    if model.kind == "knn":
        out["prototype_radius"] = model.classifier.prototype_radius
    return dict(out, word_set="all" if words is None else f"{args.words} ({len(drawings)})")


def run(args: argparse.Namespace) -> int:
    if args.mode == "base":
        result = base(args.data, args.model, args.split)
    else:
        result = _personalization(args)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key}: {value}", file=sys.stdout)
    return 0
