"""People log: each person counted once under their first decided label, not-judged people, periodic records."""

from __future__ import annotations

import json
import time

import numpy as np

from facemask_live.core.results import Event, Face, Frame, FrameResult
from facemask_live.events.peoplelog import GONE_FRAMES, PeopleLog


def frame_with(i: int, people: dict[int, str | None], events=()) -> FrameResult:
    frame = Frame(np.zeros((10, 10, 3), np.uint8), i, i / 25, time.monotonic(), None, "door-1")
    faces = [Face((0, 0, 5, 5), 0.9, "mask", track_id=t, track_label=lab) for t, lab in people.items()]
    return FrameResult(frame, faces, list(events))


def test_counts_and_records(tmp_path):
    now = [1000.0]
    log = PeopleLog(tmp_path / "people.jsonl", interval=10, clock=lambda: now[0])
    ev = Event(1000.0, "door-1", 2, "no_mask", 0.9, 5, (0, 0, 5, 5))
    for i in range(20):  # 1 masked, 2 unmasked (then masks up: still one violation person), 3 never judged
        log.write(frame_with(i, {1: "mask", 2: "no_mask" if i < 10 else "mask", 3: None}, [ev] if i == 5 else []))
        now[0] += 1
    for i in range(20, 22 + GONE_FRAMES):  # everyone leaves; a new masked person comes
        log.write(frame_with(i, {4: "mask"}))
    log.close()
    recs = [json.loads(line) for line in (tmp_path / "people.jsonl").read_text().splitlines()]
    people = [r for r in recs if r["type"] == "people"]
    assert [r["time"] for r in people[:3]] == [1000.0, 1010.0, 1020.0]  # first frame, then every 10 s
    assert [r["type"] for r in recs].count("event") == 1
    last = people[-1]
    assert last["final"] and last["people_seen"] == 4 and last["masked"] == 2 and last["by_label"] == {"mask": 2, "no_mask": 1}
    assert last["not_judged"] == 1 and last["violations"] == 1 and last["in_view"] == 0
    assert people[1]["in_view"] == 3 and people[1]["not_judged"] == 0  # person 3 still in view: not yet counted
    assert all(a["people_seen"] <= b["people_seen"] for a, b in zip(people, people[1:]))


def test_counts_follow_the_event_monitor(tmp_path):
    """With the monitor's counted labels the log counts people as the window and summary do: a person shown
    "No mask" without the evidence for a violation (e.g. a hand, detector score under the alert bar) is not judged."""
    from facemask_live.core.results import Quality
    from facemask_live.events.monitor import ViolationMonitor

    monitor = ViolationMonitor({"no_mask"}, alert_frames=6)
    log = PeopleLog(tmp_path / "people.jsonl", interval=10, counted_label=monitor.counted_label)
    weak = Quality(True, "low confidence", 60.0, 30.0, 0.9, evidence=False)
    for i in range(30):
        result = frame_with(i, {1: "mask", 2: "no_mask"})
        result.faces[1].label, result.faces[1].quality = "no_mask", weak
        assert monitor.update(result) == []
        log.write(result)
    log.close()
    last = [json.loads(line) for line in (tmp_path / "people.jsonl").read_text().splitlines()][-1]
    counts = monitor.counts()
    assert (last["people_seen"], last["masked"], last["not_judged"]) == (counts["people"], counts["masked"], counts["not_judged"]) == (2, 1, 1)
    assert last["by_label"] == {"mask": 1}
