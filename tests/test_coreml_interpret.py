"""The numpy reference interpreter runs the exported spec itself: for real doodles its label is
the app's top-1, and its embeddings and probabilities match the torch model within 1e-4."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from emojisketch.classifiers import MIN_DISTANCE
from emojisketch.coreml import embedding, export, interpret, interpret_layers
from emojisketch.errors import ExportError
from test_coreml_helpers import images, tiny_model, tiny_net

TOL = 1e-4


@pytest.fixture(scope="module")
def doodles():
    return images(per_word=3, words=6)  # 18 real drawings through the ink pipeline


def columns(result, labels):
    return result.probs[:, [result.classes.index(c) for c in labels]]


@pytest.mark.parametrize("kind", ["knn", "nn"])
@pytest.mark.parametrize("expand", [0, 12], ids=["plain", "expand"])
def test_interpreter_matches_the_app(doodles, kind, expand, tmp_path):
    model = tiny_model(kind, expand=expand)
    path = export.export_model(model, tmp_path / "m.mlmodel")
    result = interpret.Interpreter(path).classify(doodles)
    assert np.abs(result.embedding - model.embed(doodles)).max() < TOL
    assert np.abs(columns(result, model.labels) - model.predict_proba(doodles)).max() < TOL
    assert result.labels == [model.predict(im, top=1)[0][0] for im in doodles]


def test_byte_pixels_give_what_torch_gives_on_the_same_bytes(doodles):
    """What a phone does: the image arrives as 8-bit pixels, scaled by 1/255 in the model."""
    model = tiny_model("nn")
    spec, _ = export.build_specs(model)
    result = interpret.Interpreter(spec).classify(doodles, quantize=True)
    as_bytes = interpret.to_pixels(doodles, quantize=True) / 255.0
    assert np.abs(result.embedding - model.embed(as_bytes)).max() < TOL
    assert result.labels == [model.labels[i] for i in model.predict_proba(as_bytes).argmax(1)]


def test_knn_semantics_are_the_apps_including_exact_copies(doodles):
    """Inverse squared-distance weights with the same floor: a stored drawing asked again
    gets (nearly) all the weight, as in emojisketch's own k-NN."""
    assert interpret.MIN_DISTANCE == MIN_DISTANCE
    base = tiny_model("knn", k=5)
    emb = base.embed(doodles[:4])
    model = base.derive(base.classifier.with_entries(emb, ["🍏", "🍏", "🦋", "🚲"],
                                                   entries="examples"))
    spec, _ = export.build_specs(model)
    result = interpret.Interpreter(spec).classify(doodles[:4])
    expected = model.predict_proba(doodles[:4])
    assert np.abs(columns(result, model.labels) - expected).max() < TOL
    assert result.labels == ["🍏", "🍏", "🦋", "🚲"]
    assert result.probs.max(axis=1).min() > 0.99


def test_a_bigger_net_within_tolerance(doodles):
    """The shipped architecture's widths (24, 48, 96), its 1x1 widening to 256 and 128-d embedding."""
    net = tiny_net(seed=3, channels=(24, 48, 96), embed_dim=128, expand=256)
    spec = embedding.embedding_spec(net)
    out = interpret.run(spec, {"drawing": doodles * 255.0})["embedding"]
    with torch.no_grad():
        ref = net.embed(torch.from_numpy(doodles)[:, None]).numpy()
    assert out.shape == (len(doodles), 128)
    assert np.abs(out - ref).max() < TOL


# --- layers against torch, beyond what the export uses ------------------------------------

