"""The one ink pipeline: drawings, Google's normalisation, and the 28x28 rasteriser.

Training, the canvas, evaluation and the export checks all turn strokes into pixels here,
so that the model always sees the same rendering. Two steps:

* :func:`normalize` reproduces Google's "simplified" Quick, Draw! data: align the drawing to
  the top-left at 0, scale uniformly so the longer side is 255, resample each stroke at
  1-pixel spacing, then simplify it with Ramer-Douglas-Peucker at epsilon 2.0.
* :func:`rasterize` reproduces Google's numpy bitmaps: a 256x256 frame, line width 16,
  padding 16, the drawing centred, round caps and joins, antialiased, at 28x28.
  Instead of painting at high resolution and downsampling, each pixel's coverage is computed
  from its distance to the nearest segment of each stroke (exact for a pixel crossed by a
  straight edge), and strokes are composited over each other as a painter would.

:func:`to_image` is the composition the app uses for fresh ink.

Both steps have a compiled twin (:mod:`emojisketch.native`) that does the same steps in the
same order and gives the same numbers to the bit, several times faster; :func:`normalize` and
:func:`rasterize` use it when it is built, and :func:`normalize_numpy` and
:func:`rasterize_numpy` are the reference it is tested against and the way without it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from . import native
from .errors import InkError

SIDE = 28  # output image side, pixels
FRAME = 256.0  # Google's vector frame
LINE_WIDTH = 16.0  # in frame units
PADDING = 16.0  # in frame units, each side
RDP_EPSILON = 2.0
MAX_COORDINATE = 1e9  # far past any screen; keeps spans and scales finite
_SCALE = SIDE / (FRAME + 2 * PADDING + LINE_WIDTH)  # frame units -> pixels
_MARGIN = PADDING + LINE_WIDTH / 2  # frame units left of the drawing
_RADIUS_PX = LINE_WIDTH / 2 * _SCALE


@dataclass(frozen=True)
class Stroke:
    """One pen-down-to-pen-up line: points (N, 2) as x, y; optional times (ms) and pressures."""

    points: np.ndarray
    t: np.ndarray | None = None
    pressure: np.ndarray | None = None

    def __post_init__(self) -> None:
        try:
            pts = np.asarray(self.points, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InkError(f"stroke points are not numbers: {exc}") from None
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise InkError(f"stroke points must be an (N, 2) array, got shape {pts.shape}")
        if len(pts) == 0:
            raise InkError("a stroke has no points")
        if not np.isfinite(pts).all():
            raise InkError("a stroke has NaN or infinite coordinates")
        if np.abs(pts).max() > MAX_COORDINATE:
            raise InkError(f"a stroke has coordinates beyond +/-{MAX_COORDINATE:g}")
        object.__setattr__(self, "points", pts)
        for name in ("t", "pressure"):
            extra = getattr(self, name)
            if extra is None:
                continue
            try:
                arr = np.asarray(extra, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError) as exc:
                raise InkError(f"stroke {name} values are not numbers: {exc}") from None
            if len(arr) != len(pts):
                raise InkError(f"stroke has {len(pts)} points but {len(arr)} {name} values")
            object.__setattr__(self, name, arr)

    def __len__(self) -> int:
        return len(self.points)


@dataclass(frozen=True)
class Drawing:
    """A whole drawing: one or more strokes, in any coordinate system (y pointing down)."""

    strokes: tuple[Stroke, ...]

    def __post_init__(self) -> None:
        strokes = tuple(self.strokes)
        if not strokes:
            raise InkError("the drawing is empty: draw something first")
        if not all(isinstance(s, Stroke) for s in strokes):
            raise InkError("a drawing is made of Stroke objects")
        object.__setattr__(self, "strokes", strokes)

    @classmethod
    def from_google(cls, strokes: object, *, y_up: bool = False) -> "Drawing":
        """Build from Google's ndjson layout: ``[[[x...], [y...]] or [[x...], [y...], [t...]], ...]``."""
        if not isinstance(strokes, (list, tuple)):
            raise InkError("a drawing must be a list of strokes")
        out = []
        for i, stroke in enumerate(strokes):
            if not isinstance(stroke, (list, tuple)) or len(stroke) not in (2, 3, 4):
                raise InkError(f"stroke {i} must be [[x...], [y...]] with optional [t...]")
            try:
                xs = np.asarray(stroke[0], dtype=np.float64)
                ys = np.asarray(stroke[1], dtype=np.float64)
            except (TypeError, ValueError):
                raise InkError(f"stroke {i} has coordinates that are not numbers") from None
            if xs.ndim != 1 or xs.shape != ys.shape:
                raise InkError(f"stroke {i} has {xs.size} x values but {ys.size} y values")
            if y_up:
                ys = -ys
            t = stroke[2] if len(stroke) > 2 else None
            p = stroke[3] if len(stroke) > 3 else None
            out.append(Stroke(np.stack([xs, ys], axis=1), t, p))
        return cls(tuple(out))

    @classmethod
    def from_points(cls, strokes: Iterable[Sequence[Sequence[float]]]) -> "Drawing":
        """Build from ``[[(x, y), ...], ...]``, the shape a canvas collects."""
        return cls(tuple(Stroke(np.asarray(s, dtype=np.float64).reshape(-1, 2)) for s in strokes))

    def to_google(self) -> list:
        """Google's ndjson layout, with times where every stroke has them."""
        with_t = all(s.t is not None for s in self.strokes)
        out = []
        for s in self.strokes:
            item = [s.points[:, 0].tolist(), s.points[:, 1].tolist()]
            if with_t:
                item.append(s.t.tolist())
            out.append(item)
        return out

    @property
    def n_points(self) -> int:
        return sum(len(s) for s in self.strokes)


