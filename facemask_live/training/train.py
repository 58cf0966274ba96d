"""One training run: gather the data (folders + scene crops), de-duplicate and split, fit, export.

Long because the training loop, its callbacks and its command line share one state.

``TrainSettings`` holds every option (built by ``train_mobilenet.py`` from its command line); TensorFlow is
imported only once the data is ready, so bad input fails fast."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facemask_live.core.errors import ModelError, OutputError

from .data import (
    DEFAULT_CROP_MARGIN,
    DataError,
    duplicate_groups,
    load_images,
    near_duplicate_pairs,
    scan_folder,
    split_groups,
)
from .export import DEFAULT_NAME, ExportJob, export_all
from .model import Checkpoint, StageSettings, TwoStageFit, build_model
from .scenes import SceneCropSettings, prepare_scene_crops

LABEL_ORDER = ("mask", "no_mask", "incorrect_mask")  # the app's known labels first, in this order


@dataclass(frozen=True)
class TrainSettings:
    data: str
    out: str = "models"
    val: str | None = None
    name: str = DEFAULT_NAME
    scenes: tuple[str, ...] = ()
    scene_split: tuple[float, float, float] = (0.7, 0.15, 0.15)
    scene_crops: str | None = None  # default: <out>/.scene_crops
    scene_min_face: int = 16
    oversample: float = 0.15
    scene_repeat: int = 1  # scene train crops (the target domain: real photos) are seen this many times per epoch
    extra_train: tuple[str, ...] = ()  # more train-only folders, repeated like the scene crops (e.g. detector crops)
    class_weight: str = "balanced"  # balanced | none
    stages: StageSettings = field(default_factory=StageSettings)
    batch_size: int = 64
    input_size: int = 128
    dropout: float = 0.3
    val_split: float = 0.15
    dup_threshold: int = 24
    base_weights: str = "imagenet"  # 'imagenet', 'none' or an .h5 file
    crop_margin: float = DEFAULT_CROP_MARGIN
    engine: str = "auto"
    keep_both: bool = False
    keras_file: bool = True
    bench_repeats: int = 40
    seed: int = 1337

    def __post_init__(self) -> None:
        if self.input_size < 32:
            raise ValueError(f"--input-size must be at least 32, got {self.input_size}")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be at least 1, got {self.batch_size}")
        if not 0 <= self.oversample <= 1:
            raise ValueError(f"--oversample must be between 0 and 1, got {self.oversample}")
        if self.scene_repeat < 1:
            raise ValueError(f"--scene-repeat must be at least 1, got {self.scene_repeat}")
        if self.class_weight not in ("balanced", "none"):
            raise ValueError(f"--class-weight must be balanced or none, got {self.class_weight!r}")
        if not 0 <= self.stages.label_smoothing < 1:
            raise ValueError(f"--label-smoothing must be in [0, 1), got {self.stages.label_smoothing}")
        if not 0 < self.val_split < 1:
            raise ValueError(f"--val-split must be between 0 and 1, got {self.val_split}")

    @property
    def out_dir(self) -> Path:
        return Path(self.out)

    def weights(self):
        """The ``weights`` argument of keras.applications.MobileNetV2."""
        bw = self.base_weights or "imagenet"
        return {"imagenet": "imagenet", "none": None}.get(bw.lower(), bw)


@dataclass
class FileSet:
    """Every image of a run with its label and role (0 train, 1 validation, 2 held-out scene test, 3 train only:
    --extra-train, never drawn into a validation split)."""

    files: list[Path]
    labels: list[str]  # the model's labels, in output order
    y: np.ndarray
    role: np.ndarray
    scene: np.ndarray  # True: a crop cut from the --scenes photos
    folders: dict[str, str]  # folder name -> label
    scene_manifest: dict | None = None


@dataclass
class PreparedData:
    images: np.ndarray  # (N, S, S, 3) uint8 RGB of the readable files
    files: list[Path]
    y: np.ndarray
    tr_idx: np.ndarray  # training indices (with the oversampling repeats)
    va_idx: np.ndarray
    info: dict  # counts, duplicates, oversampling - for the metadata


def check_output_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write_test"
        probe.write_text("x")
        probe.unlink()
    except OSError as e:
        raise OutputError(f"output folder not writable: {out} ({e.strerror or e})") from None


def ordered_labels(names) -> list[str]:
    """Distinct labels, the app's known ones first in their usual order, then the others sorted."""
    uniq = set(names)
    return [lab for lab in LABEL_ORDER if lab in uniq] + sorted(uniq - set(LABEL_ORDER))


