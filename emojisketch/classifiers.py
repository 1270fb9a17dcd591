"""The two updatable classifiers that sit on the frozen embedding, as Core ML 3 defines them.

Both take unit embeddings ``(B, D)`` and return probabilities over their ``classes``. Neither
is changed in place: arrays are read-only, and learning makes a new object
(:meth:`KNNClassifier.with_entries`, :meth:`NNHeadClassifier.with_params`). The training loop
of the neural head lives in :mod:`emojisketch.update`; here are only the maths of prediction
and the bookkeeping of labels.

* :class:`KNNClassifier`: Core ML's ``KNearestNeighborsClassifier`` with a linear index,
  squared Euclidean distance and inverse-distance weighting. The base emoji live in it as
  entries too (their cosine-head prototypes, stored at radius ``prototype_radius`` > 1 so
  that a user's example at the same angle is nearer: see :mod:`emojisketch.model`). The
  user's drawings are entries either one by one (``examples``) or as one entry per label, the
  unit mean of that label's drawings (``class_means``: a nearest-class-mean classifier, which
  is a k-NN over the means; better when a label has a few drawings, see the model card).
* :class:`NNHeadClassifier`: one inner-product layer (weight + bias) and a softmax, the only
  kind of neural network Core ML can keep training with a cross-entropy loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MIN_DISTANCE = 1e-6  # squared distances below this count as this (an exact copy of an entry)


def _frozen(a: np.ndarray, dtype=np.float32) -> np.ndarray:
    a = np.array(a, dtype=dtype, copy=True)
    a.setflags(write=False)
    return a


def _distinct(labels: list[str]) -> list[str]:
    """Labels in order of first appearance."""
    return list(dict.fromkeys(labels))


class KNNClassifier:
    """k nearest neighbours, exactly as Core ML's KNearestNeighborsClassifier computes them.

    For a query ``q`` (float32, converted to float64 for the arithmetic) and stored entries
    ``e_i`` with labels ``y_i`` (i = 0..N-1):

    1. ``d_i = max(|q|^2 + |e_i|^2 - 2 q.e_i, MIN_DISTANCE)``: squared Euclidean distance,
       floored at 1e-6 so that an exact copy of an entry gets a weight of 1e6 (in practice
       all the probability, shared equally between exact copies) instead of dividing by zero.
    2. The ``k`` smallest ``d_i`` (all of them when N < k); ties go to the lower index
       (a stable sort of ``d``).
    3. ``w_i = 1 / d_i`` for those k; ``P(label) = sum(w_i for y_i == label) / sum(w_i)``.
       Labels not among the k get probability 0.

    ``classes`` (the output columns) are the distinct labels in order of first appearance
    among the entries. :meth:`rank` orders labels by probability, then (ties, and the labels
    with probability 0, which fill a list of suggestions) by their nearest entry's place in the
    order of step 2.
    The first ``n_base`` entries are the base emoji's prototypes; the rest are the user's
    examples, or with ``entries="class_means"`` one entry per label: the unit-length mean of
    its examples, which the classifier keeps (``examples``, ``example_labels``) to average
    again when more come. Either way the entries are all Core ML needs to predict.
    """

    ENTRIES = ("class_means", "examples")

    def __init__(self, embeddings: np.ndarray, labels: list[str], k: int = 3, n_base: int = 0,
                 prototype_radius: float = 1.0, entries: str = "examples",
                 examples: np.ndarray | None = None, example_labels: list[str] | None = None):
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or len(embeddings) != len(labels):
            raise ValueError(f"{len(labels)} labels for embeddings of shape {embeddings.shape}")
        if k < 1:
            raise ValueError("k must be at least 1")
        self.embeddings = _frozen(embeddings)  # (N, D)
        self.labels = [str(x) for x in labels]  # (N,)
        self.k = int(k)
        self.n_base = int(n_base)
        self.prototype_radius = float(prototype_radius)
        if entries not in self.ENTRIES:
            raise ValueError(f"k-NN entries must be one of {', '.join(self.ENTRIES)}, not {entries!r}")
        self.entries = entries
        if entries == "class_means":
            example_labels = [str(x) for x in (example_labels or [])]
            ex = np.zeros((0, embeddings.shape[1])) if examples is None else examples
            self.examples = _frozen(np.asarray(ex).reshape(len(example_labels), embeddings.shape[1]))
            self.example_labels = example_labels
        else:  # the entries past the prototypes are the examples themselves
            self.examples = self.embeddings[self.n_base :]
            self.example_labels = self.labels[self.n_base :]
        self.classes = _distinct(self.labels)
        index = {c: j for j, c in enumerate(self.classes)}
        self._label_idx = np.array([index[x] for x in self.labels], dtype=np.int64)
        self._e64 = self.embeddings.astype(np.float64)
        self._sq_norms = (self._e64**2).sum(axis=1)

    kind = "knn"

    @property
    def dim(self) -> int:
        return self.embeddings.shape[1]

    @property
    def n_examples(self) -> int:
        return len(self.example_labels)

    def distances(self, emb: np.ndarray) -> np.ndarray:
        """(B, N) squared Euclidean distances, floored at MIN_DISTANCE (float64)."""
        q = np.asarray(emb, dtype=np.float32).astype(np.float64).reshape(-1, self.dim)
        d = (q**2).sum(axis=1)[:, None] + self._sq_norms[None, :] - 2.0 * q @ self._e64.T
        return np.maximum(d, MIN_DISTANCE)

    def _by_distance(self, d: np.ndarray) -> np.ndarray:
        """(B, N) entry indices, nearest first; equal distances in index order."""
        return np.argsort(d, axis=1, kind="stable")

    def predict_proba(self, emb: np.ndarray) -> np.ndarray:
        """(B, len(classes)) probabilities; each row sums to 1."""
        d = self.distances(emb)
        return self._proba(d, self._by_distance(d))

    def _proba(self, d: np.ndarray, by_distance: np.ndarray) -> np.ndarray:
        out = np.zeros((len(d), len(self.classes)), dtype=np.float64)
        if d.shape[1] == 0:
            return out.astype(np.float32)
        nn = by_distance[:, : self.k]  # (B, k) the k nearest
        w = 1.0 / np.take_along_axis(d, nn, axis=1)
        rows = np.repeat(np.arange(len(d)), nn.shape[1])
        np.add.at(out, (rows, self._label_idx[nn].reshape(-1)), w.reshape(-1))
        out /= out.sum(axis=1, keepdims=True)
        return out.astype(np.float32)

    def rank(self, emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(order (B, C) of class indices best first, probabilities (B, C)).

        Classes with probability > 0 come first by probability; then the rest by the distance
        of their nearest entry, so a list of five suggestions is always full.
        """
        d = self.distances(emb)
        by_distance = self._by_distance(d)
        p = self._proba(d, by_distance)
        if not self.classes:
            return np.zeros(p.shape, dtype=np.int64), p
        # Each class's place in the distance order is that of its nearest entry.
        labels = self._label_idx[by_distance]  # (B, N)
        place = np.stack([np.unique(row, return_index=True)[1] for row in labels])  # (B, C)
        return np.lexsort((place, -p), axis=1), p

    def with_entries(self, embeddings: np.ndarray, labels: list[str], k: int | None = None,
                     entries: str | None = None) -> "KNNClassifier":
        """A new classifier that has also learned these examples: appended as entries (Core
        ML's k-NN update), or averaged into their labels' means. ``entries`` switches how the
        user's examples (old and new) are stored."""
        emb = np.asarray(embeddings, dtype=np.float32).reshape(len(labels), self.dim)
        k = self.k if k is None else k
        entries = entries or self.entries
        base_emb, base_labels = self.embeddings[: self.n_base], self.labels[: self.n_base]
        ex = np.concatenate([self.examples, emb])
        ex_labels = self.example_labels + [str(x) for x in labels]
        if entries == "examples":
            return KNNClassifier(np.concatenate([base_emb, ex]), base_labels + ex_labels, k,
                                 self.n_base, self.prototype_radius)
        means, mean_labels = class_means(ex, ex_labels)
        return KNNClassifier(np.concatenate([base_emb, means]), base_labels + mean_labels, k,
                             self.n_base, self.prototype_radius, entries, ex, ex_labels)

    # -- files --------------------------------------------------------------------------
    def to_state(self) -> tuple[dict[str, np.ndarray], dict]:
        tensors = {"knn.embeddings": np.asarray(self.embeddings)}
        config = {"kind": "knn", "labels": self.labels, "k": self.k, "n_base": self.n_base,
                  "prototype_radius": self.prototype_radius, "entries": self.entries}
        if self.entries == "class_means":
            tensors["knn.examples"] = np.asarray(self.examples)
            config["example_labels"] = self.example_labels
        return tensors, config

    @classmethod
    def from_state(cls, tensors: dict[str, np.ndarray], config: dict) -> "KNNClassifier":
        entries = config.get("entries", "examples")
        extra = ((tensors["knn.examples"], config["example_labels"])
                 if entries == "class_means" else (None, None))
        return cls(tensors["knn.embeddings"], config["labels"], config["k"], config["n_base"],
                   config.get("prototype_radius", 1.0), entries, *extra)


