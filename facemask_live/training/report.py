"""Metrics and report files of a classifier: confusion matrix, per-class precision/recall, mask-vs-violation
balanced accuracy, training curves (numpy, scikit-learn, matplotlib; no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facemask_live.core.metrics import balanced_accuracy, confusion_matrix


def compute_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    """Confusion matrix, per-class precision/recall/support, balanced accuracy (facemask_live.core.metrics) and accuracy."""
    cm = confusion_matrix(y_true, y_pred, len(labels))
    per_class = {}
    for i, lab in enumerate(labels):
        support = int(cm[i].sum())
        tp = int(cm[i, i])
        predicted = int(cm[:, i].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        per_class[lab] = {"precision": round(precision, 5), "recall": round(recall, 5), "support": support}
    bal = balanced_accuracy(cm)
    acc = float(np.trace(cm) / cm.sum()) if cm.sum() else 0.0
    return {
        "balanced_accuracy": round(bal, 5),
        "accuracy": round(acc, 5),
        "per_class": per_class,
        "confusion": cm.tolist(),
        "labels": list(labels),
    }


def violation_metrics(true_labels, pred_labels, violation_labels) -> dict:
    """Mask-vs-violation figures: a face is 'ok' or 'violation' by whether its label is a violation label.

    An ``incorrect_mask`` prediction on a ``no_mask`` face is the wrong label but the right decision (the
    person is flagged), so it counts as correct here."""
    viol = frozenset(violation_labels)
    t = np.array([lab in viol for lab in true_labels], bool)
    p = np.array([lab in viol for lab in pred_labels], bool)
    ok_recall = float((~p[~t]).mean()) if (~t).any() else None
    viol_recall = float(p[t].mean()) if t.any() else None
    recalls = [r for r in (ok_recall, viol_recall) if r is not None]
    return {
        "violation_balanced_accuracy": round(float(np.mean(recalls)), 5) if recalls else None,
        "masked_shown_masked": None if ok_recall is None else round(ok_recall, 5),
        "violations_flagged": None if viol_recall is None else round(viol_recall, 5),
        "violation_labels": sorted(viol),
        "faces": {"ok": int((~t).sum()), "violation": int(t.sum())},
    }


def format_metrics(m: dict) -> str:
    labels = m["labels"]
    w = max(12, max(len(x) for x in labels) + 2)
    lines = [f"{'label':<{w}}{'precision':>10}{'recall':>10}{'support':>10}"]
    for lab in labels:
        pc = m["per_class"][lab]
        lines.append(f"{lab:<{w}}{pc['precision']:>10.4f}{pc['recall']:>10.4f}{pc['support']:>10d}")
    lines.append(f"balanced accuracy: {m['balanced_accuracy']:.4f}   accuracy: {m['accuracy']:.4f}")
    if m.get("violation_balanced_accuracy") is not None:
        lines.append(f"mask-vs-violation balanced accuracy: {m['violation_balanced_accuracy']:.4f} "
                     f"(violation labels: {', '.join(m['violation_labels'])})")
    lines.append("confusion matrix (rows = true, columns = predicted):")
    lines.append(" " * w + "".join(f"{lab[:10]:>12}" for lab in labels))
    for lab, row in zip(labels, m["confusion"]):
        lines.append(f"{lab:<{w}}" + "".join(f"{v:>12d}" for v in row))
    return "\n".join(lines)


def write_reports(report_dir: Path, y_true, y_pred, labels, history: dict | None, title: str, prefix: str = "") -> None:
    """``<prefix>classification_report.txt``, ``<prefix>confusion_matrix.png`` and (with a history) the curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import classification_report

    report_dir.mkdir(parents=True, exist_ok=True)
    text = classification_report(
        y_true, y_pred, labels=list(range(len(labels))), target_names=labels, digits=4, zero_division=0
    )
    m = compute_metrics(np.asarray(y_true), np.asarray(y_pred), labels)
    (report_dir / f"{prefix}classification_report.txt").write_text(
        f"{title}\n\n{text}\nbalanced accuracy: {m['balanced_accuracy']:.4f}\n\n{format_metrics(m)}\n"
    )
    cm = np.asarray(m["confusion"])
    fig, ax = plt.subplots(figsize=(1.6 * len(labels) + 2.5, 1.4 * len(labels) + 2))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_title(f"confusion ({title})", fontsize=9)
    fig.tight_layout()
    fig.savefig(report_dir / f"{prefix}confusion_matrix.png", dpi=110)
    plt.close(fig)
    if history and history.get("loss"):
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        ep = np.arange(1, len(history["loss"]) + 1)
        for ax, key in zip(axes, ("loss", "accuracy")):
            ax.plot(ep, history[key], label=f"train {key}")
            if history.get("val_" + key):
                ax.plot(ep, history["val_" + key], label=f"val {key}")
            ax.set_xlabel("epoch")
            ax.set_title(key)
            if history.get("stage1_epochs"):
                ax.axvline(history["stage1_epochs"] + 0.5, color="gray", ls="--", lw=1)
            ax.legend()
        fig.suptitle("training curves (dashed line: start of fine-tuning)", fontsize=9)
        fig.tight_layout()
        fig.savefig(report_dir / "training_curves.png", dpi=110)
        plt.close(fig)


# --------------------------------------------------------------------------------------------
# evaluate (app runtime only)
# --------------------------------------------------------------------------------------------

