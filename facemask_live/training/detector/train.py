"""One fine-tuning run of the RetinaFace detector (``train_detector.py``).

Data: the photos of the ``train`` split of ``scene_splits.json`` (ignore regions from the base detector),
as augmented square tiles; the ``val`` split chooses the epoch: the best masked+unmasked recall of faces
>= 20 px at a fixed precision (``select_precision``), run exactly as the app runs (input 700, NMS, the app's
min face). The ``test`` split is never read here. The base model is scored the same way first (epoch 0).
``ship_epoch`` ships a fixed epoch instead (chosen on val by an earlier run: nothing is chosen, val is scored for
the log only), and ``refit`` adds the val photos to the train photos for such a run.
Writes OUT/retinaface_mnet025.onnx (the best epoch so far, rewritten when an epoch beats it; or the ship epoch),
OUT/checkpoints/, OUT/train.log and OUT/report/ (training.json, loss curves, val precision-recall curves per band).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from facemask_live.core.errors import OutputError
from facemask_live.detection.detect import DEFAULT_MIN_FACE, RETINAFACE_ONNX

from ..data import DataError
from .anchors import MatchSettings
from .scenes import IgnoreSettings, file_sha1, find_ignore_regions, load_split, read_splits
from .tiles import TileSettings
from .valscore import curves, detect_scenes, match_split, summary


@dataclass(frozen=True)
class DetectorTrainSettings:
    scenes: tuple[str, ...]
    splits: str
    base: str
    out: str
    epochs: int = 8
    batch_size: int = 8
    lr: float = 1e-3  # relative to each weight tensor's RMS (optim.RelativeAdam)
    box_weight: float = 2.0  # RetinaFace's own loc_weight
    landmark_weight: float = 1.0  # keep the landmarks close to the base model's (0: no teacher pass)
    distill_weight: float = 0.0  # keep the non-face anchors' scores close to the base model's (0: off)
    neg_ratio: float = 3.0
    ema: float = 0.0  # decay of the weights' moving average (0: off); val, checkpoints and export use the average
    ignore_detectors: tuple[str, ...] = ()  # models that find unannotated faces to ignore (empty: the base model)
    select_precision: float = 0.9
    ship_epoch: int = 0  # > 0: stop after this epoch of the schedule and ship it (no choice on val)
    refit: bool = False  # train on the train + val photos (needs ship_epoch: val cannot choose then)
    confidence: float = 0.7  # the app's default: val figures are also given at this threshold
    val_confidence: float = 0.1  # lowest threshold of the val curves
    tiles: TileSettings = field(default_factory=TileSettings)
    matching: MatchSettings = field(default_factory=MatchSettings)
    export: str = "graph"  # graph: weights written into the base file's graph; tf2onnx: a new graph from Keras
    threads: int = 2
    seed: int = 1337
    limit_train: int = 0  # tests: only the first N train photos (0: all)
    limit_val: int = 0
    progress: bool = True


def check_settings(st: DetectorTrainSettings) -> None:
    """DataError for inputs no run can use, before anything slow starts."""
    for folder in st.scenes:
        if not Path(folder).is_dir():
            raise DataError(f"scenes folder not found: {folder}")
    if not Path(st.base).is_file():
        raise DataError(f"base model not found: {st.base} (the shipped facemask_live/models/{RETINAFACE_ONNX})")
    for d in st.ignore_detectors:
        if not Path(d).is_file():
            raise DataError(f"--ignore-detectors: model not found: {d}")
    if not Path(st.splits).is_file():
        raise DataError(f"splits file not found: {st.splits}")
    for name, value in (("epochs", st.epochs), ("batch size", st.batch_size), ("threads", st.threads)):
        if value < 1:
            raise DataError(f"{name} must be >= 1, got {value}")
    if not 0 < st.select_precision < 1 or not 0 < st.confidence <= 1 or st.lr <= 0 or st.tiles.size < 64:
        raise DataError("--select-precision and --confidence must be in (0, 1), --lr > 0, --tile >= 64")
    if not 0 <= st.tiles.mosaic <= 1:
        raise DataError(f"--mosaic must be in [0, 1], got {st.tiles.mosaic}")
    if not 1 <= st.tiles.mosaic_upscale[0] <= st.tiles.mosaic_upscale[1]:
        raise DataError(f"--mosaic-upscale needs 1 <= LO <= HI, got {st.tiles.mosaic_upscale}")
    if not 0 <= st.ship_epoch <= st.epochs:
        raise DataError(f"--ship-epoch must be in 1..--epochs ({st.epochs}), got {st.ship_epoch}")
    if st.refit and not st.ship_epoch:
        raise DataError("--refit trains on the val photos, so val cannot choose the epoch: give --ship-epoch N")
    if st.distill_weight < 0 or st.landmark_weight < 0:
        raise DataError("--distill and --landmark-weight must be >= 0")
    if not 0 <= st.ema < 1:
        raise DataError(f"--ema must be in [0, 1), got {st.ema}")
    out = Path(st.out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file, not a folder")


def setup_log(out: Path) -> logging.Logger:
    log = logging.getLogger("train_detector")
    log.setLevel(logging.INFO)
    log.handlers.clear()
    for h in (logging.FileHandler(out / "train.log"), logging.StreamHandler(sys.stderr)):
        h.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        log.addHandler(h)
    return log


def load_data(st: DetectorTrainSettings, log: logging.Logger):
    """(train scenes with ignore regions, val scenes, data counts)."""
    sources = read_splits(st.splits)
    train = load_split(list(st.scenes), sources["train"])
    val = load_split(list(st.scenes), sources["val"])
    if st.limit_train:
        train = train[: st.limit_train]
    if st.limit_val:
        val = val[: st.limit_val]
    if st.refit:  # the val photos join the train photos (their ignore regions are found like the others)
        train = train + val
    ign = IgnoreSettings(st.ignore_detectors or (st.base,), str(Path(st.out) / "cache" / "ignore_regions.json"),
                         threads=st.threads)
    n_ignore = find_ignore_regions(train, ign, st.progress)
    counts = {
        "train_photos": len(train), "val_photos": len(val), "test_photos": len(sources["test"]),
        "train_faces": int(sum(len(s.faces) for s in train)), "val_faces": int(sum(len(s.faces) for s in val)),
        "train_ignore_regions": int(n_ignore),
        "train_faces_per_label": {lab: sum(s.labels.count(lab) for s in train)
                                  for lab in ("with_mask", "without_mask", "mask_weared_incorrect")},
    }
    log.info("data: %s", json.dumps(counts))
    return train, val, counts


def validate(detector, val, st: DetectorTrainSettings) -> tuple[dict, dict]:
    """(summary, curves) of ``detector`` on the val scenes."""
    m = match_split(*detect_scenes(detector, val, st.progress))
    return summary(m, st.select_precision, st.confidence), curves(m)


def save_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=float))
    os.replace(tmp, path)


def run_record(st: DetectorTrainSettings, argv: list[str], counts: dict) -> dict:
    return {
        "command": "python train_detector.py " + shlex.join(argv),
        "settings": {**asdict(st), "scenes": [str(Path(s).resolve()) for s in st.scenes]},
        "base": {"path": str(Path(st.base).resolve()), "sha1": file_sha1(st.base)},
        "data": counts, "epochs": [], "best_epoch": None, "seed": st.seed,
        "selection": selection_text(st),
    }


def selection_text(st: DetectorTrainSettings) -> str:
    """How this run's shipped epoch is chosen, in words, for training.json."""
    if not st.ship_epoch:
        return (f"val split: masked+unmasked recall of faces >= 20 px at precision >= {st.select_precision} "
                f"(app settings: input 700, NMS 0.4, min face {DEFAULT_MIN_FACE} px, IoU >= 0.4); the test split is not used")
    if st.refit:
        return (f"refit on train + val: epoch {st.ship_epoch} of {st.epochs} is shipped, as chosen on val by an earlier run; "
                "val is trained on, so its figures here are not a measure; the test split is not used")
    return f"epoch {st.ship_epoch} of {st.epochs} is shipped, as chosen on val by an earlier run; the test split is not used"


