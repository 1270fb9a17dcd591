"""The updatable model: the frozen drawing net's embedding, then an updatable classifier.

``UpdatableModel`` is what the app predicts with, what an update task returns a new copy of,
what the store saves and what the Core ML exporter converts. It is never changed in place.

How the base emoji live in each classifier:

The classifiers see the net's features (:meth:`DrawingNet.features`: the unit embedding, or
for a ``pooled`` net the embedding and the pooled features side by side); below, "prototype"
is a base emoji's unit vector in that space (:meth:`DrawingNet.prototype_features`).

* k-NN: one entry per base emoji, its prototype (the cosine head's ``normalize(net.prototypes)``)
  scaled to radius ``prototype_radius`` (default 1.15). A query is a unit vector, so a prototype
  at the same angle as a user's example is ``r**2 - 1 + 2(1 - r) cos`` farther (at least
  ``(r - 1)**2``): where the user's drawing and a base emoji disagree, the user's example wins.
  Without pooled features the top-1 over the prototypes alone is the cosine head's top-1
  (with them, nearly: on the held-out split the shipped net's prototypes alone give top-1 /
  top-3 0.720 / 0.854, its head 0.719 / 0.856; a one-off check). Core ML's own on-device
  k-NN update appends each example once, unscaled, so the exported model keeps this rule.
  1.15 was measured against 1.0-1.2 on the shipped net (``emojisketch evaluate stream`` and
  ``fewshot``; 1.2 before it had pooled features, measured against 1.0-1.3): smaller keeps
  more base emoji, larger lets a newly taught emoji win more often.
* neural head: ``weight = net.feature_head_weights()`` (scale * unit prototypes, 0 for the
  pooled part), ``bias = 0``, which gives exactly the base net's probabilities until the first
  update.

The net's weights are numpy data (:class:`~emojisketch.net_weights.NetWeights`): loading a
model and predicting with it import no torch where the compiled kernels are built (torch takes
seconds to import); :attr:`UpdatableModel.net`, the torch net, is built on first use.

The model also describes how it can be updated (:meth:`UpdatableModel.update_description`),
as a Core ML model's update description does; :func:`check_parameters` validates overrides.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import checkpoint, ink, native
from .atomic import atomic_write_bytes
from .classifiers import KNNClassifier, NNHeadClassifier
from .errors import EmojisketchError, ModelFileError
from .net_weights import NetConfig, NetWeights

if TYPE_CHECKING:
    from .net import DrawingNet

FORMAT = "emojisketch.model/1"
KINDS = ("knn", "nn")
DEFAULT_KIND = "knn"
DEFAULT_PROTOTYPE_RADIUS = 1.15


class ParameterError(EmojisketchError, ValueError):
    """An update parameter that the model does not have, or a value outside its range."""


@dataclass(frozen=True)
class Example:
    """One taught drawing. ``image`` (28x28) may stand in for ``drawing`` (bitmap data)."""

    drawing: ink.Drawing | None
    label: str
    id: int | None = None
    created: float | None = None
    image: np.ndarray | None = None

    def to_image(self) -> np.ndarray:
        if self.image is not None:
            return np.asarray(self.image, dtype=np.float32).reshape(ink.SIDE, ink.SIDE)
        if self.drawing is None:
            raise ValueError("an example needs a drawing or an image")
        return ink.to_image(self.drawing)


# -- update parameters -------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    default: object
    type: str  # "int", "float" or "choice"
    min: float | None = None
    max: float | None = None
    allowed: tuple | None = None
    help: str = ""

    def check(self, name: str, value: object) -> object:
        if self.type == "choice":
            if value not in self.allowed:
                allowed = ", ".join(map(str, self.allowed))
                raise ParameterError(f"{name} must be one of {allowed}, not {value!r}")
            return value
        try:
            v = int(value) if self.type == "int" else float(value)
            if self.type == "int" and v != float(value):
                raise ValueError
        except (TypeError, ValueError):
            raise ParameterError(f"{name} must be a whole number" if self.type == "int"
                                 else f"{name} must be a number") from None
        if not (self.min <= v <= self.max):
            raise ParameterError(f"{name} must be between {self.min} and {self.max}, not {v}")
        return v


PARAMETERS: dict[str, dict[str, Param]] = {
    "knn": {
        "k": Param(3, "int", 1, 25, help="neighbours that vote (Core ML numberOfNeighbors)"),
        "augment": Param(0, "int", 0, 8, help="jittered copies of each drawing also stored"),
        "mirror": Param(1, "int", 0, 1, help="1: store each drawing's embedding averaged with "
                        "its mirror image's (a doodle means the same either way); 0: as drawn"),
        "entries": Param("class_means", "choice", allowed=("class_means", "examples"),
                         help="your drawings as one averaged entry per emoji, or each one"),
    },
    "nn": {
        "epochs": Param(10, "int", 1, 100, help="passes over the training examples"),
        "learning_rate": Param(0.01, "float", 1e-5, 1.0, help="optimizer step size"),
        "mini_batch_size": Param(16, "int", 1, 256, help="examples per optimizer step"),
        "optimizer": Param("adam", "choice", allowed=("sgd", "adam"), help="SGD (with momentum) or Adam"),
        "momentum": Param(0.9, "float", 0.0, 0.99, help="SGD momentum (ignored by Adam)"),
        "replay": Param(32, "int", 0, 1000,
                        help="base-emoji prototypes mixed into each epoch, against forgetting"),
        "augment": Param(2, "int", 0, 8, help="jittered copies of each drawing trained on"),
    },
}


def check_parameters(kind: str, values: dict | None) -> dict:
    """``values`` validated against ``kind``'s parameters, with the defaults filled in."""
    specs = PARAMETERS[kind]
    out = {name: p.default for name, p in specs.items()}
    for name, value in (values or {}).items():
        if name not in specs:
            raise ParameterError(f"a {kind} model has no update parameter {name!r} "
                                 f"(it has {', '.join(specs)})")
        out[name] = specs[name].check(name, value)
    return out


