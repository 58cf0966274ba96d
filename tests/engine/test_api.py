"""The public API: the README's example, run as a user would paste it, and what ``Monitor`` promises."""

from __future__ import annotations

import re
import subprocess
import sys
import threading

from helpers import REPO

from facemask_live import CameraStats, Monitor, Stats


def readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Use it from Python"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) <= 10, "the README's example is meant to be short"
    return code


def test_readme_example_runs_on_shared_clips(shared_dir, tmp_path):
    videos = shared_dir / "media" / "videos"
    code = readme_example().replace('"entrance.mp4"', repr(str(videos / "street_nomask.mp4")))
    code = code.replace('"side-door.mp4"', repr(str(videos / "office_mask.mp4")))
    script = tmp_path / "example.py"
    script.write_text(code)
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=600,
                       env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[-1] == "206"  # every frame of the street clip, processed and counted
    assert any(line.startswith("camera ") and line.endswith(" no_mask") for line in lines)
    assert any(line.startswith("side ") and line.endswith(" mask") for line in lines)  # the camera added while running
    violations = [line for line in lines if line.startswith("violation:")]
    assert violations == ["violation: camera 1 no_mask"]  # one event for the one unmasked person, none at the office
    assert not list(tmp_path.rglob("*.png"))  # a script writes no snapshots it did not ask for


def test_monitor_typed_stats_and_with_closes_everything(shared_dir):
    before = threading.active_count()
    clip = shared_dir / "media" / "videos" / "man_nomask.mp4"
    seen = []
    with Monitor(clip, on_result=lambda cam, result, _img: seen.append((cam, result.frame.index))) as monitor:
        monitor.wait()
        stats = monitor.stats()
    assert isinstance(stats, Stats) and isinstance(stats.cameras["camera"], CameraStats)
    cam = stats.cameras["camera"]
    assert cam.frames_processed == len(seen) == 192 and [i for _, i in seen] == list(range(192))
    assert cam.events == stats.events == 1 and cam.people_by_label == {"no_mask": 1}
    assert cam.state == "ended" and stats.raw["site"]["frames_processed"] == 192
    assert threading.active_count() <= before + 1  # the camera, capture and detector threads are gone


def test_monitor_site_config_results_per_camera(shared_dir, tmp_path):
    videos = shared_dir / "media" / "videos"
    cfg = tmp_path / "site.yaml"
    cfg.write_text(f"cameras:\n  - {{name: a, source: '{videos / 'man_nomask.mp4'}'}}\n"
                   f"  - {{name: b, source: '{videos / 'office_mask.mp4'}'}}\n")
    counts: dict[str, int] = {}
    with Monitor(config=cfg) as monitor:
        assert monitor.cameras == ["a", "b"]
        for camera, result in monitor.results():
            counts[camera] = counts.get(camera, 0) + 1
            assert result.camera == camera
    assert counts == {"a": 192, "b": 244}  # files frame by frame: every frame of each camera handed on
