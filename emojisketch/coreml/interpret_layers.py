"""The neural-network layers of the reference interpreter (:mod:`.interpret`), in numpy.

Each takes a blob ``(N, C, H, W)`` (float64) and the layer's parameter message, and follows
NeuralNetwork.proto's definition: 'same' padding puts the odd pixel at the end
(BOTTOM_RIGHT_HEAVY) or the start; valid padding uses the given border amounts; pooling's
``includeLastPixel`` follows the formula in the proto; inner product stores its weights as
(C_out, C_in); L2 normalise divides by sqrt(sum of squares over C, H, W + epsilon); softmax
runs over the channels; unary applies its function to ``scale * x + shift`` (square root only);
concat joins along the channels. What is not implemented raises ExportError, never a guess.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ExportError
from . import specio


def unsupported(what: str) -> ExportError:
    return ExportError(f"the reference interpreter does not support {what}")


def _pad_amounts(size: int, k: int, s: int, mode) -> tuple[int, int]:
    """Core ML 'same' padding: just enough for ceil(size / stride) outputs."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    small = total // 2
    # BOTTOM_RIGHT_HEAVY (0) puts the odd pixel at the end, TOP_LEFT_HEAVY (1) at the start
    return (small, total - small) if mode == 0 else (total - small, small)


def _spatial_padding(params, kh: int, kw: int, h: int, w: int, stride) -> tuple:
    kind = params.WhichOneof("ConvolutionPaddingType" if hasattr(params, "outputChannels")
                             else "PoolingPaddingType")
    if kind == "same":
        mode = params.same.asymmetryMode
        return _pad_amounts(h, kh, stride[0], mode) + _pad_amounts(w, kw, stride[1], mode)
    if kind == "valid":
        amounts = list(params.valid.paddingAmounts.borderAmounts)
        if not amounts:
            return (0, 0, 0, 0)
        return (amounts[0].startEdgeSize, amounts[0].endEdgeSize,
                amounts[1].startEdgeSize, amounts[1].endEdgeSize)
    raise unsupported(f"{kind} padding")


