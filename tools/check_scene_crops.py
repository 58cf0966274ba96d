#!/usr/bin/env python3
"""Score the app's mask classifier on face crops cut from annotated real scenes (PASCAL VOC).

    python tools/check_scene_crops.py [--scenes ../shared/data/scenes-dev] [--model facemask_live/models/mask_classifier.json]
                                      [--min-height 40] [--margin M] [--json out.json]

For every annotated face at least --min-height pixels high, the box is widened by the model's
``crop_margin`` (fraction of the box size on each side, or --margin), clipped to the image and
classified with facemask_live.detection.classify (the app runtime).  mask_weared_incorrect faces are left
out unless the model has an ``incorrect_mask`` label.  Prints balanced accuracy, per-class recall
and the confusion matrix.  For checking only - never train on these scenes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facemask_live.core.errors import FacemaskError  # noqa: E402
from facemask_live.core.geometry import crop  # noqa: E402
from facemask_live.core.metrics import balanced_accuracy, confusion_matrix, per_class_recall  # noqa: E402
from facemask_live.detection.classify import MaskClassifier, default_model_path  # noqa: E402
from facemask_live.sources.voc import VOC_LABELS, annotated_images, find_image, read_voc  # noqa: E402


def cut(img: np.ndarray, box, margin: float, jitter: float = 0.0, rng=None) -> np.ndarray:
    """The face crop as the app cuts it (:func:`facemask_live.core.geometry.crop`), optionally with box noise."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    if jitter and rng is not None:  # detector-like box noise: shift and scale by up to `jitter`
        cx = (x0 + x1) / 2 + rng.uniform(-jitter, jitter) * w
        cy = (y0 + y1) / 2 + rng.uniform(-jitter, jitter) * h
        f = 1.0 + rng.uniform(-jitter, jitter)
        w, h = w * f, h * f
        x0, x1, y0, y1 = cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2
    return crop(img, tuple(int(round(v)) for v in (x0, y0, x1, y1)), margin)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenes", default=str(ROOT.parent / "shared" / "data" / "scenes-dev"),
                   help="folder with images/ and annotations/ (VOC xml)")
    p.add_argument("--model", default=None, help="classifier .json/.onnx/.tflite (default: the app's default model)")
    p.add_argument("--min-height", type=int, default=40, help="only faces at least this many pixels high")
    p.add_argument("--margin", type=float, default=None, help="override the model's crop_margin")
    p.add_argument("--violation-threshold", type=float, default=None,
                   help="override the model's violation_threshold (probability from which a face is a violation)")
    p.add_argument("--jitter", type=float, default=0.0,
                   help="robustness check: shift/scale each box randomly by up to this fraction (seeded)")
    p.add_argument("--max-side", type=int, default=0,
                   help="robustness check: downscale each crop so its longer side is at most this many pixels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="write the metrics to this JSON file")
    args = p.parse_args(argv)
    try:
        clf = MaskClassifier(args.model or default_model_path(), threads=args.threads,
                             violation_threshold=args.violation_threshold)
    except FacemaskError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    scenes = Path(args.scenes)
    ann_dir, img_dir = scenes / "annotations", scenes / "images"
    if not ann_dir.is_dir() or not img_dir.is_dir():
        print(f"error: {scenes} needs images/ and annotations/ sub-folders", file=sys.stderr)
        return 2
    margin = clf.crop_margin if args.margin is None else args.margin
    labels = clf.labels
    rng = np.random.default_rng(args.seed)
    crops, y_true, skipped_small, skipped_class, heights = [], [], 0, 0, []
    for xml_path in annotated_images(ann_dir):
        voc = read_voc(xml_path)
        ip = find_image(img_dir, xml_path, voc.filename)
        if ip is None:
            continue
        img = cv2.imread(str(ip), cv2.IMREAD_COLOR)
        if img is None:
            continue
        for obj in voc.objects:
            lab = VOC_LABELS.get(obj.label, obj.label)
            height = obj.box[3] - obj.box[1]
            if lab not in labels:
                skipped_class += 1
                continue
            if height < args.min_height:
                skipped_small += 1
                continue
            c = cut(img, obj.box, margin, args.jitter, rng)
            if c.size == 0:
                continue
            if args.max_side and max(c.shape[:2]) > args.max_side:
                f = args.max_side / max(c.shape[:2])
                c = cv2.resize(c, (max(1, round(c.shape[1] * f)), max(1, round(c.shape[0] * f))),
                               interpolation=cv2.INTER_AREA)
            crops.append(c)
            y_true.append(labels.index(lab))
            heights.append(height)
    if not crops:
        print("error: no faces matched", file=sys.stderr)
        return 2
    probs = np.concatenate([clf.predict(crops[i:i + 64]) for i in range(0, len(crops), 64)])
    y_pred = probs.argmax(1)
    y_true = np.array(y_true)
    cm = confusion_matrix(y_true, y_pred, len(labels))
    recall = per_class_recall(cm, labels)
    bal = balanced_accuracy(cm)
    extra = (f", box jitter {args.jitter:g}" if args.jitter else "") + (f", crops <= {args.max_side} px" if args.max_side else "")
    print(f"model: {clf.model_path.name} ({clf.engine}), crop margin {margin:g}, "
          f"violation threshold {clf.violation_threshold:g}, faces >= {args.min_height} px high{extra}")
    print(f"faces: {len(crops)} (skipped {skipped_small} smaller, {skipped_class} of classes the model lacks)")
    print(f"balanced accuracy: {bal:.4f}")
    for i, lab in enumerate(labels):
        if cm[i].sum():
            print(f"  recall {lab:<15} {recall[lab]:.4f}  ({cm[i, i]}/{cm[i].sum()})")
    # the decision that matters: is the face flagged (any violation label), whatever the exact label
    viol_cols = [j for j, lab in enumerate(labels) if clf.is_violation(lab)]
    flagged = {lab: (int(cm[i, viol_cols].sum()), int(cm[i].sum())) for i, lab in enumerate(labels) if cm[i].sum()}
    for lab, (n, tot) in flagged.items():
        print(f"  flagged as violation {lab:<15} {n / tot:.4f}  ({n}/{tot})")
    print("confusion (rows = true, columns = predicted): " + ", ".join(labels))
    for i, lab in enumerate(labels):
        print(f"  {lab:<15} {cm[i].tolist()}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "balanced_accuracy": round(bal, 5), "recall": recall, "confusion": cm.tolist(), "labels": labels,
            "faces": len(crops), "min_height": args.min_height, "crop_margin": margin,
            "flagged_as_violation": {lab: {"count": n, "faces": tot, "share": round(n / tot, 5)}
                                     for lab, (n, tot) in flagged.items()},
            "jitter": args.jitter, "max_side": args.max_side, "violation_threshold": clf.violation_threshold,
        }, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
