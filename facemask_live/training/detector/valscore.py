"""Validation figures of a detector on annotated scenes: precision-recall curves per face-size band, and the
number the best epoch is chosen by.

The detections of every photo are matched to its faces once, at a low threshold, with the evaluation's own
greedy matching (``facemask_live.measure.evaluate.match``, IoU >= 0.4, by decreasing score); a higher threshold keeps
a prefix of each photo's detections and does not change their matches (NMS and matching both go by score), so
one pass gives the whole curve. Bands and precision are those of ``python -m facemask_live.evaluate``: a face
counts by its annotated height (20-40 px, >= 40 px); an unmatched detection by its own height.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from facemask_live.core.results import Face
from facemask_live.measure.evaluate import BAND_MIN, GroundTruth, match, parse_voc

from .scenes import Scene

MIN_HEIGHT = 40
BANDS = ("20-40", ">=40", ">=20")
CLASSES = ("mask", "no_mask", "incorrect_mask")
THRESHOLDS = np.round(np.arange(0.10, 1.0, 0.01), 2)


def band_of(height: float) -> str | None:
    if height >= MIN_HEIGHT:
        return ">=40"
    return "20-40" if height >= BAND_MIN else None


@dataclass
class Matched:
    """Every detection of a split (score, matched, band, label of the matched face) and the face counts."""

    score: np.ndarray
    true: np.ndarray
    band: np.ndarray  # object array of band names (None: under 20 px)
    label: np.ndarray
    faces: dict[tuple[str, str], int]  # (band, class) -> annotated faces


def match_split(truths: Sequence[list[GroundTruth]], detections: Sequence[list[Face]], min_iou: float = 0.4) -> Matched:
    rows, faces = [], {}
    for truth, found in zip(truths, detections):
        for gt in truth:
            b = band_of(gt.height)
            if b:
                faces[(b, gt.label)] = faces.get((b, gt.label), 0) + 1
        pairs = {fi: ti for fi, ti, _ in match(truth, found, min_iou)}
        for fi, face in enumerate(found):
            if fi in pairs:
                gt = truth[pairs[fi]]
                rows.append((face.score, True, band_of(gt.height), gt.label))
            else:
                rows.append((face.score, False, band_of(face.height), None))
    cols = list(zip(*rows)) if rows else [(), (), (), ()]
    return Matched(np.array(cols[0], np.float64), np.array(cols[1], bool), np.array(cols[2], object),
                   np.array(cols[3], object), faces)


def _in_band(m: Matched, band: str) -> np.ndarray:
    return np.isin(m.band, ("20-40", ">=40")) if band == ">=20" else m.band == band


def figures_at(m: Matched, threshold: float, band: str) -> dict:
    """Precision and recall per class (and masked+unmasked) of one band at one threshold."""
    sel = (m.score >= threshold) & _in_band(m, band)
    tp = int(np.sum(sel & m.true))
    n = int(np.sum(sel))
    bands = ("20-40", ">=40") if band == ">=20" else (band,)
    out = {"threshold": float(threshold), "precision": tp / n if n else None, "true": tp, "detections": n}
    for cls in (*CLASSES, "mask+no_mask"):
        classes = ("mask", "no_mask") if cls == "mask+no_mask" else (cls,)
        total = sum(m.faces.get((b, c), 0) for b in bands for c in classes)
        found = int(np.sum(sel & m.true & np.isin(m.label, classes)))
        out[f"recall_{cls}"] = found / total if total else None
        out[f"faces_{cls}"] = total
    return out


def curves(m: Matched) -> dict[str, list[dict]]:
    """Per band, the figures at every threshold of THRESHOLDS."""
    return {band: [figures_at(m, t, band) for t in THRESHOLDS] for band in BANDS}


def recall_at_precision(m: Matched, precision: float) -> tuple[float, float | None]:
    """(best masked+unmasked recall over faces >= 20 px with precision >= ``precision``, its threshold);
    (0, None) if no threshold reaches that precision."""
    best, at = 0.0, None
    for t in THRESHOLDS:
        f = figures_at(m, t, ">=20")
        if f["precision"] is not None and f["precision"] >= precision and (f["recall_mask+no_mask"] or 0) > best:
            best, at = f["recall_mask+no_mask"], float(t)
    return best, at


def detect_scenes(detector, scenes: Sequence[Scene], progress: bool = True) -> tuple[list, list]:
    """(annotated faces, detections) of every scene, run as the app runs a frame."""
    from tqdm import tqdm

    truths, found = [], []
    for s in tqdm(scenes, desc="validate", unit="photo", disable=not progress, leave=False):
        image = cv2.imread(str(s.image), cv2.IMREAD_COLOR)
        truths.append(parse_voc(s.annotation)[1])
        found.append(detector.detect(image))
    return truths, found


def summary(m: Matched, precision: float, confidence: float) -> dict:
    """The figures kept per epoch: the selection number and every band at the app's confidence."""
    recall, at = recall_at_precision(m, precision)
    return {"select_precision": precision, "recall_at_precision": recall, "threshold_at_precision": at,
            "at_confidence": {band: figures_at(m, confidence, band) for band in BANDS}}
