"""The net as numpy data (emojisketch/net_weights.py): the same shapes, folding and prototypes
as the torch net, and a model that loads and predicts without importing torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_native import needs_kernels, random_net

from emojisketch import checkpoint
from emojisketch.errors import ModelFileError
from emojisketch.model import Example, from_net, load_model
from emojisketch.net import DrawingNet, NetConfig
from emojisketch.net_weights import NetWeights, expected_shapes
from emojisketch.quickdraw import read
from emojisketch.update import UpdateTask

SAMPLE = "tests/data/quickdraw_sample.ndjson"

CONFIGS = [
    dict(),
    dict(expand=256, pooled=True, n_classes=7),
    dict(channels=(8, 16), pool=(True, False), embed_dim=32, n_classes=3),
    dict(channels=(16, 24, 40), expand=0, pooled=True, n_classes=5),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_expected_shapes_are_the_torch_nets(config):
    net = DrawingNet(NetConfig(**config))
    state = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert expected_shapes(net.config) == state
    assert net.config.feature_dim == net.feature_dim


def torch_fold(net: DrawingNet):
    """The folding the torch embedder did before the weights became numpy data."""
    convs = [(c, bn, pool) for block in net.blocks
             for c, bn, pool in ((block.conv1, block.bn1, False), (block.conv2, block.bn2, block.pool))]
    if net.config.expand:
        convs.append((net.expand, net.expand_bn, False))
    out = []
    for conv, bn, pool in convs:
        s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        out.append(((conv.weight * s[:, None, None, None]).detach().numpy(),
                    (bn.bias - bn.running_mean * s).detach().numpy(), pool))
    return out


@pytest.mark.parametrize("config", [dict(), dict(pool=(True, True, True), expand=0),
                                    dict(channels=(8, 8, 32), pooled=False)])
def test_folding_is_the_torch_folding(config):
    net = random_net(**config)
    mine, theirs = NetWeights.from_net(net).folded(), torch_fold(net)
    assert len(mine) == len(theirs)
    for (w, b, pool), (tw, tb, tpool) in zip(mine, theirs):
        assert pool == tpool
        assert w.dtype == b.dtype == np.float32
        np.testing.assert_allclose(w, tw, rtol=1e-6, atol=1e-8)  # a float32 rounding apart
        np.testing.assert_allclose(b, tb, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("pooled", [False, True])
def test_prototypes_and_head_are_the_torch_nets(pooled):
    torch.manual_seed(1)
    net = DrawingNet(NetConfig(channels=(8, 16, 16), expand=24, embed_dim=32, n_classes=6,
                               pooled=pooled))
    if pooled:
        net.pooled_prototypes.uniform_(0, 1)
        net.pooled_prototypes[2] = 0  # not measured: the prototype keeps its unit length
    weights = NetWeights.from_net(net)
    with torch.no_grad():
        np.testing.assert_allclose(weights.prototype_features(), net.prototype_features().numpy(),
                                   atol=1e-6)
        np.testing.assert_allclose(weights.feature_head_weights(),
                                   net.feature_head_weights().numpy(), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(weights.prototype_features(), axis=1), 1, atol=1e-6)


def test_weights_that_do_not_fit_are_refused_by_name():
    net = DrawingNet(NetConfig(n_classes=3))
    state = checkpoint.net_tensors(net)
    with pytest.raises(ModelFileError, match="misshapen: proj.weight"):
        NetWeights(net.config, dict(state, **{"proj.weight": np.zeros((128, 5), np.float32)}))
    del state["blocks.1.conv2.weight"]
    with pytest.raises(ModelFileError, match="missing: blocks.1.conv2.weight"):
        NetWeights(net.config, dict(state, extra=np.zeros(2)))


def test_weights_are_read_only_and_the_torch_net_is_built_once():
    model = from_net(random_net())
    with pytest.raises(ValueError):
        model.weights.tensors["proj.bias"][0] = 1.0
    net = model.net
    assert model.derive(model.classifier).net is net  # shared, never rebuilt
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), model.weights.tensors[k])


PREDICT_WITHOUT_TORCH = """
import json, sys
from emojisketch.model import load_model
from emojisketch.quickdraw import read
model = load_model(sys.argv[1] if len(sys.argv) > 1 else None)
drawing = list(read({sample!r}))[80].drawing
print(json.dumps({{"predicted": model.predict(drawing, top=3), "native": model.native,
                  "torch": "torch" in sys.modules}}))
"""


def predict_elsewhere(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PREDICT_WITHOUT_TORCH.format(sample=SAMPLE), *args],
                         capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.splitlines()[-1])


@needs_kernels
def test_the_shipped_model_loads_and_predicts_without_torch():
    got = predict_elsewhere()
    assert got["native"] and not got["torch"]
    drawing = list(read(SAMPLE))[80].drawing
    want = load_model(None).predict(drawing, top=3)
    assert [label for label, _ in got["predicted"]] == [label for label, _ in want]
    np.testing.assert_allclose([p for _, p in got["predicted"]], [p for _, p in want], atol=1e-6)


@needs_kernels
@pytest.mark.parametrize("kind", ["knn", "nn"])
def test_a_personalized_model_loads_and_predicts_without_torch(tmp_path, kind):
    records = list(read(SAMPLE))
    model = load_model(None, kind=kind)
    taught = UpdateTask(model, [Example(r.drawing, "🐳") for r in records[:3]]).run()
    path = taught.save(tmp_path / "mine.safetensors")
    got = predict_elsewhere(str(path))
    assert got["native"] and not got["torch"]
    want = taught.predict(records[80].drawing, top=3)
    assert [label for label, _ in got["predicted"]] == [label for label, _ in want]
    np.testing.assert_allclose([p for _, p in got["predicted"]], [p for _, p in want], atol=1e-5)


def test_without_the_kernels_the_model_still_predicts_through_torch(monkeypatch):
    drawing = list(read(SAMPLE))[80].drawing
    want = load_model(None).predict(drawing, top=3)
    monkeypatch.setenv("EMOJISKETCH_NATIVE", "0")
    model = load_model(None)
    assert not model.native
    got = model.predict(drawing, top=3)
    assert [label for label, _ in got] == [label for label, _ in want]
