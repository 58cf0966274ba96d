"""The quality gate: is a detected face good enough for its mask label to count?

A label guessed from a 15-pixel smudge, a blurred face or the back of a head is worse than no label: it
counts people as masked who are not, or raises a violation on a hand. Every face gets a :class:`Quality`
verdict before its label counts. A face below the bar is *unknown*: drawn grey with "?", written to the
JSONL with ``"label": "unknown"`` and its ``quality``, never counted as masked, never raising an event.

Two bars, rules checked in this order (the first that fails names the reason):

The gate (below it the face is *unknown*):

* ``too small``: the face box is under ``min_size`` pixels high (unmasked faces shrunk to 20 px are called
  "mask" 37 % of the time, at 24 px 12 %, at 28 and 32 px 4 %; but found faces of real photos 24-32 px high are
  classified right 96-100 % of the time, so the bar is 24 px since issue 27, see docs/accuracy.md);
* ``low confidence``: the detector's score is under ``min_score``;
* ``blurred``: the variance of the Laplacian of the grey face crop, resized to ``SHARP_SIDE`` pixels (so a
  large and a small face of the same sharpness score alike), is under ``min_sharpness`` (blur makes masked
  faces look unmasked);
* ``not a face``: RetinaFace's five landmarks (eyes, nose tip, mouth corners) do not fit a face at all: points
  far outside the box, the mouth at the eyes or not below them (beyond ``max_roll`` degrees of tilt), the
  nose not between eyes and mouth, the eyes far apart for the eye-mouth distance. Skipped for a detector
  without landmarks (the SSD).

Evidence (a judged face that fails these keeps its label, but does not count towards a violation event):

* ``low confidence``: the detector's score is under ``alert_min_score`` (real unmasked faces score >= 0.99 in
  the shared clips; the gloved hand in nurse_mask.mp4 0.81-0.94);
* ``profile``: the nose is near or beyond an eye's line (``min_frontal``); a side view of a masked face is
  where the classifier errs, and a side view is not "facing the camera".

A person raises a violation only after ``alert_frames`` frames of such evidence with a violation label among
their last 15 evidence frames (see :mod:`facemask_live.events.monitor`). The defaults were measured on the annotated scenes (size, sharpness) and on the
shared clips (score, landmarks); see docs/accuracy.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from facemask_live.core.config import QualitySettings  # the ``quality`` section of Settings (also this module's API)
from facemask_live.core.results import Face, Quality

SHARP_SIDE = 64  # the grey crop is resized to this side before the Laplacian: sharpness does not depend on size


def sharpness(image: np.ndarray, box) -> float:
    """Variance of the Laplacian of the grey crop of ``box`` resized to SHARP_SIDE x SHARP_SIDE."""
    x1, y1, x2, y2 = (int(v) for v in box)
    h, w = image.shape[:2]
    y1, y2, x1, x2 = min(max(y1, 0), h), min(max(y2, 0), h), min(max(x1, 0), w), min(max(x2, 0), w)
    if y2 - y1 < 2 or x2 - x1 < 2:
        return 0.0
    # a large face: every k-th pixel first (down to at least 2x SHARP_SIDE), a full INTER_AREA costs ~2 ms
    k = max(1, min(y2 - y1, x2 - x1) // (2 * SHARP_SIDE))
    crop = image[y1:y2:k, x1:x2:k]
    # INTER_AREA when shrinking keeps real detail; a small face blown up has none to add
    interp = cv2.INTER_AREA if min(crop.shape[:2]) > SHARP_SIDE else cv2.INTER_LINEAR
    crop = cv2.resize(crop, (SHARP_SIDE, SHARP_SIDE), interpolation=interp)
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


@dataclass(frozen=True, slots=True)
class Geometry:
    """What the five landmarks say about a face."""

    plausible: bool  # they fit a face at all (see the module doc)
    frontal: float  # 1: nose midway between the eyes; 0: nose on or beyond an eye's line, or a side view
    why: str = ""  # which check failed, for tuning


def geometry(points: np.ndarray, box, max_roll: float = 50.0) -> Geometry:
    """Check five landmarks (eyes, nose tip, mouth corners, in RetinaFace's order) against the face box.

    Only gross misfits make a face implausible: a side view squeezes the eyes together and may cross the
    eye and mouth lines, which is a profile (``frontal`` 0), not a non-face."""
    p = np.asarray(points, np.float64).reshape(5, 2)
    x1, y1, x2, y2 = box
    w, h = max(x2 - x1, 1), max(y2 - y1, 1)
    mx, my = 0.25 * w, 0.25 * h
    if np.any(p[:, 0] < x1 - mx) or np.any(p[:, 0] > x2 + mx) or np.any(p[:, 1] < y1 - my) or np.any(p[:, 1] > y2 + my):
        return Geometry(False, 0.0, "outside box")
    le, re, nose, lm, rm = p
    eye_mid, mouth_mid = (le + re) / 2, (lm + rm) / 2
    down = mouth_mid - eye_mid  # the face's own "down", tilted with the head
    length = float(np.hypot(*down))
    if length < 0.1 * h:
        return Geometry(False, 0.0, "mouth at the eyes")
    roll = math.degrees(math.atan2(abs(down[0]), down[1]))  # 0 = upright; >90 = upside down
    if roll > max_roll:
        return Geometry(False, 0.0, "mouth not below the eyes")
    unit = down / length
    side = np.array([unit[1], -unit[0]])  # across the face
    t = float(np.dot(nose - eye_mid, unit)) / length  # 0 at the eyes, 1 at the mouth
    if not -0.2 <= t <= 1.1:
        return Geometry(False, 0.0, "nose not between eyes and mouth")
    eyes = float(np.dot(re - le, side))
    mouth = float(np.dot(rm - lm, side))
    if abs(eyes) > 3.0 * length:
        return Geometry(False, 0.0, "eyes out of proportion")
    if eyes * mouth <= 0 or abs(eyes) < 0.35 * length:
        return Geometry(True, 0.0, "side view")
    # nose position across the face relative to the eyes: 0.5 frontal, 0 or 1 on an eye's line
    u = float(np.dot(nose - le, side)) / eyes
    return Geometry(True, float(np.clip(1.0 - 2.0 * abs(u - 0.5), 0.0, 1.0)))


def assess(face: Face, image: np.ndarray, settings: QualitySettings = QualitySettings()) -> Quality:
    """The quality verdict of one face of ``image`` (see the module doc)."""
    size = float(face.height)
    sharp = sharpness(image, face.box)
    geo = None
    if face.landmarks is not None and settings.landmarks:
        geo = geometry(face.landmarks, face.box, settings.max_roll)
    frontal = None if geo is None else round(geo.frontal, 3)

    def verdict(reason: str = "", judged: bool | None = None) -> Quality:
        judged = not reason if judged is None else judged
        return Quality(judged, reason, size, round(sharp, 1), frontal, evidence=not reason)

    if not settings.enabled:
        return verdict()
    # the gate: below it the label does not count at all
    if size < settings.min_size:
        return verdict("too small")
    if face.score < settings.min_score:
        return verdict("low confidence")
    if sharp < settings.min_sharpness:
        return verdict("blurred")
    if geo is not None and not geo.plausible:
        return verdict("not a face")
    # judged, but not strong enough to count towards a violation event
    if face.score < settings.alert_min_score:
        return verdict("low confidence", judged=True)
    if geo is not None and geo.frontal < settings.min_frontal:
        return verdict("profile", judged=True)
    return verdict()
