"""The drawing network as a Core ML neural network, and back.

:func:`embedding_spec` writes a :class:`~emojisketch.net.DrawingNet` layer by layer with
coremltools' ``NeuralNetworkBuilder`` (not ``ct.convert``): every layer is one the numpy
interpreter (:mod:`.interpret`) knows, and none is newer than iOS 12, so the network runs on
Core ML 3. Batch norm stays a layer of its own (not folded into the convolution) so that
:func:`net_from_spec` can read back exactly the tensors of the torch model::

    drawing (28x28 grayscale image, scaled by 1/255 to [0, 1])
      -> per block: conv3x3 -> batchnorm -> ReLU -> conv3x3 -> batchnorm -> ReLU [-> maxpool 2x2]
      [-> conv1x1 -> batchnorm -> ReLU (the net's ``expand`` widening)]
      -> global average pool -> flatten -> inner product (proj) -> L2 normalise -> embedding (D,)

A net with pooled features (``NetConfig.pooled``) ends instead in its features::

      flatten -> inner product (proj) -> L2 normalise ----------------\
      flatten -> unary sqrt -> L2 normalise --------------------------- concat -> linear x 1/sqrt(2)
      -> embedding (D + C,)
"""

from __future__ import annotations

import numpy as np

from ..checkpoint import net_from_tensors
from ..errors import ModelFileError
from ..net import HALF_SQRT, DrawingNet, NetConfig
from . import specio

INPUT = "drawing"
OUTPUT = "embedding"
SIDE = 28
IMAGE_SCALE = 1.0 / 255.0
L2_EPSILON = 1e-12  # torch's F.normalize floors the norm at 1e-12; Core ML adds eps inside sqrt
INPUT_DOC = ("A 28x28 grayscale drawing, white strokes on black, rendered by emojisketch's ink "
             "pipeline (Google's Quick, Draw! rendering); pixel values 0-255.")
OUTPUT_DOC = "Unit-length embedding of the drawing (L2-normalised)."
POOLED_OUTPUT_DOC = ("Unit-length features of the drawing: its L2-normalised embedding and its "
                     "L2-normalised square-rooted pooled features side by side, times 1/sqrt(2).")


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def _add_conv_bn_relu(b, conv, bn, blob: str, conv_name: str, bn_name: str, relu_name: str) -> str:
    """A bias-free same-padded convolution, its batch norm and a ReLU; returns the output blob."""
    w = _np(conv.weight)  # (out, in, kh, kw); the builder wants (kh, kw, in, out)
    b.add_convolution(conv_name, kernel_channels=w.shape[1], output_channels=w.shape[0],
                      height=w.shape[2], width=w.shape[3], stride_height=1, stride_width=1,
                      border_mode="same", groups=1, W=w.transpose(2, 3, 1, 0), b=None,
                      has_bias=False, input_name=blob, output_name=conv_name)
    b.add_batchnorm(bn_name, w.shape[0], gamma=_np(bn.weight), beta=_np(bn.bias),
                    mean=_np(bn.running_mean), variance=_np(bn.running_var),
                    input_name=conv_name, output_name=bn_name, epsilon=float(bn.eps))
    b.add_activation(relu_name, "RELU", bn_name, relu_name)
    return relu_name


