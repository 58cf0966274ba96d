"""Per-camera, per-stage CPU of a real site (bench --cameras): every stage that ran is counted, the columns add up."""

from __future__ import annotations

import time

import pytest

from facemask_live.measure import stagecpu


def test_task_cpu_counts_this_threads_work():
    import threading

    tid = threading.get_native_id()
    before = stagecpu.task_cpu()[tid]
    end = time.thread_time() + 0.2
    while time.thread_time() < end:  # 0.2 s of this thread's CPU
        pass
    assert stagecpu.task_cpu()[tid] - before >= 0.1  # the kernel counts in ticks (10 ms)


def test_host_share_tells_this_process_from_the_others():
    import subprocess
    import sys

    before, t0, mine0 = stagecpu.host_cpu(), time.monotonic(), stagecpu.process_cpu()
    end = time.thread_time() + 0.5
    while time.thread_time() < end:  # 0.5 s of CPU here ...
        pass
    # ... and 1 s in another process
    subprocess.run([sys.executable, "-c", "import time\nend = time.process_time() + 1.0\nwhile time.process_time() < end: pass"],
                   check=True)
    seconds, mine = time.monotonic() - t0, stagecpu.process_cpu() - mine0
    host = stagecpu.host_share(before, stagecpu.host_cpu(), mine, seconds)
    assert host["this_process"] == pytest.approx(mine / seconds, abs=0.01) and mine >= 0.45
    assert host["other_processes"] >= 0.9 / seconds - 0.05  # the child's second (ticks of 10 ms, other load adds)
    assert host["steal"] >= 0 and host["idle"] >= 0
    assert stagecpu.host_share(None, before, 1.0, 1.0) is None


def test_site_cpu_per_camera_and_stage(shared_dir):
    from facemask_live.measure.sitebench import run_site

    clips = [shared_dir / "media" / "videos" / "office_mask.mp4", shared_dir / "media" / "videos" / "street_nomask.mp4"]
    seen = []
    stats = run_site(clips, 4.0, on_result=lambda cam, result, annotated: seen.append(cam))
    stage = stats["stage_cpu"]
    assert set(stage["cameras"]) == {"cam1", "cam2"}
    assert seen  # the site's own on_result is still called through the meter
    for name, row in stage["cameras"].items():
        assert row["frames"] == stats["cameras"][name]["frames_processed"] > 0
        assert row["decode"] > 0 and row["detect"] > 0  # both streams decoded, both looked at by the detector
        assert row["total"] == pytest.approx(sum(row[c] for c in stagecpu.COLUMNS), abs=0.2)
    # the larger street clip (1280x720) costs more to decode per second than the office clip (720x404)
    assert stage["cameras"]["cam2"]["decode"] > stage["cameras"]["cam1"]["decode"]
    assert stage["process_cpu_s"] >= stage["detector_thread_cpu_s"] + stage["decoding_cpu_s"] - 0.05
    host = stage["host_cores"]  # the machine over the run: this process's cores are among those it counted busy
    assert host["this_process"] > 0 and set(host) == {"this_process", "other_processes", "idle", "steal"}
    assert any("steal" in line for line in stagecpu.format_table(stage, None))


def test_decode_only_floor_per_stream(shared_dir):
    from facemask_live.measure.sitebench import decode_only

    clips = [shared_dir / "media" / "videos" / "office_mask.mp4", shared_dir / "media" / "videos" / "street_nomask.mp4"]
    floor = decode_only(clips, 2.0)["per_stream_cpu_ms_per_s"]
    assert len(floor) == 2 and all(f > 0 for f in floor)
    assert floor[1] > floor[0]  # shared out by decoded pixels: the 1280x720 stream gets more


def test_substreams_detect_on_the_small_copy_and_never_decode_the_main_stream(shared_dir, tmp_path):
    """bench --substreams: every camera works on its clip's 640x360 copy; nothing asks for the main stream."""
    from facemask_live.engine.build import build_site
    from facemask_live.measure.sitebench import site_settings
    from facemask_live.measure.substreams import substream_clip
    from facemask_live.sources.dual import DualCapture

    clip = shared_dir / "media" / "videos" / "street_nomask.mp4"
    sub = substream_clip(clip, tmp_path)
    shapes = set()
    site = build_site(site_settings([clip], detect_clips=[sub]), on_result=lambda c, r, a: shapes.add(r.frame.image.shape))
    try:
        site.start()
        site.wait(2.0)
        cap = site.cameras["cam1"].capture
        assert isinstance(cap, DualCapture) and not cap.main_open and cap.main_opens == 0
        assert site.stats()["cameras"]["cam1"]["detector_runs"] > 0
    finally:
        site.close()
    assert shapes == {(360, 640, 3)}


def test_camera_stage_cpu_tool_times_each_stage_on_a_real_face(shared_dir, tmp_path):
    """tools/camera_stage_cpu.py on a clip with a face moving across: every stage has a CPU time, flow the largest
    (it runs on the frames between detector runs; the gate, tracker and monitor are cheap), and a bad path is one line."""
    import re
    import subprocess
    import sys

    import cv2
    import numpy as np
    from helpers import REPO

    cap = cv2.VideoCapture(str(shared_dir / "media" / "videos" / "street_nomask.mp4"))
    frames = [cap.read()[1] for _ in range(40)]
    cap.release()
    clip = tmp_path / "walk.avi"
    w = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 25, (640, 360))
    for i, img in enumerate(frames):  # the picture slides 3 px a frame: the flow has a face to follow
        img = cv2.resize(img, (640, 360))
        w.write(cv2.warpAffine(img, np.float32([[1, 0, 3 * i], [0, 1, 0]]), (640, 360)))
    w.release()
    r = subprocess.run([sys.executable, "tools/camera_stage_cpu.py", str(clip), "--frames", "40"], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    ms = {k: float(v) for k, v in re.findall(r"^\s+(\w+)\s+([\d.]+) ms$", r.stdout, re.M)}
    assert set(ms) == {"motion", "flow", "track", "events"} and int(re.search(r"(\d+) face\(s\)", r.stdout)[1]) >= 1
    assert ms["flow"] > 0 and ms["flow"] > ms["motion"] and ms["flow"] > ms["events"]
    bad = subprocess.run([sys.executable, "tools/camera_stage_cpu.py", str(tmp_path / "nope.mp4")], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "no such video" in bad.stderr and "Traceback" not in bad.stderr


def test_the_benchmark_deals_every_worker_a_mix_of_clips():
    """Four clips over 12-32 cameras in two to four workers: each worker plays each clip as often as the others, as
    a site listed by door would; cycled plainly, every worker of four got copies of one clip."""
    import collections
    from pathlib import Path

    from facemask_live.engine.workers import share_out
    from facemask_live.measure.sitebench import deal_clips

    clips = [Path(f"clip{k}.mp4") for k in range(4)]
    for n, workers in ((32, 4), (32, 2), (16, 4), (12, 3)):
        load = deal_clips(clips, n, workers)
        assert collections.Counter(load) == collections.Counter({c: n // 4 for c in clips})
        for share in share_out(list(range(n)), workers):
            counts = collections.Counter(load[i] for i in share)
            assert set(counts) == set(clips) and len(set(counts.values())) == 1, (n, workers, counts)
    assert deal_clips(clips, 6) == clips + clips[:2]  # one process: the clips in turn, as before
