"""The RetinaFace ONNX graph rebuilt as a Keras model (channels last), weights taken from the file's initializers.

A small converter for exactly the ops the shipped export uses (its BatchNorms are already folded into the
convolutions): Conv (plain and depthwise), LeakyRelu, Relu, Add, Concat, Resize (nearest, to the size of
another tensor, the FPN's upsampling), the heads' Transpose + Reshape, Softmax. The Shape/Gather/... nodes
that only compute sizes are not layers: Resize takes the size of the tensor they read, Reshape keeps (-1, k).
Layers are named after the ONNX nodes (``class_head.0``, ``landmark_head.2`` ...) so a part can be frozen
by name. The model's input is NHWC BGR minus ``RETINAFACE_MEAN_BGR``; outputs ``loc`` (B, N, 4),
``conf_logits`` (B, N, 2, before the softmax, for the loss), ``conf`` (softmaxed) and ``landmarks`` (B, N, 10).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import onnx
import tensorflow as tf
from onnx import numpy_helper

from .onnx_file import save_checked

SIZE_OPS = {"Shape", "Gather", "Unsqueeze", "Slice", "Cast", "Constant", "Identity"}  # size arithmetic, not layers
OUTPUTS = ("loc", "conf", "landmarks")


class ResizeNearestTo(keras.layers.Layer):
    """ONNX Resize mode=nearest, coordinate_transformation_mode=asymmetric, nearest_mode=floor, to the
    spatial size of a reference tensor: source index = floor(i / (out / in)), as ONNX Runtime computes it."""

    def call(self, x, ref):
        out = [tf.shape(ref)[1], tf.shape(ref)[2]]
        inn = [tf.shape(x)[1], tf.shape(x)[2]]
        for axis in (1, 2):
            n_out, n_in = out[axis - 1], inn[axis - 1]
            scale = tf.cast(n_out, tf.float32) / tf.cast(n_in, tf.float32)
            idx = tf.cast(tf.floor(tf.cast(tf.range(n_out), tf.float32) / scale), tf.int32)
            x = tf.gather(x, tf.minimum(idx, n_in - 1), axis=axis)
        return x


@dataclass
class _Graph:
    """The ONNX graph as lookup tables."""

    weights: dict[str, np.ndarray]
    producer: dict[str, onnx.NodeProto] = field(default_factory=dict)
    constants: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> _Graph:
        model = onnx.load(str(path))
        g = cls({i.name: numpy_helper.to_array(i) for i in model.graph.initializer})
        g.nodes = list(model.graph.node)
        g.conv_layers = conv_layer_names(g.nodes)
        g.made = {}  # layer name -> Keras layer
        for node in g.nodes:
            for out in node.output:
                g.producer[out] = node
            if node.op_type == "Constant":
                g.constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
            if node.op_type == "Identity" and node.input[0] in g.weights:
                g.weights[node.output[0]] = g.weights[node.input[0]]
        return g

    def shape_source(self, name: str) -> str:
        """The tensor whose H and W a size expression reads (the Shape node that feeds a Gather)."""
        stack, seen = [name], set()
        while stack:
            node = self.producer.get(stack.pop())
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            if node.op_type == "Gather":
                shape = self.producer.get(node.input[0])
                if shape is not None and shape.op_type == "Shape":
                    return shape.input[0]
            stack.extend(node.input)
        raise ValueError(f"cannot find the reference size of Resize input {name}")

    def reshape_width(self, name: str) -> int:
        """k of a Reshape to (batch, -1, k): the last constant of the Concat that builds the shape."""
        concat = self.producer[name]
        return int(np.asarray(self.constants[concat.input[-1]]).reshape(-1)[0])


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def layer_name(node: onnx.NodeProto) -> str:
    """A Keras layer name from the node's output (``/class_head/class_head.0/Conv_output_0`` -> ``class_head.0``)."""
    parts = [p for p in node.output[0].split("/") if p]
    keep = parts[-2] if len(parts) >= 2 else parts[0]
    prefix = parts[0] if len(parts) > 2 and not keep.startswith(parts[0]) else ""
    name = f"{prefix}_{keep}" if prefix else keep
    return re.sub(r"[^A-Za-z0-9_.]", "_", name) + "_" + node.op_type.lower()


def identity_aliases(nodes) -> dict[str, str]:
    """Identity output -> input: the export reaches some weights through Identity nodes."""
    return {n.output[0]: n.input[0] for n in nodes if n.op_type == "Identity"}


def weight_source(alias: dict[str, str], name: str) -> str:
    """The initializer behind ``name``, following ``alias`` (:func:`identity_aliases`)."""
    while name in alias:
        name = alias[name]
    return name


def conv_layer_names(nodes) -> dict[str, str]:
    """Conv node output -> its Keras layer name. The export calls SSH's conv5X5_1 twice with the same
    (Identity-shared) weights: both calls map to one layer, so the weights stay tied as in the original."""
    names: dict[str, str] = {}
    by_weight: dict[str, str] = {}
    alias = identity_aliases(nodes)
    for node in nodes:
        if node.op_type == "Conv":
            key = weight_source(alias, node.input[1])
            if key not in by_weight:
                by_weight[key] = layer_name(node)
            names[node.output[0]] = by_weight[key]
    return names


