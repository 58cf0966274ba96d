"""Motion gating on generated frames and the shared clips, and a still camera in a site running no detector."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facemask_live.sources.motion import MotionGate, MotionSettings


def _noisy(base: np.ndarray, rng, sigma: float = 4.0) -> np.ndarray:
    return cv2.add(base, rng.normal(0, sigma, base.shape).astype(np.int16), dtype=cv2.CV_8U)


def test_noise_is_still_a_moving_square_is_not():
    rng = np.random.default_rng(1)
    base = rng.integers(40, 200, (360, 640, 3), dtype=np.uint8)
    base = cv2.GaussianBlur(base, (0, 0), 3)
    gate = MotionGate()
    assert gate.update(base, 0.0)  # the first frame counts as motion (nothing known yet)
    still = [gate.update(_noisy(base, rng), 0.04 * i) for i in range(1, 80)]
    assert not any(still[30:]), "sensor noise must not count as motion once the hold time is over"
    moving = []
    for i in range(20):
        img = _noisy(base, rng)
        x = 100 + 20 * i
        cv2.rectangle(img, (x, 150), (x + 40, 200), (250, 250, 250), -1)  # 40x50 px: ~0.9 % of the frame
        moving.append(gate.update(img, 3.2 + 0.04 * i))
    assert all(moving[3:])  # within four frames: a picture quiet for 2 s is measured every fourth frame at 25 fps
    # after the square stopped the gate closes once hold_s passed
    after = [gate.update(_noisy(base, rng), 4.0 + 0.04 * i) for i in range(60)]
    assert after[0] and not after[-1]


def test_light_change_fades_into_the_background():
    base = np.full((360, 640, 3), 90, np.uint8)
    gate = MotionGate(MotionSettings(hold_s=0.0))
    gate.update(base, 0.0)
    brighter = cv2.add(base, np.full_like(base, 40))
    flags = [gate.update(brighter, 0.04 * i) for i in range(1, 120)]
    assert flags[0] and not flags[-1]  # a sudden change moves, then the background catches up


def test_every_second_frame_is_measured_at_25_fps_and_the_background_keeps_its_pace():
    """At 25 fps the gate measures every second frame (the other keeps its verdict); the background then takes each
    measured frame as two, so a lasting light change fades in the same time as when every frame is measured."""
    base = np.full((360, 640, 3), 90, np.uint8)
    brighter = cv2.add(base, np.full_like(base, 40))
    gate = MotionGate(MotionSettings(hold_s=0.0))
    measured = []
    real_measure = gate.measure
    gate.measure = lambda image, frames=1.0: measured.append(frames) or real_measure(image, frames)  # counts, then measures
    gate.update(base, 0.0)
    flags = [gate.update(brighter, 0.04 * i) for i in range(1, 51)]  # 2 s: the change and its fading
    assert len(measured) == 1 + 25 and measured[2:] == [pytest.approx(2.0)] * 24
    ref = MotionGate(MotionSettings(hold_s=0.0))  # the same frames, every one measured (as before the rate cap)
    ref.measure(base)
    ref_flags = [ref.measure(brighter) >= ref.settings.min_area for _ in range(50)]
    assert flags[0] and not flags[-1]
    # the background fades the change in about the same time (within two frames)
    assert abs(flags.index(False, 1) - ref_flags.index(False)) <= 2, (flags.index(False, 1), ref_flags.index(False))


def test_a_quiet_picture_is_measured_every_fourth_frame_and_motion_brings_the_pace_back():
    """Nothing moved for 2 s: every fourth frame is measured (each standing for four frames in the background);
    someone walking in is noticed within four frames, and the picture is measured every second frame again."""
    rng = np.random.default_rng(2)
    base = cv2.GaussianBlur(rng.integers(40, 200, (360, 640, 3), dtype=np.uint8), (0, 0), 3)
    gate = MotionGate()
    measured = []
    real_measure = gate.measure
    gate.measure = lambda image, frames=1.0: measured.append(frames) or real_measure(image, frames)  # counts, then measures
    t = [0.04 * i for i in range(200)]
    for i in range(100):  # 4 s of a still, noisy picture
        gate.update(_noisy(base, rng), t[i])
    quiet = len(measured)
    for i in range(100, 150):  # 2 s more: a quarter of the frames measured
        gate.update(_noisy(base, rng), t[i])
    assert len(measured) - quiet in (12, 13) and measured[-1] == pytest.approx(4.0)
    assert quiet < 1 + 50 + 2  # the first 2 s every second frame, then every fourth
    flags = []
    for i in range(150, 200):  # a square walks in
        img = _noisy(base, rng)
        x = 100 + 8 * (i - 150)
        cv2.rectangle(img, (x, 150), (x + 40, 200), (250, 250, 250), -1)
        flags.append(gate.update(img, t[i]))
    first = flags.index(True)
    assert first <= 3 and all(flags[first:])
    n = len(measured)
    gate.update(_noisy(base, rng), t[199] + 0.04)
    gate.update(_noisy(base, rng), t[199] + 0.08)
    assert len(measured) == n + 1  # moving again: every second frame


def test_disabled_and_validation():
    gate = MotionGate(MotionSettings(enabled=False))
    img = np.zeros((100, 100, 3), np.uint8)
    assert all(gate.update(img, t) for t in range(5))
    for kwargs in ({"min_area": 0}, {"pixel_threshold": 0}, {"width": 8}, {"hold_s": -1}, {"background_alpha": 0}):
        with pytest.raises(ValueError):
            MotionSettings(**kwargs)


@pytest.mark.parametrize("clip", ["office_mask.mp4", "street_nomask.mp4"])
def test_real_clip_moves_its_still_frame_does_not(shared_dir, tmp_path, clip):
    from facemask_live.measure.sitebench import still_clip

    src = shared_dir / "media" / "videos" / clip
    cap = cv2.VideoCapture(str(src))
    frames = [img for _, img in (cap.read() for _ in range(100))]
    cap.release()
    gate = MotionGate(MotionSettings(hold_s=0.0))
    flags = [gate.update(img, i / 25) for i, img in enumerate(frames)]
    assert np.mean(flags) > 0.85, np.mean(flags)  # office_mask is the quietest clip: one person sitting
    cap = cv2.VideoCapture(str(still_clip(src, tmp_path, seconds=3)))
    gate = MotionGate(MotionSettings(hold_s=0.0))
    flags = [gate.update(img, i / 25) for i, img in enumerate(img for ok, img in iter(cap.read, (False, None)) if ok)]
    cap.release()
    assert len(flags) >= 70 and flags[0] and not any(flags[1:])


@pytest.mark.slow
def test_still_camera_runs_no_detector(shared_dir, tmp_path):
    """A still doorway (no face) runs the detector only while the first frame's hold lasts; with motion gating off
    the same camera runs it all the time. A still frame with a face keeps its person tracked with rare detector runs."""
    from facemask_live.detection.classify import MaskClassifier, default_model_path
    from facemask_live.detection.detect import create_detector
    from facemask_live.engine.site import CameraSpec, Site
    from facemask_live.events.monitor import ViolationMonitor
    from facemask_live.measure.sitebench import still_clip
    from facemask_live.tracking.track import Tracker

    videos = shared_dir / "media" / "videos"
    empty = cv2.VideoCapture(str(videos / "putting_on_mask_720p.mp4"))
    empty.set(cv2.CAP_PROP_POS_FRAMES, 0)
    ok, img = empty.read()
    empty.release()
    # a doorway without anyone: the clip's first frame with its centre blurred away (no face in it)
    img = cv2.GaussianBlur(img, (0, 0), 25)
    door = tmp_path / "door.mp4"
    w = cv2.VideoWriter(str(door), cv2.VideoWriter_fourcc(*"mp4v"), 25, (img.shape[1], img.shape[0]))
    for _ in range(125):
        w.write(img)
    w.release()
    person = still_clip(videos / "street_nomask.mp4", tmp_path, seconds=5)  # a man standing still, unmasked
    classifier = MaskClassifier(default_model_path(), threads=1)
    site = Site(create_detector("retinaface", threads=1), classifier)
    site.add_camera(CameraSpec("door", str(door)))
    site.add_camera(CameraSpec("door-ungated", str(door), motion=MotionSettings(enabled=False)))
    site.add_camera(CameraSpec("person", str(person)), tracker=Tracker(), monitor=ViolationMonitor(classifier.violation_labels))
    with site:
        site.wait(20)
        stats = site.stats()["cameras"]
    door_s, ungated, still_person = stats["door"], stats["door-ungated"], stats["person"]
    assert door_s["detector_runs"] <= 8, door_s  # the first second (hold_s) only
    assert ungated["detector_runs"] >= 20, ungated  # about detect_fps for 5 s
    assert still_person["people"] == 1 and still_person["events"] == 1  # one person, tracked throughout
    assert still_person["detector_runs"] <= 12, still_person  # the first second, then every still_detect_s (2 s)
