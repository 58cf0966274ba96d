"""train_mobilenet.py: a real (tiny) training run end to end, evaluate, and bad-input handling.

The training run uses a generated dataset (cv2-drawn face-like shapes, masked ones with a coloured
lower-half rectangle) at input size 64 and one epoch per stage; the ImageNet base weights from
../shared/models are used when present, otherwise ``--base-weights none`` (random init).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "train_mobilenet.py"
BASE_WEIGHTS = Path(__file__).resolve().parents[3] / "shared" / "models" / "mobilenet_v2_1.0_224_imagenet_notop.weights.h5"


def run(*args, timeout=300):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def draw_face(rng: np.random.Generator, masked: bool, size: int) -> np.ndarray:
    img = np.full((size, size, 3), rng.integers(40, 220, 3), np.uint8)
    cx, cy = size // 2 + int(rng.integers(-4, 5)), size // 2 + int(rng.integers(-4, 5))
    skin = tuple(int(v) for v in rng.integers([60, 90, 140], [120, 160, 230]))
    cv2.ellipse(img, (cx, cy), (size // 3, int(size / 2.4)), 0, 0, 360, skin, -1)
    for dx in (-size // 8, size // 8):
        cv2.circle(img, (cx + dx, cy - size // 10), max(2, size // 22), (30, 30, 30), -1)
    if masked:
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.rectangle(img, (cx - size // 3, cy + size // 30), (cx + size // 3, cy + size // 3), colour, -1)
    else:
        cv2.ellipse(img, (cx, cy + size // 5), (size // 8, size // 20), 0, 0, 180, (40, 40, 150), 2)
    return img


def make_dataset(root: Path, per_class: int = 8, seed: int = 0, corrupt: bool = True) -> Path:
    rng = np.random.default_rng(seed)
    for folder, masked in (("with_mask", True), ("without_mask", False)):
        d = root / folder
        d.mkdir(parents=True)
        for i in range(per_class):
            cv2.imwrite(str(d / f"{i}.jpg"), draw_face(rng, masked, int(rng.integers(48, 120))))
    if corrupt:
        (root / "with_mask" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny real training run shared by the tests below: (data dir, out dir, process)."""
    tmp = tmp_path_factory.mktemp("train")
    data = make_dataset(tmp / "data")
    out = tmp / "out"
    weights = BASE_WEIGHTS if BASE_WEIGHTS.is_file() else "none"
    proc = run("--data", data, "--out", out, "--base-weights", weights, "--input-size", 64, "--epochs", 1,
               "--fine-tune-epochs", 1, "--batch-size", 8, "--seed", 3, "--keep-both", "--bench-repeats", 3,
               "--quiet-progress", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return data, out, proc


def test_training_writes_all_outputs(trained):
    _, out, proc = trained
    meta = json.loads((out / "mask_classifier.json").read_text())
    assert meta["format"] == "facemask-live-classifier/1"
    assert meta["labels"] == ["mask", "no_mask"]
    assert meta["violation_labels"] == ["no_mask"]
    assert meta["engine"] in ("onnxruntime", "litert")
    assert (out / meta["model_file"]).is_file()
    assert meta["model_file"] == "mask_classifier." + ("onnx" if meta["engine"] == "onnxruntime" else "tflite")
    inp = meta["input"]
    assert inp["size"] == [64, 64] and inp["color"] == "RGB" and inp["layout"] == "NHWC" and inp["dtype"] == "float32"
    assert isinstance(inp["scale"], float) and isinstance(inp["offset"], float)
    assert isinstance(meta["crop_margin"], float)
    assert meta["folders"] == {"with_mask": "mask", "without_mask": "no_mask"}
    tr = meta["training"]
    assert tr["unreadable_skipped"] == 1  # the corrupt file was skipped and counted, not fatal
    assert sum(tr["counts"]["train"].values()) + sum(tr["counts"]["val"].values()) == 16
    assert tr["seed"] == 3 and tr["input_size"] == 64 and "train_mobilenet.py" in tr["command"]
    assert "duplicates" in tr
    assert set(meta["validation"]["per_class"]) == {"mask", "no_mask"}
    assert 0.0 <= meta["validation"]["balanced_accuracy"] <= 1.0
    assert set(meta["benchmark"]["engines"]) == {"onnxruntime", "litert"}
    for r in meta["benchmark"]["engines"].values():
        assert r["max_abs_diff_vs_keras"] < 1e-3
        assert {"batch1_threads1_ms", "batch4_threads1_ms", "batch1_threads2_ms", "batch4_threads2_ms"} <= set(r)
    assert meta["created"] and meta["versions"]["tensorflow"]
    assert (out / "mask_classifier.keras").is_file()
    for f in ("classification_report.txt", "confusion_matrix.png", "training_curves.png", "training.json"):
        assert (out / "report" / f).stat().st_size > 0, f
    assert "skipped 1 unreadable" in proc.stderr
    assert "duplicates:" in proc.stderr


@pytest.mark.parametrize("suffix", [".onnx", ".tflite"])
def test_app_runtime_loads_both_exports(trained, suffix):
    from facemask_live.detection.classify import MaskClassifier

    _, out, _ = trained
    # --keep-both keeps the model that was not chosen; point a metadata copy at it
    meta = json.loads((out / "mask_classifier.json").read_text())
    meta["model_file"] = "mask_classifier" + suffix
    meta["engine"] = "onnxruntime" if suffix == ".onnx" else "litert"
    (out / f"mask_classifier{suffix}.meta.json").write_text(json.dumps(meta))
    clf = MaskClassifier(out / f"mask_classifier{suffix}.meta.json", threads=1)
    assert clf.labels == ["mask", "no_mask"] and clf.input_size == (64, 64)
    rng = np.random.default_rng(1)
    crops = [draw_face(rng, i % 2 == 0, s) for i, s in enumerate((30, 64, 90, 200, 47))]
    probs = clf.predict(crops)
    assert probs.shape == (5, 2) and probs.dtype == np.float32
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    singles = np.concatenate([clf.predict([c]) for c in crops])
    assert np.allclose(probs, singles, atol=1e-4)
    assert clf.predict([]).shape == (0, 2)


def test_evaluate_scores_with_app_runtime(trained, tmp_path):
    data, out, _ = trained
    js = tmp_path / "eval.json"
    proc = run("evaluate", "--data", data, "--model", out / "mask_classifier.json", "--json", js)
    assert proc.returncode == 0, proc.stderr
    m = json.loads(js.read_text())
    assert {"balanced_accuracy", "per_class", "confusion", "labels"} <= set(m)
    assert m["labels"] == ["mask", "no_mask"]
    assert set(m["per_class"]) == {"mask", "no_mask"}
    assert {"precision", "recall", "support"} <= set(m["per_class"]["mask"])
    assert m["per_class"]["mask"]["support"] == 8 and m["per_class"]["no_mask"]["support"] == 8
    assert np.array(m["confusion"]).sum() == 16
    assert m["skipped_unreadable"] == 1
    assert "balanced accuracy" in proc.stdout and "confusion" in proc.stdout
    # the model file itself (not only the metadata) is accepted too
    meta = json.loads((out / "mask_classifier.json").read_text())
    proc = run("evaluate", "--data", data, "--model", out / meta["model_file"])
    assert proc.returncode == 0, proc.stderr


def test_evaluate_does_not_import_tensorflow(trained):
    data, out, _ = trained
    code = ("import sys, runpy; sys.argv=['train_mobilenet.py','evaluate','--data',sys.argv[1],'--model',sys.argv[2]];\n"
            "try:\n  runpy.run_path(sys.argv[0], run_name='__main__')\nexcept SystemExit as e:\n  assert not e.code, e.code\n"
            "print('TF', 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    code = code.replace("sys.argv[0]", repr(str(SCRIPT))).replace("sys.argv[1]", repr(str(data))).replace(
        "sys.argv[2]", repr(str(out / "mask_classifier.json")))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "TF False False" in proc.stdout


# -- bad input: one line on stderr, non-zero exit, no traceback ------------------------------------------------


def assert_clean_error(proc, *words):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    for w in words:
        assert w in errors[0], errors[0]


def test_one_class_folder(tmp_path):
    data = make_dataset(tmp_path / "data", per_class=3, corrupt=False)
    import shutil

    shutil.rmtree(data / "without_mask")
    assert_clean_error(run("--data", data, "--out", tmp_path / "out", "--base-weights", "none"), "two class")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    assert_clean_error(run("--data", tmp_path / "empty", "--out", tmp_path / "out", "--base-weights", "none"), "two class")


def test_missing_data_folder(tmp_path):
    assert_clean_error(run("--data", tmp_path / "nope", "--out", tmp_path / "out", "--base-weights", "none"), "not found")


def test_missing_base_weights(tmp_path):
    data = make_dataset(tmp_path / "data", per_class=3, corrupt=False)
    proc = run("train", "--data", data, "--out", tmp_path / "out", "--base-weights", tmp_path / "missing.h5")
    assert_clean_error(proc, "base weights", "missing.h5")


def test_unwritable_output_folder(tmp_path):
    data = make_dataset(tmp_path / "data", per_class=3, corrupt=False)
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder")
    proc = run("--data", data, "--out", blocker / "sub", "--base-weights", "none")
    assert_clean_error(proc, "not writable")


def test_evaluate_missing_model(tmp_path):
    data = make_dataset(tmp_path / "data", per_class=2, corrupt=False)
    proc = run("evaluate", "--data", data, "--model", tmp_path / "nope.json")
    assert_clean_error(proc, "classifier model not found")


def test_help_is_fast_and_lists_options():
    proc = run("train", "--help", timeout=60)
    assert proc.returncode == 0
    for opt in ("--epochs", "--fine-tune-epochs", "--batch-size", "--input-size", "--lr", "--fine-tune-layers",
                "--no-keras", "--seed", "--engine", "--base-weights", "--val"):
        assert opt in proc.stdout
    assert run("evaluate", "--help", timeout=60).returncode == 0
