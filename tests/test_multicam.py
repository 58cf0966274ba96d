"""The multi-camera engine (facemask_live.multicam): command line, capture backlog, detection rates, the site
benchmark. The bars of issue 14 are in test_site_bars.py and test_site_still.py."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from conftest import REPO, decode_seq, make_video

from facemask_live.multicam import CameraSpec, SiteSettings


def _run(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facemask_live.multicam", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


@pytest.mark.parametrize(
    "args, message",
    [
        (["-c", "a=x.mp4", "-c", "a=y.mp4"], "camera names must be unique, repeated: a"),
        (["-c", "a=x.mp4", "--zone", "b=door:entrance:0,0 1,0 1,1"], "CAMERA one of a"),
        (["-c", "a=x.mp4", "--zone", "a=door:exit:0,0 1,0 1,1"], "kind must be one of entrance, ignore"),
        (["-c", "a=x.mp4", "--zone", "a=door:entrance:0,0 2,0 1,1"], "outside 0..1"),
    ],
)
def test_bad_options_one_error_line(args, message):
    r = _run(*args)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and message in r.stderr and "Traceback" not in r.stderr


def test_spec_validation():
    with pytest.raises(ValueError, match="detect_fps"):
        CameraSpec("a", "x.mp4", detect_fps=0)
    with pytest.raises(ValueError, match="name"):
        CameraSpec(" ", "x.mp4")
    with pytest.raises(ValueError, match="detector_load"):
        SiteSettings(detector_load=0)


def test_capture_backlog_keeps_a_late_consumers_frames_in_order(tmp_path):
    """Realtime with backlog 3: a consumer that is late by two frame periods loses nothing; beyond 3 the oldest go."""
    from facemask_live.capture import Capture

    clip = make_video(tmp_path / "n.avi", n=40, fps=25.0)
    cap = Capture(str(clip), realtime=True, backlog=3).start()
    time.sleep(0.1)  # a moment late (about 2.5 frame periods)
    seen = []
    while (frame := cap.read(2.0)) is not None:
        seen.append(decode_seq(frame.image))
    cap.stop()
    assert seen == sorted(seen) and cap.stats.dropped == 40 - len(seen) <= 1, (seen, cap.stats)
    late = Capture(str(clip), realtime=True, backlog=3).start()
    time.sleep(0.6)  # 15 frame periods late: only the 3 newest wait
    first = [decode_seq(late.read(1.0).image) for _ in range(3)]
    late.stop()
    assert first == [first[0], first[0] + 1, first[0] + 2] and first[0] >= 5 and late.stats.dropped == first[0]
    with pytest.raises(ValueError, match="backlog"):
        Capture(str(clip), backlog=0)


def test_detect_fps_per_camera_and_shared_detector(shared_dir):
    """Two cameras on one detector: each gets the detection rate it asks for (the detector has room for both)."""
    from facemask_live.classify import MaskClassifier, default_model_path
    from facemask_live.detect import create_detector
    from facemask_live.multicam import Site

    clip = str(shared_dir / "media" / "videos" / "man_nomask.mp4")  # 640x360, 7.7 s
    site = Site(create_detector("retinaface", threads=1, input_size=320), MaskClassifier(default_model_path(), threads=1))
    site.add_camera(CameraSpec("slow", clip, detect_fps=2))
    site.add_camera(CameraSpec("fast", clip, detect_fps=6))
    with site:
        site.wait(6)
        stats = site.stats()["cameras"]
    assert 1.5 <= stats["slow"]["detect_per_s"] <= 2.5, stats["slow"]
    assert 4.5 <= stats["fast"]["detect_per_s"] <= 6.5, stats["fast"]
    assert site.detector_runs == stats["slow"]["detector_runs"] + stats["fast"]["detector_runs"]


def test_headless_two_cameras_one_missing(shared_dir, tmp_path):
    """A camera whose file does not exist shows 'failed' with its error; the other runs; stats and events carry names."""
    clip = shared_dir / "media" / "videos" / "man_nomask.mp4"
    stats, events = tmp_path / "s.json", tmp_path / "ev.jsonl"
    r = _run("-c", f"door={clip}", "-c", f"back={tmp_path / 'missing.mp4'}", "--duration", "12",
             "--stats-json", str(stats), "--events", str(events))
    assert r.returncode == 0, r.stderr
    s = json.loads(stats.read_text())
    door, back = s["cameras"]["door"], s["cameras"]["back"]
    assert door["state"] == "ended" and door["frames_processed"] >= 0.8 * door["frames_captured"] > 150
    for key in ("frames_captured", "frames_processed", "dropped", "detector_runs", "frame_age_p50_ms", "frame_age_p95_ms"):
        assert key in door
    assert back["state"] == "failed" and "source not found" in back["error"] and back["frames_processed"] == 0
    assert s["cpu_seconds"] > 0 and s["site"]["cameras"] == 2
    recs = [json.loads(line) for line in events.read_text().splitlines()]
    assert len(recs) == door["events"] == 1 and recs[0]["camera"] == "door"
    assert "door" in r.stderr and "back" in r.stderr and "site: 2 cameras" in r.stderr


@pytest.mark.slow
def test_bench_cameras_modes(shared_dir, tmp_path):
    """``python -m facemask_live.bench --cameras``: the site run beside separate processes, and the still mode."""
    out = tmp_path / "b.json"
    cmd = [sys.executable, "-m", "facemask_live.bench", "--cameras", "2", "--duration", "5", "--no-hd",
           "--clips", "man_nomask.mp4", "--json", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    run = json.loads(out.read_text())["runs"]["2"]
    assert set(run["site"]["cameras"]) == {"cam1", "cam2"} and run["site"]["site"]["frames_processed"] > 100
    assert len(run["processes"]["processes"]) == 2 and all(p["exit_code"] == 0 for p in run["processes"]["processes"].values())
    assert "same load as 2 separate processes" in r.stdout
    r = subprocess.run([*cmd[:6], "4", "--clips", "man_nomask.mp4", "--still", "--json", str(out)],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    run = json.loads(out.read_text())["runs"]["2"]
    assert run["decode_only"]["frames_decoded"] > 100 and run["cpu_ratio"] > 0 and "decode only" in r.stdout
    r = subprocess.run([*cmd[:5], "--clips-dir", str(tmp_path / "none")], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 1 and r.stderr.startswith("error: no clips found")
