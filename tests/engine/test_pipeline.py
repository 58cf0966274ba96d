"""The optimised pipeline (batched classifier, the engine's lookahead, thread settings, detect-every-N with
optical flow) gives the same boxes and labels as the straightforward loop on a real clip."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from facemask_live.core.results import Face, Frame
from facemask_live.detection.classify import MaskClassifier
from facemask_live.detection.detect import RetinaFaceDetector, create_detector
from facemask_live.engine.pipeline import BoxFlow, Pipeline, crop_faces
from facemask_live.engine.site import CameraSpec, Site, SiteSettings
from facemask_live.tracking.track import iou

N_FRAMES = 30
PROB_TOL = 2e-3  # batched vs one-by-one runtime calls, 1 vs 2 threads: float rounding only


@pytest.fixture(scope="module")
def clip(shared_dir):
    return shared_dir / "media" / "videos" / "office_mask.mp4"


@pytest.fixture(scope="module")
def clip_frames(clip):
    cap = cv2.VideoCapture(str(clip))
    frames = []
    for _ in range(N_FRAMES):
        ok, img = cap.read()
        assert ok, f"cannot read {clip}"
        frames.append(img)
    cap.release()
    return frames


@pytest.fixture(scope="module")
def reference(clip_frames, classifier_model):
    """The plain loop: detector.detect, then classifier.predict on each crop on its own, one thread."""
    cv2.setNumThreads(1)
    detector = create_detector()
    classifier = MaskClassifier(classifier_model, threads=1)
    out = []
    for img in clip_frames:
        faces = detector.detect(img)
        rows = []
        for face in faces:
            crop = crop_faces(img, [face], classifier.crop_margin)[0]
            probs = classifier.predict([crop])[0]
            rows.append((face.box, classifier.labels[int(probs.argmax())], probs))
        out.append(rows)
    return out


def one_camera(detector, classifier, on_result, *, lookahead: bool = True, threads: int = 1) -> Site:
    """The engine with nothing but a detector, a classifier and ``on_result(result)`` (no tracker, no sinks)."""
    return Site(detector, classifier, SiteSettings(annotate=True, lookahead=lookahead, opencv_threads=threads),
                on_result=lambda _cam, result, _img: on_result(result))


def run_engine(clip, classifier_model, *, threads: int, pipelined: bool, detect_every: int = 1, frames: int = N_FRAMES):
    """One camera through the engine frame by frame (as ``--source CLIP`` headless); ``pipelined``: the next frame
    is located while this one is finished (the engine's lookahead), else one frame at a time."""
    results = []
    site = one_camera(create_detector(threads=threads), MaskClassifier(classifier_model, threads=threads), results.append,
                      lookahead=pipelined, threads=threads)
    site.add_camera(CameraSpec("clip", str(clip), realtime=False, detect_every=detect_every, max_frames=frames))
    with site:
        site.wait(120)
    return results


def assert_same(faces: list[Face], expected, labels) -> None:
    assert len(faces) == len(expected)
    for face, (box, label, probs) in zip(faces, expected):
        assert np.abs(np.subtract(face.box, box)).max() <= 1, (face.box, box)
        assert face.label == label
        assert np.allclose([face.probs[k] for k in labels], probs, atol=PROB_TOL)
        assert face.prob == pytest.approx(float(probs.max()), abs=PROB_TOL)


def test_crop_faces_margin_and_clipping():
    img = np.arange(100 * 120 * 3, dtype=np.uint32).reshape(100, 120, 3).astype(np.uint8)
    inside, edge = Face((40, 30, 60, 70), 0.9), Face((0, 90, 30, 100), 0.9)
    a, b = crop_faces(img, [inside, edge], margin=0.1)
    assert a.shape == (48, 24, 3)  # 20x40 box grown by 2 px / 4 px on every side
    assert np.array_equal(a, img[26:74, 38:62])
    assert np.array_equal(b, img[89:100, 0:33])  # clipped at the image border
    assert np.shares_memory(a, img)  # views, no copies


@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "serial"])
@pytest.mark.parametrize("threads", [1, 2])
def test_same_boxes_and_labels_as_plain_loop(clip, classifier_model, reference, pipelined, threads):
    results = run_engine(clip, classifier_model, threads=threads, pipelined=pipelined)
    assert [r.frame.index for r in results] == list(range(N_FRAMES))  # every frame, in order
    labels = MaskClassifier(classifier_model).labels
    assert sum(len(r.faces) for r in results) >= N_FRAMES  # the clip shows a face throughout
    for result, expected in zip(results, reference):
        assert "detect" in result.timings and "classify" in result.timings
        assert_same(result.faces, expected, labels)


