"""Per-class prior shift ("thresholds") chosen on a validation split, written into the model's metadata.

The classifier multiplies its softmax output by one weight per class and renormalises (see
``MaskClassifier``); a weight above 1 makes that class win more often.  The weights are chosen on a
validation folder (for the shipped model: the scene crops' val split, never the test split whose figures
are reported) against per-class targets (issue 11's bars): masked faces shown as masked >= 97 %, unmasked
flagged >= 96 %, incorrectly worn flagged >= 80 % and labelled exactly >= 60 %; a label the app does not know
has its exact recall aimed at 90 %.  ``keep`` folders (e.g. masks-2class/val) add one more target: their
mask-vs-violation balanced accuracy >= ``keep_target``.

The objective is the largest worst-case margin (share - target), compared leximin: when the worst margins
tie, the second worst decides, and so on.  A validation split of a few hundred faces moves in steps of one
face, so each share is taken as its smallest value over the weight and its grid neighbours: a choice in the
middle of a flat region wins over one at the edge of a cliff.  Among equal keys the weights closest to 1 win.
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from facemask_live.core.errors import ModelError
from facemask_live.core.metrics import balanced_accuracy, confusion_matrix

from .evaluate import FolderPredictions, predict_folder

# (label, kind, target): kind "ok" = not flagged, "flagged" = any violation label, "exact" = the label itself
TARGETS = (("mask", "ok", 0.97), ("no_mask", "flagged", 0.96), ("incorrect_mask", "flagged", 0.80),
           ("incorrect_mask", "exact", 0.60))
OTHER_TARGET = 0.90
KEEP_TARGET = 0.99
GRID_STEPS = 33  # log-spaced weights from 1/max_weight to max_weight (a step of 9 % at max_weight 4)


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


def violation_ba(true_idx: np.ndarray, pred: np.ndarray, viol_cols: np.ndarray) -> float:
    """Mask-vs-violation balanced accuracy (facemask_live.core.metrics on the 2 x 2 flagged matrix)."""
    return balanced_accuracy(confusion_matrix(viol_cols[true_idx], viol_cols[pred], 2))


def margins(figs: dict, labels: list[str]) -> dict:
    """{target name: share - target} over the targets that apply to the labels present."""
    out = {f"{lab} {kind}": figs[(lab, kind)] - t for lab, kind, t in TARGETS if (lab, kind) in figs}
    known = {lab for lab, _, _ in TARGETS}
    out.update({f"{lab} exact": figs[(lab, "exact")] - OTHER_TARGET for lab in labels
                if lab not in known and (lab, "exact") in figs})
    if ("keep", "ba") in figs:
        out["keep violation BA"] = figs[("keep", "ba")] - KEEP_TARGET
    return out


def margin(figs: dict, labels: list[str]) -> float:
    """The smallest (share - target) over the targets that apply."""
    return min(margins(figs, labels).values(), default=0.0)


class _Scorer:
    """Figures of every weight vector on the grid (cached), for the robust leximin key."""

    def __init__(self, pred: FolderPredictions, keep: FolderPredictions | None, viol_cols: np.ndarray):
        idx = {lab: i for i, lab in enumerate(pred.labels)}
        self.pred, self.keep, self.viol_cols = pred, keep, viol_cols
        self.true_idx = np.array([idx[t] for t in pred.true], int)
        self.keep_idx = None if keep is None else np.array([idx[t] for t in keep.true], int)
        self._cache: dict[tuple, dict] = {}

    def figures(self, w: np.ndarray) -> dict:
        key = tuple(np.round(w, 6))
        if key not in self._cache:
            figs = figures(self.true_idx, np.argmax(self.pred.probs * w, axis=1), self.pred.labels, self.viol_cols)
            if self.keep is not None:
                figs[("keep", "ba")] = violation_ba(self.keep_idx, np.argmax(self.keep.probs * w, axis=1), self.viol_cols)
            self._cache[key] = figs
        return self._cache[key]


def choose_prior_weights(pred: FolderPredictions, violation_labels, max_weight: float = 4.0,
                         tune_labels=None, keep: FolderPredictions | None = None) -> dict:
    """Grid search (log-spaced weights up to ``max_weight``) over the weights of ``tune_labels`` (default: all
    labels but the first); the other labels keep weight 1.  Fewer free weights overfit a small split less."""
    labels = pred.labels
    tune_labels = list(tune_labels or labels[1:])
    unknown = [lab for lab in tune_labels if lab not in labels]
    if unknown:
        raise ModelError(f"tune --labels: {', '.join(unknown)} not among the model's labels ({', '.join(labels)})")
    cols = [labels.index(lab) for lab in tune_labels]
    scorer = _Scorer(pred, keep, np.array([lab in set(violation_labels) for lab in labels], bool))
    grid = np.exp(np.linspace(-np.log(max_weight), np.log(max_weight), GRID_STEPS))

    def weights(steps) -> np.ndarray:
        w = np.ones(len(labels), np.float32)
        w[cols] = grid[list(steps)]
        return w

    def robust(steps) -> dict:
        """Each figure's smallest value over ``steps`` and its neighbours on the grid (one step in each weight)."""
        near = [tuple(min(max(s + d, 0), GRID_STEPS - 1) for s, d in zip(steps, ds))
                for ds in itertools.product((-1, 0, 1), repeat=len(steps))]
        all_figs = [scorer.figures(weights(n)) for n in near]
        return {k: min(f[k] for f in all_figs) for k in all_figs[0]}

    best = None
    for steps in itertools.product(range(GRID_STEPS), repeat=len(cols)):
        w = weights(steps)
        key = (tuple(sorted(round(v, 6) for v in margins(robust(steps), labels).values())),
               -round(float(np.abs(np.log(w)).sum()), 6))
        if best is None or key > best[0]:
            best = (key, w)
    _, w = best
    figs, before = scorer.figures(w), scorer.figures(np.ones(len(labels), np.float32))

    def show(f: dict) -> dict:
        out = {f"{lab} {kind}": round(v, 4) for (lab, kind), v in sorted(f.items())
               if lab != "keep" and (kind != "ok" or lab == "mask")}
        if ("keep", "ba") in f:
            out["keep violation BA"] = round(f[("keep", "ba")], 4)
        return out

    return {"weights": {lab: round(float(v), 4) for lab, v in zip(labels, w)},
            "val_figures": show(figs), "val_figures_before": show(before),
            "val_margin": round(margin(figs, labels), 4), "val_margin_before": round(margin(before, labels), 4),
            "val_margins": {k: round(v, 4) for k, v in margins(figs, labels).items()}}


