"""The drawing net as data: its config, its tensors checked against it, and what prediction
needs from them, in numpy, without importing torch.

Importing torch takes seconds (most of the app's start-up). Predicting needs none of it when
the compiled kernels are built (:mod:`emojisketch.native`): the net's batch norm folded into
its convolutions, the projection, and the base emoji's prototypes. So a model file is read
into :class:`NetWeights`, and the torch :class:`~emojisketch.net.DrawingNet` is built from it
only when something needs one (an update that trains, an export, a batch too large for the
kernels, another device or precision: ``UpdatableModel.net``).

The shapes a config implies (:func:`expected_shapes`), and the folding and prototypes below,
are the net's own rules written again in numpy; ``tests/test_net_weights.py`` holds them
equal to :mod:`emojisketch.net` for several shapes of net.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field

import numpy as np

from .errors import ModelFileError

HALF_SQRT = 0.5**0.5  # each of two unit vectors side by side, scaled to one unit vector
BN_EPS = 1e-5  # torch.nn.BatchNorm2d's default, which the net uses


@dataclass
class NetConfig:
    channels: tuple[int, ...] = (24, 48, 96)  # output channels of each block (2 convs each)
    pool: tuple[bool, ...] = (True, True, False)  # 2x2 max pool after the block? 28 -> 14 -> 7
    expand: int = 0  # channels of a 1x1 conv + BN + ReLU before pooling (0: none)
    embed_dim: int = 128  # length of the unit embedding
    n_classes: int = 0  # base emoji the cosine head knows (0: embedding only)
    scale: float = 16.0  # logit = scale * cosine; also the exported head's weight scale
    labels: list[str] = field(default_factory=list)  # the base head's labels, in order
    pooled: bool = False  # features() carry the pooled features beside the embedding

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"], d["pool"] = list(self.channels), list(self.pool)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "NetConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for key in ("channels", "pool"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)

    @property
    def pooled_dim(self) -> int:
        """Channels of the last feature map (what is averaged into the pooled features)."""
        return self.expand or (self.channels[-1] if self.channels else 1)

    @property
    def feature_dim(self) -> int:
        """Length of the features the classifiers compare."""
        return self.embed_dim + (self.pooled_dim if self.pooled else 0)


def _conv_bn(prefix: str, bn: str, c_out: int, c_in: int, k: int) -> dict:
    shapes = {f"{prefix}.weight": (c_out, c_in, k, k)}
    for name in ("weight", "bias", "running_mean", "running_var"):
        shapes[f"{bn}.{name}"] = (c_out,)
    shapes[f"{bn}.num_batches_tracked"] = ()
    return shapes


def expected_shapes(config: NetConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in the state of a net built from ``config``."""
    shapes, c_in = {}, 1
    for i, c_out in enumerate(config.channels):
        shapes |= _conv_bn(f"blocks.{i}.conv1", f"blocks.{i}.bn1", c_out, c_in, 3)
        shapes |= _conv_bn(f"blocks.{i}.conv2", f"blocks.{i}.bn2", c_out, c_out, 3)
        c_in = c_out
    if config.expand:
        shapes |= _conv_bn("expand", "expand_bn", config.expand, c_in, 1)
    shapes["proj.weight"] = (config.embed_dim, config.pooled_dim)
    shapes["proj.bias"] = (config.embed_dim,)
    shapes["prototypes"] = (config.n_classes, config.embed_dim)
    if config.pooled:
        shapes["pooled_prototypes"] = (config.n_classes, config.pooled_dim)
    return shapes


def _fits(array, shape: tuple[int, ...]) -> bool:
    # safetensors files hold a 0-d counter as shape (1,): numpy's ascontiguousarray
    return tuple(np.shape(array)) == shape or (shape == () and np.size(array) == 1)


def normalize_rows(a: np.ndarray) -> np.ndarray:
    """Each row divided by its length (at least 1e-12, as torch's ``F.normalize``)."""
    a = np.asarray(a, np.float32)
    n = np.sqrt((a.astype(np.float64) ** 2).sum(axis=1, keepdims=True))
    return (a / np.maximum(n, 1e-12)).astype(np.float32)


