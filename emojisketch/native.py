"""The compiled kernels of ``emojisketch/_kernels.c``, called through ctypes.

The hot loops of a prediction live there: Google's simplification of fresh ink and
rasterising (step for step as :func:`emojisketch.ink.normalize` and
:func:`emojisketch.ink.rasterize` do it in numpy, and bit for bit the same result), and the
drawing net's inference (the same numbers as the torch embedder in :mod:`emojisketch.model`,
to about 1e-7, with fewer products: Winograd's minimal filtering). For one drawing on one core
they are about 5x, 7x and 3x faster than numpy and torch, because at that size the per-call
costs of numpy and torch outweigh the arithmetic.

The extension is built by ``pip install`` when a C compiler is there (``setup.py`` marks it
optional). Without it, or with ``EMOJISKETCH_NATIVE=0`` in the environment, :func:`library`
returns None and callers use the numpy and torch code, which give the same strokes, pictures
and embeddings. The same happens, with a warning, when the built library is older than the C
file beside it (an editable install after a ``git pull``): its functions may take other
arguments than this module passes, and calling them would crash. Scratch memory belongs to a call or to a thread, so the kernels are
safe to run from the UI thread and the update thread at once (ctypes lets go of the GIL during
a call).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.util
import os
import threading
import warnings
from pathlib import Path

import numpy as np

_P = ctypes.c_void_p
_D = ctypes.c_double
_I = ctypes.c_int
_L = ctypes.c_long


SOURCE = Path(__file__).with_name("_kernels.c")


def source_sha256(path: Path = SOURCE) -> str | None:
    """The checksum ``setup.py`` compiles into the library (None where the source is absent,
    as in an installed wheel)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def stale(lib: ctypes.CDLL, source: Path = SOURCE) -> bool:
    """Whether ``lib`` was built from another version of ``source`` than the one there."""
    lib.es_source_sha256.restype = ctypes.c_char_p
    want = source_sha256(source)
    return want is not None and lib.es_source_sha256().decode() != want


@functools.cache
def _load() -> ctypes.CDLL | None:
    spec = importlib.util.find_spec("emojisketch._kernels")
    if spec is None or not spec.origin:
        return None
    try:
        lib = ctypes.CDLL(spec.origin)
    except OSError:
        return None
    if stale(lib):
        warnings.warn(f"{spec.origin} was built from an older {SOURCE.name}: reinstall "
                      "(pip install -e .) to rebuild it; running the numpy and torch code "
                      "meanwhile, the same results, slower", RuntimeWarning, stacklevel=2)
        return None
    lib.es_rasterize.restype = _I
    lib.es_rasterize.argtypes = [_L, _P, _I, _P, _D, _D, _D, _D, _D, _D, _I, _P, _P, _I, _I, _P,
                                 _P, _P]
    lib.es_normalize.restype = _L
    lib.es_normalize.argtypes = [_L, _P, _I, _P, _D, _P, _P]
    lib.es_embed.restype = _I
    lib.es_embed.argtypes = [_I, _I, _P, _I, _P, _P, _P, _I, _P, _P, _I, _P, _L, _P, _L, _P]
    return lib


def _address(array: np.ndarray) -> int:
    # a few microseconds, as array.ctypes.data: the kernels' buffers keep theirs (_Buffers)
    return array.__array_interface__["data"][0]


def library() -> ctypes.CDLL | None:
    """The loaded kernels, or None when they are not built or ``EMOJISKETCH_NATIVE=0``."""
    if os.environ.get("EMOJISKETCH_NATIVE", "1") == "0":
        return None
    return _load()


def available() -> bool:
    return library() is not None


class Normalizer:
    """``es_normalize``: strokes -> Google's simplification of them (``ink.normalize``)."""

    def __init__(self, lib: ctypes.CDLL, epsilon: float):
        self._fn, self._epsilon = lib.es_normalize, float(epsilon)

    def __call__(self, strokes: list[np.ndarray]) -> list[np.ndarray]:
        """(n_i, 2) float64 point arrays -> the simplified strokes, as many."""
        lengths = np.array([len(p) for p in strokes], dtype=np.int64)
        points = np.concatenate(strokes)
        out = np.empty((2 * len(points) + 2 * len(strokes), 2))
        out_lengths = np.empty(len(strokes), np.int64)
        written = self._fn(len(points), _address(points), len(strokes), _address(lengths),
                           self._epsilon, _address(out), _address(out_lengths))
        if written < 0:
            raise MemoryError("the native simplification ran out of memory")
        return np.split(out[:written], np.cumsum(out_lengths)[:-1])


class Rasterizer:
    """``es_rasterize`` with ink.py's constants bound: (points, lengths) -> (side, side)."""

    def __init__(self, lib: ctypes.CDLL, *, frame: float, margin: float, scale_ss: float,
                 reach: float, limit2: float, steps: float, cover: np.ndarray,
                 slope: np.ndarray, side: int, ss: int):
        self._fn = lib.es_rasterize
        self._cover = np.ascontiguousarray(cover, dtype=np.float64)
        self._slope = np.ascontiguousarray(slope, dtype=np.float64)
        self._consts = (frame, margin, scale_ss, reach, limit2, steps, len(self._cover),
                        _address(self._cover), _address(self._slope), side, ss)
        self.side, self._n2 = side, (side * ss) ** 2
        self._per_thread = threading.local()

    def _buffers(self, n_points: int, n_strokes: int) -> "_Buffers":
        b = getattr(self._per_thread, "buffers", None)
        if b is None or len(b.points) < n_points or len(b.lengths) < n_strokes:
            b = self._per_thread.buffers = _Buffers(
                points=np.empty((max(n_points, 4096), 2)), lengths=np.empty(
                    max(n_strokes, 256), np.int64), out=np.empty((self.side, self.side), np.float32),
                scratch=np.empty(2 * self._n2))
        return b

    def __call__(self, strokes: list[np.ndarray]) -> np.ndarray:
        """strokes: (n_i, 2) float64 point arrays -> the (side, side) float32 image."""
        lengths = [len(p) for p in strokes]
        n = sum(lengths)
        b = self._buffers(n, len(lengths))
        np.concatenate(strokes, out=b.points[:n])
        b.lengths[: len(lengths)] = lengths
        status = self._fn(n, b.at["points"], len(lengths), b.at["lengths"], *self._consts,
                          b.at["scratch"], b.at["scratch"] + 8 * self._n2, b.at["out"])
        if status == -2:
            raise MemoryError("the native rasteriser ran out of memory")
        if status != 0:
            raise ValueError("the native rasteriser refused these points")
        return b.out.copy()


