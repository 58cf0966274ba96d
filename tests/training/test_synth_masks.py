"""Synthetic masked faces (facemask_live/training/synth_masks.py) on real unmasked faces from ../shared."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from facemask_live.training import synth_masks as sm

# an unmasked face of a scene-dev TRAIN photo (scene_splits.json), 71x78 px, looking at the camera
PHOTO, BOX = "scenes-dev/images/maksssksksss114.jpg", (4, 83, 75, 161)


@pytest.fixture(scope="module")
def detector():
    from facemask_live.detection.detect import create_detector

    return create_detector("retinaface-masked", threads=1, min_size=8)


@pytest.fixture(scope="module")
def templates(shared_dir):
    return sm.load_templates(shared_dir / "data" / "mask-templates")


@pytest.fixture(scope="module")
def face(shared_dir, detector):
    img = cv2.imread(str(shared_dir / "data" / PHOTO))
    assert img is not None
    lm = sm.landmarks_for(detector, img, BOX)
    assert lm is not None, "the detector gives this unmasked face usable landmarks"
    return img, lm


def _at(alpha: np.ndarray, p) -> float:
    """The mask's alpha around a point (3x3 mean)."""
    x, y = (int(round(c)) for c in p)
    return float(alpha[y - 1: y + 2, x - 1: x + 2].mean())


def test_templates_have_three_views_and_six_points(templates):
    assert {"surgical", "KN95", "N95", "cloth"} <= set(templates)
    assert "gas" not in templates  # left out by default
    for views in templates.values():
        assert set(views) == {"frontal", "left", "right"}
        for t in views.values():
            assert t.points.shape == (6, 2) and t.image.shape[2] == 4


def test_proper_mask_covers_nose_and_mouth_on_a_real_face(face, templates):
    img, lm = face
    out, alpha = sm.put_mask(img, lm, templates["surgical"]["frontal"], "proper")
    mouth = (lm[3] + lm[4]) / 2
    for p in (lm[2], lm[3], lm[4], mouth):  # nose tip, mouth corners
        assert _at(alpha, p) > 0.9
    for p in (lm[0], lm[1]):  # the eyes stay free
        assert _at(alpha, p) < 0.1
    # the face's pixels changed under the mask, nowhere else
    changed = np.abs(out.astype(int) - img.astype(int)).max(axis=2) > 0
    assert changed[alpha > 0.5].mean() > 0.9
    assert not changed[alpha == 0].any()
    # a light surgical mask on skin: the mouth region is brighter and much less varied than before
    x, y = (int(c) for c in mouth)
    assert out[y - 3: y + 4, x - 3: x + 4].std() < img[y - 3: y + 4, x - 3: x + 4].std() + 1


def test_below_nose_leaves_the_nose_free_and_chin_the_mouth(face, templates):
    img, lm = face
    mouth = (lm[3] + lm[4]) / 2
    _, below = sm.put_mask(img, lm, templates["cloth"]["frontal"], "below_nose")
    assert _at(below, lm[2]) < 0.1  # nose tip uncovered
    assert _at(below, mouth) > 0.9  # mouth covered
    _, chin = sm.put_mask(img, lm, templates["surgical_blue"]["frontal"], "chin")
    assert _at(chin, lm[2]) < 0.1 and _at(chin, mouth) < 0.1  # nose and mouth free
    chin_point = sm.anchor_points(lm, "proper")[4]  # where the chin is: under the mask now
    assert _at(chin, chin_point) > 0.9
    assert sm.VARIANTS["below_nose"] == sm.VARIANTS["chin"] == "incorrect_mask" and sm.VARIANTS["proper"] == "mask"