@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "serial"])
@pytest.mark.parametrize("every", [2, 3])
def test_detect_every_n(clip, classifier_model, reference, pipelined, every):
    results = run_engine(clip, classifier_model, threads=1, pipelined=pipelined, detect_every=every)
    assert [r.frame.index for r in results] == list(range(N_FRAMES))
    labels = MaskClassifier(classifier_model).labels
    detected = [i for i, r in enumerate(results) if "detect" in r.timings]
    carried = [i for i, r in enumerate(results) if "flow" in r.timings]
    assert sorted(detected + carried) == list(range(N_FRAMES))
    assert detected[0] == 0 and carried, "frames between detector runs must carry boxes"
    gaps = np.diff(detected + [N_FRAMES])
    assert gaps.max() <= every  # the detector runs at least every Nth frame
    for i in detected:
        assert_same(results[i].faces, reference[i], labels)
    last_detected = 0
    for i, result in enumerate(results):
        if i in detected:
            last_detected = i
            continue
        assert "classify" not in result.timings
        # the carried boxes follow the face: they overlap the box the detector finds on this very frame
        assert len(result.faces) == len(reference[i]) >= 1
        for face, (box, _, _) in zip(result.faces, reference[i]):
            assert iou(face.box, box) > 0.7, (i, face.box, box)
        # and keep the label of the face they were carried from
        assert [f.label for f in result.faces] == [f.label for f in results[last_detected].faces]


