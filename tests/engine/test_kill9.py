"""kill -9 at random moments of a busy site run (tools/kill_soak.py, shortened): nothing that was recorded is lost."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(shutil.which("mosquitto") or "/usr/sbin/mosquitto").exists(), reason="needs mosquitto"),
]


@pytest.mark.parametrize("workers", [None, 2], ids=["one-process", "two-workers"])
def test_kill9_restarts_lose_no_event_snapshot_or_line(tmp_path, shared_dir, workers):
    """kill -9 of the app (with two worker processes: of the main process, whose workers then stop by themselves)."""
    more = ["--workers", str(workers)] if workers else []
    r = subprocess.run([sys.executable, str(REPO / "tools" / "kill_soak.py"), "--cameras", "2", "--kills", "3", "--min-run", "1",
                        "--max-run", "6", "--seed", "7", "--workdir", str(tmp_path), "--json", *more],
                       capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert r.returncode in (0, 1), r.stderr[-3000:]
    rep = json.loads(r.stdout.strip().splitlines()[-1])
    print(r.stderr)
    assert rep["kills"] == 3 and rep["kills_broker_down"] == 1
    assert rep["events_logged"] >= 3  # the runs were busy enough to test something
    assert rep["lost"] == [] and rep["events_at_broker"] >= rep["events_logged"]
    assert rep["redeliveries"] <= rep["kills"] and rep["ids_per_event_max"] == 1
    assert rep["bad_lines"] == {} and rep["missing_snapshots"] == [] and rep["report_ok"]
    assert rep["outbox_left"] == 0 and rep["ok"], rep["problems"]
