"""The one pipeline every front end drives: detect -> classify (one batched call) -> track -> events."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np

from .results import Face, Frame, FrameResult

if TYPE_CHECKING:  # pragma: no cover
    from .classify import MaskClassifier
    from .detect import FaceDetector


def crop_faces(image: np.ndarray, faces: Iterable[Face], margin: float = 0.0) -> list[np.ndarray]:
    """Cut each face box, grown by ``margin`` (fraction of the box size) on every side, clipped to the image.

    Crops are views into ``image`` (no copy); the classifier's resize makes its own buffers.
    """
    h, w = image.shape[:2]
    crops = []
    for f in faces:
        x1, y1, x2, y2 = f.box
        mx, my = int(round((x2 - x1) * margin)), int(round((y2 - y1) * margin))
        crops.append(image[max(y1 - my, 0) : min(y2 + my, h), max(x1 - mx, 0) : min(x2 + mx, w)])
    return crops


class Pipeline:
    """Turns frames into :class:`FrameResult`s. Stateless but for the optional tracker and monitor.

    tracker: object with ``update(faces, frame) -> None`` that sets track ids/labels on the faces.
    monitor: object with ``update(result) -> list[Event]`` raising violation events.
    """

    def __init__(self, detector: FaceDetector, classifier: MaskClassifier, tracker=None, monitor=None):
        self.detector = detector
        self.classifier = classifier
        self.tracker = tracker
        self.monitor = monitor
        self.labels = list(classifier.labels)

    def classify(self, image: np.ndarray, faces: list[Face]) -> None:
        """Label ``faces`` in place with one batched classifier call."""
        if not faces:
            return
        probs = self.classifier.predict(crop_faces(image, faces, self.classifier.crop_margin))
        best = probs.argmax(axis=1)
        for face, row, k in zip(faces, probs, best):
            face.label = self.labels[k]
            face.prob = float(row[k])
            face.probs = {lab: float(p) for lab, p in zip(self.labels, row)}

    def process(self, frame: Frame) -> FrameResult:
        clock = time.perf_counter
        t0 = clock()
        faces = self.detector.detect(frame.image)
        t1 = clock()
        self.classify(frame.image, faces)
        t2 = clock()
        result = FrameResult(frame, faces)
        if self.tracker is not None:
            self.tracker.update(faces, frame)
        t3 = clock()
        if self.monitor is not None:
            result.events = self.monitor.update(result)
        t4 = clock()
        result.timings.update(detect=t1 - t0, classify=t2 - t1, track=t3 - t2, events=t4 - t3)
        return result

    def is_violation(self, label: str) -> bool:
        return self.classifier.is_violation(label)


ResultCallback = Callable[[FrameResult], None]
