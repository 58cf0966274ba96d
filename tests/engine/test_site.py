"""The multi-camera engine (facemask_live.engine.site): command line, capture backlog, detection rates, the site
benchmark. The bars of issue 14 are in test_site_bars.py and test_site_still.py."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time

import pytest
from helpers import REPO, decode_seq, make_video

from facemask_live.engine.site import CameraSpec


def _run(*args: str, timeout: float = 90, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facemask_live", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env)


@pytest.mark.parametrize(
    "cameras, message",
    [
        ("[{name: a, source: x.mp4}, {name: a, source: y.mp4}]", "the name 'a' is used twice"),
        ("[{name: a, source: x.mp4, zones: [{name: d, kind: exit, points: [[0, 0], [1, 0], [1, 1]]}]}]",
         "kind must be one of entrance, ignore"),
        ("[{name: a, source: x.mp4, zones: [{name: d, kind: ignore, points: [[0, 0], [2, 0], [1, 1]]}]}]", "outside 0..1"),
        ("[{name: a, source: x.mp4, zones: [{name: d, kinds: ignore}]}]", "'cameras[0].zones[0].kinds' (did you mean 'kind'?)"),
        ("[{name: a, source: x.mp4, zones: [{name: d, kind: ignore}]}]", "cameras[0].zones[0]: missing points"),
        ("[{name: a, source: x.mp4, motoin: {hold_s: 2}}]", "'cameras[0].motoin' (did you mean 'motion'?)"),
        ("[{name: a, source: x.mp4, motion: {hold_s: -1}}]", "motion.hold_s must be >= 0"),
        ("[{name: a, source: x.mp4, detector: {detect_fps: 0}}]", "detector.detect_fps must be in (0, 60]"),
        ("[{name: a, source: x.mp4, anchor: feet}]", "anchor must be one of face, shoulders"),
    ],
)
def test_bad_site_config_one_error_line(tmp_path, cameras, message):
    cfg = tmp_path / "site.yaml"
    cfg.write_text(f"cameras: {cameras}\n")
    r = _run("--config", str(cfg), "--headless")
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and message in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_site_settings_from_config(tmp_path, monkeypatch):
    """Zones, motion and detect_fps of a camera, the site's defaults for the others, the password from the environment."""
    from facemask_live.core.config import load_file
    from facemask_live.engine.build import camera_spec

    monkeypatch.setenv("FACEMASK_CAM1_PASSWORD", "pa55word")
    cfg = tmp_path / "site.yaml"
    cfg.write_text(
        "detector: {detect_fps: 4}\nsite: {anchor: shoulders}\nmotion: {hold_s: 2.0}\ncameras:\n"
        "  - name: front\n    source: rtsp://admin:{FACEMASK_CAM1_PASSWORD}@10.0.0.5/stream\n    detector: {detect_fps: 2}\n"
        "    motion: {enabled: false}\n"
        "    zones: [{name: door, kind: entrance, points: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]}]\n"
        "  - name: side\n    source: side.mp4\n    loop: true\n")
    s = load_file(cfg)
    front, side = (camera_spec(s, c) for c in s.cameras)
    assert front.source == "rtsp://admin:pa55word@10.0.0.5/stream" and front.detect_fps == 2
    assert not front.motion.enabled and front.motion.hold_s == 2.0  # merged over the site's motion key by key
    assert front.zones.anchor == "shoulders" and front.zones.zones[0].kind == "entrance"
    assert side.detect_fps == 4 and side.motion.hold_s == 2.0 and side.motion.enabled and side.loop and side.realtime
    assert s.is_site
    assert front.decode_threads == side.decode_threads == 1  # several cameras: one FFmpeg thread per stream
    r = _run("--config", str(cfg), "--print-config", env={**__import__("os").environ, "FACEMASK_CAM1_PASSWORD": "pa55word"})
    assert r.returncode == 0 and "pa55word" not in r.stdout and "rtsp://admin:***@10.0.0.5/stream" in r.stdout
    cfg.write_text("cameras:\n  - {name: door, source: side.mp4}\n")
    assert camera_spec(load_file(cfg), load_file(cfg).cameras[0]).decode_threads == 0  # one camera: FFmpeg's choice


