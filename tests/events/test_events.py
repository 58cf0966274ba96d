"""Violation events: one per person with a cooldown, snapshots that decode, and the headless CLI end to end."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import MODEL_JSON as MODEL
from helpers import REPO, SHARED, run_cli, wait_until

from facemask_live.core.results import Face, Frame, FrameResult
from facemask_live.events.monitor import ViolationMonitor
from facemask_live.outputs.sinks import EVENT_FIELDS
from facemask_live.tracking.track import Tracker

VIDEOS = SHARED / "media" / "videos"
FPS = 25.0
VIOLATIONS = ("no_mask", "incorrect_mask")
SKIN = (90, 150, 210)  # BGR of the synthetic faces
NO_MASK_BGR = (40, 40, 230)  # annotate's colour for no_mask


class Scene:
    """Synthetic people on generated frames: each person is a box per frame (or None when not detected)."""

    def __init__(self, size=(360, 640)):
        self.size = size

    def frame(self, index: int, boxes: list, timestamp: float | None = None) -> Frame:
        image = np.zeros((*self.size, 3), np.uint8)
        image[:] = np.linspace(40, 120, self.size[1], dtype=np.uint8)[None, :, None]  # a gradient background
        for box in boxes:
            x1, y1, x2, y2 = box
            cv2.ellipse(image, ((x1 + x2) // 2, (y1 + y2) // 2), ((x2 - x1) // 2, (y2 - y1) // 2), 0, 0, 360, SKIN, -1)
        ts = index / FPS if timestamp is None else timestamp
        return Frame(image, index, ts, 0.0, None, "synthetic")


def face(box, label, p=0.9) -> Face:
    labels = ("mask", "no_mask", "incorrect_mask")
    rest = (1.0 - p) / (len(labels) - 1)
    return Face(tuple(box), 0.98, label, p, {lab: (p if lab == label else rest) for lab in labels})


def run(people, n, tracker=None, monitor=None, timestamps=None):
    """people: list of functions i -> (box, label) or None. Runs Tracker + ViolationMonitor for real."""
    tracker = tracker or Tracker()
    monitor = monitor or ViolationMonitor(VIOLATIONS)
    scene, events, results = Scene(), [], []
    for i in range(n):
        seen = [p(i) for p in people]
        seen = [s for s in seen if s is not None]
        frame = scene.frame(i, [b for b, _ in seen], None if timestamps is None else timestamps[i])
        faces = [face(b, lab) for b, lab in seen]
        tracker.update(faces, frame)
        result = FrameResult(frame, faces)
        result.events = monitor.update(result)
        events += result.events
        results.append(result)
    return events, monitor, results


def still(box, label="no_mask"):
    return lambda i: (box, label)


def test_one_person_without_mask_for_100_frames_gives_one_event():
    events, monitor, results = run([still((200, 80, 290, 190))], 100)
    assert len(events) == 1
    ev = events[0]
    assert (ev.track_id, ev.label, ev.source, ev.frame, ev.box) == (1, "no_mask", "synthetic", 2, (200, 80, 290, 190))
    assert ev.confidence == pytest.approx(0.9)
    assert abs(ev.time - time.time()) < 60
    assert results[2].events == [ev]
    assert ev.snapshot is None and ev.crop is None  # no snapshot_dir
    assert monitor.thumbnail(ev).shape[2] == 3
    assert (monitor.people_seen, monitor.people_by_label, monitor.violations) == (1, {"no_mask": 1}, 1)
    assert list(monitor.recent_events) == [ev]


def test_cooldown_expired_and_still_there_gives_a_second_event():
    events, monitor, _ = run([still((200, 80, 290, 190))], 100, monitor=ViolationMonitor(VIOLATIONS, cooldown=2.5))
    assert [e.track_id for e in events] == [1, 1]
    assert events[1].frame - events[0].frame == 63  # the first frame at least 2.5 s (62.5 frames) later
    assert monitor.violations == 2 and monitor.people_seen == 1


def test_cooldown_counts_on_when_a_looped_file_restarts_its_timestamps():
    stamps = [(i % 100) / FPS for i in range(200)]  # 4 s clip played twice
    events, _, _ = run([still((200, 80, 290, 190))], 200, monitor=ViolationMonitor(VIOLATIONS, cooldown=2.5), timestamps=stamps)
    assert [e.frame for e in events] == [2, 65, 128, 191]


def test_two_people_give_two_events_and_a_masked_one_none():
    people = [
        still((60, 80, 150, 190)),
        still((250, 90, 330, 190), "incorrect_mask"),
        still((450, 80, 540, 190), "mask"),
    ]
    events, monitor, _ = run(people, 100)
    assert sorted((e.track_id, e.label) for e in events) == [(1, "no_mask"), (2, "incorrect_mask")]
    assert monitor.people_seen == 3
    assert monitor.people_by_label == {"no_mask": 1, "incorrect_mask": 1, "mask": 1}
    assert monitor.violations == 2


def test_a_single_misread_frame_raises_no_event():
    def masked(i):
        return (200, 80, 290, 190), ("no_mask" if i in (20, 50) else "mask")

    events, monitor, results = run([masked], 80)
    assert results[20].faces[0].label == "no_mask" and results[20].faces[0].track_label == "mask"
    assert events == [] and monitor.violations == 0
    assert monitor.people_by_label == {"mask": 1}


def run_live_cadence(verdict, n, every=10, verdict_frames=3):
    """One person whose face the detector and classifier look at every ``every`` frames (a live camera on a busy
    machine), their verdict carried by flow in between as the site carries it (``Face.carried``); ``verdict(k)``:
    the label of the k-th look. The app's evidence (6 frames of 15) and tracker (vote over 15 frames)."""
    tracker = Tracker(vote_window=15, verdict_frames=verdict_frames)
    monitor = ViolationMonitor(VIOLATIONS, alert_frames=6, verdict_frames=verdict_frames)
    scene, events, results = Scene(), [], []
    box = (200, 80, 290, 190)
    for i in range(n):
        frame = scene.frame(i, [box])
        f = face(box, verdict(i // every))
        f.carried = i % every
        tracker.update([f], frame)
        result = FrameResult(frame, [f])
        result.events = monitor.update(result)
        events += result.events
        results.append(result)
    return events, monitor, results


def test_one_misread_verdict_carried_over_many_frames_raises_no_event():
    """A live camera looked at every 10 frames: one misread crop is shown on 10 frames, but is one verdict. Counted
    on every frame it showed (the old rule, ``verdict_frames=None``) it turned the person and raised an event."""
    def misread_once(k):
        return "incorrect_mask" if k == 3 else "mask"

    events, monitor, results = run_live_cadence(misread_once, 120)
    assert events == [] and monitor.people_by_label == {"mask": 1}
    assert {r.faces[0].track_label for r in results[30:120]} == {"mask"}
    events, _, results = run_live_cadence(misread_once, 120, verdict_frames=None)
    assert [e.label for e in events] == ["incorrect_mask"]
    # a person really without a mask at the same cadence still raises one event at the third look: the look at
    # frame 0 counts on frame 2 only (the track is confirmed on its third frame), the next two on three frames each
    events, monitor, _ = run_live_cadence(lambda k: "no_mask", 120)
    assert [(e.label, e.frame) for e in events] == [("no_mask", 21)]
    assert monitor.people_by_label == {"no_mask": 1}


def test_a_verdict_counts_on_half_the_evidence_an_event_needs():
    """The app's rule (Settings.quality.verdict_frames, given to the tracker and the monitor by build_tracking): an
    event takes two looks that agree; with one frame of evidence asked for, one look is enough."""
    from facemask_live.app.options import load_settings
    from facemask_live.engine.build import build_tracking

    tracker, monitor = build_tracking(load_settings([]), VIOLATIONS, snapshot_dir=None)
    assert tracker.verdict_frames == monitor.verdict_frames == 3 and monitor.alert_frames == 6
    _, monitor = build_tracking(load_settings(["--alert-frames", "1"]), VIOLATIONS, snapshot_dir=None)
    assert monitor.verdict_frames == 1


def test_person_who_takes_the_mask_off_is_reported_and_counted_once():
    def person(i):
        return (200, 80, 290, 190), ("mask" if i < 40 else "no_mask")

    events, monitor, results = run([person], 100)
    assert len(events) == 1 and events[0].frame > 40
    assert monitor.people_seen == 1 and monitor.people_by_label == {"no_mask": 1}


def walker(i):
    """Walks towards the camera: the face grows from 40 to 139 px."""
    side = 40 + i
    return (100 + 2 * i, 60, 100 + 2 * i + side, 60 + side), "no_mask"


def test_events_write_annotated_full_frame_and_face_crop_pngs(tmp_path):
    monitor = ViolationMonitor(VIOLATIONS, cooldown=2.0, snapshot_dir=tmp_path / "snaps")
    events, _, _ = run([walker], 100, monitor=monitor)
    assert len(events) == 2
    crops = []
    for ev in events:
        snap, crop = Path(ev.snapshot), Path(ev.crop)
        assert snap.parent == tmp_path / "snaps" and snap.name.startswith("violation_t1_") and snap.suffix == ".png"
        image = cv2.imread(str(snap))
        assert image is not None and image.shape == (360, 640, 3)
        crop_img = cv2.imread(str(crop))
        assert crop_img is not None
        crops.append(crop_img)
        # the annotation is drawn: the box border of the face has the no_mask colour
        x1, y1, x2, y2 = walker(int(snap.stem.split("_f")[-1]))[0]
        assert tuple(int(c) for c in image[(y1 + y2) // 2, x1]) == NO_MASK_BGR
        # and the crop shows the face itself (the synthetic skin colour in its centre)
        h, w = crop_img.shape[:2]
        assert np.abs(crop_img[h // 2, w // 2].astype(int) - SKIN).max() <= 2
        assert abs(h - (y2 - y1) * 1.3) <= 3 and abs(w - (x2 - x1) * 1.3) <= 3
    # the best frame so far: the second event shows the person nearer (a larger face)
    assert crops[1].shape[0] > crops[0].shape[0]
    assert len(list((tmp_path / "snaps").glob("*.png"))) == 4


def test_a_failing_snapshot_write_is_logged_and_the_event_still_goes_out(tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the snapshot folder should be")
    monitor = ViolationMonitor(VIOLATIONS, snapshot_dir=blocker / "snaps")
    with caplog.at_level(logging.ERROR, logger="facemask_live.events.monitor"):
        events, _, _ = run([still((200, 80, 290, 190))], 30, monitor=monitor)
    assert len(events) == 1 and events[0].snapshot is None and events[0].crop is None
    assert monitor.snapshot_failures == 1
    assert any("snapshot" in r.getMessage() for r in caplog.records)


def test_best_frame_is_freed_when_the_track_ends():
    tracker, monitor = Tracker(max_missing=5), ViolationMonitor(VIOLATIONS, max_missing=5)
    person = still((200, 80, 290, 190))
    scene = Scene()
    held = []
    for i in range(40):
        seen = [person(i)] if i < 20 else []
        frame = scene.frame(i, [b for b, _ in seen])
        faces = [face(b, lab) for b, lab in seen]
        tracker.update(faces, frame)
        monitor.update(FrameResult(frame, faces))
        held.append(monitor.held_frames)
    assert held[10] == 1 and held[24] == 1  # kept while the tracker may still see the person again
    assert held[25] == 0 and monitor.live_people == 0 and tracker.tracks == []  # freed with the track


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"violation_labels": "no_mask"}, "violation_labels"),
        ({"violation_labels": ["no_mask", ""]}, "violation_labels"),
        ({"violation_labels": VIOLATIONS, "cooldown": -1}, "cooldown"),
        ({"violation_labels": VIOLATIONS, "max_missing": -1}, "max_missing"),
    ],
)
def test_bad_arguments_raise_clear_value_errors(kwargs, word):
    with pytest.raises(ValueError, match=word):
        ViolationMonitor(**kwargs)


# -- end to end: the real detector and classifier through the headless CLI -------------------------
needs_model = pytest.mark.skipif(
    not MODEL.is_file() or not VIDEOS.is_dir(), reason="needs facemask_live/models/mask_classifier.json and ../shared"
)


def headless(*args):
    return run_cli("--headless", "--no-progress", *map(str, args), timeout=300)


def read_events(path: Path) -> list[dict]:
    lines = path.read_text().splitlines() if path.exists() else []
    records = [json.loads(line) for line in lines]
    for rec in records:
        assert set(EVENT_FIELDS) <= set(rec), rec
    return records


@needs_model
def test_cli_street_video_gives_exactly_one_violation_with_a_snapshot(tmp_path):
    ev_file, snaps = tmp_path / "ev.jsonl", tmp_path / "snaps"
    proc = headless("--source", VIDEOS / "street_nomask.mp4", "--events", ev_file, "--snapshots", snaps)
    assert proc.returncode == 0, proc.stderr
    events = read_events(ev_file)
    assert len(events) == 1, events
    ev = events[0]
    assert ev["label"] in VIOLATIONS and ev["track_id"] == 1 and ev["source"].endswith("street_nomask.mp4")
    image = cv2.imread(ev["snapshot"])
    assert image is not None and image.shape == (720, 1280, 3)
    assert cv2.imread(ev["crop"]) is not None
    assert "people seen: 1" in proc.stderr and "violations: 1" in proc.stderr


@needs_model
def test_cli_office_video_with_a_mask_gives_no_event(tmp_path):
    ev_file, snaps = tmp_path / "ev.jsonl", tmp_path / "snaps"
    proc = headless("--source", VIDEOS / "office_mask.mp4", "--events", ev_file, "--snapshots", snaps)
    assert proc.returncode == 0, proc.stderr
    assert read_events(ev_file) == []
    assert not list(snaps.glob("*.png"))
    assert "people seen: 1" in proc.stderr and "violations: 0" in proc.stderr


@needs_model
def test_killed_run_leaves_a_valid_events_file(tmp_path):
    """SIGKILL a looping run that reports the same person every 0.5 s of video: every line is a whole record."""
    ev_file, snaps = tmp_path / "ev.jsonl", tmp_path / "snaps"
    cmd = [sys.executable, "-m", "facemask_live", "--headless", "--no-progress", "--loop", "--cooldown", "0.5"]
    cmd += ["--source", str(VIDEOS / "street_nomask.mp4"), "--events", str(ev_file), "--snapshots", str(snaps)]
    with open(tmp_path / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        try:
            started = wait_until(
                lambda: proc.poll() is not None or (ev_file.exists() and ev_file.read_bytes().count(b"\n") >= 3), 240
            )
            assert started and proc.poll() is None, (tmp_path / "stderr.txt").read_text()
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert ev_file.read_bytes().endswith(b"\n")  # no half-written record
    events = read_events(ev_file)
    assert len(events) >= 3
    assert {e["track_id"] for e in events} == {1}  # the same person every loop, reported after each cooldown
    assert all(e["label"] in VIOLATIONS for e in events)
    assert cv2.imread(events[0]["snapshot"]) is not None
