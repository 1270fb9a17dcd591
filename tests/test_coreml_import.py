"""Round trips: teach a model a little, export it, run the file, import it, predict: the same
answers. Foreign files are refused with a clear error. The export and import commands."""

from __future__ import annotations

import numpy as np
import pytest

from emojisketch import cli
from emojisketch.checkpoint import net_tensors
from emojisketch.coreml import export, importer, interpret, specio
from emojisketch.coreml.cli_import import import_into_store
from emojisketch.errors import ModelFileError
from emojisketch.model import UpdatableModel
from emojisketch.store import Store
from emojisketch.update import UpdateTask
from test_coreml_helpers import examples, images, tiny_model, tiny_net


@pytest.fixture(scope="module")
def doodles():
    return images(per_word=2, words=8)


@pytest.fixture(scope="module")
def taught():
    """{kind: a tiny model after one update with 6 drawings of 3 new emoji}."""
    out = {}
    for kind, params in (("knn", {"augment": 0}), ("nn", {"epochs": 3, "augment": 0})):
        out[kind] = UpdateTask(tiny_model(kind), examples(), params).run()
    return out


def same_answers(a: UpdatableModel, b: UpdatableModel, doodles) -> None:
    assert a.kind == b.kind and a.labels == b.labels
    assert np.abs(a.predict_proba(doodles) - b.predict_proba(doodles)).max() < 1e-5
    assert [a.predict(im) for im in doodles[:4]] == [b.predict(im) for im in doodles[:4]]


@pytest.mark.parametrize("kind", ["knn", "nn"])
@pytest.mark.parametrize("linked", [False, True], ids=["single", "linked"])
def test_round_trip_gives_the_same_answers(taught, doodles, kind, linked, tmp_path):
    model = taught[kind]
    assert model.classifier.n_examples == 6
    path = export.export_model(model, tmp_path / "Emoji.mlmodel", linked=linked)
    result = interpret.Interpreter(path).classify(doodles)
    assert result.labels == [model.predict(im, top=1)[0][0] for im in doodles]
    back = importer.import_mlmodel(path)
    same_answers(model, back, doodles)
    assert back.classifier.n_examples == 6 and back.meta["n_examples"] == 6
    assert back.meta["imported_from"] == "Emoji.mlmodel"
    assert back.parameters == model.parameters
    # the embedding is the net's, tensor for tensor
    mine, theirs = net_tensors(model.net), net_tensors(back.net)
    assert all(np.array_equal(mine[k], theirs[k]) for k in mine
               if not k.endswith("tracked") and k != "prototypes")
    assert back.base_labels == model.base_labels
    if kind == "knn":  # the base head comes back from the k-NN's prototype entries
        assert np.abs(back.net.head_weights().numpy() - model.net.head_weights().numpy()).max() < 1e-5


def test_an_imported_model_goes_on_learning(taught, doodles, tmp_path):
    path = export.export_model(taught["nn"], tmp_path / "Emoji.mlmodel")
    back = importer.import_mlmodel(path)
    more = UpdateTask(back, examples(per_word=1, words=4), {"epochs": 2, "augment": 0}).run()
    assert "🎸" in more.labels and "🎸" not in back.labels


def test_knn_entries_added_on_a_phone_are_imported(taught, doodles, tmp_path):
    """Core ML's k-NN update appends (embedding, label) entries; the import keeps them."""
    path = export.export_model(taught["knn"], tmp_path / "Emoji.mlmodel")
    spec = specio.load_spec(path)
    knn = spec.pipelineClassifier.pipeline.models[1].kNearestNeighborsClassifier
    new = taught["knn"].embed(doodles[-1:])[0]
    knn.nearestNeighborsIndex.floatSamples.add().vector.extend(new.tolist())
    knn.stringClassLabels.vector.append("🦄")
    specio.save_spec(spec, path)
    back = importer.import_mlmodel(path)
    assert back.classifier.n_examples == 7
    assert back.predict(doodles[-1], top=1)[0][0] == "🦄"


