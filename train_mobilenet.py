#!/usr/bin/env python3
"""Train (and evaluate) the MobileNetV2 face-mask classifier used by facemask-live.

    python train_mobilenet.py --data DIR [--val DIR] [--scenes DIR ...] --out facemask_live/models/   # train (default subcommand)
    python train_mobilenet.py evaluate --data DIR --model facemask_live/models/mask_classifier.json [--json out.json]
    python train_mobilenet.py tune --model facemask_live/models/mask_classifier.json --data VAL_DIR    # per-class prior shift
    python train_mobilenet.py export --out facemask_live/models/     # export the best checkpoint of an interrupted run

The dataset is an image folder: one sub-folder per class (two or more; any number of classes).  Folder
names map to the app's labels (with_mask -> mask, without_mask -> no_mask, mask_weared_incorrect/
incorrect_mask -> incorrect_mask, anything else keeps its name).  ``--scenes`` adds face crops cut from
PASCAL VOC annotated scenes (split by source image into train/val/test, see facemask_live/training/scenes.py).
The work is done by the package facemask_live.training; TensorFlow is imported only when training, so
``evaluate``, ``tune`` and ``--help`` are fast and score a model through the app's own runtime.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from facemask_live.core.errors import exit_code_of  # noqa: E402
from facemask_live.training.data import DEFAULT_CROP_MARGIN  # noqa: E402
from facemask_live.training.export import DEFAULT_NAME  # noqa: E402


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
    t.add_argument("--out", default="facemask_live/models", help="output folder (default: facemask_live/models/, the shipped model)")
    t.add_argument("--name", default=DEFAULT_NAME, help="output file stem (default: %(default)s)")
    t.add_argument("--epochs", type=int, default=4, help="epochs for the new head on the frozen base")
    t.add_argument("--fine-tune-epochs", type=int, default=8, help="epochs fine-tuning the top of the base")
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--input-size", type=int, default=128, help="square input size in pixels (default 128: fast, faces are small)")
    t.add_argument("--lr", type=float, default=1e-3, help="learning rate of the head stage")
    t.add_argument("--fine-tune-lr-factor", type=float, default=0.1, help="fine-tune lr = lr * this")
    t.add_argument("--fine-tune-layers", type=int, default=60, help="number of top base layers to unfreeze (<=0: all)")
    t.add_argument("--dropout", type=float, default=0.3)
    t.add_argument("--label-smoothing", type=float, default=0.0, metavar="E",
                   help="train towards 1 - E on the label and E spread over all classes, for noisy labels (default 0: "
                   "plain labels, as the shipped model; 0.1 was tried, see models/README.md)")
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
    t.add_argument("--scene-repeat", type=int, default=1, metavar="N",
                   help="show the scene train crops N times per epoch (real photos are the target domain; default 1)")
    t.add_argument("--extra-train", nargs="+", default=[], metavar="DIR",
                   help="more training-only image folders (one sub-folder per class of --data), shown --scene-repeat "
                   "times like the scene train crops; e.g. the detector's crops of the train photos from "
                   "'python -m facemask_live.evaluate ... --save-crops DIR' (never val/test photos)")
    t.add_argument("--class-weight", choices=["balanced", "none"], default="balanced",
                   help="loss weight per class after oversampling: balanced (each class weighs the same) or none")
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
    x.add_argument("--out", default="facemask_live/models", help="the training run's output folder")
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
    e.add_argument("--report", metavar="DIR/NAME",
                   help="also write DIR/NAME_classification_report.txt and DIR/NAME_confusion_matrix.png")
    e.add_argument("--violation-labels", metavar="A,B",
                   help="labels that count as a violation (default: the model's metadata)")
    u = sub.add_parser("tune", help="choose per-class prior weights on a validation folder and write them into the metadata")
    u.add_argument("--model", required=True, help="model metadata .json (updated in place)")
    u.add_argument("--data", required=True, nargs="+", help="validation image folder(s) (one sub-folder per class); not the test split")
    u.add_argument("--threads", type=int, default=2)
    u.add_argument("--max-weight", type=float, default=4.0, help="largest prior weight tried per class (default 4)")
    u.add_argument("--labels", metavar="A,B", help="labels whose weights are tuned (default: all but the first; others keep 1)")
    u.add_argument("--keep", nargs="+", default=[], metavar="DIR",
                   help="folder(s) whose mask-vs-violation balanced accuracy must stay >= 0.99 (every crop; e.g. masks-2class/val)")
    for sp in (e, u):
        sp.add_argument("--min-height", type=int, default=0, metavar="PX",
                        help="only crops of faces at least PX high (crop height / (1 + 2 * crop_margin); default: all)")
    for sp in (t, x, e, u):
        sp.add_argument("--debug", action="store_true", help="show Python tracebacks on internal errors")
    return p


def train_settings(args):
    from facemask_live.training.model import StageSettings
    from facemask_live.training.train import TrainSettings

    stages = StageSettings(args.epochs, args.fine_tune_epochs, args.lr, args.fine_tune_lr_factor, args.fine_tune_layers,
                           args.patience, args.steps_per_epoch, 2 if args.quiet_progress else 1, args.label_smoothing)
    return TrainSettings(
        data=args.data, out=args.out, val=args.val, name=args.name, scenes=tuple(args.scenes or ()),
        scene_split=tuple(args.scene_split), scene_crops=args.scene_crops, scene_min_face=args.scene_min_face,
        oversample=args.oversample, scene_repeat=args.scene_repeat, extra_train=tuple(args.extra_train), class_weight=args.class_weight, stages=stages, batch_size=args.batch_size, input_size=args.input_size,
        dropout=args.dropout, val_split=args.val_split, dup_threshold=args.dup_threshold,
        base_weights=args.base_weights, crop_margin=args.crop_margin, engine=args.engine, keep_both=args.keep_both,
        keras_file=not args.no_keras, bench_repeats=args.bench_repeats, seed=args.seed)


def run_command(args, argv: list[str]) -> int:
    from facemask_live.training.data import DataError

    if args.command == "evaluate":
        from facemask_live.training.evaluate import evaluate_folder

        evaluate_folder(args.model, args.data, args.threads, args.batch_size, split_labels(args.violation_labels),
                        args.json, args.min_height, args.report)
        return 0
    if args.command == "tune":
        from facemask_live.training.thresholds import tune_model

        tune_model(args.model, args.data, args.threads, args.max_weight, args.min_height, split_labels(args.labels),
                   args.keep)
        return 0
    if args.command == "export":
        from facemask_live.training.train import ExportSettings, export_checkpoint

        return export_checkpoint(ExportSettings(args.out, args.name, args.engine, args.keep_both, not args.no_keras,
                                                args.crop_margin, args.bench_repeats))
    from facemask_live.training.train import train

    try:
        settings = train_settings(args)
    except ValueError as e:
        raise DataError(str(e)) from None
    return train(settings, argv[1:] if argv and argv[0] == "train" else argv)


def split_labels(text: str | None) -> list[str] | None:
    return None if not text else [x.strip() for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in ("train", "evaluate", "export", "tune", "-h", "--help"):
        argv = ["train"] + argv
    parser = build_parser()
    if not argv:
        parser.print_help()
        return 2
    args = parser.parse_args(argv)
    return exit_code_of(lambda: run_command(args, argv), debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
