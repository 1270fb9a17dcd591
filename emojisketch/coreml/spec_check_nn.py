"""The neural-network part of the checker: ``NeuralNetworkValidator.cpp`` (the network as a
whole and the classifier), ``NeuralNetworkLayerValidator.cpp`` (the layer types we export) and
``UpdatableNeuralNetworkValidator.cpp`` with ``NeuralNetworkValidatorGraph.hpp`` (what makes a
network trainable on device). Rule names are in :mod:`.spec_rules`."""

from __future__ import annotations

from collections import deque

from .spec_rules import (Report, check_classifier_outputs, check_double_parameter,
                         check_int64_parameter, same_type)

IOS12_LAYERS = frozenset("""convolution innerProduct batchnorm activation pooling padding concat
    lrn softmax split add multiply unary upsample bias l2normalize reshape flatten permute reduce
    loadConstant scale simpleRecurrent gru uniDirectionalLSTM biDirectionalLSTM crop average max
    min dot mvn embedding sequenceRepeat reorganizeData slice custom resizeBilinear
    cropResize""".split())

# (min inputs, max inputs) of the single-output layers we check; everything we export is here
_IO = {"convolution": (1, 2), "innerProduct": (1, 1), "batchnorm": (1, 1), "activation": (1, 1),
       "pooling": (1, 1), "softmax": (1, 1), "softmaxND": (1, 1), "l2normalize": (1, 1),
       "flatten": (1, 1), "reshape": (1, 1), "unary": (1, 1), "concat": (2, 1_000_000)}


# --- weights --------------------------------------------------------------------------------

def _weight_kinds(w) -> int:
    return sum(bool(len(x)) for x in (w.floatValue, w.float16Value, w.rawValue))


def _weight_size(w) -> int:
    return len(w.floatValue) or len(w.float16Value) // 2


def _check_weights(layer, what: str, w, expected: int, where: str, r: Report) -> None:
    at = f"{where} layer {layer.name!r}"
    if _weight_kinds(w) > 1:
        r.add("nn.layer_weights", at, f"its {what} are stored in more than one precision")
    elif _weight_kinds(w) == 0:
        r.add("nn.layer_weights", at, f"it has no {what}")
    elif len(w.rawValue) == 0 and _weight_size(w) != expected:
        r.add("nn.layer_weights", at, f"it has {_weight_size(w)} {what}, not {expected}")