def test_old_detect_fps_keys_still_read_with_a_warning(tmp_path, caplog):
    """Before issue 25 the live cadence was ``site.detect_fps`` and a camera's ``detect_fps``; both are
    ``detector.detect_fps`` now (one cadence family beside ``detect_every``), and old files keep working."""
    from facemask_live.core.config import load_file
    from facemask_live.engine.build import camera_spec

    cfg = tmp_path / "site.yaml"
    cfg.write_text("site: {detect_fps: 3}\ncameras:\n  - {name: a, source: a.mp4, detect_fps: 2}\n  - {name: b, source: b.mp4}\n")
    with caplog.at_level("WARNING"):
        s = load_file(cfg)
    assert [camera_spec(s, c).detect_fps for c in s.cameras] == [2, 3]
    assert "site.detect_fps is now detector.detect_fps" in caplog.text
    assert "cameras[].detect_fps is now cameras[].detector.detect_fps" in caplog.text


def test_a_camera_shares_the_site_detector_unless_it_needs_other_weights_or_thresholds():
    """The cadence and whether a substream is enlarged are ways of calling one detector; a threshold is not."""
    from facemask_live.core.config import DetectorSettings
    from facemask_live.engine.build import own_model

    site = DetectorSettings()
    assert not own_model(DetectorSettings(detect_fps=2, detect_every=3, enlarge_detect_stream=True), site)
    assert own_model(DetectorSettings(confidence=0.5), site) and own_model(DetectorSettings(size=960), site)


def test_site_settings_are_checked_once_in_settings():
    """The engine's per-camera plan is built from checked Settings: a bad value is the settings' one-line error."""
    from facemask_live.core.config import DetectorSettings, SiteSection

    with pytest.raises(ValueError, match="detector.detect_fps"):
        DetectorSettings(detect_fps=0)
    with pytest.raises(ValueError, match="site.detector_load"):
        SiteSection(detector_load=0)


def test_capture_backlog_keeps_a_late_consumers_frames_in_order(tmp_path):
    """Realtime with backlog 3: a consumer that is late by two frame periods loses nothing; beyond 3 the oldest go."""
    from facemask_live.sources.capture import Capture

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
    from facemask_live.detection.classify import MaskClassifier, default_model_path
    from facemask_live.detection.detect import create_detector
    from facemask_live.engine.site import Site

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


def test_a_live_camera_marks_how_many_frames_showed_each_verdict(shared_dir):
    """A camera looked at twice a second (25 fps): the faces of the frame a detection is shown on have
    ``carried`` 0, the frames after it count up until the next one; the tracker and the monitor count a verdict on
    ``verdict_frames`` frames only (tests/events/test_events.py)."""
    from facemask_live.detection.classify import MaskClassifier, default_model_path
    from facemask_live.detection.detect import create_detector
    from facemask_live.engine.site import Site

    clip = str(shared_dir / "media" / "videos" / "man_nomask.mp4")  # 640x360, 25 fps, one face throughout
    seen: list[list[int]] = []
    site = Site(create_detector("retinaface", threads=1, input_size=320), MaskClassifier(default_model_path(), threads=1),
                on_result=lambda camera, result, annotated: seen.append([f.carried for f in result.faces]))
    cam = site.add_camera(CameraSpec("door", clip, detect_fps=2))
    with site:
        site.wait(5)
    runs = cam.detector_runs
    carried = [c[0] for c in seen if len(c) == 1]
    assert len(carried) > 80 and runs >= 6
    fresh = [i for i, c in enumerate(carried) if c == 0]
    assert runs - 2 <= len(fresh) <= runs  # each detection is fresh on the one frame it is first shown on
    for a, b in zip(fresh, fresh[1:]):  # then counted up frame by frame
        assert carried[a:b] == list(range(b - a))
    assert max(carried) >= 8  # about 12 frames between two looks at 2 a second


