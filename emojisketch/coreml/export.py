"""Export an :class:`~emojisketch.model.UpdatableModel` as a Core ML 3 model an iPhone can keep
training: ``export_model(model, "Emoji.mlmodel")``.

The file is a pipeline classifier (specification version 4)::

    drawing (28x28 grayscale image) -> the embedding network (:mod:`.embedding`) -> embedding (D,)
        -> the updatable classifier -> label (the emoji), labelProbs (emoji -> probability)

* ``knn``: a KNearestNeighborsClassifier holding every entry of the model's k-NN (the base
  emoji's prototypes, then each example the user taught), linear index, squared Euclidean
  distance, inverse-distance weighting; update parameter ``numberOfNeighbors`` (k).
* ``nn``: a NeuralNetworkClassifier built with NeuralNetworkBuilder: an updatable inner
  product (the trained head) and a softmax, a categorical cross-entropy loss on it, SGD or
  Adam; update parameters epochs, learning rate and mini-batch size (with their ranges).

Training inputs are ``drawing`` and ``label``. ``linked=True`` writes the embedding once, as its
own file beside the model (``EmojisketchEmbedding-<hash>.mlmodel``), and the model links to
its compiled form with a LinkedModel, so several users' models can share one embedding.

Every spec passes :func:`.spec_check.check_export` before a byte is written; files are
written atomically (the embedding first, so a model never links to a missing file).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .. import checkpoint
from ..errors import ExportError
from . import embedding, spec_check, specio

LABEL, PROBS = "label", "labelProbs"
LINK_PREFIX = "EmojisketchEmbedding-"
AUTHOR = "emojisketch"
LICENSE = ("emojisketch: MIT licence. The base drawing model was trained on the "
           f"{specio.CREDIT} (https://github.com/googlecreativelab/quickdraw-dataset).")
KEY = "com.emojisketch."

Progress = Callable[[float, str], None]


def _package_version() -> str:
    try:
        from importlib.metadata import version  # noqa: PLC0415

        return version("emojisketch")
    except Exception:  # noqa: BLE001 - a source checkout without metadata
        return "0"


# --- the classifiers ----------------------------------------------------------------------

def _describe_classifier_io(spec, dim: int) -> None:
    desc = spec.description
    desc.ClearField("input"), desc.ClearField("output"), desc.ClearField("trainingInput")
    specio.describe_array(desc.input.add(), embedding.OUTPUT, (dim,), embedding.OUTPUT_DOC)
    specio.describe_string(desc.output.add(), LABEL, "The most likely emoji.")
    specio.describe_probs(desc.output.add(), PROBS, "The probability of each emoji.")
    desc.predictedFeatureName, desc.predictedProbabilitiesName = LABEL, PROBS
    specio.describe_array(desc.trainingInput.add(), embedding.OUTPUT, (dim,), embedding.OUTPUT_DOC)
    specio.describe_string(desc.trainingInput.add(), LABEL, "The emoji the drawing means.")


def knn_spec(classifier, param_ranges: dict) -> object:
    """An updatable KNearestNeighborsClassifier holding every entry of ``classifier``."""
    spec = specio.new_model()
    spec.specificationVersion = specio.SPEC_VERSION
    spec.isUpdatable = True
    dim = classifier.dim
    _describe_classifier_io(spec, dim)
    knn = spec.kNearestNeighborsClassifier
    index = knn.nearestNeighborsIndex
    index.numberOfDimensions = dim
    for row in np.asarray(classifier.embeddings, dtype=np.float32):
        index.floatSamples.add().vector.extend(row.tolist())
    index.linearIndex.SetInParent()
    index.squaredEuclideanDistance.SetInParent()
    knn.inverseDistanceWeighting.SetInParent()
    k = param_ranges["k"]
    knn.numberOfNeighbors.defaultValue = int(classifier.k)
    knn.numberOfNeighbors.range.minValue = int(k["min"])
    knn.numberOfNeighbors.range.maxValue = int(k["max"])
    knn.stringClassLabels.vector.extend(classifier.labels)
    # what an empty k-NN answers; ours always has the base prototypes, but the field is required
    knn.defaultStringLabel = classifier.labels[0] if classifier.labels else ""
    return spec


def head_spec(classifier, parameters: dict, param_ranges: dict) -> object:
    """An updatable NeuralNetworkClassifier: inner product (the head) -> softmax -> labelProbs,
    trained with categorical cross entropy against ``label``."""
    builder_mod = specio.builder_module()
    from coremltools.models import datatypes  # noqa: PLC0415
    from coremltools.models.neural_network import AdamParams, SgdParams  # noqa: PLC0415

    dim, n = classifier.dim, len(classifier.classes)
    b = builder_mod.NeuralNetworkBuilder([(embedding.OUTPUT, datatypes.Array(dim))],
                                         [(PROBS, datatypes.Array(n))], mode="classifier",
                                         use_float_arraytype=True)
    b.add_inner_product("head", W=np.asarray(classifier.weight, np.float32),
                        b=np.asarray(classifier.bias, np.float32), input_channels=dim,
                        output_channels=n, has_bias=True, input_name=embedding.OUTPUT,
                        output_name="logits")
    b.add_softmax("softmax", "logits", PROBS)
    b.set_class_labels(list(classifier.classes), predicted_feature_name=LABEL,
                       prediction_blob=PROBS)
    b.make_updatable(["head"])
    with contextlib.redirect_stdout(io.StringIO()):  # the builder prints what it adds
        b.set_categorical_cross_entropy_loss("loss", input=PROBS)
    lr, batch = param_ranges["learning_rate"], param_ranges["mini_batch_size"]
    if parameters["optimizer"] == "sgd":
        opt = SgdParams(lr=parameters["learning_rate"], batch=parameters["mini_batch_size"],
                        momentum=parameters["momentum"])
        mom = param_ranges["momentum"]
        opt.set_momentum(parameters["momentum"], mom["min"], mom["max"])
    else:
        opt = AdamParams(lr=parameters["learning_rate"], batch=parameters["mini_batch_size"])
    opt.set_lr(parameters["learning_rate"], lr["min"], lr["max"])
    (b.set_sgd_optimizer if parameters["optimizer"] == "sgd" else b.set_adam_optimizer)(opt)
    update = b.nn_spec.updateParams
    sgd_or_adam = getattr(update.optimizer, update.optimizer.WhichOneof("OptimizerType"))
    sgd_or_adam.miniBatchSize.ClearField("set")  # the builder writes a one-value set
    sgd_or_adam.miniBatchSize.range.minValue = int(batch["min"])
    sgd_or_adam.miniBatchSize.range.maxValue = int(batch["max"])
    epochs = param_ranges["epochs"]
    update.epochs.defaultValue = int(parameters["epochs"])
    update.epochs.range.minValue = int(epochs["min"])
    update.epochs.range.maxValue = int(epochs["max"])
    spec = b.spec
    spec.specificationVersion = specio.SPEC_VERSION
    _describe_classifier_io(spec, dim)
    return spec


# --- the pipeline --------------------------------------------------------------------------

def embedding_key(net) -> str:
    """A short hash of the embedding's weights (and whether its features carry the pooled
    ones, which adds layers): the shared embedding file's name."""
    tensors = {k: v for k, v in checkpoint.net_tensors(net).items()
               if k not in ("prototypes", "pooled_prototypes")
               and not k.endswith("num_batches_tracked")}
    if net.config.pooled:
        tensors["features.pooled"] = np.ones(1, np.uint8)
    return checkpoint.tensors_sha256(tensors)[:16]


