"""Where the models are found: the package's models/ folder (importlib.resources), or $FACEMASK_MODELS."""

from __future__ import annotations

from pathlib import Path

import facemask_live
from facemask_live.detection import classify, detect, model_files

PACKAGE_MODELS = Path(facemask_live.__file__).resolve().parent / "models"


def test_models_are_package_data(monkeypatch):
    monkeypatch.delenv(model_files.ENV_VAR, raising=False)
    assert model_files.models_dir() == PACKAGE_MODELS
    for name in (*detect.RETINAFACE_FILES.values(), model_files.CLASSIFIER_METADATA):
        assert (PACKAGE_MODELS / name).is_file(), name
    # OpenCV's SSD weights are not ours to ship (--detector ssd takes them with --detector-dir)
    assert not (PACKAGE_MODELS / detect.CAFFEMODEL).exists() and not (PACKAGE_MODELS / detect.PROTOTXT).exists()
    # the detector and the classifier use the same rule
    assert detect.models_dir() == PACKAGE_MODELS
    assert classify.default_model_path() == PACKAGE_MODELS / "mask_classifier.json"


def test_environment_variable_overrides_for_both(monkeypatch, tmp_path):
    monkeypatch.setenv(model_files.ENV_VAR, str(tmp_path))
    assert detect.models_dir() == tmp_path
    assert classify.default_model_path() == tmp_path / "mask_classifier.json"  # missing: the loader's error names it
