"""--demo (``source.demo``): the built-in CC0 photos played with no camera, headless once and in the window as a slide show."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
from helpers import REPO, run_cli

from facemask_live.app.options import load_settings
from facemask_live.core.config import ConfigError, Settings, SourceSettings, load_file
from facemask_live.engine.build import camera_spec
from facemask_live.sources.capture import IMAGE_EXTS, Capture
from facemask_live.sources.demo import PHOTO_SECONDS, demo_source, photos_dir


def python_code(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)


def test_demo_photos_are_few_small_and_recorded():
    photos = sorted(photos_dir().iterdir())
    assert 1 <= len(photos) <= 8
    assert all(p.suffix.lower() in IMAGE_EXTS and p.stat().st_size <= 150_000 for p in photos)
    readme = (photos_dir().parent / "README.md").read_text()
    assert "CC0" in readme and "andrewmvd" in readme
    assert all(p.name in readme for p in photos)  # every shipped photo has its origin recorded


def test_headless_demo_processes_each_photo_once_with_both_labels(tmp_path):
    det = tmp_path / "det.jsonl"
    res = run_cli("--demo", "--headless", "--no-progress", "--detections", str(det), "--snapshots", str(tmp_path / "s"))
    assert res.returncode == 0, res.stderr
    records = [json.loads(line) for line in det.read_text().splitlines()]
    assert [r["file"] for r in records] == sorted(p.name for p in photos_dir().iterdir())  # once each, in name order
    labels = {face["label"] for r in records for face in r["faces"]}
    assert {"mask", "no_mask"} <= labels  # the demo shows both sides
    assert f"frames processed: {len(records)}," in res.stderr and "violations:" in res.stderr
    # a photo is all the evidence there is of a person: every unmasked face judged on it raises its event
    unmasked = sum(1 for r in records for face in r["faces"] if face["label"] == "no_mask" and face.get("quality", {}).get("evidence", True))
    violations = int(re.search(r"violations: (\d+)", res.stderr).group(1))
    assert unmasked >= 3 and violations >= unmasked, res.stderr


def test_demo_with_a_source_is_a_usage_error():
    res = run_cli("--demo", "--source", "clip.mp4", "--headless")
    assert res.returncode == 2 and "--demo plays the built-in photos: leave out --source" in res.stderr
    assert "Traceback" not in res.stderr


def test_window_without_pyqt5_is_one_error_naming_the_extra():
    code = "import sys; sys.modules['PyQt5'] = None\nfrom facemask_live.app.cli import main\nsys.exit(main(['--demo']))"
    res = python_code(code)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == "error: the window needs PyQt5: pip install 'facemask-live[gui]' or use --headless"


def test_window_demo_holds_each_photo_and_loops():
    """The window's source: the photos in name order, each held image_period seconds, then again from the start."""
    src = demo_source(headless=False)
    assert src.loop and src.image_period == PHOTO_SECONDS
    names = sorted(p.name for p in src.folder.iterdir())
    period = 0.15  # the window's 1.5 s, shortened to keep the test quick
    cap = Capture(src.folder, loop=True, image_period=period).start()
    try:
        frames = []
        while len(frames) < len(names) + 2:
            frame = cap.read(timeout=5)
            assert frame is not None
            frames.append((frame.file, time.monotonic()))
    finally:
        cap.stop()
    assert [f for f, _ in frames] == names + names[:2]
    gaps = [b - a for (_, a), (_, b) in zip(frames, frames[1:])]
    assert min(gaps) >= period * 0.8, gaps


def test_bad_image_period_is_rejected():
    with pytest.raises(ValueError, match="image_period"):
        Capture(photos_dir(), image_period=-1)


def spec_of(settings: Settings):
    """What the engine opens for the settings' one camera (nothing is read)."""
    return camera_spec(settings, settings.cameras[0], realtime=not settings.gui.headless)


def test_demo_is_a_setting_that_the_app_turns_into_the_photo_folder():
    window = load_settings(["--demo"])
    assert window.source.demo and window.source.source == "0"
    spec = spec_of(window)
    assert spec.source == str(photos_dir()) and spec.frame_by_frame  # each photo detected afresh
    assert spec.loop and spec.image_period == PHOTO_SECONDS
    headless = spec_of(load_settings(["--demo", "--headless"]))
    assert not headless.loop and headless.image_period == 0.0
    assert spec_of(load_settings(["--demo", "--headless", "--loop"])).loop  # a soak test without a camera
    plain = spec_of(load_settings(["--source", str(photos_dir())]))  # the same folder, not as the demo
    assert not Settings().source.demo and not plain.loop and plain.image_period == 0.0


def test_demo_against_other_sources_in_settings(tmp_path):
    with pytest.raises(ConfigError, match="leave out --source"):
        load_settings(["--demo", "--source", "clip.mp4"])
    with pytest.raises(ValueError, match="source.demo plays the built-in photos: leave out source.source"):
        SourceSettings(source="clip.mp4", demo=True)
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: {demo: true}\ncameras: [{name: door, source: rtsp://10.0.0.5/x}]\n")
    with pytest.raises(ConfigError, match="leave out cameras"):
        load_file(bad)
    site = tmp_path / "site.yaml"
    site.write_text("source: {source: clip.mp4}\ncameras: [{name: door, source: rtsp://10.0.0.5/x}]\n")
    demo = load_settings(["--config", str(site), "--demo"])  # the command line wins over the file: one demo camera
    assert demo.source.demo and [c.source for c in demo.cameras] == ["0"]
    (tmp_path / "demo.yaml").write_text("source: {demo: true}\n")
    other = load_settings(["--config", str(tmp_path / "demo.yaml"), "--source", "clip.mp4"])
    assert not other.source.demo and other.source.source == "clip.mp4"