def test_a_phone_entry_of_a_known_label_is_averaged_into_its_mean(taught, doodles, tmp_path):
    """Class means on the desktop, appended entries on the phone: the import folds them in."""
    model = taught["knn"]
    assert model.classifier.entries == "class_means"
    path = export.export_model(model, tmp_path / "Emoji.mlmodel")
    spec = specio.load_spec(path)
    knn = spec.pipelineClassifier.pipeline.models[1].kNearestNeighborsClassifier
    label = model.classifier.example_labels[0]
    knn.nearestNeighborsIndex.floatSamples.add().vector.extend(model.embed(doodles[-1:])[0].tolist())
    knn.stringClassLabels.vector.append(label)
    specio.save_spec(spec, path)
    back = importer.import_mlmodel(path)
    assert back.classifier.labels == model.classifier.labels  # no second entry for the label
    assert back.classifier.n_examples == 7
    again = model.derive(model.classifier.with_entries(model.embed(doodles[-1:]), [label]))
    assert np.abs(back.classifier.embeddings - again.classifier.embeddings).max() < 1e-6


def test_knn_of_single_examples_round_trips(doodles, tmp_path):
    model = UpdateTask(tiny_model("knn"), examples(), {"augment": 0, "entries": "examples"}).run()
    assert model.classifier.entries == "examples" and model.classifier.n_examples == 6
    back = importer.import_mlmodel(export.export_model(model, tmp_path / "Emoji.mlmodel"))
    same_answers(model, back, doodles)
    assert back.classifier.entries == "examples" and back.parameters["entries"] == "examples"


def test_export_in_the_other_kind(taught, doodles, tmp_path):
    path = export.export_model(taught["knn"], tmp_path / "Emoji.mlmodel", kind="nn")
    back = importer.import_mlmodel(path)
    assert back.kind == "nn" and set(taught["knn"].labels) == set(back.labels)


def test_lost_or_mangled_metadata_does_not_stop_an_import(taught, doodles, tmp_path):
    """Our metadata only adds what Core ML has no field for; without it the answers stand."""
    for kind in ("knn", "nn"):
        path = export.export_model(taught[kind], tmp_path / f"{kind}.mlmodel")
        spec = specio.load_spec(path)
        user = spec.description.metadata.userDefined
        user["com.emojisketch.parameters"] = "{not json"
        user["com.emojisketch.meta"] = "[]"
        user["com.emojisketch.n_base"] = "many"
        del user["com.emojisketch.replay_labels" if kind == "nn" else "com.emojisketch.kind"]
        specio.save_spec(spec, path)
        back = importer.import_mlmodel(path)
        assert back.classifier.n_base == 0 and back.classifier.n_examples == (
            len(back.classifier.labels) if kind == "knn" else 0)
        assert np.abs(back.predict_proba(doodles) - taught[kind].predict_proba(doodles)).max() < 1e-5


# --- foreign files ------------------------------------------------------------------------

def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    path = tmp_path / "junk.mlmodel"
    path.write_bytes(b"\x00\x01 certainly not a protobuf of a model \xff" * 10)
    with pytest.raises(ModelFileError, match="junk.mlmodel"):
        importer.import_mlmodel(path)
    with pytest.raises(ModelFileError, match="cannot read"):
        importer.import_mlmodel(tmp_path / "missing.mlmodel")


def test_a_core_ml_model_of_another_shape_is_refused(tmp_path, taught):
    spec, _ = export.build_specs(taught["knn"])
    lone = spec.pipelineClassifier.pipeline.models[1]  # a valid k-NN, not our pipeline
    specio.save_spec(lone, tmp_path / "knn.mlmodel")
    with pytest.raises(ModelFileError, match="not an emojisketch Core ML model"):
        importer.import_mlmodel(tmp_path / "knn.mlmodel")


