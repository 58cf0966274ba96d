"""Export a trained Keras model to LiteRT (and ONNX), check and benchmark both in the app's runtimes, ship
one, write its metadata and the validation report."""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facemask_live.core.errors import ModelError

from .benchmark import benchmark, versions
from .report import compute_metrics, format_metrics, violation_metrics, write_reports

METADATA_FORMAT = "facemask-live-classifier/1"
DEFAULT_NAME = "mask_classifier"
VIOLATION_LABELS = ("no_mask", "incorrect_mask")


@dataclass
class ExportJob:
    """Everything the export needs besides the model (also rebuilt from a checkpoint's state file)."""

    labels: list[str]
    folders: dict[str, str]  # dataset folder name -> label
    size: int
    scale: float
    offset: float
    crop_margin: float
    info: dict  # training information written into the metadata
    history: dict
    out: Path
    name: str = DEFAULT_NAME
    engine: str = "auto"  # auto | litert | onnxruntime
    keep_both: bool = False
    bench_repeats: int = 40
    val_files: list[Path] = field(default_factory=list)
    val_y: np.ndarray = field(default_factory=lambda: np.zeros(0, int))

    @property
    def report_dir(self) -> Path:
        """OUT/report for the default model, OUT/report/NAME for another (report/ is left out of the wheel)."""
        return self.out / "report" if self.name == DEFAULT_NAME else self.out / "report" / self.name


def _first_line(e: BaseException) -> str:
    return str(e).splitlines()[0][:200] if str(e) else type(e).__name__


def to_litert(tf, model, path: Path) -> None:
    # from_concrete_functions on a Keras 3 model silently drops the variables (NaN output);
    # go through a SavedModel export instead.
    tmp = Path(tempfile.mkdtemp(prefix="facemask_export_"))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            model.export(str(tmp / "saved"), format="tf_saved_model", verbose=False)
        path.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(tmp / "saved")).convert())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def to_onnx(tf, model, path: Path, size: int) -> None:
    import tf2onnx

    spec = tf.TensorSpec([None, size, size, 3], tf.float32, name="image")

    @tf.function(input_signature=[spec])
    def serve(x):
        return {"probs": model(x, training=False)}

    tf2onnx.convert.from_function(serve, input_signature=[spec], opset=17, output_path=str(path))


def convert(tf, model, job: ExportJob) -> tuple[dict[str, Path], dict[str, str]]:
    """Both conversions; returns (engine -> file, engine -> why it failed)."""
    candidates, notes = {}, {}
    wanted = ("litert", "onnxruntime") if job.engine == "auto" or job.keep_both else (job.engine,)
    for engine in wanted:
        path = job.out / f"{job.name}.{'tflite' if engine == 'litert' else 'onnx'}"
        try:
            if engine == "litert":
                to_litert(tf, model, path)
            else:
                to_onnx(tf, model, path, job.size)
            candidates[engine] = path
        except Exception as e:  # noqa: BLE001 - any converter failure: try the other runtime
            notes[engine] = f"conversion failed: {_first_line(e)}"
            print(f"warning: {engine}: {notes[engine]}", file=sys.stderr)
    if not candidates:
        raise ModelError("could not export the model to LiteRT or ONNX (see warnings above)")
    return candidates, notes


def base_metadata(job: ExportJob) -> dict:
    return {
        "format": METADATA_FORMAT,
        "labels": list(job.labels),
        "violation_labels": [lab for lab in job.labels if lab in VIOLATION_LABELS],
        "input": {"size": [job.size, job.size], "color": "RGB", "layout": "NHWC", "dtype": "float32",
                  "scale": job.scale, "offset": job.offset, "resize": "cv2.INTER_AREA"},
        "crop_margin": job.crop_margin,
        "violation_threshold": 0.5,  # tune on your scenes: tools/check_scene_crops.py / evaluate --violation-threshold
        "folders": dict(sorted(job.folders.items())),
        "training": job.info,
    }


def choose_engine(candidates: dict[str, Path], notes: dict, bench: dict, job: ExportJob) -> str:
    """Drop engines whose output differs from Keras, then the requested (or the fastest) one."""
    for e in list(candidates):
        if e not in bench["engines"]:
            notes[e] = bench.get("failed", {}).get(e, "benchmark failed")
            candidates.pop(e).unlink(missing_ok=True)
    if not candidates:
        raise ModelError("no exported model reproduces the Keras model: " + "; ".join(f"{k}: {v}" for k, v in notes.items()))
    if job.engine == "auto":
        return min(bench["engines"], key=lambda e: bench["engines"][e]["score_ms"])
    if job.engine not in candidates:
        raise ModelError(f"--engine {job.engine}: export failed ({notes.get(job.engine, 'unavailable')})")
    return job.engine


def validate(meta_path: Path, job: ExportJob) -> tuple[dict, np.ndarray]:
    """Score the validation images through the app runtime (what the app will actually compute)."""
    import cv2

    from facemask_live.detection.classify import MaskClassifier

    clf = MaskClassifier(meta_path, threads=2)
    preds = []
    for s in range(0, len(job.val_files), 64):
        crops = [cv2.imdecode(np.fromfile(str(f), np.uint8), cv2.IMREAD_COLOR) for f in job.val_files[s : s + 64]]
        preds.append(np.argmax(clf.predict(crops), axis=1))
    y_pred = np.concatenate(preds) if preds else np.zeros(0, int)
    m = compute_metrics(np.asarray(job.val_y), y_pred, job.labels)
    m.update(violation_metrics([job.labels[i] for i in job.val_y], [job.labels[i] for i in y_pred],
                               clf.violation_labels))
    return m, y_pred


def export_all(tf, keras, model, job: ExportJob) -> Path:
    """Convert, benchmark, ship one runtime, write metadata and report; returns the metadata path."""
    candidates, notes = convert(tf, model, job)
    base_meta = base_metadata(job)
    x_ref = np.random.default_rng(1).uniform(-1, 1, (3, job.size, job.size, 3)).astype(np.float32)
    y_ref = np.asarray(model(x_ref, training=False))
    bench = benchmark(candidates, base_meta, job.out, job.name, repeats=job.bench_repeats, reference=(x_ref, y_ref))
    engine = choose_engine(candidates, notes, bench, job)
    bench.update(chosen=engine, notes=notes)
    chosen = candidates[engine]
    for e, p in candidates.items():
        if e != engine and not job.keep_both:
            p.unlink(missing_ok=True)
    meta = {"format": METADATA_FORMAT, "model_file": chosen.name, "engine": engine,
            **{k: v for k, v in base_meta.items() if k != "format"}}
    meta["benchmark"] = bench
    meta["created"] = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    meta["versions"] = versions(tf, keras)
    meta_path = job.out / f"{job.name}.json"
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")

    m, y_pred = validate(meta_path, job)
    meta["validation"] = {"data": validation_description(job.info), "images": int(len(job.val_y)),
                          "runtime": engine, **m}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    write_reports(job.report_dir, np.asarray(job.val_y), y_pred, job.labels, job.history,
                  title=f"validation, {len(job.val_y)} images, {engine} runtime")
    print(format_metrics(m))
    print(f"engine: {engine}  " + "  ".join(f"{e}: {v['score_ms']:.2f} ms" for e, v in bench["engines"].items()))
    print(f"wrote {chosen}, {meta_path}, {job.report_dir}/")
    return meta_path


def validation_description(info: dict) -> str:
    parts = ([info["val"]] if info.get("val") else []) + (["scene crops val split"] if info.get("scenes") else [])
    return " + ".join(parts) or f"{info['val_split']:.0%} split of {info['data']}"