def test_headless_site_config_two_clips_and_a_dead_url(shared_dir, tmp_path):
    """The issue's smallest config grown by one clip: a dead RTSP URL (password from the environment) shows its
    state on one line and disturbs nothing; a looping clip runs until --duration; a clip that ends says so;
    stats and events carry the camera names."""
    import os

    videos = shared_dir / "media" / "videos"
    cfg = tmp_path / "site.yaml"
    cfg.write_text(
        "cameras:\n"
        "  - name: front\n    source: rtsp://admin:{FACEMASK_CAM1_PASSWORD}@127.0.0.1:9/stream\n"
        f"  - name: side\n    source: {videos / 'man_nomask.mp4'}\n    loop: true\n    realtime: true\n"
        f"  - name: door\n    source: {videos / 'office_mask.mp4'}\n    realtime: true\n")
    stats, events = tmp_path / "s.json", tmp_path / "ev.jsonl"
    t0 = time.monotonic()
    r = _run("--config", str(cfg), "--headless", "--duration", "12", "--stats-json", str(stats), "--events", str(events),
             "--snapshots", str(tmp_path / "snapshots"),  # not the working folder
             env={**os.environ, "FACEMASK_CAM1_PASSWORD": "pa55word"})
    wall = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert "pa55word" not in r.stderr and "pa55word" not in stats.read_text()
    s = json.loads(stats.read_text())
    front, side, door = (s["cameras"][n] for n in ("front", "side", "door"))
    for cam in (side, door):
        for key in ("frames_captured", "frames_processed", "dropped", "detector_runs", "frame_age_p50_ms", "frame_age_p95_ms"):
            assert cam[key] is not None, (key, cam)
        assert cam["frames_processed"] >= 0.9 * cam["frames_captured"] and cam["detector_runs"] > 10
    assert side["state"] == "stopped" and side["frames_processed"] > 200  # looped past its 7.7 s (25 fps, own rate)
    assert 11.5 <= s["site"]["elapsed_s"] < 15 and wall < 40
    assert door["state"] == "ended"
    assert front["state"] in ("failed", "reconnecting") and front["frames_processed"] == 0 and "cannot open" in front["error"]
    lines = r.stderr.splitlines()
    assert len([ln for ln in lines if ln.startswith("front ")]) == 1 and "site: 3 cameras" in r.stderr
    assert s["cpu_seconds"] > 0 and s["site"]["cameras"] == 3
    recs = [json.loads(line) for line in events.read_text().splitlines()]
    assert len(recs) == side["events"] >= 1 and {r["camera"] for r in recs} == {"side"}


