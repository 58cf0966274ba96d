"""Retention: the app's oldest snapshots go first, logs keep their lines (path marked pruned), foreign files stay."""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import MODEL_JSON, run_cli

from facemask_live.outputs.retention import MANIFEST, SNAPSHOT_NAME, Retention, RetentionSettings, mark_pruned, register_recording


def fake_snapshots(folder: Path, n: int, kb: int = 300) -> list[tuple[Path, Path]]:
    """``n`` violation snapshots + crops named like the app's, oldest first (mtimes one minute apart)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    out, now = [], time.time()
    for i in range(n):
        snap = folder / f"violation_t{i + 1}_20240101-0800{i:02d}-000_f{i:06d}.png"
        crop = snap.with_name(snap.stem + "_crop.png")
        for p, size in ((snap, kb * 1024), (crop, 10 * 1024)):
            p.write_bytes(rng.integers(0, 255, size, dtype=np.uint8).tobytes())
            os.utime(p, (now - (n - i) * 60, now - (n - i) * 60))
        out.append((snap, crop))
    return out


def test_names_match_what_the_app_writes():
    from facemask_live.outputs.sinks import timestamp_name

    for prefix in ("violation_t12", "snapshot"):
        base = timestamp_name(prefix, 42)
        for name in (f"{base}.png", f"{base}_crop.png", f"{base}_raw.png", f"{base}_2.png", f"{base}_2_crop.png"):
            assert SNAPSHOT_NAME.match(name), name
    for foreign in ("holiday.png", "violation_t1.png", "snapshot_notes.txt", "violation_t1_20240101-080000-000_f000001.png.bak"):
        assert not SNAPSHOT_NAME.match(foreign)


def test_size_cap_deletes_oldest_first_and_marks_both_logs_in_place(tmp_path):
    folder = tmp_path / "snaps"
    snaps = fake_snapshots(folder, 6)
    foreign = [folder / "holiday.png", folder / "notes.txt"]
    for f in foreign:
        f.write_bytes(b"x" * 400_000)
    jsonl, csvlog = tmp_path / "ev.jsonl", tmp_path / "ev.csv"
    with open(jsonl, "w") as fh, open(csvlog, "w", newline="") as fc:
        w = csv.writer(fc)
        w.writerow(["time", "track_id", "snapshot", "crop"])
        for i, (s, c) in enumerate(snaps):
            fh.write(json.dumps({"time": i, "track_id": i + 1, "snapshot": str(s), "crop": str(c)}) + "\n")
            w.writerow([i, i + 1, str(s), str(c)])
    sizes = jsonl.stat().st_size, csvlog.stat().st_size
    r = Retention(folder, RetentionSettings(max_snapshot_mb=1), [jsonl, csvlog])
    res = r.prune()
    left = sorted(p.name for p in folder.iterdir() if SNAPSHOT_NAME.match(p.name))
    assert left == sorted(p.name for s in snaps[-3:] for p in s)  # 3 x 310 KB fit under 1 MB; the 3 oldest went
    assert res.files == 6 and res.marked == 12
    assert all(f.exists() for f in foreign)  # not the app's: never deleted, not counted
    assert (jsonl.stat().st_size, csvlog.stat().st_size) == sizes  # marked in place, nothing moved
    recs = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["snapshot"] for r in recs[:3]] == ["pruned"] * 3 and [r["crop"] for r in recs[:3]] == ["pruned"] * 3
    assert [r["snapshot"] for r in recs[3:]] == [str(s) for s, _ in snaps[3:]]
    rows = list(csv.DictReader(csvlog.open()))
    assert [row["snapshot"].strip() for row in rows[:3]] == ["pruned"] * 3 and rows[3]["crop"] == str(snaps[3][1])
    assert Retention(folder, RetentionSettings(max_snapshot_mb=1), [jsonl]).prune().files == 0  # idempotent


def test_keep_days_and_recordings_from_the_manifest_only(tmp_path):
    folder = tmp_path / "snaps"
    snaps = fake_snapshots(folder, 3)
    old = time.time() - 3 * 86400
    os.utime(snaps[0][0], (old, old))
    os.utime(snaps[0][1], (old, old))
    ours, theirs, current = tmp_path / "run1.mp4", tmp_path / "theirs.mp4", tmp_path / "run2.mp4"
    for p in (ours, theirs, current):
        p.write_bytes(b"v" * 1000)
        os.utime(p, (old, old))
    register_recording(folder, ours)
    r = Retention(folder, RetentionSettings(keep_days=2), recording=current)  # registers run2.mp4, the one being written
    assert (folder / MANIFEST).read_text().count("mp4") == 2
    assert r.prune().files == 3
    assert not snaps[0][0].exists() and not snaps[0][1].exists() and snaps[1][0].exists()
    assert not ours.exists() and theirs.exists() and current.exists()
    assert str(ours) not in (folder / MANIFEST).read_text()


def test_mark_pruned_keeps_a_non_ascii_path_valid(tmp_path):
    log = tmp_path / "ev.jsonl"
    p = tmp_path / "Bilder" / "Überwachung" / "violation_t1_20240101-080000-000_f000001.png"
    log.write_text(json.dumps({"snapshot": str(p), "crop": None}) + "\n")
    assert mark_pruned(log, [p]) == 1
    assert json.loads(log.read_text())["snapshot"] == "pruned"


@pytest.mark.slow
@pytest.mark.skipif(not MODEL_JSON.is_file(), reason="needs the shipped classifier")
def test_long_run_with_max_snapshot_mb_1_keeps_folder_small_and_logs_consistent(tmp_path, shared_dir):
    snaps, events, people = tmp_path / "snaps", tmp_path / "ev.jsonl", tmp_path / "people.jsonl"
    snaps.mkdir()
    foreign = snaps / "holiday.png"
    cv2.imwrite(str(foreign), np.full((50, 50, 3), 200, np.uint8))
    proc = run_cli("--headless", "--no-progress", "--loop", "--max-frames", "450", "--cooldown", "0.3",
                   "--source", str(shared_dir / "media" / "videos" / "man_nomask.mp4"), "--snapshots", str(snaps),
                   "--events", str(events), "--people-log", str(people), "--max-snapshot-mb", "1", timeout=240)
    assert proc.returncode == 0, proc.stderr
    recs = [json.loads(line) for line in events.read_text().splitlines()]
    assert len(recs) >= 10, len(recs)  # far more snapshots were written than 1 MB holds
    folder_bytes = sum(p.stat().st_size for p in snaps.iterdir())
    assert folder_bytes < 1024 * 1024, folder_bytes
    assert foreign.exists()
    kept = {str(p) for p in snaps.iterdir() if SNAPSHOT_NAME.match(p.name)}
    for log in (events, people):  # every path in a log exists or says pruned; every kept file is in the logs
        recs = [json.loads(line) for line in log.read_text().splitlines()]
        paths = [r[k] for r in recs if r.get("type", "event") == "event" for k in ("snapshot", "crop")]
        assert all(p == "pruned" or Path(p).is_file() for p in paths)
        assert kept == {p for p in paths if p != "pruned"}
        assert paths.count("pruned") >= len(paths) // 2  # most of them had to go
