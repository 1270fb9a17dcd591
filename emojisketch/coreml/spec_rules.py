"""The names of the validation rules the checker applies, where each comes from, and the
update-parameter rules (``ParameterValidator.cpp``) that several validators share."""

from __future__ import annotations

RULES: dict[str, str] = {
    # Model.cpp validateGeneric, Utils.cpp downgradeSpecificationVersion / hasIOS13Features
    "spec.version": "the specification version is set and not newer than Core ML knows",
    "spec.version_features": "the version is at least what the features used need "
                             "(updatable, k-NN, linked model, iOS 13 layers: 4)",
    # InterfaceValidators.cpp
    "interface.no_inputs": "a model has one or more inputs",
    "interface.no_outputs": "a model has one or more outputs",
    "interface.feature_name": "every feature has a name",
    "interface.feature_type": "every feature has a type",
    "interface.multiarray_shape": "MultiArray inputs have a shape; no dimension is negative",
    "interface.multiarray_dtype": "MultiArray data type is DOUBLE, FLOAT32 or INT32",
    "interface.image_size": "images have a positive width and height",
    "interface.image_colorspace": "images are RGB, BGR or GRAYSCALE",
    "interface.dictionary_key": "dictionaries have Int64 or String keys",
    "interface.optional_output": "outputs are not optional",
    "interface.optional_input": "no optional inputs to a k-NN or linked model",
    "updatable.model_type": "only neural networks, k-NN and pipelines can be updatable "
                            "(validateCanModelBeUpdatable)",
    # Validators.hpp validateClassifierInterface / validateClassifierFeatureDescriptions
    "classifier.labels": "a classifier has class labels, all of one type",
    "classifier.predicted_feature": "predictedFeatureName names an output of the label's type",
    "classifier.probabilities": "predictedProbabilitiesName names a dictionary output",
    # PipelineValidator.cpp
    "pipeline.empty": "a pipeline has one or more models",
    "pipeline.input_missing": "each model's inputs come from the pipeline or an earlier model",
    "pipeline.input_type_mismatch": "and have the same type and shape there",
    "pipeline.output_missing": "each pipeline output is produced by a model",
    "pipeline.output_type_mismatch": "with the same type",
    "pipeline.updatable_not_last": "only the last model of an updatable pipeline is updatable",
    "pipeline.last_not_updatable": "the last model of an updatable pipeline is updatable",
    "pipeline.updatable_inside_fixed": "no updatable model inside a fixed pipeline",
    "pipeline.names": "model names, if given, one per model and distinct",
    # NeuralNetworkValidator.cpp validateNeuralNetworkTopLevel / validateNeuralNetwork
    "nn.inputs": "a network has a non-optional input; inputs are images or MultiArrays "
                 "(rank 1 or 3 under rank-5 mapping)",
    "nn.no_layers": "a network has at least one layer",
    "nn.shape_mapping": "iOS 13 layers need the EXACT_ARRAY_MAPPING of MultiArray inputs",
    "nn.layer_input_missing": "each layer's inputs are produced before it",
    "nn.duplicate_output": "no two layers produce the same blob",
    "nn.output_not_produced": "every model output is produced by a layer (or is the "
                              "classifier's label/probabilities)",
    "nn.classifier_probabilities": "labelProbabilityLayerName names a blob of the network",
    # NeuralNetworkLayerValidator.cpp (the layer types we export)
    "nn.layer_io": "a layer has the number of inputs and outputs its type takes",
    "nn.layer_params": "a layer's parameters are set (padding type, nonlinearity...)",
    "nn.layer_weights": "weights and biases have the size the layer's shape needs, in one "
                        "precision",
    # UpdatableNeuralNetworkValidator.cpp
    "nn_update.no_updatable_layer": "an updatable network has at least one updatable layer",
    "nn_update.layer_type": "only convolution and inner-product layers are updatable",
    "nn_update.weights_not_updatable": "an updatable layer's weights (and bias) are updatable",
    "nn_update.name_collision": "layer and loss-layer names are distinct",
    "nn_update.loss": "exactly one loss layer (cross entropy or MSE)",
    "nn_update.loss_input_softmax": "a cross-entropy loss takes the output of a softmax "
                                    "layer (not softmaxND)",
    "nn_update.loss_target": "the loss target is not produced inside the network",
    "nn_update.optimizer": "an SGD or Adam optimizer with its learning rate, mini-batch size "
                           "(and Adam's beta1, beta2, eps)",
    "nn_update.parameter": "update parameters: defaults inside their allowed range or set, "
                           "positive where they must be",
    "nn_update.epochs": "the number of epochs is given",
    "nn_update.backprop": "no layer between an updatable layer and the loss that cannot "
                          "back-propagate",
    "nn_update.training_inputs": "training inputs: the model's input(s) and the target "
                                 "(the classifier's label, with its type)",
    # KNearestNeighborsClassifierValidator.cpp
    "knn.k": "numberOfNeighbors (k): positive default, inside its allowed range or set",
    "knn.weighting": "a weighting scheme is set",
    "knn.default_label": "a default label of the labels' type (required when there are none)",
    "knn.no_points": "labels come with data points",
    "knn.label_count": "one label per data point",
    "knn.dimension": "every data point has numberOfDimensions values",
    "knn.index": "an index type is set (a kd-tree with a positive leaf size)",
    "knn.distance": "a distance function is set",
    # LinkedModelValidator.cpp
    "linked.updatable": "a linked model is not updatable",
    "linked.link": "a linked model names its file",
    # ours
    "emojisketch.pipeline_version": "a pipeline's version is at least that of each of its models",
    "emojisketch.classifier_two_outputs": "a pipeline classifier has two distinct outputs, "
                                          "label and probabilities",
    "emojisketch.knn_input_dimension": "the k-NN's input has numberOfDimensions values",
    "emojisketch.ml_program": "no ML program (cannot be updated)",
    "emojisketch.model_type": "only model types this checker knows",
    "emojisketch.interface": "input 'drawing' (28x28 grayscale image), outputs 'label' and "
                             "'labelProbs'",
    "emojisketch.structure": "a pipeline classifier: the embedding network (or a link to "
                             "it), then the updatable k-NN or neural-network classifier",
    "emojisketch.embedding_shape": "the embedding output has its shape (D,) set",
    "emojisketch.training_inputs": "the pipeline's training inputs are 'drawing' and 'label'",
    "emojisketch.update_parameters": "each update parameter has an allowed range or set",
    "emojisketch.metadata": "author, licence with the Quick, Draw! credit, description, "
                            "version, number of examples",
}


