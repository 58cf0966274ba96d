"""Classification figures shared by evaluation, the scene-crop check and training reports."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def confusion_matrix(y_true: Iterable[int], y_pred: Iterable[int], classes: int) -> np.ndarray:
    """``classes`` x ``classes`` counts: rows are the true class, columns the predicted one."""
    cm = np.zeros((classes, classes), int)
    for t, p in zip(y_true, y_pred):
        cm[int(t), int(p)] += 1
    return cm


def per_class_recall(cm: np.ndarray, labels: Sequence[str]) -> dict[str, float | None]:
    """Recall of every class (None for a class with no true samples)."""
    return {lab: (float(cm[i, i] / cm[i].sum()) if cm[i].sum() else None) for i, lab in enumerate(labels)}


def balanced_accuracy(cm: np.ndarray) -> float:
    """Mean recall over the classes that have true samples (0.0 when none has)."""
    recalls = [cm[i, i] / cm[i].sum() for i in range(len(cm)) if cm[i].sum()]
    return float(np.mean(recalls)) if recalls else 0.0
