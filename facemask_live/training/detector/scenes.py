"""The annotated scene photos of one split, and the ignore regions of unannotated faces.

``scene_splits.json`` names each photo ``<scenes folder name>/<stem>``; the folders are the ``--scenes``
arguments (matched by folder name). Some background faces are not annotated (scenes-ilc blurs but does not
label them): a face the shipped detector (or each of ``--ignore-detectors``) finds with a high score (>= 0.8)
that overlaps no annotation (IoU < 0.3) becomes an ignore region, so training neither rewards nor punishes it.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facemask_live.detection.detect import RETINAFACE_ONNX, RetinaFaceDetector
from facemask_live.sources.voc import find_image, read_voc

from ..data import DataError
from .anchors import iou_matrix

FACE_LABELS = ("with_mask", "without_mask", "mask_weared_incorrect")


@dataclass
class Scene:
    """One photo: its file, annotated faces (M, 4) corner boxes in pixels with their VOC labels, and the
    ignore regions (K, 4) found by :func:`find_ignore_regions`."""

    source: str  # "<set>/<stem>", as in scene_splits.json
    image: Path
    annotation: Path
    faces: np.ndarray
    labels: list[str]
    ignore: np.ndarray


def read_splits(path: str | Path) -> dict[str, list[str]]:
    """{"train": [...], "val": [...], "test": [...]} of ``scene_splits.json``; DataError if unusable."""
    try:
        sources = json.loads(Path(path).read_text())["sources"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"cannot read the photo splits {path}: {e}") from None
    if not all(isinstance(sources.get(k), list) and sources[k] for k in ("train", "val", "test")):
        raise DataError(f"{path}: 'sources' must list the photos of 'train', 'val' and 'test'")
    return sources


def load_split(folders: list[str | Path], sources: list[str]) -> list[Scene]:
    """The scenes of one split; DataError for a missing folder, set, annotation or image."""
    by_name = {}
    for f in map(Path, folders):
        if not (f / "images").is_dir() or not (f / "annotations").is_dir():
            raise DataError(f"scenes folder {f} needs images/ and annotations/ (PASCAL VOC)")
        by_name[f.name] = f
    scenes = []
    for source in sources:
        set_name, stem = source.split("/", 1)
        if set_name not in by_name:
            raise DataError(f"the split names photos of {set_name!r}, which is not among --scenes ({', '.join(by_name)})")
        folder = by_name[set_name]
        xml = folder / "annotations" / f"{stem}.xml"
        if not xml.is_file():
            raise DataError(f"annotation not found: {xml}")
        voc = read_voc(xml)
        image = find_image(folder / "images", xml, voc.filename)
        if image is None:
            raise DataError(f"no image for {xml}")
        objs = [o for o in voc.objects if o.label in FACE_LABELS and o.box[2] > o.box[0] and o.box[3] > o.box[1]]
        faces = np.array([o.box for o in objs], np.float32).reshape(-1, 4)
        scenes.append(Scene(source, image, xml, faces, [o.label for o in objs], np.zeros((0, 4), np.float32)))
    return scenes


def base_detector(base: str | Path, confidence: float, threads: int) -> RetinaFaceDetector:
    """The app's detector on the ONNX file ``base`` (any file name), at the app's default input size."""
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / RETINAFACE_ONNX).symlink_to(Path(base).resolve())
        return RetinaFaceDetector(d, confidence=confidence, min_size=0, threads=threads)


def file_sha1(path: str | Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


@dataclass(frozen=True)
class IgnoreSettings:
    detectors: tuple[str, ...]  # RetinaFace ONNX files that look for unannotated faces; their finds are pooled
    cache: str  # a JSON file: reused when it was made by the same models with the same settings
    min_score: float = 0.8
    max_iou: float = 0.3
    threads: int = 2


def find_ignore_regions(scenes: list[Scene], st: IgnoreSettings, progress: bool = True) -> int:
    """Fill ``scene.ignore`` for every scene (cached); returns the number of regions."""
    key = {"detector_sha1s": [file_sha1(d) for d in st.detectors], "min_score": st.min_score, "max_iou": st.max_iou}
    cache = Path(st.cache)
    done = json.loads(cache.read_text()) if cache.is_file() else {}
    regions = done.get("regions", {}) if done.get("key") == key else {}
    todo = [s for s in scenes if s.source not in regions]
    if todo:
        from tqdm import tqdm

        dets = [base_detector(d, st.min_score, st.threads) for d in st.detectors]
        for s in tqdm(todo, desc="ignore regions", unit="photo", disable=not progress, leave=False):
            image = cv2.imread(str(s.image), cv2.IMREAD_COLOR)
            if image is None:
                raise DataError(f"cannot read image {s.image}")
            # overlapping finds of two detectors are both kept: an ignore region only masks anchors
            found = np.array([f.box for det in dets for f in det.detect(image)], np.float32).reshape(-1, 4)
            if len(found) and len(s.faces):
                found = found[iou_matrix(found, s.faces).max(axis=1) < st.max_iou]
            regions[s.source] = found.tolist()
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"key": key, "regions": regions}))
    for s in scenes:
        s.ignore = np.array(regions[s.source], np.float32).reshape(-1, 4)
    return sum(len(s.ignore) for s in scenes)
