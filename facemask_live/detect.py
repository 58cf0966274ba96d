"""Face detection with OpenCV's DNN res10 300x300 SSD (Caffe)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np

from .errors import ModelError
from .results import Face

PROTOTXT = "deploy.prototxt"
CAFFEMODEL = "res10_300x300_ssd_iter_140000.caffemodel"
MEAN_BGR = (104.0, 177.0, 123.0)


def models_dir() -> Path:
    """Where the shipped models live: $FACEMASK_MODELS, the repo's models/, or the installed share dir."""
    env = os.environ.get("FACEMASK_MODELS")
    candidates = [Path(env)] if env else []
    candidates += [
        Path(__file__).resolve().parent.parent / "models",
        Path(sys.prefix) / "share" / "facemask-live" / "models",
    ]
    for c in candidates:
        if c.is_dir():
            return c
    return candidates[0]


def clip_box(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    return (
        int(min(max(x1, 0), width)),
        int(min(max(y1, 0), height)),
        int(min(max(x2, 0), width)),
        int(min(max(y2, 0), height)),
    )


class FaceDetector:
    """res10 SSD face detector.

    ``confidence``: minimum detector score; ``min_size``: minimum face height and width in pixels
    of the original frame; ``input_size``: side of the square network input (300 is what the model
    was trained on; larger finds smaller faces at a higher cost).
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        confidence: float = 0.5,
        min_size: int = 20,
        input_size: int = 300,
    ):
        if not 0.0 < confidence <= 1.0:
            raise ValueError(f"detector confidence must be in (0, 1], got {confidence}")
        if min_size < 0:
            raise ValueError(f"min_size must be >= 0, got {min_size}")
        model_dir = Path(model_dir) if model_dir else models_dir()
        proto, weights = model_dir / PROTOTXT, model_dir / CAFFEMODEL
        for p in (proto, weights):
            if not p.is_file():
                raise ModelError(f"face detector file not found: {p} (pass --detector-dir DIR with {PROTOTXT} and {CAFFEMODEL})")
        try:
            self.net = cv2.dnn.readNetFromCaffe(str(proto), str(weights))
        except cv2.error as exc:
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
            raise ModelError(f"face detector model is corrupt or unreadable: {weights} ({first})") from None
        if self.net.empty():
            raise ModelError(f"face detector model is empty: {weights}")
        self.confidence = confidence
        self.min_size = min_size
        self.input_size = input_size

    def raw(self, image: np.ndarray) -> np.ndarray:
        """Run the network once; returns an (N, 5) array of [score, x1, y1, x2, y2] in relative units."""
        s = self.input_size
        blob = cv2.dnn.blobFromImage(cv2.resize(image, (s, s), interpolation=cv2.INTER_LINEAR), 1.0, (s, s), MEAN_BGR)
        self.net.setInput(blob)
        out = self.net.forward()
        return out[0, 0, :, 2:7]

    def detect(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        det = self.raw(image)
        det = det[det[:, 0] >= self.confidence]
        faces: list[Face] = []
        scale = np.array([w, h, w, h], dtype=np.float32)
        for row in det:
            box = clip_box(np.round(row[1:5] * scale), w, h)
            if box[2] - box[0] < max(self.min_size, 1) or box[3] - box[1] < max(self.min_size, 1):
                continue
            faces.append(Face(box=box, score=float(row[0])))
        faces.sort(key=lambda f: -f.score)
        return faces