def _conv(node: onnx.NodeProto, x, g: _Graph):
    a = _attrs(node)
    w = g.weights[node.input[1]]
    b = g.weights[node.input[2]] if len(node.input) > 2 else np.zeros(w.shape[0], np.float32)
    name = g.conv_layers[node.output[0]]
    top, left, bottom, right = a.get("pads", [0, 0, 0, 0])
    if any((top, left, bottom, right)):
        # explicit symmetric padding: Keras 'same' pads stride-2 convolutions on one side only
        x = keras.layers.ZeroPadding2D(((top, bottom), (left, right)))(x)
    if name in g.made:  # a second call of a shared convolution: the same layer, the same weights
        return g.made[name](x)
    group, kernel, strides = a.get("group", 1), tuple(a["kernel_shape"]), tuple(a.get("strides", [1, 1]))
    if group == 1:
        layer = keras.layers.Conv2D(w.shape[0], kernel, strides, padding="valid", name=name)
        y = layer(x)
        layer.set_weights([w.transpose(2, 3, 1, 0), b])
    elif group == w.shape[0] and w.shape[1] == 1:
        layer = keras.layers.DepthwiseConv2D(kernel, strides, padding="valid", name=name)
        y = layer(x)
        layer.set_weights([w.transpose(2, 3, 0, 1), b])
    else:
        raise ValueError(f"grouped convolution with group={group} is not supported ({node.output[0]})")
    g.made[name] = layer
    return y


def _layer(node: onnx.NodeProto, t: dict, g: _Graph):
    """The Keras tensor for one compute node, from the tensors ``t`` made so far."""
    op, ins = node.op_type, node.input
    if op == "Conv":
        return _conv(node, t[ins[0]], g)
    if op == "LeakyRelu":
        return keras.layers.LeakyReLU(negative_slope=_attrs(node).get("alpha", 0.01))(t[ins[0]])
    if op == "Relu":
        return keras.layers.ReLU()(t[ins[0]])
    if op == "Add":
        return keras.layers.Add()([t[ins[0]], t[ins[1]]])
    if op == "Concat":
        parts = [t[i] for i in ins]
        axis = _attrs(node)["axis"]
        return keras.layers.Concatenate(axis=-1 if len(parts[0].shape) == 4 and axis == 1 else axis)(parts)
    if op == "Resize":
        return ResizeNearestTo()(t[ins[0]], t[g.shape_source(ins[3])])
    if op == "Transpose":
        if list(_attrs(node)["perm"]) != [0, 2, 3, 1]:
            raise ValueError(f"unsupported Transpose {node.output[0]}")
        return t[ins[0]]  # NCHW -> NHWC: the Keras tensors are channels last already
    if op == "Reshape":
        return keras.layers.Reshape((-1, g.reshape_width(ins[1])))(t[ins[0]])
    if op == "Softmax":
        return keras.layers.Softmax(axis=-1, name="conf")(t[ins[0]])
    raise ValueError(f"ONNX op {op} is not supported by this converter ({node.output[0]})")


def build_keras(onnx_path: str | Path) -> keras.Model:
    """The Keras model of ``onnx_path`` (see the module doc for inputs and outputs)."""
    g = _Graph.load(onnx_path)
    inp = keras.Input((None, None, 3), name="input")
    t = {"input": inp}
    conf_logits = None
    for node in g.nodes:
        if node.op_type in SIZE_OPS or (node.op_type == "Concat" and node.input[0] not in t):
            continue
        if node.op_type == "Softmax":
            conf_logits = t[node.input[0]]
        t[node.output[0]] = _layer(node, t, g)
    missing = [o for o in OUTPUTS if o not in t]
    if missing or conf_logits is None:
        raise ValueError(f"{onnx_path} is not the RetinaFace export (missing outputs {missing})")
    outputs = {"loc": keras.layers.Identity(name="loc")(t["loc"]), "conf_logits": conf_logits, "conf": t["conf"],
               "landmarks": keras.layers.Identity(name="landmarks")(t["landmarks"])}
    return keras.Model(inp, outputs, name="retinaface_mnet025")


def landmark_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The landmark head's convolutions (frozen while fine-tuning: its output must stay what the app expects)."""
    return [layer for layer in model.layers if layer.name.startswith("landmark_head")]


def write_weights(model: keras.Model, base: str | Path, path: str | Path) -> Path:
    """The base ONNX file with every convolution's weights replaced, in place, by the Keras model's: the very
    same graph, initializer names and order (so the same speed, input/output names and layout), new numbers."""
    proto = onnx.load(str(base))
    nodes = list(proto.graph.node)
    layers = conv_layer_names(nodes)
    alias = identity_aliases(nodes)
    inits = {i.name: i for i in proto.graph.initializer}
    for node in nodes:
        if node.op_type != "Conv":
            continue
        layer = model.get_layer(layers[node.output[0]])
        kernel, bias = layer.get_weights()
        w = kernel.transpose(2, 3, 0, 1) if isinstance(layer, keras.layers.DepthwiseConv2D) else kernel.transpose(3, 2, 0, 1)
        for i, arr in ((1, w), (2, bias)):
            name = weight_source(alias, node.input[i])
            if inits[name].dims and list(inits[name].dims) != list(arr.shape):
                raise ValueError(f"{layer.name}: shape {arr.shape} does not fit {name} {list(inits[name].dims)}")
            inits[name].CopyFrom(numpy_helper.from_array(np.ascontiguousarray(arr, np.float32), name))
    return save_checked(proto, path, "facemask-live train_detector.py (weights written into the base graph)")