def test_an_embedding_that_is_not_a_drawing_net_is_refused(tmp_path, taught):
    spec, _ = export.build_specs(taught["knn"])
    layers = spec.pipelineClassifier.pipeline.models[0].neuralNetwork.layers
    layers[2].activation.ClearField("ReLU")
    layers[2].activation.sigmoid.SetInParent()
    specio.save_spec(spec, tmp_path / "sigmoid.mlmodel")
    with pytest.raises(ModelFileError, match="not an emojisketch DrawingNet.*ReLU"):
        importer.import_mlmodel(tmp_path / "sigmoid.mlmodel")


def test_an_invalid_spec_is_refused_with_the_rule(tmp_path, taught):
    spec, _ = export.build_specs(taught["knn"])
    spec.pipelineClassifier.pipeline.models[1].kNearestNeighborsClassifier.stringClassLabels.vector.pop()
    specio.save_spec(spec, tmp_path / "bad.mlmodel")
    with pytest.raises(ModelFileError, match="knn.label_count"):
        importer.import_mlmodel(tmp_path / "bad.mlmodel")


def test_the_shipped_base_net_is_reused_when_the_weights_are_its(tmp_path, monkeypatch, taught):
    from emojisketch import checkpoint

    base_file = tmp_path / "base.safetensors"
    checkpoint.save_net(taught["knn"].net, base_file)
    monkeypatch.setattr(checkpoint, "BASE_MODEL", base_file)
    path = export.export_model(taught["knn"], tmp_path / "Emoji.mlmodel")
    back = importer.import_mlmodel(path)
    assert np.array_equal(back.net.prototypes.detach().numpy(),
                          taught["knn"].net.prototypes.detach().numpy())
    other = tiny_model("knn", seed=7)
    back = importer.import_mlmodel(export.export_model(other, tmp_path / "Other.mlmodel"))
    assert back.net.config.labels == other.net.config.labels  # rebuilt, not the base


@pytest.mark.parametrize("kind", ["knn", "nn"])
@pytest.mark.parametrize("linked", [False, True], ids=["single", "linked"])
def test_a_net_with_pooled_features_round_trips(doodles, kind, linked, tmp_path):
    params = {"augment": 0} if kind == "knn" else {"epochs": 3, "augment": 0}
    model = UpdateTask(tiny_model(kind, pooled=True), examples(), params).run()
    assert model.embed(doodles).shape == (len(doodles), 16 + 8)
    path = export.export_model(model, tmp_path / "Emoji.mlmodel", linked=linked)
    result = interpret.Interpreter(path).classify(doodles)
    assert np.abs(result.embedding - model.embed(doodles)).max() < 1e-5
    assert result.labels == [model.predict(im, top=1)[0][0] for im in doodles]
    back = importer.import_mlmodel(path)
    assert back.net.config.pooled and back.net.feature_dim == model.net.feature_dim
    same_answers(model, back, doodles)
    if kind == "knn":  # both halves of each base emoji come back from its k-NN entry
        assert np.abs(back.prototypes - model.prototypes).max() < 1e-5


def test_the_same_weights_without_pooled_features_are_not_taken_for_the_base(tmp_path, monkeypatch,
                                                                             doodles):
    """A file exported before the base net had pooled features keeps its own (shorter) ones."""
    from emojisketch import checkpoint

    base_file = tmp_path / "base.safetensors"
    checkpoint.save_net(tiny_net(pooled=True), base_file)
    monkeypatch.setattr(checkpoint, "BASE_MODEL", base_file)
    old = UpdateTask(tiny_model("knn"), examples(), {"augment": 0}).run()  # same weights, no pooled
    back = importer.import_mlmodel(export.export_model(old, tmp_path / "Old.mlmodel"))
    assert not back.net.config.pooled
    same_answers(old, back, doodles)


def test_a_pooled_tail_wired_otherwise_is_refused(tmp_path):
    spec, _ = export.build_specs(tiny_model("knn", pooled=True))
    layers = spec.pipelineClassifier.pipeline.models[0].neuralNetwork.layers
    concat = next(layer for layer in layers if layer.WhichOneof("layer") == "concat")
    concat.input[:] = list(reversed(concat.input))  # the pooled half first
    specio.save_spec(spec, tmp_path / "swapped.mlmodel")
    with pytest.raises(ModelFileError, match="not the embedding and the pooled features"):
        importer.import_mlmodel(tmp_path / "swapped.mlmodel")


