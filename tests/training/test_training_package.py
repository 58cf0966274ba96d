"""facemask_live.training as a package: TensorFlow stays inside it, small functions, scene crops split by photo."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from facemask_live.sources.voc import IMAGE_EXTS, VocImage, VocObject, read_voc
from facemask_live.training.scenes import SceneCropSettings, cut_crop, prepare_scene_crops
from facemask_live.training.train import ordered_labels, oversample

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
PACKAGE = REPO / "facemask_live"


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_tensorflow_is_imported_only_inside_the_training_package():
    for path in PACKAGE.rglob("*.py"):
        if "training" in path.relative_to(PACKAGE).parts:
            continue
        assert not imports(path) & {"tensorflow", "keras", "tf2onnx"}, path


def test_training_functions_are_small():
    for path in (PACKAGE / "training").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                n_args = len(node.args.args) + len(node.args.kwonlyargs)
                assert n_args <= 8, f"{path.name}:{node.name} takes {n_args} parameters (use a dataclass)"
                if node.name != "make_augment":  # a closure of small TF ops, one per augmentation
                    assert node.end_lineno - node.lineno <= 70, f"{path.name}:{node.name} is too long"


def test_read_voc(tmp_path):
    xml = tmp_path / "a.xml"
    xml.write_text("<annotation><filename>a.jpg</filename><size><width>64</width><height>48</height></size>"
                   "<object><name>with_mask</name><bndbox><xmin>1</xmin><ymin>2.4</ymin><xmax>30</xmax>"
                   "<ymax>40</ymax></bndbox></object></annotation>")
    voc = read_voc(xml)
    assert voc == VocImage(xml, "a.jpg", 64, 48, [VocObject("with_mask", (1.0, 2.4, 30.0, 40.0))])
    assert voc.objects[0].int_box == (1, 2, 30, 40)  # the whole-pixel box the scene crops are cut from
    assert ".jpg" in IMAGE_EXTS and ".png" in IMAGE_EXTS


def test_cut_crop_matches_the_app_crop():
    from facemask_live.core.results import Face
    from facemask_live.engine.pipeline import crop_faces

    img = np.arange(100 * 80 * 3, dtype=np.uint8).reshape(100, 80, 3)
    for box in ((10, 20, 50, 70), (0, 0, 30, 30), (60, 80, 80, 100)):
        app = crop_faces(img, [Face(box=box, score=1.0)], 0.1)[0]
        assert np.array_equal(cut_crop(img, box, 0.1), app)


def test_labels_and_oversampling():
    assert ordered_labels(["incorrect_mask", "no_mask", "mask", "hat"]) == ["mask", "no_mask", "incorrect_mask", "hat"]
    y = np.array([0] * 100 + [1] * 80 + [2] * 5)
    idx, repeats = oversample(np.arange(len(y)), y, 3, 0.15)
    assert repeats == {2: 3} and np.bincount(y[idx]).tolist() == [100, 80, 15]


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared not present")
def test_scene_crops_are_split_by_photo(tmp_path):
    st = SceneCropSettings((str(SHARED / "data" / "scenes-dev"),), str(tmp_path), seed=3)
    m = prepare_scene_crops(st)
    sources = {split: set(m["sources"][split]) for split in ("train", "val", "test")}
    assert not (sources["train"] & sources["val"] or sources["train"] & sources["test"] or sources["val"] & sources["test"])
    assert sum(len(s) for s in sources.values()) == m["source_images"]
    files = {split: list((tmp_path / split).rglob("*.png")) for split in sources}
    for split, fs in files.items():  # every crop comes from a photo of its own split
        assert {"scenes-dev/" + f.name.split("__")[1] for f in fs} <= sources[split]
    n = {split: len(fs) for split, fs in files.items()}
    assert n["test"] == pytest.approx(0.15 * sum(n.values()), rel=0.25)
    assert all(m["counts"][split]["incorrect_mask"] > 0 for split in sources)  # the rare class in every split
    crop = cv2.imread(str(files["test"][0]))
    assert crop is not None and crop.ndim == 3
    # a second call with the same settings reuses the tree; the manifest lists the photos for reproduction
    assert prepare_scene_crops(st) == json.loads((tmp_path / "splits.json").read_text())
