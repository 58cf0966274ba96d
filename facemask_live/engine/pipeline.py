"""The one pipeline every front end drives: locate faces -> classify (one batched call) -> track -> events.

A frame goes through two stages so that a runner can overlap them across threads (see
:class:`facemask_live.engine.site.Camera`: the detector thread locates, the camera's thread finishes):

* :meth:`Pipeline.locate` - find the faces: run the detector, or, with ``detect_every=N > 1``, on the
  frames in between move the previous frame's boxes with sparse optical flow (a few milliseconds
  instead of a detector pass). Called once per frame, in frame order, from one thread.
* :meth:`Pipeline.finish` - label the faces with ONE batched classifier call (faces carried by optical
  flow keep the label of the face they came from), then tracker and event monitor. Called in frame
  order, from one thread (it may be a different thread from the one calling ``locate``).

``process(frame)`` does both in one call. OpenCV DNN and onnxruntime release the GIL, so the detector
of frame n+1 can really run while frame n is classified, tracked and drawn.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from facemask_live.core.geometry import crop_faces  # noqa: F401 - also part of this module's API
from facemask_live.core.results import UNKNOWN_LABEL, Face, Frame, FrameResult

if TYPE_CHECKING:  # pragma: no cover
    from facemask_live.detection.classify import MaskClassifier
    from facemask_live.detection.detect import FaceDetector
    from facemask_live.detection.quality import QualitySettings

FLOW_MAX_SIDE = 640  # optical flow runs on a copy of the frame at most this wide/high
FLOW_GRID = 5  # points per side of the grid followed inside each face box
# pixels (of the flow image) around the followed points that the flow looks at: more than the pyramid's reach
# (a 15 px window at level 2 spans 60 px at level 0) plus the motion it can follow
FLOW_MARGIN = 64
FLOW_MIN_POINTS = 4  # fewer good points: the box stays where it was
# in a frame small enough to flow at full size (a 640x360 substream), faces of twice this many pixels or more are
# followed at half size, where they still span FLOW_FACE_SIDE pixels of texture: LK's pyramids cover a quarter of the
# pixels. Measured: 14 % less CPU per move for a 100-120 px face, 26 % for 240 px, boxes as close; halving a 720p
# frame's flow once more cost more than it saved (its region, with the margin, is small already: docs/performance.md)
FLOW_FACE_SIDE = 48
FLOW_FB_ERROR = 1.0  # forward-backward error (pixels of the small image) above which a point is dropped
_LK_PARAMS = {
    "winSize": (15, 15),
    "maxLevel": 2,
    "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 0.03),
}


@dataclass(slots=True)
class Located:
    """Output of :meth:`Pipeline.locate`, input of :meth:`Pipeline.finish`."""

    frame: Frame
    faces: list[Face]
    detected: bool  # True: the detector ran on this frame; False: boxes carried by optical flow
    sources: list[Face | None] = field(default_factory=list)  # per face: the previous frame's face it was carried from
    timings: dict[str, float] = field(default_factory=dict)


def carry_labels(located: Located) -> None:
    """Faces carried by optical flow keep the labels (and quality verdicts) of the faces they came from."""
    for face, src in zip(located.faces, located.sources):
        if src is not None:
            face.label, face.prob, face.probs = src.label, src.prob, src.probs
            face.quality, face.landmarks = src.quality, None
            face.carried = src.carried + 1


FLOW_STEP = 16  # the flow's region is cut on a grid of this many flow-image pixels (see BoxFlow.move)
_GRID = np.stack([a.ravel() for a in np.meshgrid(*[(np.arange(FLOW_GRID, dtype=np.float32) + 0.5) / FLOW_GRID] * 2)],
                 axis=1)  # (G*G, 2) in [0, 1]: where in a box the followed points are


def _median(a: np.ndarray) -> np.ndarray:
    """np.median along the first axis, for the few points of a face: a sort, without np.median's ~50 us of checks."""
    a = np.sort(a, axis=0)
    n = a.shape[0]
    return a[n // 2] if n % 2 else (a[n // 2 - 1] + a[n // 2]) / 2


class BoxFlow:
    """Moves face boxes from one frame to the next with pyramidal Lucas-Kanade optical flow.

    A grid of points inside each box is followed forward and backward; points whose round trip misses
    by more than ``FLOW_FB_ERROR`` are dropped. The box moves by the median motion of the rest and is
    scaled by the median change of their distances to the centre (for faces coming closer or leaving).
    """

    def __init__(self, max_side: int = FLOW_MAX_SIDE):
        if max_side < 32:
            raise ValueError(f"optical flow image side must be >= 32, got {max_side}")
        self.max_side = max_side
        self._prev: np.ndarray | None = None  # the frame itself, not a copy: frames are never drawn on in place
        # the grey region of the last frame moved to, kept for the next move (the same region while the faces stay
        # inside it): (frame, (region, scale), grey)
        self._grey: tuple[np.ndarray, tuple[tuple[int, int, int, int], float], np.ndarray] | None = None

    def remember(self, image: np.ndarray) -> None:
        """Keep ``image`` as the frame the next :meth:`move` starts from."""
        self._prev = image

    def reset(self) -> None:
        self._prev = self._grey = None

    def _region(self, image: np.ndarray, x1: int, y1: int, x2: int, y2: int, s: float) -> np.ndarray:
        """Grey ``image[y1:y2, x1:x2]`` scaled by ``s``."""
        roi = image[y1:y2, x1:x2]
        if s < 1.0:
            roi = cv2.resize(roi, (max(round((x2 - x1) * s), 1), max(round((y2 - y1) * s), 1)), interpolation=cv2.INTER_LINEAR)
        return cv2.cvtColor(roi, cv2.COLOR_BGR2GRAY) if roi.ndim == 3 else np.ascontiguousarray(roi)

    def move(self, image: np.ndarray, faces: list[Face]) -> list[Face | None]:
        """New faces for ``image``: each of ``faces`` (boxes in the remembered frame) moved along the flow.

        The list is aligned with ``faces``; None where the box left the image. Only the part of the two frames
        around the faces is looked at (grey, at most ``max_side`` for the whole frame): the flow's cost follows the
        faces, not the frame (a quarter of the work for one face at 640x360, less at 1280x720)."""
        prev, self._prev = self._prev, image
        if prev is None or prev.shape != image.shape or not faces:
            return [Face(box=f.box, score=f.score) for f in faces]
        h, w = image.shape[:2]
        s = min(1.0, self.max_side / max(h, w))
        if s == 1.0 and min(min(f.box[2] - f.box[0], f.box[3] - f.box[1]) for f in faces) >= 2 * FLOW_FACE_SIDE:
            s = 0.5
        pts = []
        for f in faces:
            x1, y1, x2, y2 = f.box
            # the inner 70 % of the box: face texture, not background
            cx, cy, bw, bh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * 0.7, (y2 - y1) * 0.7
            pts.append(_GRID * (bw, bh) + (cx - bw / 2, cy - bh / 2))
        p_img = np.concatenate(pts).astype(np.float32)  # frame pixels
        margin = FLOW_MARGIN / s  # the margin holds the largest motion LK follows
        # the region on a grid of FLOW_STEP flow-image pixels: while the faces move inside it, the last frame's grey region
        # is the next frame's, and is not made twice
        lo, hi = p_img.min(axis=0) - margin, p_img.max(axis=0) + margin + 1
        step = round(FLOW_STEP / s)  # FLOW_STEP pixels of the flow image
        rx1, ry1 = max(int(lo[0]) // step * step, 0), max(int(lo[1]) // step * step, 0)
        rx2, ry2 = min(-(-int(hi[0]) // step) * step, w), min(-(-int(hi[1]) // step) * step, h)
        rect = (rx1, ry1, rx2, ry2)
        kept = self._grey
        prev_g = kept[2] if kept is not None and kept[0] is prev and kept[1] == (rect, s) else self._region(prev, *rect, s)
        cur_g = self._region(image, *rect, s)
        self._grey = (image, (rect, s), cur_g)
        scale = np.array([cur_g.shape[1] / (rx2 - rx1), cur_g.shape[0] / (ry2 - ry1)], np.float32)  # ~ (s, s)
        origin = np.array([rx1, ry1], np.float32)
        q0 = ((p_img - origin) * scale).reshape(-1, 1, 2)
        q1, st1, _ = cv2.calcOpticalFlowPyrLK(prev_g, cur_g, q0, None, **_LK_PARAMS)
        back, st2, _ = cv2.calcOpticalFlowPyrLK(cur_g, prev_g, q1, None, **_LK_PARAMS)
        d = (back - q0).reshape(-1, 2)
        fb = np.sqrt((d * d).sum(axis=1))
        good = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb < FLOW_FB_ERROR)
        # back to the flow image's pixels (frame pixels x s), in which the rest is written
        p0, p1 = p_img * s, (q1.reshape(-1, 2) / scale + origin) * s
        h, w = image.shape[:2]
        n = FLOW_GRID * FLOW_GRID
        out = []
        for i, f in enumerate(faces):
            sl = slice(i * n, (i + 1) * n)
            ok = good[sl]
            if int(ok.sum()) < FLOW_MIN_POINTS:
                out.append(Face(box=f.box, score=f.score))
                continue
            a, b = p0[sl][ok], p1[sl][ok]
            dx, dy = _median(b - a) / s
            ca, cb = a - a.mean(axis=0), b - b.mean(axis=0)
            da, db = np.sqrt((ca * ca).sum(axis=1)), np.sqrt((cb * cb).sum(axis=1))
            keep = da > 1e-3
            scale = min(max(float(_median(db[keep] / da[keep])), 0.8), 1.25) if keep.any() else 1.0
            x1, y1, x2, y2 = f.box
            cx, cy = (x1 + x2) / 2 + dx, (y1 + y2) / 2 + dy
            hw, hh = (x2 - x1) * scale / 2, (y2 - y1) * scale / 2
            box = (
                int(min(max(round(cx - hw), 0), w)),
                int(min(max(round(cy - hh), 0), h)),
                int(min(max(round(cx + hw), 0), w)),
                int(min(max(round(cy + hh), 0), h)),
            )
            out.append(None if box[2] - box[0] < 2 or box[3] - box[1] < 2 else Face(box=box, score=f.score))
        return out


class Pipeline:
    """Turns frames into :class:`FrameResult`s. Stateless but for the optional tracker and monitor
    (and, with ``detect_every > 1``, the boxes carried between detector runs).

    detector: object with ``detect(image) -> list[Face]``.
    classifier: object with ``labels``, ``crop_margin``, ``predict(crops) -> (N, C) probs`` (optionally
      ``preprocess``/``infer`` halves, timed separately) and ``is_violation(label)``.
    tracker: object with ``update(faces, frame) -> None`` that sets track ids/labels on the faces.
    monitor: object with ``update(result) -> list[Event]`` raising violation events.
    detect_every: run the detector on every Nth frame only; the frames in between carry the boxes
      by optical flow and keep their labels (1 = detector on every frame). Still images (frames with
      a ``file``) and frames after one without faces always run the detector.
    quality: the quality gate's settings; every classified face gets a ``quality`` verdict and a face
      below the bar the label ``unknown`` (its classifier ``probs`` are kept, but count nowhere).
    enlarge: False for a camera's detect stream: a frame smaller than the detector's input size is detected at its
      own size (``detector.enlarge_detect_stream``).

    ``result.timings`` (seconds): ``detect`` (detector frames) or ``flow`` (frames in between),
    ``preprocess`` (crop + resize + scale), ``classify`` (the runtime call), ``track``, ``events``.
    """

    def __init__(self, detector: FaceDetector, classifier: MaskClassifier, tracker=None, monitor=None, *, detect_every: int = 1,
                 quality: QualitySettings | None = None, enlarge: bool = True):
        if int(detect_every) != detect_every or detect_every < 1:
            raise ValueError(f"detect_every must be a whole number >= 1, got {detect_every}")
        self.detector = detector
        self.classifier = classifier
        self.tracker = tracker
        self.monitor = monitor
        self.labels = list(classifier.labels)
        self.detect_every = int(detect_every)
        self.quality = quality  # the quality gate (facemask_live.detection.quality); None: every face is judged
        self.enlarge = enlarge  # False: a frame smaller than the detector's input goes in at its own size (a substream)
        self._flow = BoxFlow() if self.detect_every > 1 else None
        self._since_detect = 0  # frames located since the last detector run
        self._last: list[Face] = []  # faces of the previous located frame
        split = callable(getattr(classifier, "preprocess", None)) and callable(getattr(classifier, "infer", None))
        self._split_classifier = split

    # ------------------------------------------------------------------ stage 1
    def locate(self, frame: Frame) -> Located:
        """Find the faces of ``frame``: the detector, or optical flow from the previous frame."""
        clock = time.perf_counter
        t0 = clock()
        flow = self._flow
        if flow is None or self._since_detect == 0 or not self._last or frame.file is not None:
            # no faces to carry (empty scene) also runs the detector: new faces are found at once;
            # so does every still image (image and folder sources): there is no motion to follow
            faces = self.detect(frame.image)
            located = Located(frame, faces, True, [None] * len(faces))
            key = "detect"
            if flow is not None:
                flow.remember(frame.image)
                self._since_detect = 1 % self.detect_every
        else:
            moved = flow.move(frame.image, self._last)
            pairs = [(f, src) for f, src in zip(moved, self._last) if f is not None]
            located = Located(frame, [f for f, _ in pairs], False, [src for _, src in pairs])
            key = "flow"
            self._since_detect = (self._since_detect + 1) % self.detect_every
        if flow is not None:
            self._last = located.faces
        located.timings[key] = clock() - t0
        return located

    def detect(self, image: np.ndarray) -> list[Face]:
        """The detector's faces in ``image`` (enlarged to the detector's input size unless ``enlarge`` is off)."""
        # the keyword only when it is needed: a detector of the caller's own need not know it
        return self.detector.detect(image) if self.enlarge else self.detector.detect(image, enlarge=False)

    # ------------------------------------------------------------------ stage 2
    def classify(self, image: np.ndarray, faces: list[Face], timings: dict[str, float] | None = None) -> None:
        """Label ``faces`` in place with one batched classifier call."""
        if not faces:
            return
        clock = time.perf_counter
        t0 = clock()
        crops = crop_faces(image, faces, self.classifier.crop_margin)
        if self._split_classifier:
            batch = self.classifier.preprocess(crops)
            t1 = clock()
            probs = self.classifier.infer(batch)
        else:
            t1 = t0
            probs = self.classifier.predict(crops)
        t2 = clock()
        labels = self.labels
        best = probs.argmax(axis=1)
        for face, row, k in zip(faces, probs.tolist(), best.tolist()):
            face.label = labels[k]
            face.prob = row[k]
            face.probs = dict(zip(labels, row))
        if self.quality is not None:
            from facemask_live.detection.quality import assess

            for face in faces:
                face.quality = assess(face, image, self.quality)
                if not face.quality.judged:
                    face.label = UNKNOWN_LABEL
        if timings is not None:
            timings["preprocess"] = t1 - t0
            timings["classify"] = t2 - t1
            if self.quality is not None:
                timings["quality"] = clock() - t2

    def finish(self, located: Located) -> FrameResult:
        """Classify, track and raise events for the faces :meth:`locate` found."""
        clock = time.perf_counter
        frame, faces, timings = located.frame, located.faces, located.timings
        if located.detected:
            self.classify(frame.image, faces, timings)
        else:
            carry_labels(located)
        t2 = clock()
        result = FrameResult(frame, faces, timings=timings)
        if self.tracker is not None:
            self.tracker.update(faces, frame)
        t3 = clock()
        if self.monitor is not None:
            result.events = self.monitor.update(result)
        t4 = clock()
        timings["track"] = t3 - t2
        timings["events"] = t4 - t3
        return result

    def process(self, frame: Frame) -> FrameResult:
        """Both stages for one frame."""
        return self.finish(self.locate(frame))

    def reset(self) -> None:
        """Forget carried boxes (e.g. after a seek or a reconnection): the next frame runs the detector."""
        self._since_detect = 0
        self._last = []
        if self._flow is not None:
            self._flow.reset()

    def is_violation(self, label: str) -> bool:
        return self.classifier.is_violation(label)


ResultCallback = Callable[[FrameResult], None]
