"""The compiled kernels (emojisketch/_kernels.c) against the numpy and torch code they stand in
for: the same simplified strokes and pixels to the bit, the same features to rounding, from
any thread; and the way without them (not built, or EMOJISKETCH_NATIVE=0)."""

import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from test_ink import google_pairs  # the rendering test's 189 drawings, with Google's bitmaps

from emojisketch import ink, native, quickdraw
from emojisketch.ink import Drawing
from emojisketch.model import NATIVE_MAX_BATCH, _Embedder, from_net, load_model
from emojisketch.net import DrawingNet, NetConfig
from emojisketch.net_weights import NetWeights

DATA = Path(__file__).parent / "data"

needs_kernels = pytest.mark.skipif(not native.available(),
                                   reason="the C kernels are not built here")


def sample_drawings():
    drawings = [r.drawing for r in quickdraw.read(DATA / "quickdraw_sample.ndjson") if r.drawing]
    # in raw screen coordinates (scaled into the frame), dots, a point repeated, one stroke
    raw = [Drawing.from_points([[(x * 3.7 + 1000, y * 2.1 - 50) for x, y in s.points]
                                for s in d.strokes]) for d in drawings[:40]]
    odd = [Drawing.from_points([[(10, 10)], [(100, 200)], [(50, 50), (60, 60)]]),
           Drawing.from_points([[(5, 5), (5, 5), (5, 5)]]),
           Drawing.from_points([[(0, 0), (255, 255)]]),
           Drawing.from_points([[(0.25, 0.5), (0.75, 0.5)]])]
    return drawings + raw + odd


def random_net(channels=(8, 16, 16), pool=(True, True, False), expand=24, pooled=True, seed=0):
    torch.manual_seed(seed)
    net = DrawingNet(NetConfig(channels=channels, pool=pool, expand=expand, embed_dim=32,
                               pooled=pooled))
    for m in net.modules():  # batch norm that is not the identity, so that folding shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net.eval()


def raw_drawings():
    """Screen-coordinate doodles (Google's raw files) and shapes that test the corner cases:
    a dot, a point repeated, a closed loop, a stroke that goes back on itself."""
    drawings = [r.drawing for f in sorted((DATA / "raw").iterdir())
                for r in quickdraw.read(f) if r.drawing is not None]
    loop = [(0, 0), (100, 0), (100, 80), (0, 80), (0, 0)]
    odd = [Drawing.from_points([[(3, 4)]]), Drawing.from_points([[(3, 4), (3, 4), (3, 4)]]),
           Drawing.from_points([loop]), Drawing.from_points([loop, [(50, 40)]]),
           Drawing.from_points([[(0, 0), (300, 10), (0, 20), (300, 30)]]),
           Drawing.from_points([[(5, 5), (5, 5), (9, 9), (9, 9), (5, 5)]])]
    return drawings + odd + sample_drawings()


@needs_kernels
def test_native_ink_pipeline_is_numpys_to_the_bit():
    drawings = raw_drawings()
    assert len(drawings) > 100
    for d in drawings:
        fast, ref = ink.normalize(d), ink.normalize_numpy(d)
        assert len(fast.strokes) == len(ref.strokes)
        for a, b in zip(fast.strokes, ref.strokes):
            np.testing.assert_array_equal(a.points, b.points)
        for drawing in (d, ref):  # in screen coordinates (scaled into the frame), and simplified
            image = ink.rasterize(drawing)
            assert image.dtype == np.float32 and image.shape == (28, 28)
            np.testing.assert_array_equal(image, ink.rasterize_numpy(drawing))


@needs_kernels
def test_native_raster_of_a_drawing_past_its_buffers():
    rng = np.random.default_rng(0)  # 300 strokes, 6,000 points: the buffers grow, twice
    strokes = [np.cumsum(rng.normal(0, 3, (20, 2)), axis=0) + rng.uniform(0, 255, 2)
               for _ in range(300)]
    big = Drawing.from_points([s.tolist() for s in strokes])
    small = sample_drawings()[0]
    for d in (small, big, small, Drawing.from_points([s.tolist() for s in strokes * 3])):
        np.testing.assert_array_equal(ink.rasterize(d), ink.rasterize_numpy(d))


@needs_kernels
def test_native_raster_matches_googles_bitmaps_as_numpy_does():
    for d, _ in google_pairs():
        np.testing.assert_array_equal(ink.rasterize(d), ink.rasterize_numpy(d))


def images():
    return np.stack([ink.rasterize_numpy(d) for d in sample_drawings()])


