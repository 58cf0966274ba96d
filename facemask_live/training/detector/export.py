"""Keras model -> ONNX with the app's layout: input ``input`` (B, 3, H, W) float32 BGR minus the mean, any
H/W; outputs ``loc`` (1, N, 4), ``conf`` (1, N, 2, softmaxed) and ``landmarks`` (1, N, 10), in that order."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import onnx
import tensorflow as tf
import tf2onnx

from .onnx_file import save_checked

OPSET = 13
WIDTHS = {4: "loc", 2: "conf", 10: "landmarks"}  # last dimension -> output name


def _rename(model: onnx.ModelProto) -> onnx.ModelProto:
    """Give the graph's input and outputs the app's names, outputs in the order loc, conf, landmarks."""
    g = model.graph
    renames = {g.input[0].name: "input"}
    for out in g.output:
        width = out.type.tensor_type.shape.dim[-1].dim_value
        renames[out.name] = WIDTHS[width]
    for node in g.node:
        for seq in (node.input, node.output):
            for i, name in enumerate(seq):
                if name in renames:
                    seq[i] = renames[name]
    g.input[0].name = "input"
    outs = sorted(g.output, key=lambda o: list(WIDTHS.values()).index(renames[o.name]))
    outs = [onnx.ValueInfoProto.FromString(o.SerializeToString()) for o in outs]
    for o in outs:
        o.name = renames[o.name]
    del g.output[:]
    g.output.extend(outs)
    return model


def export_onnx(model: keras.Model, path: str | Path) -> Path:
    """Write ``model`` as ONNX to ``path`` (checked with onnx.checker); returns the path."""
    spec = tf.TensorSpec([None, 3, None, None], tf.float32, name="input")

    @tf.function(input_signature=[spec])
    def nchw(x):
        out = model(tf.transpose(x, [0, 2, 3, 1]), training=False)
        return out["loc"], out["conf"], out["landmarks"]

    proto, _ = tf2onnx.convert.from_function(nchw, input_signature=[spec], opset=OPSET)
    return save_checked(_rename(proto), path, "facemask-live train_detector.py")


def max_difference(model: keras.Model, path: str | Path, blob: np.ndarray) -> dict[str, float]:
    """Largest absolute difference per output between the Keras model and the ONNX file (ONNX Runtime) on
    ``blob`` (1, 3, H, W)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"input": blob})))
    ref = model(blob.transpose(0, 2, 3, 1), training=False)
    return {k: float(np.abs(got[k] - np.asarray(ref[k])).max()) for k in WIDTHS.values()}
