"""Parity of the two engines before the old one goes: the single-source runner (``build_pipeline`` +
``build_runner``, what ``--source`` ran until now) and the site engine with one camera (what it runs now),
on every shared clip and a folder of real scenes: the same faces, labels, track ids, events and people counts.

The one difference allowed is the one issue 25 asked for: every record names its camera (``camera`` key).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from facemask_live.core.config import Settings, override
from facemask_live.engine.api import Monitor
from facemask_live.engine.build import build_pipeline, build_runner


def settings_for(source: Path, out: Path) -> Settings:
    out.mkdir(parents=True, exist_ok=True)
    return override(
        Settings(),
        source={"source": str(source), "realtime": False, "loop": False},
        gui={"headless": True},
        output={"progress": False, "detections": str(out / "det.jsonl"), "events": str(out / "events.jsonl"),
                "snapshots": str(out / "snaps")},
        people_log={"path": str(out / "people.jsonl"), "interval": 3600},
    )


def outcome(out: Path) -> dict:
    """What the two engines must agree on, read back from the files they wrote."""
    def lines(name):
        return [json.loads(line) for line in (out / name).read_text().splitlines() if line.strip()]

    frames = [(r["frame"], r["file"], [(f["box"], f["label"], f.get("track_id"), f.get("track_label")) for f in r["faces"]])
              for r in lines("det.jsonl")]
    events = [(e["track_id"], e["label"], e["frame"], Path(e["snapshot"]).name.split("_")[1]) for e in lines("events.jsonl")]
    final = [{k: r[k] for k in ("people_seen", "masked", "violations", "not_judged", "by_label")}
             for r in lines("people.jsonl") if r.get("final")]
    return {"frames": frames, "events": events, "people": final}


def run_both(source: Path, tmp_path: Path) -> tuple[dict, dict]:
    old = settings_for(source, tmp_path / "old")
    build_runner(old, build_pipeline(old)).run()
    new = settings_for(source, tmp_path / "new")
    with Monitor(settings=new) as monitor:
        monitor.wait()
    return outcome(tmp_path / "old"), outcome(tmp_path / "new")


CLIPS = ["street_nomask.mp4", "office_mask.mp4", "putting_on_mask_720p.mp4", "nurse_mask.mp4", "dancer_mask.mp4",
         "man_nomask.mp4"]


@pytest.mark.parametrize("clip", CLIPS)
def test_clip_gives_the_same_results_in_both_engines(shared_dir, tmp_path, clip):
    old, new = run_both(shared_dir / "media" / "videos" / clip, tmp_path)
    assert old["frames"], "the clip gave no frames"
    assert new == old


def test_scene_folder_gives_the_same_results_in_both_engines(shared_dir, tmp_path):
    folder = tmp_path / "scenes"
    folder.mkdir()
    for image in sorted((shared_dir / "data" / "scenes-dev" / "images").iterdir())[:24]:
        shutil.copy(image, folder / image.name)
    old, new = run_both(folder, tmp_path)
    assert sum(len(faces) for _, _, faces in old["frames"]) > 24  # real faces were found
    assert new == old
