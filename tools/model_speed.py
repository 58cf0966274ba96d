#!/usr/bin/env python3
"""Models alone, A/B: ms per frame of several detector files, classifiers or session settings on the same frames.

    python tools/model_speed.py --clip ../shared/media/videos/street_nomask.mp4 \\
        --model fp32=facemask_live/models/retinaface_mnet025_masked.onnx --model int8=/tmp/int8/retinaface.onnx
    python tools/model_speed.py --classifier litert=facemask_live/models/mask_classifier.json \\
        --classifier int8=/tmp/int8/mask_classifier_int8.json --faces 4

``--model``: a RetinaFace ONNX file, run as the app's detector (``--size``); ``--classifier``: a classifier
metadata .json, run on ``--faces`` crops of each frame in one call (as the app classifies a frame's faces).

Every variant is loaded once; then ``--rounds`` rounds run each variant over the same ``--frames`` decoded frames,
variants interleaved and their order rotated every round, so that a neighbour's load on a shared machine falls
on all of them alike. Prints the median and p90 ms per frame of each variant with 1 thread and with all threads,
spinning on and off (``session.intra_op.allow_spinning``), and its ratio to the first. Decoding is not timed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def read_frames(clip: str, count: int):
    import cv2

    cap = cv2.VideoCapture(clip)
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clip", default=str(ROOT.parent / "shared" / "media" / "videos" / "street_nomask.mp4"))
    p.add_argument("--model", action="append", default=[], metavar="NAME=FILE", help="a detector variant (repeat)")
    p.add_argument("--classifier", action="append", default=[], metavar="NAME=JSON", help="a classifier variant (repeat)")
    p.add_argument("--faces", type=int, default=4, help="classifier: crops per call (default: 4)")
    p.add_argument("--frames", type=int, default=20, help="frames per round (default: 20)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default: 5)")
    p.add_argument("--size", type=int, default=700, help="detector input size (default: 700, the app's)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1], help="thread counts (default: 1 and all)")
    p.add_argument("--spinning", choices=["on", "off", "both"], default="both", help="allow_spinning settings to compare")
    args = p.parse_args(argv)
    from tqdm import tqdm

    from facemask_live.core.errors import ModelError
    from facemask_live.detection.classify import MaskClassifier, onnx_session
    from facemask_live.detection.detect import RetinaFaceDetector

    frames = read_frames(args.clip, args.frames)
    if not frames:
        print(f"error: no frame could be read from {args.clip}", file=sys.stderr)
        return 2
    spins = {"on": [True], "off": [False], "both": [True, False]}[args.spinning]
    if not args.model and not args.classifier:
        print("error: give at least one --model or --classifier", file=sys.stderr)
        return 2
    h, w = frames[0].shape[:2]
    side = min(h, w) // 4
    boxes = [(i * w // max(args.faces, 1), h // 3, i * w // max(args.faces, 1) + side, h // 3 + side) for i in range(args.faces)]

    def load(kind: str, file: Path, t: int, spin: bool):
        if kind == "detector":
            det = RetinaFaceDetector(input_size=args.size, threads=t, name="retinaface-masked")
            det.session = onnx_session(file, t, "face detector model", spinning=spin)  # the variant's file
            return det.detect
        clf = MaskClassifier(file, threads=t)
        if clf.engine == "onnxruntime":
            clf._sess = onnx_session(clf.model_path, t, "classifier model", spinning=spin)
        return lambda frame: clf.predict([frame[y1:y2, x1:x2] for x1, y1, x2, y2 in boxes])

    variants = {}
    for kind, specs in (("detector", args.model), ("classifier", args.classifier)):
        for spec in specs:
            name, _, file = spec.partition("=")
            if not file or not Path(file).is_file():
                print(f"error: a variant wants NAME=FILE with an existing file, got {spec!r}", file=sys.stderr)
                return 2
            for t in args.threads:
                for spin in spins:
                    try:
                        run = load(kind, Path(file), t, spin)
                    except ModelError as e:
                        print(f"error: {e}", file=sys.stderr)
                        return 2
                    run(frames[0])  # warm-up: first-run allocations are not what a camera pays
                    variants[(name, t, spin)] = run
    times: dict = {k: [] for k in variants}
    keys = list(variants)
    for r in tqdm(range(args.rounds), desc="rounds"):
        shift = r % len(keys)
        for key in keys[shift:] + keys[:shift]:
            run = variants[key]
            for frame in frames:
                t0 = time.perf_counter()
                run(frame)
                times[key].append((time.perf_counter() - t0) * 1000)
    base: dict = {}
    print(f"{len(frames)} frames of {Path(args.clip).name} x {args.rounds} rounds, input {args.size}; load {os.getloadavg()[0]:.1f}")
    print(f"{'variant':<12} {'threads':>7} {'spin':>5} {'median ms':>10} {'p90 ms':>8} {'vs first':>9}")
    for key in keys:
        name, t, spin = key
        ts = sorted(times[key])
        med = statistics.median(ts)
        base.setdefault((t, spin), med)
        print(f"{name:<12} {t:>7} {'on' if spin else 'off':>5} {med:>10.1f} {ts[int(0.9 * (len(ts) - 1))]:>8.1f} "
              f"{med / base[(t, spin)]:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