def _convolution(x: np.ndarray, p) -> np.ndarray:
    if p.isDeconvolution:
        raise unsupported("deconvolution")
    kh, kw = (list(p.kernelSize) + [3, 3])[:2] if len(p.kernelSize) else (3, 3)
    stride = list(p.stride) or [1, 1]
    dil = list(p.dilationFactor) or [1, 1]
    groups = p.nGroups or 1
    c_out, c_k = p.outputChannels, p.kernelChannels
    n, c, h, w = x.shape
    if c != c_k * groups:
        raise ExportError(f"convolution expects {c_k * groups} input channels, got {c}")
    ekh, ekw = (kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1
    top, bottom, left, right = _spatial_padding(p, ekh, ekw, h, w, stride)
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    win = sliding_window_view(xp, (ekh, ekw), axis=(2, 3))[..., ::dil[0], ::dil[1]]
    win = win[:, :, ::stride[0], ::stride[1]]  # (N, C, Ho, Wo, kh, kw)
    weights = specio.floats(p.weights).astype(np.float64).reshape(c_out, c_k, kh, kw)
    outs = []
    per_group = c_out // groups
    for g in range(groups):
        wg = win[:, g * c_k:(g + 1) * c_k]
        kg = weights[g * per_group:(g + 1) * per_group]
        outs.append(np.einsum("nchwij,ocij->nohw", wg, kg, optimize=True))
    y = np.concatenate(outs, axis=1)
    if p.hasBias:
        y = y + specio.floats(p.bias).astype(np.float64)[None, :, None, None]
    return y


def _batchnorm(x: np.ndarray, p) -> np.ndarray:
    if p.computeMeanVar or p.instanceNormalization:
        raise unsupported("batch norm that computes its own mean and variance")
    c = lambda f: specio.floats(f).astype(np.float64)[None, :, None, None]  # noqa: E731
    return (x - c(p.mean)) / np.sqrt(c(p.variance) + p.epsilon) * c(p.gamma) + c(p.beta)


def _activation(x: np.ndarray, p) -> np.ndarray:
    kind = p.WhichOneof("NonlinearityType")
    if kind == "ReLU":
        return np.maximum(x, 0.0)
    if kind == "linear":
        return p.linear.alpha * x + p.linear.beta
    if kind == "leakyReLU":
        return np.where(x >= 0, x, p.leakyReLU.alpha * x)
    if kind == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if kind == "tanh":
        return np.tanh(x)
    raise unsupported(f"the {kind} activation")


def _pooling(x: np.ndarray, p) -> np.ndarray:
    if p.type not in (0, 1):
        raise unsupported("L2 pooling")
    if p.globalPooling:
        reduce = np.max if p.type == 0 else np.mean
        return reduce(x, axis=(2, 3), keepdims=True)
    kh, kw = list(p.kernelSize) or [3, 3]
    stride = list(p.stride) or [1, 1]
    n, c, h, w = x.shape
    if p.WhichOneof("PoolingPaddingType") == "includeLastPixel":
        ph, pw = (list(p.includeLastPixel.paddingAmounts) + [0, 0])[:2]
        ho = -(-(h + 2 * ph - kh) // stride[0]) + 1
        wo = -(-(w + 2 * pw - kw) // stride[1]) + 1
        if (ph or pw) and (ho - 1) * stride[0] >= h + ph:
            ho -= 1
        if (ph or pw) and (wo - 1) * stride[1] >= w + pw:
            wo -= 1
        pads = (ph, max((ho - 1) * stride[0] + kh - h - ph, 0),
                pw, max((wo - 1) * stride[1] + kw - w - pw, 0))
    else:
        pads = _spatial_padding(p, kh, kw, h, w, stride)
    fill = -np.inf if p.type == 0 else 0.0
    widths = ((0, 0), (0, 0), pads[:2], pads[2:])
    xp = np.pad(x, widths, constant_values=fill)
    win = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride[0], ::stride[1]]
    if p.type == 0:
        return win.max(axis=(4, 5))
    if not p.avgPoolExcludePadding:
        return win.mean(axis=(4, 5))
    ones = np.pad(np.ones((1, 1, h, w)), widths)
    count = sliding_window_view(ones, (kh, kw), axis=(2, 3))[:, :, ::stride[0], ::stride[1]]
    return win.sum(axis=(4, 5)) / count.sum(axis=(4, 5))


def _flatten(x: np.ndarray, p) -> np.ndarray:
    if p.mode == 1:  # CHANNEL_LAST
        x = x.transpose(0, 2, 3, 1)
    return x.reshape(x.shape[0], -1, 1, 1)


def _reshape(x: np.ndarray, p) -> np.ndarray:
    target = list(p.targetShape)[-3:]
    if len(target) != 3 or int(np.prod(target)) != int(np.prod(x.shape[1:])):
        raise unsupported(f"a reshape to {list(p.targetShape)} of a {x.shape[1:]} blob")
    if p.mode == 1:  # CHANNEL_LAST
        y = x.transpose(0, 2, 3, 1).reshape(x.shape[0], target[1], target[2], target[0])
        return y.transpose(0, 3, 1, 2)
    return x.reshape(x.shape[0], *target)


def _inner_product(x: np.ndarray, p) -> np.ndarray:
    flat = x.reshape(x.shape[0], -1)
    if flat.shape[1] != p.inputChannels:
        raise ExportError(f"inner product expects {p.inputChannels} inputs, got {flat.shape[1]}")
    w = specio.floats(p.weights).astype(np.float64).reshape(p.outputChannels, p.inputChannels)
    y = flat @ w.T
    if p.hasBias:
        y = y + specio.floats(p.bias).astype(np.float64)
    return y[:, :, None, None]


def _l2normalize(x: np.ndarray, p) -> np.ndarray:
    return x / np.sqrt((x * x).sum(axis=(1, 2, 3), keepdims=True) + p.epsilon)


def _unary(x: np.ndarray, p) -> np.ndarray:
    if p.type != 0:  # 0: SQRT, the only one we export
        raise unsupported(f"the unary function of type {p.type}")
    return np.sqrt(p.scale * x + p.shift)


def concat(xs: list[np.ndarray], p) -> np.ndarray:
    """Several blobs joined along the channels (the one layer here with several inputs)."""
    if p.sequenceConcat:
        raise unsupported("concatenation along the sequence axis")
    if len({x.shape[2:] for x in xs}) != 1:
        raise ExportError(f"concat of blobs of different heights and widths: {[x.shape for x in xs]}")
    return np.concatenate(xs, axis=1)


def _softmax(x: np.ndarray, p) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


LAYERS = {
    "convolution": _convolution, "batchnorm": _batchnorm, "activation": _activation,
    "pooling": _pooling, "flatten": _flatten, "reshape": _reshape,
    "innerProduct": _inner_product, "l2normalize": _l2normalize, "softmax": _softmax,
    "unary": _unary,
}
