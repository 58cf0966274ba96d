"""Clean shutdown of the headless app: SIGTERM and Ctrl+C finalise the video and flush the logs,
a source that dies mid-run ends the app with an error instead of hanging."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import REPO, MjpegServer, count_frames, make_video, wait_until

from facemask_live.core.errors import SourceError
from facemask_live.sources.capture import Capture

pytestmark = pytest.mark.slow  # end-to-end runs of the real app: python -m pytest -m "not slow" skips them


def start_cli(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "facemask_live", "--headless", "--no-progress", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def lines(path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def finish(proc: subprocess.Popen, timeout: float = 15) -> str:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the app did not stop within {timeout} s: {err[-2000:]}")
    return err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_finalises_video_and_logs(tmp_path, classifier_model, face_frame, sig):
    clip = make_video(tmp_path / "clip.avi", n=20, image=face_frame)
    out, det, events = tmp_path / "out.mp4", tmp_path / "det.jsonl", tmp_path / "events.jsonl"
    proc = start_cli("--source", str(clip), "--loop", "--model", str(classifier_model), "--output", str(out),
                     "--detections", str(det), "--events", str(events), "--cooldown", "0.5",
                     "--snapshots", str(tmp_path / "snaps"))  # fmt: skip
    try:
        assert wait_until(lambda: len(lines(det)) >= 30 or proc.poll() is not None, 90), "no progress"
    finally:
        proc.send_signal(sig)
    err = finish(proc)
    assert "Traceback" not in err
    assert proc.returncode == (0 if sig == signal.SIGTERM else 130), err
    assert ("interrupted" in err) == (sig == signal.SIGINT), err
    assert "people seen" in err, "the summary is printed on the way out"
    records = [json.loads(line) for line in lines(det)]  # every line complete
    assert len(records) >= 30
    assert count_frames(out) == len(records), "the video must play to the last processed frame"
    for line in lines(events):
        ev = json.loads(line)
        assert ev["frame"] in {r["frame"] for r in records}


def test_sigterm_while_reconnecting_stops_promptly(tmp_path, classifier_model):
    server = MjpegServer().start()
    det = tmp_path / "det.jsonl"
    proc = start_cli("--source", server.url, "--model", str(classifier_model), "--detections", str(det), "--stall-timeout", "1")
    try:
        assert wait_until(lambda: len(lines(det)) >= 3 or proc.poll() is not None, 60)
        server.stop()  # the app is now waiting to reconnect
        time.sleep(2)
        assert proc.poll() is None, "a lost stream must not end the app"
        proc.send_signal(signal.SIGTERM)
        err = finish(proc, timeout=10)
    finally:
        server.stop()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "reconnecting (attempt 1)" in err
    assert "Traceback" not in err


def test_source_vanishing_mid_run_exits_with_an_error(tmp_path, classifier_model):
    """A looping file deleted while it plays: the capture thread fails, the app reports it and exits non-zero."""
    clip = make_video(tmp_path / "clip.avi", n=10)
    det = tmp_path / "det.jsonl"
    proc = start_cli("--source", str(clip), "--loop", "--model", str(classifier_model), "--detections", str(det))
    try:
        assert wait_until(lambda: len(lines(det)) >= 3 or proc.poll() is not None, 60)
        clip.unlink()
        err = finish(proc, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == SourceError.exit_code, err
    assert err.strip().splitlines()[-1].startswith("error: cannot reopen video")
    assert "Traceback" not in err


def test_end_of_file_is_not_a_failure(tmp_path, classifier_model):
    clip = make_video(tmp_path / "clip.avi", n=6)
    det = tmp_path / "det.jsonl"
    proc = start_cli("--source", str(clip), "--model", str(classifier_model), "--detections", str(det))
    err = finish(proc, timeout=60)
    assert proc.returncode == 0, err
    assert f"reached the end of {clip}" in err
    assert len(lines(det)) == 6


def test_capture_thread_failure_reaches_the_consumer(tmp_path):
    clip = make_video(tmp_path / "clip.avi", n=5)
    cap = Capture(str(clip), loop=True).start()
    assert cap.read(5) is not None
    clip.unlink()
    with pytest.raises(SourceError, match="cannot reopen video"):
        for _ in range(100):
            cap.read(5)
    assert cap.stats.status == "failed"
    assert wait_until(lambda: not cap._thread.is_alive(), 2)
    cap.stop()
