"""Network checkpoints as data: safetensors weights plus the config that rebuilds the net.

A file holds the tensors of a :class:`~emojisketch.net.DrawingNet` and, in the safetensors
header's metadata, ``format``, ``config`` (JSON of :class:`~emojisketch.net.NetConfig`),
``sha256`` (of the tensors, so a damaged file is caught), and free ``extra`` JSON (credit,
training figures). Nothing is unpickled, ever.

Reading a file needs numpy only (:func:`load_weights`, :func:`unpack`); torch is imported
where a torch net is built or taken apart.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from .atomic import atomic_write_bytes
from .errors import ModelFileError
from .net_weights import NetConfig, NetWeights

FORMAT = "emojisketch.net/1"
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
BASE_MODEL = MODELS_DIR / "base.safetensors"


def tensors_sha256(tensors: dict[str, np.ndarray]) -> str:
    """A hash of the tensors' names, shapes, dtypes and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        h.update(f"{name}:{arr.dtype.str}:{arr.shape};".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def pack(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """safetensors bytes with the tensors' hash added to the metadata."""
    meta = dict(metadata, sha256=tensors_sha256(tensors))
    return st_save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=meta)


def unpack(path: str | os.PathLike, expect_format: str | None = None) -> tuple[dict, dict]:
    """(tensors, metadata) of a file written by :func:`pack`, hash and format checked."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror or exc}") from None
    try:
        tensors = st_load(data)
        meta = _metadata(data)
    except (SafetensorError, ValueError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path.name} is not an emojisketch model file ({exc})") from None
    if expect_format is not None and meta.get("format") != expect_format:
        raise ModelFileError(
            f"{path.name} holds {meta.get('format', 'an unknown format')!r}, not {expect_format!r}"
        )
    if meta.get("sha256") != tensors_sha256(tensors):
        raise ModelFileError(f"{path.name} is damaged: its weights do not match their hash")
    return tensors, meta


def _metadata(data: bytes) -> dict[str, str]:
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    return dict(header.get("__metadata__", {}))


def net_tensors(net, prefix: str = "") -> dict[str, np.ndarray]:
    """The tensors of a torch net's state, as numpy."""
    return {prefix + k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}


def net_from_tensors(config: NetConfig, tensors: dict[str, np.ndarray], prefix: str = ""):
    """Rebuild a torch net in eval mode; a missing or misshapen tensor is a ModelFileError."""
    import torch

    from .net import DrawingNet

    net = DrawingNet(config)
    state = {k[len(prefix):]: torch.from_numpy(np.array(v)) for k, v in tensors.items()
             if k.startswith(prefix)}
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelFileError(f"the weights do not fit the network they describe: {exc}") from None
    return net.eval()


def save_net(net, path: str | os.PathLike, extra: dict | None = None) -> Path:
    """Write a net and its config atomically."""
    meta = {"format": FORMAT, "config": json.dumps(net.config.to_dict()),
            "extra": json.dumps(extra or {})}
    return atomic_write_bytes(path, pack(net_tensors(net), meta))


def load_net(path: str | os.PathLike = BASE_MODEL):
    """(torch net in eval mode, extra metadata) from a file written by :func:`save_net`."""
    weights, extra = load_weights(path)
    return net_from_tensors(weights.config, weights.tensors), extra


def load_weights(path: str | os.PathLike = BASE_MODEL) -> tuple[NetWeights, dict]:
    """(weights, extra metadata) from a file written by :func:`save_net`, without torch."""
    tensors, meta = unpack(path, FORMAT)
    try:
        config = NetConfig.from_dict(json.loads(meta["config"]))
        extra = json.loads(meta.get("extra", "{}"))
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{Path(path).name} has no readable network config ({exc})") from None
    return NetWeights(config, tensors), extra
