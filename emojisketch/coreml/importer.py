"""Open an exported ``.mlmodel`` (ours, or ours after a phone kept training it) as an
:class:`~emojisketch.model.UpdatableModel`, so the app can go on personalizing from it.

The embedding network in the file must be a DrawingNet: its weights are read back layer by
layer (:func:`.embedding.net_from_spec`); when they equal the shipped base model's, the base
net itself is used (it also carries the base emoji's cosine head). The classifier is rebuilt
from the file: every k-NN entry with its label, or the head's weight, bias and labels, and the
update parameters' defaults. What Core ML has no field for (the k-NN's count of base
prototypes, the app-only parameters) comes from our metadata when the file has it. A file
that is not a Core ML model, or not one of ours, raises ModelFileError saying why.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import numpy as np

from .. import checkpoint
from ..classifiers import KNNClassifier, NNHeadClassifier
from ..errors import EmojisketchError, ModelFileError
from ..model import PARAMETERS, UpdatableModel
from ..net import NetConfig
from ..net_weights import NetWeights
from . import embedding, interpret, spec_check, specio

KEY = "com.emojisketch."


def _foreign(name: str, why: str) -> ModelFileError:
    return ModelFileError(f"{name} is not an emojisketch Core ML model: {why}")


def _embedding_tensors(net) -> dict[str, np.ndarray]:
    return {k: v for k, v in checkpoint.net_tensors(net).items()
            if k not in ("prototypes", "pooled_prototypes") and not k.endswith("num_batches_tracked")}


def _shipped_base_if_same(net):
    """The shipped base net when ``net`` has its embedding weights, else None."""
    if not checkpoint.BASE_MODEL.exists():
        return None
    try:
        base, _ = checkpoint.load_net(checkpoint.BASE_MODEL)
    except ModelFileError:
        return None
    mine, theirs = _embedding_tensors(net), _embedding_tensors(base)
    if base.config.pooled != net.config.pooled:  # the same weights, other features
        return None
    if mine.keys() == theirs.keys() and all(
            mine[k].shape == theirs[k].shape and np.array_equal(mine[k], theirs[k]) for k in mine):
        return base
    return None


def _with_base_head(net, prototypes: np.ndarray, labels: list[str], user):
    """``net`` given the base emoji's cosine head back (Core ML has no field for it): the
    directions of the k-NN's first entries (exact) or of the head's first rows (as trained)."""
    config = net.config.to_dict()
    try:
        scale = float(_json(user, "net_config", {}).get("scale", config["scale"]))
    except (TypeError, ValueError):
        scale = config["scale"]
    config.update(n_classes=len(labels), labels=list(labels), scale=scale)
    tensors = checkpoint.net_tensors(net)
    dim = net.config.embed_dim
    protos = np.asarray(prototypes, np.float32).reshape(len(labels), net.feature_dim)
    tensors["prototypes"] = protos[:, :dim]
    if net.config.pooled:  # the pooled part's direction; zeros where there is none (a head)
        pooled = protos[:, dim:]
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        tensors["pooled_prototypes"] = np.where(norms > 1e-6, pooled / np.maximum(norms, 1e-12), 0.0)
    return checkpoint.net_from_tensors(NetConfig.from_dict(config), tensors)


def _json(user, key: str, default):
    """Our metadata entry ``key`` as JSON of ``default``'s type, else ``default``: a file
    edited elsewhere may have lost or mangled it, and it is never worth refusing the file."""
    try:
        value = json.loads(user[KEY + key]) if KEY + key in user else default
    except json.JSONDecodeError:
        return default
    return value if isinstance(value, type(default)) else default


def _number(user, key: str, default, kind=int):
    try:
        return kind(user.get(KEY + key, default))
    except (TypeError, ValueError):
        return default


def _knn(spec, user, dim: int, name: str) -> KNNClassifier:
    knn = spec.kNearestNeighborsClassifier
    if knn.WhichOneof("WeightingScheme") != "inverseDistanceWeighting":
        raise _foreign(name, "its k-NN does not weigh neighbours by inverse distance")
    if knn.WhichOneof("ClassLabels") != "stringClassLabels":
        raise _foreign(name, "its k-NN labels are not strings (emoji)")
    index = knn.nearestNeighborsIndex
    if index.numberOfDimensions != dim:
        raise _foreign(name, f"its k-NN has {index.numberOfDimensions} dimensions, the "
                             f"embedding {dim}")
    labels = list(knn.stringClassLabels.vector)
    samples = np.array([list(s.vector) for s in index.floatSamples], dtype=np.float32)
    samples = samples.reshape(len(labels), dim)
    n_base = min(max(_number(user, "n_base", 0), 0), len(labels))
    radius = _number(user, "prototype_radius", 1.0, float)
    k = int(knn.numberOfNeighbors.defaultValue)
    n_means = _number(user, "n_means", -1)
    end = n_base + n_means  # our class means end here; Core ML appends its updates after
    examples, example_labels = _memory(user, "examples_data", "example_labels", dim)
    if (user.get(KEY + "entries") != "class_means" or not n_base <= end <= len(labels)
            or set(labels[n_base:end]) != set(example_labels)):
        return KNNClassifier(samples, labels, k, n_base, radius)  # every entry as it is
    means = KNNClassifier(samples[:end], labels[:end], k, n_base, radius, "class_means",
                          examples, example_labels)
    # whatever a device appended is averaged in with the rest
    return means.with_entries(samples[end:], labels[end:]) if end < len(labels) else means


def _head(spec, user, dim: int, name: str) -> tuple[NNHeadClassifier, dict]:
    nn = spec.neuralNetworkClassifier
    kinds = [layer.WhichOneof("layer") for layer in nn.layers]
    if kinds != ["innerProduct", "softmax"]:
        raise _foreign(name, f"its classifier is not an inner product and a softmax ({kinds})")
    ip = nn.layers[0].innerProduct
    classes = list(nn.stringClassLabels.vector)
    if ip.inputChannels != dim or ip.outputChannels != len(classes) or not classes:
        raise _foreign(name, "its classifier does not fit the embedding and its labels")
    weight = specio.floats(ip.weights).reshape(len(classes), dim)
    bias = specio.floats(ip.bias) if ip.hasBias else np.zeros(len(classes), np.float32)
    n_base = min(max(_number(user, "n_base", 0), 0), len(classes))
    replay, replay_labels = _memory(user, "replay", "replay_labels", dim, set(classes))
    params = {}
    update = nn.updateParams
    if update.HasField("epochs"):
        params["epochs"] = int(update.epochs.defaultValue)
    kind = update.optimizer.WhichOneof("OptimizerType")
    if kind is not None:
        opt = getattr(update.optimizer, kind)
        params["optimizer"] = "sgd" if kind == "sgdOptimizer" else "adam"
        params["learning_rate"] = float(opt.learningRate.defaultValue)
        params["mini_batch_size"] = int(opt.miniBatchSize.defaultValue)
        if kind == "sgdOptimizer":
            params["momentum"] = float(opt.momentum.defaultValue)
    return NNHeadClassifier(weight, bias, classes, n_base, replay, replay_labels), params


def _memory(user, data_key: str, labels_key: str, dim: int,
            classes: set[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """The user's examples kept in our metadata (the head's replay memory, the drawings behind
    the k-NN's class means); empty when absent or inconsistent: the model still works, a later
    update just has less to go on."""
    labels = _json(user, labels_key, [])
    try:
        data = base64.b64decode(user.get(KEY + data_key, ""), validate=True)
    except ValueError:
        data = b""
    if (not isinstance(labels, list) or len(data) != 4 * dim * len(labels)
            or (classes is not None and not set(map(str, labels)) <= classes)):
        return np.zeros((0, dim), np.float32), []
    memory = np.frombuffer(data, dtype="<f4").reshape(len(labels), dim).copy()
    return memory, [str(x) for x in labels]


def read_embedding(spec, base_dir: Path, name: str):
    """The DrawingNet of a pipeline's first model (following a link beside the file)."""
    first = specio.sub_models(spec)[0]
    if first.WhichOneof("Type") == "linkedModel":
        try:
            first = specio.load_spec(interpret.resolve_link(first.linkedModel, base_dir))
        except EmojisketchError as exc:
            raise ModelFileError(f"{name} links to its embedding, which cannot be read: "
                                 f"{exc}") from None
    return embedding.net_from_spec(first)


