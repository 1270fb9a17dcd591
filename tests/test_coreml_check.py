"""The validation checker: a good export passes; each deliberately broken spec fails with the
name of the Core ML rule it breaks (ported from coremltools' C++ validators)."""

from __future__ import annotations

import pytest

from emojisketch.coreml import export, spec_check
from emojisketch.coreml.spec_rules import RULES
from emojisketch.errors import ExportError
from test_coreml_helpers import tiny_model


@pytest.fixture(scope="module")
def good():
    """{kind: the pipeline spec of a fresh export} (built once; tests mutate copies)."""
    return {kind: export.build_specs(tiny_model(kind))[0] for kind in ("knn", "nn")}


def copy(spec):
    new = type(spec)()
    new.CopyFrom(spec)
    return new


def embedding_of(spec):
    return spec.pipelineClassifier.pipeline.models[0]


def classifier_of(spec):
    return spec.pipelineClassifier.pipeline.models[1]


def head_of(spec):
    return classifier_of(spec).neuralNetworkClassifier


def rules(spec) -> set[str]:
    return {p.rule for p in spec_check.check_export(spec)}


@pytest.mark.parametrize("kind", ["knn", "nn"])
def test_a_good_export_passes_every_rule(good, kind):
    assert spec_check.check_export(good[kind]) == []
    spec_check.validate_export(good[kind])  # does not raise
    assert good[kind].specificationVersion == 4


def test_the_embedding_alone_is_a_valid_model(good):
    assert spec_check.check(embedding_of(good["knn"])) == []


# --- breakages, each with the rule it must be reported under ------------------------------

def version_1(s):
    s.specificationVersion = 1  # what a coremltools PipelineClassifier leaves


def updatable_embedding(s):
    embedding_of(s).isUpdatable = True


def last_not_updatable(s):
    classifier_of(s).isUpdatable = False


def knn_k_out_of_range(s):
    classifier_of(s).kNearestNeighborsClassifier.numberOfNeighbors.defaultValue = 30  # range 1-25


def knn_k_zero(s):
    k = classifier_of(s).kNearestNeighborsClassifier.numberOfNeighbors
    k.defaultValue, k.range.minValue = 0, 0


def knn_no_weighting(s):
    classifier_of(s).kNearestNeighborsClassifier.ClearField("inverseDistanceWeighting")


def knn_short_sample(s):
    classifier_of(s).kNearestNeighborsClassifier.nearestNeighborsIndex.floatSamples[2].vector.pop()


def knn_extra_label(s):
    classifier_of(s).kNearestNeighborsClassifier.stringClassLabels.vector.append("🦄")


def knn_no_index(s):
    classifier_of(s).kNearestNeighborsClassifier.nearestNeighborsIndex.ClearField("linearIndex")


def knn_no_distance(s):
    index = classifier_of(s).kNearestNeighborsClassifier.nearestNeighborsIndex
    index.ClearField("squaredEuclideanDistance")


def embedding_without_shape(s):
    embedding_of(s).description.output[0].type.multiArrayType.ClearField("shape")


def one_classifier_output(s):
    s.description.predictedProbabilitiesName = ""
    del s.description.output[1]


def no_pipeline_training_label(s):
    del s.description.trainingInput[1]


def no_credit(s):
    s.description.metadata.license = "MIT"


def softmax_nd_before_loss(s):
    layer = head_of(s).layers[1]
    layer.ClearField("softmax")
    layer.softmaxND.axis = -1


def head_without_training_label(s):
    del classifier_of(s).description.trainingInput[1]


def head_training_label_as_int(s):
    classifier_of(s).description.trainingInput[1].type.int64Type.SetInParent()


def updatable_softmax(s):
    head_of(s).layers[1].isUpdatable = True


def fixed_weights(s):
    head_of(s).layers[0].innerProduct.weights.isUpdatable = False


def no_updatable_layer(s):
    head_of(s).layers[0].isUpdatable = False


def l2norm_between_head_and_loss(s):
    nn = head_of(s)
    head, softmax = list(nn.layers)
    softmax.input[0] = "normed"
    norm = type(head)(name="norm", input=["logits"], output=["normed"])
    norm.l2normalize.epsilon = 1e-6  # L2 normalise cannot back-propagate in Core ML 3
    del nn.layers[:]
    nn.layers.extend([head, norm, softmax])


def loss_target_inside(s):
    head_of(s).updateParams.lossLayers[0].categoricalCrossEntropyLossLayer.target = "logits"


def two_losses(s):
    losses = head_of(s).updateParams.lossLayers
    losses.add().CopyFrom(losses[0])
    losses[1].name = "loss2"


def name_collision(s):
    head_of(s).updateParams.lossLayers[0].name = "head"


def no_optimizer(s):
    head_of(s).updateParams.ClearField("optimizer")


def adam_without_beta1(s):
    head_of(s).updateParams.optimizer.adamOptimizer.ClearField("beta1")


def learning_rate_out_of_range(s):
    head_of(s).updateParams.optimizer.adamOptimizer.learningRate.defaultValue = 5.0


def batch_size_zero(s):
    batch = head_of(s).updateParams.optimizer.adamOptimizer.miniBatchSize
    batch.defaultValue, batch.range.minValue = 0, 0


def no_epochs(s):
    head_of(s).updateParams.ClearField("epochs")


def epochs_without_range(s):
    head_of(s).updateParams.epochs.ClearField("range")


def head_weights_truncated(s):
    head_of(s).layers[0].innerProduct.weights.floatValue.pop()