def raw_predictions(meta_path: Path, data_dirs, threads: int, min_height: int = 0) -> tuple[FolderPredictions, list[str]]:
    """The model's own softmax (no prior shift, threshold 0.5) on the folders, pooled."""
    from facemask_live.detection.classify import MaskClassifier

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
               tune_labels=None, keep_dirs=()) -> dict:
    """The ``train_mobilenet.py tune`` command: choose the weights on ``data_dirs`` (faces >= ``min_height``),
    ``keep_dirs`` (every crop) held to their mask-vs-violation balanced accuracy, and write them into the metadata."""
    meta_path = Path(model)
    if meta_path.suffix.lower() != ".json" or not meta_path.is_file():
        raise ModelError(f"tune needs the model's metadata .json file, got {model}")
    pred, viol = raw_predictions(meta_path, data_dirs, threads, min_height)
    if len(set(pred.true)) < 2:
        raise ModelError("tune needs validation images of at least two of the model's classes")
    keep = raw_predictions(meta_path, keep_dirs, threads)[0] if keep_dirs else None
    chosen = choose_prior_weights(pred, viol, max_weight, tune_labels, keep)
    meta = json.loads(meta_path.read_text())
    meta["prior_weights"] = chosen["weights"]
    meta["violation_threshold"] = 0.5  # the prior weights replace the single violation threshold
    meta["prior_weights_chosen_on"] = {"data": [str(d) for d in data_dirs], "images": len(pred.true),
                                       "min_height": min_height, "labels_tuned": list(tune_labels or pred.labels[1:]),
                                       "keep": {"data": [str(d) for d in keep_dirs], "images": len(keep.true),
                                                "violation_ba_target": KEEP_TARGET} if keep else None,
                                       "objective": "largest worst-case margin over the per-class targets (leximin), "
                                                    "each share its smallest over the weight and its grid neighbours",
                                       "targets": [list(t) for t in TARGETS],
                                       **{k: v for k, v in chosen.items() if k != "weights"}}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"prior weights {chosen['weights']} chosen on {len(pred.true)} validation images"
          + (f" (+ {len(keep.true)} kept at violation BA >= {KEEP_TARGET})" if keep else "")
          + f"; smallest margin to the targets {chosen['val_margin_before']:+.4f} -> {chosen['val_margin']:+.4f}", file=sys.stderr)
    for k, v in chosen["val_figures"].items():
        print(f"  {k:<24} {chosen['val_figures_before'][k]:.4f} -> {v:.4f}", file=sys.stderr)
    print(f"written to {meta_path}", file=sys.stderr)
    return chosen
