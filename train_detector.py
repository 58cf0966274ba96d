#!/usr/bin/env python3
"""Fine-tune the shipped RetinaFace-MobileNet0.25 face detector on annotated (PASCAL VOC) scene photos, on the CPU.

    python train_detector.py --scenes ../shared/data/scenes-dev ../shared/data/scenes-ilc \\
        --splits facemask_live/models/report/scene_splits.json \\
        --base facemask_live/models/retinaface_mnet025.onnx --epochs 6 --seed 1337 --threads 2 --out out_detector

The ONNX file is rebuilt as a Keras model (weights from its initializers), trained on the photos of the
split's "train" list as augmented square tiles (many small faces), and exported back to ONNX with the same
input/output names: OUT/retinaface_mnet025.onnx runs in the app with ``--detector-dir OUT``. The epoch is
chosen on the "val" list (masked+unmasked recall at a fixed precision); "test" is never read. OUT/report/
holds training.json (command, seed, data, per-epoch losses and val figures), the loss curves and the val
precision-recall curves per face-size band; OUT/train.log the log. The work is done by
facemask_live.training.detector; TensorFlow is imported only once the inputs are checked.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from facemask_live.core.errors import exit_code_of  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="train_detector.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenes", nargs="+", required=True, metavar="DIR",
                   help="PASCAL VOC scene folders (images/, annotations/), named as in the splits file (e.g. scenes-dev)")
    p.add_argument("--splits", required=True, metavar="JSON",
                   help="photo-level split: a scene_splits.json with sources.train/val/test lists of '<set>/<stem>'")
    p.add_argument("--base", default=str(ROOT / "facemask_live" / "models" / "retinaface_mnet025.onnx"),
                   help="the RetinaFace ONNX file to start from (default: the shipped one)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (model, checkpoints, report, log)")
    p.add_argument("--epochs", type=int, default=6, help="passes over the train photos, one tile per photo each (default 6)")
    p.add_argument("--batch-size", type=int, default=8, help="tiles per step (default 8)")
    p.add_argument("--tile", type=int, default=480, help="side of the square training tiles in pixels (default 480)")
    p.add_argument("--mosaic", type=float, default=0.0, metavar="SHARE",
                   help="share of tiles that are a 2x2 grid of whole photos shrunk into the cells: turns large "
                   "faces into small ones in their real context (default 0: none)")
    p.add_argument("--mosaic-upscale", type=float, nargs=2, default=[1.4, 2.2], metavar=("LO", "HI"),
                   help="the grid is laid out at 1/u of the tile (u drawn from LO-HI), sometimes JPEG-compressed, then "
                   "scaled up, so its small faces are soft like those of a small photo the app scales up (default "
                   "1.4 2.2; 1 1: shrunk only, sharp)")
    p.add_argument("--lr", type=float, default=1e-3,
                   help="Adam step relative to each weight tensor's RMS (the BatchNorms are folded in, so weight scales "
                   "differ by 1000x), decayed by a cosine to 5%% (default 1e-3: 0.1%% of a layer's size per step)")
    p.add_argument("--landmark-weight", type=float, default=1.0,
                   help="weight of keeping the landmarks at the base model's on the faces (0: off, faster; default 1)")
    p.add_argument("--distill", type=float, default=0.0, metavar="W",
                   help="weight of keeping the face scores of every anchor that is not an annotated face at the base "
                   "model's (KL divergence), so new photos do not cost faces it found (default 0: off)")
    p.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                   help="score, checkpoint and export a moving average of the weights with this decay per step "
                   "(e.g. 0.995: about the last 200 steps; default 0: the weights as trained)")
    p.add_argument("--ignore-detectors", nargs="+", default=[], metavar="ONNX",
                   help="RetinaFace ONNX files that look for faces nobody annotated (score >= 0.8, IoU < 0.3 with every "
                   "annotation); their finds are pooled into ignore regions, where training neither rewards nor "
                   "punishes a detection (default: the --base model alone)")
    p.add_argument("--select-precision", type=float, default=0.9,
                   help="the best epoch has the highest val masked+unmasked recall at this precision (default 0.9)")
    p.add_argument("--ship-epoch", type=int, default=0, metavar="N",
                   help="stop after epoch N of the --epochs schedule and export it, whatever val says (N chosen on val "
                   "by an earlier run of the same recipe; default 0: val chooses the best epoch)")
    p.add_argument("--refit", action="store_true",
                   help="train on the train AND val photos (needs --ship-epoch, since val cannot choose then; the val "
                   "figures logged are of photos trained on)")
    p.add_argument("--export", choices=["graph", "tf2onnx"], default="graph",
                   help="graph: write the trained weights into the base file's own graph (same graph, same speed; "
                   "default); tf2onnx: convert the Keras model to a new ONNX graph (same names, about 10%% slower)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for TensorFlow and ONNX Runtime (default 2)")
    p.add_argument("--seed", type=int, default=1337, help="random seed (tiles, order; default 1337)")
    p.add_argument("--limit-train", type=int, default=0, metavar="N", help="only the first N train photos (a quick try; default all)")
    p.add_argument("--limit-val", type=int, default=0, metavar="N", help="only the first N val photos (a quick try; default all)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars (the log still has every epoch)")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks on internal errors")
    return p


def settings(args):
    from facemask_live.training.detector.tiles import TileSettings
    from facemask_live.training.detector.train import DetectorTrainSettings

    return DetectorTrainSettings(
        scenes=tuple(args.scenes), splits=args.splits, base=args.base, out=args.out, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, landmark_weight=args.landmark_weight, distill_weight=args.distill, ema=args.ema,
        ignore_detectors=tuple(args.ignore_detectors),
        select_precision=args.select_precision, ship_epoch=args.ship_epoch, refit=args.refit, tiles=TileSettings(size=args.tile, mosaic=args.mosaic, mosaic_upscale=tuple(args.mosaic_upscale)), export=args.export, threads=args.threads,
        seed=args.seed, limit_train=args.limit_train, limit_val=args.limit_val, progress=args.progress)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)

    def action() -> int:
        from facemask_live.training.detector.train import train

        return train(settings(args), argv)

    return exit_code_of(action, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
