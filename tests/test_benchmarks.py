"""The benchmark scripts' own arithmetic (their timings are measured, not tested)."""

import importlib.util
from pathlib import Path

import torch

from emojisketch.net import DrawingNet, NetConfig


def _script(name: str):
    path = Path(__file__).parent.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_matmul_shapes_are_the_convolutions_multiply_adds():
    net = DrawingNet(NetConfig(channels=(4, 8, 12), expand=20)).eval()
    counted = []

    def hook(conv, inputs, out):  # each output value: one multiply-add per weight it sees
        counted.append((out.shape[2] * out.shape[3], conv.in_channels * conv.kernel_size[0] ** 2,
                        conv.out_channels))

    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(hook)
    with torch.no_grad():
        net.embed(torch.zeros(1, 1, 28, 28))
    assert _script("matmul").conv_shapes(net) == counted


def test_an_untrained_net_takes_the_given_widths_and_the_models_other_settings():
    from emojisketch.model import from_net

    like = from_net(DrawingNet(NetConfig(channels=(4, 8, 12), expand=20, embed_dim=16,
                                         n_classes=3, pooled=True)))
    name, model = _script("embed").untrained("6,10,14", like)
    cfg = model.net.config
    assert name == "untrained 6,10,14" and cfg.channels == (6, 10, 14)
    assert (cfg.expand, cfg.embed_dim, cfg.pooled, cfg.n_classes) == (20, 16, True, 3)
    assert [b.conv2.out_channels for b in model.net.blocks] == [6, 10, 14]
    assert model.embed(torch.zeros(1, 28, 28).numpy()).shape == (1, 16 + 20)


def test_the_render_check_counts_drawings_the_same_as_numpys(monkeypatch):
    from emojisketch import ink, quickdraw

    drawings = [r.drawing for r in quickdraw.read(Path(__file__).parent / "data" / "raw")
                if r.drawing is not None]
    check = _script("render").same_as_numpy
    assert check(drawings) == {"drawings": len(drawings), "normalize": len(drawings),
                               "rasterize": len(drawings)}
    monkeypatch.setattr(ink, "rasterize", lambda d: ink.rasterize_numpy(d) + 1e-3)
    assert check(drawings)["rasterize"] == 0


def test_query_mirror_averages_a_drawing_with_its_mirror_image():
    import numpy as np

    from emojisketch.model import from_net

    model = from_net(DrawingNet(NetConfig(channels=(4, 8, 12), expand=20, embed_dim=16,
                                          n_classes=3, pooled=True)).eval())
    wrapped = _script("query_mirror").mirror_averaged(type(model).embed)
    rng = np.random.default_rng(0)
    images = rng.random((3, 28, 28), dtype=np.float32)
    plain, mirrored = model.embed(images), model.embed(images[:, :, ::-1].copy())
    want = plain + mirrored
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    got = wrapped(model, images)
    assert np.allclose(got, want, atol=1e-6)
    assert np.allclose(wrapped(model, images[:, :, ::-1].copy()), got, atol=1e-6)
    symmetric = images + images[:, :, ::-1]  # its own mirror image: nothing to average
    assert np.allclose(wrapped(model, symmetric), model.embed(symmetric), atol=1e-5)


def test_base_similarity_appends_a_unit_softened_resemblance_to_each_prototype():
    import numpy as np

    rng = np.random.default_rng(0)
    unit = lambda a: a / np.linalg.norm(a, axis=-1, keepdims=True)  # noqa: E731
    protos, f = unit(rng.normal(size=(5, 8))), unit(rng.normal(size=(3, 8)))
    mapped = _script("base_similarity").similarity_map(protos, temperature=10.0, weight=0.5)(f)
    assert mapped.shape == (3, 13)
    assert np.allclose(np.linalg.norm(mapped, axis=1), 1, atol=1e-6)
    assert np.allclose(mapped[:, :8] * np.sqrt(1.25), f, atol=1e-6)  # the features, scaled
    p = np.exp(10 * f @ protos.T)
    s = unit(np.sqrt(p / p.sum(1, keepdims=True)))
    assert np.allclose(mapped[:, 8:] * np.sqrt(1.25), 0.5 * s, atol=1e-6)
    # a prototype's own map leans hardest towards itself
    own = _script("base_similarity").similarity_map(protos, 10.0, 0.5)(protos)[:, 8:]
    assert (own.argmax(1) == np.arange(5)).all()
