#!/usr/bin/env python3
"""How far a fine-tuned RetinaFace's five landmarks moved from the shipped model's, and whether the quality gate cares.

    python tools/compare_landmarks.py --detector-dir out_detector --images /tmp/split-val/images

Both detectors run on every photo (the app's settings: input 700, confidence 0.7); for each face both find
(IoU >= 0.5) it prints the landmark shift as a share of the face width, and the quality gate's verdict on the
fine-tuned face with its own landmarks vs with the shipped model's (train_detector.py freezes the landmark head
and keeps the landmarks near the base model's; this checks that it worked).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from facemask_live.core.errors import FacemaskError  # noqa: E402
from facemask_live.core.geometry import iou  # noqa: E402
from facemask_live.detection.detect import RetinaFaceDetector  # noqa: E402
from facemask_live.detection.quality import assess, geometry  # noqa: E402
from facemask_live.sources.capture import IMAGE_EXTS  # noqa: E402


def compare(tuned: RetinaFaceDetector, base: RetinaFaceDetector, photos: list[Path]) -> dict:
    shift, same, frontal = [], 0, []
    for path in photos:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        found = base.detect(image)
        for face in tuned.detect(image):
            ref = max(found, key=lambda f: iou(face.box, f.box), default=None)
            if ref is None or iou(face.box, ref.box) < 0.5:
                continue
            shift.append(float(np.linalg.norm(face.landmarks - ref.landmarks, axis=1).mean()) / max(ref.width, 1))
            mine, theirs = assess(face, image), assess(dataclasses.replace(face, landmarks=ref.landmarks), image)
            same += (mine.judged, mine.reason) == (theirs.judged, theirs.reason)
            frontal.append(abs(geometry(face.landmarks, face.box).frontal - geometry(ref.landmarks, face.box).frontal))
    if not shift:
        return {"faces": 0}
    return {"faces": len(shift), "shift_median": float(np.median(shift)), "shift_p90": float(np.percentile(shift, 90)),
            "verdict_unchanged": same, "frontal_diff_median": float(np.median(frontal)),
            "frontal_diff_p90": float(np.percentile(frontal, 90))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--detector-dir", required=True, help="folder with the fine-tuned retinaface_mnet025.onnx")
    p.add_argument("--images", required=True, help="folder of photos")
    args = p.parse_args(argv)
    photos = sorted(f for f in Path(args.images).glob("*") if f.suffix.lower() in IMAGE_EXTS)
    if not photos:
        print(f"error: no images in {args.images}", file=sys.stderr)
        return 2
    try:
        r = compare(RetinaFaceDetector(args.detector_dir), RetinaFaceDetector(), photos)
    except FacemaskError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not r["faces"]:
        print("no face found by both detectors")
        return 0
    print(f"{r['faces']} faces found by both: landmark shift / face width median {r['shift_median']:.3f}, 90th pct "
          f"{r['shift_p90']:.3f}; quality verdict unchanged {r['verdict_unchanged']}/{r['faces']}; "
          f"|frontal difference| median {r['frontal_diff_median']:.3f}, 90th pct {r['frontal_diff_p90']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