def linked_embedding_file(net) -> str:
    return f"{LINK_PREFIX}{embedding_key(net)}.mlmodel"


def link_spec(embedding_model, file_name: str) -> object:
    """A LinkedModel standing for the embedding, found (compiled) beside the model or in the app."""
    spec = specio.new_model()
    spec.specificationVersion = specio.SPEC_VERSION
    spec.description.input.extend(embedding_model.description.input)
    spec.description.output.extend(embedding_model.description.output)
    link = spec.linkedModel.linkedModelFile
    link.linkedModelFileName.defaultValue = file_name + "c"  # a device loads the .mlmodelc
    link.linkedModelSearchPath.defaultValue = ".:$BUNDLE_MAIN"
    return spec


def _memory(user, data_key: str, labels_key: str, embeddings, labels: list[str]) -> None:
    """Unit embeddings (little-endian float32, base64) and their labels (JSON) as metadata."""
    user[KEY + data_key] = base64.b64encode(
        np.asarray(embeddings, dtype="<f4").tobytes()).decode("ascii")
    user[KEY + labels_key] = json.dumps(labels, ensure_ascii=False)


def _metadata(spec, model, kind: str, extra: dict) -> None:
    meta = spec.description.metadata
    c = model.classifier
    n_examples = int(c.n_examples)
    meta.author = AUTHOR
    meta.license = LICENSE
    if kind == "knn":
        how = ("each drawing taught is added to a k-nearest-neighbours classifier (k is the "
               "update parameter numberOfNeighbors)")
        if c.entries == "class_means":
            how += "; emojisketch itself keeps one averaged entry per emoji"
    else:
        how = ("a neural-network head (inner product + softmax) is trained on drawing/label "
               "pairs (update parameters: epochs, learning rate, mini-batch size)")
    meta.shortDescription = (
        f"Draw a doodle, get an emoji. Knows {len(c.classes)} emoji, personalized with "
        f"{n_examples} example(s). Input 'drawing': {embedding.INPUT_DOC} Outputs 'label' (the "
        f"emoji) and 'labelProbs'. Updatable on device with inputs 'drawing' and 'label': {how}.")
    meta.versionString = (f"emojisketch {_package_version()}; model version "
                          f"{model.meta.get('version', 1)}, update {model.meta.get('updates', 0)}")
    user = meta.userDefined
    user[specio.MAGIC_KEY] = specio.MAGIC
    user[KEY + "kind"] = kind
    user[KEY + "examples"] = str(n_examples)
    user[KEY + "n_base"] = str(int(getattr(c, "n_base", 0)))
    if kind == "knn":
        user[KEY + "prototype_radius"] = repr(float(c.prototype_radius))
        user[KEY + "entries"] = c.entries
        if c.entries == "class_means":
            # the drawings behind each mean entry, so that a later update on the desktop
            # averages them with new ones; Core ML itself appends its updates as entries
            user[KEY + "n_means"] = str(len(c.labels) - c.n_base)
            _memory(user, "examples_data", "example_labels", c.examples, c.example_labels)
    else:
        # the head's memory of the user's examples (unit embeddings), which Core ML has no
        # field for: without it a later update on the desktop would forget earlier emoji
        _memory(user, "replay", "replay_labels", c.replay, c.replay_labels)
    user[KEY + "embedding"] = embedding_key(model.net)
    user[KEY + "parameters"] = json.dumps(model.parameters, sort_keys=True)
    user[KEY + "meta"] = json.dumps(model.meta, sort_keys=True, default=str)
    config = model.net.config.to_dict()
    config.pop("labels", None)
    user[KEY + "net_config"] = json.dumps(config, sort_keys=True)
    for key, value in extra.items():
        user[KEY + key] = value


