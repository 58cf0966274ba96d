"""An all-day shift in fast-forward: the event monitor's people, best frames and thumbnails and the people log's
per-person state stay bounded."""

from __future__ import annotations

import json

import numpy as np
from helpers import crowd

from facemask_live.core.results import Face, Frame, FrameResult
from facemask_live.events.monitor import ViolationMonitor
from facemask_live.events.peoplelog import CameraCounts, PeopleLog
from facemask_live.tracking.track import Tracker


def test_monitor_and_people_log_stay_bounded_over_a_shift_of_people(tmp_path):
    tracker = Tracker(max_missing=15, initialization_delay=3)
    monitor = ViolationMonitor(["no_mask"], cooldown=5.0, snapshot_dir=tmp_path / "snaps", max_missing=15, remember=10.0)
    people_log = PeopleLog(tmp_path / "people.jsonl", interval=3600, counted_label=monitor.counted_label)
    most = {"people": 0, "held": 0, "thumbs": 0, "live": 0}
    events = 0
    for frame, faces in crowd(people=300, every=10, stay=20):  # 3,000 frames: 2 minutes at 25 fps
        tracker.update(faces, frame)
        result = FrameResult(frame, faces)
        result.events = monitor.update(result)
        events += len(result.events)
        people_log.write(result)
        counts = people_log.cameras["door"]
        for k, v in (("people", len(monitor._people)), ("held", monitor.held_frames), ("thumbs", len(monitor._thumbs)),
                     ("live", len(counts.live))):
            most[k] = max(most[k], v)
    people_log.close()
    assert monitor.people_seen == 300 and events == 150  # every unmasked person raised their one event
    assert len(list((tmp_path / "snaps").glob("*_crop.png"))) == 150  # one best snapshot per event
    # a person is remembered `remember` = 10 s = 250 frames after they were last seen: ~25 + 2 in view, not 300
    assert most["people"] <= 30, most
    assert most["held"] <= 2 + 2  # a best-frame copy only for people in view or missing <= max_missing frames
    assert most["thumbs"] <= ViolationMonitor.RECENT
    assert most["live"] <= 8  # the people log forgets a person GONE_FRAMES = 50 frames after they left
    final = [json.loads(x) for x in (tmp_path / "people.jsonl").read_text().splitlines()][-1]
    assert final["people_seen"] == 300 and final["violations"] == 150


def test_people_log_remembers_only_the_latest_ids_and_still_counts_a_returning_person_once():
    counts = CameraCounts()
    img = np.zeros((8, 8, 3), np.uint8)

    def see(tid: int, n: int) -> None:
        face = Face((0, 0, 4, 4), 0.9, "mask", 0.9, track_id=tid, track_label="mask", track_prob=0.9)
        counts.update(FrameResult(Frame(img, n, n / 25, 0.0), [face]))

    n = 0
    for tid in range(1, 15001):  # 15,000 people, one frame each
        see(tid, n)
        n += 1
    assert counts.people_seen == 15000
    assert len(counts.counted) == CameraCounts.MAX_COUNTED and len(counts.live) <= 51
    see(14990, n)  # re-identified under their old id: the same person, not counted again
    assert counts.people_seen == 15000
