#!/usr/bin/env python3
"""Make int8 copies of the face detector and the mask classifier (ONNX Runtime static quantization).

    python tools/quantize_models.py detector --out /tmp/int8/retinaface_mnet025_masked.onnx
    python tools/quantize_models.py classifier --out /tmp/int8/mask_classifier_int8.onnx

Calibration images come from the TRAIN split of the scene sets only (the source images listed under
``train`` in ``facemask_live/models/report/scene_splits.json``), so that the val and test splits that
``python -m facemask_live.evaluate`` scores stay unseen. The images are taken in name order, every k-th
one to reach ``--images``: the same files give the same int8 model.

- ``detector``: the RetinaFace ONNX file (default: the shipped ``retinaface_mnet025_masked.onnx``) fed the
  calibration images exactly as the app feeds a frame (longer side resized to ``--size``, BGR minus mean).
- ``classifier``: the LiteRT classifier is first converted to ONNX (tf2onnx, a build-time tool: the live app
  never imports TensorFlow), then calibrated on the face crops cut from the VOC boxes as the app cuts them;
  writes OUT and OUT's ``.json`` metadata (the shipped metadata with ``model_file`` and ``engine`` changed).

What was measured with these files, and whether they are shipped: docs/performance.md, "int8 models".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPLITS = ROOT / "facemask_live" / "models" / "report" / "scene_splits.json"
MODELS = ROOT / "facemask_live" / "models"


def train_images(splits: Path, count: int) -> list[tuple[Path, Path]]:
    """(image, VOC annotation) pairs of the train split, name order, evenly thinned to ``count``."""
    manifest = json.loads(splits.read_text())
    folders = {}
    for f in map(Path, manifest["settings"]["scenes"]):  # as tools/scene_split_folders.py finds them
        folders[f.name] = f if f.is_dir() else ROOT.parent / "shared" / "data" / f.name
    pairs = []
    for source in sorted(manifest["sources"]["train"]):
        set_name, stem = source.split("/", 1)
        images = sorted((folders[set_name] / "images").glob(f"{stem}.*"))
        xml = folders[set_name] / "annotations" / f"{stem}.xml"
        if images and xml.is_file():
            pairs.append((images[0], xml))
    if not pairs:
        raise SystemExit(f"error: no train images found from {splits}")
    step = max(1, len(pairs) // count)
    return pairs[::step][:count]


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over a list of input arrays, with a progress bar."""

    def __init__(self, name: str, arrays, what: str):
        from tqdm import tqdm

        self._it = iter(tqdm(arrays, desc=f"calibrating on {what}", unit="batch"))
        self._name = name

    def get_next(self):
        x = next(self._it, None)
        return None if x is None else {self._name: x}

    def rewind(self):  # pragma: no cover - MinMax reads once
        pass