def class_means(embeddings: np.ndarray, labels: list[str]) -> tuple[np.ndarray, list[str]]:
    """(one unit-length mean embedding per label, the labels in order of first appearance)."""
    distinct = _distinct(labels)
    if not distinct:
        return np.zeros((0, embeddings.shape[1]), np.float32), []
    index = {c: j for j, c in enumerate(distinct)}
    sums = np.zeros((len(distinct), embeddings.shape[1]), np.float64)
    np.add.at(sums, np.array([index[x] for x in labels]), np.asarray(embeddings, np.float64))
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.maximum(norms, 1e-12)).astype(np.float32), distinct


@dataclass(frozen=True)
class NNHeadClassifier:
    """One inner product and a softmax: ``P = softmax(emb @ weight.T + bias)``.

    ``weight`` (C, D) and ``bias`` (C,) are float32; ``classes`` names the C rows; the first
    ``n_base`` are the base emoji. ``replay`` (M, D) and ``replay_labels`` keep the unit
    embeddings of the user's past examples, so that a later update trains on them again and
    the head does not forget them (as an app passing all its stored drawings to Core ML would).
    Hyperparameters of updates live in the model's update description, not here.
    """

    weight: np.ndarray
    bias: np.ndarray
    classes: list[str]
    n_base: int = 0
    replay: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    replay_labels: list[str] = field(default_factory=list)

    kind = "nn"

    def __post_init__(self) -> None:
        w = _frozen(self.weight)
        b = _frozen(np.asarray(self.bias).reshape(-1))
        if w.ndim != 2 or b.shape != (w.shape[0],) or len(self.classes) != w.shape[0]:
            raise ValueError(f"head shapes do not agree: weight {w.shape}, bias {b.shape}, "
                             f"{len(self.classes)} classes")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("a neural head's classes must be distinct")
        r = _frozen(np.asarray(self.replay, np.float32).reshape(len(self.replay_labels), w.shape[1]))
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", b)
        object.__setattr__(self, "classes", [str(c) for c in self.classes])
        object.__setattr__(self, "replay", r)
        object.__setattr__(self, "replay_labels", [str(c) for c in self.replay_labels])

    @property
    def dim(self) -> int:
        return self.weight.shape[1]

    @property
    def n_examples(self) -> int:
        return len(self.replay_labels)

    def logits(self, emb: np.ndarray) -> np.ndarray:
        q = np.asarray(emb, dtype=np.float32).reshape(-1, self.dim)
        return q @ self.weight.T + self.bias

    def predict_proba(self, emb: np.ndarray) -> np.ndarray:
        z = self.logits(emb).astype(np.float64)
        if z.shape[1] == 0:
            return z.astype(np.float32)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    def rank(self, emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.predict_proba(emb)
        return np.argsort(-p, axis=1, kind="stable"), p

    def with_params(self, weight: np.ndarray, bias: np.ndarray, classes: list[str],
                    replay: np.ndarray, replay_labels: list[str]) -> "NNHeadClassifier":
        return NNHeadClassifier(weight, bias, classes, self.n_base, replay, replay_labels)

    # -- files --------------------------------------------------------------------------
    def to_state(self) -> tuple[dict[str, np.ndarray], dict]:
        return ({"nn.weight": np.asarray(self.weight), "nn.bias": np.asarray(self.bias),
                 "nn.replay": np.asarray(self.replay)},
                {"kind": "nn", "classes": self.classes, "n_base": self.n_base,
                 "replay_labels": self.replay_labels})

    @classmethod
    def from_state(cls, tensors: dict[str, np.ndarray], config: dict) -> "NNHeadClassifier":
        return cls(tensors["nn.weight"], tensors["nn.bias"], config["classes"], config["n_base"],
                   tensors["nn.replay"], config["replay_labels"])


CLASSIFIERS = {"knn": KNNClassifier, "nn": NNHeadClassifier}
