"""Augmentation for doodles: on strokes where we have them, on images where we do not.

Strokes (simplified or normalised raw drawings, in Google's 0..255 frame) are changed as a
person's hand would change them, then re-rendered by :func:`emojisketch.ink.rasterize`, so
every epoch sees new pixels through the one ink pipeline:

* partial drawings (the first k strokes, as the app sees while you draw) and dropped strokes;
* a random affine map: rotation, anisotropic scale, shear, and a smaller, moved placement;
* elastic jitter: a smooth random displacement field (a few low-frequency waves), applied to
  strokes resampled every few units so that straight lines bend, plus a little point noise.

Images (Google's bitmaps, and this project's ``thin/`` renders once thickened) get a small
random affine warp, a smooth elastic warp, a line-width change (grey dilation or erosion) and,
if asked, a rubbed-out disc of ink (the image's dropped stroke), batched in torch.

:func:`thicken_thin` turns a ``thin/`` render (1-pixel lines, drawn from the top-left corner of
the 28x28 frame at 28/256 pixel a unit) into Google's look: cropped to the ink, placed so that
the drawing's longer side spans 256/304 of the frame, centred, with Google's line width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .ink import FRAME, LINE_WIDTH, PADDING, SIDE, Drawing, Stroke


@dataclass
class StrokeAug:
    p_partial: float = 0.15  # chance to keep only the first k strokes (k >= half of them)
    p_drop: float = 0.1  # chance, per stroke, to drop it (never all of them)
    rotate: float = 12.0  # degrees, uniform +-
    scale: float = 0.12  # each axis scaled by 1 +- this
    shear: float = 0.15  # x += shear * y, uniform +-
    shrink: float = 0.15  # the drawing's longer side becomes 255 * (1 - U(0, shrink))
    shift: float = 0.3  # moved by up to this share of the room left in the frame
    elastic: float = 8.0  # amplitude of the smooth displacement field, frame units
    jitter: float = 1.0  # per-point noise, frame units (std)
    spacing: float = 12.0  # resample strokes this often before bending them


def scaled(aug: StrokeAug, strength: float) -> StrokeAug:
    """The same augmentation with every change made ``strength`` times as large or likely."""
    return StrokeAug(**{k: v * strength if k != "spacing" else v for k, v in vars(aug).items()})


def _resample(points: np.ndarray, spacing: float) -> np.ndarray:
    """Points at most ``spacing`` apart along the polyline (original points kept)."""
    if len(points) < 2:
        return points
    seg = np.hypot(*np.diff(points, axis=0).T)
    out = [points[:1]]
    for a, b, length in zip(points[:-1], points[1:], seg):
        n = max(int(math.ceil(length / spacing)), 1)
        t = (np.arange(1, n + 1) / n)[:, None]
        out.append(a + (b - a) * t)
    return np.concatenate(out)


def _choose_strokes(strokes: list[np.ndarray], rng: np.random.Generator, aug: StrokeAug):
    n = len(strokes)
    if n >= 2 and rng.random() < aug.p_partial:
        strokes = strokes[: int(rng.integers((n + 1) // 2, n))]
    if len(strokes) >= 2 and aug.p_drop > 0:
        keep = rng.random(len(strokes)) >= aug.p_drop
        if keep.any():
            strokes = [s for s, k in zip(strokes, keep) if k]
    return strokes


def _elastic(points: np.ndarray, rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """A smooth displacement: three waves per axis of 0.5 to 2 cycles across the frame."""
    out = points.copy()
    for axis in range(2):
        freq = rng.uniform(0.5, 2.0, size=(3, 2)) * rng.choice([-1, 1], size=(3, 2))
        phase = rng.uniform(0, 2 * np.pi, size=3)
        amp = rng.normal(0, amplitude / math.sqrt(3), size=3)
        arg = points @ freq.T * (2 * np.pi / FRAME) + phase  # (N, 3)
        out[:, axis] += np.sin(arg) @ amp
    return out


def augment_drawing(drawing: Drawing, rng: np.random.Generator,
                    aug: StrokeAug | None = None) -> Drawing:
    """A randomly changed copy of a drawing, realigned into Google's 0..255 frame."""
    aug = aug or StrokeAug()
    strokes = _choose_strokes([s.points for s in drawing.strokes], rng, aug)
    if aug.elastic > 0:
        strokes = [_resample(p, aug.spacing) for p in strokes]
    lengths = [len(p) for p in strokes]
    pts = np.concatenate(strokes)
    pts = pts - pts.mean(axis=0)
    theta = math.radians(rng.uniform(-aug.rotate, aug.rotate))
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    shear = np.array([[1.0, rng.uniform(-aug.shear, aug.shear)], [0.0, 1.0]])
    scale = np.diag(1.0 + rng.uniform(-aug.scale, aug.scale, size=2))
    pts = pts @ (rot @ shear @ scale).T
    if aug.elastic > 0:
        pts = _elastic(pts, rng, aug.elastic)
    if aug.jitter > 0:
        pts = pts + rng.normal(0, aug.jitter, size=pts.shape)
    # Realign as Google does, then shrink and move: a smaller drawing, a little off centre.
    pts = pts - pts.min(axis=0)
    span = float(pts.max())
    size = 255.0 * (1.0 - rng.uniform(0, aug.shrink))
    pts = pts * (size / span if span > 0 else 1.0)
    pts = pts + rng.uniform(0, aug.shift, size=2) * (255.0 - pts.max(axis=0))
    pieces = np.split(pts, np.cumsum(lengths)[:-1])
    return Drawing(tuple(Stroke(p) for p in pieces))


