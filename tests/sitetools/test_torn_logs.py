"""A run killed while writing a log line leaves a torn last line: the next run cuts it off before appending, and
``report`` and ``review`` skip it with a one-line note."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from helpers import REPO

from facemask_live.core.results import Event
from facemask_live.outputs.sinks import EventLog, event_record


def events(n: int, t0: float) -> list[Event]:
    return [Event(t0 + i, "door-1", i + 1, "no_mask", 0.9, 10 * i, (10, 10, 60, 60), camera="door") for i in range(n)]


def torn_log(path, n: int = 3) -> list[Event]:
    evs = events(n, time.time() - 100)
    text = "".join(json.dumps(event_record(e)) + "\n" for e in evs)
    path.write_text(text + json.dumps(event_record(evs[0]))[:37])  # the kill came in the middle of a line
    return evs


def test_next_run_cuts_the_torn_line_off_before_appending(tmp_path, caplog):
    path = tmp_path / "events.jsonl"
    evs = torn_log(path)
    sink = EventLog(path)
    sink.write_event(events(1, time.time())[0])
    sink.close()
    lines = path.read_text().splitlines()
    assert len(lines) == len(evs) + 1
    assert all(json.loads(x)["label"] == "no_mask" for x in lines)  # every line parses: nothing glued onto the fragment
    torn = [r.getMessage() for r in caplog.records if "torn" in r.getMessage()]
    assert len(torn) == 1 and "37 bytes" in torn[0]
    EventLog(path).close()  # an intact log is left alone
    assert path.read_text().splitlines() == lines


def test_report_and_review_skip_a_torn_last_line_with_one_note(tmp_path):
    path = tmp_path / "events.jsonl"
    evs = torn_log(path)
    r = subprocess.run([sys.executable, "-m", "facemask_live", "report", str(path), "--out", str(tmp_path / "rep"), "--no-progress"],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"violations {len(evs)}" in r.stdout
    notes = [x for x in r.stderr.splitlines() if x.strip()]
    assert notes == [f"note: skipped the torn last line of {path} (the app was stopped while writing it)"], r.stderr
    from facemask_live.sitetools.review import add_mark

    add_mark(path, event_record(evs[0]), "false_alarm")
    r = subprocess.run([sys.executable, "-m", "facemask_live.sitetools.review", "export", str(path), "--out", str(tmp_path / "x")],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    notes = [x for x in r.stderr.splitlines() if x.strip()]
    assert notes == [f"note: skipped the torn last line of {path} (the app was stopped while writing it)"], r.stderr