@pytest.mark.slow
def test_bench_cameras_modes(shared_dir, tmp_path):
    """``python -m facemask_live.bench --cameras``: the site run beside separate processes, and the still mode."""
    out = tmp_path / "b.json"
    cmd = [sys.executable, "-m", "facemask_live.measure.bench", "--cameras", "2", "--duration", "5", "--no-hd",
           "--clips", "man_nomask.mp4", "--json", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    run = json.loads(out.read_text())["runs"]["2"]
    assert set(run["site"]["cameras"]) == {"cam1", "cam2"} and run["site"]["site"]["frames_processed"] > 100
    assert len(run["processes"]["processes"]) == 2 and all(p["exit_code"] == 0 for p in run["processes"]["processes"].values())
    assert "same load as 2 separate processes" in r.stdout
    # the window's hand-off: each picture drawn at its tile's size in a 1280x720 grid (two 640x720 columns)
    assert all(c["hand-off"] > 0 for c in run["site"]["stage_cpu"]["cameras"].values())
    bad = subprocess.run([*cmd[:7], "--screen", "big"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --screen must be WIDTHxHEIGHT")
    r = subprocess.run([*cmd[:6], "4", "--clips", "man_nomask.mp4", "--still", "--json", str(out)],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    run = json.loads(out.read_text())["runs"]["2"]
    assert run["decode_only"]["frames_decoded"] > 100 and run["cpu_ratio"] > 0 and "decode only" in r.stdout
    r = subprocess.run([*cmd[:5], "--clips-dir", str(tmp_path / "none")], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 1 and r.stderr.startswith("error: no clips found")


@pytest.mark.slow
def test_bench_cameras_one_and_more_in_one_call(shared_dir, tmp_path):
    """``bench --cameras 1 2`` (the issue's ``1 8 16``) runs a site of each size with its per-stage table; a lone
    ``--cameras 1`` with ``--source`` is still the single-camera benchmark."""
    out = tmp_path / "b.json"
    cmd = [sys.executable, "-m", "facemask_live.measure.bench", "--cameras", "1", "2", "--duration", "3", "--no-hd",
           "--no-processes", "--screen", "none", "--clips", "man_nomask.mp4", "--json", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=REPO)
    assert r.returncode == 0, r.stderr
    runs = json.loads(out.read_text())["runs"]
    assert set(runs) == {"1", "2"} and set(runs["1"]["site"]["cameras"]) == {"cam1"}
    assert all(runs[n]["site"]["stage_cpu"]["cameras"]["cam1"]["decode"] > 0 for n in runs)
    assert "--- 1 camera(s)" in r.stdout and "--- 2 camera(s)" in r.stdout
    one = subprocess.run([*cmd[:4], "1", "--source", str(shared_dir / "media" / "videos" / "man_nomask.mp4"),
                          "--frames", "20", "--no-startup"], capture_output=True, text=True, timeout=180, cwd=REPO)
    assert one.returncode == 0, one.stderr
    assert "end to end" in one.stdout and "plain loop" in one.stdout


def test_a_source_that_fails_is_logged_once_and_not_after_close(tmp_path, caplog):
    """A missing file is one error line however often it is retried; a failure that comes after close was asked
    for (an open that outlived the window) is not reported at all."""
    import logging

    from facemask_live.detection.classify import MaskClassifier, default_model_path
    from facemask_live.detection.detect import create_detector
    from facemask_live.engine.site import Site

    site = Site(create_detector("retinaface", threads=1, input_size=320), MaskClassifier(default_model_path(), threads=1))
    cam = site.add_camera(CameraSpec("gone", str(tmp_path / "missing.mp4"), retry_s=(0.05, 0.05)))
    with caplog.at_level(logging.ERROR, logger="facemask_live"):
        with site:
            deadline = time.monotonic() + 5
            while cam.state.public != "failed" and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)  # several retries
        assert cam.state.public == "failed" and "missing.mp4" in cam.error
        assert len([r for r in caplog.records if "camera gone" in r.getMessage()]) == 1
        cam._fail("cannot open stream rtsp://127.0.0.1:9/stream")  # as a thread whose open outlived close() would
        assert len([r for r in caplog.records if "camera gone" in r.getMessage()]) == 1


def test_a_busy_detector_looks_at_people_before_an_empty_moving_picture(shared_dir, tmp_path):
    """More cameras due than the detector can serve (detect_fps 25 each, the detector held to a quarter of the
    time): the camera with a person in view gets most detector runs, the moving picture without faces still
    gets its turn."""
    from facemask_live.app.options import load_settings
    from facemask_live.core.config import CameraSettings
    from facemask_live.engine.build import build_site

    empty = make_video(tmp_path / "empty.avi", n=100, size=(1280, 720), fps=25)  # a moving pattern, no face
    people = shared_dir / "media" / "videos" / "street_nomask.mp4"
    cams = (CameraSettings("people", str(people), loop=True), CameraSettings("empty", str(empty), loop=True))
    settings = load_settings(["--headless", "--no-progress", "--no-auto-snapshots"], cameras=cams,
                             detector={"detect_fps": 25}, site={"detector_load": 0.25})
    site = build_site(settings, realtime=True)
    try:
        site.start()
        site.wait(8.0)
        runs = {name: s["detector_runs"] for name, s in site.stats()["cameras"].items()}
    finally:
        site.close()
    assert runs["empty"] >= 2 and runs["people"] >= 2 * runs["empty"], runs


def test_a_camera_waiting_for_its_first_look_goes_first_and_a_long_wait_means_behind(face_frame):
    """The detector's turn order: a camera that shows nothing until its first detection (it just started or
    reconnected) goes before a camera with people in view that has waited longer; taking an offer that waited
    ``BEHIND_WAIT_S`` or more marks the detector behind, one taken at once does not."""
    from facemask_live.core.results import Frame
    from facemask_live.detection.classify import MaskClassifier, default_model_path
    from facemask_live.detection.detect import create_detector
    from facemask_live.engine.site import BEHIND_WAIT_S, Site

    site = Site(create_detector("retinaface", threads=1, input_size=320), MaskClassifier(default_model_path(), threads=1))
    people = site.add_camera(CameraSpec("people", "people.mp4"))
    new = site.add_camera(CameraSpec("new", "new.mp4"))
    people._faces = create_detector("retinaface-masked").detect(face_frame)  # a person in view
    assert people.has_people and not new.has_people
    frame = Frame(face_frame, 7, 0.28, time.monotonic(), None, "clip")
    site.offer(people, frame)
    time.sleep(BEHIND_WAIT_S + 0.05)
    site.offer(new, frame, first=True)

    def take():  # what the detector thread does with an offer, but the detection
        offer = site._next_offer()
        site._taken_done()
        return offer.camera.name

    assert [take(), take()] == ["new", "people"]
    assert site.behind  # "people" waited longer than BEHIND_WAIT_S
    site.offer(people, dataclasses.replace(frame, index=8))
    assert take() == "people" and not site.behind  # taken at once: the detector keeps up
    site.offer(new, frame)  # no first look: "people" has its half-second head start
    site.offer(people, dataclasses.replace(frame, index=9))
    assert [take(), take()] == ["people", "new"]
    site.close()


def _play(settings) -> tuple[dict, list]:
    """Eight seconds of ``settings``' site in real time: its camera stats and the "people" camera's boxes, frame by
    frame (with each face's ``carried``)."""
    from facemask_live.engine.build import build_site

    frames: list = []

    def seen(camera, result, annotated):
        if camera == "people":
            frames.append([(f.box, f.carried) for f in result.faces])

    site = build_site(settings, realtime=True, on_result=seen)
    try:
        site.start()
        site.wait(8.0)
        stats = site.stats()["cameras"]
    finally:
        site.close()
    return stats, frames


def test_a_detector_that_is_behind_has_its_cameras_flow_every_second_frame(shared_dir):
    """Two cameras asking for 25 detections a second from a detector held to a tenth of the time: the detector is
    behind, so between two looks each camera moves its boxes by optical flow on every second frame and holds them
    on the others. One camera looked at twice a second: the detector keeps up, every frame's boxes move."""
    from facemask_live.app.options import load_settings
    from facemask_live.core.config import CameraSettings

    people = str(shared_dir / "media" / "videos" / "street_nomask.mp4")  # 25 fps, a man walking towards the camera
    other = str(shared_dir / "media" / "videos" / "man_nomask.mp4")
    cams = (CameraSettings("people", people, loop=True), CameraSettings("other", other, loop=True))
    opts = ["--headless", "--no-progress", "--no-auto-snapshots"]
    stats, frames = _play(load_settings(opts, cameras=cams, detector={"detect_fps": 25}, site={"detector_load": 0.1}))
    carried = [fs for fs in frames if len(fs) == 1 and fs[0][1] > 0]  # one face, carried from a detection
    assert len(carried) > 60, len(frames)
    held = sum(a[0][0] == b[0][0] for a, b in zip(carried, carried[1:]) if b[0][1] == a[0][1] + 1)
    moved_or_held = sum(b[0][1] == a[0][1] + 1 for a, b in zip(carried, carried[1:]))
    assert 0.35 <= held / moved_or_held <= 0.65, (held, moved_or_held)  # every second frame
    assert stats["people"]["flow_held"] >= held and stats["other"]["flow_held"] > 0

    keeps_up = (CameraSettings("people", people, loop=True),)
    stats, frames = _play(load_settings(opts, cameras=keeps_up, detector={"detect_fps": 2}))
    assert stats["people"]["flow_held"] == 0 and stats["people"]["detector_runs"] >= 10
    assert sum(len(fs) == 1 for fs in frames) > 100


def test_a_camera_counts_the_looks_it_got_while_people_were_in_view(shared_dir, tmp_path):
    """A camera with a man in view all along and one whose changing picture has nobody: the first counts the time
    people were in view and the detections meanwhile (its rate then is its rate over the run); the empty one,
    looked at all the same, has no time with people and so no such rate."""
    from facemask_live.app.options import load_settings
    from facemask_live.core.config import CameraSettings

    empty = make_video(tmp_path / "empty.mp4", n=75, size=(640, 360), fps=25)  # a numbered pattern: motion, no face
    people = str(shared_dir / "media" / "videos" / "street_nomask.mp4")  # the man is in view in every frame
    cams = (CameraSettings("people", people, loop=True), CameraSettings("empty", str(empty), loop=True))
    opts = ["--headless", "--no-progress", "--no-auto-snapshots"]
    stats, _ = _play(load_settings(opts, cameras=cams, detector={"detect_fps": 3}))
    man, nobody = stats["people"], stats["empty"]
    assert man["people_s"] >= 0.8 * man["active_s"], man
    assert 0 < man["people_looks"] <= man["detector_runs"] and man["detector_runs"] >= 15, man
    assert abs(man["detect_per_s_with_people"] - man["detect_per_s"]) <= 0.2 * man["detect_per_s"], man
    assert nobody["detector_runs"] >= 10 and nobody["people_s"] == 0 and nobody["people_looks"] == 0, nobody
    assert nobody["detect_per_s_with_people"] is None, nobody


def test_a_site_gives_its_shared_detector_two_threads_and_the_ssd_one(tmp_path):
    """One camera: the detector gets every core. Several: RetinaFace gets two threads (its pool does not spin; the
    one detector then gets its share of the cores beside the camera threads), OpenCV's SSD one (its pool is the
    process's, used by every camera thread), and ``--threads`` wins."""
    from facemask_live.app.options import load_settings
    from facemask_live.core.config import CameraSettings
    from facemask_live.engine.build import build_site, site_thread_settings

    cams = tuple(CameraSettings(f"c{i}", str(make_video(tmp_path / f"c{i}.avi", n=2))) for i in range(2))
    one = load_settings(["--headless"], cameras=cams[:1])
    two = load_settings(["--headless"], cameras=cams)
    assert site_thread_settings(one).detector_threads() == one.detector_threads()
    assert site_thread_settings(two).detector_threads() == min(2, two.detector_threads())
    assert site_thread_settings(load_settings(["--headless", "--detector", "ssd"], cameras=cams)).detector_threads() == 1
    assert site_thread_settings(load_settings(["--headless", "--threads", "3"], cameras=cams)).detector_threads() == 3
    site = build_site(two)  # the site's one detector is built with them
    try:
        assert site.detector.threads == min(2, two.detector_threads())
        assert site.detector.session.get_session_options().intra_op_num_threads == min(2, two.detector_threads())
    finally:
        site.close()
