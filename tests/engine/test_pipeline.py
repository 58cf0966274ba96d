"""The optimised pipeline (batched classifier, pipelined runner, thread settings, detect-every-N with
optical flow) gives the same boxes and labels as the straightforward loop on a real clip."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from facemask_live.core.results import Face, Frame
from facemask_live.detection.classify import MaskClassifier
from facemask_live.detection.detect import RetinaFaceDetector, create_detector
from facemask_live.engine.pipeline import BoxFlow, Pipeline, crop_faces
from facemask_live.engine.runner import Runner
from facemask_live.sources.capture import Capture
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


def run_runner(clip, classifier_model, *, threads: int, pipelined: bool, detect_every: int = 1, frames: int = N_FRAMES):
    cv2.setNumThreads(threads)
    pipeline = Pipeline(create_detector(), MaskClassifier(classifier_model, threads=threads), detect_every=detect_every)
    results = []
    runner = Runner(
        Capture(str(clip)),
        pipeline,
        on_result=lambda r, a: results.append(r),
        annotate_frames=True,
        max_frames=frames,
        pipelined=pipelined,
    )
    runner.run()
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
    results = run_runner(clip, classifier_model, threads=threads, pipelined=pipelined)
    assert [r.frame.index for r in results] == list(range(N_FRAMES))  # every frame, in order
    labels = MaskClassifier(classifier_model).labels
    assert sum(len(r.faces) for r in results) >= N_FRAMES  # the clip shows a face throughout
    for result, expected in zip(results, reference):
        assert "detect" in result.timings and "classify" in result.timings
        assert_same(result.faces, expected, labels)


@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "serial"])
@pytest.mark.parametrize("every", [2, 3])
def test_detect_every_n(clip, classifier_model, reference, pipelined, every):
    results = run_runner(clip, classifier_model, threads=1, pipelined=pipelined, detect_every=every)
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


def test_pipelined_runner_raises_errors_of_the_detect_thread(clip, classifier_model):
    pipeline = Pipeline(FailingDetector(), MaskClassifier(classifier_model))
    seen = []
    runner = Runner(Capture(str(clip)), pipeline, on_result=lambda r, a: seen.append(r.frame.index), max_frames=20)
    with pytest.raises(RuntimeError, match="frame 5"):
        runner.run()
    assert seen == [0, 1, 2, 3]  # results before the error were delivered in order
    assert runner.capture.stats.status in ("stopped", "ended")


def test_pipelined_runner_stops_promptly(clip, classifier_model):
    pipeline = Pipeline(create_detector(), MaskClassifier(classifier_model))
    runner = Runner(Capture(str(clip)), pipeline, max_frames=None,
                    on_result=lambda r, a: runner.stop() if r.frame.index == 3 else None)
    stats = runner.run()
    assert stats.processed == 4
    assert not runner._locator.alive  # the detect thread ended with the run


def test_pipeline_process_on_image_without_faces(classifier_model):
    pipeline = Pipeline(create_detector(), MaskClassifier(classifier_model), detect_every=3)
    blank = np.full((240, 320, 3), 127, np.uint8)
    for i in range(4):  # nothing to carry: every frame runs the detector
        result = pipeline.process(Frame(blank, i, i / 25, 0.0))
        assert result.faces == [] and "detect" in result.timings


def test_pipelined_runner_shows_no_stale_frame_after_pause(clip, classifier_model):
    """A live-rate source paused in the window: the first frame after resuming was captured after it."""
    pipeline = Pipeline(create_detector(), MaskClassifier(classifier_model), detect_every=2)
    runner = Runner(Capture(str(clip), realtime=True), pipeline)
    try:
        first = None
        while first is None:
            first = runner.step(1.0)
        paused_at = time.monotonic()
        runner.paused.set()
        time.sleep(0.6)  # the capture keeps playing (and dropping) meanwhile
        runner.paused.clear()
        after = None
        while after is None:
            after = runner.step(1.0)
        # the newest frame at resume time (captured late in the pause), not one located before the pause
        assert after.frame.captured_at > paused_at + 0.3
        assert after.frame.index > first.frame.index + 10  # 0.6 s at 25 fps went by
        assert "detect" in after.timings  # optical flow does not bridge the pause
    finally:
        runner.close()


def test_detect_every_n_never_carries_boxes_between_still_images(clip_frames, classifier_model):
    """Folder and image sources: every image runs the detector, even with detect_every > 1."""
    pipeline = Pipeline(create_detector(), MaskClassifier(classifier_model), detect_every=3)
    face_image = clip_frames[0]
    blank = np.full_like(face_image, 127)
    found = [pipeline.process(Frame(img, i, float(i), 0.0, f"{i}.jpg")) for i, img in enumerate([face_image, blank, face_image])]
    assert all("detect" in r.timings for r in found)
    assert [len(r.faces) for r in found] == [1, 0, 1]
