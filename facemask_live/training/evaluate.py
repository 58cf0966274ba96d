"""Score a trained classifier on an image-folder set with the app's own runtime (no TensorFlow).

A folder set may have fewer classes than the model: a 2-class set (with_mask/, without_mask/) scored with
a 3-class model gives the exact-label figures (an ``incorrect_mask`` answer on a ``without_mask`` crop is a
wrong label) and the mask-vs-violation figures (it is a flagged violation, the decision that matters).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facemask_live.core.errors import OutputError

from .data import DataError, scan_folder
from .report import compute_metrics, format_metrics, violation_metrics, write_reports


@dataclass
class FolderPredictions:
    labels: list[str]  # the model's labels (columns of probs)
    true: list[str]  # true label per scored crop
    probs: np.ndarray  # (N, C) probabilities after the model's prior shift
    files: list[Path]
    skipped_unreadable: int
    skipped_classes: list[str]  # folder labels the model does not know

    def predicted(self) -> list[str]:
        return [self.labels[i] for i in np.argmax(self.probs, axis=1)] if len(self.probs) else []


def predict_folder(clf, data_dir: str | Path, batch_size: int = 32, what: str = "--data",
                   min_height: int = 0) -> FolderPredictions:
    """Run ``clf`` (a facemask_live.detection.classify.MaskClassifier) over every readable image of the known classes.

    ``min_height``: only crops of faces at least this many pixels high (a crop is the face box grown by the
    model's ``crop_margin`` on each side, so its height is about ``(1 + 2 * margin)`` times the face's)."""
    import cv2

    files, folders, fmap = scan_folder(data_dir, what)
    labels = list(clf.labels)
    unknown = sorted({fmap[f] for f in folders} - set(labels))
    todo = [(f, fmap[d]) for f, d in zip(files, folders) if fmap[d] in labels]
    true, used, probs, skipped = [], [], [], 0
    min_crop = min_height * (1 + 2 * clf.crop_margin) - 1 if min_height else 0
    for s in range(0, len(todo), batch_size):
        crops = []
        for f, lab in todo[s : s + batch_size]:
            img = cv2.imdecode(np.fromfile(str(f), np.uint8), cv2.IMREAD_COLOR)
            if img is None or img.size == 0:
                skipped += 1
                continue
            if img.shape[0] < min_crop:
                continue
            crops.append(img)
            true.append(lab)
            used.append(f)
        if crops:
            probs.append(clf.predict(crops))
    p = np.concatenate(probs) if probs else np.zeros((0, len(labels)), np.float32)
    return FolderPredictions(labels, true, p, used, skipped, unknown)


def score(pred: FolderPredictions, violation_labels) -> dict:
    """Exact-label metrics plus the mask-vs-violation figures of one set of predictions."""
    idx = {lab: i for i, lab in enumerate(pred.labels)}
    y_true = np.array([idx[t] for t in pred.true], int)
    y_pred = np.argmax(pred.probs, axis=1) if len(pred.probs) else np.zeros(0, int)
    m = compute_metrics(y_true, y_pred, pred.labels)
    m.update(violation_metrics(pred.true, pred.predicted(), violation_labels))
    return m


def evaluate_folder(model: str | Path, data: str | Path, threads: int = 2, batch_size: int = 32,
                    violation_labels=None, json_path: str | None = None, min_height: int = 0,
                    report: str | None = None) -> dict:
    """The ``train_mobilenet.py evaluate`` command: print the figures, optionally write them as JSON."""
    from facemask_live.detection.classify import MaskClassifier

    clf = MaskClassifier(model, threads=threads, violation_labels=violation_labels)
    pred = predict_folder(clf, data, batch_size, min_height=min_height)
    if pred.skipped_classes:
        print(f"note: skipping classes the model does not know: {', '.join(pred.skipped_classes)}", file=sys.stderr)
    if not pred.true:
        raise DataError(f"no readable images of the model's classes ({', '.join(clf.labels)}) in {data}")
    m = score(pred, clf.violation_labels)
    m.update(skipped_unreadable=pred.skipped_unreadable, model=str(model), data=str(data), min_height=min_height)
    print(f"model: {model}\ndata:  {data} ({len(pred.true)} images, {pred.skipped_unreadable} unreadable skipped)")
    print(format_metrics(m))
    if report:  # REPORT is "DIR/prefix": DIR/prefix_classification_report.txt and DIR/prefix_confusion_matrix.png
        idx = {lab: i for i, lab in enumerate(pred.labels)}
        write_reports(Path(report).parent, [idx[t] for t in pred.true], np.argmax(pred.probs, axis=1), pred.labels,
                      None, f"{data}, {len(pred.true)} images" + (f", faces >= {min_height} px" if min_height else ""),
                      prefix=Path(report).name + "_")
    if json_path:
        try:
            Path(json_path).write_text(json.dumps(m, indent=2) + "\n")
        except OSError as e:
            raise OutputError(f"cannot write {json_path}: {e.strerror or e}") from None
    return m
