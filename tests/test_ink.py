"""The ink pipeline: Google's normalisation and Google's 28x28 rendering, and its errors."""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emojisketch import ink
from emojisketch.errors import EmojisketchError, InkError
from emojisketch.ink import Drawing, Stroke

DATA = Path(__file__).parent / "data"


def google_pairs():
    with open(DATA / "google_renders.ndjson") as fh:
        for line in fh:
            obj = json.loads(line)
            yield Drawing.from_google(obj["drawing"]), np.array(obj["bitmap"], float).reshape(28, 28)


def test_rendering_matches_googles_bitmaps():
    diffs = np.array([
        np.abs(ink.to_uint8(ink.rasterize(d)).astype(float) - g).mean() for d, g in google_pairs()
    ])
    assert len(diffs) == 189
    assert diffs.mean() <= 1.5, diffs.mean()
    assert diffs.max() <= 3.0, diffs.max()


def test_horizontal_line_through_the_middle():
    # A line across the whole frame (aligned to y=0, as normalised) is centred: 1.47 px wide.
    img = ink.rasterize(Drawing.from_points([[(0, 0), (255, 0)]]))
    assert img.shape == (28, 28) and img.dtype == np.float32
    col = img[:, 14]
    # Centre y in pixels: (0 + 128 + 24) * 28 / 304 = 14.0, so rows 13 and 14 share it.
    assert col[13] == pytest.approx(col[14], abs=1e-6)
    assert col[13] + col[14] == pytest.approx(16 * 28 / 304, abs=0.02)  # the line's width
    assert col[:12].max() == 0 and col[16:].max() == 0
    # Round caps: the ink starts half a line width before x=0 and ends after x=255.
    row = img[13]
    first, last = np.nonzero(row)[0][[0, -1]]
    assert (first, last) == (1, 26)
    assert row[1] == pytest.approx(row[26], abs=1e-6)  # centred


def test_a_dot_is_a_valid_drawing():
    img = ink.to_image(Drawing.from_points([[(40, 40)]]))
    # A round dot one line-width across: its ink adds up to the disc's area in pixels.
    assert img.sum() == pytest.approx(np.pi * (8 * 28 / 304) ** 2, rel=0.05)
    ys, xs = np.nonzero(img > 0.1)
    # A dot is centred in the frame, like any drawing.
    assert 12 <= ys.mean() <= 15 and 12 <= xs.mean() <= 15


def test_overlapping_strokes_do_not_exceed_white():
    line = [(0, 100), (255, 100)]
    img = ink.rasterize(Drawing.from_points([line, line, line]))
    assert img.max() <= 1.0
    assert img.max() == pytest.approx(ink.rasterize(Drawing.from_points([line])).max(), abs=1e-6)


def _brute_force_rasterize(drawing: Drawing) -> np.ndarray:
    """The renderer's definition, spelled out with no shortcut: every subpixel measured to every
    segment of every stroke, each stroke's coverage from its nearest segment, strokes painted
    over each other, subpixels averaged."""
    pts = [s.points for s in drawing.strokes]
    allp = np.concatenate(pts)
    if allp.min() < 0 or allp.max() > 255:
        lo, span = allp.min(axis=0), (allp.max(axis=0) - allp.min(axis=0)).max()
        pts = [(p - lo) * (255.0 / span if span > 255 else 1.0) for p in pts]
    offset = (ink.FRAME - np.concatenate(pts).max(axis=0)) / 2 + ink._MARGIN
    n = ink.SIDE * ink._SS
    centres = np.stack(np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5), axis=-1)  # (y, x, 2)
    clear = np.ones((n, n))
    for p in pts:
        q = (p + offset) * ink._SCALE * ink._SS
        segments = zip(q[:-1], q[1:]) if len(q) > 1 else [(q[0], q[0])]
        nearest = np.full((n, n), np.inf)
        for a, b in segments:
            ab, r = b - a, centres - a
            t = np.clip((r @ ab) / (ab @ ab), 0, 1) if ab @ ab > 0 else np.zeros((n, n))
            nearest = np.minimum(nearest, np.linalg.norm(r - t[..., None] * ab, axis=-1))
        clear *= 1 - np.interp(nearest, ink._TABLE_D, ink._TABLE_COVER, right=0.0)
    return (1 - clear).reshape(ink.SIDE, ink._SS, ink.SIDE, ink._SS).mean(axis=(1, 3))


def test_rasterize_matches_its_brute_force_definition():
    # The fast renderer only visits subpixels near each segment and looks coverage up by index;
    # it must draw what measuring everything draws: Google's doodles, dots, repeated points,
    # strokes that cross, a drawing outside the frame.
    drawings = [d for d, _ in google_pairs()][:40] + [
        Drawing.from_points([[(40, 40)]]),
        Drawing.from_points([[(5, 5)], [(100, 100), (100, 100)], [(0, 0), (255, 255), (0, 255)]]),
        Drawing.from_points([[(10, 10), (10, 10), (200, 10), (200, 10)], [(100, 0), (100, 255)]]),
        Drawing.from_points([[(-300, 40), (900, 700)], [(0, 0)]]),
    ]
    for d in drawings:
        np.testing.assert_allclose(ink.rasterize(d), _brute_force_rasterize(d), atol=1e-6)


