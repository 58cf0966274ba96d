"""A site's cameras in worker processes (facemask_live.engine.workers): the rule that chooses them, a real run whose
shared outputs and figures match what the cameras did, a worker killed and started again, the parent killed."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO

sys.path.insert(0, str(REPO / "tools"))
from soak import child_pids  # noqa: E402 - the soak's own reading of /proc

from facemask_live.app.options import load_settings
from facemask_live.core.config import CameraSettings
from facemask_live.engine.build import build_site, camera_spec
from facemask_live.engine.workers import ProcessSite, share_out, worker_count


def _settings(sources, *args, loop=False, **sections):
    cams = tuple(CameraSettings(f"cam{i + 1}", str(s), loop=loop) for i, s in enumerate(sources))
    return load_settings(["--no-progress", *args], cameras=cams, **sections)


def _count(settings, realtime=True):
    return worker_count(settings, [camera_spec(settings, c, realtime=realtime) for c in settings.cameras])


def test_worker_rule_many_live_cameras(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    rtsp = [f"rtsp://10.0.0.{i}/stream" for i in range(16)]
    assert _count(_settings(rtsp, "--headless")) == 4  # one per four cameras, at most two per core
    assert _count(_settings(rtsp[:8], "--headless")) == 1  # eight fit one process
    assert _count(_settings(rtsp[:9], "--headless")) == 3
    assert _count(_settings(rtsp * 2, "--headless")) == 4
    assert _count(_settings(rtsp)) == 4  # the window too: the workers draw its tiles
    window = _settings(rtsp)
    with_visitor = dataclasses.replace(window, visitor=dataclasses.replace(window.visitor, camera="cam1"))
    assert _count(with_visitor) == 1  # a visitor display shows a camera's whole picture
    assert _count(_settings(rtsp, "--headless", "--workers", "1")) == 1
    assert _count(_settings(rtsp[:3], "--headless", "--workers", "5")) == 3  # never more workers than cameras
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert _count(_settings(rtsp * 4, "--headless")) == 16
    # a file processed frame by frame waits for its reader: it stays in this process unless asked
    files = [f"clip{i}.mp4" for i in range(16)]
    assert _count(_settings(files, "--headless"), realtime=False) == 1
    assert _count(_settings(files, "--headless", "--workers", "2"), realtime=False) == 2
    assert share_out([f"c{i}" for i in range(5)], 2) == [["c0", "c2", "c4"], ["c1", "c3"]]


def test_bad_workers_value_is_one_error_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "facemask_live", "--headless", "--workers", "0"], capture_output=True,
                       text=True, timeout=60, cwd=REPO)
    assert r.returncode == 2 and "--workers: must be" in r.stderr and "Traceback" not in r.stderr, r.stderr
    cfg = tmp_path / "site.yaml"
    cfg.write_text("site: {workers: 100}\ncameras: [{name: a, source: a.mp4}]\n")
    r = subprocess.run([sys.executable, "-m", "facemask_live", "--config", str(cfg), "--headless"], capture_output=True,
                       text=True, timeout=60, cwd=REPO)
    assert r.returncode == 2 and "site.workers must be a whole number 1..64" in r.stderr, r.stderr


def test_three_cameras_in_two_workers_log_every_frame_and_event(shared_dir, tmp_path):
    """Real clips played like cameras in two worker processes: the detections file in this process has a record
    for every frame the workers processed, the event log every event they counted (the same people as the clips
    give alone), the people log each camera's people, and each result handed on has the frame's size and no
    picture."""
    videos = shared_dir / "media" / "videos"
    clips = [videos / "street_nomask.mp4", videos / "man_nomask.mp4", videos / "office_mask.mp4"]
    det, events, people = tmp_path / "det.jsonl", tmp_path / "events.csv", tmp_path / "people.jsonl"
    settings = _settings(clips, "--headless", "--workers", "2", "--realtime", "--detections", str(det), "--events",
                         str(events), "--people-log", str(people), "--snapshots", str(tmp_path / "snaps"))
    seen = []
    site = build_site(settings, on_result=lambda cam, r, a: seen.append((cam, r.frame.image.shape, a)))
    assert isinstance(site, ProcessSite)
    own = time.process_time()
    with site:
        site.wait(60)
    own = time.process_time() - own  # this process's CPU meanwhile
    stats = site.stats()
    cams = stats["cameras"]
    assert list(cams) == ["cam1", "cam2", "cam3"] and stats["site"]["workers"] == 2
    assert all(c["state"] == "ended" and c["frames_processed"] > 100 for c in cams.values()), cams
    records = [json.loads(line) for line in det.read_text().splitlines()]
    for name, c in cams.items():
        assert sum(r["camera"] == name for r in records) == c["frames_processed"]
        assert sum(s[0] == name for s in seen) == c["frames_processed"]
    assert {s[1][2] for s in seen} == {0} and {s[2] for s in seen} == {None}
    assert {s[1][:2] for s in seen if s[0] == "cam1"} == {(720, 1280)}
    with events.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == stats["site"]["events"] == sum(c["events"] for c in cams.values())
    # the unmasked people of the two street clips, each once, each with its snapshot written by its worker
    assert sorted({(r["camera"], r["label"]) for r in rows}) == [("cam1", "no_mask"), ("cam2", "no_mask")], rows
    assert all(Path(r["snapshot"]).is_file() for r in rows)
    finals = {Path(r["source"]).name: r for line in people.read_text().splitlines() if (r := json.loads(line)).get("final")}
    assert {n: f["people_seen"] for n, f in finals.items()} == {Path(c["source"]).name: c["people"] for c in cams.values()}
    assert finals["street_nomask.mp4"]["violations"] == cams["cam1"]["events"]
    assert stats["cpu_seconds"] > own + 1.0  # the workers' CPU counts, not only this process's (measured: 4.6 s, 2 cores)


def test_a_killed_worker_is_started_again_and_a_killed_parent_leaves_no_worker(shared_dir, tmp_path):
    clip = shared_dir / "media" / "videos" / "street_nomask.mp4"
    cfg = tmp_path / "site.yaml"
    cfg.write_text("site: {workers: 2}\ncameras:\n" + "".join(
        f"  - {{name: door{i}, source: {clip}, loop: true}}\n" for i in (1, 2)))
    stats_file = tmp_path / "stats.json"
    proc = subprocess.Popen([sys.executable, "-m", "facemask_live", "--config", str(cfg), "--headless",
                             "--no-auto-snapshots", "--events", str(tmp_path / "ev.csv"), "--duration", "40",
                             "--stats-json", str(stats_file)], cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(workers := _workers(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(workers) == 2
        time.sleep(4)
        os.kill(workers[0], signal.SIGKILL)
        time.sleep(8)  # started again after 1 s
        assert [p for p in _workers(proc.pid) if p not in workers], "the killed worker was not started again"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert re.search(r"worker [12] \(cameras door[12]\) stopped \(exit code -9\); starting it again in 1 s", err), err
    stats = json.loads(stats_file.read_text())
    assert stats["site"]["worker_starts"] == 3
    assert all(c["frames_processed"] > 0 for c in stats["cameras"].values())

    # kill -9 of the parent: the workers notice and stop by themselves
    proc = subprocess.Popen([sys.executable, "-m", "facemask_live", "--config", str(cfg), "--headless",
                             "--no-auto-snapshots"], cwd=REPO, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(kids := _workers(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{k}").exists() and "zombie" not in _state(k) for k in kids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [k for k in kids if Path(f"/proc/{k}").exists() and "zombie" not in _state(k)], "a worker outlived its parent"


def _workers(pid: int) -> list[int]:
    """The worker processes of ``pid`` (multiprocessing's resource tracker is a child too)."""
    out = []
    for kid in child_pids(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{kid}/cmdline").read_bytes():
                out.append(kid)
        except OSError:
            pass
    return out


def _state(pid: int) -> str:
    try:
        return "zombie" if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z" else "running"
    except OSError:
        return "zombie"


def test_cameras_start_once_every_worker_is_built(shared_dir):
    """A worker that built its engine holds its cameras until the parent's "go" (ProcessSite.start sends it once
    every worker is built): no camera of an early worker drops frames while the others still load."""
    videos = shared_dir / "media" / "videos"
    settings = _settings([videos / "office_mask.mp4", videos / "man_nomask.mp4"], "--headless", "--workers", "2",
                         loop=True)
    site = build_site(settings)
    assert isinstance(site, ProcessSite)
    site._started = True  # start() step by step: spawned holding, as start() spawns them
    for w in site.workers:
        site._spawn(w, hold=True)
    try:
        deadline = time.monotonic() + 60
        while not all(w.ready for w in site.workers) and time.monotonic() < deadline:
            site._receive(0.1)
        assert all(w.ready for w in site.workers)
        end = time.monotonic() + 1.5  # built and waiting: no camera reads a frame, no figures come
        while time.monotonic() < end:
            site._receive(0.1)
        assert all("cameras" not in w.stats for w in site.workers)
        assert all(cam.processed == 0 for cam in site.cameras.values())
        for w in site.workers:
            site._send(w, "go")
        end = time.monotonic() + 30
        while time.monotonic() < end and not all(cam.processed > 0 for cam in site.cameras.values()):
            site._receive(0.1)
        assert all(cam.processed > 0 for cam in site.cameras.values())
    finally:
        site._reader.start()  # close() stops the workers and waits for the results thread
        site.close()


@pytest.mark.slow
def test_bench_measures_every_camera_in_worker_processes(shared_dir):
    """The benchmark's per-stage meter runs in each worker: every camera has its row, decoded and detected."""
    from facemask_live.measure.sitebench import run_site

    videos = shared_dir / "media" / "videos"
    clips = [videos / "office_mask.mp4", videos / "street_nomask.mp4", videos / "man_nomask.mp4"]
    stats = run_site(clips, 6.0, workers=2, tile=(320, 180))
    assert stats["site"]["workers"] == 2
    stage = stats["stage_cpu"]
    assert list(stage["cameras"]) == ["cam1", "cam2", "cam3"]
    for name, row in stage["cameras"].items():
        assert row["frames"] == stats["cameras"][name]["frames_processed"] > 0
        assert row["decode"] > 0 and row["detect"] > 0 and row["hand-off"] > 0
    # the machine line counts the workers: three cameras decoded and detected take ~0.5 cores, the parent ~0.02
    assert stage["process_cpu_s"] > 0 and stage["host_cores"]["this_process"] > 0.25


def test_rtsp_cameras_with_two_streams_in_two_workers(rtsp_ready, face_frame, tmp_path):
    """Two cameras of the real RTSP server, each with a main stream and a detect stream, one per worker: both are
    live, detect the face and raise its violation with a snapshot written by their worker."""
    import cv2
    from helpers import RtspServer

    image = tmp_path / "face.png"
    cv2.imwrite(str(image), face_frame)
    main, sub = RtspServer(image).start(), RtspServer(image).start()
    events = tmp_path / "events.csv"
    try:
        cams = tuple(CameraSettings(f"door{i}", main.url, detect_source=sub.url) for i in (1, 2))
        settings = load_settings(["--headless", "--no-progress", "--workers", "2", "--events", str(events),
                                  "--snapshots", str(tmp_path / "snaps")], cameras=cams)
        with build_site(settings) as site:
            assert isinstance(site, ProcessSite)
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline and not all(c.stats()["events"] for c in site.cameras.values()):
                time.sleep(0.5)
            live = {name: cam.stats()["state"] for name, cam in site.cameras.items()}
        stats = site.stats()
    finally:
        main.stop()
        sub.stop()
    assert live == {"door1": "live", "door2": "live"}
    for name, c in stats["cameras"].items():
        assert c["detector_runs"] >= 1 and c["faces_by_label"], (name, c)
        assert c["events"] >= 1, (name, c)
    with events.open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["camera"] for r in rows} == {"door1", "door2"}
    assert all(Path(r["snapshot"]).is_file() for r in rows)


def test_a_hung_worker_is_ended_and_started_again(shared_dir, monkeypatch, caplog):
    """A worker that stops sending (here: stopped with SIGSTOP) is ended after ``STALL_S`` and started again; its
    camera is processed again afterwards, the other camera all along."""
    import logging

    from facemask_live.engine import workers

    monkeypatch.setattr(workers, "STALL_S", 3.0)
    clip = shared_dir / "media" / "videos" / "street_nomask.mp4"
    settings = _settings([clip, clip], "--headless", "--workers", "2", "--no-auto-snapshots", loop=True,
                         source={"realtime": True})
    with caplog.at_level(logging.ERROR, logger="facemask_live"), build_site(settings) as site:
        hung = site.workers[0]
        time.sleep(2)
        os.kill(hung.process.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 20
        while hung.starts < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert hung.starts == 2, "the hung worker was not started again"
        deadline = time.monotonic() + 30
        while site.cameras["cam1"].processed < 20 and time.monotonic() < deadline:
            time.sleep(0.2)
        stats = site.stats()
    assert stats["cameras"]["cam1"]["frames_processed"] >= 20  # counted afresh by the new worker
    assert stats["cameras"]["cam2"]["frames_processed"] > stats["cameras"]["cam1"]["frames_processed"]
    assert any("worker 1 (cameras cam1) sent nothing for 3 s: ended" in r.getMessage() for r in caplog.records)


def test_a_worker_camera_not_started_yet_has_every_figure_a_running_one_has(tmp_path, face_frame):
    """What a ProcessSite shows for a camera whose worker has sent nothing yet has the same keys as a camera's real
    figures (a front end reading e.g. ``frames_repeated`` must not fail in the first second)."""
    import cv2

    from facemask_live.engine.workers import _empty_stats

    image = tmp_path / "face.png"
    cv2.imwrite(str(image), face_frame)
    settings = load_settings(["--headless", "--no-progress", "--no-auto-snapshots", "--snapshots", str(tmp_path / "s")],
                             cameras=(CameraSettings("cam1", str(image)),), site={"workers": 1})
    site = build_site(settings)
    try:
        site.start()
        site.wait(30)
        real = site.stats()["cameras"]["cam1"]
    finally:
        site.close()
    assert real["frames_processed"] == 1
    assert set(_empty_stats(camera_spec(settings, settings.cameras[0]))) == set(real)


def test_the_capture_rate_of_a_worker_camera_is_timed_by_its_own_figures(shared_dir):
    """A worker sends its cameras' figures once a second; the window reads them every half second. Timed by the
    reader's clock, a reading spanned one or two of the worker's updates: 16.7 or 33.3 fps shown for a 25 fps
    camera (seen in the window's panel). Timed by the figures' own ``stats_at``, every reading is the camera's rate,
    however the reader's readings fall."""
    from facemask_live.app.window.view import CaptureRates

    videos = shared_dir / "media" / "videos"
    settings = _settings([videos / "office_mask.mp4", videos / "man_nomask.mp4"], "--headless", "--workers", "2",
                         "--detector-size", "320", loop=True)  # both clips 25 fps, played in real time
    site = build_site(settings)
    assert isinstance(site, ProcessSite)
    rates, seen = CaptureRates(), []
    with site:
        site.wait(2.0)  # past the first frames
        end = time.monotonic() + 7.0
        while time.monotonic() < end:
            for name, figures in site.stats()["cameras"].items():
                if (fps := rates.update(name, figures)) is not None:
                    seen.append((name, round(fps, 1)))
            time.sleep(0.3)  # out of step with the workers' second
    assert {name for name, _ in seen} == {"cam1", "cam2"} and len(seen) >= 20
    assert all(21.0 <= fps <= 29.0 for _, fps in seen), seen