def build_specs(model, kind: str | None = None, linked: bool = False,
                includes: Iterable[int] | None = None) -> tuple[object, object | None]:
    """(the pipeline spec, the separate embedding spec when ``linked``), not yet written."""
    kind = kind or model.kind
    if kind != model.kind:
        model = model.with_kind(kind)  # the same knowledge in the other classifier
    ranges = model.update_description()["parameters"]
    net_spec = embedding.embedding_spec(model.net)
    if kind == "knn":
        clf = knn_spec(model.classifier, ranges)
    else:
        clf = head_spec(model.classifier, model.parameters, ranges)
    first = net_spec
    if linked:
        name = linked_embedding_file(model.net)
        first = link_spec(net_spec, name)
        _describe_shared(net_spec, model)
    spec = specio.new_model()
    spec.specificationVersion = specio.SPEC_VERSION  # a PipelineClassifier would leave it at 1
    spec.isUpdatable = True
    desc = spec.description
    specio.describe_image(desc.input.add(), embedding.INPUT, embedding.SIDE, embedding.INPUT_DOC)
    desc.output.extend(clf.description.output)
    desc.predictedFeatureName, desc.predictedProbabilitiesName = LABEL, PROBS
    specio.describe_image(desc.trainingInput.add(), embedding.INPUT, embedding.SIDE,
                          embedding.INPUT_DOC)
    specio.describe_string(desc.trainingInput.add(), LABEL, "The emoji the drawing means.")
    pipeline = spec.pipelineClassifier.pipeline
    pipeline.models.extend([first, clf])
    pipeline.names.extend(["embedding", "classifier"])
    extra = {}
    if includes is not None:
        extra["includes"] = json.dumps(sorted(int(i) for i in includes))
    if linked:
        extra["linked_file"] = linked_embedding_file(model.net)
    _metadata(spec, model, kind, extra)
    return spec, (net_spec if linked else None)


def _describe_shared(net_spec, model) -> None:
    meta = net_spec.description.metadata
    meta.author, meta.license = AUTHOR, LICENSE
    meta.shortDescription = ("The emojisketch drawing embedding, shared by personalized models "
                             "that link to it. " + embedding.INPUT_DOC)
    meta.versionString = f"emojisketch {_package_version()}"
    meta.userDefined[specio.MAGIC_KEY] = specio.MAGIC
    meta.userDefined[KEY + "embedding"] = embedding_key(model.net)


def export_model(model, out_path: str | os.PathLike, kind: str | None = None,
                 linked: bool = False, progress: Progress | None = None,
                 includes: Iterable[int] | None = None) -> Path:
    """Write ``model`` as an updatable Core ML model; returns the file written.

    ``kind``: 'knn' or 'nn' (default: the model's own). ``linked``: the embedding goes to its
    own file beside ``out_path`` (see the module docstring). ``progress(fraction, message)`` is
    called from the calling thread (the app runs this on a worker thread). ``includes``: the
    store's example ids the model was built from, recorded for a later import.
    Raises ExportError (the checker's findings, a bad name) or StoreError (disk).
    """
    out = Path(out_path)
    if out.suffix.lower() != ".mlmodel":
        raise ExportError(f"a Core ML model file must end in .mlmodel, not {out.name!r}")
    if kind not in (None, "knn", "nn"):
        raise ExportError(f"the classifier kind must be knn or nn, not {kind!r}")
    report = progress or (lambda fraction, message: None)
    report(0.0, "Building the Core ML model")
    spec, net_spec = build_specs(model, kind, linked, includes)
    report(0.6, "Checking it against Core ML's rules")
    spec_check.validate_export(spec)
    if net_spec is not None:
        spec_check.validate(net_spec)
        report(0.7, "Writing the shared embedding")
        shared = out.parent / linked_embedding_file(model.net)
        data = net_spec.SerializeToString()
        if not (shared.is_file() and shared.read_bytes() == data):
            specio.save_spec(net_spec, shared)
    report(0.8, f"Writing {out.name}")
    specio.save_spec(spec, out)
    report(1.0, f"Exported {out.name}")
    return out
