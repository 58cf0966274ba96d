"""Box arithmetic shared by detection, tracking, classification and evaluation.

Boxes are ``(x1, y1, x2, y2)`` in pixels, x2/y2 exclusive (see :data:`facemask_live.core.results.Box`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np

from facemask_live.core.results import Box, Face

FloatBox = tuple[float, float, float, float]


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes (0 when either is empty)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def clip_box(box: Sequence[float], width: int, height: int) -> Box:
    """``box`` as whole pixels inside a ``width`` x ``height`` image (truncated, not rounded)."""
    x1, y1, x2, y2 = box
    return (
        int(min(max(x1, 0), width)),
        int(min(max(y1, 0), height)),
        int(min(max(x2, 0), width)),
        int(min(max(y2, 0), height)),
    )


def grow_box(box: Box, margin: float, width: int, height: int) -> Box:
    """``box`` grown by ``margin`` (fraction of its width/height, rounded to whole pixels) on every side, clipped."""
    x1, y1, x2, y2 = box
    mx, my = int(round((x2 - x1) * margin)), int(round((y2 - y1) * margin))
    return max(x1 - mx, 0), max(y1 - my, 0), min(x2 + mx, width), min(y2 + my, height)


def crop(image: np.ndarray, box: Box, margin: float = 0.0) -> np.ndarray:
    """The pixels of ``box`` grown by ``margin`` (a view into ``image``, no copy); empty if the box is outside."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = grow_box(box, margin, w, h)
    return image[y1:y2, x1:x2]


def crop_faces(image: np.ndarray, faces: Iterable[Face], margin: float = 0.0) -> list[np.ndarray]:
    """Cut each face box, grown by ``margin`` (fraction of the box size) on every side, clipped to the image.

    Crops are views into ``image`` (no copy); the classifier's resize makes its own buffers.
    """
    return [crop(image, f.box, margin) for f in faces]


def scale_faces(faces: list[Face], sx: float, sy: float, width: int, height: int) -> list[Face]:
    """``faces`` with their boxes and landmarks scaled by (sx, sy), boxes clipped to ``width`` x ``height``."""
    out = []
    for f in faces:
        x1, y1, x2, y2 = f.box
        box = (round(x1 * sx), round(y1 * sy), min(round(x2 * sx), width), min(round(y2 * sy), height))
        lm = None if f.landmarks is None else f.landmarks * (sx, sy)
        out.append(dataclasses.replace(f, box=box, landmarks=lm))
    return out