def import_mlmodel(path: str | os.PathLike) -> UpdatableModel:
    """The UpdatableModel a ``.mlmodel`` written by :func:`.export.export_model` holds."""
    path = Path(path)
    spec = specio.load_spec(path)
    name = path.name
    models = specio.sub_models(spec)
    kinds = [m.WhichOneof("Type") for m in models]
    if (spec.WhichOneof("Type") != "pipelineClassifier" or len(models) != 2
            or kinds[0] not in ("neuralNetwork", "linkedModel")
            or kinds[1] not in ("kNearestNeighborsClassifier", "neuralNetworkClassifier")):
        raise _foreign(name, "it is not a pipeline of an embedding network and a k-NN or "
                             f"neural-network classifier ({spec.WhichOneof('Type')}: {kinds})")
    problems = spec_check.check(spec)
    if problems:
        raise ModelFileError(f"{name} is not a valid Core ML model: "
                             + "; ".join(str(p) for p in problems[:5]))
    net = read_embedding(spec, path.parent, name)
    base = _shipped_base_if_same(net)
    user = spec.description.metadata.userDefined
    dim = net.feature_dim
    parameters = _json(user, "parameters", {})
    if kinds[1] == "kNearestNeighborsClassifier":
        classifier = _knn(models[1], user, dim, name)  # k comes from numberOfNeighbors
        protos = classifier.embeddings[:classifier.n_base]
    else:
        classifier, from_spec = _head(models[1], user, dim, name)
        parameters.update(from_spec)
        protos = classifier.weight[:classifier.n_base]
    names = classifier.labels if kinds[1] == "kNearestNeighborsClassifier" else classifier.classes
    base_labels = names[:classifier.n_base]
    net = base if base is not None else _with_base_head(net, protos, base_labels, user)
    known = PARAMETERS[classifier.kind]  # the app-only ones (augment, replay...) and Core ML's
    parameters = {k: v for k, v in parameters.items() if k in known and k != "k"}
    meta = _json(user, "meta", {})
    meta.update(n_examples=int(classifier.n_examples), imported_from=name,
                base_sha256=checkpoint.tensors_sha256(checkpoint.net_tensors(net)))
    try:
        return UpdatableModel(NetWeights.from_net(net), classifier, meta, parameters)
    except (EmojisketchError, ValueError) as exc:
        raise ModelFileError(f"{name} holds update parameters emojisketch cannot use: "
                             f"{exc}") from None


def recorded_includes(path: str | os.PathLike) -> list[int]:
    """The store example ids the exported model was built from (empty when not recorded)."""
    user = specio.load_spec(path).description.metadata.userDefined
    return [i for i in _json(user, "includes", []) if isinstance(i, int)]