def _align_and_scale(drawing: Drawing) -> list[np.ndarray]:
    """Strokes moved to the top-left at 0 and scaled so the longer side is 255."""
    pts = [s.points for s in drawing.strokes]
    allp = np.concatenate(pts)
    lo = allp.min(axis=0)
    span = float((allp.max(axis=0) - lo).max())
    # A dot (or a set of dots at one place) has no size: keep it at the origin, unscaled.
    scale = 255.0 / span if span > 0 else 1.0
    return [(p - lo) * scale for p in pts]


def _resample(points: np.ndarray, spacing: float = 1.0, *, corners: bool = False) -> np.ndarray:
    """Points along the polyline every ``spacing`` units of arc length, ends kept.

    With ``corners``, only those of them that Ramer-Douglas-Peucker could keep: along one
    straight piece of the polyline a point's distance to any chord is affine in arc length (to
    a point, convex), so the farthest point of a piece is its first or last resampled point.
    RDP on these keeps what it keeps from all of them, at a tenth of the points, but for which
    of several equally far points it keeps (about 1% of raw drawings differ there, by a
    fraction of a grey level on average: the earlier RDP broke such ties by rounding noise).
    """
    if len(points) < 2:
        return points
    seg = np.hypot(*np.diff(points, axis=0).T)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    total = arc[-1]
    if total == 0:
        return points[:1]
    n = int(np.floor(total / spacing))
    if corners:
        corner = np.zeros(n + 1, dtype=bool)
        corner[[0, n]] = True
        corner[np.minimum(np.ceil(arc[:-1] / spacing).astype(np.int64), n)] = True
        corner[np.floor(arc[1:] / spacing).astype(np.int64)] = True
        at = np.flatnonzero(corner) * spacing
    else:
        at = np.arange(n + 1) * spacing
    if total - at[-1] > 1e-9:
        at = np.append(at, total)
    x = np.interp(at, arc, points[:, 0])
    y = np.interp(at, arc, points[:, 1])
    return np.stack([x, y], axis=1)


def rdp(points: np.ndarray, epsilon: float = RDP_EPSILON) -> np.ndarray:
    """Ramer-Douglas-Peucker simplification of a polyline (iterative, keeps both ends).

    Plain Python floats: :func:`normalize` gives it a stroke's corner points only (tens, see
    :func:`_resample`), where numpy's per-call cost would be most of the time. Among equally
    far points the first is kept.
    """
    n = len(points)
    if n < 3:
        return points
    xs, ys = points[:, 0].tolist(), points[:, 1].tolist()
    keep = [False] * n
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        x0, y0 = xs[a], ys[a]
        dx, dy = xs[b] - x0, ys[b] - y0
        norm = math.hypot(dx, dy)
        farthest, mid = -1.0, a
        if norm == 0:  # a closed loop: distance to the shared end point
            for i in range(a + 1, b):
                d = math.hypot(xs[i] - x0, ys[i] - y0)
                if d > farthest:
                    farthest, mid = d, i
            limit = epsilon
        else:
            # |cross product| is distance * norm: compare with epsilon * norm, saving a
            # division per point.
            for i in range(a + 1, b):
                d = abs(dx * (ys[i] - y0) - dy * (xs[i] - x0))
                if d > farthest:
                    farthest, mid = d, i
            limit = epsilon * norm
        if farthest > limit:
            keep[mid] = True
            stack.append((a, mid))
            stack.append((mid, b))
    return points[np.array(keep)]