@needs_kernels
@pytest.mark.parametrize("winograd", [True, False])
def test_native_features_are_the_shipped_nets(winograd):
    model = load_model(None)
    embedder = model._embedder
    assert embedder.kernel is not None
    kernel = native.NetKernel(native.library(), embedder.folded(), *model.weights.projection(),
                              embedder.pooled, 28, winograd=winograd)
    x = images()
    fast, ref = kernel(x), embedder._torch(x)
    assert fast.shape == ref.shape == (len(x), model.net.feature_dim)
    np.testing.assert_allclose(fast, ref, atol=2e-6)
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-6)
    # and the torch net itself, batch norm unfolded
    with torch.inference_mode():
        net = model.net.features(torch.from_numpy(x[:, None])).numpy()
    np.testing.assert_allclose(fast, net, atol=2e-5)


@needs_kernels
@pytest.mark.parametrize("config", [
    dict(),
    dict(pooled=False),
    dict(expand=0, pooled=False),
    dict(channels=(16, 24, 40), expand=0),
    dict(pool=(True, True, True)),  # 7 -> 3: an odd map, Winograd blocks past its edge
    dict(pool=(True, False, True), channels=(8, 8, 32)),
])
def test_native_features_match_torch_for_other_nets(config):
    net = random_net(**config)
    embedder = _Embedder(NetWeights.from_net(net))
    assert embedder.kernel is not None
    x = images()[:30]
    np.testing.assert_allclose(embedder(x), embedder._torch(x), atol=3e-6)
    with torch.inference_mode():
        np.testing.assert_allclose(embedder(x), net.features(torch.from_numpy(x[:, None])).numpy(),
                                   atol=3e-5)


@needs_kernels
def test_nets_the_kernel_cannot_run_go_through_torch():
    net = random_net(channels=(6, 12, 12), expand=20)  # not multiples of 8
    embedder = _Embedder(NetWeights.from_net(net))
    assert embedder.kernel is None
    x = images()[:5]
    with torch.inference_mode():
        np.testing.assert_allclose(embedder(x), net.features(torch.from_numpy(x[:, None])).numpy(),
                                   atol=3e-5)
    assert _Embedder(NetWeights.from_net(random_net()), precision="float16").kernel is None  # float32 only


@needs_kernels
def test_large_batches_go_through_torch_with_the_same_answers(monkeypatch):
    embedder = load_model(None)._embedder
    x = np.repeat(images(), 2, axis=0)
    assert len(x) > NATIVE_MAX_BATCH
    calls = []
    monkeypatch.setattr(embedder, "_torch", lambda imgs: calls.append(len(imgs)) or
                        _Embedder._torch(embedder, imgs))
    big = embedder(x)
    assert calls == [len(x)]
    small = np.concatenate([embedder(x[i : i + 8]) for i in range(0, len(x), 8)])
    assert calls == [len(x)]  # the small batches ran in the kernel
    np.testing.assert_allclose(big, small, atol=2e-6)


@needs_kernels
def test_kernels_give_the_same_answers_from_two_threads_at_once():
    model = load_model(None)
    drawings = sample_drawings()[:60]
    expected = [model.embed(ink.rasterize(d))[0] for d in drawings]
    results, errors = {}, []

    def work(name):
        try:
            for _ in range(5):
                for i, d in enumerate(drawings):
                    got = model.embed(ink.rasterize(d))[0]
                    if not np.array_equal(got, expected[i]):
                        results[name] = i
                        return
            results[name] = None
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == {0: None, 1: None}


def test_without_kernels_the_numpy_and_torch_code_runs(monkeypatch):
    monkeypatch.setenv("EMOJISKETCH_NATIVE", "0")
    assert native.library() is None and not native.available()
    d = sample_drawings()[0]
    np.testing.assert_array_equal(ink.rasterize(d), ink.rasterize_numpy(d))
    raw = raw_drawings()[0]
    assert [s.points.tolist() for s in ink.normalize(raw).strokes] == [
        s.points.tolist() for s in ink.normalize_numpy(raw).strokes]
    model = from_net(random_net())
    assert model._embedder.kernel is None
    x = images()[:4]
    with torch.inference_mode():
        ref = model.net.features(torch.from_numpy(x[:, None])).numpy()
    np.testing.assert_allclose(model.embed(x), ref, atol=3e-5)


@needs_kernels
def test_a_library_built_from_another_source_is_not_called(tmp_path):
    lib = native.library()
    assert not native.stale(lib)  # built from the source beside it
    other = tmp_path / "_kernels.c"
    other.write_bytes(native.SOURCE.read_bytes() + b"/* changed */\n")
    assert native.stale(lib, other)
    assert not native.stale(lib, tmp_path / "absent.c")  # an installed wheel has no source


def test_kernels_are_built_where_promised():
    """.ci/run sets EMOJISKETCH_REQUIRE_NATIVE=1: CI's machine has a C compiler, so there the
    kernels must be built and found (else the tests above skip and the speed the README claims
    goes untested)."""
    if os.environ.get("EMOJISKETCH_REQUIRE_NATIVE") != "1":
        pytest.skip("EMOJISKETCH_REQUIRE_NATIVE=1 is not set")
    assert native.available()
