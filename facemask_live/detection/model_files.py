"""Where the shipped model files are: one rule for the detector and the classifier.

The models are package data (``facemask_live/models/``), so they are found the same way in a
checkout, an editable install and a wheel installed anywhere: through :mod:`importlib.resources`,
not paths guessed relative to ``sys.prefix``. ``$FACEMASK_MODELS`` overrides the folder (e.g. a
freshly trained model under test).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from facemask_live.core.errors import ModelError

ENV_VAR = "FACEMASK_MODELS"
CLASSIFIER_METADATA = "mask_classifier.json"


def models_dir() -> Path:
    """The folder with the model files: ``$FACEMASK_MODELS`` when set, else the package's ``models/``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    folder = resources.files("facemask_live").joinpath("models")
    # ONNX Runtime, LiteRT and OpenCV need real file paths; a zipped install would not give one
    if not isinstance(folder, Path):
        raise ModelError(f"the package's models are not on the file system ({folder}); set {ENV_VAR} to a folder with them")
    return folder


def model_path(name: str) -> Path:
    """A model file by name in :func:`models_dir` (it may not exist: loaders report that with the path)."""
    return models_dir() / name


def classifier_metadata() -> Path:
    """The default classifier's metadata JSON (what ``--model`` defaults to)."""
    return model_path(CLASSIFIER_METADATA)
