"""A short soak: thousands of frames of a looping clip, in-process, with memory and event log checked."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import REPO

pytestmark = pytest.mark.slow  # end-to-end runs of the real app: python -m pytest -m "not slow" skips them


def test_soak_memory_stays_flat_and_event_log_parses(tmp_path, classifier_model, shared_dir):
    r = subprocess.run(
        [sys.executable, str(REPO / "tools" / "soak.py"), "--frames", "2000", "--every", "250", "--warmup", "500",
         "--model", str(classifier_model), "--workdir", str(tmp_path), "--json", "--threads", "1",
         "--detector-size", "150", "--detect-every", "3"],  # cheaper per frame: this is about memory and logs
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert r.returncode in (0, 1), r.stderr[-3000:]
    rep = json.loads(r.stdout.strip().splitlines()[-1])
    print({k: v for k, v in rep.items() if k != "samples"})
    assert rep["frames"] == 2000 and rep["detections"] == 2000
    assert rep["growth_after_warmup_mb"] < 30, rep["samples"]
    assert rep["event_lines_bad"] == 0
    assert rep["events"] >= 1 and rep["people"] >= 2, "people must come and go across loops and raise events"
    assert rep["ok"]


def test_site_shift_samples_the_app_from_proc_and_gives_a_verdict(tmp_path, shared_dir):
    r = subprocess.run(
        [sys.executable, str(REPO / "tools" / "soak.py"), "--site", "2", "--duration", "20", "--sample-every", "2",
         "--baseline-min", "0.15", "--workdir", str(tmp_path), "--json"],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert r.returncode in (0, 1), r.stderr[-3000:]
    rep = json.loads(r.stdout.strip().splitlines()[-1])
    assert rep["cameras"] == 2 and rep["exit_code"] == 0, (tmp_path / "app.log").read_text()[-2000:]
    assert rep["rss_baseline_mb"] > 100 and rep["threads_baseline"] > 5 and rep["files_baseline"] >= 3  # the app, not the tool
    assert rep["minutes"][0]["t"] < 5 and rep["event_lines_bad"] == 0
    assert rep["verdict"] == "PASS" if rep["ok"] else rep["verdict"].startswith("FAIL: ")
    assert "cam2" in (tmp_path / "site.yaml").read_text()


def test_shift_verdict_names_what_grew():
    sys.path.insert(0, str(REPO / "tools"))
    from soak import ShiftReport, shift_verdict

    rep = ShiftReport(growth_mb=42.0, files_baseline=13, files_end=15, threads_baseline=25, threads_end=25, exit_code=0)
    ok, verdict = shift_verdict(rep, 30.0)
    assert not ok and verdict == "FAIL: RSS grew 42.0 MB after minute 3 (limit 30); open files 13 -> 15"
    rep.growth_mb, rep.files_end = 3.0, 13
    assert shift_verdict(rep, 30.0) == (True, "PASS")
