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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

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


def _resample(points: np.ndarray, spacing: float = 1.0) -> np.ndarray:
    """Points along the polyline every ``spacing`` units of arc length, ends kept."""
    if len(points) < 2:
        return points
    seg = np.hypot(*np.diff(points, axis=0).T)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    total = arc[-1]
    if total == 0:
        return points[:1]
    n = int(np.floor(total / spacing))
    at = np.arange(n + 1) * spacing
    if total - at[-1] > 1e-9:
        at = np.append(at, total)
    x = np.interp(at, arc, points[:, 0])
    y = np.interp(at, arc, points[:, 1])
    return np.stack([x, y], axis=1)


def rdp(points: np.ndarray, epsilon: float = RDP_EPSILON) -> np.ndarray:
    """Ramer-Douglas-Peucker simplification of a polyline (iterative, keeps both ends)."""
    n = len(points)
    if n < 3:
        return points
    xs, ys = np.ascontiguousarray(points[:, 0]), np.ascontiguousarray(points[:, 1])
    keep = np.zeros(n, dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        x0, y0 = xs[a], ys[a]
        dx, dy = xs[b] - x0, ys[b] - y0
        norm = math.hypot(dx, dy)
        if norm == 0:  # a closed loop: distance to the shared end point
            dist = np.hypot(xs[a + 1 : b] - x0, ys[a + 1 : b] - y0)
            limit = epsilon
        else:
            # |cross product| is distance * norm: compare with epsilon * norm, saving a
            # division per point (this loop is most of the canvas's prediction time).
            dist = np.abs(dx * (ys[a + 1 : b] - y0) - dy * (xs[a + 1 : b] - x0))
            limit = epsilon * norm
        i = int(dist.argmax())
        if dist[i] > limit:
            mid = a + 1 + i
            keep[mid] = True
            stack.append((a, mid))
            stack.append((mid, b))
    return points[keep]


def normalize(drawing: Drawing) -> Drawing:
    """Google's simplification: align, scale to 255, resample at 1 px, RDP at epsilon 2."""
    strokes = [rdp(_resample(p)) for p in _align_and_scale(drawing)]
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


def _fit_frame(drawing: Drawing) -> list[np.ndarray]:
    """Strokes in Google's 0..255 frame: left as they are if they lie in it (as Google's
    renderer takes them), else aligned to 0 and scaled down to fit."""
    pts = [s.points for s in drawing.strokes]
    allp = np.concatenate(pts)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    if lo.min() >= 0 and hi.max() <= 255:
        return pts
    span = float((hi - lo).max())
    scale = 255.0 / span if span > 255.0 else 1.0
    return [(p - lo) * scale for p in pts]


def rasterize(drawing: Drawing) -> np.ndarray:
    """A (28, 28) float32 image in [0, 1], white strokes on black, as Google renders them.

    Coordinates are taken in Google's 0..255 frame (as :func:`normalize` leaves them); a
    drawing larger than the frame is scaled into it.
    """
    strokes = _fit_frame(drawing)
    offset = (FRAME - np.concatenate(strokes).max(axis=0)) / 2 + _MARGIN  # centred, as Google does
    k = _SCALE * _SS  # frame units -> subpixels
    a_list, b_list, sid_list = [], [], []
    for i, p in enumerate(strokes):
        q = (p + offset) * k
        # A dot is a zero-length segment, drawn by its round cap.
        a_list.append(q[:-1] if len(q) > 1 else q)
        b_list.append(q[1:] if len(q) > 1 else q)
        sid_list.append(np.full(max(len(q) - 1, 1), i))
    a, b, sid = np.concatenate(a_list), np.concatenate(b_list), np.concatenate(sid_list)
    # Only the subpixels near each segment: its bounding box grown by the line's reach.
    lo = np.clip(np.floor(np.minimum(a, b) - _REACH), 0, _N - 1).astype(np.int64)
    hi = np.clip(np.ceil(np.maximum(a, b) + _REACH), 0, _N - 1).astype(np.int64)
    w = hi[:, 0] - lo[:, 0] + 1
    counts = w * (hi[:, 1] - lo[:, 1] + 1)
    seg = np.repeat(np.arange(len(a)), counts)
    local = np.arange(len(seg)) - np.repeat(np.cumsum(counts) - counts, counts)
    px = lo[seg, 0] + local % w[seg]
    py = lo[seg, 1] + local // w[seg]
    sa, ab = a[seg], (b - a)[seg]
    rx, ry = px + 0.5 - sa[:, 0], py + 0.5 - sa[:, 1]
    len2 = ab[:, 0] ** 2 + ab[:, 1] ** 2
    t = np.clip((rx * ab[:, 0] + ry * ab[:, 1]) / np.where(len2 > 0, len2, 1.0), 0.0, 1.0)
    dist = np.hypot(rx - t * ab[:, 0], ry - t * ab[:, 1])
    # Within a stroke the ink is one shape: the nearest segment decides each subpixel.
    nearest = np.full(len(strokes) * _N * _N, np.inf)
    np.minimum.at(nearest, (sid[seg] * _N + py) * _N + px, dist)
    cover = np.interp(nearest, _TABLE_D, _TABLE_COVER, right=0.0).reshape(len(strokes), _N, _N)
    # Each stroke painted over the ones before it.
    ink = 1.0 - np.prod(1.0 - cover, axis=0) if len(strokes) > 1 else cover[0]
    return ink.reshape(SIDE, _SS, SIDE, _SS).mean(axis=(1, 3)).astype(np.float32)


def to_image(drawing: Drawing) -> np.ndarray:
    """Fresh ink (any coordinates) to the model's 28x28 input: normalise, then rasterise."""
    return rasterize(normalize(drawing))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A [0, 1] float image as 0..255 bytes, rounded as Google's bitmaps are."""
    return np.clip(np.rint(np.asarray(image) * 255.0), 0, 255).astype(np.uint8)
