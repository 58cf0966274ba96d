#!/usr/bin/env python3
"""Train (and evaluate) the MobileNetV2 face-mask classifier used by facemask-live.

    python train_mobilenet.py --data DIR [--val DIR] --out models/       # train (default subcommand)
    python train_mobilenet.py train --data DIR ...                       # same, explicit
    python train_mobilenet.py evaluate --data DIR --model models/mask_classifier.json [--json out.json]

The dataset is an image folder: one sub-folder per class (two or more).  Folder names map to the
app's labels (with_mask -> mask, without_mask -> no_mask, mask_weared_incorrect/incorrect_mask ->
incorrect_mask, anything else keeps its name).  TensorFlow is imported only when training, so
``evaluate`` and ``--help`` are fast; ``evaluate`` scores a model through the app's own runtime
(facemask_live.classify), not through TensorFlow.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from facemask_live.errors import ModelError, OutputError, exit_code_of  # noqa: E402
from facemask_live.training.data import (  # noqa: E402
    DEFAULT_CROP_MARGIN,
    DataError,
    duplicate_groups,
    load_images,
    near_duplicate_pairs,
    scan_folder,
    split_groups,
)
from facemask_live.training.scenes import SceneCropSettings, prepare_scene_crops  # noqa: E402

VIOLATION_LABELS = ("no_mask", "incorrect_mask")
METADATA_FORMAT = "facemask-live-classifier/1"
DEFAULT_NAME = "mask_classifier"


# --------------------------------------------------------------------------------------------
# metrics / reports (numpy, sklearn, matplotlib - no TensorFlow)
# --------------------------------------------------------------------------------------------


def compute_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    k = len(labels)
    cm = np.zeros((k, k), int)
    for t, p in zip(y_true, y_pred):
        cm[int(t), int(p)] += 1
    per_class, recalls = {}, []
    for i, lab in enumerate(labels):
        support = int(cm[i].sum())
        tp = int(cm[i, i])
        predicted = int(cm[:, i].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        per_class[lab] = {"precision": round(precision, 5), "recall": round(recall, 5), "support": support}
        if support:
            recalls.append(recall)
    bal = float(np.mean(recalls)) if recalls else 0.0
    acc = float(np.trace(cm) / cm.sum()) if cm.sum() else 0.0
    return {
        "balanced_accuracy": round(bal, 5),
        "accuracy": round(acc, 5),
        "per_class": per_class,
        "confusion": cm.tolist(),
        "labels": list(labels),
    }


def format_metrics(m: dict) -> str:
    labels = m["labels"]
    w = max(12, max(len(x) for x in labels) + 2)
    lines = [f"{'label':<{w}}{'precision':>10}{'recall':>10}{'support':>10}"]
    for lab in labels:
        pc = m["per_class"][lab]
        lines.append(f"{lab:<{w}}{pc['precision']:>10.4f}{pc['recall']:>10.4f}{pc['support']:>10d}")
    lines.append(f"balanced accuracy: {m['balanced_accuracy']:.4f}   accuracy: {m['accuracy']:.4f}")
    lines.append("confusion matrix (rows = true, columns = predicted):")
    lines.append(" " * w + "".join(f"{lab[:10]:>12}" for lab in labels))
    for lab, row in zip(labels, m["confusion"]):
        lines.append(f"{lab:<{w}}" + "".join(f"{v:>12d}" for v in row))
    return "\n".join(lines)


def write_reports(report_dir: Path, y_true, y_pred, labels, history: dict | None, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import classification_report, confusion_matrix

    report_dir.mkdir(parents=True, exist_ok=True)
    text = classification_report(
        y_true, y_pred, labels=list(range(len(labels))), target_names=labels, digits=4, zero_division=0
    )
    m = compute_metrics(np.asarray(y_true), np.asarray(y_pred), labels)
    (report_dir / "classification_report.txt").write_text(
        f"{title}\n\n{text}\nbalanced accuracy: {m['balanced_accuracy']:.4f}\n\n{format_metrics(m)}\n"
    )
    cm = confusion_matrix(y_true, y_pred, labels=list(range(len(labels))))
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
    fig.savefig(report_dir / "confusion_matrix.png", dpi=110)
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


def cmd_evaluate(args) -> int:
    import cv2
    from tqdm import tqdm

    from facemask_live.classify import MaskClassifier

    clf = MaskClassifier(args.model, threads=args.threads)
    files, folders, fmap = scan_folder(args.data)
    labels = list(clf.labels)
    unknown = sorted({fmap[f] for f in folders} - set(labels))
    if unknown:
        print(f"note: skipping classes the model does not know: {', '.join(unknown)}", file=sys.stderr)
    y_true, y_pred, skipped = [], [], 0
    batch, batch_y = [], []

    def flush():
        if batch:
            probs = clf.predict(batch)
            y_pred.extend(np.argmax(probs, axis=1).tolist())
            y_true.extend(batch_y)
            batch.clear()
            batch_y.clear()

    for f, folder in tqdm(list(zip(files, folders)), desc="evaluating", unit="img", file=sys.stderr):
        lab = fmap[folder]
        if lab not in labels:
            continue
        img = cv2.imdecode(np.fromfile(str(f), np.uint8), cv2.IMREAD_COLOR)
        if img is None or img.size == 0:
            skipped += 1
            continue
        batch.append(img)
        batch_y.append(labels.index(lab))
        if len(batch) >= args.batch_size:
            flush()
    flush()
    if not y_true:
        raise DataError(f"no readable images of the model's classes ({', '.join(labels)}) in {args.data}")
    m = compute_metrics(np.array(y_true), np.array(y_pred), labels)
    m["skipped_unreadable"] = skipped
    m["model"] = str(args.model)
    m["data"] = str(args.data)
    print(f"model: {args.model}\ndata:  {args.data} ({len(y_true)} images, {skipped} unreadable skipped)")
    print(format_metrics(m))
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(m, indent=2) + "\n")
        except OSError as e:
            raise OutputError(f"cannot write {args.json}: {e.strerror or e}") from None
    return 0


# --------------------------------------------------------------------------------------------
# training (TensorFlow imported lazily)
# --------------------------------------------------------------------------------------------


def check_output_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write_test"
        probe.write_text("x")
        probe.unlink()
    except OSError as e:
        raise OutputError(f"output folder not writable: {out} ({e.strerror or e})") from None


def make_augment(tf, size: int, strength: float = 1.0):
    """Per-image camera-like augmentation on a uint8 RGB size x size image -> float32 in [0, 255]."""
    s = float(size)

    def affine(img):
        # scale jitter (loose/tight boxes), shift, small rotation, horizontal flip - one warp
        # mild scale and only a small vertical shift: a tighter crop or a shift must not cut the nose line
        # off (it is what separates a correctly worn mask from one below the nose)
        zoom = tf.exp(tf.random.uniform([], np.log(0.85), np.log(1.15)))  # >1 zooms in (tight box)
        ang = tf.random.uniform([], -12.0, 12.0) * np.pi / 180.0 * strength
        tx = tf.random.uniform([], -0.08, 0.08) * s * strength
        ty = tf.random.uniform([], -0.04, 0.04) * s * strength
        aspect = tf.exp(tf.random.uniform([], -0.1, 0.1))
        flip = tf.where(tf.random.uniform([]) < 0.5, -1.0, 1.0)
        c, si = tf.cos(ang), tf.sin(ang)
        sx = flip / (zoom * aspect)
        sy = aspect / zoom
        # output pixel (x, y) -> input pixel; centred coordinates
        a0, a1 = c * sx, -si * sy
        b0, b1 = si * sx, c * sy
        cx = cy = (s - 1) / 2
        a2 = cx - a0 * cx - a1 * cy + tx
        b2 = cy - b0 * cx - b1 * cy + ty
        t = tf.reshape(tf.stack([a0, a1, a2, b0, b1, b2, 0.0, 0.0]), [1, 8])
        out = tf.raw_ops.ImageProjectiveTransformV3(
            images=img[None], transforms=t, output_shape=[size, size], fill_value=0.0,
            interpolation="BILINEAR", fill_mode="REFLECT",
        )
        return out[0]

    def blur(img):
        sigma = tf.random.uniform([], 0.4, 1.6)
        r = tf.range(-3, 4, dtype=tf.float32)
        k = tf.exp(-(r**2) / (2 * sigma**2))
        k = k / tf.reduce_sum(k)
        kx = tf.tile(tf.reshape(k, [1, 7, 1, 1]), [1, 1, 3, 1])
        ky = tf.tile(tf.reshape(k, [7, 1, 1, 1]), [1, 1, 3, 1])
        x = tf.nn.depthwise_conv2d(img[None], kx, [1, 1, 1, 1], "SAME")
        x = tf.nn.depthwise_conv2d(x, ky, [1, 1, 1, 1], "SAME")
        return x[0]

    def lowres(img):
        # far-away faces: 12..~45 px source resolution, upscaled like the runtime does
        small = tf.random.uniform([], 12, max(13, int(s * 0.36)), dtype=tf.int32)
        x = tf.image.resize(img, [small, small], method="area")
        method = tf.random.uniform([], 0, 2, dtype=tf.int32)
        return tf.cond(method == 0,
                       lambda: tf.image.resize(x, [size, size], method="bilinear"),
                       lambda: tf.image.resize(x, [size, size], method="bicubic"))

    def jpeg(img):
        q = tf.random.uniform([], 20, 90, dtype=tf.int32)
        u8 = tf.cast(tf.clip_by_value(img, 0, 255), tf.uint8)
        return tf.cast(tf.image.adjust_jpeg_quality(u8, q), tf.float32)

    def augment(img, label):
        x = tf.cast(img, tf.float32)
        x = affine(x)
        x = tf.cond(tf.random.uniform([]) < 0.3, lambda: lowres(x), lambda: x)
        x = tf.cond(tf.random.uniform([]) < 0.25, lambda: blur(x), lambda: x)
        # photometric: brightness / contrast / saturation / slight hue, occasional grayscale
        x = x * tf.random.uniform([], 0.65, 1.35) + tf.random.uniform([], -30.0, 30.0)
        mean = tf.reduce_mean(x)
        x = (x - mean) * tf.random.uniform([], 0.65, 1.4) + mean
        gray = tf.reduce_mean(x, axis=-1, keepdims=True)
        sat = tf.where(tf.random.uniform([]) < 0.07, 0.0, tf.random.uniform([], 0.6, 1.4))
        x = gray + (x - gray) * sat
        x = x * tf.random.uniform([1, 1, 3], 0.9, 1.1)  # white balance
        x = tf.clip_by_value(x, 0.0, 255.0)
        x = tf.cond(tf.random.uniform([]) < 0.1,
                    lambda: tf.clip_by_value(x + tf.random.normal(tf.shape(x), 0, tf.random.uniform([], 2, 8)), 0, 255),
                    lambda: x)
        x = tf.cond(tf.random.uniform([]) < 0.4, lambda: jpeg(x), lambda: x)
        x = tf.ensure_shape(x, [size, size, 3])
        return x, label

    return augment


def _install_stop_signals() -> None:
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


LABEL_ORDER = ("mask", "no_mask", "incorrect_mask")


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


def train(args) -> int:
    t_start = time.time()
    out = Path(args.out)
    name = args.name
    # --- cheap checks first (before TensorFlow) --------------------------------------------
    if args.base_weights and args.base_weights.lower() not in ("imagenet", "none"):
        if not Path(args.base_weights).is_file():
            raise ModelError(f"base weights file not found: {args.base_weights}")
    check_output_dir(out)
    files, folders, fmap = scan_folder(args.data, "--data")
    vfiles, vfolders, tfiles, tfolders = [], [], [], []
    scene_manifest = None
    if args.scenes:
        scene_dir = Path(args.scene_crops) if args.scene_crops else out / ".scene_crops"
        try:
            scene_settings = SceneCropSettings(
                tuple(args.scenes), str(scene_dir), margin=args.crop_margin, fractions=tuple(args.scene_split),
                min_face=args.scene_min_face, dup_threshold=args.dup_threshold, seed=args.seed)
        except ValueError as e:
            raise DataError(str(e)) from None
        scene_manifest = prepare_scene_crops(scene_settings)
        for split, fl, fo in (("train", files, folders), ("val", vfiles, vfolders), ("test", tfiles, tfolders)):
            f2, fo2, m2 = scan_folder(scene_dir / split, f"scene crops ({split})")
            fl += f2
            fo += fo2
            fmap.update(m2)
    labels = ordered_labels(fmap[f] for f in set(folders))
    if len(labels) < 2:
        raise DataError(f"--data {args.data} needs at least two different classes (got {labels})")
    if args.val:
        f2, fo2, vmap = scan_folder(args.val, "--val")
        vfiles += f2
        vfolders += fo2
        fmap.update(vmap)
    extra = sorted({fmap[f] for f in vfolders + tfolders} - set(labels))
    if extra:
        raise DataError(f"--val has classes not in --data: {', '.join(extra)}")
    all_files = files + vfiles + tfiles
    all_y = np.array([labels.index(fmap[f]) for f in folders + vfolders + tfolders])
    # role per image: 0 train, 1 validation (early stopping), 2 held-out scene test (never trained on)
    role = np.array([0] * len(files) + [1] * len(vfiles) + [2] * len(tfiles))
    size = args.input_size
    print(f"classes: {', '.join(f'{f}->{fmap[f]}' for f in sorted(fmap))}", file=sys.stderr)
    ok, images, md5s, hashes = load_images(all_files, size, desc="reading images")
    skipped = int((~ok).sum())
    if skipped:
        print(f"skipped {skipped} unreadable image(s)", file=sys.stderr)
    keep = np.flatnonzero(ok)
    images, all_y, role = images[keep], all_y[keep], role[keep]
    from_val = role == 1
    held_out = role > 0
    md5s = [md5s[i] for i in keep]
    hashes = hashes[keep]
    kept_files = [all_files[i] for i in keep]
    groups = duplicate_groups(md5s, hashes, threshold=args.dup_threshold)
    gid, gcount = np.unique(groups, return_counts=True)
    multi = gid[gcount > 1]
    n_dup_groups = int(len(multi))
    n_dup_images = int(gcount[gcount > 1].sum())
    print(f"duplicates: {n_dup_groups} groups of exact/near-duplicate images ({n_dup_images} images)", file=sys.stderr)
    dropped_cross = 0
    cross_groups = 0
    if from_val.any():
        val_groups = set(groups[held_out].tolist())
        cross = (~held_out) & np.isin(groups, list(val_groups))
        val_hit = held_out & np.isin(groups, list(set(groups[cross].tolist())))
        # plus every train image directly within the threshold of a val/test image (other leader)
        for i, j in near_duplicate_pairs(hashes, args.dup_threshold, rows=np.flatnonzero(held_out),
                                         cols=np.flatnonzero(~held_out), desc="train/val duplicates"):
            cross[j] = True
            val_hit[i] = True
        cross_groups = int(val_hit.sum())
        dropped_cross = int(cross.sum())
        print(f"train/val cross-duplicates: {cross_groups} val image(s) have copies in train, dropping {dropped_cross} train image(s)",
              file=sys.stderr)
        is_val = from_val
        use = ~cross & (role != 2)
    else:
        is_val = split_groups(groups, all_y, args.val_split, args.seed)
        use = np.ones(len(all_y), bool)
        print(f"validation split: {int(is_val.sum())} images ({args.val_split:.0%}, duplicate groups kept together)",
              file=sys.stderr)
    tr_idx = np.flatnonzero(use & ~is_val)
    va_idx = np.flatnonzero(is_val)
    tr_idx, repeats = oversample(tr_idx, all_y, len(labels), args.oversample)
    if repeats:
        print(f"oversampling (each class >= {args.oversample:.0%} of the largest): "
              + ", ".join(f"{labels[c]} x{r}" for c, r in repeats.items()), file=sys.stderr)
    y_tr, y_va = all_y[tr_idx], all_y[va_idx]
    for c in range(len(labels)):
        if (y_tr == c).sum() == 0 or (y_va == c).sum() == 0:
            raise DataError(f"class '{labels[c]}' has no images in the training or validation part "
                            f"(train {(y_tr == c).sum()}, val {(y_va == c).sum()}); add more images")
    counts_tr = {lab: int((y_tr == c).sum()) for c, lab in enumerate(labels)}
    counts_va = {lab: int((y_va == c).sum()) for c, lab in enumerate(labels)}
    print(f"train: {counts_tr}  val: {counts_va}", file=sys.stderr)

    # --- TensorFlow ----------------------------------------------------------------------------
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    _install_stop_signals()
    keras.utils.set_random_seed(args.seed)
    x_tr, x_va = images[tr_idx], images[va_idx]
    del images
    total = len(y_tr)
    cw = {c: total / (len(labels) * max(1, int((y_tr == c).sum()))) for c in range(len(labels))}
    print(f"class weights: { {labels[c]: round(w, 3) for c, w in cw.items()} }", file=sys.stderr)
    scale, offset = 1.0 / 127.5, -1.0
    augment = make_augment(tf, size)

    def to_input(x, y):
        return x * scale + offset, y

    ds_tr = (
        tf.data.Dataset.from_tensor_slices((x_tr, y_tr.astype(np.int32)))
        .shuffle(min(total, 20000), seed=args.seed, reshuffle_each_iteration=True)
        .map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(args.batch_size)
        .map(to_input, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    ds_va = (
        tf.data.Dataset.from_tensor_slices((x_va, y_va.astype(np.int32)))
        .batch(args.batch_size)
        .map(lambda x, y: (tf.cast(x, tf.float32) * scale + offset, y))
        .prefetch(2)
    )
    if args.steps_per_epoch:
        ds_tr = ds_tr.repeat()

    bw = args.base_weights
    if bw is None or bw.lower() == "imagenet":
        weights = "imagenet"
    elif bw.lower() == "none":
        weights = None
    else:
        weights = bw
    info = {
        "data": str(args.data),
        "val": str(args.val) if args.val else None,
        "val_split": None if from_val.any() else args.val_split,
        "scenes": None if scene_manifest is None else {
            "folders": [str(x) for x in args.scenes], "settings": scene_manifest["settings"],
            "counts": scene_manifest["counts"], "splits_file": "scene_splits.json"},
        "oversample": {"min_fraction": args.oversample, "repeats": {labels[c]: r for c, r in repeats.items()}},
        "counts": {"train": counts_tr, "val": counts_va},
        "unreadable_skipped": skipped,
        "duplicates": {
            "groups": n_dup_groups,
            "images": n_dup_images,
            "hamming_threshold": args.dup_threshold,
            "method": "md5 of file bytes + 256-bit dHash (17x16 gray, also mirrored), star clustering",
            "val_images_with_train_copies": cross_groups,
            "train_images_dropped": dropped_cross,
        },
        "epochs": {"head": 0, "fine_tune": 0, "requested": [args.epochs, args.fine_tune_epochs]},
        "interrupted": False,
        "input_size": size,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "fine_tune_layers": args.fine_tune_layers,
        "fine_tune_lr": args.lr * args.fine_tune_lr_factor,
        "base_weights": Path(bw).name if weights not in (None, "imagenet") else str(weights),
        "class_weight": {labels[c]: round(w, 4) for c, w in cw.items()},
        "best_val_loss": None,
        "seed": args.seed,
        "train_seconds": None,
        "command": "python " + shlex.join([Path(sys.argv[0]).name] + sys.argv[1:]),
    }
    # everything `export` needs to redo the export from the best checkpoint if this run dies late
    ckpt_path = out / f".{name}.best.keras"
    state_path = out / f".{name}.state.json"
    state = {"labels": labels, "folders": dict(sorted(fmap.items())), "size": size, "scale": scale, "offset": offset,
             "crop_margin": args.crop_margin, "val_files": [str(kept_files[i]) for i in va_idx],
             "val_y": [int(v) for v in y_va], "info": info, "history": {}}

    def save_state():
        try:
            state_path.write_text(json.dumps(state))
        except OSError as e:
            print(f"warning: cannot write {state_path}: {e}", file=sys.stderr)

    save_state()

    try:
        base = keras.applications.MobileNetV2(include_top=False, weights=weights, input_shape=(size, size, 3))
    except Exception as e:  # download failure / bad file
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelError(f"cannot load MobileNetV2 base weights ({bw or 'imagenet'}): {msg[:200]}") from None
    inp = keras.Input((size, size, 3), name="image")
    x = base(inp, training=False)  # BatchNorm stays in inference mode, also when fine-tuning
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(args.dropout, name="dropout")(x)
    outp = keras.layers.Dense(len(labels), activation="softmax", name="probs")(x)
    model = keras.Model(inp, outp, name="mask_classifier")

    class BestKeeper(keras.callbacks.Callback):
        def __init__(self, patience):
            super().__init__()
            self.patience = patience
            self.best = np.inf
            self.best_acc = 0.0
            self.best_weights = None
            self.wait = 0

        def on_train_begin(self, logs=None):
            self.wait = 0

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            v = logs.get("val_loss", np.inf)
            if v < self.best:
                self.best, self.best_acc, self.wait = v, logs.get("val_accuracy", 0.0), 0
                self.best_weights = [w.copy() for w in self.model.get_weights()]
                try:
                    self.model.save(ckpt_path)
                except Exception as e:  # noqa: BLE001
                    print(f"warning: checkpoint not saved: {e}", file=sys.stderr)
                print(f"  best so far: val_loss {v:.4f} val_accuracy {self.best_acc:.4f}", file=sys.stderr)
            else:
                self.wait += 1
            for k in ("loss", "accuracy", "val_loss", "val_accuracy"):
                state["history"].setdefault(k, []).append(float(logs.get(k, float("nan"))))
            state["info"]["best_val_loss"] = round(float(self.best), 5)
            save_state()
            if self.wait and self.wait >= self.patience:
                print(f"  early stopping: no val_loss improvement for {self.wait} epoch(s)", file=sys.stderr)
                self.model.stop_training = True

    keeper = BestKeeper(args.patience)
    history: dict = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    interrupted = False
    fit_kw = dict(validation_data=ds_va, class_weight=cw, verbose=2 if args.quiet_progress else 1,
                  callbacks=[keeper])
    if args.steps_per_epoch:
        fit_kw["steps_per_epoch"] = args.steps_per_epoch
    steps = args.steps_per_epoch or int(np.ceil(total / args.batch_size))

    def run_stage(epochs, title):
        nonlocal interrupted
        if epochs <= 0 or interrupted:
            return 0
        print(f"== {title} ({epochs} epoch(s), {steps} steps each) ==", file=sys.stderr)
        h = None
        try:
            h = model.fit(ds_tr, epochs=epochs, **fit_kw)
        except KeyboardInterrupt:
            interrupted = True
            print("\ninterrupted: stopping training, exporting the best checkpoint so far", file=sys.stderr)
        n = 0
        if h is not None:
            for k in history:
                history[k] += [float(v) for v in h.history.get(k, [])]
            n = len(h.history.get("loss", []))
        elif model.history is not None and getattr(model.history, "history", None):
            for k in history:
                history[k] += [float(v) for v in model.history.history.get(k, [])]
            n = len(model.history.history.get("loss", []))
        return n

    # stage 1: new head on the frozen base
    base.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(args.lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    n1 = run_stage(args.epochs, "stage 1: training the new head on the frozen base")
    state["history"]["stage1_epochs"] = n1
    # stage 2: fine-tune the top of the base with a lower learning rate
    n2 = 0
    if args.fine_tune_epochs > 0 and not interrupted:
        if keeper.best_weights is not None:
            model.set_weights(keeper.best_weights)
        base.trainable = True
        n_ft = len(base.layers) if args.fine_tune_layers <= 0 else args.fine_tune_layers
        for layer in base.layers[:-n_ft]:
            layer.trainable = False
        for layer in base.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
        n_trainable = sum(1 for layer in base.layers if layer.trainable and layer.weights)
        ft_lr = args.lr * args.fine_tune_lr_factor
        sched = keras.optimizers.schedules.CosineDecay(ft_lr, decay_steps=max(1, steps * args.fine_tune_epochs),
                                                       alpha=0.05)
        model.compile(optimizer=keras.optimizers.Adam(sched), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        keeper.wait = 0
        print(f"fine-tuning the top {n_ft} base layers ({n_trainable} with weights; BatchNorm frozen), "
              f"lr {ft_lr:g}", file=sys.stderr)
        n2 = run_stage(args.fine_tune_epochs, "stage 2: fine-tuning")
    if keeper.best_weights is not None:
        model.set_weights(keeper.best_weights)
    history["stage1_epochs"] = n1
    train_seconds = time.time() - t_start
    info["epochs"].update(head=n1, fine_tune=n2)
    info["interrupted"] = interrupted
    info["best_val_loss"] = None if not np.isfinite(keeper.best) else round(float(keeper.best), 5)
    info["train_seconds"] = round(train_seconds, 1)

    report_dir = out / "report" if name == DEFAULT_NAME else out / f"{name}_report"
    report_dir.mkdir(parents=True, exist_ok=True)
    if scene_manifest is not None:  # the split lists, so that the scene test figures can be reproduced
        (report_dir / "scene_splits.json").write_text(json.dumps(scene_manifest, indent=1) + "\n")
    (report_dir / "training.json").write_text(json.dumps({"training": info, "history": history}, indent=2) + "\n")
    keras_path = out / f"{name}.keras"
    if not args.no_keras:
        model.save(keras_path)
        print(f"saved Keras model: {keras_path}", file=sys.stderr)
    export_all(tf, keras, model, labels, fmap, size, scale, offset, info, history, out, name, args,
               val_files=[kept_files[i] for i in va_idx], val_y=y_va)
    ckpt_path.unlink(missing_ok=True)
    state_path.unlink(missing_ok=True)
    return 0


def cmd_export(args) -> int:
    """Redo the export from the best checkpoint of a run that died (or was killed) after training started."""
    out = Path(args.out)
    ckpt_path = out / f".{args.name}.best.keras"
    state_path = out / f".{args.name}.state.json"
    if not ckpt_path.is_file() or not state_path.is_file():
        raise ModelError(f"no checkpoint to export in {out} (expected {ckpt_path.name} and {state_path.name})")
    check_output_dir(out)
    state = json.loads(state_path.read_text())
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    model = keras.models.load_model(ckpt_path)
    info = state["info"]
    hist = state.get("history", {})
    info["interrupted"] = True
    info["exported_from_checkpoint"] = True
    n = len(hist.get("loss", []))
    n1 = int(hist.get("stage1_epochs", n))
    info["epochs"].update(head=n1, fine_tune=n - n1)
    hist["stage1_epochs"] = n1
    args.crop_margin = state["crop_margin"] if args.crop_margin is None else args.crop_margin
    if not args.no_keras:
        model.save(out / f"{args.name}.keras")
    export_all(tf, keras, model, state["labels"], state["folders"], state["size"], state["scale"], state["offset"],
               info, hist, out, args.name, args, val_files=[Path(f) for f in state["val_files"]],
               val_y=np.array(state["val_y"]))
    return 0


def export_all(tf, keras, model, labels, fmap, size, scale, offset, info, history, out, name, args,
               val_files, val_y) -> None:
    """Convert to LiteRT and ONNX, benchmark both in their runtimes, ship one, write metadata+report."""
    spec = tf.TensorSpec([None, size, size, 3], tf.float32, name="image")

    @tf.function(input_signature=[spec])
    def serve(x):
        return {"probs": model(x, training=False)}

    candidates = {}
    notes = {}
    # LiteRT
    tfl_path = out / f"{name}.tflite"
    try:
        # from_concrete_functions on a Keras 3 model silently drops the variables (NaN output);
        # go through a SavedModel export instead.
        import contextlib
        import io
        import shutil
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix="facemask_export_"))
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                model.export(str(tmp / "saved"), format="tf_saved_model", verbose=False)
            conv = tf.lite.TFLiteConverter.from_saved_model(str(tmp / "saved"))
            tfl_path.write_bytes(conv.convert())
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        candidates["litert"] = tfl_path
    except Exception as e:  # noqa: BLE001
        notes["litert"] = f"conversion failed: {str(e).splitlines()[0][:200] if str(e) else type(e).__name__}"
    # ONNX via tf2onnx
    onnx_path = out / f"{name}.onnx"
    try:
        import tf2onnx

        tf2onnx.convert.from_function(serve, input_signature=[spec], opset=17, output_path=str(onnx_path))
        candidates["onnxruntime"] = onnx_path
    except Exception as e:  # noqa: BLE001
        notes["onnxruntime"] = f"tf2onnx conversion failed: {str(e).splitlines()[0][:200] if str(e) else type(e).__name__}"
    for k, v in notes.items():
        print(f"warning: {k}: {v}", file=sys.stderr)
    if not candidates:
        raise ModelError("could not export the model to LiteRT or ONNX (see warnings above)")

    base_meta = {
        "format": METADATA_FORMAT,
        "labels": list(labels),
        "violation_labels": [lab for lab in labels if lab in VIOLATION_LABELS],
        "input": {"size": [size, size], "color": "RGB", "layout": "NHWC", "dtype": "float32",
                  "scale": scale, "offset": offset, "resize": "cv2.INTER_AREA"},
        "crop_margin": args.crop_margin,
        "violation_threshold": 0.5,  # tune on your scenes: tools/check_scene_crops.py / evaluate --violation-threshold
        "folders": dict(sorted(fmap.items())),
        "training": info,
    }
    meta_path = out / f"{name}.json"
    x_ref = np.random.default_rng(1).uniform(-1, 1, (3, size, size, 3)).astype(np.float32)
    y_ref = np.asarray(model(x_ref, training=False))
    bench = benchmark(candidates, base_meta, out, name, repeats=args.bench_repeats, reference=(x_ref, y_ref))
    for e in list(candidates):
        if e not in bench["engines"]:
            notes[e] = bench.get("failed", {}).get(e, "benchmark failed")
            candidates[e].unlink(missing_ok=True)
            del candidates[e]
    if not candidates:
        raise ModelError("no exported model reproduces the Keras model: " + "; ".join(f"{k}: {v}" for k, v in notes.items()))
    engine = args.engine
    if engine == "auto":
        engine = min(bench["engines"], key=lambda e: bench["engines"][e]["score_ms"]) if bench["engines"] else next(iter(candidates))
    elif engine not in candidates:
        raise ModelError(f"--engine {engine}: export failed ({notes.get(engine, 'unavailable')})")
    bench["chosen"] = engine
    bench["notes"] = notes
    chosen = candidates[engine]
    for e, p in candidates.items():
        if e != engine and not args.keep_both:
            p.unlink(missing_ok=True)
    meta = {"format": METADATA_FORMAT, "model_file": chosen.name, "engine": engine, **{k: v for k, v in base_meta.items() if k != "format"}}
    meta["benchmark"] = bench
    meta["created"] = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    meta["versions"] = versions(tf, keras)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")

    # validation through the app runtime (what the app will actually compute)
    import cv2

    from facemask_live.classify import MaskClassifier

    clf = MaskClassifier(meta_path, threads=2)
    preds = []
    for s in range(0, len(val_files), 64):
        crops = [cv2.imdecode(np.fromfile(str(f), np.uint8), cv2.IMREAD_COLOR) for f in val_files[s : s + 64]]
        preds.append(np.argmax(clf.predict(crops), axis=1))
    y_pred = np.concatenate(preds) if preds else np.zeros(0, int)
    m = compute_metrics(np.asarray(val_y), y_pred, labels)
    parts = ([info["val"]] if info["val"] else []) + (["scene crops val split"] if info.get("scenes") else [])
    val_desc = " + ".join(parts) or f"{info['val_split']:.0%} split of {info['data']}"
    meta["validation"] = {"data": val_desc,
                          "images": int(len(val_y)), "runtime": engine, **m}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    report_dir = out / "report" if name == DEFAULT_NAME else out / f"{name}_report"
    write_reports(report_dir, np.asarray(val_y), y_pred, labels, history,
                  title=f"validation, {len(val_y)} images, {engine} runtime")
    print(format_metrics(m))
    print(f"engine: {engine}  " + "  ".join(f"{e}: {v['score_ms']:.2f} ms" for e, v in bench["engines"].items()))
    print(f"wrote {chosen}, {meta_path}, {report_dir}/")


def versions(tf, keras) -> dict:
    v = {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
         "numpy": np.__version__}
    for mod in ("onnxruntime", "tf2onnx", "onnx", "ai_edge_litert", "cv2"):
        try:
            m = __import__(mod)
            v[mod] = getattr(m, "__version__", "?")
        except Exception:  # noqa: BLE001
            pass
    return v


def benchmark(candidates: dict, base_meta: dict, out: Path, name: str, repeats: int = 40, reference=None) -> dict:
    """Median latency of one runtime call (preprocessed batch) for 1 and 4 crops at 1 and 2 threads.

    With reference=(x, y) each engine's output on x must match y (the Keras output) first."""
    from facemask_live.classify import MaskClassifier

    size = base_meta["input"]["size"]
    res = {"what": "median ms per runtime call on a preprocessed batch, this machine", "cpu": platform.processor() or platform.machine(),
           "cpu_count": os.cpu_count(), "engines": {}}
    rng = np.random.default_rng(0)
    for engine, path in candidates.items():
        tmp_meta = out / f".{name}.{engine}.bench.json"
        tmp_meta.write_text(json.dumps({**base_meta, "model_file": path.name, "engine": engine}))
        try:
            r = {}
            if reference is not None:
                got = MaskClassifier(tmp_meta, threads=1).infer(reference[0])
                err = float(np.max(np.abs(got - reference[1]))) if np.all(np.isfinite(got)) else float("inf")
                if not err < 1e-3:
                    raise ModelError(f"output differs from the Keras model (max abs diff {err:g})")
                r["max_abs_diff_vs_keras"] = err
            for threads in (1, 2):
                clf = MaskClassifier(tmp_meta, threads=threads)
                for n in (1, 4):
                    x = rng.uniform(-1, 1, (n, size[0], size[1], 3)).astype(np.float32)
                    for _ in range(5):
                        clf.infer(x)
                    ts = []
                    for _ in range(repeats):
                        t = time.perf_counter()
                        clf.infer(x)
                        ts.append((time.perf_counter() - t) * 1000)
                    r[f"batch{n}_threads{threads}_ms"] = round(float(np.median(ts)), 3)
            r["score_ms"] = round(float(np.mean([v for k, v in r.items() if k.endswith("_ms")])), 3)
            r["file_bytes"] = path.stat().st_size
            res["engines"][engine] = r
            print(f"benchmark {engine}: {r}", file=sys.stderr)
        except Exception as e:  # noqa: BLE001
            res.setdefault("failed", {})[engine] = str(e)[:200]
            print(f"warning: {engine} model rejected: {e}", file=sys.stderr)
        finally:
            tmp_meta.unlink(missing_ok=True)
    return res


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="train_mobilenet.py",
        description="Train the MobileNetV2 face-mask classifier (default subcommand 'train') or "
        "evaluate a trained model with the app's runtime ('evaluate').",
    )
    sub = p.add_subparsers(dest="command")
    t = sub.add_parser("train", help="train a classifier on an image-folder dataset (default)")
    t.add_argument("--data", required=True, help="image folder: one sub-folder per class")
    t.add_argument("--val", help="validation image folder (default: stratified split of --data)")
    t.add_argument("--out", default="models", help="output folder (default: models/)")
    t.add_argument("--name", default=DEFAULT_NAME, help="output file stem (default: %(default)s)")
    t.add_argument("--epochs", type=int, default=4, help="epochs for the new head on the frozen base")
    t.add_argument("--fine-tune-epochs", type=int, default=8, help="epochs fine-tuning the top of the base")
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--input-size", type=int, default=128, help="square input size in pixels (default 128: fast, faces are small)")
    t.add_argument("--lr", type=float, default=1e-3, help="learning rate of the head stage")
    t.add_argument("--fine-tune-lr-factor", type=float, default=0.1, help="fine-tune lr = lr * this")
    t.add_argument("--fine-tune-layers", type=int, default=60, help="number of top base layers to unfreeze (<=0: all)")
    t.add_argument("--dropout", type=float, default=0.3)
    t.add_argument("--patience", type=int, default=3, help="early stopping patience (epochs without val-loss gain)")
    t.add_argument("--scenes", nargs="+", metavar="DIR",
                   help="PASCAL VOC scene folders (images/, annotations/): face crops are cut with --crop-margin, "
                   "split by source image into train/val/test (--scene-split) and added to training/validation")
    t.add_argument("--scene-split", type=float, nargs=3, default=[0.7, 0.15, 0.15], metavar=("TRAIN", "VAL", "TEST"),
                   help="fractions of scene faces per split (default 0.7 0.15 0.15)")
    t.add_argument("--scene-crops", metavar="DIR", help="where the scene crops are written (default: OUT/.scene_crops)")
    t.add_argument("--scene-min-face", type=int, default=16, help="skip scene faces smaller than this (pixels)")
    t.add_argument("--oversample", type=float, default=0.15,
                   help="repeat small classes until each has this fraction of the largest class (0: off)")
    t.add_argument("--val-split", type=float, default=0.15, help="validation fraction when --val is not given")
    t.add_argument("--dup-threshold", type=int, default=24,
                   help="near-duplicate threshold: Hamming distance of the 256-bit dHash (default %(default)s)")
    t.add_argument("--base-weights", default="imagenet",
                   help="MobileNetV2 ImageNet no-top weights: 'imagenet' (Keras download), a local .h5 file, or 'none' (random init, tests)")
    t.add_argument("--crop-margin", type=float, default=DEFAULT_CROP_MARGIN,
                   help="margin (fraction of the box size, each side) the app adds to detector boxes (default %(default)s)")
    t.add_argument("--engine", choices=["auto", "onnxruntime", "litert"], default="auto",
                   help="runtime to ship (auto: the faster one in the benchmark)")
    t.add_argument("--keep-both", action="store_true", help="keep both the .onnx and the .tflite file")
    t.add_argument("--no-keras", action="store_true", help="do not write the .keras model")
    t.add_argument("--steps-per-epoch", type=int, default=0, help=argparse.SUPPRESS)
    t.add_argument("--bench-repeats", type=int, default=40, help="timed runtime calls per benchmark setting")
    t.add_argument("--quiet-progress", action="store_true", help="one line per epoch instead of a progress bar")
    t.add_argument("--seed", type=int, default=1337)
    x = sub.add_parser("export", help="export the best checkpoint of an interrupted/killed training run")
    x.add_argument("--out", default="models", help="the training run's output folder")
    x.add_argument("--name", default=DEFAULT_NAME)
    x.add_argument("--engine", choices=["auto", "onnxruntime", "litert"], default="auto")
    x.add_argument("--keep-both", action="store_true")
    x.add_argument("--no-keras", action="store_true")
    x.add_argument("--crop-margin", type=float, default=None)
    x.add_argument("--bench-repeats", type=int, default=40)
    e = sub.add_parser("evaluate", help="score a trained model (.json/.onnx/.tflite) on an image folder with the app runtime")
    e.add_argument("--data", required=True, help="image folder: one sub-folder per class")
    e.add_argument("--model", required=True, help="model metadata .json or the .onnx/.tflite file")
    e.add_argument("--json", help="write the metrics to this JSON file")
    e.add_argument("--threads", type=int, default=2)
    e.add_argument("--batch-size", type=int, default=32)
    for sp in (t, x, e):
        sp.add_argument("--debug", action="store_true", help="show Python tracebacks on internal errors")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in ("train", "evaluate", "export", "-h", "--help"):
        argv = ["train"] + argv
    parser = build_parser()
    if not argv:
        parser.print_help()
        return 2
    args = parser.parse_args(argv)
    commands = {"evaluate": cmd_evaluate, "export": cmd_export}
    return exit_code_of(lambda: commands.get(args.command, train)(args), debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
