"""N classes end to end: tiny 3- and 4-class models trained on generated faces, exported, loaded by the app's
classifier and run by the app headless; and the 2-class evaluation of a 3-class model.

The generated faces are cv2 drawings: skin ellipse, eyes, a nose triangle and a mouth; a "mask" rectangle
covers nose and mouth, a mask "below the nose" leaves the nose visible, the 4-class set also varies the hair
(dark = young, white = old).  Input size 32, one head epoch of two steps: the point is that every class
count trains, exports and runs, not accuracy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "train_mobilenet.py"
SHARED = REPO.parent / "shared"
BASE_WEIGHTS = SHARED / "models" / "mobilenet_v2_1.0_224_imagenet_notop.weights.h5"

pytestmark = pytest.mark.slow


def draw_face(rng: np.random.Generator, wear: str, hair: str = "dark", size: int = 64) -> np.ndarray:
    """wear: mask | no_mask | incorrect_mask."""
    img = np.full((size, size, 3), rng.integers(40, 220, 3), np.uint8)
    cx, cy = size // 2 + int(rng.integers(-3, 4)), size // 2 + int(rng.integers(-3, 4))
    skin = tuple(int(v) for v in rng.integers([60, 90, 140], [120, 160, 230]))
    cv2.ellipse(img, (cx, cy - size // 3), (size // 3, size // 6), 0, 180, 360,
                (235, 235, 235) if hair == "old" else (30, 25, 20), -1)
    cv2.ellipse(img, (cx, cy), (size // 3, int(size / 2.4)), 0, 0, 360, skin, -1)
    for dx in (-size // 8, size // 8):
        cv2.circle(img, (cx + dx, cy - size // 10), max(2, size // 22), (30, 30, 30), -1)
    nose = np.array([[cx, cy - size // 16], [cx - size // 14, cy + size // 10], [cx + size // 14, cy + size // 10]])
    cv2.fillPoly(img, [nose], tuple(int(v * 0.7) for v in skin))
    cv2.ellipse(img, (cx, cy + size // 5), (size // 8, size // 20), 0, 0, 180, (40, 40, 150), 2)
    colour = tuple(int(v) for v in rng.integers(150, 256, 3))
    if wear == "mask":  # nose and mouth covered
        cv2.rectangle(img, (cx - size // 3, cy - size // 20), (cx + size // 3, cy + size // 3), colour, -1)
    elif wear == "incorrect_mask":  # mouth and chin covered, nose out
        cv2.rectangle(img, (cx - size // 3, cy + size // 8), (cx + size // 3, cy + size // 3), colour, -1)
    return img


def make_set(root: Path, classes: dict[str, tuple[str, str]], per_class: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for folder, (wear, hair) in classes.items():
        (root / folder).mkdir(parents=True)
        for i in range(per_class):
            cv2.imwrite(str(root / folder / f"{i}.png"), draw_face(rng, wear, hair, int(rng.integers(40, 100))))
    return root


THREE = {"with_mask": ("mask", "dark"), "without_mask": ("no_mask", "dark"), "mask_weared_incorrect": ("incorrect_mask", "dark")}
FOUR = {"mask_young": ("mask", "dark"), "mask_old": ("mask", "old"), "no_mask_young": ("no_mask", "dark"),
        "no_mask_old": ("no_mask", "old")}


def train_tiny(tmp: Path, classes: dict, seed: int, *extra: str) -> tuple[Path, subprocess.CompletedProcess]:
    data = make_set(tmp / "data", classes, per_class=10, seed=seed)
    out = tmp / "out"
    weights = BASE_WEIGHTS if BASE_WEIGHTS.is_file() else "none"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(data), "--out", str(out), "--base-weights", str(weights),
         "--input-size", "32", "--epochs", "1", "--fine-tune-epochs", "0", "--steps-per-epoch", "2",
         "--batch-size", "8", "--engine", "litert", "--no-keras", "--bench-repeats", "2", "--val-split", "0.3",
         "--seed", str(seed), "--quiet-progress", *extra],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "mask_classifier.json", proc


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    # plus 4 train-only faces per class, shown twice per epoch like scene crops
    tmp = tmp_path_factory.mktemp("three")
    extra = make_set(tmp / "extra", THREE, per_class=4, seed=55)
    return train_tiny(tmp, THREE, 5, "--extra-train", str(extra), "--scene-repeat", "2")[0]


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("four"), FOUR, 6, "--label-smoothing", "0.1")[0]


def check_classifier(meta_path: Path, labels: list[str], classes: dict):
    from facemask_live.detection.classify import MaskClassifier

    meta = json.loads(meta_path.read_text())
    assert meta["labels"] == labels
    assert len(meta["validation"]["per_class"]) == len(labels)
    assert np.array(meta["validation"]["confusion"]).shape == (len(labels), len(labels))
    clf = MaskClassifier(meta_path, threads=1)
    assert clf.labels == labels and clf.input_size == (32, 32)
    rng = np.random.default_rng(99)
    crops = [draw_face(rng, wear, hair, 80) for wear, hair in classes.values()]
    probs = clf.predict(crops)
    assert probs.shape == (len(classes), len(labels))
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5) and np.all(np.isfinite(probs))
    return clf, meta


def test_three_class_model_trains_exports_and_loads(three):
    clf, meta = check_classifier(three, ["mask", "no_mask", "incorrect_mask"], THREE)
    assert meta["violation_labels"] == ["no_mask", "incorrect_mask"]
    assert clf.violation_labels == {"no_mask", "incorrect_mask"}
    assert meta["folders"] == {"mask_weared_incorrect": "incorrect_mask", "with_mask": "mask", "without_mask": "no_mask"}
    record = json.loads((three.parent / "report" / "training.json").read_text())["training"]
    assert record["extra_train"] == [str(three.parent.parent / "extra")]
    used = record["extra_train_used"]  # less those that copy a validation face (these drawings look alike)
    assert all(used[lab] <= 4 for lab in used) and sum(used.values()) >= 6
    for lab in ("mask", "no_mask", "incorrect_mask"):  # 10 generated per class, split into train and val
        # the extra faces never join the validation split, and are repeated like the scene crops
        assert record["counts"]["train"][lab] == 10 - record["counts"]["val"][lab] + 2 * used[lab]


def test_extra_train_classes_must_be_those_of_data(tmp_path):
    data = make_set(tmp_path / "data", THREE, per_class=2, seed=1)
    extra = make_set(tmp_path / "extra", {"with_mask": ("mask", "dark"), "scarf": ("mask", "old")}, per_class=2, seed=2)
    proc = subprocess.run([sys.executable, str(SCRIPT), "--data", str(data), "--extra-train", str(extra), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "error: --extra-train has classes not in --data: scarf"


def test_four_class_model_trains_exports_and_loads(four):
    clf, meta = check_classifier(four, ["mask_old", "mask_young", "no_mask_old", "no_mask_young"], FOUR)
    assert meta["violation_labels"] == []  # none of the app's violation names: chosen by option or metadata
    record = json.loads((four.parent / "report" / "training.json").read_text())["training"]
    assert record["label_smoothing"] == 0.1 and "--label-smoothing" in record["command"]


def test_smoothed_crossentropy_matches_its_definition():
    import keras

    from facemask_live.training.model import smoothed_sparse_crossentropy

    pred = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    true = np.array([0, 2])
    got = np.asarray(smoothed_sparse_crossentropy(keras, 0.3)(true, pred))
    target = np.full((2, 3), 0.1) + 0.7 * np.eye(3)[true]  # 1 - 0.3 on the label, 0.3 / 3 on every class
    np.testing.assert_allclose(got, -(target * np.log(pred)).sum(axis=1), rtol=1e-5)
    plain = np.asarray(smoothed_sparse_crossentropy(keras, 1e-9)(true, pred))
    np.testing.assert_allclose(plain, -np.log(pred[[0, 1], true]), rtol=1e-5)


def app_run(tmp: Path, model: Path, frame: np.ndarray, *extra: str) -> list[dict]:
    """The app headless on a generated folder of real-face frames (flipped / brightened / scaled copies)."""
    folder = tmp / "frames"
    folder.mkdir()
    variants = [frame, cv2.flip(frame, 1), cv2.convertScaleAbs(frame, alpha=1.2, beta=10),
                cv2.resize(frame, None, fx=1.5, fy=1.5)]
    for i, img in enumerate(variants):
        cv2.imwrite(str(folder / f"{i}.png"), img)
    det = tmp / "det.jsonl"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-m", "facemask_live", "--headless", "--source", str(folder), "--model",
                           str(model), "--detections", str(det), "--no-progress", "--snapshots", str(tmp / "snaps"),
                           *extra], capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in det.read_text().splitlines()]


@pytest.mark.parametrize("which", ["three", "four"])
def test_app_runs_headless_with_the_model(which, request, tmp_path, face_frame):
    model = request.getfixturevalue(which)
    labels = json.loads(model.read_text())["labels"]
    extra = ("--violation-labels", "no_mask_old,no_mask_young") if which == "four" else ()
    records = app_run(tmp_path, model, face_frame, *extra)
    assert len(records) == 4
    faces = [f for r in records for f in r["faces"]]
    assert len(faces) >= 4  # the detector finds the real face in every frame
    for f in faces:
        assert f["label"] in labels
        assert set(f["probs"]) == set(labels)


def test_violation_labels_option_must_name_model_labels(four, tmp_path, face_frame):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    cv2.imwrite(str(tmp_path / "f.png"), face_frame)
    proc = subprocess.run([sys.executable, "-m", "facemask_live", "--headless", "--source", str(tmp_path / "f.png"),
                           "--model", str(four), "--violation-labels", "no_mask"], capture_output=True, text=True,
                          timeout=120, cwd=REPO, env=env)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "no_mask not among the model's labels" in proc.stderr


def test_two_class_evaluate_with_a_three_class_model(three, tmp_path):
    """with_mask/without_mask folders scored by a 3-class model: exact labels and mask-vs-violation figures."""
    data = make_set(tmp_path / "two", {"with_mask": ("mask", "dark"), "without_mask": ("no_mask", "dark")}, 12, seed=8)
    js = tmp_path / "eval.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "evaluate", "--data", str(data), "--model", str(three),
                           "--json", str(js)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    m = json.loads(js.read_text())
    assert m["labels"] == ["mask", "no_mask", "incorrect_mask"]
    cm = np.array(m["confusion"])
    assert cm.sum() == 24 and cm[2].sum() == 0  # no incorrect_mask truth in a 2-class set
    # recompute the mask-vs-violation figure from the confusion matrix: columns no_mask + incorrect_mask flag
    ok_recall = cm[0, 0] / cm[0].sum()
    viol_recall = cm[1, 1:].sum() / cm[1].sum()
    assert m["violation_balanced_accuracy"] == pytest.approx((ok_recall + viol_recall) / 2, abs=1e-4)
    assert m["balanced_accuracy"] == pytest.approx((cm[0, 0] / cm[0].sum() + cm[1, 1] / cm[1].sum()) / 2, abs=1e-4)
    assert "mask-vs-violation balanced accuracy" in proc.stdout
