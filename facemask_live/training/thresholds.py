"""Per-class prior shift ("thresholds") chosen on a validation split, written into the model's metadata.

The classifier multiplies its softmax output by one weight per class and renormalises (see
``MaskClassifier``); a weight above 1 makes that class win more often.  The weights are chosen on a
validation folder (for the shipped model: the scene crops' val split, never the test split whose figures
are reported) to maximise the mean of the exact-label balanced accuracy and the mask-vs-violation
balanced accuracy; among equal scores the weights closest to 1 win.
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .evaluate import FolderPredictions, predict_folder


def _scores(true_idx: np.ndarray, probs: np.ndarray, viol_cols: np.ndarray) -> tuple[float, float]:
    pred = np.argmax(probs, axis=1)
    recalls = [float((pred[true_idx == c] == c).mean()) for c in np.unique(true_idx)]
    t_v, p_v = viol_cols[true_idx], viol_cols[pred]
    v_rec = [float(r) for r in ((~p_v[~t_v]).mean() if (~t_v).any() else None,
                                p_v[t_v].mean() if t_v.any() else None) if r is not None]
    return float(np.mean(recalls)), float(np.mean(v_rec)) if v_rec else 0.0


def choose_prior_weights(pred: FolderPredictions, violation_labels, max_weight: float = 4.0) -> dict:
    """Grid search (log-spaced weights up to ``max_weight``, the first label fixed at 1)."""
    labels = pred.labels
    idx = {lab: i for i, lab in enumerate(labels)}
    true_idx = np.array([idx[t] for t in pred.true], int)
    viol_cols = np.array([lab in set(violation_labels) for lab in labels], bool)
    grid = np.exp(np.linspace(-np.log(max_weight), np.log(max_weight), 13))
    best = None
    for ws in itertools.product(grid, repeat=len(labels) - 1):
        w = np.array((1.0, *ws), np.float32)
        exact, viol = _scores(true_idx, pred.probs * w, viol_cols)
        key = (round((exact + viol) / 2, 6), -float(np.abs(np.log(w)).sum()))
        if best is None or key > best[0]:
            best = (key, w, exact, viol)
    _, w, exact, viol = best
    base_exact, base_viol = _scores(true_idx, pred.probs, viol_cols)
    return {"weights": {lab: round(float(v), 4) for lab, v in zip(labels, w)},
            "val_balanced_accuracy": round(exact, 5), "val_violation_balanced_accuracy": round(viol, 5),
            "val_before": {"balanced_accuracy": round(base_exact, 5), "violation_balanced_accuracy": round(base_viol, 5)}}


def raw_predictions(meta_path: Path, data_dirs, threads: int) -> tuple[FolderPredictions, list[str]]:
    """The model's own softmax (no prior shift, threshold 0.5) on the folders, pooled."""
    from ..classify import MaskClassifier

    meta = json.loads(meta_path.read_text())
    plain = {k: v for k, v in meta.items() if k != "prior_weights"}
    plain["violation_threshold"] = 0.5
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=meta_path.parent, delete=False) as tmp:
        json.dump(plain, tmp)
    try:
        clf = MaskClassifier(tmp.name, threads=threads)
    finally:
        Path(tmp.name).unlink(missing_ok=True)
    preds = [predict_folder(clf, d, what="--data") for d in data_dirs]
    pooled = FolderPredictions(clf.labels, [t for p in preds for t in p.true], np.concatenate([p.probs for p in preds]),
                               [f for p in preds for f in p.files], sum(p.skipped_unreadable for p in preds), [])
    return pooled, sorted(clf.violation_labels)


def tune_model(model: str | Path, data_dirs, threads: int = 2, max_weight: float = 4.0) -> dict:
    meta_path = Path(model)
    if meta_path.suffix.lower() != ".json" or not meta_path.is_file():
        raise ModelError(f"tune needs the model's metadata .json file, got {model}")
    pred, viol = raw_predictions(meta_path, data_dirs, threads)
    if len(set(pred.true)) < 2:
        raise ModelError("tune needs validation images of at least two of the model's classes")
    chosen = choose_prior_weights(pred, viol, max_weight)
    meta = json.loads(meta_path.read_text())
    meta["prior_weights"] = chosen["weights"]
    meta["violation_threshold"] = 0.5  # the prior weights replace the single violation threshold
    meta["prior_weights_chosen_on"] = {"data": [str(d) for d in data_dirs], "images": len(pred.true),
                                       "objective": "mean of exact-label and mask-vs-violation balanced accuracy",
                                       **{k: v for k, v in chosen.items() if k != "weights"}}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"prior weights {chosen['weights']} chosen on {len(pred.true)} validation images: balanced accuracy "
          f"{chosen['val_before']['balanced_accuracy']:.4f} -> {chosen['val_balanced_accuracy']:.4f}, "
          f"mask-vs-violation {chosen['val_before']['violation_balanced_accuracy']:.4f} -> "
          f"{chosen['val_violation_balanced_accuracy']:.4f}; written to {meta_path}", file=sys.stderr)
    return chosen