def embedding_spec(net: DrawingNet):
    """A neuralNetwork spec (version 4) computing ``net.embed`` from a 28x28 image."""
    builder_mod = specio.builder_module()
    from coremltools.models import datatypes  # noqa: PLC0415  (imported quietly above)

    dim = net.feature_dim
    b = builder_mod.NeuralNetworkBuilder(
        [(INPUT, datatypes.Array(1, SIDE, SIDE))], [(OUTPUT, datatypes.Array(dim))],
        use_float_arraytype=True)
    b.set_pre_processing_parameters(image_input_names=[INPUT], image_scale=IMAGE_SCALE)
    blob = INPUT
    for i, block in enumerate(net.blocks):
        for j, (conv, bn) in enumerate(((block.conv1, block.bn1), (block.conv2, block.bn2)), 1):
            blob = _add_conv_bn_relu(b, conv, bn, blob, f"block{i}_conv{j}", f"block{i}_bn{j}",
                                     f"block{i}_relu{j}")
        if block.pool:
            b.add_pooling(f"block{i}_pool", height=2, width=2, stride_height=2, stride_width=2,
                          layer_type="MAX", padding_type="VALID", input_name=blob,
                          output_name=f"block{i}_pool")
            blob = f"block{i}_pool"
    if net.config.expand:
        blob = _add_conv_bn_relu(b, net.expand, net.expand_bn, blob, "expand_conv", "expand_bn",
                                 "expand_relu")
    b.add_pooling("gap", height=1, width=1, stride_height=1, stride_width=1,
                  layer_type="AVERAGE", padding_type="VALID", input_name=blob,
                  output_name="gap", is_global=True)
    b.add_flatten("flatten", mode=0, input_name="gap", output_name="flatten")
    w = _np(net.proj.weight)  # (D, C): Core ML's inner product stores (C_out, C_in) too
    b.add_inner_product("proj", W=w, b=_np(net.proj.bias), input_channels=w.shape[1],
                        output_channels=w.shape[0], has_bias=True, input_name="flatten",
                        output_name="proj")
    if not net.config.pooled:
        b.add_l2_normalize("l2norm", "proj", OUTPUT, epsilon=L2_EPSILON)
    else:
        b.add_l2_normalize("l2norm", "proj", "l2norm", epsilon=L2_EPSILON)
        b.add_unary("pooled_sqrt", "flatten", "pooled_sqrt", "sqrt", shift=0.0, scale=1.0)
        b.add_l2_normalize("pooled_l2norm", "pooled_sqrt", "pooled_l2norm", epsilon=L2_EPSILON)
        b.add_elementwise("features", ["l2norm", "pooled_l2norm"], "features", "CONCAT")
        b.add_activation("features_scale", "LINEAR", "features", OUTPUT, params=[HALF_SQRT, 0.0])
    spec = b.spec
    spec.specificationVersion = specio.SPEC_VERSION
    specio.describe_image(spec.description.input[0], INPUT, SIDE, INPUT_DOC)
    specio.describe_array(spec.description.output[0], OUTPUT, (dim,),
                          POOLED_OUTPUT_DOC if net.config.pooled else OUTPUT_DOC)
    return spec


# --- reading a DrawingNet back -------------------------------------------------------------

class _Layers:
    """Walks a layer list, insisting on the DrawingNet pattern."""

    def __init__(self, layers):
        self.layers, self.i = list(layers), 0

    def peek(self):
        return self.layers[self.i] if self.i < len(self.layers) else None

    def take(self, kind: str):
        layer = self.peek()
        if layer is None or layer.WhichOneof("layer") != kind:
            found = "the end" if layer is None else f"a {layer.WhichOneof('layer')} layer"
            raise ModelFileError(f"the embedding is not an emojisketch DrawingNet: expected a "
                                 f"{kind} layer at position {self.i}, found {found}")
        self.i += 1
        return layer


def _bad(why: str) -> ModelFileError:
    return ModelFileError(f"the embedding is not an emojisketch DrawingNet: {why}")


def _is_conv(layer, kernel: int) -> bool:
    return (layer is not None and layer.WhichOneof("layer") == "convolution"
            and list(layer.convolution.kernelSize) == [kernel, kernel])


def _read_conv_bn_relu(walk: _Layers, tensors: dict, conv_key: str, bn_key: str, c_in: int,
                       kernel: int, where: str) -> int:
    """Read a convolution (``kernel`` square, same-padded, no bias), its batch norm and ReLU
    into ``tensors`` under the torch names; returns the output channels."""
    conv = walk.take("convolution").convolution
    if (list(conv.kernelSize) != [kernel, kernel] or list(conv.stride or [1, 1]) != [1, 1]
            or conv.WhichOneof("ConvolutionPaddingType") != "same" or conv.hasBias
            or conv.isDeconvolution or conv.nGroups not in (0, 1)
            or any(d != 1 for d in conv.dilationFactor)):
        raise _bad(f"convolution {where} is not a plain {kernel}x{kernel} same-padded one")
    c_out = conv.outputChannels
    if conv.kernelChannels != c_in:
        raise _bad(f"convolution {where} takes {conv.kernelChannels} channels, not {c_in}")
    w = specio.floats(conv.weights)
    if w.size != c_out * c_in * kernel * kernel:
        raise _bad(f"convolution {where} has {w.size} weights")
    tensors[f"{conv_key}.weight"] = w.reshape(c_out, c_in, kernel, kernel)
    bn = walk.take("batchnorm").batchnorm
    if bn.channels != c_out or bn.computeMeanVar or bn.instanceNormalization:
        raise _bad(f"batch norm {where} does not fit its convolution")
    if not np.isclose(bn.epsilon, 1e-5, rtol=1e-3):
        raise _bad(f"batch norm {where} has epsilon {bn.epsilon}, not 1e-5")
    for key, field in (("weight", bn.gamma), ("bias", bn.beta),
                       ("running_mean", bn.mean), ("running_var", bn.variance)):
        v = specio.floats(field)
        if v.size != c_out:
            raise _bad(f"batch norm {where} has {v.size} {key} values, not {c_out}")
        tensors[f"{bn_key}.{key}"] = v
    tensors[f"{bn_key}.num_batches_tracked"] = np.array(0, dtype=np.int64)
    act = walk.take("activation").activation
    if act.WhichOneof("NonlinearityType") != "ReLU":
        raise _bad(f"activation {where} is not a ReLU")
    return c_out


