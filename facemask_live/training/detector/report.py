"""The run's plots: losses per epoch with the val selection number, and val precision-recall curves per band."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_losses(record: dict, path: Path) -> None:
    epochs = [r["epoch"] for r in record["epochs"]]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for key in ("loss", "box_loss", "class_loss", "landmark_loss", "distill_loss"):
        if key == "distill_loss" and not record["settings"].get("distill_weight"):
            continue  # off (and absent from the records of runs made before the term existed)
        a.plot(epochs, [r[key] for r in record["epochs"]], marker="o", label=key)
    a.set_xlabel("epoch")
    a.set_title("training loss (mean per batch)")
    a.legend()
    b.plot([0, *epochs], [record["val_base"]["recall_at_precision"]] + [r["val"]["recall_at_precision"] for r in record["epochs"]],
           marker="o")
    b.set_xlabel("epoch (0 = base model)")
    b.set_title(f"val: masked+unmasked recall, faces >= 20 px,\nat precision >= {record['settings']['select_precision']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_pr_curves(base: dict, best: dict, best_epoch: int | None, path: Path) -> None:
    bands = ("20-40", ">=40")
    fig, axes = plt.subplots(1, len(bands), figsize=(11, 4.5))
    for ax, band in zip(axes, bands):
        for name, curves, style in (("base", base, "--"), (f"fine-tuned (epoch {best_epoch})", best, "-")):
            if not curves:
                continue
            pts = [(c["recall_mask+no_mask"], c["precision"], c["threshold"]) for c in curves[band] if c["precision"] is not None]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=name)
            at = [p for p in pts if abs(p[2] - 0.7) < 1e-6]
            if at:
                ax.plot(at[0][0], at[0][1], "o", color=ax.lines[-1].get_color())
        ax.set_xlabel("recall, masked + unmasked faces")
        ax.set_ylabel("precision")
        ax.set_title(f"val split, faces {band} px (dot: threshold 0.7)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