@dataclass
class ImageAug:
    rotate: float = 8.0  # degrees, uniform +-
    scale: float = 0.08  # isotropic scale 1 +- this
    shear: float = 0.08
    translate: float = 1.5  # pixels, uniform +-
    elastic: float = 1.0  # pixels: amplitude of a smooth random displacement (0: none)
    p_width: float = 0.5  # chance to change the line width
    thicker: float = 0.6  # dilation blended in by up to this much
    thinner: float = 0.4  # erosion blended in by up to this much
    p_erase: float = 0.0  # chance to rub out a disc of the ink (a dropped stroke's like)
    erase_radius: tuple[float, float] = (2.5, 5.0)  # pixels, uniform


def augment_images(images: torch.Tensor, gen: torch.Generator,
                   aug: ImageAug | None = None) -> torch.Tensor:
    """(B, 1, 28, 28) images in [0, 1] -> warped, re-stroked copies (batched)."""
    aug = aug or ImageAug()
    b = images.shape[0]

    def uniform(lo, hi, n=b):
        return lo + (hi - lo) * torch.rand(n, generator=gen)

    theta = torch.deg2rad(uniform(-aug.rotate, aug.rotate))
    s = 1.0 + uniform(-aug.scale, aug.scale)
    sh = uniform(-aug.shear, aug.shear)
    cos, sin = torch.cos(theta) / s, torch.sin(theta) / s  # sampling grid: the inverse map
    mat = torch.zeros(b, 2, 3)
    mat[:, 0, 0], mat[:, 0, 1] = cos, -sin + sh
    mat[:, 1, 0], mat[:, 1, 1] = sin, cos
    mat[:, :, 2] = uniform(-aug.translate, aug.translate, 2 * b).view(b, 2) * (2.0 / SIDE)
    grid = F.affine_grid(mat, list(images.shape), align_corners=False)
    if aug.elastic > 0:  # a 4x4 field of random moves, smoothly upsampled: lines bend
        field = torch.randn(b, 2, 4, 4, generator=gen) * (aug.elastic * 2.0 / SIDE)
        field = F.interpolate(field, size=images.shape[-2:], mode="bicubic", align_corners=True)
        grid = grid + field.permute(0, 2, 3, 1)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # Line width: blend towards a 3x3 grey dilation (thicker) or erosion (thinner).
    change = torch.rand(b, generator=gen) < aug.p_width
    thicker = torch.rand(b, generator=gen) < 0.5
    amount = torch.where(thicker, uniform(0, aug.thicker), -uniform(0, aug.thinner))
    amount = torch.where(change, amount, torch.zeros(b)).view(b, 1, 1, 1)
    dilated = F.max_pool2d(out, 3, 1, 1)
    eroded = -F.max_pool2d(-out, 3, 1, 1)
    out = out + amount.clamp(min=0) * (dilated - out) + (-amount).clamp(min=0) * (eroded - out)
    if aug.p_erase > 0:
        out = _erase(out, gen, aug)
    return out.clamp(0.0, 1.0)