class NetWeights:
    """A net's config and its tensors (numpy, read-only), checked to fit each other."""

    def __init__(self, config: NetConfig, tensors: dict[str, np.ndarray]):
        want = expected_shapes(config)
        missing = sorted(set(want) - set(tensors))
        extra = sorted(set(tensors) - set(want))
        wrong = sorted(k for k in set(want) & set(tensors) if not _fits(tensors[k], want[k]))
        if missing or extra or wrong:
            said = [f"{what}: {', '.join(names[:4])}" for what, names in
                    (("missing", missing), ("unexpected", extra), ("misshapen", wrong)) if names]
            raise ModelFileError("the weights do not fit the network they describe ("
                                 + "; ".join(said) + ")")
        self.config = config
        self.tensors = {}
        for k, v in tensors.items():
            a = np.array(v).reshape(want[k])  # the model's own copy, never written again
            a.setflags(write=False)
            self.tensors[k] = a
        self._lock = threading.RLock()
        self._derived: dict = {}

    @classmethod
    def from_net(cls, net) -> "NetWeights":
        """The weights of a torch :class:`~emojisketch.net.DrawingNet` (copied)."""
        state = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
        return cls(net.config, state)

    @property
    def feature_dim(self) -> int:
        return self.config.feature_dim

    def derived(self, name: str, build):
        """``build()``, made once for these weights (they never change) and kept: what is
        costly to derive from them, such as the torch net built from them."""
        with self._lock:
            if name not in self._derived:
                self._derived[name] = build()
            return self._derived[name]

    # -- what prediction needs ----------------------------------------------------------
    def folded(self) -> list[tuple[np.ndarray, np.ndarray, bool]]:
        """(weight (cout, cin, k, k), bias, pool) of each convolution, its batch norm folded
        in (worked in float64, given as float32: within a float32 rounding of torch's own)."""
        names = [(f"blocks.{i}.conv{j}", f"blocks.{i}.bn{j}", j == 2 and pool)
                 for i, pool in enumerate(self.config.pool[: len(self.config.channels)])
                 for j in (1, 2)]
        if self.config.expand:
            names.append(("expand", "expand_bn", False))
        out = []
        for conv, bn, pool in names:
            t = {k: self.tensors[k].astype(np.float64) for k in
                 (f"{conv}.weight", f"{bn}.weight", f"{bn}.bias", f"{bn}.running_mean",
                  f"{bn}.running_var")}
            s = t[f"{bn}.weight"] / np.sqrt(t[f"{bn}.running_var"] + BN_EPS)
            w = t[f"{conv}.weight"] * s[:, None, None, None]
            b = t[f"{bn}.bias"] - t[f"{bn}.running_mean"] * s
            out.append((np.ascontiguousarray(w, np.float32), b.astype(np.float32), bool(pool)))
        return out

    def projection(self) -> tuple[np.ndarray, np.ndarray]:
        """(weight (embed_dim, pooled_dim), bias): the pooled features to the embedding."""
        return self.tensors["proj.weight"], self.tensors["proj.bias"]

    def prototype_features(self) -> np.ndarray:
        """(n_classes, feature_dim): each base emoji as a unit vector in the features' space,
        as :meth:`emojisketch.net.DrawingNet.prototype_features` gives it."""
        protos = normalize_rows(self.tensors["prototypes"])
        if not self.config.pooled:
            return protos
        # a prototype not measured (zeros: a net read back from Core ML) keeps its unit length
        pooled = normalize_rows(self.tensors["pooled_prototypes"])
        return normalize_rows(np.concatenate([protos, pooled], 1))

    def feature_head_weights(self) -> np.ndarray:
        """(n_classes, feature_dim): the cosine head as a linear layer over the features
        (:meth:`emojisketch.net.DrawingNet.feature_head_weights`)."""
        w = np.float32(self.config.scale) * normalize_rows(self.tensors["prototypes"])
        if not self.config.pooled:
            return w
        zeros = np.zeros((len(w), self.config.pooled_dim), np.float32)
        return np.concatenate([w / np.float32(HALF_SQRT), zeros], 1)