def net_from_spec(spec) -> DrawingNet:
    """Rebuild the DrawingNet (eval mode, no base head) whose weights the spec holds."""
    if spec.WhichOneof("Type") != "neuralNetwork":
        raise _bad(f"it is a {spec.WhichOneof('Type')} model, not a neural network")
    nn = spec.neuralNetwork
    scales = [p.scaler.channelScale for p in nn.preprocessing if p.HasField("scaler")]
    if len(scales) != 1 or not np.isclose(scales[0], IMAGE_SCALE, rtol=1e-6):
        raise _bad("its input is not scaled by 1/255")
    walk, tensors, channels, pools, c_in = _Layers(nn.layers), {}, [], [], 1
    while _is_conv(walk.peek(), 3):
        i = len(channels)
        for j in (1, 2):
            c_in = _read_conv_bn_relu(walk, tensors, f"blocks.{i}.conv{j}", f"blocks.{i}.bn{j}",
                                      c_in, 3, f"{i}.{j}")
        pool = walk.peek()
        is_pool = (pool is not None and pool.WhichOneof("layer") == "pooling"
                   and not pool.pooling.globalPooling)
        if is_pool:
            p = walk.take("pooling").pooling
            if (p.type != 0 or list(p.kernelSize) != [2, 2] or list(p.stride) != [2, 2]
                    or p.WhichOneof("PoolingPaddingType") != "valid"
                    or any(a.startEdgeSize or a.endEdgeSize
                           for a in p.valid.paddingAmounts.borderAmounts)):
                raise _bad(f"the pooling after block {i} is not a 2x2 max pool")
        channels.append(c_in)
        pools.append(is_pool)
    if not channels:
        raise _bad("it has no convolution blocks")
    expand = 0
    if _is_conv(walk.peek(), 1):
        expand = c_in = _read_conv_bn_relu(walk, tensors, "expand", "expand_bn", c_in, 1, "expand")
    gap = walk.take("pooling").pooling
    if not gap.globalPooling or gap.type != 1:
        raise _bad("it does not end in a global average pool")
    flatten = walk.take("flatten")
    ip = walk.take("innerProduct").innerProduct
    if ip.inputChannels != c_in or not ip.hasBias:
        raise _bad("its projection does not fit the layer before it")
    dim = int(ip.outputChannels)
    tensors["proj.weight"] = specio.floats(ip.weights).reshape(dim, c_in)
    tensors["proj.bias"] = specio.floats(ip.bias)
    l2norm = walk.take("l2normalize")
    pooled = walk.peek() is not None
    if pooled:
        _read_pooled_tail(walk, flatten.output[0], l2norm.output[0])
        tensors["pooled_prototypes"] = np.zeros((0, c_in), dtype=np.float32)
    tensors["prototypes"] = np.zeros((0, dim), dtype=np.float32)
    config = NetConfig(channels=tuple(channels), pool=tuple(pools), expand=expand, embed_dim=dim,
                       n_classes=0, pooled=pooled)
    return net_from_tensors(config, tensors)


def _read_pooled_tail(walk: _Layers, pooled: str, embedding: str) -> None:
    """The layers that join the pooled features (blob ``pooled``) to the embedding (blob
    ``embedding``), exactly as :func:`embedding_spec` writes them."""
    sqrt = walk.take("unary")
    if (sqrt.unary.type != 0 or sqrt.unary.scale != 1.0 or sqrt.unary.shift != 0.0  # 0: SQRT
            or list(sqrt.input) != [pooled]):
        raise _bad("the layer after the embedding is not a plain square root of the pooled features")
    l2 = walk.take("l2normalize")
    concat = walk.take("concat")
    if concat.concat.sequenceConcat or list(concat.input) != [embedding, l2.output[0]]:
        raise _bad("its features are not the embedding and the pooled features, joined along "
                   "the channels")
    act = walk.take("activation").activation
    if (act.WhichOneof("NonlinearityType") != "linear" or act.linear.beta != 0.0
            or not np.isclose(act.linear.alpha, HALF_SQRT, rtol=1e-6)):
        raise _bad("its features are not scaled by 1/sqrt(2)")
    if walk.peek() is not None:
        raise _bad("it has extra layers after its features")
