"""Core ML's validation rules for the specs we export, ported to Python, each with a name.

coremltools on Linux saves a spec without validating it; an iPhone validates it when it
compiles the model and refuses it with one message. This checker applies the rules of Core
ML's C++ validators (coremltools ``mlmodel/src/``: ``Model.cpp``, ``Utils.cpp``,
``Validation/InterfaceValidators.cpp``, ``PipelineValidator.cpp``,
``KNearestNeighborsClassifierValidator.cpp``, ``ParameterValidator.cpp``,
``NeuralNetwork/NeuralNetworkValidator.cpp``, ``NeuralNetworkLayerValidator.cpp`` and
``UpdatableNeuralNetworkValidator.cpp``, ``LinkedModelValidator.cpp``) to a spec and returns
every problem found, each tagged with the rule it breaks (:data:`RULES`). Rules whose name
starts with ``emojisketch.`` are not Core ML's: they are what an export of ours must also
satisfy (seen to fail on a device, or needed by the app on the phone).

Covered: what our exports use (pipeline classifiers, neural networks and classifiers of
iOS 12 layers, updatable neural networks, k-NN classifiers, linked models). Not ported:
the rank-5 shape inference of ``NeuralNetworkShapes.cpp`` (the interpreter checks shapes by
running the model) and the validators of layer and model types we never write.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ExportError
from . import specio
from .export_rules import check_product
from .spec_check_nn import IOS12_LAYERS, check_neural_network
from .spec_rules import RULES, Report, check_classifier_outputs, check_int64_parameter, same_type

NEWEST_SPEC_VERSION = 10  # coremltools 9 writes up to 10 (iOS 26)
__all__ = ["Problem", "RULES", "check", "check_export", "validate", "validate_export"]


@dataclass(frozen=True)
class Problem:
    rule: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.where}: {self.message}"


# --- features by version (Utils.cpp: hasIOS13Features and friends) ---------------------------

def _network(spec):
    kind = spec.WhichOneof("Type")
    return getattr(spec, kind) if kind in ("neuralNetwork", "neuralNetworkClassifier",
                                           "neuralNetworkRegressor") else None


def required_version(spec) -> tuple[int, str]:
    """(lowest specification version that has every feature the model uses, the feature)."""
    if spec.isUpdatable:
        return 4, "an updatable model"
    kind = spec.WhichOneof("Type")
    if kind == "kNearestNeighborsClassifier":
        return 4, "a k-NN classifier"
    if kind == "linkedModel":
        return 4, "a linked model"
    if kind == "mlProgram":
        return 6, "an ML program"
    nn = _network(spec)
    if nn is not None:
        if nn.arrayInputShapeMapping != 0 or nn.imageInputShapeMapping != 0:
            return 4, "non-rank-5 input shape mappings"
        newer = [layer.name for layer in nn.layers if layer.WhichOneof("layer") not in IOS12_LAYERS]
        if newer:
            return 4, f"layers newer than iOS 12 ({newer[0]!r})"
    best = (1, "")
    for model in specio.sub_models(spec):
        best = max(best, required_version(model), key=lambda t: t[0])
    return best


# --- interface (InterfaceValidators.cpp) -----------------------------------------------------

def _check_feature(feature, where: str, is_input: bool, r: Report) -> None:
    if not feature.name:
        r.add("interface.feature_name", where, "a feature description has an empty name")
        return
    kind = feature.type.WhichOneof("Type")
    at = f"{where} feature {feature.name!r}"
    if kind is None:
        r.add("interface.feature_type", at, "has no type")
    elif kind == "multiArrayType":
        array = feature.type.multiArrayType
        flexible = array.WhichOneof("ShapeFlexibility") is not None
        if is_input and not len(array.shape) and not flexible:
            r.add("interface.multiarray_shape", at, "has missing shape constraints")
        if any(d < 0 for d in array.shape):
            r.add("interface.multiarray_shape", at, "has a negative dimension")
        types = specio.proto().ArrayFeatureType
        if array.dataType not in (types.DOUBLE, types.FLOAT32, types.INT32):
            r.add("interface.multiarray_dtype", at, "must be DOUBLE, FLOAT32 or INT32")
    elif kind == "imageType":
        image = feature.type.imageType
        flexible = image.WhichOneof("SizeFlexibility") is not None
        if not flexible and (image.width <= 0 or image.height <= 0):
            r.add("interface.image_size", at, "has a missing or non-positive width or height")
        spaces = specio.proto().ImageFeatureType
        if image.colorSpace not in (spaces.GRAYSCALE, spaces.RGB, spaces.BGR):
            r.add("interface.image_colorspace", at, "must be RGB, BGR or GRAYSCALE")
    elif kind == "dictionaryType" and feature.type.dictionaryType.WhichOneof("KeyType") is None:
        r.add("interface.dictionary_key", at, "must have Int64 or String keys")


def _check_interface(spec, where: str, r: Report) -> None:
    desc = spec.description
    if not len(desc.input):
        r.add("interface.no_inputs", where, "models must have one or more inputs")
    if not len(desc.output):
        r.add("interface.no_outputs", where, "models must have one or more outputs")
    for f in desc.input:
        _check_feature(f, f"{where} input", True, r)
    # validateOptional: only networks (checked there), pipelines and a few others take
    # optional inputs; none of the types we export besides those does
    kind = spec.WhichOneof("Type")
    if kind in ("kNearestNeighborsClassifier", "linkedModel"):
        for f in desc.input:
            if f.type.isOptional:
                r.add("interface.optional_input", f"{where} input {f.name!r}",
                      "inputs cannot be optional to this type of model")
    for f in desc.output:
        _check_feature(f, f"{where} output", False, r)
        if f.type.isOptional:
            r.add("interface.optional_output", f"{where} output {f.name!r}",
                  "outputs cannot be optional")


# --- pipelines (PipelineValidator.cpp) -------------------------------------------------------

def _check_pipeline(spec, where: str, r: Report) -> None:
    pipeline = specio.pipeline_of(spec)
    models = list(pipeline.models)
    if not models:
        r.add("pipeline.empty", where, "a pipeline must contain one or more models")
        return
    known = {f.name: f.type for f in spec.description.input}
    for i, model in enumerate(models):
        at = f"{where}.models[{i}]"
        for f in model.description.input:
            if f.name not in known:
                r.add("pipeline.input_missing", at,
                      f"its input {f.name!r} is neither a pipeline input nor an earlier "
                      "model's output")
            elif not same_type(f.type, known[f.name]):
                r.add("pipeline.input_type_mismatch", at,
                      f"its input {f.name!r} does not match the type (or shape) it is given")
        _check_model(model, at, r)
        known.update({f.name: f.type for f in model.description.output})
    for f in spec.description.output:
        if f.name not in known:
            r.add("pipeline.output_missing", where,
                  f"the output {f.name!r} is produced by no model")
        elif not same_type(f.type, known[f.name]):
            r.add("pipeline.output_type_mismatch", where,
                  f"the output {f.name!r} does not match the type its model produces")
    if spec.isUpdatable:
        for i, model in enumerate(models[:-1]):
            if model.isUpdatable:
                r.add("pipeline.updatable_not_last", f"{where}.models[{i}]",
                      "only the last model of an updatable pipeline can be updatable")
        if not models[-1].isUpdatable:
            r.add("pipeline.last_not_updatable", where,
                  "the last model of an updatable pipeline must be marked updatable")
    else:
        for i, model in enumerate(models):
            if model.isUpdatable:
                r.add("pipeline.updatable_inside_fixed", f"{where}.models[{i}]",
                      "an updatable model inside a pipeline that is not updatable")
    names = list(pipeline.names)
    if names and len(names) != len(models):
        r.add("pipeline.names", where, f"{len(names)} names for {len(models)} models")
    elif len(set(names)) != len(names):
        r.add("pipeline.names", where, "two models of the pipeline have the same name")


# --- k-NN (KNearestNeighborsClassifierValidator.cpp) -----------------------------------------

def _check_knn(spec, where: str, r: Report) -> None:
    knn = spec.kNearestNeighborsClassifier
    check_int64_parameter("numberOfNeighbors", knn.numberOfNeighbors, True, where, r, "knn.k")
    if knn.WhichOneof("WeightingScheme") is None:
        r.add("knn.weighting", where, "a k-NN classifier requires a weighting scheme")
    labels_case = knn.WhichOneof("ClassLabels")
    default_case = knn.WhichOneof("DefaultClassLabel")
    n_labels = max(len(knn.stringClassLabels.vector), len(knn.int64ClassLabels.vector))
    mixed = "the class labels and the default label have different types"
    if default_case == "defaultStringLabel" and labels_case not in (None, "stringClassLabels"):
        r.add("knn.default_label", where, mixed)
    elif default_case == "defaultInt64Label" and labels_case not in (None, "int64ClassLabels"):
        r.add("knn.default_label", where, mixed)
    elif default_case is None and n_labels == 0:
        r.add("knn.default_label", where, "without class labels a default class label is required")
    if labels_case == "stringClassLabels" and len(knn.int64ClassLabels.vector):
        r.add("classifier.labels", where, "String class labels must be exclusively String")
    int_labels = (labels_case == "int64ClassLabels" or
                  (labels_case is None and default_case == "defaultInt64Label"))
    check_classifier_outputs(spec, where, r, int_labels)
    index = knn.nearestNeighborsIndex
    samples = index.floatSamples
    if not len(samples) and n_labels:
        r.add("knn.no_points", where, "the k-NN classifier has labels but no data points")
    elif len(samples) != n_labels:
        r.add("knn.label_count", where, f"{n_labels} labels for {len(samples)} examples")
    bad = [i for i, s in enumerate(samples) if len(s.vector) != index.numberOfDimensions]
    if bad:
        r.add("knn.dimension", where, f"example {bad[0]} has {len(samples[bad[0]].vector)} "
              f"values, not numberOfDimensions = {index.numberOfDimensions}")
    backend = index.WhichOneof("IndexType")
    if backend is None:
        r.add("knn.index", where, "the k-NN classifier has no index type")
    elif backend == "singleKdTreeIndex" and index.singleKdTreeIndex.leafSize <= 0:
        r.add("knn.index", where, "a kd-tree index needs a positive leaf size")
    if index.WhichOneof("DistanceFunction") is None:
        r.add("knn.distance", where, "the k-NN classifier requires a distance function")
    inputs = spec.description.input
    if len(inputs) == 1 and inputs[0].type.WhichOneof("Type") == "multiArrayType":
        size = 1
        for d in inputs[0].type.multiArrayType.shape:
            size *= d
        if size != index.numberOfDimensions:
            r.add("emojisketch.knn_input_dimension", where, f"the input {inputs[0].name!r} has "
                  f"{size} values but the index has {index.numberOfDimensions} dimensions")


# --- linked models (LinkedModelValidator.cpp) ------------------------------------------------

def _check_linked(spec, where: str, r: Report) -> None:
    if spec.isUpdatable:
        r.add("linked.updatable", where, "a linked model cannot be marked updatable")
    if spec.linkedModel.WhichOneof("LinkType") is None:
        r.add("linked.link", where, "LinkedModel.LinkType is not set")
    elif not spec.linkedModel.linkedModelFile.linkedModelFileName.defaultValue:
        r.add("linked.link", where, "the linked model's file name is empty")


# --- the model (Model.cpp: validateGeneric, then the type's validator) -----------------------

UPDATABLE_KINDS = ("neuralNetwork", "neuralNetworkRegressor", "neuralNetworkClassifier",
                   "kNearestNeighborsClassifier", "pipeline", "pipelineRegressor",
                   "pipelineClassifier")


def _check_model(spec, where: str, r: Report) -> None:
    version = spec.specificationVersion
    if version == 0:
        r.add("spec.version", where, "the specification version is missing")
    elif version > NEWEST_SPEC_VERSION:
        r.add("spec.version", where, f"specification version {version} is newer than any Core ML")
    need, why = required_version(spec)
    if 0 < version < need:
        r.add("spec.version_features", where,
              f"specification version {version} is below {need}, which {why} needs")
    for model in specio.sub_models(spec):
        if model.specificationVersion > version > 0:
            r.add("emojisketch.pipeline_version", where, f"version {version} is below that of "
                  f"a model it contains ({model.specificationVersion})")
            break
    _check_interface(spec, where, r)
    kind = spec.WhichOneof("Type")
    if spec.isUpdatable and kind not in UPDATABLE_KINDS:
        r.add("updatable.model_type", where, f"a {kind} model cannot be updated on device")
    if kind in ("pipeline", "pipelineClassifier", "pipelineRegressor"):
        _check_pipeline(spec, where, r)
        if kind == "pipelineClassifier":
            check_classifier_outputs(spec, where, r)
            desc = spec.description
            probs = desc.predictedProbabilitiesName
            if not probs or probs == desc.predictedFeatureName:
                r.add("emojisketch.classifier_two_outputs", where, "a classifier needs two "
                      "distinct outputs: the label and the probabilities (label, labelProbs)")
    elif kind in ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor"):
        check_neural_network(spec, where, r)
    elif kind == "kNearestNeighborsClassifier":
        _check_knn(spec, where, r)
    elif kind == "linkedModel":
        _check_linked(spec, where, r)
    elif kind == "mlProgram":
        r.add("emojisketch.ml_program", where, "an ML program cannot be updated on device "
              "nor checked here; export a neural network")
    else:
        r.add("emojisketch.model_type", where, f"{kind} models are not checked here")


def check(spec) -> list[Problem]:
    """Every Core ML validation rule the spec breaks (empty: it passes)."""
    r = Report()
    _check_model(spec, "model", r)
    return [Problem(*p) for p in r.problems]


def validate(spec) -> None:
    """Raise ExportError naming each broken rule."""
    _raise(check(spec))


def _raise(problems: list[Problem]) -> None:
    if problems:
        rules = ", ".join(dict.fromkeys(p.rule for p in problems))
        detail = "\n".join(f"  {p}" for p in problems)
        raise ExportError(f"the Core ML model breaks {rules}:\n{detail}")


# --- what an emojisketch export must be besides valid ----------------------------------------

def check_export(spec) -> list[Problem]:
    """:func:`check`, plus the shape of an emojisketch export (see the module docstring)."""
    r = Report()
    _check_model(spec, "model", r)
    check_product(spec, r)
    return [Problem(*p) for p in r.problems]


def validate_export(spec) -> None:
    _raise(check_export(spec))
