"""Trustworthy alerts on real pixels: the quality gate, violation evidence, re-identification, and the
event stream of the shared clips against truth.json (python -m facemask_live.evaluate --truth)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facemask_live.app.options import load_settings
from facemask_live.core.results import UNKNOWN_LABEL, Frame
from facemask_live.detection.detect import create_detector
from facemask_live.detection.quality import QualitySettings, assess, geometry
from facemask_live.engine.build import build_pipeline
from facemask_live.outputs.sinks import face_record
from facemask_live.tracking.reid import ReidSettings


def read_frames(path, start: int = 0, count: int = 1) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    out = []
    for _ in range(count):
        ok, img = cap.read()
        assert ok, f"cannot read frame of {path}"
        out.append(img)
    cap.release()
    return out


@pytest.fixture(scope="module")
def videos(shared_dir):
    return shared_dir / "media" / "videos"


@pytest.fixture(scope="module")
def detector():
    return create_detector("retinaface", threads=2)


def app_pipeline(*options: str):
    """The app's pipeline with its default settings (no snapshots), built as the app builds it."""
    return build_pipeline(load_settings(["--headless", "--no-auto-snapshots", *options]))


def run_frames(pipeline, frames, fps: float = 25.0):
    results = []
    for i, img in enumerate(frames):
        results.append(pipeline.process(Frame(img, i, i / fps, 0.0, source="test")))
    return results


# ---------------------------------------------------------------------------------------------- quality


def test_a_sharp_big_face_is_judged_and_a_small_or_blurred_one_is_not(videos, detector):
    img = read_frames(videos / "man_nomask.mp4", 40)[0]
    faces = detector.detect(img)
    assert len(faces) == 1 and faces[0].landmarks is not None and faces[0].landmarks.shape == (5, 2)
    q = assess(faces[0], img)
    assert q.judged and q.evidence and q.reason == "" and q.frontal > 0.8, q

    # the same face shrunk so that it is about 20 px high: found, but too small to judge
    f = 20 / faces[0].height
    small = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    tiny = create_detector("retinaface", min_size=10, input_size=1000).detect(small)
    assert tiny and tiny[0].height < QualitySettings().min_size, "the detector should still find the shrunk face"
    qs = assess(tiny[0], small)
    assert not qs.judged and qs.reason == "too small", qs

    # heavily blurred: the Laplacian says so
    blurred = cv2.GaussianBlur(img, (0, 0), 12)
    bf = detector.detect(blurred)
    assert bf, "the blurred face should still be found"
    qb = assess(bf[0], blurred)
    assert not qb.judged and qb.reason == "blurred" and qb.sharpness < QualitySettings().min_sharpness, qb


def test_a_gloved_hand_is_rejected_by_its_landmarks(videos, detector):
    # nurse_mask.mp4 frame 536: a gloved hand in the bottom-left corner is detected as a face (score ~0.75)
    img = read_frames(videos / "nurse_mask.mp4", 536)[0]
    hands = [f for f in detector.detect(img) if f.box[0] < 20 and f.box[1] > 300]
    assert hands, "the detector no longer finds the hand: pick another frame"
    q = assess(hands[0], img)
    assert not q.judged and q.reason == "not a face", q
    assert not geometry(hands[0].landmarks, hands[0].box).plausible


def test_landmark_rules_reject_non_faces_and_spot_profiles():
    box = (0, 0, 100, 120)
    frontal = np.array([[35, 45], [65, 45], [50, 65], [38, 90], [62, 90]], float)
    assert geometry(frontal, box).plausible and geometry(frontal, box).frontal > 0.95
    upside_down = frontal.copy()
    upside_down[:, 1] = 120 - upside_down[:, 1]
    assert not geometry(upside_down, box).plausible
    side = np.array([[60, 45], [68, 45], [75, 65], [62, 90], [68, 90]], float)  # nose beyond both eyes
    g = geometry(side, box)
    assert g.plausible and g.frontal < 0.2