def _erase(images: torch.Tensor, gen: torch.Generator, aug: ImageAug) -> torch.Tensor:
    """A disc rubbed out of some images, centred on one of their inked pixels (chosen in
    proportion to its ink), so that a part of the drawing goes as when a stroke is dropped."""
    b, _, h, w = images.shape
    ink = images.reshape(b, -1).float() + 1e-6  # a blank image still picks a pixel
    centre = torch.multinomial(ink, 1, generator=gen)[:, 0]
    cy, cx = (centre // w).float(), (centre % w).float()
    lo, hi = aug.erase_radius
    radius = lo + (hi - lo) * torch.rand(b, generator=gen)
    yy = torch.arange(h, dtype=torch.float32).view(1, h, 1)
    xx = torch.arange(w, dtype=torch.float32).view(1, 1, w)
    inside = (yy - cy.view(b, 1, 1)) ** 2 + (xx - cx.view(b, 1, 1)) ** 2 <= radius.view(b, 1, 1) ** 2
    chosen = (torch.rand(b, generator=gen) < aug.p_erase).view(b, 1, 1)
    return images * (~(inside & chosen)).unsqueeze(1).to(images.dtype)


# thin/ renders: frame units -> thin pixels, pixel centres at integer coordinates.
THIN_SCALE = SIDE / FRAME
THIN_GAIN = 1.8  # brings a resampled 1-pixel line to Google's 1.47-pixel width and peak
_SS = 4  # subsamples per output pixel side when resampling


def thin_extent(image: np.ndarray) -> np.ndarray:
    """The drawing's (max x, max y) in frame units, read off a thin render's ink."""
    image = np.asarray(image, dtype=np.float32).reshape(SIDE, SIDE)
    cols = np.nonzero((image > 0).any(axis=0))[0]
    rows = np.nonzero((image > 0).any(axis=1))[0]
    if len(cols) == 0:
        return np.array([FRAME - 1, FRAME - 1])
    # The last inked pixel's strength says where the line's centre lies inside it.
    x = cols[-1] - 1 + float(image[:, cols[-1]].max())
    y = rows[-1] - 1 + float(image[rows[-1], :].max())
    ext = np.clip(np.array([x, y]) / THIN_SCALE, 0.0, FRAME - 1)
    ext[int(np.argmax(ext))] = FRAME - 1  # simplified drawings: the longer side is 255
    return ext


def thicken_thin(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) thin renders in [0, 1] -> (N, 28, 28) float32 images in Google's look."""
    images = np.asarray(images, dtype=np.float32).reshape(-1, SIDE, SIDE)
    if len(images) == 0:
        return images.copy()
    ext = torch.tensor(np.stack([thin_extent(im) for im in images]), dtype=torch.float32)
    n = SIDE * _SS
    full = FRAME + 2 * PADDING + LINE_WIDTH  # 304: Google's frame with padding and line
    u = (torch.arange(n, dtype=torch.float32) + 0.5) / _SS * (full / SIDE)  # frame units
    offset = (FRAME - ext) / 2 + PADDING + LINE_WIDTH / 2  # (N, 2): centred, as Google does
    tx = ((u[None, :] - offset[:, :1]) * THIN_SCALE + 0.5) * (2.0 / SIDE) - 1.0  # (N, n)
    ty = ((u[None, :] - offset[:, 1:]) * THIN_SCALE + 0.5) * (2.0 / SIDE) - 1.0
    grid = torch.stack([tx[:, None, :].expand(-1, n, n), ty[:, :, None].expand(-1, n, n)], -1)
    hi = F.grid_sample(torch.from_numpy(images)[:, None], grid, mode="bilinear",
                       padding_mode="zeros", align_corners=False)
    out = F.avg_pool2d(hi, _SS)[:, 0] * THIN_GAIN
    return out.clamp(0.0, 1.0).numpy()
