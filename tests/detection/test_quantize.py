"""int8 models (tools/quantize_models.py), their comparison (tools/compare_evaluations.py), ORT session settings."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import pytest
from helpers import REPO

from facemask_live.core.geometry import iou
from facemask_live.detection.classify import onnx_session
from facemask_live.detection.detect import RetinaFaceDetector
from facemask_live.detection.model_files import models_dir

TOOLS = REPO / "tools"


def _tool(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_sessions_do_not_spin_unless_asked():
    model = models_dir() / "retinaface_mnet025_masked.onnx"
    quiet = onnx_session(model, 2, "face detector model").get_session_options()
    assert quiet.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    spinning = onnx_session(model, 2, "face detector model", spinning=True).get_session_options()
    with pytest.raises(RuntimeError, match="does not have configuration"):  # unset: ORT's default, spinning
        spinning.get_session_config_entry("session.intra_op.allow_spinning")


def test_int8_detector_from_train_images_finds_the_same_faces(tmp_path):
    out = tmp_path / "retinaface_mnet025_masked.onnx"  # the shipped name, so --detector-dir can point here
    done = _tool(TOOLS / "quantize_models.py", "detector", "--images", "3", "--out", out)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size < (models_dir() / out.name).stat().st_size / 2  # int8 weights: a quarter, plus scales
    photo = cv2.imread(str(REPO / "facemask_live" / "demo" / "photos" / "maksssksksss459.jpg"))
    fp32 = RetinaFaceDetector(name="retinaface-masked", confidence=0.5).detect(photo)
    int8 = RetinaFaceDetector(tmp_path, name="retinaface-masked", confidence=0.5).detect(photo)
    assert fp32 and int8
    best = max(iou(f.box, g.box) for f in fp32[:1] for g in int8)
    assert best > 0.7  # the most certain face is found at the same place


def test_quantize_bad_input_is_one_line_error(tmp_path):
    done = _tool(TOOLS / "quantize_models.py", "detector", "--source", tmp_path / "none.onnx", "--out", tmp_path / "x.onnx")
    assert done.returncode == 2 and done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    done = _tool(TOOLS / "quantize_models.py", "detector", "--images", "0", "--out", tmp_path / "x.onnx")
    assert done.returncode == 2 and done.stderr.startswith("error: ")


def test_compare_evaluations_flags_a_loss(tmp_path, shared_dir):
    scenes = shared_dir / "data" / "scenes-dev"
    reports = []
    for conf in ("0.7", "0.99"):  # a stricter detector threshold finds fewer faces: recall drops
        path = tmp_path / f"eval_{conf}.json"
        done = _tool("-m", "facemask_live.evaluate", "--images", scenes / "images", "--annotations", scenes / "annotations",
                     "--limit", "6", "--detection-only", "--confidence", conf, "--no-progress", "--json", path)
        assert done.returncode == 0, done.stderr
        reports.append(path)
    base = json.loads(reports[0].read_text())["all"]["recall"]["all"]
    worse = json.loads(reports[1].read_text())["all"]["recall"]["all"]
    assert worse < base
    same = _tool(TOOLS / "compare_evaluations.py", reports[0], reports[0])
    assert same.returncode == 0 and "within 0.5 points" in same.stdout
    lost = _tool(TOOLS / "compare_evaluations.py", reports[0], reports[1])
    assert lost.returncode == 1 and "NOT within" in lost.stdout
    assert f"{100 * base:.1f}" in lost.stdout and f"{100 * worse:.1f}" in lost.stdout