def test_quality_settings_are_validated():
    for kwargs in ({"min_size": -1}, {"min_score": 2.0}, {"alert_frames": 0}, {"max_roll": 0}):
        with pytest.raises(ValueError):
            QualitySettings(**kwargs)
    with pytest.raises(ValueError):
        ReidSettings(min_similarity=0)


# ----------------------------------------------------------------------------- unknown never counts


def test_an_unknown_face_is_never_counted_masked_and_never_raises_an_event(videos):
    """The masked office worker and the unmasked man, both shrunk so that their faces are 4 px under the gate's
    size bar: shown as unknown, never counted masked, no event; at full size they are judged as usual."""
    for clip, start in (("office_mask.mp4", 0), ("man_nomask.mp4", 0)):
        frames = read_frames(videos / clip, start, 24)
        h = app_pipeline("--min-face", "10", "--detector-size", "1000").detector.detect(frames[0])[0].height
        f = (QualitySettings().min_size - 4) / h
        small = [cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) for img in frames]
        pipe = app_pipeline("--min-face", "10", "--detector-size", "1000")
        results = run_frames(pipe, small)
        faces = [face for r in results for face in r.faces]
        assert faces and all(face.label == UNKNOWN_LABEL and face.quality.reason == "too small" for face in faces)
        assert all(face.track_label is None for face in faces)
        rec = face_record(faces[-1])
        assert rec["label"] == "unknown" and rec["quality"]["judged"] is False and rec["quality"]["reason"] == "too small"
        counts = pipe.monitor.counts()
        assert counts["people"] == 1 and counts["masked"] == 0 and counts["not_judged"] == 1, counts
        assert counts["violations"] == 0 and not any(r.events for r in results)
    # the unmasked man at full size: judged, one event within a second
    results = run_frames(app_pipeline(), read_frames(videos / "man_nomask.mp4", 0, 40))
    event_frames = [r.frame.index for r in results if r.events]
    assert len(event_frames) == 1 and event_frames[0] < 25


# ---------------------------------------------------------------------------------------------- reid


def gap_clip(videos) -> list[np.ndarray]:
    """man_nomask.mp4 frames 0-29, then 40 frames where the man is hidden (his head and shoulders painted
    over with the wall beside him), then frames 70-99: one person who leaves the detector for 1.6 s."""
    before = read_frames(videos / "man_nomask.mp4", 0, 30)
    hidden = read_frames(videos / "man_nomask.mp4", 30, 40)
    after = read_frames(videos / "man_nomask.mp4", 70, 30)
    for img in hidden:
        img[:, 180:470] = cv2.resize(img[:, 0:120], (290, img.shape[0]))
    return before + hidden + after


def test_reid_keeps_identity_and_one_event_across_a_gap(videos):
    frames = gap_clip(videos)
    runs = {}
    for name, opts in (("reid", ()), ("no reid", ("--no-reid",))):
        pipe = app_pipeline(*opts)
        results = run_frames(pipe, frames)
        ids = {f.track_id for r in results for f in r.faces if f.track_id is not None}
        assert not any(r.faces for r in results[32:70]), "the hidden frames must have no face"
        runs[name] = (ids, sum(len(r.events) for r in results), pipe.monitor.people_seen)
    assert runs["reid"] == ({1}, 1, 1), runs
    assert runs["no reid"] == ({1, 2}, 2, 2), runs  # without it: a second person and a second event


def test_reid_does_not_merge_two_different_people(videos):
    """The unmasked man leaves; the masked office worker appears where he was: a new person with a new id."""
    man = read_frames(videos / "man_nomask.mp4", 0, 40)
    office = [cv2.resize(img, (man[0].shape[1], man[0].shape[0])) for img in read_frames(videos / "office_mask.mp4", 0, 40)]
    blank = [np.full_like(man[0], 128) for _ in range(30)]
    pipe = app_pipeline()
    results = run_frames(pipe, man + blank + office)
    ids = [f.track_id for r in results for f in r.faces if f.track_id is not None]
    assert sorted(set(ids)) == [1, 2]
    assert pipe.monitor.counts()["masked"] == 1 and pipe.monitor.counts()["violators"] == 1