def oversample(idx: np.ndarray, y: np.ndarray, n_classes: int, min_fraction: float):
    """Repeat the images of small classes (whole copies) until each has >= min_fraction of the largest
    class (augmentation makes the copies differ).  Returns (indices, {class: repeat factor > 1})."""
    counts = np.bincount(y[idx], minlength=n_classes)
    target = min_fraction * counts.max()
    parts, repeats = [idx], {}
    for c in range(n_classes):
        if 0 < counts[c] < target:
            r = int(np.ceil(target / counts[c]))
            parts += [idx[y[idx] == c]] * (r - 1)
            repeats[c] = r
    return np.concatenate(parts), repeats


def scene_settings(s: TrainSettings) -> SceneCropSettings:
    out = s.scene_crops or str(s.out_dir / ".scene_crops")
    try:
        return SceneCropSettings(tuple(s.scenes), out, margin=s.crop_margin, fractions=tuple(s.scene_split),
                                 min_face=s.scene_min_face, dup_threshold=s.dup_threshold, seed=s.seed)
    except ValueError as e:
        raise DataError(str(e)) from None


def gather_files(s: TrainSettings) -> FileSet:
    """--data (train), --val, and the scene crops' train/val/test folders."""
    # role -> [(scan_folder result, is a scene crop folder)]
    parts: dict[int, list] = {0: [(scan_folder(s.data, "--data"), False)], 1: [], 2: []}
    manifest = None
    if s.scenes:
        sc = scene_settings(s)
        manifest = prepare_scene_crops(sc)
        for role, split in enumerate(("train", "val", "test")):
            parts[role].append((scan_folder(Path(sc.out) / split, f"scene crops ({split})"), True))
    if s.val:
        parts[1].append((scan_folder(s.val, "--val"), False))
    extra_train = [(scan_folder(d, "--extra-train"), True) for d in s.extra_train]
    folders: dict[str, str] = {}
    for scans in [*parts.values(), extra_train]:
        for (_, _, fmap), _ in scans:
            folders.update(fmap)
    labels = ordered_labels(folders[f] for (_, fs, _), _ in parts[0] for f in set(fs))
    if len(labels) < 2:
        raise DataError(f"--data {s.data} needs at least two different classes (got {labels})")
    for what, scans in (("--val", parts[1] + parts[2]), ("--extra-train", extra_train)):
        extra = sorted({folders[f] for (_, fs, _), _ in scans for f in fs} - set(labels))
        if extra:
            raise DataError(f"{what} has classes not in --data: {', '.join(extra)}")
    # role 3, shown like the scene train crops (--scene-repeat): they are crops of real scene photos too
    parts[3] = extra_train
    files, y, role, scene = [], [], [], []
    for r, scans in parts.items():
        for (fl, fs, _), is_scene in scans:
            files += fl
            y += [labels.index(folders[f]) for f in fs]
            role += [r] * len(fl)
            scene += [is_scene] * len(fl)
    return FileSet(files, labels, np.array(y, int), np.array(role, int), np.array(scene, bool), folders, manifest)


def drop_cross_duplicates(hashes, groups, role, threshold: int) -> tuple[np.ndarray, dict]:
    """Training images that are copies of a validation/test image are not trained on.  Returns (use mask, info)."""
    held = (role == 1) | (role == 2)
    cross = (~held) & np.isin(groups, list(set(groups[held].tolist())))
    hit = held & np.isin(groups, list(set(groups[cross].tolist())))
    # plus every train image directly within the threshold of a held-out image (other group leader)
    for i, j in near_duplicate_pairs(hashes, threshold, rows=np.flatnonzero(held), cols=np.flatnonzero(~held),
                                     desc="train/val duplicates"):
        cross[j] = True
        hit[i] = True
    print(f"train/val cross-duplicates: {int(hit.sum())} val/test image(s) have copies in train, dropping "
          f"{int(cross.sum())} train image(s)", file=sys.stderr)
    return ~cross & ~held, {"val_images_with_train_copies": int(hit.sum()), "train_images_dropped": int(cross.sum())}


