"""A numpy reference interpreter for the Core ML specs emojisketch exports.

coremltools cannot run a model on Linux, so this runs the spec itself, reading every weight
out of the protobuf: pipelines (and linked models, resolved relative to the file), neural
networks and neural-network classifiers (image preprocessing, then the layers of
:mod:`.interpret_layers`: convolution, batch norm, activations, pooling, flatten, reshape,
inner product, L2 normalise, softmax, square root, concat) and the k-NN classifier. It
computes in float64, so against the float32 torch model it measures torch's rounding, not its
own. A layer or model type it does not know raises ExportError rather than guessing.

Blobs follow Core ML's iOS 12 (rank 5) layout without the sequence axis: ``(N, C, H, W)``;
an input MultiArray of shape ``(D,)`` enters as ``(N, D, 1, 1)``. Batches: an image feature is
``(N, H, W)`` pixel values in 0..255 (what a CVPixelBuffer holds); a string feature a list.

The k-NN follows NearestNeighbors.proto: the k nearest stored samples by the index's distance
function (squared Euclidean), weighted 1 (uniform) or 1/distance (inverse distance, the
distance being that squared Euclidean one); a label's probability is its share of the total
weight. Core ML does not document what it does at distance 0; like emojisketch's own k-NN
(``classifiers.MIN_DISTANCE``) distances are floored at 1e-6, so an exact copy of a stored
drawing gets nearly all the weight. A tie in score goes to the label whose neighbour is nearest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ExportError
from . import specio
from .interpret_layers import LAYERS, concat, unsupported


MIN_DISTANCE = 1e-6  # floor of the k-NN's squared distances (see the module docstring)


def _run_network(spec, nn, features: dict) -> dict:
    blobs: dict[str, np.ndarray] = {}
    scalers = {p.featureName: p.scaler for p in nn.preprocessing if p.HasField("scaler")}
    if any(p.HasField("meanImage") for p in nn.preprocessing):
        raise unsupported("mean-image preprocessing")
    for feature in spec.description.input:
        value = features[feature.name]
        kind = feature.type.WhichOneof("Type")
        if kind == "imageType":
            if feature.type.imageType.colorSpace != specio.proto().ImageFeatureType.GRAYSCALE:
                raise unsupported("colour image inputs")
            x = np.asarray(value, dtype=np.float64)[:, None]
            s = scalers.get(feature.name) or scalers.get("")
            if s is not None:
                x = x * s.channelScale + s.grayBias
        elif kind == "multiArrayType":
            shape = list(feature.type.multiArrayType.shape)
            x = np.asarray(value, dtype=np.float64)
            if len(shape) == 1:
                x = x.reshape(x.shape[0], shape[0], 1, 1)
            elif len(shape) == 3:
                x = x.reshape(x.shape[0], *shape)
            else:
                raise unsupported(f"a MultiArray input of rank {len(shape)}")
        else:
            raise unsupported(f"{kind} inputs to a neural network")
        blobs[feature.name] = x
    for layer in nn.layers:
        kind = layer.WhichOneof("layer")
        if kind == "concat" and len(layer.output) == 1:  # the one layer of several inputs
            blobs[layer.output[0]] = concat([blobs[name] for name in layer.input], layer.concat)
            continue
        if kind not in LAYERS:
            raise unsupported(f"the {kind} layer ({layer.name!r})")
        if len(layer.input) != 1 or len(layer.output) != 1:
            raise unsupported(f"layer {layer.name!r} with several inputs or outputs")
        blobs[layer.output[0]] = LAYERS[kind](blobs[layer.input[0]], getattr(layer, kind))
    out: dict = {}
    if spec.WhichOneof("Type") == "neuralNetworkClassifier":
        probs_blob = nn.labelProbabilityLayerName or nn.layers[-1].output[0]
        probs = blobs[probs_blob].reshape(blobs[probs_blob].shape[0], -1)
        labels = list(nn.stringClassLabels.vector) or list(nn.int64ClassLabels.vector)
        if probs.shape[1] != len(labels):
            raise ExportError(f"the classifier has {len(labels)} labels but "
                              f"{probs.shape[1]} scores")
        desc = spec.description
        out[desc.predictedFeatureName] = [labels[i] for i in probs.argmax(axis=1)]
        if desc.predictedProbabilitiesName:
            out[desc.predictedProbabilitiesName] = [dict(zip(labels, map(float, row)))
                                                    for row in probs]
    for feature in spec.description.output:
        if feature.name in out:
            continue
        if feature.name not in blobs:
            raise ExportError(f"no layer produces the output {feature.name!r}")
        blob = blobs[feature.name]
        shape = tuple(feature.type.multiArrayType.shape)
        blob = blob.reshape(blob.shape[0], *shape) if shape else blob
        if feature.type.multiArrayType.dataType == specio.proto().ArrayFeatureType.FLOAT32:
            blob = blob.astype(np.float32)  # what the next model of the pipeline is given
        out[feature.name] = blob
    return out


# --- k-NN -----------------------------------------------------------------------------------

def knn_scores(query: np.ndarray, samples: np.ndarray, labels: list, k: int,
               inverse_distance: bool) -> tuple[list, np.ndarray]:
    """(distinct labels in first-seen order, (N, n_labels) probabilities) of a Core ML k-NN."""
    classes = list(dict.fromkeys(labels))
    index = {c: i for i, c in enumerate(classes)}
    lab = np.array([index[c] for c in labels], dtype=np.int64)
    q = np.asarray(query, dtype=np.float64)
    s = np.asarray(samples, dtype=np.float64)
    d2 = np.maximum(((q[:, None, :] - s[None, :, :]) ** 2).sum(axis=2), MIN_DISTANCE)  # (N, M)
    kk = min(max(int(k), 1), len(labels))
    nearest = np.argsort(d2, axis=1, kind="stable")[:, :kk]
    probs = np.zeros((len(q), len(classes)))
    for row, idx in enumerate(nearest):
        d = d2[row, idx]
        w = 1.0 / d if inverse_distance else np.ones_like(d)
        np.add.at(probs[row], lab[idx], w)
        probs[row] /= probs[row].sum()
    return classes, probs


def _top(classes: list, probs_row: np.ndarray, nearest_first: list) -> str:
    best = probs_row.max()
    tied = {classes[i] for i in np.flatnonzero(probs_row == best)}
    if len(tied) == 1:
        return tied.pop()
    return next(label for label in nearest_first if label in tied)


def _run_knn(spec, features: dict) -> dict:
    knn = spec.kNearestNeighborsClassifier
    index = knn.nearestNeighborsIndex
    if index.WhichOneof("DistanceFunction") != "squaredEuclideanDistance":
        raise unsupported("a k-NN without squared Euclidean distance")
    desc = spec.description
    query = np.asarray(features[desc.input[0].name], dtype=np.float64)
    query = query.reshape(query.shape[0], -1)
    labels = list(knn.stringClassLabels.vector) or list(knn.int64ClassLabels.vector)
    out_label, out_probs = desc.predictedFeatureName, desc.predictedProbabilitiesName
    if not labels:
        default = (knn.defaultStringLabel if knn.HasField("defaultStringLabel")
                   else knn.defaultInt64Label)
        return {out_label: [default] * len(query), out_probs: [{} for _ in query]}
    samples = np.array([list(v.vector) for v in index.floatSamples], dtype=np.float64)
    inverse = knn.WhichOneof("WeightingScheme") == "inverseDistanceWeighting"
    classes, probs = knn_scores(query, samples, labels, knn.numberOfNeighbors.defaultValue, inverse)
    d2 = np.maximum(((query[:, None] - samples[None]) ** 2).sum(2), MIN_DISTANCE)
    order = np.argsort(d2, axis=1, kind="stable")
    top = [_top(classes, probs[i], [labels[j] for j in order[i]]) for i in range(len(query))]
    return {out_label: top,
            out_probs: [dict(zip(classes, map(float, row))) for row in probs]}


# --- models, pipelines, links ---------------------------------------------------------------

def resolve_link(linked, base_dir: Path) -> Path:
    """The file a LinkedModelFile names: each search path relative to ``base_dir``; a
    ``.mlmodelc`` name (what a device loads) falls back to the ``.mlmodel`` it compiles from."""
    link = linked.linkedModelFile
    name = link.linkedModelFileName.defaultValue
    paths = (link.linkedModelSearchPath.defaultValue or ".").split(":")
    names = [name] + ([name[:-1]] if name.endswith(".mlmodelc") else [])
    for folder in paths:
        if folder.startswith("$"):
            continue  # $BUNDLE_MAIN and friends exist only on a device
        root = Path(folder) if os.path.isabs(folder) else base_dir / folder
        for candidate in names:
            path = root / candidate
            if path.is_file():
                return path
    raise ExportError(f"the linked model {name!r} was not found beside the file "
                      f"(searched {', '.join(paths)} in {base_dir})")


def run(spec, features: dict, base_dir: str | os.PathLike | None = None) -> dict:
    """Every feature the model computes from ``features`` (inputs included), batched."""
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    kind = spec.WhichOneof("Type")
    values = dict(features)
    for feature in spec.description.input:
        if feature.name not in values:
            raise ExportError(f"the model needs the input {feature.name!r}")
    if kind in ("pipeline", "pipelineClassifier", "pipelineRegressor"):
        for model in specio.sub_models(spec):
            values.update(run(model, values, base))
        return values
    if kind in ("neuralNetwork", "neuralNetworkClassifier"):
        values.update(_run_network(spec, getattr(spec, kind), values))
    elif kind == "kNearestNeighborsClassifier":
        values.update(_run_knn(spec, values))
    elif kind == "linkedModel":
        target = specio.load_spec(resolve_link(spec.linkedModel, base))
        computed = run(target, {f.name: values[f.name] for f in spec.description.input}, base)
        values.update({f.name: computed[f.name] for f in spec.description.output})
    else:
        raise unsupported(f"{kind} models")
    return values


def to_pixels(images: np.ndarray, quantize: bool = False) -> np.ndarray:
    """Images in [0, 1] as the 0..255 pixel values a CVPixelBuffer holds (bytes if ``quantize``)."""
    pixels = np.asarray(images, dtype=np.float64) * 255.0
    return np.clip(np.round(pixels), 0, 255) if quantize else pixels


@dataclass
class Result:
    labels: list[str]  # top-1 per image
    classes: list[str]  # the columns of ``probs``
    probs: np.ndarray  # (N, len(classes))
    embedding: np.ndarray | None  # (N, D) when the pipeline computes one


class Interpreter:
    """Runs a spec or a ``.mlmodel`` file; linked files are looked up beside the file."""

    def __init__(self, source, base_dir: str | os.PathLike | None = None):
        if isinstance(source, (str, os.PathLike)):
            self.spec = specio.load_spec(source)
            base_dir = Path(source).parent if base_dir is None else base_dir
        else:
            self.spec = source
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()

    def predict(self, features: dict, all_features: bool = False) -> dict:
        values = run(self.spec, features, self.base_dir)
        if all_features:
            return values
        return {f.name: values[f.name] for f in self.spec.description.output}

    def classify(self, images: np.ndarray, quantize: bool = False) -> Result:
        """Classify ``(N, 28, 28)`` images in [0, 1] (the ink pipeline's) as the phone would:
        pixels = 255 * image, rounded to bytes when ``quantize``."""
        pixels = to_pixels(images, quantize)
        desc = self.spec.description
        values = self.predict({desc.input[0].name: pixels}, all_features=True)
        dicts = values[desc.predictedProbabilitiesName]
        classes = list(dict.fromkeys(label for d in dicts for label in d))
        probs = np.array([[d.get(c, 0.0) for c in classes] for d in dicts]).reshape(len(dicts), -1)
        emb = values.get("embedding")
        emb = None if emb is None else np.asarray(emb).reshape(len(dicts), -1)
        return Result(list(values[desc.predictedFeatureName]), classes, probs, emb)
