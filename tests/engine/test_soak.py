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
