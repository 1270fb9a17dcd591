"""An experiment, not a feature: each drawing also described by how much it looks like each
base emoji, then any `emojisketch` command run on top. Measured on the held-out words with

    python benchmarks/base_similarity.py --temperature 23 --weight 0.5 evaluate fewshot \
        --data ../shared/data/quickdraw --ways 20 --shots 3 --episodes 1000 --seed 0 \
        --model models/base.safetensors --json

against the same command without this wrapper (`emojisketch evaluate fewshot ...`): see
"Weight averaging, a wider net, and the base emoji as a vocabulary" in models/README.md.

The features ``f`` (unit, from the net) become ``[f, w * s] / sqrt(1 + w^2)``, still unit,
where ``s = normalize(sqrt(softmax(t * f . U^T)))`` and ``U`` are the k-NN's base emoji
entries as unit vectors (``model.unit_prototypes``): a new word is taught, and asked, partly
through its resemblance to the 215 emoji the net was trained to tell apart, which three
drawings pin down better than the raw features. The base entries themselves go through the same map (at their radius). It
patches ``emojisketch.model.load_model`` and ``UpdatableModel.embed``; only a k-NN base model
(not a personalized file) is supported.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def similarity_map(protos: np.ndarray, temperature: float, weight: float):
    """``f`` (N, D) unit -> (N, D + len(protos)) unit: ``f`` beside its softened resemblance
    to each of ``protos`` (unit rows)."""
    from emojisketch.net_weights import normalize_rows

    protos = np.asarray(protos, dtype=np.float64)

    def apply(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        z = temperature * (f @ protos.T)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        s = normalize_rows(np.sqrt(p / p.sum(axis=1, keepdims=True)))
        return (np.concatenate([f, weight * s], axis=1) / np.sqrt(1 + weight**2)).astype(np.float32)

    return apply


def patch(temperature: float, weight: float) -> None:
    """Make every base model loaded from here on use the map."""
    from emojisketch import model as m
    from emojisketch.classifiers import KNNClassifier

    load, embed = m.load_model, m.UpdatableModel.embed
    state: dict = {}

    def loaded(*args, **kwargs):
        base = load(*args, **kwargs)
        clf = base.classifier
        if not isinstance(clf, KNNClassifier) or clf.n_examples:
            raise SystemExit("base_similarity.py: only a k-NN base model, untaught")
        protos = m.unit_prototypes(base.weights)  # the k-NN's base entries, before the radius
        state["map"] = similarity_map(protos, temperature, weight)
        mapped = state["map"](protos) * np.float32(clf.prototype_radius)
        return base.derive(KNNClassifier(mapped, clf.labels, clf.k, clf.n_base,
                                         clf.prototype_radius, clf.entries))

    def embedded(self, images):
        return state["map"](embed(self, images))

    m.load_model, m.UpdatableModel.embed = loaded, embedded


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="base_similarity.py", add_help=False, allow_abbrev=False)
    p.add_argument("--temperature", type=float, default=23.0)
    p.add_argument("--weight", type=float, default=0.5)
    args, rest = p.parse_known_args(argv)
    from emojisketch.cli import main as cli

    patch(args.temperature, args.weight)
    sys.argv = ["emojisketch", *rest]
    cli()


if __name__ == "__main__":
    main(sys.argv[1:])