def prepare(s: TrainSettings, fs: FileSet) -> PreparedData:
    """Read and hash every image, group duplicates, split, oversample."""
    ok, images, md5s, hashes = load_images(fs.files, s.input_size, desc="reading images")
    skipped = int((~ok).sum())
    if skipped:
        print(f"skipped {skipped} unreadable image(s)", file=sys.stderr)
    keep = np.flatnonzero(ok)
    images, y, role, hashes, scene = images[keep], fs.y[keep], fs.role[keep], hashes[keep], fs.scene[keep]
    files = [fs.files[i] for i in keep]
    groups = duplicate_groups([md5s[i] for i in keep], hashes, threshold=s.dup_threshold)
    gid, gcount = np.unique(groups, return_counts=True)
    dup = {"groups": int((gcount > 1).sum()), "images": int(gcount[gcount > 1].sum()),
           "hamming_threshold": s.dup_threshold,
           "method": "md5 of file bytes + 256-bit dHash (17x16 gray, also mirrored), star clustering"}
    print(f"duplicates: {dup['groups']} groups of exact/near-duplicate images ({dup['images']} images)", file=sys.stderr)
    if (role == 1).any():
        use, cross = drop_cross_duplicates(hashes, groups, role, s.dup_threshold)
        dup.update(cross)
        is_val = role == 1
    else:
        is_val = split_groups(groups, y, s.val_split, s.seed) & (role == 0)
        # train-only images that copy a validation image are not trained on either
        use = (role == 0) | ((role == 3) & ~np.isin(groups, groups[is_val]))
        print(f"validation split: {int(is_val.sum())} images ({s.val_split:.0%}, duplicate groups kept together)",
              file=sys.stderr)
    tr_idx, va_idx = np.flatnonzero(use & ~is_val), np.flatnonzero(is_val)
    for c, lab in enumerate(fs.labels):
        n_tr, n_va = int((y[tr_idx] == c).sum()), int((y[va_idx] == c).sum())
        if n_tr == 0 or n_va == 0:
            raise DataError(f"class '{lab}' has no images in the training or validation part "
                            f"(train {n_tr}, val {n_va}); add more images")
    extra_used = {lab: int(((role[tr_idx] == 3) & (y[tr_idx] == c)).sum()) for c, lab in enumerate(fs.labels)}
    if s.extra_train:
        print(f"--extra-train: {sum(extra_used.values())} of {int((role == 3).sum())} images used "
              "(the rest copy a validation image)", file=sys.stderr)
    if s.scene_repeat > 1:
        tr_idx = np.concatenate([tr_idx] + [tr_idx[scene[tr_idx]]] * (s.scene_repeat - 1))
        print(f"scene train crops repeated x{s.scene_repeat}", file=sys.stderr)
    tr_idx, repeats = oversample(tr_idx, y, len(fs.labels), s.oversample)
    if repeats:
        print(f"oversampling (each class >= {s.oversample:.0%} of the largest): "
              + ", ".join(f"{fs.labels[c]} x{r}" for c, r in repeats.items()), file=sys.stderr)
    counts = {part: {lab: int((y[idx] == c).sum()) for c, lab in enumerate(fs.labels)}
              for part, idx in (("train", tr_idx), ("val", va_idx))}
    print(f"train: {counts['train']}  val: {counts['val']}", file=sys.stderr)
    info = {"counts": counts, "unreadable_skipped": skipped, "duplicates": dup,
            "oversample": {"min_fraction": s.oversample, "repeats": {fs.labels[c]: r for c, r in repeats.items()}},
            "scene_repeat": s.scene_repeat, "extra_train_used": extra_used}
    return PreparedData(images, files, y, tr_idx, va_idx, info)