def test_box_flow_follows_a_shifted_frame(clip_frames):
    img = clip_frames[0]
    face = create_detector().detect(img)[0]
    flow = BoxFlow()
    flow.remember(img)
    dx, dy = 17, -9
    shifted = cv2.warpAffine(
        img, np.float32([[1, 0, dx], [0, 1, dy]]), (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REPLICATE
    )
    (moved,) = flow.move(shifted, [face])
    expected = (face.box[0] + dx, face.box[1] + dy, face.box[2] + dx, face.box[3] + dy)
    assert np.abs(np.subtract(moved.box, expected)).max() <= 2, (moved.box, expected)
    # zoomed in by 10 % about the box centre: the box grows with it
    cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    zoom = cv2.warpAffine(shifted, cv2.getRotationMatrix2D((cx + dx, cy + dy), 0, 1.1), (img.shape[1], img.shape[0]))
    (grown,) = flow.move(zoom, [moved])
    assert grown.width == pytest.approx(moved.width * 1.1, abs=4)
    assert grown.height == pytest.approx(moved.height * 1.1, abs=4)


def test_box_flow_on_a_720p_frame_follows_a_fast_move(clip_frames):
    """At 1280x720 the flow works at half size on the part of the frames around the face only: a face that moves
    40 px between frames (a person walking past close to the camera) is still followed."""
    img = cv2.resize(clip_frames[0], (1280, 720))
    face = create_detector().detect(img)[0]
    flow = BoxFlow()
    flow.remember(img)
    dx, dy = 40, 12
    shifted = cv2.warpAffine(img, np.float32([[1, 0, dx], [0, 1, dy]]), (1280, 720), borderMode=cv2.BORDER_REPLICATE)
    (moved,) = flow.move(shifted, [face])
    expected = (face.box[0] + dx, face.box[1] + dy, face.box[2] + dx, face.box[3] + dy)
    assert np.abs(np.subtract(moved.box, expected)).max() <= 3, (moved.box, expected)


@pytest.mark.parametrize("side, scale", [(80, 1.0), (150, 0.5), (260, 0.5)])
def test_box_flow_follows_a_large_face_on_a_smaller_picture_as_closely(clip_frames, side, scale):
    """In a frame that flows at full size, a face of 96 px or more is followed on a picture of half the size: its
    texture is still there, and LK's pyramids cover a quarter of the pixels. The box lands as close as at full size."""
    from facemask_live.engine.pipeline import FLOW_FACE_SIDE

    img = clip_frames[0]
    face = create_detector().detect(img)[0]
    f = side / face.height
    big = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_LINEAR)
    box = tuple(round(v * f) for v in face.box)
    flow = BoxFlow(max_side=10_000)  # the picture at its own size: only the face's size decides the flow's scale
    flow.remember(big)
    dx, dy = 11, -6
    shifted = cv2.warpAffine(big, np.float32([[1, 0, dx], [0, 1, dy]]), big.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    (moved,) = flow.move(shifted, [Face(box=box, score=1.0)])
    expected = (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)
    assert np.abs(np.subtract(moved.box, expected)).max() <= 2, (moved.box, expected)
    (x1, y1, x2, y2), s = flow._grey[1]
    assert s == scale and (side >= 2 * FLOW_FACE_SIDE) == (s < 1)
    assert flow._grey[2].shape[1] == pytest.approx((x2 - x1) * scale, abs=1)  # the grey region the flow ran on


def test_box_flow_cuts_each_frame_grey_once_while_the_faces_stay_in_its_region(clip_frames):
    """The grey region made for a frame is the next move's starting picture (not cut from the frame again) as long as
    the faces stay inside it, and the boxes are the ones a flow starting afresh from that frame finds."""
    img = clip_frames[0]
    face = create_detector().detect(img)[0]
    shift = [cv2.warpAffine(img, np.float32([[1, 0, 3 * k], [0, 1, k]]), (img.shape[1], img.shape[0]),
                            borderMode=cv2.BORDER_REPLICATE) for k in (1, 2)]
    flow, cuts = BoxFlow(), []
    real_region = flow._region
    flow._region = lambda image, *a: cuts.append(image) or real_region(image, *a)  # counts, then the real work
    flow.remember(img)
    (first,) = flow.move(shift[0], [face])
    assert [c is img for c in cuts] == [True, False]  # two frames cut: the remembered one and the new one
    cuts.clear()
    (second,) = flow.move(shift[1], [first])
    assert len(cuts) == 1 and cuts[0] is shift[1]  # only the new frame: shift[0]'s grey was kept
    fresh = BoxFlow()
    fresh.remember(shift[0])
    assert fresh.move(shift[1], [first])[0].box == second.box
    assert np.abs(np.subtract(second.box, (face.box[0] + 6, face.box[1] + 2, face.box[2] + 6, face.box[3] + 2))).max() <= 2


@pytest.mark.parametrize("n", [1, 4, 5, 24, 25])
def test_flow_median_is_numpy_median(n):
    from facemask_live.engine.pipeline import _median

    rng = np.random.default_rng(n)
    a = rng.normal(size=(n, 2)).astype(np.float32)
    assert np.array_equal(_median(a), np.median(a, axis=0))
    assert np.array_equal(_median(a[:, 0]), np.median(a[:, 0]))


def test_detect_every_must_be_positive(classifier_model):
    clf = MaskClassifier(classifier_model)
    with pytest.raises(ValueError, match="detect_every"):
        Pipeline(create_detector(), clf, detect_every=0)


class FailingDetector(RetinaFaceDetector):
    """The real detector that breaks on its 5th frame (e.g. a corrupt frame)."""

    calls = 0

    def detect(self, image):
        self.calls += 1
        if self.calls == 5:
            raise RuntimeError("detector broke on frame 5")
        return super().detect(image)


def test_a_detector_error_costs_one_frame_not_the_run(clip, classifier_model):
    seen = []
    site = one_camera(FailingDetector(), MaskClassifier(classifier_model), seen.append)
    site.add_camera(CameraSpec("clip", str(clip), realtime=False, detect_every=1, max_frames=20))
    with site:
        site.wait(120)
    assert [r.frame.index for r in seen] == list(range(20))  # every frame, in order, also after the error
    assert seen[4].faces == [] and all(r.faces for i, r in enumerate(seen) if i != 4)
    assert site.detector_errors == 1


def test_engine_stops_promptly(clip, classifier_model):
    seen, stop = [], threading.Event()

    def on_result(result):
        seen.append(result.frame.index)
        if result.frame.index == 3:
            stop.set()

    site = one_camera(create_detector(), MaskClassifier(classifier_model), on_result)
    site.add_camera(CameraSpec("clip", str(clip), realtime=False))
    with site:
        site.wait(120, stop)
    assert 4 <= len(seen) < 40 and seen == list(range(len(seen)))  # stopped within a moment (the wait polls at 0.2 s)
    assert not any(t.name.startswith(("camera[", "site-detector", "capture[")) for t in threading.enumerate())


def test_pipeline_process_on_image_without_faces(classifier_model):
    pipeline = Pipeline(create_detector(), MaskClassifier(classifier_model), detect_every=3)
    blank = np.full((240, 320, 3), 127, np.uint8)
    for i in range(4):  # nothing to carry: every frame runs the detector
        result = pipeline.process(Frame(blank, i, i / 25, 0.0))
        assert result.faces == [] and "detect" in result.timings


def test_a_paused_live_camera_shows_no_stale_frame_after_it(clip, classifier_model):
    """A live-rate source paused in the window: the first frame after resuming was captured after the pause, and
    no box is carried by optical flow across it: it is detected afresh."""
    seen = []
    site = one_camera(create_detector(), MaskClassifier(classifier_model), seen.append)
    cam = site.add_camera(CameraSpec("clip", str(clip), realtime=True))
    with site:
        deadline = time.monotonic() + 60
        while not any(r.faces for r in seen) and time.monotonic() < deadline:
            time.sleep(0.05)
        first = seen[-1]
        cam.paused.set()
        time.sleep(0.3)  # a frame in hand finishes
        paused_at, n = time.monotonic(), len(seen)
        time.sleep(0.6)  # the capture keeps playing (and dropping) meanwhile
        assert len(seen) == n  # nothing processed while paused
        cam.paused.clear()
        while not any(r.faces for r in seen[n:]) and time.monotonic() < deadline:
            time.sleep(0.02)
    after = seen[n]
    assert after.frame.captured_at > paused_at + 0.3
    assert after.frame.index > first.frame.index + 10  # 0.6 s at 25 fps went by
    # nothing is carried over the pause: the first frame after it waits for its own detection, which finds the face
    assert "detect" in after.timings and after.faces