# --- the commands ---------------------------------------------------------------------------

def test_export_command_writes_a_valid_model(tmp_path, taught, capsys):
    model_file = taught["nn"].save(tmp_path / "personal.safetensors")
    out = tmp_path / "Emoji.mlmodel"
    assert cli.main(["export", "--model", str(model_file), "--out", str(out), "--kind", "knn",
                     "--linked", "--verify"]) == 0
    printed = capsys.readouterr().out
    assert "knn classifier" in printed
    assert "Reference interpreter vs the app: 180 drawings" in printed and "top-1 agrees 100%" in printed
    assert importer.import_mlmodel(out).kind == "knn"
    assert len(list(tmp_path.glob(export.LINK_PREFIX + "*.mlmodel"))) == 1
    assert cli.main(["export", "--model", str(model_file), "--out", str(tmp_path / "x.txt")]) == 1
    assert "must end in .mlmodel" in capsys.readouterr().err


def test_export_command_defaults_to_the_stores_model(tmp_path, taught, emojisketch_home, capsys):
    with Store() as store:
        ids = [store.add_example(e.drawing, e.label) for e in examples()]
        store.save_model(taught["knn"], ids)
    out = tmp_path / "Emoji.mlmodel"
    assert cli.main(["export", "--out", str(out)]) == 0
    assert "your personalized model" in capsys.readouterr().out
    assert importer.recorded_includes(out) == sorted(ids)


def test_import_command_makes_it_the_personalized_model(tmp_path, taught, doodles, capsys):
    out = export.export_model(taught["nn"], tmp_path / "Emoji.mlmodel", includes=[1, 2, 99])
    with Store() as store:
        store.add_example(examples()[0].drawing, "🍏")  # id 1 exists here; 2 and 99 do not
    assert cli.main(["import", str(out)]) == 0
    assert "now your personalized model" in capsys.readouterr().out
    with Store() as store:
        current = store.load_model()
        assert store.current_includes() == {1}
    same_answers(taught["nn"], current, doodles)


def test_import_into_store_refuses_a_foreign_file_and_keeps_the_model(tmp_path, taught):
    junk = tmp_path / "junk.mlmodel"
    junk.write_bytes(b"junk")
    with Store() as store:
        store.save_model(taught["knn"], [])
        with pytest.raises(ModelFileError):
            import_into_store(junk, store)
        assert store.load_model().kind == "knn"
    assert cli.main(["import", str(junk)]) == 1


def test_tiny_net_is_not_trivial():
    """The round trips above mean something only if drawings get different embeddings."""
    from emojisketch.model import from_net

    emb = from_net(tiny_net()).embed(images(per_word=1, words=6))
    d = ((emb[:, None] - emb[None]) ** 2).sum(-1)
    assert d[np.triu_indices(len(d), 1)].min() > 1e-3


def test_a_net_with_the_1x1_widening_round_trips_tensor_for_tensor(doodles, tmp_path):
    """The shipped net widens its last block with a 1x1 convolution: exported and read back,
    it is the same net (the widening's weights and batch norm included)."""
    model = UpdateTask(tiny_model("knn", expand=12), examples(), {"augment": 0}).run()
    path = export.export_model(model, tmp_path / "Wide.mlmodel")
    back = importer.import_mlmodel(path)
    assert back.net.config.expand == 12
    mine, theirs = net_tensors(model.net), net_tensors(back.net)
    assert {k for k in mine if k.startswith("expand")} == {k for k in theirs if k.startswith("expand")}
    assert all(np.array_equal(mine[k], theirs[k]) for k in mine
               if not k.endswith("tracked") and k != "prototypes")
    same_answers(model, back, doodles)