class _Buffers:
    """One thread's arrays for the kernels, with their addresses (taking an array's address
    costs a few microseconds each time, a tenth of a small call)."""

    def __init__(self, **arrays: np.ndarray):
        self.__dict__.update(arrays)
        self.at = {name: _address(a) for name, a in arrays.items()}


# Winograd's F(2x2, 3x3) weight transform (Lavin and Gray, 2015): U = G g G^T for every 3x3
# kernel g; the C side holds the matching B and A.
_G = np.array([[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]])


def winograd_weights(w: np.ndarray) -> np.ndarray:
    """(cout, cin, 3, 3) -> (16, cin, cout): G g G^T of each kernel, its 4x4 places first."""
    u = np.einsum("ik,ockl,jl->ijco", _G, w.astype(np.float64), _G)
    return np.ascontiguousarray(u.reshape(16, w.shape[1], w.shape[0]), dtype=np.float32)


class NetKernel:
    """``es_embed`` with one net's folded layers bound: (N, side, side) -> (N, D) features.

    ``layers``: (weight (cout, cin, k, k), bias (cout,), pool) per convolution, batch norm
    already folded in; ``proj_w`` (embed_dim, C), ``proj_b``; ``pooled``: the features carry
    the power-normalised pooled features beside the embedding (``DrawingNet.features``).
    With ``winograd`` the 3x3 convolutions whose inputs have a multiple of 8 channels (all but
    the first) use Winograd's F(2x2, 3x3), which computes each 2x2 block of outputs with 16
    products per channel pair instead of 36, for rounding differences of about 1e-7 in the
    features; without it they are direct loops (``benchmarks/embed.py --direct`` times both).
    """

    def __init__(self, lib: ctypes.CDLL, layers, proj_w: np.ndarray, proj_b: np.ndarray,
                 pooled: bool, side: int, winograd: bool = True):
        self._fn = lib.es_embed
        desc, self._weights, size, work, scratch = [], [], side, 0, 0
        for w, _, pool in layers:
            cout, cin, k = w.shape[0], w.shape[1], w.shape[2]
            wino = winograd and k == 3 and cin % 8 == 0
            self._weights.append(winograd_weights(w) if wino else np.ascontiguousarray(
                np.transpose(w, (2, 3, 1, 0)), dtype=np.float32))  # [ky][kx][cin][cout]
            desc.append([cin, cout, k, int(pool), 2 if wino else 0])  # 2: F(2x2, 3x3)
            work = max(work, (size + 2) ** 2 * max(cin, cout))  # the largest bordered map
            if wino:  # every 2x2 block of the map, transformed
                scratch = max(scratch, 16 * ((size + 1) // 2) ** 2 * (cin + cout))
            size = size // 2 if pool else size
        self._work, self._scratch = int(work), int(scratch)
        self._desc = np.array(desc, dtype=np.int32)
        self._biases = [np.ascontiguousarray(b, dtype=np.float32) for _, b, _ in layers]
        self._wptr = (_P * len(layers))(*[_address(w) for w in self._weights])
        self._bptr = (_P * len(layers))(*[_address(b) for b in self._biases])
        self._proj_w = np.ascontiguousarray(proj_w, dtype=np.float32)
        self._proj_b = np.ascontiguousarray(proj_b, dtype=np.float32)
        self.side, self.pooled = side, bool(pooled)
        self.embed_dim = len(self._proj_b)
        self.dim = self.embed_dim + (int(self._desc[-1, 1]) if pooled else 0)
        self._per_thread = threading.local()
        self._bound = (len(self._weights), _address(self._desc), self._wptr, self._bptr,
                       self.embed_dim, _address(self._proj_w), _address(self._proj_b),
                       int(self.pooled))

    @staticmethod
    def supports(layers) -> bool:
        """Whether the kernel handles these convolutions (k of 1 or 3, cout a multiple of 8)."""
        return bool(layers) and all(w.shape[2] in (1, 3) and w.shape[2] == w.shape[3]
                                    and w.shape[0] % 8 == 0 for w, _, _ in layers)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """(n, side, side) float32 images -> (n, dim) features."""
        n = len(images)
        b = getattr(self._per_thread, "buffers", None)
        if b is None or len(b.images) < n:
            b = self._per_thread.buffers = _Buffers(
                images=np.empty((max(n, 64), self.side, self.side), np.float32),
                out=np.empty((max(n, 64), self.dim), np.float32),
                work=np.empty(2 * self._work + self._scratch, np.float32))
        b.images[:n] = images
        work = b.at["work"]
        status = self._fn(n, self.side, b.at["images"], *self._bound, work, self._work,
                          work + 8 * self._work, self._scratch, b.at["out"])
        if status != 0:
            raise ValueError("the native embedder refused this net's layers")
        return b.out[:n].copy()
