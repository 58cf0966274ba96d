"""One engine for one camera or many, as a new user meets it: a camera with a zone is still one camera (its
video, its people log, its snapshot folder), and the stats file has one format for 1..N cameras."""

from __future__ import annotations

import json

import cv2
from helpers import run_cli

ZONE = "zones: [{name: door, kind: entrance, points: [[0, 0], [1, 0], [1, 1], [0, 1]]}]"


def final_people(path) -> list[dict]:
    keys = ("people_seen", "masked", "violations", "not_judged", "by_label")
    return [{k: r[k] for k in keys} for r in map(json.loads, path.read_text().splitlines()) if r.get("final")]


def test_one_camera_with_a_zone_writes_its_video_and_counts_like_a_plain_source(shared_dir, tmp_path):
    clip = shared_dir / "media" / "videos" / "man_nomask.mp4"
    plain = run_cli("--headless", "--no-progress", "--source", str(clip), "--people-log", str(tmp_path / "p1.jsonl"),
                    "--snapshots", str(tmp_path / "s1"), "--stats-json", str(tmp_path / "st1.json"), timeout=600)
    assert plain.returncode == 0, plain.stderr
    cfg = tmp_path / "site.yaml"
    cfg.write_text(f"cameras:\n  - name: door\n    source: '{clip}'\n    {ZONE}\n")
    zoned = run_cli("--headless", "--no-progress", "--config", str(cfg), "--output", str(tmp_path / "o.mp4"),
                    "--people-log", str(tmp_path / "p2.jsonl"), "--snapshots", str(tmp_path / "s2"),
                    "--stats-json", str(tmp_path / "st2.json"), timeout=600)
    assert zoned.returncode == 0, zoned.stderr
    # the recording: every frame of the clip, annotated, at the clip's size and rate
    video = cv2.VideoCapture(str(tmp_path / "o.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 192 and round(video.get(cv2.CAP_PROP_FPS)) == 25
    assert (video.get(cv2.CAP_PROP_FRAME_WIDTH), video.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (640, 360)
    video.release()
    # the same people counts (the evidence-gated label) whichever way the clip was started
    assert final_people(tmp_path / "p1.jsonl") == final_people(tmp_path / "p2.jsonl") != []
    assert final_people(tmp_path / "p1.jsonl")[0]["violations"] == 1
    # one camera's event snapshots go into the snapshot folder itself, zone or not
    assert sorted(p.name for p in (tmp_path / "s1").glob("violation_*.png"))
    assert len(list((tmp_path / "s1").glob("violation_*.png"))) == len(list((tmp_path / "s2").glob("violation_*.png")))
    # one stats format for 1..N cameras
    one, two = (json.loads((tmp_path / f"st{i}.json").read_text()) for i in (1, 2))
    assert one.keys() == two.keys() == {"cameras", "site", "cpu_seconds", "cpu_share"}
    assert one["cameras"]["camera"].keys() == two["cameras"]["door"].keys()
    assert one["cameras"]["camera"]["frames_processed"] == two["cameras"]["door"]["frames_processed"] == 192
    # and the summary of one camera is the summary of one source
    for r in (plain, zoned):
        assert "frames processed: 192" in r.stderr and "people seen: 1 (no_mask 1)" in r.stderr


def test_several_cameras_and_one_video_is_one_clear_error(shared_dir, tmp_path):
    videos = shared_dir / "media" / "videos"
    cfg = tmp_path / "site.yaml"
    cfg.write_text(f"cameras:\n  - {{name: a, source: '{videos / 'man_nomask.mp4'}'}}\n"
                   f"  - {{name: b, source: '{videos / 'office_mask.mp4'}'}}\n")
    r = run_cli("--headless", "--config", str(cfg), "--output", str(tmp_path / "o.mp4"))
    assert r.returncode != 0 and r.stderr.strip().splitlines()[-1].startswith("error: --output records one camera")
    assert "Traceback" not in r.stderr
