"""The wheel: built from the repository, installed elsewhere, it runs `facemask-live --demo --headless`
with the models and demo photos it carries (no file of the checkout is used)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from helpers import REPO


@pytest.mark.slow
def test_wheel_installed_elsewhere_runs_the_demo(tmp_path):
    # build from a copy so the checkout gets no build/ or *.egg-info (and a stale build/ cannot leak in)
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "facemask_live", src / "facemask_live", ignore=shutil.ignore_patterns("__pycache__", "report", ".scene_crops"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    build = subprocess.run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    wheel = next((tmp_path / "dist").glob("facemask_live-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"facemask_live/models/retinaface_mnet025.onnx", "facemask_live/models/mask_classifier.json",
            "facemask_live/models/mask_classifier_2class.json", "facemask_live/models/mask_classifier_2class.tflite",
            "facemask_live/training/__init__.py", "facemask_live/training/thresholds.py",
            "facemask_live/demo/README.md"} <= names
    assert not any("/report/" in n for n in names)  # the training report stays in the repository

    # install it (this interpreter's packages provide the runtime dependencies; .ci/run checks a fresh venv with them)
    site = tmp_path / "site"
    inst = subprocess.run([*pip, "install", "-q", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert inst.returncode == 0, inst.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("FACEMASK_MODELS", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    res = subprocess.run([str(site / "bin" / "facemask-live"), "--demo", "--headless", "--no-progress"],
                         capture_output=True, text=True, timeout=300, cwd=run_dir, env=env)
    assert res.returncode == 0, res.stderr
    assert f"source: {site / 'facemask_live' / 'demo' / 'photos'} (ended)" in res.stderr  # the installed copy played
    photos = len(list((REPO / "facemask_live" / "demo" / "photos").iterdir()))
    assert f"frames processed: {photos}," in res.stderr and "people seen: 0" not in res.stderr
