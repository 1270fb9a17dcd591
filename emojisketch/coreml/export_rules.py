"""What an emojisketch export must be besides a valid Core ML model (the ``emojisketch.*``
rules of :mod:`.spec_check`): the pipeline's shape, its interface, training inputs, update
parameters with ranges, and the metadata (with the Quick, Draw! credit)."""

from __future__ import annotations

from . import specio
from .spec_rules import Report, same_type

CLASSIFIERS = ("kNearestNeighborsClassifier", "neuralNetworkClassifier")


def check_product(spec, r: Report) -> None:
    where = "model"
    if spec.WhichOneof("Type") != "pipelineClassifier":
        r.add("emojisketch.structure", where, f"an export is a pipeline classifier, not a "
              f"{spec.WhichOneof('Type')}")
        return
    models = specio.sub_models(spec)
    kinds = [m.WhichOneof("Type") for m in models]
    if (len(models) != 2 or kinds[0] not in ("neuralNetwork", "linkedModel")
            or kinds[1] not in CLASSIFIERS):
        r.add("emojisketch.structure", where, f"expected [neuralNetwork or linkedModel, k-NN or "
              f"neural-network classifier], found {kinds}")
        return
    desc = spec.description
    inputs = list(desc.input)
    image = inputs[0].type.imageType if len(inputs) == 1 else None
    if (image is None or inputs[0].name != "drawing" or (image.width, image.height) != (28, 28)
            or image.colorSpace != specio.proto().ImageFeatureType.GRAYSCALE):
        r.add("emojisketch.interface", where, "the one input is 'drawing', a 28x28 grayscale image")
    elif not inputs[0].shortDescription:
        r.add("emojisketch.interface", where, "the input 'drawing' has no description")
    outputs = {f.name: f.type.WhichOneof("Type") for f in desc.output}
    if (outputs != {"label": "stringType", "labelProbs": "dictionaryType"}
            or desc.predictedFeatureName != "label"
            or desc.predictedProbabilitiesName != "labelProbs"):
        r.add("emojisketch.interface", where, "the outputs are 'label' (string) and "
              f"'labelProbs' (dictionary), found {outputs}")
    shape = models[0].description.output[0].type.multiArrayType.shape if len(
        models[0].description.output) else []
    if not len(shape):
        r.add("emojisketch.embedding_shape", f"{where}.models[0]",
              "the embedding output has no shape")
    _check_training_inputs(spec, models[1], where, r)
    _check_parameters(models[1], f"{where}.models[1]", r)
    _check_metadata(spec, where, r)


def _check_training_inputs(spec, last, where: str, r: Report) -> None:
    desc = spec.description
    training = {t.name: t for t in desc.trainingInput}
    if sorted(training) != ["drawing", "label"]:
        r.add("emojisketch.training_inputs", where, f"the training inputs are 'drawing' and "
              f"'label', found {sorted(training)}")
        return
    inputs = {f.name: f for f in desc.input}
    outputs = {f.name: f for f in desc.output}
    if "drawing" in inputs and not same_type(training["drawing"].type, inputs["drawing"].type):
        r.add("emojisketch.training_inputs", where,
              "the training input 'drawing' is not the input's type")
    if "label" in outputs and not same_type(training["label"].type, outputs["label"].type):
        r.add("emojisketch.training_inputs", where,
              "the training input 'label' is not the label's type")
    last_names = {t.name for t in last.description.trainingInput}
    needed = {f.name for f in last.description.input} | {"label"}
    if not needed <= last_names:
        r.add("emojisketch.training_inputs", f"{where}.models[1]", f"the classifier's training "
              f"inputs {sorted(last_names)} lack {sorted(needed - last_names)}")


def _has_allowed(p) -> bool:
    return p.WhichOneof("AllowedValues") is not None


def _check_parameters(last, where: str, r: Report) -> None:
    kind = last.WhichOneof("Type")
    if kind == "kNearestNeighborsClassifier":
        params = {"numberOfNeighbors": last.kNearestNeighborsClassifier.numberOfNeighbors}
    else:
        update = last.neuralNetworkClassifier.updateParams
        opt_kind = update.optimizer.WhichOneof("OptimizerType")
        opt = getattr(update.optimizer, opt_kind) if opt_kind else None
        params = {"epochs": update.epochs}
        if opt is not None:
            params.update(learningRate=opt.learningRate, miniBatchSize=opt.miniBatchSize)
    for name, p in params.items():
        if not _has_allowed(p):
            r.add("emojisketch.update_parameters", where, f"{name} has no allowed range or set")


def _check_metadata(spec, where: str, r: Report) -> None:
    meta = spec.description.metadata
    missing = [name for name in ("author", "license", "shortDescription", "versionString")
               if not getattr(meta, name)]
    if missing:
        r.add("emojisketch.metadata", where, f"the metadata lacks {', '.join(missing)}")
    if specio.CREDIT not in meta.license:
        r.add("emojisketch.metadata", where, f"the licence lacks the credit {specio.CREDIT!r}")
    user = meta.userDefined
    if user.get(specio.MAGIC_KEY) != specio.MAGIC:
        r.add("emojisketch.metadata", where, "the metadata does not mark the file as ours")
    if not user.get("com.emojisketch.examples", "").isdigit():
        r.add("emojisketch.metadata", where, "the metadata lacks the number of examples")
