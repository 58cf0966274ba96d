"""Privacy: blur the faces of people who did nothing wrong in what the app stores (``--privacy``).

:func:`redact` is a plain function of (image, faces): every face whose shown label is not a violation
(masked, or not judged yet) is pixelated and blurred so that it cannot be recognised; violators stay
sharp, because the event is about them. With ``solid=True`` (``--no-compliant-images``) those faces are
filled with a flat colour instead, so no pixel of them is stored at all.

Where it is applied (:mod:`facemask_live.engine.build` wires it): the violation snapshots
(:class:`~facemask_live.events.monitor.ViolationMonitor` gets it as its ``redact`` argument and applies it before drawing), the recorded video (:class:`PrivateVideo`) and, with
``--privacy-window``, the window (:class:`WindowPrivacy`, which redacts the frame every later sink and
the window see).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from facemask_live.core.config import PrivacySettings
from facemask_live.core.results import Face, FrameResult

PIXEL_BLOCKS = 6  # a face becomes at most 6x6 blocks: no identity left, the head shape still visible
MARGIN = 0.1  # blur a little beyond the detector box (hair line, chin)


def _region(box, shape, margin: float = MARGIN) -> tuple[int, int, int, int] | None:
    h, w = shape[:2]
    x1, y1, x2, y2 = box
    mx, my = int((x2 - x1) * margin), int((y2 - y1) * margin)
    x1, y1, x2, y2 = max(x1 - mx, 0), max(y1 - my, 0), min(x2 + mx, w), min(y2 + my, h)
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def blur_region(image: np.ndarray, region: tuple[int, int, int, int], solid: bool = False) -> None:
    """Pixelate then blur ``region`` of ``image`` in place (or fill it with its mean colour if ``solid``)."""
    x1, y1, x2, y2 = region
    roi = image[y1:y2, x1:x2]
    if solid:
        roi[:] = (128, 128, 128)
        return
    h, w = roi.shape[:2]
    small = cv2.resize(roi, (min(PIXEL_BLOCKS, w), min(PIXEL_BLOCKS, h)), interpolation=cv2.INTER_AREA)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    k = max(3, (min(w, h) // 4) | 1)  # an odd kernel a quarter of the face: no block edges left
    roi[:] = cv2.GaussianBlur(big, (k, k), 0)


def redact(
    image: np.ndarray, faces: Iterable[Face], violation_labels: Iterable[str], *, solid: bool = False, copy: bool = True
) -> np.ndarray:
    """``image`` with every face that is not a violation blurred (or filled, ``solid``); violators untouched."""
    out = image.copy() if copy else image
    violations = frozenset(violation_labels)
    for face in faces:
        if face.shown_label in violations:
            continue
        region = _region(face.box, out.shape)
        if region is not None:
            blur_region(out, region, solid)
    return out


def has_violator(faces: Iterable[Face], violation_labels: Iterable[str]) -> bool:
    violations = frozenset(violation_labels)
    return any(f.shown_label in violations for f in faces)


def private_dir(path: str | Path) -> Path:
    """Create ``path`` (and missing parents) readable by this user only (0700). An existing folder is left as it is."""
    p = Path(path).expanduser()
    if not p.exists():
        p.mkdir(parents=True, mode=0o700)
        os.chmod(p, 0o700)  # mkdir's mode is masked by the umask
    return p


class PrivateVideo:
    """Sink: records the annotated frames with compliant faces blurred (wraps the plain video sink)."""

    needs_annotated = True

    def __init__(self, video, violation_labels: Iterable[str], settings: PrivacySettings):
        self.video = video
        self.violation_labels = frozenset(violation_labels)
        self.settings = settings
        self.skipped = 0

    @property
    def stopped_reason(self) -> str | None:
        return self.video.stopped_reason

    def set_fps(self, fps: float | None) -> None:
        self.video.set_fps(fps)

    def write(self, result: FrameResult, annotated: np.ndarray | None) -> None:
        if annotated is None:
            return
        if self.settings.no_compliant_images and not has_violator(result.faces, self.violation_labels):
            self.skipped += 1  # nobody in violation: nothing of this frame is kept
            return
        if not self.settings.window:  # the window sink has already redacted ``annotated`` in place
            annotated = redact(annotated, result.faces, self.violation_labels, solid=self.settings.no_compliant_images)
        self.video.write(result, annotated)

    def close(self) -> None:
        self.video.close()


class WindowPrivacy:
    """Sink placed first: redacts the annotated frame in place, so the window and every later sink show it blurred.

    It does not ask for annotated frames itself (``needs_annotated``): without a window or a recording there
    is nothing to redact.
    """

    needs_annotated = False
    stopped_reason = None
    redacts_drawing = True  # the main stream's drawing is redacted by it too (sources/dual.py)

    def __init__(self, violation_labels: Iterable[str], settings: PrivacySettings):
        self.violation_labels = frozenset(violation_labels)
        self.settings = settings

    def write(self, result: FrameResult, annotated: np.ndarray | None) -> None:
        if annotated is not None:
            redact(annotated, result.faces, self.violation_labels, solid=self.settings.no_compliant_images, copy=False)

    def close(self) -> None:
        pass