def test_simplifying_a_strokes_corners_keeps_what_simplifying_every_point_keeps():
    # normalize gives RDP only the resampled points at the ends of each straight piece: the
    # farthest point from a chord is always one of them. Same points kept as from all of them,
    # but for ties between points at the same distance (RDP keeps the first of the tied).
    same = tied = 0
    for d, _ in google_pairs():
        for p in [s.points * 2.3 + 0.37 for s in d.strokes]:  # off Google's integer grid
            every, corners = ink._resample(p), ink._resample(p, corners=True)
            assert len(corners) <= len(every)
            assert {tuple(c) for c in corners} <= {tuple(e) for e in every}
            a, b = ink.rdp(every), ink.rdp(corners)
            if a.shape == b.shape and np.array_equal(a, b):
                same += 1
            else:
                tied += 1
    assert same > 0 and tied <= 0.02 * (same + tied), (same, tied)


def test_normalize_aligns_scales_and_simplifies():
    # A 3-4-5 triangle far from the origin, densely sampled, y down.
    t = np.linspace(0, 1, 200)
    edge = np.stack([1000 + 300 * t, 500 + 0 * t], axis=1)
    d = ink.normalize(Drawing((Stroke(np.vstack([edge, [[1000, 900]]])),)))
    pts = d.strokes[0].points
    assert pts.min(axis=0) == pytest.approx([0, 0])
    assert pts.max() == pytest.approx(255)
    assert len(pts) == 3  # the straight edge collapses to its ends


def test_normalize_is_nearly_idempotent_on_googles_simplified_data():
    diffs = []
    for d, _ in google_pairs():
        again = ink.normalize(d)
        # Google's files are not always aligned to exactly 0 or scaled to exactly 255; compare
        # with the same drawing only moved and scaled, so resampling and RDP alone are judged.
        allp = np.concatenate([s.points for s in d.strokes])
        span = (allp.max(axis=0) - allp.min(axis=0)).max()
        fitted = Drawing(tuple(Stroke((s.points - allp.min(axis=0)) * 255 / span) for s in d.strokes))
        diffs.append(np.abs(ink.rasterize(fitted) - ink.rasterize(again)).mean() * 255)
        # It keeps about as many points as Google kept.
        assert abs(again.n_points - d.n_points) <= max(3, 0.2 * d.n_points)
    assert np.mean(diffs) < 0.75 and np.max(diffs) < 4.0, (np.mean(diffs), np.max(diffs))


def test_any_coordinate_range_normalises_the_same_way():
    d, _ = next(google_pairs())
    img = ink.to_image(d)
    for scale, shift in [(7.3, (1000, -400)), (0.01, (-3, -3)), (1.0, (-128, -128))]:
        moved = Drawing(tuple(Stroke(s.points * scale + shift) for s in d.strokes))
        assert np.abs(ink.to_image(moved) - img).max() < 0.02


def test_y_up_input_is_flipped():
    strokes = [[[0, 100], [0, 0]]]  # a horizontal line... and one going up
    up = Drawing.from_google([[[0, 0], [0, 100]]], y_up=True)
    down = Drawing.from_google([[[0, 0], [100, 0]]])
    assert np.allclose(ink.to_image(up), ink.to_image(down))
    assert strokes  # documented example shape


@pytest.mark.parametrize("bad, message", [
    ([], "empty"),
    ([[[], []]], "no points"),
    ([[[1, float("nan")], [2, 3]]], "NaN"),
    ([[[1, float("inf")], [2, 3]]], "NaN or infinite"),
    ([[[1, 1e300], [2, 3]]], "beyond"),
    ([[[1, 2, 3], [4, 5]]], "x values"),
    ([[["a"], [1]]], "not numbers"),
    ("not a drawing", "list of strokes"),
])
def test_bad_drawings_get_a_clear_error(bad, message):
    with pytest.raises(InkError, match=message):
        ink.to_image(Drawing.from_google(bad))


def test_times_and_pressure_must_match_points():
    with pytest.raises(InkError, match="t values"):
        Stroke(np.zeros((3, 2)), t=[0, 1])
    s = Stroke(np.zeros((2, 2)), t=[0, 5], pressure=[0.2, 0.9])
    assert Drawing((s,)).to_google() == [[[0.0, 0.0], [0.0, 0.0], [0.0, 5.0]]]


coordinate = st.floats(allow_nan=True, allow_infinity=True, width=64)
stroke = st.lists(st.tuples(coordinate, coordinate), min_size=0, max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(stroke, min_size=0, max_size=5))
def test_fuzz_pipeline_returns_an_image_or_our_error(strokes):
    try:
        img = ink.to_image(Drawing.from_google([[[p[0] for p in s], [p[1] for p in s]] for s in strokes]))
    except EmojisketchError:
        return
    assert img.shape == (28, 28) and img.dtype == np.float32
    assert np.isfinite(img).all() and img.min() >= 0 and img.max() <= 1
    assert img.max() > 0  # every valid drawing leaves ink