def detector_batches(pairs, size: int):
    import cv2

    from facemask_live.detection.detect import RETINAFACE_MEAN_BGR

    for image, _ in pairs:
        img = cv2.imread(str(image))
        if img is None:
            continue
        h, w = img.shape[:2]
        f = size / max(h, w)
        iw, ih = max(1, round(w * f)), max(1, round(h * f))
        resized = cv2.resize(img, (iw, ih), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
        yield cv2.dnn.blobFromImage(resized, 1.0, (iw, ih), RETINAFACE_MEAN_BGR)


def classifier_batches(pairs, classifier):
    import cv2

    from facemask_live.core.geometry import crop
    from facemask_live.sources.voc import read_voc

    for image, xml in pairs:
        img = cv2.imread(str(image))
        if img is None:
            continue
        crops = [c for c in (crop(img, obj.int_box, classifier.crop_margin) for obj in read_voc(xml).objects) if c.size]
        if crops:
            yield classifier.preprocess(crops).copy()  # preprocess reuses its buffer


def quantize(model: Path, out: Path, reader: _Reader, fmt: str, per_channel: bool, keep_float=(), depthwise: bool = True) -> None:
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        pre, src = Path(tmp) / "pre.onnx", onnx.load(str(model))
        if src.opset_import[0].version < 13:  # per-channel DequantizeLinear (its 'axis') needs opset 13
            src = version_converter.convert_version(src, 13)
            onnx.save(src, str(Path(tmp) / "op13.onnx"))
            model = Path(tmp) / "op13.onnx"
        # folds constants and fuses what ORT would fuse anyway, so that the quantizer sees the final graph
        quant_pre_process(str(model), str(pre), skip_symbolic_shape=True)
        graph = onnx.load(str(pre)).graph
        excluded = [n.name for n in graph.node if keep_float and n.name.startswith(tuple(keep_float))]
        if not depthwise:  # depthwise convolutions (group > 1) stay float (tried: lost more, docs/performance.md)
            excluded += [n.name for n in graph.node if n.op_type == "Conv"
                         and any(a.name == "group" and a.i > 1 for a in n.attribute)]
        out.parent.mkdir(parents=True, exist_ok=True)
        quantize_static(
            str(pre), str(out), reader,
            quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
            per_channel=per_channel,
            activation_type=QuantType.QUInt8,  # u8 activations x s8 weights: the fast VNNI / AVX2 kernels
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,  # Percentile/Entropy need one input shape; frames vary
            nodes_to_exclude=excluded,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )


def tflite_to_onnx(tflite: Path, out: Path) -> None:
    """The LiteRT classifier as ONNX, NHWC input kept (what MaskClassifier feeds both engines)."""
    cmd = [sys.executable, "-m", "tf2onnx.convert", "--tflite", str(tflite), "--output", str(out), "--opset", "13"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not out.is_file():
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"error: tf2onnx could not convert {tflite}: {tail}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", choices=["detector", "classifier"], help="which model to quantize")
    p.add_argument("--out", required=True, help="the int8 .onnx file to write")
    p.add_argument("--source", help="the float model (default: the shipped retinaface_mnet025_masked.onnx, "
                                    "or the shipped classifier's metadata .json)")
    p.add_argument("--splits", default=str(SPLITS), help="scene_splits.json whose train split calibrates (default: the shipped)")
    p.add_argument("--images", type=int, default=120, help="calibration images (default: 120)")
    p.add_argument("--size", type=int, default=700, help="detector: longer side of the network input (default: 700, the app's)")
    p.add_argument("--format", choices=["qdq", "qoperator"], default="qdq", help="ONNX quantized graph format (default: qdq)")
    p.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor instead of per output channel")
    p.add_argument("--keep-float", nargs="*", default=None, metavar="PREFIX",
                   help="leave the nodes whose name starts with one of these in float32 (default: none)")
    p.add_argument("--float-depthwise", action="store_true", help="leave depthwise convolutions in float32")
    args = p.parse_args(argv)
    if args.images < 1:
        print("error: --images must be >= 1", file=sys.stderr)
        return 2
    try:
        pairs = train_images(Path(args.splits), args.images)
    except (OSError, ValueError, KeyError) as e:
        print(f"error: cannot read the train split from {args.splits}: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if args.model == "detector":
        src = Path(args.source) if args.source else MODELS / "retinaface_mnet025_masked.onnx"
        if not src.is_file():
            print(f"error: detector model not found: {src}", file=sys.stderr)
            return 2
        quantize(src, out, _Reader("input", list(detector_batches(pairs, args.size)), "train images"), args.format, not args.per_tensor,
                 args.keep_float or (), not args.float_depthwise)
        print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) from {src.name}, {len(pairs)} train images")
        return 0
    from facemask_live.core.errors import ModelError
    from facemask_live.detection.classify import MaskClassifier

    meta_path = Path(args.source) if args.source else MODELS / "mask_classifier.json"
    try:
        clf = MaskClassifier(meta_path)
    except ModelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        if clf.engine == "litert":
            tflite_to_onnx(clf.model_path, fp32)
        else:
            fp32 = clf.model_path
        batches = list(classifier_batches(pairs, clf))
        quantize(fp32, out, _Reader(_input_name(fp32), batches, "train face crops"), args.format, not args.per_tensor,
                 args.keep_float or (), not args.float_depthwise)
    meta = dict(clf.metadata, model_file=out.name, engine="onnxruntime",
                quantized={"from": clf.model_path.name, "tool": "tools/quantize_models.py", "format": args.format,
                           "calibration": f"{len(pairs)} train-split scene images, {sum(len(b) for b in batches)} face crops"})
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) and {out.with_suffix('.json').name}")
    return 0


def _input_name(model: Path) -> str:
    import onnx

    return onnx.load(str(model), load_external_data=False).graph.input[0].name


if __name__ == "__main__":
    sys.exit(main())
