"""Alert hours and escalation (issue 29): the weekly schedule and its one-line errors, no events outside the hours
(people still counted), and one escalated event per cooldown for a violator who stays in the entrance zone."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from helpers import run_cli

from facemask_live.core.config import ConfigError, settings_from_dict
from facemask_live.core.results import Event
from facemask_live.core.schedule import DAYS, Schedule
from facemask_live.outputs.mqtt import event_payload

MONDAY = dt.datetime(2026, 12, 7)  # a Monday


def at(day: int, hh: int, mm: int = 0) -> dt.datetime:
    return MONDAY + dt.timedelta(days=day, hours=hh, minutes=mm)


def test_weekly_ranges_holidays_and_ranges_past_midnight():
    s = Schedule.parse(["Mon-Fri 07:00-12:00, 13:00-19:00", "Sat 22:00-02:00"], ["2026-12-09"])
    assert s.is_on(at(0, 7)) and s.is_on(at(4, 18, 59))
    assert not s.is_on(at(0, 6, 59)) and not s.is_on(at(0, 12, 30)) and not s.is_on(at(0, 19))
    assert not s.is_on(at(2, 10))  # Wednesday 2026-12-09: a holiday
    assert s.is_on(at(5, 23)) and s.is_on(at(6, 1, 59)) and not s.is_on(at(6, 2)) and not s.is_on(at(5, 21))
    assert Schedule.parse(["Fri-Mon 00:00-24:00"]).is_on(at(6, 12)) and not Schedule.parse(["Fri-Mon 00:00-24:00"]).is_on(at(1, 12))
    assert Schedule().is_on(at(3, 3))  # no rules: always


@pytest.mark.parametrize("section, message", [
    ({"weekly": ["Mon-Fry 07:00-19:00"]}, "alert_hours: 'Mon-Fry 07:00-19:00': 'Fry' is not a day"),
    ({"weekly": ["Mon 7-19"]}, "'7' is not a time HH:MM"),
    ({"weekly": ["Mon 07:00-07:00"]}, "is empty"),
    ({"weekly": ["07:00-19:00"]}, "expected DAYS HH:MM-HH:MM"),
    ({"holidays": ["25.12.2026"]}, "holiday '25.12.2026' is not a date YYYY-MM-DD"),
    ({"weekly": "Mon 07:00-19:00"}, "alert_hours.weekly: expected a list"),
])
def test_bad_alert_hours_are_one_line_errors(section, message):
    with pytest.raises(ConfigError) as exc:
        settings_from_dict({"alert_hours": section})
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_camera_settings_override_the_site_hours_and_escalation():
    s = settings_from_dict({"alert_hours": {"weekly": ["Mon 07:00-08:00"]}, "events": {"cooldown": 30},
                            "cameras": [{"name": "a", "source": "x.mp4", "escalate_after": 10,
                                         "alert_hours": {"weekly": ["Tue 07:00-08:00"]}},
                                        {"name": "b", "source": "y.mp4"}]})
    a, b = (s.for_camera(c) for c in s.cameras)
    assert a.events.escalate_after == 10 and b.events.escalate_after is None
    assert a.alert_hours.weekly == ("Tue 07:00-08:00",) and b.alert_hours.weekly == ("Mon 07:00-08:00",)
    with pytest.raises(ConfigError, match="escalate_after must be > 0 and less than events.cooldown"):
        settings_from_dict({"events": {"cooldown": 30}, "cameras": [{"name": "a", "source": "x", "escalate_after": 40}]})


def test_escalated_is_marked_in_the_mqtt_payload():
    ev = Event(0.0, "s", 1, "no_mask", 0.9, 3, (0, 0, 1, 1), escalated=True)
    assert event_payload("door", ev, None, None)["escalated"] is True


def _run(tmp_path, config: str, *args: str):
    cfg = tmp_path / "site.yaml"
    cfg.write_text(config)
    events = tmp_path / "events.jsonl"
    r = run_cli("--config", str(cfg), "--headless", "--no-progress", "--events", str(events),
                "--snapshots", str(tmp_path / "snaps"), *args, timeout=240)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in events.read_text().splitlines()], r.stderr


@pytest.mark.parametrize("now_included", [False, True])
def test_street_nomask_raises_its_event_only_within_the_alert_hours(shared_dir, tmp_path, now_included):
    """A schedule that excludes now: no event, the person still counted (summary and people log); one that
    includes now: the clip's one event."""
    today = DAYS[dt.date.today().weekday()].capitalize()
    other = DAYS[(dt.date.today().weekday() + 3) % 7].capitalize()
    weekly = f"{today} 00:00-24:00" if now_included else f"{other} 00:00-24:00"
    clip = shared_dir / "media" / "videos" / "street_nomask.mp4"
    people = tmp_path / "people.jsonl"
    events, stderr = _run(tmp_path, f"alert_hours:\n  weekly: ['{weekly}']\n", "--source", str(clip),
                          "--max-frames", "80", "--people-log", str(people))
    assert len(events) == (1 if now_included else 0), events
    assert "people seen: 1 (no_mask 1)" in stderr
    final = [json.loads(line) for line in people.read_text().splitlines()][-1]
    assert final["people_seen"] == 1 and final["by_label"] == {"no_mask": 1}


def test_violator_staying_in_the_entrance_zone_escalates_once_per_cooldown(shared_dir, tmp_path):
    """street_nomask.mp4 looped (every frame, frame clock), the whole picture an entrance zone, cooldown 4 s and a
    camera escalating after 2 s: event, escalated event, event, ... one of each per cooldown, the same person."""
    clip = shared_dir / "media" / "videos" / "street_nomask.mp4"
    config = f"""events: {{cooldown: 4, auto_snapshots: false}}
cameras:
  - name: door
    source: {clip}
    loop: true
    realtime: false
    escalate_after: 2
    zones:
      - {{name: entrance, kind: entrance, points: [[0, 0], [1, 0], [1, 1], [0, 1]]}}
"""
    events, _ = _run(tmp_path, config, "--duration", "12")
    events.sort(key=lambda e: e["frame"])
    fps = 25.0  # street_nomask.mp4; the frame numbers count on across loops
    kinds = [e["escalated"] for e in events]
    assert kinds.count(False) >= 2, events  # at least two cooldowns played
    assert kinds == [i % 2 == 1 for i in range(len(kinds))], kinds  # alternating, a regular event first
    assert len({e["track_id"] for e in events}) == 1
    regular = [e["frame"] for e in events if not e["escalated"]]
    assert all((b - a) / fps >= 4 - 0.1 for a, b in zip(regular, regular[1:])), regular
    for e in (e for e in events if e["escalated"]):
        before = max(f for f in regular if f < e["frame"])
        assert 2 - 0.1 <= (e["frame"] - before) / fps < 4, (before, e)


def test_shift_report_counts_an_escalated_event_as_the_same_violation(tmp_path):
    from facemask_live.outputs.sinks import event_record
    from facemask_live.sitetools.report import read_logs

    first = Event(1000.0, "door.mp4", 1, "no_mask", 0.9, 10, (0, 0, 5, 5), camera="door")
    again = Event(1020.0, "door.mp4", 1, "no_mask", 0.9, 510, (0, 0, 5, 5), camera="door", escalated=True)
    log = tmp_path / "events.jsonl"
    log.write_text("".join(json.dumps(event_record(e)) + "\n" for e in (first, again)))
    assert [e["frame"] for e in read_logs([log], progress=False).events.values()] == [10]