def class_weights(y_tr: np.ndarray, n_classes: int, kind: str = "balanced") -> dict[int, float]:
    """Balanced weights (each class's total weight equal), on the counts after oversampling; or all 1."""
    if kind == "none":
        return dict.fromkeys(range(n_classes), 1.0)
    total = len(y_tr)
    return {c: total / (n_classes * max(1, int((y_tr == c).sum()))) for c in range(n_classes)}


def tf_datasets(tf, s: TrainSettings, d: PreparedData, scale: float, offset: float):
    from .augment import make_augment

    x_tr, y_tr = d.images[d.tr_idx], d.y[d.tr_idx].astype(np.int32)
    x_va, y_va = d.images[d.va_idx], d.y[d.va_idx].astype(np.int32)
    ds_tr = (
        tf.data.Dataset.from_tensor_slices((x_tr, y_tr))
        .shuffle(min(len(y_tr), 25000), seed=s.seed, reshuffle_each_iteration=True)
        .map(make_augment(tf, s.input_size), num_parallel_calls=tf.data.AUTOTUNE)
        .batch(s.batch_size)
        .map(lambda x, y: (x * scale + offset, y), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    ds_va = (
        tf.data.Dataset.from_tensor_slices((x_va, y_va))
        .batch(s.batch_size)
        .map(lambda x, y: (tf.cast(x, tf.float32) * scale + offset, y))
        .prefetch(2)
    )
    return (ds_tr.repeat() if s.stages.steps_per_epoch else ds_tr), ds_va


def training_info(s: TrainSettings, fs: FileSet, d: PreparedData, cw: dict, argv: list[str]) -> dict:
    st = s.stages
    weights = s.weights()
    return {
        "data": str(s.data),
        "val": str(s.val) if s.val else None,
        "val_split": None if (fs.role == 1).any() else s.val_split,
        "scenes": None if fs.scene_manifest is None else {
            "folders": [str(x) for x in s.scenes], "settings": fs.scene_manifest["settings"],
            "counts": fs.scene_manifest["counts"], "splits_file": "report/scene_splits.json"},
        "extra_train": [str(x) for x in s.extra_train],
        **d.info,
        "epochs": {"head": 0, "fine_tune": 0, "requested": [st.head_epochs, st.fine_tune_epochs]},
        "interrupted": False,
        "input_size": s.input_size,
        "batch_size": s.batch_size,
        "lr": st.lr,
        "fine_tune_layers": st.fine_tune_layers,
        "fine_tune_lr": st.lr * st.fine_tune_lr_factor,
        "label_smoothing": st.label_smoothing,
        "base_weights": Path(s.base_weights).name if weights not in (None, "imagenet") else str(weights),
        "class_weight": {fs.labels[c]: round(w, 4) for c, w in cw.items()},
        "best_val_loss": None,
        "seed": s.seed,
        "train_seconds": None,
        "command": "python " + shlex.join(["train_mobilenet.py", *argv]),
    }


def install_stop_signals() -> None:
    """Ctrl+C, SIGTERM and SIGUSR1 stop training cleanly (best checkpoint is exported).

    Background jobs of a non-interactive shell start with SIGINT ignored; re-enable it."""
    import signal

    def stop(signum, frame):
        raise KeyboardInterrupt

    try:
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGUSR1, stop)
    except (ValueError, AttributeError):  # not the main thread / not POSIX
        pass


def checkpoint_paths(out: Path, name: str) -> tuple[Path, Path]:
    return out / f".{name}.best.keras", out / f".{name}.state.json"


def train(s: TrainSettings, argv: list[str]) -> int:
    t_start = time.time()
    out = s.out_dir
    bw = s.base_weights
    if bw and bw.lower() not in ("imagenet", "none") and not Path(bw).is_file():
        raise ModelError(f"base weights file not found: {bw}")
    check_output_dir(out)
    fs = gather_files(s)
    print(f"classes: {', '.join(f'{f}->{fs.folders[f]}' for f in sorted(fs.folders))}", file=sys.stderr)
    d = prepare(s, fs)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    install_stop_signals()
    keras.utils.set_random_seed(s.seed)
    cw = class_weights(d.y[d.tr_idx], len(fs.labels), s.class_weight)
    print(f"class weights: { {fs.labels[c]: round(w, 3) for c, w in cw.items()} }", file=sys.stderr)
    scale, offset = 1.0 / 127.5, -1.0
    ds_tr, ds_va = tf_datasets(tf, s, d, scale, offset)
    info = training_info(s, fs, d, cw, argv)
    ckpt = Checkpoint(*checkpoint_paths(out, s.name))
    ckpt.state = {"labels": fs.labels, "folders": dict(sorted(fs.folders.items())), "size": s.input_size,
                  "scale": scale, "offset": offset, "crop_margin": s.crop_margin,
                  "val_files": [str(d.files[i]) for i in d.va_idx], "val_y": [int(v) for v in d.y[d.va_idx]],
                  "scene_manifest": fs.scene_manifest, "info": info, "history": {}}
    ckpt.save_state()
    model, base = build_model(keras, len(fs.labels), s.input_size, s.weights(), s.dropout)
    steps = s.stages.steps_per_epoch or int(np.ceil(len(d.tr_idx) / s.batch_size))
    fit = TwoStageFit(keras, model, base, s.stages, ckpt).run(ds_tr, ds_va, cw, steps)
    info["epochs"].update(head=fit.head_epochs, fine_tune=fit.fine_tune_epochs)
    info["interrupted"] = fit.interrupted
    info["best_val_loss"] = round(fit.best_val_loss, 5) if np.isfinite(fit.best_val_loss) else None
    info["train_seconds"] = round(time.time() - t_start, 1)
    job = ExportJob(fs.labels, fs.folders, s.input_size, scale, offset, s.crop_margin, info, fit.history, out,
                    s.name, s.engine, s.keep_both, s.bench_repeats, [d.files[i] for i in d.va_idx], d.y[d.va_idx])
    write_training_files(job, fs.scene_manifest)
    if s.keras_file:
        model.save(out / f"{s.name}.keras")
        print(f"saved Keras model: {out / f'{s.name}.keras'}", file=sys.stderr)
    export_all(tf, keras, model, job)
    for p in checkpoint_paths(out, s.name):
        p.unlink(missing_ok=True)
    return 0


def write_training_files(job: ExportJob, scene_manifest: dict | None) -> None:
    job.report_dir.mkdir(parents=True, exist_ok=True)
    if scene_manifest is not None:  # the split lists, so that the scene test figures can be reproduced
        (job.report_dir / "scene_splits.json").write_text(json.dumps(scene_manifest, indent=1) + "\n")
    (job.report_dir / "training.json").write_text(
        json.dumps({"training": job.info, "history": job.history}, indent=2) + "\n")


@dataclass(frozen=True)
class ExportSettings:
    out: str = "models"
    name: str = DEFAULT_NAME
    engine: str = "auto"
    keep_both: bool = False
    keras_file: bool = True
    crop_margin: float | None = None
    bench_repeats: int = 40


def export_checkpoint(s: ExportSettings) -> int:
    """Redo the export from the best checkpoint of a run that died (or was killed) after training started."""
    out = Path(s.out)
    ckpt_path, state_path = checkpoint_paths(out, s.name)
    if not ckpt_path.is_file() or not state_path.is_file():
        raise ModelError(f"no checkpoint to export in {out} (expected {ckpt_path.name} and {state_path.name})")
    check_output_dir(out)
    state = json.loads(state_path.read_text())
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    model = keras.models.load_model(ckpt_path)
    info, hist = state["info"], state.get("history", {})
    n = len(hist.get("loss", []))
    n1 = int(hist.get("stage1_epochs", n))
    info.update(interrupted=True, exported_from_checkpoint=True)
    info["epochs"].update(head=n1, fine_tune=n - n1)
    hist["stage1_epochs"] = n1
    margin = state["crop_margin"] if s.crop_margin is None else s.crop_margin
    job = ExportJob(state["labels"], state["folders"], state["size"], state["scale"], state["offset"], margin, info,
                    hist, out, s.name, s.engine, s.keep_both, s.bench_repeats,
                    [Path(f) for f in state["val_files"]], np.array(state["val_y"], int))
    write_training_files(job, state.get("scene_manifest"))
    if s.keras_file:
        model.save(out / f"{s.name}.keras")
    export_all(tf, keras, model, job)
    return 0
