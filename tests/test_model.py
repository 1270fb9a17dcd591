"""The updatable model: base emoji in both classifiers, predictions, description, files."""

from pathlib import Path

import numpy as np
import pytest
import torch

from emojisketch import checkpoint, ink, quickdraw
from emojisketch.errors import EmojisketchError, ModelFileError
from emojisketch.model import (DEFAULT_PROTOTYPE_RADIUS, Example, ParameterError, UpdatableModel,
                               check_parameters, from_net, load_model)
from emojisketch.net import DrawingNet, NetConfig
from emojisketch.update import UpdateTask

torch.set_num_threads(1)
SAMPLE = Path(__file__).parent / "data" / "quickdraw_sample.ndjson"
EMOJI = ["🍎", "🐱", "🐟", "🚲", "👁️", "💎"]


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return DrawingNet(NetConfig(channels=(8, 16, 16), embed_dim=32, n_classes=6, labels=EMOJI)).eval()


@pytest.fixture(scope="module")
def records():
    return list(quickdraw.read(SAMPLE))[::7]


@pytest.fixture(scope="module")
def images(records):
    return np.stack([ink.to_image(r.drawing) for r in records])


@pytest.mark.parametrize("expand", [0, 24], ids=["plain", "expand"])
def test_embedding_is_the_nets_unit_embedding(net, images, expand):
    if expand:  # a 1x1 widening before pooling, folded with its batch norm like the rest
        torch.manual_seed(1)
        net = DrawingNet(NetConfig(channels=(8, 16, 16), expand=expand, embed_dim=32)).eval()
        with torch.no_grad():
            net.expand_bn.running_mean.uniform_(-0.2, 0.2)
            net.expand_bn.running_var.uniform_(0.5, 2.0)
            net.expand_bn.weight.uniform_(0.5, 1.5)
    model = from_net(net)
    emb = model.embed(images)
    with torch.no_grad():
        ref = net.embed(torch.from_numpy(images)[:, None]).numpy()
    assert emb.dtype == np.float32 and emb.shape == (len(images), 32)
    np.testing.assert_allclose(emb, ref, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_untaught_models_agree_with_the_base_cosine_head(net, images):
    with torch.no_grad():
        logits = net(torch.from_numpy(images)[:, None]).numpy()
    knn, head = from_net(net, "knn"), from_net(net, "nn")
    assert knn.labels == EMOJI and head.labels == EMOJI
    # The head is the base net's softmax; the k-NN's top-1 is the nearest prototype.
    ref = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(head.predict_proba(images), ref / ref.sum(1, keepdims=True), atol=1e-5)
    assert (knn.predict_proba(images).argmax(1) == logits.argmax(1)).all()


@pytest.fixture(scope="module")
def pooled_net():
    torch.manual_seed(2)
    net = DrawingNet(NetConfig(channels=(8, 16, 16), expand=24, embed_dim=32, n_classes=6,
                               labels=EMOJI, pooled=True)).eval()
    with torch.no_grad():
        net.pooled_prototypes.uniform_(0.0, 1.0)
    return net


def test_pooled_features_are_the_embedding_and_the_rooted_pooled_features_side_by_side(
        pooled_net, images):
    emb = from_net(pooled_net).embed(images)  # the folded, channels-last inference path
    x = torch.from_numpy(images)[:, None]
    with torch.no_grad():
        e = pooled_net.embed(x).numpy()
        p = pooled_net.pooled(x).numpy()
    rooted = np.sqrt(p) / np.linalg.norm(np.sqrt(p), axis=1, keepdims=True)
    assert emb.shape == (len(images), 32 + 24) and pooled_net.feature_dim == 56
    np.testing.assert_allclose(emb, np.concatenate([e, rooted], 1) / np.sqrt(2), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_with_pooled_features_the_head_keeps_its_answers_and_the_knn_its_prototypes(pooled_net, images):
    with torch.no_grad():
        logits = pooled_net(torch.from_numpy(images)[:, None]).numpy()
        protos = torch.nn.functional.normalize(pooled_net.prototypes, dim=1).numpy()
        rooted = torch.nn.functional.normalize(pooled_net.pooled_prototypes, dim=1).numpy()
    knn, head = from_net(pooled_net, "knn"), from_net(pooled_net, "nn")
    ref = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(head.predict_proba(images), ref / ref.sum(1, keepdims=True), atol=1e-5)
    base = knn.classifier.embeddings / DEFAULT_PROTOTYPE_RADIUS
    np.testing.assert_allclose(base, np.concatenate([protos, rooted], 1) / np.sqrt(2), atol=1e-6)
    unmeasured = DrawingNet(NetConfig(channels=(8, 16, 16), embed_dim=32, n_classes=6, pooled=True))
    with torch.no_grad():  # pooled prototypes never measured: the cosine prototype alone
        lone = unmeasured.prototype_features().numpy()
        np.testing.assert_allclose(lone[:, :32], torch.nn.functional.normalize(
            unmeasured.prototypes, dim=1).numpy(), atol=1e-6)
    assert np.abs(lone[:, 32:]).max() == 0


@pytest.mark.parametrize("kind", ["knn", "nn"])
def test_predict_ranks_five_labels_consistent_with_predict_proba(net, records, kind):
    model = from_net(net, kind)
    ranked = model.predict(records[0].drawing, top=5)
    p = model.predict_proba(ink.to_image(records[0].drawing)[None])[0]
    assert len(ranked) == 5 and len({label for label, _ in ranked}) == 5
    assert p.sum() == pytest.approx(1.0, abs=1e-5)
    assert ranked[0] == (model.labels[int(p.argmax())], pytest.approx(float(p.max())))
    probs = [q for _, q in ranked]
    assert probs == sorted(probs, reverse=True)
    assert model.predict(ink.to_image(records[0].drawing), top=2) == ranked[:2]


def test_update_description_names_parameters_and_training_inputs(net):
    knn = from_net(net, "knn", k=5)
    d = knn.update_description()
    assert d["kind"] == "knn"
    assert d["parameters"]["k"] == {**d["parameters"]["k"], "default": 5, "min": 1, "max": 25}
    assert [i["name"] for i in d["training_inputs"]] == ["drawing", "label"]
    nn = from_net(net, "nn").update_description()["parameters"]
    assert set(nn) >= {"epochs", "learning_rate", "mini_batch_size", "optimizer"}
    assert nn["optimizer"]["allowed"] == ["sgd", "adam"]
    for p in nn.values():
        assert "default" in p and ("allowed" in p or p["min"] <= p["default"] <= p["max"])


def test_parameters_are_checked():
    assert check_parameters("nn", {"epochs": 3})["epochs"] == 3
    for bad in ({"epochs": 0}, {"epochs": 2.5}, {"optimizer": "rmsprop"}, {"k": 3}, {"learning_rate": "x"}):
        with pytest.raises(ParameterError):
            check_parameters("nn", bad)


@pytest.mark.parametrize("kind", ["knn", "nn"])
def test_saved_model_predicts_exactly_as_before(net, records, images, tmp_path, kind):
    base = from_net(net, kind, base_extra={"holdout_words": ["cat"]})
    taught = UpdateTask(base, [Example(r.drawing, r.word) for r in records[:6]], {"augment": 1}).run()
    path = taught.save(tmp_path / "m.safetensors")
    again = UpdatableModel.load(path)
    assert again.kind == kind and again.labels == taught.labels
    assert np.array_equal(again.predict_proba(images), taught.predict_proba(images))
    assert again.meta == taught.meta and again.meta["base"]["holdout_words"] == ["cat"]
    assert again.parameters == taught.parameters


def test_broken_and_foreign_files_raise_model_file_error(net, tmp_path):
    path = from_net(net).save(tmp_path / "m.safetensors")
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    flipped = bytearray(data)
    flipped[-10] ^= 0xFF  # a weight's byte: caught by the hash
    (tmp_path / "flip.safetensors").write_bytes(bytes(flipped))
    (tmp_path / "text.safetensors").write_text("hello")
    for name in ("cut", "flip", "text", "missing"):
        with pytest.raises(ModelFileError):
            UpdatableModel.load(tmp_path / f"{name}.safetensors")
    base = checkpoint.save_net(net, tmp_path / "base.safetensors")
    with pytest.raises(ModelFileError, match="emojisketch.net"):
        UpdatableModel.load(base)  # a base net is not a personalized model...
    assert load_model(base, kind="nn").kind == "nn"  # ...but load_model wraps it
    with pytest.raises(ModelFileError):
        load_model(tmp_path / "nowhere.safetensors")


def test_a_base_net_is_loaded_with_its_base_emoji_at_the_radius_asked(net, tmp_path):
    base = checkpoint.save_net(net, tmp_path / "base.safetensors")
    default, near = load_model(base), load_model(base, prototype_radius=1.05)
    assert default.classifier.prototype_radius == DEFAULT_PROTOTYPE_RADIUS
    assert near.classifier.prototype_radius == 1.05
    np.testing.assert_allclose(near.classifier.embeddings, 1.05 * near.prototypes, atol=1e-6)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ParameterError, match="positive number"):
            load_model(base, prototype_radius=bad)
    saved = default.save(tmp_path / "personal.safetensors")
    with pytest.raises(ParameterError, match="keep the radius"):
        load_model(saved, prototype_radius=1.05)


def test_load_model_reads_a_saved_model_and_changes_its_kind(net, records, tmp_path):
    taught = UpdateTask(from_net(net, "knn"), [Example(records[0].drawing, "🐙")]).run()
    path = taught.save(tmp_path / "m.safetensors")
    assert load_model(path).kind == "knn"
    as_nn = load_model(path, kind="nn")
    assert as_nn.kind == "nn" and "🐙" in as_nn.labels and as_nn.meta["n_examples"] == 1
    back = as_nn.with_kind("knn")
    assert back.labels == taught.labels
    assert np.array_equal(back.classifier.embeddings, taught.classifier.embeddings)
    with pytest.raises(ParameterError):
        taught.with_kind("svm")


def test_example_needs_a_drawing_or_an_image(records):
    img = ink.to_image(records[0].drawing)
    assert np.array_equal(Example(None, "x", image=img).to_image(), img)
    with pytest.raises(ValueError):
        Example(None, "x").to_image()


def test_knn_base_emoji_are_prototypes_a_little_farther_out_than_user_examples(net, images):
    model = from_net(net, "knn")
    entries = model.classifier.embeddings
    np.testing.assert_allclose(entries, DEFAULT_PROTOTYPE_RADIUS * model.prototypes, atol=1e-6)
    # A user's example in exactly the direction of the query's nearest prototype, labelled
    # otherwise: at the same angle, the user's example is nearer, so it wins.
    q = model.embed(images[:1])
    nearest = int(np.argmax(model.prototypes @ q[0]))
    taught = model.derive(model.classifier.with_entries(model.prototypes[nearest][None], ["🐙"]))
    assert model.predict(images[0])[0][0] == EMOJI[nearest]
    assert taught.predict(images[0])[0][0] == "🐙"


def test_lower_precision_inference_is_close_and_leaves_the_model_as_it_was(net, images):
    model = from_net(net, kind="knn")
    low = model.with_inference(device="cpu", precision="bfloat16")
    full, approx = model.embed(images), low.embed(images)
    assert approx.dtype == np.float32
    assert np.abs(approx - full).max() < 0.05  # bfloat16 keeps ~3 significant digits
    assert (low.predict_proba(images).argmax(1) == model.predict_proba(images).argmax(1)).mean() > 0.8
    assert np.array_equal(model.embed(images), full)  # the float32 model is untouched


def test_unknown_device_or_precision_is_a_clear_error(net):
    model = from_net(net, kind="knn")
    with pytest.raises(EmojisketchError, match="precision"):
        model.with_inference(precision="int4")
    with pytest.raises(EmojisketchError, match="device"):
        model.with_inference(device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(EmojisketchError, match="no CUDA"):
            model.with_inference(device="cuda")
