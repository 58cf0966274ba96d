"""The command line as a user meets it: --help, headless runs on real clips and images, JSONL, video."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from facemask_live.app.options import build_parser

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
VIDEOS = SHARED / "media" / "videos"
MODEL = REPO / "facemask_live" / "models" / "mask_classifier.json"

needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared is not present")
needs_model = pytest.mark.skipif(not MODEL.is_file(), reason="the default classifier model has not been trained yet")


def cli(*args: str, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run(
        [sys.executable, "-m", "facemask_live", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd or REPO, env=env
    )


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_help_documents_every_option():
    res = cli("--help", timeout=60)
    assert res.returncode == 0, res.stderr
    for action in build_parser()._actions:
        for flag in action.option_strings:
            assert flag in res.stdout, f"{flag} missing from --help"
        if action.option_strings and action.help:
            assert action.help.split("(")[0].strip()[:20] in " ".join(res.stdout.split()), action.option_strings
    for kind in ("webcam", "rtsp://", "video file", "folder"):
        assert kind in res.stdout


def test_bad_option_value_is_one_line():
    res = cli("--headless", "--confidence", "2", timeout=60)
    assert res.returncode == 2
    assert "must be in (0, 1]" in res.stderr
    assert "Traceback" not in res.stderr
    res = cli("--headless", "--violation-threshold", "1", timeout=60)
    assert res.returncode == 2 and "--violation-threshold: must be between 0 and 1" in res.stderr, res.stderr


@pytest.mark.slow
@needs_shared
@needs_model
@pytest.mark.parametrize(("clip", "expected", "frames"), [("office_mask.mp4", "mask", 244), ("street_nomask.mp4", "no_mask", 206)])
def test_headless_video_records_every_frame_and_majority_label(tmp_path, clip, expected, frames):
    det, out = tmp_path / "det.jsonl", tmp_path / "out.mp4"
    res = cli("--headless", "--source", str(VIDEOS / clip), "--detections", str(det), "--output", str(out), "--snapshots", str(tmp_path / "snaps"))
    assert res.returncode == 0, res.stderr
    records = read_jsonl(det)
    assert [r["frame"] for r in records] == list(range(frames))
    assert all(r["file"] is None and r["source"].endswith(clip) for r in records)
    assert records[-1]["t"] > records[0]["t"]
    labels = Counter(face["label"] for r in records for face in r["faces"])
    assert labels, "no face found in the whole clip"
    assert labels.most_common(1)[0][0] == expected, labels
    assert sum(1 for r in records if r["faces"]) > 0.8 * frames  # the face is found in most frames
    face = next(face for r in records for face in r["faces"])
    assert set(face) >= {"box", "label", "score", "probs", "track", "track_label"} - {"track"}
    assert abs(sum(face["probs"].values()) - 1) < 1e-3 and face["score"] == max(face["probs"].values())
    h, w = cv2.VideoCapture(str(VIDEOS / clip)).read()[1].shape[:2]
    x1, y1, x2, y2 = face["box"]
    assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
    video = cv2.VideoCapture(str(out))
    assert video.isOpened()
    n = 0
    while video.read()[0]:
        n += 1
    assert n == frames
    assert "reached the end" in res.stderr and "frames processed: %d" % frames in res.stderr


@needs_model
def test_headless_image_folder_gives_a_record_per_image(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(folder / f"img{i}.png"), rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "notes.txt").write_text("not an image: skipped and counted too (issue #6)")
    det = tmp_path / "det.jsonl"
    res = cli("--headless", "--source", str(folder), "--detections", str(det), "--no-track")
    assert res.returncode == 0, res.stderr
    records = read_jsonl(det)
    assert [r["file"] for r in records] == ["img0.png", "img1.png", "img2.png"]
    assert all(r["faces"] == [] for r in records)  # noise has no faces, and still gets a record
    assert "skipped: 2" in res.stderr  # broken.jpg and notes.txt


@pytest.mark.slow
@needs_shared
@needs_model
def test_headless_single_photo_finds_faces(tmp_path):
    det = tmp_path / "det.jsonl"
    res = cli("--headless", "--source", str(SHARED / "media" / "group-photos" / "2008_002506.jpg"), "--detections", str(det))
    assert res.returncode == 0, res.stderr
    (record,) = read_jsonl(det)
    assert record["file"] == "2008_002506.jpg" and len(record["faces"]) >= 3