def test_turned_head_picks_the_turned_template(face):
    _, lm = face
    assert sm.choose_view(sm.head_turn(lm)) == "frontal"
    turned = lm.copy()
    turned[2, 0] = lm[0, 0] + 0.1 * (lm[1, 0] - lm[0, 0])  # nose tip next to the image-left eye
    assert sm.choose_view(sm.head_turn(turned)) == "left"
    mirrored = turned.copy()
    mirrored[:, 0] = 200 - turned[:, 0]
    mirrored = mirrored[[1, 0, 2, 4, 3]]  # a mirror swaps image-left and image-right points
    assert sm.choose_view(sm.head_turn(mirrored)) == "right"


def test_same_seed_same_image(shared_dir, face, detector, templates):
    img, _ = face
    src = sm.FaceSource("scene/scenes-dev/maksssksksss114/0", shared_dir / "data" / PHOTO, BOX)
    a = sm.synthesise(src, img, detector, templates, 7, sm.DEFAULT_VARIANT_SHARES)
    b = sm.synthesise(src, img, detector, templates, 7, sm.DEFAULT_VARIANT_SHARES)
    assert a is not None and b is not None
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]
    others = [sm.synthesise(src, img, detector, templates, s, sm.DEFAULT_VARIANT_SHARES) for s in (8, 9, 10)]
    assert any(not np.array_equal(a[0], o[0]) for o in others)
    # the crop is cut like the app cuts the box (margin 0.1), so it is the face, masked
    assert abs(a[0].shape[0] - (BOX[3] - BOX[1]) * 1.2) <= 2


def test_only_train_photos_are_used(shared_dir):
    faces = sm.scene_faces([sm.REPORT / "crowd_splits.json"], 24)
    split = json.loads((sm.REPORT / "crowd_splits.json").read_text())["sources"]
    held = set(split["val"]) | set(split["test"])
    assert faces and all(f.id.split("/", 1)[1].rsplit("/", 1)[0] in split["train"] for f in faces)
    assert not any(f.id.split("/", 1)[1].rsplit("/", 1)[0] in held for f in faces)


def test_command_end_to_end_and_errors(shared_dir, tmp_path, capsys):
    crops = tmp_path / "crops"
    crops.mkdir()
    for name in sorted((shared_dir / "data" / "masks-2class" / "train" / "without_mask").glob("k12_*.jpg"))[:3]:
        shutil.copy(name, crops / name.name)
    out = tmp_path / "out"
    args = ["--seed", "5", "--out", str(out), "--splits", "--crops", str(crops), "--max-crops", "3", "--no-progress",
            "--templates", str(shared_dir / "data" / "mask-templates")]
    assert sm.main(args) == 0
    manifest = json.loads((out / "synth_manifest.json").read_text())
    assert manifest["made"] >= 2 and manifest["seed"] == 5
    files = sorted(out.glob("*/*.png"))
    assert len(files) == manifest["made"] and (out / "synth_samples.png").is_file()
    first = {f.name: f.read_bytes() for f in files}
    assert sm.main(args) == 0  # again: the same files, byte for byte
    assert {f.name: f.read_bytes() for f in sorted(out.glob("*/*.png"))} == first
    capsys.readouterr()

    for bad, says in ((["--templates", str(tmp_path)], "no masks.cfg"),
                      (["--crops", str(tmp_path / "nope")], "not a folder"),
                      (["--splits", str(next(crops.iterdir()))], "not a scene split file")):
        assert sm.main([*args, *bad]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and says in err and "\n" not in err


def test_crowd_split_is_by_photo_and_covers_the_crowd_set(shared_dir):
    split = json.loads((sm.REPORT / "crowd_splits.json").read_text())
    parts = [set(split["sources"][k]) for k in ("train", "val", "test")]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert (len(parts[0]), len(parts[1]), len(parts[2])) == (245, 56, 60)
    stems = {p.stem for p in (shared_dir / "data" / "scenes-crowd" / "annotations").glob("*.xml")}
    assert {s.split("/", 1)[1] for s in set.union(*parts)} <= stems
    assert split["settings"]["seed"] == 1337 and split["settings"]["fractions"] == [0.7, 0.15, 0.15]