def conv_weights_truncated(s):
    embedding_of(s).neuralNetwork.layers[0].convolution.weights.floatValue.pop()


def conv_without_padding(s):
    embedding_of(s).neuralNetwork.layers[0].convolution.ClearField("same")


def layer_reads_unknown_blob(s):
    embedding_of(s).neuralNetwork.layers[3].input[0] = "nowhere"


def two_layers_one_output(s):
    layers = embedding_of(s).neuralNetwork.layers
    layers[4].output[0] = layers[3].output[0]


def no_class_labels(s):
    head_of(s).ClearField("stringClassLabels")


def probabilities_blob_missing(s):
    head_of(s).labelProbabilityLayerName = "probs"


def image_without_size(s):
    for model in (s, embedding_of(s)):
        model.description.input[0].type.imageType.width = 0


def optional_knn_input(s):
    classifier_of(s).description.input[0].type.isOptional = True


def optional_output(s):
    s.description.output[0].type.isOptional = True


def linked_without_name(s):
    link = export.link_spec(embedding_of(s), "X.mlmodel")
    link.linkedModel.linkedModelFile.linkedModelFileName.defaultValue = ""
    embedding_of(s).CopyFrom(link)


BROKEN = [
    ("knn", version_1, "spec.version_features"),
    ("nn", version_1, "spec.version_features"),
    ("knn", updatable_embedding, "pipeline.updatable_not_last"),
    ("nn", last_not_updatable, "pipeline.last_not_updatable"),
    ("knn", knn_k_out_of_range, "knn.k"),
    ("knn", knn_k_zero, "knn.k"),
    ("knn", knn_no_weighting, "knn.weighting"),
    ("knn", knn_short_sample, "knn.dimension"),
    ("knn", knn_extra_label, "knn.label_count"),
    ("knn", knn_no_index, "knn.index"),
    ("knn", knn_no_distance, "knn.distance"),
    ("knn", embedding_without_shape, "pipeline.input_type_mismatch"),
    ("knn", embedding_without_shape, "emojisketch.embedding_shape"),
    ("knn", one_classifier_output, "emojisketch.classifier_two_outputs"),
    ("knn", no_pipeline_training_label, "emojisketch.training_inputs"),
    ("nn", no_credit, "emojisketch.metadata"),
    ("nn", softmax_nd_before_loss, "nn_update.loss_input_softmax"),
    ("nn", softmax_nd_before_loss, "nn.shape_mapping"),
    ("nn", head_without_training_label, "nn_update.training_inputs"),
    ("nn", head_training_label_as_int, "nn_update.training_inputs"),
    ("nn", updatable_softmax, "nn_update.layer_type"),
    ("nn", fixed_weights, "nn_update.weights_not_updatable"),
    ("nn", no_updatable_layer, "nn_update.no_updatable_layer"),
    ("nn", l2norm_between_head_and_loss, "nn_update.backprop"),
    ("nn", loss_target_inside, "nn_update.loss_target"),
    ("nn", two_losses, "nn_update.loss"),
    ("nn", name_collision, "nn_update.name_collision"),
    ("nn", no_optimizer, "nn_update.optimizer"),
    ("nn", adam_without_beta1, "nn_update.optimizer"),
    ("nn", learning_rate_out_of_range, "nn_update.parameter"),
    ("nn", batch_size_zero, "nn_update.parameter"),
    ("nn", no_epochs, "nn_update.epochs"),
    ("nn", epochs_without_range, "emojisketch.update_parameters"),
    ("nn", head_weights_truncated, "nn.layer_weights"),
    ("knn", conv_weights_truncated, "nn.layer_weights"),
    ("knn", conv_without_padding, "nn.layer_params"),
    ("knn", layer_reads_unknown_blob, "nn.layer_input_missing"),
    ("knn", two_layers_one_output, "nn.duplicate_output"),
    ("nn", no_class_labels, "classifier.labels"),
    ("nn", probabilities_blob_missing, "nn.classifier_probabilities"),
    ("knn", image_without_size, "interface.image_size"),
    ("knn", linked_without_name, "linked.link"),
    ("knn", optional_knn_input, "interface.optional_input"),
    ("nn", optional_output, "interface.optional_output"),
]


@pytest.mark.parametrize("kind,breakage,rule", BROKEN,
                         ids=[f"{k}-{b.__name__}-{r}" for k, b, r in BROKEN])
def test_each_broken_spec_fails_with_its_rule(good, kind, breakage, rule):
    assert rule in RULES
    spec = copy(good[kind])
    breakage(spec)
    found = rules(spec)
    assert rule in found, f"expected {rule}, found {sorted(found)}"
    with pytest.raises(ExportError, match=rule.replace(".", r"\.")):
        spec_check.validate_export(spec)


def test_the_breakage_list_covers_most_rules():
    """Every Core ML rule family the checker ports is exercised above at least once."""
    exercised = {rule for _, _, rule in BROKEN}
    families = {rule.split(".")[0] for rule in exercised}
    assert {"spec", "pipeline", "knn", "nn", "nn_update", "classifier", "interface",
            "linked", "emojisketch"} <= families
    assert len(exercised) >= 35


def test_required_version_follows_the_features_used(good):
    assert spec_check.required_version(embedding_of(good["knn"]))[0] == 1  # iOS 12 layers only
    assert spec_check.required_version(classifier_of(good["knn"]))[0] == 4  # k-NN, updatable
    spec = copy(good["nn"])
    softmax_nd_before_loss(spec)
    classifier_of(spec).isUpdatable = False
    assert spec_check.required_version(classifier_of(spec)) == (4, "layers newer than iOS 12 ('softmax')")
