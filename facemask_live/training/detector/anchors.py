"""RetinaFace anchors, matching of annotated faces to anchors, and the box encoding (variances 0.1 / 0.2).

The anchors are the app's own (``RetinaFaceDetector.STEPS``, in the network's output order), so what is
trained is what ``facemask_live/detection/detect.py`` decodes. Matching (per training tile):

* an anchor is positive if its best IoU with a face is >= ``pos_iou`` (0.35), and every face also gets its
  single best anchor (so a small face between anchor sizes is still learnt);
* negative if its best IoU with every face is < ``neg_iou`` (0.3) and it overlaps no ignore region by >= ``neg_iou``;
* ignored otherwise (between the two thresholds, on an ignore region: an unannotated face).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VARIANCES = (0.1, 0.2)
POSITIVE, NEGATIVE, IGNORE = 1, 0, -1


def corners(anchors: np.ndarray) -> np.ndarray:
    """[cx, cy, w, h] -> [x1, y1, x2, y2]."""
    return np.hstack([anchors[:, :2] - anchors[:, 2:] / 2, anchors[:, :2] + anchors[:, 2:] / 2])


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4), corners format -> (N, M)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def encode(boxes: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Corner boxes (N, 4) as regression targets of their anchors [cx, cy, w, h] (N, 4)."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    size = np.maximum(boxes[:, 2:] - boxes[:, :2], 1e-3)
    d_centre = (centre - anchors[:, :2]) / (VARIANCES[0] * anchors[:, 2:])
    d_size = np.log(size / anchors[:, 2:]) / VARIANCES[1]
    return np.hstack([d_centre, d_size]).astype(np.float32)


def decode(loc: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Regression outputs (N, 4) -> corner boxes, the decoding of ``RetinaFaceDetector.raw``."""
    centre = anchors[:, :2] + loc[:, :2] * VARIANCES[0] * anchors[:, 2:]
    size = anchors[:, 2:] * np.exp(loc[:, 2:] * VARIANCES[1])
    return np.hstack([centre - size / 2, centre + size / 2])


@dataclass(frozen=True)
class MatchSettings:
    pos_iou: float = 0.35
    neg_iou: float = 0.3


def match(anchors: np.ndarray, faces: np.ndarray, ignore: np.ndarray, settings: MatchSettings = MatchSettings()):
    """(labels (N,) int8 POSITIVE/NEGATIVE/IGNORE, loc targets (N, 4) float32) of one tile.

    ``faces`` (M, 4) and ``ignore`` (K, 4) are corner boxes in tile pixels; either may be empty."""
    n = len(anchors)
    labels = np.full(n, NEGATIVE, np.int8)
    targets = np.zeros((n, 4), np.float32)
    boxes = corners(anchors)
    if len(ignore):
        labels[iou_matrix(boxes, ignore).max(axis=1) >= settings.neg_iou] = IGNORE
    if not len(faces):
        return labels, targets
    ious = iou_matrix(boxes, faces)
    best_face = ious.argmax(axis=1)
    best_iou = ious[np.arange(n), best_face]
    labels[(best_iou >= settings.neg_iou) & (best_iou < settings.pos_iou)] = IGNORE
    best_anchor = ious.argmax(axis=0)  # every face keeps its single best anchor
    best_face[best_anchor] = np.arange(len(faces))
    best_iou[best_anchor] = np.maximum(best_iou[best_anchor], settings.pos_iou)
    pos = best_iou >= settings.pos_iou
    labels[pos] = POSITIVE
    targets[pos] = encode(faces[best_face[pos]], anchors[pos])
    return labels, targets