def conv_layer(x, stride, mode_same=True, asymmetry=0, dilation=1, bias=True):
    nn_proto = pytest.importorskip("coremltools.proto.NeuralNetwork_pb2")
    rng = np.random.default_rng(0)
    c_out, c_in = 3, x.shape[1]
    w = rng.normal(size=(c_out, c_in, 3, 3)).astype(np.float32)
    b = rng.normal(size=c_out).astype(np.float32)
    p = nn_proto.ConvolutionLayerParams(outputChannels=c_out, kernelChannels=c_in,
                                         kernelSize=[3, 3], stride=[stride, stride],
                                         dilationFactor=[dilation, dilation], hasBias=bias)
    p.weights.floatValue.extend(w.ravel().tolist())
    if bias:
        p.bias.floatValue.extend(b.tolist())
    if mode_same:
        p.same.asymmetryMode = asymmetry
    else:
        for _ in range(2):
            p.valid.paddingAmounts.borderAmounts.add(startEdgeSize=1, endEdgeSize=2)
    return interpret_layers._convolution(x, p), torch.from_numpy(w), torch.from_numpy(b)


def test_convolution_same_padding_with_stride_puts_the_odd_pixel_at_the_end():
    x = np.random.default_rng(1).normal(size=(2, 2, 8, 8))
    y, w, b = conv_layer(x, stride=2)
    # 8 -> 4 outputs need 1 pixel of padding in total: BOTTOM_RIGHT_HEAVY puts it at the end
    ref = F.conv2d(F.pad(torch.from_numpy(x).float(), (0, 1, 0, 1)), w, b, stride=2)
    assert y.shape == (2, 3, 4, 4)
    assert np.abs(y - ref.numpy()).max() < TOL


def test_convolution_valid_padding_and_dilation():
    x = np.random.default_rng(2).normal(size=(1, 2, 9, 9))
    y, w, b = conv_layer(x, stride=1, mode_same=False, dilation=2)
    ref = F.conv2d(F.pad(torch.from_numpy(x).float(), (1, 2, 1, 2)), w, b, dilation=2)
    assert np.abs(y - ref.numpy()).max() < TOL


def test_average_pooling_excluding_padding():
    nn_proto = pytest.importorskip("coremltools.proto.NeuralNetwork_pb2")
    x = np.random.default_rng(3).normal(size=(1, 2, 5, 5))
    p = nn_proto.PoolingLayerParams(type=1, kernelSize=[3, 3], stride=[2, 2],
                                    avgPoolExcludePadding=True)
    for _ in range(2):
        p.valid.paddingAmounts.borderAmounts.add(startEdgeSize=1, endEdgeSize=1)
    ref = F.avg_pool2d(torch.from_numpy(x), 3, 2, padding=1, count_include_pad=False)
    assert np.abs(interpret_layers._pooling(x, p) - ref.numpy()).max() < TOL


def test_an_unknown_layer_is_refused_not_guessed(doodles):
    spec, _ = export.build_specs(tiny_model("knn"))
    layer = spec.pipelineClassifier.pipeline.models[0].neuralNetwork.layers[2]
    layer.ClearField("activation")
    layer.unary.type = 4  # EXP: a unary function the interpreter does not implement
    with pytest.raises(ExportError, match="unary"):
        interpret.Interpreter(spec).classify(doodles[:1])


def test_a_missing_link_is_a_clear_error(tmp_path, doodles):
    path = export.export_model(tiny_model("knn"), tmp_path / "linked.mlmodel", linked=True)
    for f in tmp_path.glob(export.LINK_PREFIX + "*"):
        f.unlink()
    with pytest.raises(ExportError, match="linked model"):
        interpret.Interpreter(path).classify(doodles[:1])


def test_verify_compares_the_file_with_the_app(tmp_path):
    from emojisketch.coreml import verify

    model = tiny_model("nn")
    path = export.export_model(model, tmp_path / "m.mlmodel")
    v = verify.verify_export(model, path, verify.drawings(limit=24))
    assert v.n == 24
    assert max(v.embedding_diff, v.prob_diff, v.bytes_embedding_diff, v.bytes_prob_diff) < TOL
    assert v.top1_agree == v.bytes_top1_agree == 1.0
    other = tiny_model("nn", seed=5)  # a different model must not verify
    assert verify.verify_export(other, path, verify.drawings(limit=24)).embedding_diff > 1e-2