@functools.cache
def _native_normalizer(lib) -> native.Normalizer:
    return native.Normalizer(lib, RDP_EPSILON)


def normalize(drawing: Drawing) -> Drawing:
    """Google's simplification: align, scale to 255, resample at 1 px, RDP at epsilon 2.

    The compiled twin of :func:`normalize_numpy` does it when it is built (the same steps in
    the same order, the same points to the bit; ``tests/test_native.py``)."""
    lib = native.library()
    if lib is None:
        return normalize_numpy(drawing)
    strokes = _native_normalizer(lib)([s.points for s in drawing.strokes])
    return Drawing(tuple(Stroke(p) for p in strokes))


def normalize_numpy(drawing: Drawing) -> Drawing:
    """:func:`normalize` in numpy and Python: the reference, and the way without a compiler."""
    strokes = [rdp(_resample(p, corners=True)) for p in _align_and_scale(drawing)]
    return Drawing(tuple(Stroke(p) for p in strokes))


def _band_coverage_table(half_width: float) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of a unit square covered by a band of the given half-width whose centre line
    passes at distance d from the square's centre, averaged over the band's angle."""
    d = np.linspace(0.0, half_width + 1.0, 256)
    theta = np.linspace(0.0, np.pi / 4, 24)[:, None, None]
    u = (np.arange(32) + 0.5) / 32 - 0.5  # positions across the square, along one axis
    a, b = np.cos(theta), np.maximum(np.sin(theta), 1e-6)

    def below(s):  # P(a*u + b*v <= s) for u, v uniform in [-1/2, 1/2]
        return np.clip((s[None, :, None] - a * u) / b + 0.5, 0.0, 1.0).mean(axis=2)

    cover = (below(d + half_width) - below(d - half_width)).mean(axis=0)
    return d, cover


_SS = 2  # subsamples per pixel side: enough to see where two parts of one stroke meet
_N = SIDE * _SS
_TABLE_D, _TABLE_COVER = _band_coverage_table(_RADIUS_PX * _SS)
_REACH = float(_TABLE_D[np.nonzero(_TABLE_COVER > 0)[0][-1]])  # beyond this: no ink
_TABLE_STEPS = (len(_TABLE_D) - 1) / _TABLE_D[-1]  # table entries per subpixel of distance
_TABLE_SLOPE = np.diff(_TABLE_COVER)  # cover change from each entry to the next


def _fit_frame(drawing: Drawing) -> tuple[np.ndarray, list[int]]:
    """All points in Google's 0..255 frame, strokes end to end, and each stroke's length: left
    as they are if they lie in the frame (as Google's renderer takes them), else aligned to 0
    and scaled down to fit."""
    lengths = [len(s.points) for s in drawing.strokes]
    allp = np.concatenate([s.points for s in drawing.strokes])
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    if lo.min() >= 0 and hi.max() <= 255:
        return allp, lengths
    span = float((hi - lo).max())
    scale = 255.0 / span if span > 255.0 else 1.0
    return (allp - lo) * scale, lengths


@functools.cache
def _native_rasterizer(lib) -> native.Rasterizer:
    return native.Rasterizer(
        lib, frame=FRAME, margin=_MARGIN, scale_ss=_SCALE * _SS, reach=_REACH,
        limit2=float(_TABLE_D[-1] ** 2), steps=_TABLE_STEPS, cover=_TABLE_COVER,
        slope=_TABLE_SLOPE, side=SIDE, ss=_SS)


def rasterize(drawing: Drawing) -> np.ndarray:
    """A (28, 28) float32 image in [0, 1], white strokes on black, as Google renders them.

    Coordinates are taken in Google's 0..255 frame (as :func:`normalize` leaves them); a
    drawing larger than the frame is scaled into it. The compiled twin of
    :func:`rasterize_numpy` does it when it is built (the same steps in the same order, the
    same pixels to the bit; ``tests/test_native.py`` holds the two together).
    """
    lib = native.library()
    if lib is None:
        return rasterize_numpy(drawing)
    return _native_rasterizer(lib)([s.points for s in drawing.strokes])


def rasterize_numpy(drawing: Drawing) -> np.ndarray:
    """:func:`rasterize` in numpy: the reference, and the way without a C compiler."""
    # Every step works on all strokes at once, on 1-d arrays: at a few thousand subpixels a
    # drawing, numpy's per-call overhead is most of the cost, so the calls are what counts.
    allp, lengths = _fit_frame(drawing)
    offset = (FRAME - allp.max(axis=0)) / 2 + _MARGIN  # centred, as Google does
    q = (allp + offset) * (_SCALE * _SS)  # frame units -> subpixels
    qx, qy = np.ascontiguousarray(q[:, 0]), np.ascontiguousarray(q[:, 1])
    # Segments join each point to the next of its stroke; a stroke's last point starts none,
    # except a one-point stroke (a dot): a zero-length segment, drawn by its round cap.
    ends = np.cumsum(lengths)
    to = np.arange(1, len(q) + 1)
    to[ends - 1] -= 1
    starts_segment = np.ones(len(q), dtype=bool)
    starts_segment[ends - 1] = np.asarray(lengths) == 1
    first = np.flatnonzero(starts_segment)
    last = to[first]
    ax, ay, dx, dy = qx[first], qy[first], qx[last] - qx[first], qy[last] - qy[first]
    sid = np.repeat(np.arange(len(lengths)), lengths)[first]
    # Only the subpixels near each segment: its bounding box grown by the line's reach.
    x0 = np.clip(np.floor(np.minimum(ax, ax + dx) - _REACH), 0, _N - 1).astype(np.int64)
    x1 = np.clip(np.ceil(np.maximum(ax, ax + dx) + _REACH), 0, _N - 1).astype(np.int64)
    y0 = np.clip(np.floor(np.minimum(ay, ay + dy) - _REACH), 0, _N - 1).astype(np.int64)
    y1 = np.clip(np.ceil(np.maximum(ay, ay + dy) + _REACH), 0, _N - 1).astype(np.int64)
    w = x1 - x0 + 1
    counts = w * (y1 - y0 + 1)
    seg = np.repeat(np.arange(len(first)), counts)
    local = np.arange(len(seg)) - np.repeat(np.cumsum(counts) - counts, counts)
    row, col = np.divmod(local, w[seg])
    px, py = col + x0[seg], row + y0[seg]
    # The nearest point of the segment to each subpixel centre: at t along it, clipped to it.
    rx, ry = px + (0.5 - ax[seg]), py + (0.5 - ay[seg])
    sdx, sdy = dx[seg], dy[seg]
    len2 = dx * dx + dy * dy
    t = (rx * sdx + ry * sdy) * (1.0 / np.where(len2 > 0, len2, 1.0))[seg]
    np.clip(t, 0.0, 1.0, out=t)
    rx -= t * sdx
    ry -= t * sdy
    dist2 = rx * rx + ry * ry
    # Within a stroke the ink is one shape: the nearest segment decides each subpixel.
    nearest = np.full(len(lengths) * _N * _N, np.inf)
    np.minimum.at(nearest, (sid[seg] * _N + py) * _N + px, dist2)
    near = np.flatnonzero(nearest < _TABLE_D[-1] ** 2)  # in stroke order, then subpixel order
    # The coverage table is uniform in distance: linear interpolation by index.
    at = np.sqrt(nearest[near]) * _TABLE_STEPS
    i = np.minimum(at.astype(np.int64), len(_TABLE_D) - 2)
    cover = _TABLE_COVER[i] + (at - i) * _TABLE_SLOPE[i]
    # Each stroke painted over the ones before it: ink = 1 - prod over strokes (1 - cover).
    clear = np.ones(_N * _N)
    np.multiply.at(clear, near % (_N * _N), 1.0 - cover)
    sub = clear.reshape(SIDE, _SS, SIDE, _SS)
    return (1.0 - (sub[:, 0, :, 0] + sub[:, 0, :, 1] + sub[:, 1, :, 0] + sub[:, 1, :, 1]) / 4.0
            ).astype(np.float32)


def to_image(drawing: Drawing) -> np.ndarray:
    """Fresh ink (any coordinates) to the model's 28x28 input: normalise, then rasterise."""
    return rasterize(normalize(drawing))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A [0, 1] float image as 0..255 bytes, rounded as Google's bitmaps are."""
    return np.clip(np.rint(np.asarray(image) * 255.0), 0, 255).astype(np.uint8)
