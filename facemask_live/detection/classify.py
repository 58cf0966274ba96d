"""Face-mask classifier runtime: all face crops of a frame in ONE batched call.

The model is a MobileNetV2 exported by ``train_mobilenet.py`` to ONNX (run with onnxruntime) or
LiteRT/TFLite (run with ai_edge_litert), described by a metadata JSON file
(``facemask-live-classifier/1``).  This module never imports TensorFlow or Keras, never unpickles
and never executes anything from a model file.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from facemask_live.core.errors import ModelError
from facemask_live.detection.model_files import classifier_metadata

METADATA_FORMAT = "facemask-live-classifier/1"
DEFAULT_MODEL_STEM = "mask_classifier"
ENGINES = ("onnxruntime", "litert")
_SUFFIX_ENGINE = {".onnx": "onnxruntime", ".tflite": "litert"}
_REQUIRED_KEYS = ("labels", "input")


def default_model_path() -> Path:
    """The classifier metadata used when no --model is given (``$FACEMASK_MODELS`` or the package's models)."""
    return classifier_metadata()


@contextlib.contextmanager
def _native_stderr_silenced():
    """Send what native code writes to fd 2 to /dev/null for the duration (Python exceptions are unaffected)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _not_found(path: Path) -> ModelError:
    return ModelError(f"classifier model not found: {path} (train one with train_mobilenet.py or pass --model)")


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    msg = text[0] if text else type(e).__name__
    return msg[:200]


def onnx_session(path: Path, threads: int, what: str, spinning: bool = False):
    """An onnxruntime CPU session on ``path`` with ``threads`` intra-op threads; ModelError if it cannot load.

    ``spinning``: let idle pool threads busy-wait for work. Off by default: on two cores shared by many camera
    threads a spinning pool burns the CPU the other threads need (docs/performance.md, "int8 models")."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelError("onnxruntime is not installed (pip install onnxruntime)") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - onnxruntime raises several private exception types
        raise ModelError(f"cannot load {what} {path}: corrupt or not an ONNX model ({_one_line(e)})") from None


class MaskClassifier:
    """Batched mask classifier.

    ``MaskClassifier(path, threads=1)``: *path* is the metadata ``.json`` or the ``.onnx``/``.tflite``
    model (the metadata is then the same stem + ``.json``).

    ``violation_threshold`` (default: the metadata's ``violation_threshold``, else 0.5): the
    probability of the violation labels from which a face counts as a violation. The returned
    probabilities are rescaled to match (a prior shift: violation columns times ``(1 - t) / t``, rows
    normalised again), so that the most probable label, the tracker's vote over frames and the recorded
    ``probs`` all agree; with two classes a face is ``no_mask`` exactly when the model's own
    ``p(no_mask) >= t``. At 0.5 the probabilities are the model's softmax unchanged.

    ``prior_weights`` in the metadata (``{label: w}``, default 1): a per-class prior shift chosen on a
    validation split when the model was trained (e.g. to move the mask / below-the-nose boundary); applied
    before the violation threshold. ``violation_labels`` (default: the metadata's, else ``no_mask`` and
    ``incorrect_mask``): the labels that count as a violation; each must be one of the model's labels."""

    labels: list[str]
    violation_labels: frozenset[str]
    input_size: tuple[int, int]  # (H, W)
    crop_margin: float
    violation_threshold: float

    def __init__(self, model_path: str | Path, threads: int = 1, violation_threshold: float | None = None,
                 violation_labels: Iterable[str] | None = None):
        path = Path(model_path)
        if path.suffix.lower() == ".json":
            meta_path = path
            if not meta_path.is_file():
                raise _not_found(meta_path)
            meta = self._read_metadata(meta_path)
            model_file = meta.get("model_file")
            if not isinstance(model_file, str) or not model_file:
                raise ModelError(f"classifier metadata {meta_path} has no 'model_file'")
            model = meta_path.parent / model_file
        else:
            model = path
            if not model.is_file():
                raise _not_found(model)
            meta_path = model.with_suffix(".json")
            if not meta_path.is_file():
                raise ModelError(f"classifier metadata not found: {meta_path} (expected next to {model.name})")
            meta = self._read_metadata(meta_path)
        if not model.is_file():
            raise _not_found(model)
        self.model_path = model
        self.metadata_path = meta_path
        self.metadata = meta
        engine = meta.get("engine") or _SUFFIX_ENGINE.get(model.suffix.lower())
        if engine not in ENGINES:
            raise ModelError(f"classifier metadata {meta_path}: unknown engine {engine!r} (use onnxruntime or litert)")
        self.engine = engine
        self.threads = max(1, int(threads))
        self._parse_metadata(meta, meta_path)
        if violation_threshold is not None:
            if not 0.0 < violation_threshold < 1.0:
                raise ModelError(f"violation threshold must be between 0 and 1 (exclusive), got {violation_threshold}")
            self.violation_threshold = float(violation_threshold)
        if violation_labels is not None:
            self.violation_labels = self._check_violation_labels(violation_labels, "violation labels")
        self._set_prior_shift()
        self._batch_buf: np.ndarray | None = None
        self._tfl_batch = -1
        if engine == "onnxruntime":
            self._load_onnx()
        else:
            self._load_litert()

    # ---------------------------------------------------------------- metadata
    @staticmethod
    def _read_metadata(meta_path: Path) -> dict:
        try:
            text = meta_path.read_text(encoding="utf-8")
        except OSError as e:
            raise ModelError(f"cannot read classifier metadata {meta_path}: {e.strerror or e}") from None
        except UnicodeDecodeError:
            raise ModelError(f"classifier metadata {meta_path} is not a UTF-8 JSON file") from None
        try:
            meta = json.loads(text)
        except json.JSONDecodeError as e:
            raise ModelError(f"classifier metadata {meta_path} is not valid JSON ({e.msg} at line {e.lineno})") from None
        if not isinstance(meta, dict):
            raise ModelError(f"classifier metadata {meta_path} must be a JSON object")
        fmt = meta.get("format")
        if fmt is not None and fmt != METADATA_FORMAT:
            raise ModelError(f"classifier metadata {meta_path}: unsupported format {fmt!r} (expected {METADATA_FORMAT})")
        missing = [k for k in _REQUIRED_KEYS if k not in meta]
        if missing:
            raise ModelError(f"classifier metadata {meta_path} is missing key(s): {', '.join(missing)}")
        return meta

    def _parse_metadata(self, meta: dict, meta_path: Path) -> None:
        bad = f"classifier metadata {meta_path}"
        labels = meta["labels"]
        if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) and x for x in labels):
            raise ModelError(f"{bad}: 'labels' must be a list of two or more label names")
        if len(set(labels)) != len(labels):
            raise ModelError(f"{bad}: 'labels' contains duplicates")
        self.labels = list(labels)
        viol = meta.get("violation_labels", [x for x in labels if x in ("no_mask", "incorrect_mask")])
        if not isinstance(viol, list) or not all(isinstance(x, str) for x in viol):
            raise ModelError(f"{bad}: 'violation_labels' must be a list of label names")
        self.violation_labels = self._check_violation_labels(viol, bad)
        self._class_weights = self._parse_prior_weights(meta.get("prior_weights"), bad)
        inp = meta["input"]
        try:
            h, w = (int(v) for v in inp["size"])
            self.scale = float(inp.get("scale", 1.0))
            self.offset = float(inp.get("offset", 0.0))
            color = str(inp.get("color", "RGB")).upper()
            layout = str(inp.get("layout", "NHWC")).upper()
            dtype = str(inp.get("dtype", "float32")).lower()
        except (TypeError, ValueError, KeyError):
            raise ModelError(f"{bad}: 'input' needs 'size': [H, W] and numeric 'scale'/'offset'") from None
        if h <= 0 or w <= 0:
            raise ModelError(f"{bad}: input size must be positive, got {h}x{w}")
        if color not in ("RGB", "BGR"):
            raise ModelError(f"{bad}: input color must be RGB or BGR, got {color}")
        if layout != "NHWC":
            raise ModelError(f"{bad}: only NHWC input layout is supported, got {layout}")
        if dtype != "float32":
            raise ModelError(f"{bad}: only float32 input is supported, got {dtype}")
        self.input_size = (h, w)
        self.color = color
        try:
            self.crop_margin = float(meta.get("crop_margin", 0.0))
        except (TypeError, ValueError):
            raise ModelError(f"{bad}: 'crop_margin' must be a number") from None
        if not 0.0 <= self.crop_margin <= 2.0:
            raise ModelError(f"{bad}: 'crop_margin' {self.crop_margin} out of range 0..2")
        t = meta.get("violation_threshold", 0.5)
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 < t < 1.0:
            raise ModelError(f"{bad}: 'violation_threshold' must be a number between 0 and 1 (exclusive), got {t!r}")
        self.violation_threshold = float(t)

    def _check_violation_labels(self, labels: Iterable[str], what: str) -> frozenset[str]:
        labels = [labels] if isinstance(labels, str) else list(labels)
        unknown = [x for x in labels if not isinstance(x, str) or x not in self.labels]
        if unknown:
            raise ModelError(f"{what}: {', '.join(map(str, unknown))} not among the model's labels "
                             f"({', '.join(self.labels)})")
        return frozenset(labels)

    def _parse_prior_weights(self, weights, bad: str) -> np.ndarray | None:
        if weights is None:
            return None
        if not isinstance(weights, dict) or not all(
            k in self.labels and isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1e3
            for k, v in weights.items()
        ):
            raise ModelError(f"{bad}: 'prior_weights' must map the model's labels to positive numbers")
        return np.array([float(weights.get(lab, 1.0)) for lab in self.labels], np.float32)

    def _set_prior_shift(self) -> None:
        """Column weights: the metadata's per-class ``prior_weights`` times the shift that moves the violation
        decision to ``violation_threshold`` (None: no change)."""
        cols = [i for i, lab in enumerate(self.labels) if lab in self.violation_labels]
        t = self.violation_threshold
        w = np.ones(len(self.labels), np.float32) if self._class_weights is None else self._class_weights.copy()
        if cols and len(cols) < len(self.labels) and abs(t - 0.5) > 1e-9:
            w[cols] *= (1.0 - t) / t
        self._prior: np.ndarray | None = None if np.allclose(w, 1.0) else w

    def _check_io(self, in_shape, out_shape) -> None:
        h, w = self.input_size
        name = self.model_path
        if len(in_shape) != 4 or _dim(in_shape[3]) != 3:
            raise ModelError(f"classifier model {name}: input shape {list(in_shape)} is not NHWC with 3 channels")
        mh, mw = _dim(in_shape[1]), _dim(in_shape[2])
        if (mh is not None and mh != h) or (mw is not None and mw != w):
            raise ModelError(f"classifier model {name}: input is {mh}x{mw} but the metadata says {h}x{w}")
        n_out = _dim(out_shape[-1]) if len(out_shape) else None
        if len(out_shape) != 2 or (n_out is not None and n_out != len(self.labels)):
            raise ModelError(
                f"classifier model {name}: output shape {list(out_shape)} does not match the "
                f"{len(self.labels)} labels in the metadata ({', '.join(self.labels)})"
            )

    # ---------------------------------------------------------------- engines
    def _load_onnx(self) -> None:
        sess = onnx_session(self.model_path, self.threads, "classifier model")
        ins, outs = sess.get_inputs(), sess.get_outputs()
        if len(ins) != 1 or len(outs) < 1:
            raise ModelError(f"classifier model {self.model_path}: expected one input and one output")
        self._check_io(ins[0].shape, outs[0].shape)
        self._sess = sess
        self._in_name = ins[0].name
        self._out_name = outs[0].name

    def _load_litert(self) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise ModelError("ai-edge-litert is not installed (pip install ai-edge-litert)") from None
        try:
            with _native_stderr_silenced():  # LiteRT prints "INFO: Created ... XNNPACK delegate" on fd 2
                interp = Interpreter(model_path=str(self.model_path), num_threads=self.threads)
            inp = interp.get_input_details()
            out = interp.get_output_details()
        except Exception as e:  # noqa: BLE001 - the interpreter raises ValueError/RuntimeError
            raise ModelError(f"cannot load classifier model {self.model_path}: corrupt or not a LiteRT model ({_one_line(e)})") from None
        if len(inp) != 1 or len(out) < 1:
            raise ModelError(f"classifier model {self.model_path}: expected one input and one output")
        in_sig = list(inp[0].get("shape_signature", inp[0]["shape"]))
        out_sig = list(out[0].get("shape_signature", out[0]["shape"]))
        self._check_io([None if d < 0 else int(d) for d in in_sig], [None if d < 0 else int(d) for d in out_sig])
        if inp[0]["dtype"] != np.float32:
            raise ModelError(f"classifier model {self.model_path}: input type {inp[0]['dtype']} is not float32")
        self._interp = interp
        self._in_index = inp[0]["index"]
        self._out_index = out[0]["index"]
        self._tfl_batch = int(inp[0]["shape"][0])
        try:
            with _native_stderr_silenced():
                interp.allocate_tensors()
        except Exception as e:  # noqa: BLE001
            raise ModelError(f"cannot load classifier model {self.model_path}: {_one_line(e)}") from None

    # ---------------------------------------------------------------- inference
    def preprocess(self, crops: list[np.ndarray]) -> np.ndarray:
        """BGR uint8 crops of any size -> (N, H, W, 3) float32 batch (x = pixel * scale + offset).

        The returned array is a reused buffer: it is valid until the next call."""
        h, w = self.input_size
        n = len(crops)
        if self._batch_buf is None or self._batch_buf.shape[0] < n:
            self._batch_buf = np.empty((max(n, 4), h, w, 3), np.float32)
        batch = self._batch_buf[:n]
        for i, crop in enumerate(crops):
            crop = np.asarray(crop)
            if crop.ndim == 2:
                crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
            elif crop.ndim != 3 or crop.shape[2] not in (3, 4):
                raise ValueError(f"crop {i}: expected an HxWx3 BGR image, got shape {crop.shape}")
            elif crop.shape[2] == 4:
                crop = cv2.cvtColor(crop, cv2.COLOR_BGRA2BGR)
            if crop.shape[0] < 1 or crop.shape[1] < 1:
                raise ValueError(f"crop {i} is empty (shape {crop.shape})")
            if crop.dtype != np.uint8:
                crop = np.clip(crop, 0, 255).astype(np.uint8)
            if crop.shape[0] == h and crop.shape[1] == w:
                img = crop
            else:
                img = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
            if self.color == "RGB":
                img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            np.multiply(img, self.scale, out=batch[i], casting="unsafe")
        if self.offset:
            batch += self.offset
        return batch

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """One runtime call on a preprocessed (N, H, W, 3) float32 batch -> (N, C) probabilities."""
        n = int(batch.shape[0])
        if n == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        if self.engine == "onnxruntime":
            out = self._sess.run([self._out_name], {self._in_name: batch})[0]
        else:
            interp = self._interp
            if n != self._tfl_batch:
                interp.resize_tensor_input(self._in_index, [n, *self.input_size, 3], strict=False)
                interp.allocate_tensors()
                self._tfl_batch = n
            interp.set_tensor(self._in_index, np.ascontiguousarray(batch, np.float32))
            interp.invoke()
            out = interp.get_tensor(self._out_index)
        out = np.asarray(out, np.float32).reshape(n, -1)
        if out.shape[1] != len(self.labels):
            raise ModelError(f"classifier model {self.model_path}: produced {out.shape[1]} outputs for {len(self.labels)} labels")
        # the exported models end in softmax; normalise anyway so rows sum to 1 exactly
        if np.any(out < 0) or not np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
            e = np.exp(out - out.max(axis=1, keepdims=True))
            out = e / e.sum(axis=1, keepdims=True)
        if self._prior is not None:
            out = out * self._prior
            out /= out.sum(axis=1, keepdims=True)
        return out

    def predict(self, crops: list[np.ndarray]) -> np.ndarray:
        """Classify all crops in ONE runtime call -> (N, C) float32 probabilities (rows sum to 1)."""
        if len(crops) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        return self.infer(self.preprocess(crops))

    def is_violation(self, label: str) -> bool:
        return label in self.violation_labels

    def __repr__(self) -> str:
        return (f"MaskClassifier({str(self.model_path)!r}, engine={self.engine}, labels={self.labels}, "
                f"input={self.input_size}, violation_threshold={self.violation_threshold}, threads={self.threads})")


def _dim(d):
    """Static size of a shape entry, or None for dynamic ('N', None, -1)."""
    if isinstance(d, (int, np.integer)) and d > 0:
        return int(d)
    return None