def _check_layer(layer, where: str, r: Report) -> None:
    kind = layer.WhichOneof("layer")
    at = f"{where} layer {layer.name!r}"
    if kind in _IO:
        lo, hi = _IO[kind]
        if not lo <= len(layer.input) <= hi or len(layer.output) != 1:
            r.add("nn.layer_io", at, f"a {kind} layer takes {lo}-{hi} inputs and one output, "
                  f"not {len(layer.input)} and {len(layer.output)}")
    if kind == "convolution":
        p = layer.convolution
        if p.WhichOneof("ConvolutionPaddingType") is None:
            r.add("nn.layer_params", at, "its padding type is not set")
        if len(layer.input) == 1:
            kh, kw = (list(p.kernelSize) + [3, 3])[:2] if len(p.kernelSize) else (3, 3)
            groups = p.nGroups or 1
            n = (p.kernelChannels * (p.outputChannels // groups) if p.isDeconvolution
                 else p.outputChannels * p.kernelChannels) * kh * kw
            _check_weights(layer, "weights", p.weights, n, where, r)
            if p.hasBias:
                _check_weights(layer, "bias values", p.bias, p.outputChannels, where, r)
    elif kind == "innerProduct":
        p = layer.innerProduct
        _check_weights(layer, "weights", p.weights, p.inputChannels * p.outputChannels, where, r)
        if p.hasBias:
            _check_weights(layer, "bias values", p.bias, p.outputChannels, where, r)
        elif _weight_kinds(p.bias):
            r.add("nn.layer_weights", at, "it has bias values but hasBias is not set")
    elif kind == "batchnorm":
        p = layer.batchnorm
        names = ["gamma", "beta"] + ([] if p.computeMeanVar else ["mean", "variance"])
        for name in names:
            _check_weights(layer, f"{name} values", getattr(p, name), p.channels, where, r)
    elif kind == "activation" and layer.activation.WhichOneof("NonlinearityType") is None:
        r.add("nn.layer_params", at, "its nonlinearity is not set")
    elif kind == "pooling" and layer.pooling.WhichOneof("PoolingPaddingType") is None:
        r.add("nn.layer_params", at, "its padding type is not set")


# --- the network -------------------------------------------------------------------------------

def check_neural_network(spec, where: str, r: Report) -> None:
    kind = spec.WhichOneof("Type")
    nn = getattr(spec, kind)
    desc = spec.description
    if kind == "neuralNetworkClassifier":
        labels = nn.WhichOneof("ClassLabels")
        if labels is None:
            r.add("classifier.labels", where, "classifier models must provide class labels")
        elif not len(getattr(nn, labels).vector):
            r.add("classifier.labels", where, "the classifier's class labels are empty")
        check_classifier_outputs(spec, where, r, labels == "int64ClassLabels")
    layers = list(nn.layers)
    new_layers = any(layer.WhichOneof("layer") not in IOS12_LAYERS for layer in layers)
    nd = new_layers or nn.arrayInputShapeMapping != 0 or nn.imageInputShapeMapping != 0
    arrays = [f for f in desc.input if f.type.WhichOneof("Type") == "multiArrayType"]
    if new_layers and nn.arrayInputShapeMapping == 0 and arrays:
        r.add("nn.shape_mapping", where, "MultiArray inputs cannot use RANK5_ARRAY_MAPPING in a "
              "network with layers added in iOS 13 or later")
    if not layers:
        r.add("nn.no_layers", where, "neural networks require at least one layer")
    if len(desc.input) and all(f.type.isOptional for f in desc.input):
        r.add("nn.inputs", where, "neural networks require at least one non-optional input")
    for f in desc.input:
        t = f.type.WhichOneof("Type")
        if t not in ("imageType", "multiArrayType"):
            r.add("nn.inputs", where, f"the input {f.name!r} is a {t}, not an image or MultiArray")
        elif t == "multiArrayType" and not nd and len(f.type.multiArrayType.shape) not in (1, 3):
            r.add("nn.inputs", where, f"the MultiArray input {f.name!r} must have rank 1 or 3")
    blobs: dict[str, str] = {f.name: "__input" for f in desc.input}
    produced: set[str] = set()
    for layer in layers:
        _check_layer(layer, where, r)
        for name in layer.input:
            if name not in blobs:
                r.add("nn.layer_input_missing", f"{where} layer {layer.name!r}",
                      f"it consumes {name!r}, which nothing before it produces")
        for name in layer.output:
            if name in blobs and layer.WhichOneof("layer") != "copy":
                r.add("nn.duplicate_output", f"{where} layer {layer.name!r}",
                      f"it produces {name!r}, which {blobs[name]!r} produces too")
            blobs[name] = layer.name
            produced.add(name)
    special = {desc.predictedFeatureName, desc.predictedProbabilitiesName} - {""}
    for f in desc.output:
        if f.name not in produced and not (kind == "neuralNetworkClassifier" and f.name in special):
            r.add("nn.output_not_produced", where, f"the output {f.name!r} is produced by no layer")
    if kind == "neuralNetworkClassifier" and nn.labelProbabilityLayerName \
            and nn.labelProbabilityLayerName not in produced:
        r.add("nn.classifier_probabilities", where,
              f"the probabilities layer {nn.labelProbabilityLayerName!r} is not in the network")
    if spec.isUpdatable:
        _check_updatable(nn, where, r)
        if len(nn.updateParams.lossLayers):
            _check_training_inputs(spec, nn, where, r)


# --- updatable networks ------------------------------------------------------------------------

def _backpropagates(layer) -> bool:
    """NeuralNetworkValidatorGraph.hpp isLayerSupportedForBackprop."""
    kind = layer.WhichOneof("layer")
    if kind == "activation":
        return layer.activation.WhichOneof("NonlinearityType") in ("ReLU", "sigmoid", "tanh")
    return kind in ("convolution", "innerProduct", "flatten", "pooling", "batchnorm", "reshape")


class _Node:
    def __init__(self, name, kind, inputs, outputs, updatable=False, backprop=False, loss=None):
        self.name, self.kind, self.inputs, self.outputs = name, kind, inputs, outputs
        self.updatable, self.backprop, self.loss = updatable, backprop, loss
        self.parents: list[_Node] = []


def _loss_io(loss) -> tuple[str | None, str, str]:
    kind = loss.WhichOneof("LossLayerType")
    if kind is None:
        return None, "", ""
    p = getattr(loss, kind)
    return kind, p.input, p.target


def _check_updatable(nn, where: str, r: Report) -> None:
    updatable = [layer for layer in nn.layers if layer.isUpdatable]
    if not updatable:
        r.add("nn_update.no_updatable_layer", where,
              "the model is marked updatable but none of its layers is")
    for layer in updatable:
        kind = layer.WhichOneof("layer")
        at = f"{where} layer {layer.name!r}"
        if kind not in ("convolution", "innerProduct"):
            r.add("nn_update.layer_type", at, f"a {kind} layer cannot be updatable "
                  "(only convolution and inner product)")
            continue
        p = getattr(layer, kind)
        if not p.weights.isUpdatable or (p.hasBias and not p.bias.isUpdatable):
            r.add("nn_update.weights_not_updatable", at,
                  "its weights or bias are not marked updatable")
    params = nn.updateParams
    names = [layer.name for layer in nn.layers] + [loss.name for loss in params.lossLayers]
    for name in sorted({n for n in names if names.count(n) > 1}):
        r.add("nn_update.name_collision", where, f"two layers or loss layers are named {name!r}")
    if len(params.lossLayers) != 1:
        r.add("nn_update.loss", where,
              f"{len(params.lossLayers)} loss layers; exactly one is supported")
    # the graph, in layer order, then the loss layers (NeuralNetworkValidatorGraph)
    producer: dict[str, _Node] = {}
    nodes: dict[str, _Node] = {}

    def insert(node: _Node) -> None:
        node.parents = [producer[i] for i in node.inputs if i in producer]
        for o in node.outputs:
            producer[o] = node
        nodes[node.name] = node

    for layer in nn.layers:
        insert(_Node(layer.name, layer.WhichOneof("layer"), list(layer.input), list(layer.output),
                     layer.isUpdatable, _backpropagates(layer)))
    for loss in params.lossLayers:
        kind, source, target = _loss_io(loss)
        node = _Node(loss.name, None, [source] if kind else [], [], loss=kind)
        insert(node)
        at = f"{where} loss {loss.name!r}"
        if kind == "categoricalCrossEntropyLossLayer":
            softmax = [p for p in node.parents if p.kind == "softmax"]
            if not softmax or softmax[0].outputs[0] != source:
                r.add("nn_update.loss_input_softmax", at,
                      f"its input {source!r} is not the output of a softmax layer")
        elif kind == "meanSquaredErrorLossLayer":
            if source not in producer:
                r.add("nn_update.loss", at, f"its input {source!r} is not produced in the network")
        else:
            r.add("nn_update.loss", at,
                  "only cross-entropy and mean-squared-error losses are supported")
        if kind and target in producer:
            r.add("nn_update.loss_target", at, f"its target {target!r} is produced in the network")
    _check_optimizer(params, where, r)
    if not params.HasField("epochs"):
        r.add("nn_update.epochs", where, "the update parameters do not give the number of epochs")
    else:
        check_int64_parameter("epochs", params.epochs, True, where, r)
    if params.HasField("seed"):
        check_int64_parameter("seed", params.seed, False, where, r)
    # BFS from each loss, back through the parents: an updatable layer must not lie beyond a
    # layer that cannot back-propagate (a softmax straight before a cross-entropy loss can)
    visited: set[str] = set()
    for loss in params.lossLayers:
        queue, blocked = deque([nodes[loss.name]]), None
        while queue:
            current = queue.popleft()
            for parent in current.parents:
                if parent.name in visited:
                    continue
                visited.add(parent.name)
                queue.append(parent)
                if parent.updatable and blocked is not None:
                    r.add("nn_update.backprop", f"{where} layer {parent.name!r}", f"the layer "
                          f"{blocked!r} between it and the loss cannot back-propagate")
                if not parent.backprop:
                    cross_entropy = current.loss == "categoricalCrossEntropyLossLayer"
                    if parent.kind == "softmax" and cross_entropy:
                        continue
                    blocked = blocked or parent.name


def _check_optimizer(params, where: str, r: Report) -> None:
    kind = params.optimizer.WhichOneof("OptimizerType")
    if kind is None:
        r.add("nn_update.optimizer", where, "no optimizer (SGD or Adam) is set")
        return
    opt = getattr(params.optimizer, kind)
    fields = ["learningRate", "miniBatchSize"]
    if kind == "adamOptimizer":
        fields += ["beta1", "beta2", "eps"]
    for name in fields:
        if not opt.HasField(name):
            r.add("nn_update.optimizer", where, f"the {kind[:-9]} optimizer has no {name}")
        elif name == "miniBatchSize":
            check_int64_parameter(name, opt.miniBatchSize, True, where, r)
        else:
            check_double_parameter(name, getattr(opt, name), where, r)


def _check_training_inputs(spec, nn, where: str, r: Report) -> None:
    """UpdatableNeuralNetworkValidator.cpp validateTrainingInputs."""
    desc = spec.description
    training = list(desc.trainingInput)
    if len(training) <= 1:
        r.add("nn_update.training_inputs", where, "an updatable network needs training inputs "
              "for both the input and the target of its loss")
        return
    same = lambda a, b: a.name == b.name and same_type(a.type, b.type)  # noqa: E731 (isEquivalent)
    exclusive = [t for t in training if not any(same(t, i) for i in desc.input)]
    if not exclusive:
        r.add("nn_update.training_inputs", where, "the training inputs do not include the "
              "loss's target")
        return
    if len(exclusive) == len(training):
        r.add("nn_update.training_inputs", where, "the training inputs share no input with "
              "prediction")
        return
    _, _, target = _loss_io(nn.updateParams.lossLayers[0])
    classifier = spec.WhichOneof("Type") == "neuralNetworkClassifier"
    outputs = {o.name: o.type for o in desc.output}
    for t in exclusive:
        if classifier and t.name == desc.predictedFeatureName and t.name in outputs:
            if not same_type(t.type, outputs[t.name]):
                r.add("nn_update.training_inputs", where, f"the training input {t.name!r} does "
                      "not have the type of the classifier's label")
            return
        if t.name == target:
            return
    r.add("nn_update.training_inputs", where, "the training inputs do not include the target "
          f"{desc.predictedFeatureName if classifier else target!r}")