def train(st: DetectorTrainSettings, argv: list[str]) -> int:
    """The whole run; returns the exit code."""
    check_settings(st)
    out = Path(st.out)
    (out / "report").mkdir(parents=True, exist_ok=True)
    (out / "checkpoints").mkdir(exist_ok=True)
    log = setup_log(out)
    train_scenes, val_scenes, counts = load_data(st, log)
    if len(train_scenes) < st.batch_size:
        raise DataError(f"{len(train_scenes)} train photos are fewer than one batch ({st.batch_size})")
    from .fit import Fit

    record = run_record(st, argv, counts)
    fit = Fit(st, train_scenes, log)
    base_summary, base_curves = validate(fit.base_detector(), val_scenes, st)
    record["val_base"] = base_summary
    log.info("val base: recall %.3f at precision >= %.2f (threshold %s)", base_summary["recall_at_precision"],
             st.select_precision, base_summary["threshold_at_precision"])
    best, best_curves = None, None
    for epoch in range(1, (st.ship_epoch or st.epochs) + 1):  # the schedule stays that of --epochs
        t0 = time.time()
        losses = fit.epoch(epoch)
        train_s = time.time() - t0
        with fit.opt.averaged():  # what would ship: the averaged weights when --ema is on
            val_summary, val_curves = validate(fit.detector(), val_scenes, st)
            row = {"epoch": epoch, **losses, "train_seconds": train_s, "val_seconds": time.time() - t0 - train_s,
                   "val": val_summary}
            record["epochs"].append(row)
            fit.save("last")
            chosen = epoch == st.ship_epoch if st.ship_epoch else (
                best is None or val_summary["recall_at_precision"] > best["val"]["recall_at_precision"])
            if chosen:
                best, best_curves = row, val_curves
                fit.save("best")
                fit.export(out / RETINAFACE_ONNX, val_scenes[0].image)
                record["best_epoch"] = epoch
        log.info("epoch %d: loss %.4f (box %.4f, class %.4f, landmarks %.4f, distill %.4f), %.0f s; val%s recall %.3f at "
                 "precision >= %.2f, %s", epoch, losses["loss"], losses["box_loss"], losses["class_loss"], losses["landmark_loss"],
                 losses["distill_loss"], train_s,
                 " (trained on)" if st.refit else "", val_summary["recall_at_precision"], st.select_precision,
                 f"ships epoch {st.ship_epoch}" if st.ship_epoch else f"best epoch {record['best_epoch']}")
        if best is not None:
            record["beats_base"] = best["val"]["recall_at_precision"] > base_summary["recall_at_precision"]
            finish_report(out, record, base_curves, best_curves)
        else:  # --ship-epoch before its epoch: keep the epochs so far (no shipped epoch to plot yet)
            save_json(out / "report" / "training.json", record)
    if st.ship_epoch:
        log.info("done: %s (%sepoch %d of %d)", out / RETINAFACE_ONNX, "refit on train + val, " if st.refit else "",
                 st.ship_epoch, st.epochs)
    else:
        log.info("done: %s (best epoch %d, %s the base on val)", out / RETINAFACE_ONNX, record["best_epoch"],
                 "beats" if record["beats_base"] else "does NOT beat")
    return 0


def finish_report(out: Path, record: dict, base_curves: dict, best_curves: dict) -> None:
    """training.json, the val curves and the plots (rewritten after every epoch: a killed run keeps its log)."""
    from .report import plot_losses, plot_pr_curves

    record["val_curves"] = {"base": base_curves, "best": best_curves}
    save_json(out / "report" / "training.json", record)
    plot_losses(record, out / "report" / "loss_curves.png")
    plot_pr_curves(base_curves, best_curves, record["best_epoch"], out / "report" / "val_pr_curves.png")