class Report:
    def __init__(self) -> None:
        self.problems: list[tuple[str, str, str]] = []

    def add(self, rule: str, where: str, message: str) -> None:
        if rule not in RULES:
            raise KeyError(f"unknown rule {rule!r}")  # a typo in the checker, not in the spec
        self.problems.append((rule, where, message))


def check_int64_parameter(name: str, p, positive: bool, where: str, r: Report,
                          rule: str = "nn_update.parameter") -> None:
    """ParameterValidator.cpp validateInt64Parameter."""
    at = f"{where} parameter {name}"
    if positive and p.defaultValue <= 0:
        r.add(rule, at, f"the default {p.defaultValue} must be positive")
    which = p.WhichOneof("AllowedValues")
    if which == "set":
        values = list(p.set.values)
        if positive and any(v <= 0 for v in values):
            r.add(rule, at, "the allowed set holds a non-positive value")
        if p.defaultValue not in values:
            r.add(rule, at, f"the default {p.defaultValue} is not in the allowed set {values}")
    elif which == "range":
        lo, hi = p.range.minValue, p.range.maxValue
        if positive and (lo <= 0 or hi <= 0):
            r.add(rule, at, f"the allowed range [{lo}, {hi}] must be positive")
        if not lo <= p.defaultValue <= hi:
            r.add(rule, at, f"the default {p.defaultValue} is outside the allowed range "
                            f"[{lo}, {hi}]")
        if lo > hi:
            r.add(rule, at, f"the allowed range [{lo}, {hi}] is empty")


def check_double_parameter(name: str, p, where: str, r: Report) -> None:
    """ParameterValidator.cpp validateDoubleParameter."""
    if p.WhichOneof("AllowedValues") == "range":
        lo, hi = p.range.minValue, p.range.maxValue
        if not lo <= p.defaultValue <= hi:
            r.add("nn_update.parameter", f"{where} parameter {name}",
                  f"the default {p.defaultValue} is outside the allowed range [{lo}, {hi}]")


def check_classifier_outputs(spec, where: str, r: Report, int_labels: bool = False) -> None:
    """validateClassifierFeatureDescriptions: the predicted label and its probabilities."""
    desc = spec.description
    outputs = {f.name: f.type.WhichOneof("Type") for f in desc.output}
    if not desc.predictedFeatureName:
        r.add("classifier.predicted_feature", where, "the classifier has no predictedFeatureName")
    elif desc.predictedFeatureName not in outputs:
        r.add("classifier.predicted_feature", where,
              f"the predicted feature {desc.predictedFeatureName!r} is not an output")
    elif outputs[desc.predictedFeatureName] != ("int64Type" if int_labels else "stringType"):
        r.add("classifier.predicted_feature", where,
              f"the predicted feature {desc.predictedFeatureName!r} must be a "
              f"{'Int64' if int_labels else 'String'}")
    probs = desc.predictedProbabilitiesName
    if probs and outputs.get(probs) not in ("dictionaryType", "multiArrayType"):
        r.add("classifier.probabilities", where,
              f"the probabilities output {probs!r} is missing or not a dictionary")


def same_type(a, b) -> bool:
    """Comparison.cpp's FeatureType ==: kind, then image size and colour space, array
    data type, rank and (fixed) shape, dictionary key type."""
    kind = a.WhichOneof("Type")
    if kind != b.WhichOneof("Type"):
        return False
    if kind == "imageType":
        x, y = a.imageType, b.imageType
        return (x.width, x.height, x.colorSpace) == (y.width, y.height, y.colorSpace)
    if kind == "multiArrayType":
        x, y = a.multiArrayType, b.multiArrayType
        if x.dataType != y.dataType or len(x.shape) != len(y.shape):
            return False
        flexible = x.WhichOneof("ShapeFlexibility") or y.WhichOneof("ShapeFlexibility")
        return bool(flexible) or list(x.shape) == list(y.shape)
    if kind == "dictionaryType":
        return a.dictionaryType.WhichOneof("KeyType") == b.dictionaryType.WhichOneof("KeyType")
    return True
