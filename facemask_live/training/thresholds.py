"""Per-class prior shift ("thresholds") chosen on a validation split, written into the model's metadata.

The classifier multiplies its softmax output by one weight per class and renormalises (see
``MaskClassifier``); a weight above 1 makes that class win more often.  The weights are chosen on a
validation folder (for the shipped model: the scene crops' val split, never the test split whose figures
are reported) to maximise the smallest margin over per-class targets (issue 11's bars): masked faces shown
as masked >= 97 %, unmasked flagged >= 96 %, incorrectly worn flagged >= 80 % and labelled exactly >= 60 %;
a label the app does not know has its exact recall aimed at 90 %.  Among equal margins the weights closest
to 1 win.
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

# (label, kind, target): kind "ok" = not flagged, "flagged" = any violation label, "exact" = the label itself
TARGETS = (("mask", "ok", 0.97), ("no_mask", "flagged", 0.96), ("incorrect_mask", "flagged", 0.80),
           ("incorrect_mask", "exact", 0.60))
OTHER_TARGET = 0.90


def figures(true_idx: np.ndarray, pred: np.ndarray, labels: list[str], viol_cols: np.ndarray) -> dict:
    """{(label, kind): share} for every label present in ``true_idx``."""
    out = {}
    flagged = viol_cols[pred]
    for c, lab in enumerate(labels):
        rows = true_idx == c
        if not rows.any():
            continue
        out[(lab, "exact")] = float((pred[rows] == c).mean())
        out[(lab, "flagged")] = float(flagged[rows].mean())
        out[(lab, "ok")] = 1.0 - out[(lab, "flagged")]
    return out


def margin(figs: dict, labels: list[str]) -> float:
    """The smallest (share - target) over the targets that apply to the labels present."""
    terms = [figs[(lab, kind)] - t for lab, kind, t in TARGETS if (lab, kind) in figs]
    known = {lab for lab, _, _ in TARGETS}
    terms += [figs[(lab, "exact")] - OTHER_TARGET for lab in labels if lab not in known and (lab, "exact") in figs]
    return min(terms) if terms else 0.0


def choose_prior_weights(pred: FolderPredictions, violation_labels, max_weight: float = 4.0,
                         tune_labels=None) -> dict:
    """Grid search (log-spaced weights up to ``max_weight``) over the weights of ``tune_labels`` (default: all
    labels but the first); the other labels keep weight 1.  Fewer free weights overfit a small split less."""
    labels = pred.labels
    tune_labels = list(tune_labels or labels[1:])
    unknown = [lab for lab in tune_labels if lab not in labels]
    if unknown:
        raise ModelError(f"tune --labels: {', '.join(unknown)} not among the model's labels ({', '.join(labels)})")
    cols = [labels.index(lab) for lab in tune_labels]
    idx = {lab: i for i, lab in enumerate(labels)}
    true_idx = np.array([idx[t] for t in pred.true], int)
    viol_cols = np.array([lab in set(violation_labels) for lab in labels], bool)
    grid = np.exp(np.linspace(-np.log(max_weight), np.log(max_weight), 17))
    best = None
    for ws in itertools.product(grid, repeat=len(cols)):
        w = np.ones(len(labels), np.float32)
        w[cols] = ws
        figs = figures(true_idx, np.argmax(pred.probs * w, axis=1), labels, viol_cols)
        key = (round(margin(figs, labels), 6), -float(np.abs(np.log(w)).sum()))
        if best is None or key > best[0]:
            best = (key, w, figs)
    _, w, figs = best
    before = figures(true_idx, np.argmax(pred.probs, axis=1), labels, viol_cols)

    def show(f: dict) -> dict:
        return {f"{lab} {kind}": round(v, 4) for (lab, kind), v in sorted(f.items()) if kind != "ok" or lab == "mask"}

    return {"weights": {lab: round(float(v), 4) for lab, v in zip(labels, w)},
            "val_figures": show(figs), "val_figures_before": show(before),
            "val_margin": round(margin(figs, labels), 4), "val_margin_before": round(margin(before, labels), 4)}


def raw_predictions(meta_path: Path, data_dirs, threads: int, min_height: int = 0) -> tuple[FolderPredictions, list[str]]:
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
    preds = [predict_folder(clf, d, what="--data", min_height=min_height) for d in data_dirs]
    pooled = FolderPredictions(clf.labels, [t for p in preds for t in p.true], np.concatenate([p.probs for p in preds]),
                               [f for p in preds for f in p.files], sum(p.skipped_unreadable for p in preds), [])
    return pooled, sorted(clf.violation_labels)


def tune_model(model: str | Path, data_dirs, threads: int = 2, max_weight: float = 4.0, min_height: int = 0,
               tune_labels=None) -> dict:
    meta_path = Path(model)
    if meta_path.suffix.lower() != ".json" or not meta_path.is_file():
        raise ModelError(f"tune needs the model's metadata .json file, got {model}")
    pred, viol = raw_predictions(meta_path, data_dirs, threads, min_height)
    if len(set(pred.true)) < 2:
        raise ModelError("tune needs validation images of at least two of the model's classes")
    chosen = choose_prior_weights(pred, viol, max_weight, tune_labels)
    meta = json.loads(meta_path.read_text())
    meta["prior_weights"] = chosen["weights"]
    meta["violation_threshold"] = 0.5  # the prior weights replace the single violation threshold
    meta["prior_weights_chosen_on"] = {"data": [str(d) for d in data_dirs], "images": len(pred.true),
                                       "min_height": min_height, "labels_tuned": tune_labels or "all but the first",
                                       "objective": "largest smallest margin over the per-class targets",
                                       "targets": [list(t) for t in TARGETS],
                                       **{k: v for k, v in chosen.items() if k != "weights"}}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"prior weights {chosen['weights']} chosen on {len(pred.true)} validation images; smallest margin to the "
          f"targets {chosen['val_margin_before']:+.4f} -> {chosen['val_margin']:+.4f}", file=sys.stderr)
    for k, v in chosen["val_figures"].items():
        print(f"  {k:<24} {chosen['val_figures_before'][k]:.4f} -> {v:.4f}", file=sys.stderr)
    print(f"written to {meta_path}", file=sys.stderr)
    return chosen