def describe_parameters(kind: str, values: dict | None = None) -> dict:
    """name -> {default, type, min, max or allowed, help}, defaults from ``values``."""
    out = {}
    for name, p in PARAMETERS[kind].items():
        d = {k: v for k, v in asdict(p).items() if v is not None}
        if values is not None and name in values:
            d["default"] = values[name]
        if "allowed" in d:
            d["allowed"] = list(d["allowed"])
        out[name] = d
    return out


# -- the frozen embedding, with batch norm folded into the convolutions for speed ---------

NATIVE_MAX_BATCH = 64  # images; larger batches go through torch


class _Embedder:
    """``net.features`` for inference: the same numbers (to ~1e-6), batch norm folded into the
    convolutions. With the compiled kernels built, small batches (the app's one drawing) run
    there, about 3x faster than torch, and torch is not imported; larger batches, another
    device or another precision go through torch (channels-last tensors, built on first use)."""

    def __init__(self, weights: NetWeights, device: str = "cpu", precision: str = "float32",
                 winograd: bool = True):
        self.weights, self.device, self.precision = weights, device, precision
        self.pooled = weights.config.pooled
        self.kernel = None  # the compiled twin (emojisketch/native.py), for small batches
        lib = native.library() if (device, precision) == ("cpu", "float32") else None
        if lib is not None:
            folded = self.folded()
            if native.NetKernel.supports(folded):
                proj_w, proj_b = weights.projection()
                self.kernel = native.NetKernel(lib, folded, proj_w, proj_b, self.pooled,
                                               ink.SIDE, winograd)

    def folded(self) -> list[tuple[np.ndarray, np.ndarray, bool]]:
        """(weight (cout, cin, k, k), bias, pool) of each convolution, batch norm folded in."""
        return self.weights.derived("folded", self.weights.folded)

    @property
    def uses_kernel(self) -> bool:
        """Whether a small batch runs in the compiled kernel now (not switched off)."""
        return self.kernel is not None and native.available()

    def __call__(self, images: np.ndarray) -> np.ndarray:
        # Past a few dozen images torch's batched convolutions catch up, and with more than
        # one thread overtake the kernel, which runs one image at a time on one core.
        if len(images) <= NATIVE_MAX_BATCH and self.uses_kernel:
            return self.kernel(np.asarray(images, dtype=np.float32).reshape(-1, ink.SIDE, ink.SIDE))
        return self._torch(images)

    def _torch_layers(self):
        import torch

        dtype = getattr(torch, self.precision)

        def build():
            def put(a):
                return torch.from_numpy(np.array(a)).to(self.device, dtype)

            layers = [(put(w).contiguous(memory_format=torch.channels_last),  # ~20% faster on CPU
                       put(b), pool, w.shape[2] // 2) for w, b, pool in self.folded()]
            proj_w, proj_b = self.weights.projection()
            return layers, put(proj_w), put(proj_b)

        return self.weights.derived(("torch layers", self.device, self.precision), build)

    def _torch(self, images: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        from .net import join_features

        layers, proj_w, proj_b = self._torch_layers()
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
            x = x.reshape(-1, 1, ink.SIDE, ink.SIDE).to(self.device, proj_w.dtype)
            x = x.contiguous(memory_format=torch.channels_last)
            for w, b, pool, padding in layers:
                x = torch.relu_(F.conv2d(x, w, b, padding=padding))
                if pool:
                    x = F.max_pool2d(x, 2)
            pooled = x.mean(dim=(2, 3))
            x = F.linear(pooled, proj_w, proj_b)
            # Normalise in float32 whatever the precision: the classifiers compare unit vectors.
            x = join_features(F.normalize(x.float(), dim=1), pooled.float() if self.pooled else None)
            return x.cpu().numpy()


PRECISIONS = ("float32", "float16", "bfloat16")  # torch dtypes, by name


# -- the model ---------------------------------------------------------------------------

class UpdatableModel:
    """A frozen net plus a classifier; ``predict`` maps a drawing to ranked emoji."""

    def __init__(self, weights: NetWeights, classifier: KNNClassifier | NNHeadClassifier,
                 meta: dict | None = None, parameters: dict | None = None, _embedder=None):
        self.weights = weights  # the frozen net, as data
        self.classifier = classifier
        self.prototypes = unit_prototypes(weights)  # (n_base, D): the base emoji as features
        self.kind = classifier.kind
        self.parameters = check_parameters(self.kind, parameters)  # this model's update defaults
        if self.kind == "knn":
            self.parameters["k"] = classifier.k
            self.parameters["entries"] = classifier.entries
        self.meta = dict(meta or {})
        self.meta.update(kind=self.kind, n_examples=int(self.meta.get("n_examples", 0)))
        self._embedder = _embedder or _Embedder(weights)

    @property
    def net(self) -> "DrawingNet":
        """The frozen net in torch (eval mode, no gradients), built on first use: this imports
        torch. Shared by every model derived from this one: read it, never train it."""
        return self.weights.derived("torch net", lambda: checkpoint.net_from_tensors(
            self.weights.config, self.weights.tensors).requires_grad_(False))

    def __repr__(self) -> str:
        return (f"UpdatableModel(kind={self.kind!r}, labels={len(self.labels)}, "
                f"n_examples={self.meta['n_examples']})")

    @property
    def labels(self) -> list[str]:
        return self.classifier.classes

    @property
    def base_labels(self) -> list[str]:
        return list(self.weights.config.labels)

    def derive(self, classifier, meta_updates: dict | None = None,
               parameters: dict | None = None) -> "UpdatableModel":
        """A new model: the same frozen net with another classifier of the same kind (or of
        another kind, with ``parameters`` for it)."""
        params = self.parameters if parameters is None else parameters
        return UpdatableModel(self.weights, classifier, dict(self.meta, **(meta_updates or {})),
                              params, self._embedder)

    def with_inference(self, device: str = "cpu", precision: str = "float32") -> "UpdatableModel":
        """The same model with its embedding run on ``device`` ("cpu" or "cuda") at
        ``precision`` ("float32", "float16", "bfloat16"), as Core ML's MLModelConfiguration
        picks compute units and lower-precision accumulation. Predictions still come back as
        float32 numpy; updates derived from it, and saving, use the float32 weights."""
        if precision not in PRECISIONS:
            raise EmojisketchError(f"unknown precision {precision!r}: one of {', '.join(PRECISIONS)}")
        if device not in ("cpu", "cuda"):
            raise EmojisketchError(f"unknown compute device {device!r}: 'cpu' or 'cuda'")
        if device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise EmojisketchError("CUDA was asked for, but torch sees no CUDA device here")
        embedder = _Embedder(self.weights, device, precision)
        return UpdatableModel(self.weights, self.classifier, self.meta, self.parameters, embedder)

    @property
    def native(self) -> bool:
        """Whether embedding a drawing runs in the compiled kernels (``emojisketch/native.py``)."""
        return self._embedder.uses_kernel

    # -- prediction ----------------------------------------------------------------------
    def embed(self, images: np.ndarray) -> np.ndarray:
        """(N, 28, 28) images -> (N, D) float32 unit vectors: the net's features (its
        embedding, and for a ``pooled`` net the pooled features beside it)."""
        images = np.asarray(images, dtype=np.float32).reshape(-1, ink.SIDE, ink.SIDE)
        if len(images) == 0:
            return np.zeros((0, self.weights.feature_dim), np.float32)
        return np.concatenate([self._embedder(images[i : i + 512]) for i in range(0, len(images), 512)])

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """(N, len(labels)) probabilities, rows summing to 1."""
        return self.classifier.predict_proba(self.embed(images))

    def predict(self, drawing_or_image, top: int = 5) -> list[tuple[str, float]]:
        """Ranked (label, probability) pairs, best first. The k-NN fills the list past its
        nonzero labels with the next-nearest labels at probability 0."""
        if isinstance(drawing_or_image, ink.Drawing):
            image = ink.to_image(drawing_or_image)
        else:
            image = np.asarray(drawing_or_image, dtype=np.float32)
        order, p = self.classifier.rank(self.embed(image))
        return [(self.labels[j], float(p[0, j])) for j in order[0, :top]]

    # -- description ---------------------------------------------------------------------
    def update_description(self) -> dict:
        """What an update takes, as a Core ML model's update description says it."""
        return {
            "kind": self.kind,
            "kinds": list(KINDS),
            "is_updatable": True,
            "training_inputs": [
                {"name": "drawing", "type": "ink", "shape": [ink.SIDE, ink.SIDE],
                 "description": "strokes (emojisketch.ink.Drawing) or a 28x28 image in [0, 1]"},
                {"name": "label", "type": "string", "description": "the emoji the drawing means"},
            ],
            "parameters": describe_parameters(self.kind, self.parameters),
            # what with_kind(kind) would offer, for a settings screen
            "parameters_by_kind": {kind: describe_parameters(kind) for kind in KINDS},
            "outputs": {"label": "the most likely emoji",
                        "probabilities": f"one per label ({len(self.labels)} now)"},
            "prototype_radius": getattr(self.classifier, "prototype_radius", None),
        }

    # -- kinds ---------------------------------------------------------------------------
    def with_kind(self, kind: str) -> "UpdatableModel":
        """The same knowledge in the other classifier. The user's examples carry over (k-NN
        entries <-> the head's replay memory); a new label's head row starts at the scaled
        mean of its examples, and is trained by the next update."""
        if kind not in KINDS:
            raise ParameterError(f"the classifier kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if kind == self.kind:
            return self
        radius = getattr(self.classifier, "prototype_radius", DEFAULT_PROTOTYPE_RADIUS)
        base = from_weights(self.weights, kind, prototype_radius=radius)
        c = self.classifier
        if kind == "nn":
            emb, labels = c.examples, c.example_labels
            head = add_classes(base.classifier, emb, labels, self.weights.config.scale)
            new = head.with_params(head.weight, head.bias, head.classes, emb, labels)
        else:
            new = base.classifier.with_entries(c.replay, c.replay_labels)
        return self.derive(new, parameters=base.parameters)

    # -- files ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the whole model (net weights included) atomically to one safetensors file."""
        tensors = {"net." + k: v for k, v in self.weights.tensors.items()}
        c_tensors, c_config = self.classifier.to_state()
        tensors.update(c_tensors)
        meta = {"format": FORMAT, "net_config": json.dumps(self.weights.config.to_dict()),
                "classifier": json.dumps(c_config), "parameters": json.dumps(self.parameters),
                "meta": json.dumps(self.meta)}
        return atomic_write_bytes(path, checkpoint.pack(tensors, meta))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "UpdatableModel":
        tensors, meta = checkpoint.unpack(path, FORMAT)
        name = Path(path).name
        try:
            config = NetConfig.from_dict(json.loads(meta["net_config"]))
            c_config = json.loads(meta["classifier"])
            parameters = json.loads(meta["parameters"])
            model_meta = json.loads(meta["meta"])
            weights = NetWeights(config, {k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
            kind = c_config["kind"]
            classifier = {"knn": KNNClassifier, "nn": NNHeadClassifier}[kind].from_state(tensors, c_config)
            if classifier.dim != weights.feature_dim:
                raise ValueError(f"classifier width {classifier.dim} != features {weights.feature_dim}")
            return cls(weights, classifier, model_meta, parameters)
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
            raise ModelFileError(f"{name} is not a readable emojisketch model ({exc})") from None


# -- building ----------------------------------------------------------------------------

def add_classes(head: NNHeadClassifier, emb: np.ndarray, labels: list[str],
                scale: float) -> NNHeadClassifier:
    """The head grown by one row per label it does not know: ``scale * normalize(mean emb)``."""
    new = [c for c in dict.fromkeys(labels) if c not in head.classes]
    if not new:
        return head
    emb, labels_arr = np.asarray(emb, np.float32), np.asarray(labels)
    rows = []
    for c in new:
        m = emb[labels_arr == c].mean(axis=0)
        rows.append(scale * m / max(float(np.linalg.norm(m)), 1e-12))
    weight = np.concatenate([head.weight, np.asarray(rows, np.float32)])
    bias = np.concatenate([head.bias, np.zeros(len(new), np.float32)])
    return head.with_params(weight, bias, head.classes + new, head.replay, head.replay_labels)


def unit_prototypes(weights: NetWeights) -> np.ndarray:
    """(n_classes, D) read-only: the base emoji as unit vectors in the features' space."""
    a = weights.prototype_features()
    a.setflags(write=False)
    return a


def from_net(net: "DrawingNet", kind: str = DEFAULT_KIND, base_extra: dict | None = None,
             prototype_radius: float = DEFAULT_PROTOTYPE_RADIUS, **params) -> UpdatableModel:
    """A model that knows a torch net's base emoji (its weights copied) and no user examples:
    :func:`from_weights`."""
    return from_weights(NetWeights.from_net(net), kind, base_extra, prototype_radius, **params)


def from_weights(weights: NetWeights, kind: str = DEFAULT_KIND, base_extra: dict | None = None,
                 prototype_radius: float = DEFAULT_PROTOTYPE_RADIUS, **params) -> UpdatableModel:
    """A model that knows the net's base emoji and no user examples.

    The k-NN stores the unit prototypes at ``prototype_radius``; the head starts as the net's
    cosine head. ``params`` are update defaults (``k`` for the k-NN; epochs, learning_rate...
    for the head).
    """
    if kind not in KINDS:
        raise ParameterError(f"the classifier kind must be one of {', '.join(KINDS)}, not {kind!r}")
    params = check_parameters(kind, params)
    cfg = weights.config
    labels = list(cfg.labels) or [str(i) for i in range(cfg.n_classes)]
    if kind == "knn":
        classifier = KNNClassifier(prototype_radius * unit_prototypes(weights), labels, params["k"],
                                   n_base=len(labels), prototype_radius=prototype_radius,
                                   entries=params["entries"])
    else:
        classifier = NNHeadClassifier(weights.feature_head_weights(),
                                      np.zeros(len(labels), np.float32), labels, len(labels))
    sha = checkpoint.tensors_sha256(weights.tensors)
    meta = {"version": 1, "n_examples": 0, "updates": 0, "base_sha256": sha, "base": base_extra or {}}
    return UpdatableModel(weights, classifier, meta, params)


def load_model(path: str | os.PathLike | None = None, kind: str | None = None,
               prototype_radius: float | None = None) -> UpdatableModel:
    """A model from a file: a saved UpdatableModel, or a base net (``None``: the shipped
    ``models/base.safetensors``) wrapped with the ``kind`` of classifier (default k-NN), its
    base emoji at ``prototype_radius`` in a k-NN (default DEFAULT_PROTOTYPE_RADIUS; a saved
    model keeps its own)."""
    path = Path(checkpoint.BASE_MODEL if path is None else path)
    if not path.exists():
        hint = " (train it with `emojisketch train-base`)" if path == checkpoint.BASE_MODEL else ""
        raise ModelFileError(f"no model file at {path}{hint}")
    _, meta = checkpoint.unpack(path)
    if prototype_radius is not None and not 0 < prototype_radius < float("inf"):
        raise ParameterError(f"the base emoji's radius must be a positive number, not {prototype_radius}")
    if meta.get("format") == checkpoint.FORMAT:
        weights, extra = checkpoint.load_weights(path)
        radius = DEFAULT_PROTOTYPE_RADIUS if prototype_radius is None else prototype_radius
        return from_weights(weights, kind or DEFAULT_KIND, base_extra=extra, prototype_radius=radius)
    if prototype_radius is not None:
        raise ParameterError(f"{path.name} is a personalized model: its base emoji keep the "
                             "radius they were stored at")
    model = UpdatableModel.load(path)
    return model.with_kind(kind) if kind else model
