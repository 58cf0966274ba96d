"""Writing a RetinaFace ONNX file: checked, its folder made, its producer named. Kept apart from the Keras
rebuild so that tools which only edit weights (tools/average_detectors.py) need not import TensorFlow."""

from __future__ import annotations

from pathlib import Path

import onnx


def save_checked(proto: onnx.ModelProto, path: str | Path, producer: str) -> Path:
    """Check the graph and write it to ``path`` (its folder created), named as made by ``producer``."""
    proto.producer_name = producer
    onnx.checker.check_model(proto)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    return path
