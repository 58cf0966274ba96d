#!/usr/bin/env python3
"""Rebuild the scene folders of one split of a training run (e.g. the held-out test images) as symlinks.

    python tools/scene_split_folders.py --splits facemask_live/models/report/scene_splits.json --split test --out /tmp/scenes-test

``scene_splits.json`` (written by ``train_mobilenet.py --scenes``) lists the source images of each split as
``<scenes folder name>/<stem>``; this makes ``OUT/<scenes folder name>/{images,annotations}`` holding only
that split's images, so that ``python -m facemask_live.evaluate`` and ``tools/check_scene_crops.py`` can score
the detector + classifier on images the model never saw.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--splits", default=str(ROOT / "facemask_live" / "models" / "report" / "scene_splits.json"),
                   help="the training run's scene_splits.json (default: the shipped model's)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--out", required=True, help="folder to create (one sub-folder per scenes set)")
    args = p.parse_args(argv)
    try:
        manifest = json.loads(Path(args.splits).read_text())
    except (OSError, ValueError) as e:
        print(f"error: cannot read {args.splits}: {e}", file=sys.stderr)
        return 2
    # the recorded absolute paths, else the same set name under ../shared/data (another checkout)
    folders = {}
    for f in map(Path, manifest["settings"]["scenes"]):
        folders[f.name] = f if f.is_dir() else ROOT.parent / "shared" / "data" / f.name
    out = Path(args.out)
    made = {}
    for source in manifest["sources"][args.split]:
        set_name, stem = source.split("/", 1)
        src = folders[set_name]
        for sub, pattern in (("annotations", f"{stem}.xml"), ("images", f"{stem}.*")):
            for f in (src / sub).glob(pattern):
                dst = out / set_name / sub / f.name
                dst.parent.mkdir(parents=True, exist_ok=True)
                if not dst.exists():
                    dst.symlink_to(f.resolve())
        made[set_name] = made.get(set_name, 0) + 1
    print(f"{args.split}: " + ", ".join(f"{n} images of {k} -> {out / k}" for k, n in made.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
