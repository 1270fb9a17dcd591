"""Doodle augmentation: strokes re-drawn and re-rendered, images warped, thin renders thickened."""

import json
from pathlib import Path

import numpy as np
import torch

from emojisketch import augment, ink, quickdraw

DATA = Path(__file__).parent / "data"
BASE = DATA / "base"


def _drawing(i=0):
    line = (DATA / "quickdraw_sample.ndjson").read_text().splitlines()[i]
    return ink.Drawing.from_google(json.loads(line)["drawing"])


def test_an_augmented_drawing_stays_in_googles_frame_and_renders():
    d = _drawing()
    for seed in range(20):
        out = augment.augment_drawing(d, np.random.default_rng(seed))
        pts = np.concatenate([s.points for s in out.strokes])
        assert pts.min() >= -1e-9 and pts.max() <= 255 + 1e-9
        assert 1 <= len(out.strokes) <= len(d.strokes)
        image = ink.rasterize(out)
        assert image.shape == (28, 28) and image.dtype == np.float32
        assert 0.0 <= image.min() and image.max() <= 1.0 and image.sum() > 5


def test_the_same_seed_gives_the_same_drawing_and_another_seed_another():
    d = _drawing(3)
    a = ink.rasterize(augment.augment_drawing(d, np.random.default_rng(7)))
    b = ink.rasterize(augment.augment_drawing(d, np.random.default_rng(7)))
    c = ink.rasterize(augment.augment_drawing(d, np.random.default_rng(8)))
    assert np.array_equal(a, b)
    assert np.abs(a - c).mean() > 0.01


def test_partial_drawings_keep_the_first_strokes():
    d = _drawing(5)
    assert len(d.strokes) >= 2
    aug = augment.StrokeAug(p_partial=1.0, p_drop=0.0, rotate=0, scale=0, shear=0, shrink=0,
                            elastic=0, jitter=0)
    out = augment.augment_drawing(d, np.random.default_rng(0), aug)
    assert (len(d.strokes) + 1) // 2 <= len(out.strokes) < len(d.strokes)


def test_no_change_asked_gives_back_the_drawing():
    d = _drawing(2)
    aug = augment.StrokeAug(p_partial=0, p_drop=0, rotate=0, scale=0, shear=0, shrink=0,
                            shift=0, elastic=0, jitter=0)
    out = augment.augment_drawing(d, np.random.default_rng(0), aug)
    diff = np.abs(ink.rasterize(out) - ink.rasterize(d))
    assert diff.max() < 0.1 and diff.mean() < 0.005  # only rescaled to span 255 exactly


def test_image_augmentation_keeps_shape_and_range_and_follows_its_seed():
    x = torch.from_numpy(np.stack([ink.rasterize(_drawing(i)) for i in range(6)]))[:, None]
    a = augment.augment_images(x, torch.Generator().manual_seed(1))
    b = augment.augment_images(x, torch.Generator().manual_seed(1))
    c = augment.augment_images(x, torch.Generator().manual_seed(2))
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert (a - x).abs().mean() > 0.005  # it did something
    assert (a - x).abs().mean() < 0.2  # but kept the drawing


def _apples():
    """Thin renders and strokes of the same apples, but for those with a dot (a zero-length
    stroke, which the thin renderer leaves out, so the thin render is another drawing)."""
    thin = quickdraw.open_bitmaps(BASE / "thin" / "apple.npy")[:8].astype(np.float32) / 255
    strokes = [r.drawing for r in quickdraw.read(BASE / "simplified" / "full_simplified_apple.ndjson")]
    keep = [i for i, d in enumerate(strokes) if all(np.ptp(s.points, axis=0).max() > 0 for s in d.strokes)]
    assert len(keep) >= 6
    return thin[keep], [strokes[i] for i in keep]


def test_thickened_thin_renders_look_like_googles_render_of_the_same_strokes():
    thin, strokes = _apples()
    thick = augment.thicken_thin(thin)
    ref = np.stack([ink.rasterize(d) for d in strokes])
    assert thick.shape == (len(thin), 28, 28) and thick.min() >= 0 and thick.max() <= 1
    same = np.abs(thick - ref).mean(axis=(1, 2))
    other = np.abs(thick - np.roll(ref, 1, axis=0)).mean(axis=(1, 2))
    assert same.mean() < 0.05  # measured 0.033 over 2,100 drawings
    assert (same < other).all()
    assert np.abs(thin.reshape(ref.shape) - ref).mean() > 2 * same.mean()  # as it is: far off


def test_thin_extent_reads_the_drawings_size():
    thin, strokes = _apples()
    for image, d in zip(thin, strokes):
        true = np.concatenate([s.points for s in d.strokes]).max(axis=0)
        assert np.abs(augment.thin_extent(image) - true).max() < 20


def test_erasing_rubs_out_one_disc_of_ink_in_the_chosen_share_of_images():
    images = torch.zeros(200, 1, 28, 28)
    images[:, :, 4:24, 14] = 1.0  # a vertical line
    aug = augment.ImageAug(rotate=0, scale=0, shear=0, translate=0, elastic=0, p_width=0,
                           p_erase=0.5)
    out = augment.augment_images(images, torch.Generator().manual_seed(0), aug)
    lost = (images - out).sum(dim=(1, 2, 3))
    erased = lost > 0.5
    assert 0.35 < erased.float().mean() < 0.65
    # a disc of radius 2.5-5 px on a 1-px line takes 3 (at its end) to 11 of its 20 pixels
    assert lost[erased].min() >= 2.5 and lost[erased].max() <= 11.5
    assert torch.allclose(out[~erased], images[~erased], atol=1e-5)  # grid_sample's rounding
    # without it, the same call draws the same random numbers as before the option existed
    gen = torch.Generator().manual_seed(0)
    augment.augment_images(images, gen, augment.ImageAug())
    assert torch.equal(gen.get_state(), _state_after_plain_augment(images))


def _state_after_plain_augment(images):
    gen = torch.Generator().manual_seed(0)
    b = images.shape[0]
    for n in (b, b, b, 2 * b):  # angle, scale, shear, translation
        torch.rand(n, generator=gen)
    torch.randn(b, 2, 4, 4, generator=gen)  # the elastic field
    for _ in range(3):  # which images change width, thicker or thinner, by how much
        torch.rand(b, generator=gen)
    torch.rand(b, generator=gen)  # the thinner amount
    return gen.get_state()
