"""Reading and writing Core ML specs, and the small proto helpers the other modules share.

coremltools is slow to import (about two seconds) and chatty (warnings about the torch
version and the missing native library on Linux), so it is imported here, lazily, with its
loggers quietened; nothing else in emojisketch imports it at module level.

A spec is a ``coremltools.proto.Model_pb2.Model`` protobuf message. Files are written whole
and atomically (:mod:`emojisketch.atomic`); reading a file that is not a Core ML model raises
:class:`~emojisketch.errors.ModelFileError`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes
from ..errors import ModelFileError

SPEC_VERSION = 4  # Core ML 3 (iOS 13): updatable models, k-NN and linked models begin here
CREDIT = "Quick, Draw! dataset by Google Creative Lab, CC BY 4.0"
MAGIC_KEY = "com.emojisketch.format"  # in metadata.userDefined of every file we write
MAGIC = "emojisketch.coreml/1"


def proto():
    """The coremltools protobuf modules as one namespace (Model_pb2 types are re-exported)."""
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    from coremltools.proto import Model_pb2  # noqa: PLC0415  (lazy on purpose)

    return Model_pb2


def nn_proto():
    proto()
    from coremltools.proto import NeuralNetwork_pb2  # noqa: PLC0415

    return NeuralNetwork_pb2


def builder_module():
    """coremltools.models.neural_network.builder, imported quietly."""
    proto()
    from coremltools.models.neural_network import builder  # noqa: PLC0415

    return builder


def new_model():
    return proto().Model()


def load_spec(path: str | os.PathLike):
    """The spec in a ``.mlmodel`` file; anything else is a ModelFileError."""
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(
            f"{path.name} is a folder (a compiled .mlmodelc or an .mlpackage); "
            "emojisketch reads .mlmodel files"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    return spec_from_bytes(data, path.name)


def spec_from_bytes(data: bytes, name: str = "the file"):
    from google.protobuf.message import DecodeError  # noqa: PLC0415

    spec = new_model()
    try:
        spec.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{name} is not a Core ML model ({exc})") from None
    if not data or spec.WhichOneof("Type") is None or spec.specificationVersion == 0:
        raise ModelFileError(f"{name} is not a Core ML model")
    return spec


def save_spec(spec, path: str | os.PathLike) -> Path:
    return atomic_write_bytes(path, spec.SerializeToString())


# --- weights -------------------------------------------------------------------------------

def set_floats(weight_params, values) -> None:
    """Fill a WeightParams with float32 values (row-major)."""
    weight_params.ClearField("floatValue")
    weight_params.floatValue.extend(np.asarray(values, dtype=np.float32).ravel().tolist())


def floats(weight_params, what: str = "weights") -> np.ndarray:
    """The float32 values of a WeightParams (float32 or float16 storage)."""
    if len(weight_params.floatValue):
        return np.asarray(weight_params.floatValue, dtype=np.float32)
    if len(weight_params.float16Value):
        return np.frombuffer(weight_params.float16Value, dtype="<f2").astype(np.float32)
    if len(weight_params.rawValue) or len(weight_params.int8RawValue):
        raise ModelFileError(f"quantized {what} are not supported")
    return np.zeros(0, dtype=np.float32)


# --- feature descriptions -----------------------------------------------------------------

def describe_image(feature, name: str, side: int, doc: str = "") -> None:
    feature.name = name
    feature.shortDescription = doc
    image = feature.type.imageType
    image.width = side
    image.height = side
    image.colorSpace = proto().ImageFeatureType.GRAYSCALE


def describe_array(feature, name: str, shape: tuple[int, ...], doc: str = "") -> None:
    feature.name = name
    feature.shortDescription = doc
    array = feature.type.multiArrayType
    array.dataType = proto().ArrayFeatureType.FLOAT32
    array.ClearField("shape")
    array.shape.extend(shape)


def describe_string(feature, name: str, doc: str = "") -> None:
    feature.name = name
    feature.shortDescription = doc
    feature.type.stringType.SetInParent()


def describe_probs(feature, name: str, doc: str = "") -> None:
    feature.name = name
    feature.shortDescription = doc
    feature.type.dictionaryType.stringKeyType.SetInParent()


def sub_models(spec) -> list:
    """The models inside a pipeline (any of the three kinds), else []."""
    kind = spec.WhichOneof("Type")
    if kind == "pipeline":
        return list(spec.pipeline.models)
    if kind in ("pipelineClassifier", "pipelineRegressor"):
        return list(getattr(spec, kind).pipeline.models)
    return []


def pipeline_of(spec):
    kind = spec.WhichOneof("Type")
    if kind == "pipeline":
        return spec.pipeline
    if kind in ("pipelineClassifier", "pipelineRegressor"):
        return getattr(spec, kind).pipeline
    return None
