"""python -m facemask_live.evaluate: scoring (hand-computed figures), VOC loading, the command on real scenes."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from facemask_live.core.results import Face
from facemask_live.detection.classify import default_model_path
from facemask_live.detection.detect import create_detector
from facemask_live.measure.evaluate import GroundTruth, format_table, iou, load_scenes, main, match, parse_voc, score

SHARED = Path(__file__).resolve().parents[3] / "shared"
SCENES = SHARED / "data" / "scenes-dev"
needs_scenes = pytest.mark.skipif(not SCENES.is_dir(), reason="../shared/data/scenes-dev not available")


def gt(label, x1, y1, x2, y2):
    return GroundTruth((x1, y1, x2, y2), label)


def face(x1, y1, x2, y2, score, label=""):
    return Face((x1, y1, x2, y2), score, label=label)


# Image 1: A (mask, 50 high), B (no_mask, 60), C (mask, 30: small), D (incorrect_mask, 50).
IMAGE1_TRUTH = [
    gt("mask", 0, 0, 50, 50),
    gt("no_mask", 100, 0, 150, 60),
    gt("mask", 200, 0, 230, 30),
    gt("incorrect_mask", 300, 0, 350, 50),
]
IMAGE1_FACES = [
    face(0, 0, 50, 50, 0.9, "mask"),  # A, IoU 1, right
    face(105, 5, 150, 60, 0.8, "no_mask"),  # B, IoU 2475/3000 = 0.825, right
    face(200, 0, 230, 30, 0.7, "no_mask"),  # C (small), wrong
    face(300, 0, 350, 50, 0.6, "no_mask"),  # D, flagged
    face(400, 0, 450, 50, 0.95, "mask"),  # nothing there: false, 50 high
    face(500, 0, 520, 20, 0.3, "mask"),  # false, 20 high
    face(0, 0, 40, 40, 0.5, "mask"),  # second hit on A (IoU 0.64, A taken): false, 40 high
]
# Image 2: E (no_mask, 40 high) only grazed (IoU 400/2800), F (mask, 60) missed.
IMAGE2_TRUTH = [gt("no_mask", 0, 0, 40, 40), gt("mask", 100, 100, 160, 160)]
IMAGE2_FACES = [face(20, 20, 60, 60, 0.9, "no_mask")]


def test_iou_by_hand():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((105, 5, 150, 60), (100, 0, 150, 60)) == pytest.approx(0.825)


def test_match_is_greedy_by_score_and_one_to_one():
    truth = [gt("mask", 0, 0, 100, 100)]
    faces = [face(0, 0, 100, 100, 0.5), face(0, 0, 100, 80, 0.9)]  # the better box has the lower score
    assert match(truth, faces, 0.4) == [(1, 0, pytest.approx(0.8))]
    # two faces, two boxes: each detection takes the free face it overlaps most
    truth = [gt("mask", 0, 0, 100, 100), gt("mask", 60, 0, 160, 100)]
    faces = [face(50, 0, 150, 100, 0.9), face(0, 0, 100, 100, 0.8)]
    assert sorted((f, t) for f, t, _ in match(truth, faces, 0.4)) == [(0, 1), (1, 0)]
    assert match(truth, [face(0, 0, 100, 30, 0.9)], 0.4) == []  # IoU 0.3


def test_score_two_class_model_by_hand():
    f = score([(IMAGE1_TRUTH, IMAGE1_FACES), (IMAGE2_TRUTH, IMAGE2_FACES)], {"no_mask"}, ["mask", "no_mask"], 0.4, 40)
    a = f["all"]
    assert f["images"] == 2
    assert a["faces"] == {"mask": 3, "no_mask": 2, "incorrect_mask": 1}
    assert a["detected"] == {"mask": 2, "no_mask": 1, "incorrect_mask": 1}
    assert a["recall"] == {"mask": pytest.approx(2 / 3), "no_mask": 0.5, "incorrect_mask": 1.0, "all": pytest.approx(4 / 6)}
    assert (a["detections"], a["true_positives"], a["false_positives"], a["precision"]) == (8, 4, 4, 0.5)
    c = a["classification"]
    assert (c["faces"], c["correct"], c["accuracy"]) == (3, 2, pytest.approx(2 / 3))  # incorrect_mask left out
    assert c["left_out"] == ["incorrect_mask"]
    assert c["per_class"]["mask"] == {"faces": 2, "correct": 1, "accuracy": 0.5}
    assert c["per_class"]["no_mask"] == {"faces": 1, "correct": 1, "accuracy": 1.0}
    assert c["confusion"] == {"mask": {"mask": 1, "no_mask": 1}, "no_mask": {"no_mask": 1}}
    assert a["unmasked_flagged"] == {"faces": 2, "count": 1, "share": 0.5}
    assert a["masked_shown_masked"] == {"faces": 3, "count": 1, "share": pytest.approx(1 / 3)}
    assert a["incorrect_flagged"] == {"faces": 1, "count": 1, "share": 1.0}
    assert a["match_iou"]["min"] == pytest.approx(0.825)

    big = f["min_height_40"]  # C (30 high) and the detection on it are out; so is the 20-high false one
    assert big["faces"] == {"mask": 2, "no_mask": 2, "incorrect_mask": 1}
    assert big["detected"] == {"mask": 1, "no_mask": 1, "incorrect_mask": 1}
    assert (big["detections"], big["true_positives"], big["precision"]) == (6, 3, 0.5)
    assert (big["classification"]["faces"], big["classification"]["correct"]) == (2, 2)
    assert big["unmasked_flagged"]["share"] == 0.5
    assert big["masked_shown_masked"] == {"faces": 2, "count": 1, "share": 0.5}


# Image 3, for the 20-40 px band: G (no_mask, 25 high) found, H (incorrect_mask, 35) missed, I (mask, 15: below
# every band) found, J (mask, 45) found; a false 30-high detection (band) and a false 10-high one (no band).
IMAGE3_TRUTH = [gt("no_mask", 0, 0, 25, 25), gt("incorrect_mask", 100, 0, 135, 35), gt("mask", 200, 0, 215, 15),
                gt("mask", 500, 0, 545, 45)]
IMAGE3_FACES = [face(0, 0, 25, 25, 0.9), face(200, 0, 215, 15, 0.8), face(500, 0, 545, 45, 0.85),
                face(300, 0, 330, 30, 0.7), face(400, 0, 410, 10, 0.6)]


def test_score_small_face_band_recall_per_class_and_precision():
    """Issue 12 judges the detector per face-size band: 20-40 px and >= 40 px, recall per class and precision."""
    f = score([(IMAGE1_TRUTH, IMAGE1_FACES), (IMAGE3_TRUTH, IMAGE3_FACES)], min_iou=0.4, min_height=40)
    band = f["height_20_40"]  # C, G, H; detections: on C, on G, the 20-high and 30-high false ones
    assert band["faces"] == {"mask": 1, "no_mask": 1, "incorrect_mask": 1}
    assert band["detected"] == {"mask": 1, "no_mask": 1, "incorrect_mask": 0}
    assert band["recall"] == {"mask": 1.0, "no_mask": 1.0, "incorrect_mask": 0.0, "all": pytest.approx(2 / 3)}
    assert (band["detections"], band["true_positives"], band["precision"]) == (4, 2, 0.5)
    big = f["min_height_40"]  # A, B, D, J; detections: on A, B, D, J, the 50-high and 40-high false ones
    assert big["faces"] == {"mask": 2, "no_mask": 1, "incorrect_mask": 1}
    assert big["recall"] == {"mask": 1.0, "no_mask": 1.0, "incorrect_mask": 1.0, "all": 1.0}
    assert (big["detections"], big["true_positives"], big["precision"]) == (6, 4, pytest.approx(4 / 6))
    # every face: I (15 high) and the 10-high false detection count only here
    assert (f["all"]["detections"], f["all"]["true_positives"]) == (12, 7)
    assert sum(f["all"]["faces"].values()) == 8
    # the printed table has the band as its own column, with the same numbers
    table = format_table(f)
    assert "20-40 px high" in table.splitlines()[0]
    # row name -> [every face, 20-40 px, >= 40 px]
    cells = {parts[0]: parts[1:] for parts in (re.split(r" {2,}", line.strip()) for line in table.splitlines()[1:])}
    assert cells["detection recall incorrect_mask"] == ["50.0 % (1/2)", "0.0 % (0/1)", "100.0 % (1/1)"]
    assert cells["detection recall no_mask"] == ["100.0 % (2/2)", "100.0 % (1/1)", "100.0 % (1/1)"]
    assert cells["detection precision"] == ["58.3 % (7/12)", "50.0 % (2/4)", "66.7 % (4/6)"]


def test_score_three_class_model_counts_incorrect_mask_in_accuracy():
    labels = ["incorrect_mask", "mask", "no_mask"]
    f = score([(IMAGE1_TRUTH, IMAGE1_FACES), (IMAGE2_TRUTH, IMAGE2_FACES)], {"no_mask", "incorrect_mask"}, labels, 0.4, 40)
    assert (f["all"]["classification"]["faces"], f["all"]["classification"]["correct"]) == (4, 2)
    assert f["all"]["classification"]["per_class"]["incorrect_mask"] == {"faces": 1, "correct": 0, "accuracy": 0.0}
    assert (f["min_height_40"]["classification"]["faces"], f["min_height_40"]["classification"]["correct"]) == (3, 2)
    assert f["all"]["classification"]["left_out"] == []


def test_score_detection_only_and_empty():
    f = score([(IMAGE1_TRUTH, IMAGE1_FACES)], min_iou=0.9, min_height=0)
    assert "classification" not in f["all"] and f["classifier_labels"] is None
    assert f["all"]["detected"] == {"mask": 2, "no_mask": 0, "incorrect_mask": 1}  # B's IoU 0.825 < 0.9
    assert f["all"] == {**f["min_height_0"]}
    empty = score([([], [])])
    assert empty["all"]["precision"] is None and empty["all"]["recall"]["all"] is None and empty["all"]["match_iou"] is None


def test_scorer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="min_iou"):
        score([], min_iou=0)
    with pytest.raises(ValueError, match="min_height"):
        score([], min_height=-1)


VOC = """<annotation><filename>{name}</filename><size><width>64</width><height>48</height><depth>3</depth></size>
{objects}</annotation>"""
OBJ = "<object><name>{label}</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"


def write_voc(path: Path, name: str, objects: list[tuple]) -> None:
    body = "".join(OBJ.format(label=o[0], x1=o[1], y1=o[2], x2=o[3], y2=o[4]) for o in objects)
    path.write_text(VOC.format(name=name, objects=body))


def test_parse_voc_maps_labels_and_finds_images_by_stem(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "ann").mkdir()
    cv2.imwrite(str(tmp_path / "img" / "a.jpg"), np.zeros((48, 64, 3), np.uint8))
    # the XML names a .png that does not exist (as in the Kaggle set): found by stem
    write_voc(
        tmp_path / "ann" / "a.xml",
        "a.png",
        [("with_mask", 1, 2, 30, 40), ("without_mask", 5, 5, 9.6, 20), ("mask_weared_incorrect", 0, 0, 8, 8)],
    )
    name, objs = parse_voc(tmp_path / "ann" / "a.xml")
    assert name == "a.png"
    assert objs == [gt("mask", 1, 2, 30, 40), gt("no_mask", 5, 5, 10, 20), gt("incorrect_mask", 0, 0, 8, 8)]
    (scene,) = load_scenes(tmp_path / "img", tmp_path / "ann")
    assert scene.image == tmp_path / "img" / "a.jpg" and len(scene.objects) == 3


def test_a_box_with_no_area_is_left_out_with_a_note(tmp_path, capsys):
    """An annotation tool's slip (xmax rounding onto xmin) must not stop the scoring of a whole set."""
    (tmp_path / "img").mkdir()
    (tmp_path / "ann").mkdir()
    cv2.imwrite(str(tmp_path / "img" / "a.jpg"), np.zeros((48, 64, 3), np.uint8))
    write_voc(tmp_path / "ann" / "a.xml", "a.jpg", [("with_mask", 1, 2, 30, 40), ("without_mask", 10.2, 5, 10.4, 20)])
    (scene,) = load_scenes(tmp_path / "img", tmp_path / "ann")
    assert scene.objects == [gt("mask", 1, 2, 30, 40)]
    err = capsys.readouterr().err
    assert "left out 1 annotated box(es) with no area (first: a.xml: without_mask 10,5,10,20)" in err


def run_cli(capsys, *args):
    code = main([*args, "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_cli_bad_folders_and_files(tmp_path, capsys):
    img, ann = tmp_path / "img", tmp_path / "ann"
    code, _, err = run_cli(capsys, "--images", str(img), "--annotations", str(ann), "--detection-only")
    assert code == 3 and "images folder not found" in one_line_error(err)
    img.mkdir()
    ann.mkdir()
    code, _, err = run_cli(capsys, "--images", str(img), "--annotations", str(ann), "--detection-only")
    assert code == 3 and "no PASCAL VOC .xml files" in one_line_error(err)
    write_voc(ann / "a.xml", "a.jpg", [("with_mask", 1, 2, 30, 40)])
    code, _, err = run_cli(capsys, "--images", str(img), "--annotations", str(ann), "--detection-only")
    assert code == 3 and "no image for annotation" in one_line_error(err)
    (img / "a.jpg").write_bytes(b"not a jpeg")
    code, _, err = run_cli(capsys, "--images", str(img), "--annotations", str(ann), "--detection-only")
    assert code == 3 and "cannot read image" in one_line_error(err)
    cv2.imwrite(str(img / "a.jpg"), np.zeros((48, 64, 3), np.uint8))
    write_voc(ann / "b.xml", "b.jpg", [("a_hat", 1, 2, 30, 40)])
    code, _, err = run_cli(capsys, "--images", str(img), "--annotations", str(ann), "--detection-only")
    assert code == 3 and "unknown label 'a_hat'" in one_line_error(err)
    (ann / "b.xml").write_text("<annotation><object>")
    code, _, err = run_cli(capsys, "--images", str(img), "--annotations", str(ann), "--detection-only")
    assert code == 3 and "not a readable PASCAL VOC" in one_line_error(err)
    (ann / "b.xml").unlink()
    code, _, err = run_cli(
        capsys, "--images", str(img), "--annotations", str(ann), "--detection-only", "--json", str(tmp_path / "no" / "x.json")
    )
    assert code == 5 and "does not exist" in one_line_error(err)
    code, _, err = run_cli(capsys, "--images", str(img), "--annotations", str(ann), "--detection-only", "--json", str(tmp_path))
    assert code == 5 and "it is a folder" in one_line_error(err)
    code, _, err = run_cli(capsys, "--images", str(img), "--annotations", str(ann), "--model", str(tmp_path / "none.json"))
    assert code == 4 and "classifier model not found" in one_line_error(err)
    code, _, err = run_cli(
        capsys, "--images", str(img), "--annotations", str(ann), "--detection-only", "--detector-dir", str(tmp_path)
    )
    assert code == 4 and "face detector file not found" in one_line_error(err)
    code, _, err = run_cli(capsys, "--images", str(img), "--annotations", str(ann), "--detection-only",
                           "--save-crops", str(tmp_path / "crops"))
    assert code != 0 and "leave out --detection-only" in one_line_error(err)


@needs_scenes
def test_cli_on_a_small_voc_set_matches_the_detector(tmp_path, capsys):
    """Three real scenes (one renamed to .png), plus a flat grey image whose annotated face cannot be found."""
    img, ann = tmp_path / "images", tmp_path / "annotations"
    img.mkdir()
    ann.mkdir()
    names = ["maksssksksss0", "maksssksksss102", "maksssksksss105"]
    for n in names:
        shutil.copy(SCENES / "annotations" / f"{n}.xml", ann / f"{n}.xml")
        shutil.copy(SCENES / "images" / f"{n}.jpg", img / f"{n}.jpg")
    png = cv2.imread(str(img / "maksssksksss105.jpg"))
    cv2.imwrite(str(img / "maksssksksss105.png"), png)
    (img / "maksssksksss105.jpg").unlink()
    cv2.imwrite(str(img / "zz_grey.jpg"), np.full((300, 400, 3), 128, np.uint8))
    write_voc(ann / "zz_grey.xml", "zz_grey.jpg", [("with_mask", 100, 100, 160, 170)])

    out_json = tmp_path / "figures.json"
    code, out, err = run_cli(capsys, "--images", str(img), "--annotations", str(ann), "--detection-only", "--json", str(out_json))
    assert code == 0, err
    assert "detection recall mask" in out and "detection precision" in out and "faces >= 40 px high" in out
    figures = json.loads(out_json.read_text())

    # the same images through the detector and the scoring function, directly
    detector = create_detector()  # the app's default detector
    pairs = []
    for scene in load_scenes(img, ann):
        pairs.append((scene.objects, detector.detect(cv2.imread(str(scene.image)))))
    expected = score(pairs)
    assert figures["images"] == 4
    for split in ("all", "min_height_40"):
        for key in ("faces", "detected", "recall", "detections", "true_positives", "precision"):
            assert figures[split][key] == pytest.approx(expected[split][key]), (split, key)
    truth_total = sum(len(parse_voc(p)[1]) for p in ann.glob("*.xml"))
    assert sum(figures["all"]["faces"].values()) == truth_total
    assert sum(figures["all"]["detected"].values()) >= 3  # real faces are found in the real scenes
    grey = figures["per_image"][-1]
    assert grey == {"image": "zz_grey.jpg", "faces": 1, "found": 0, "detections": 0, "false": 0}
    assert "classification" not in figures["all"]


@needs_scenes
def test_cli_on_scenes_dev_subset_prints_every_figure(tmp_path, capsys):
    args = ["--images", str(SCENES / "images"), "--annotations", str(SCENES / "annotations"), "--limit", "40"]
    with_model = default_model_path().is_file()
    out_json = tmp_path / "f.json"
    code, out, err = run_cli(capsys, *args, "--json", str(out_json))
    assert code == 0, err
    f = json.loads(out_json.read_text())
    assert f["images"] == 40
    big = f["min_height_40"]
    # measured on these 40 images with the default detector: faces >= 40 px found 0.83, precision 0.98
    assert big["recall"]["all"] >= 0.78
    assert big["precision"] >= 0.93
    assert 0.55 <= big["match_iou"]["median"] <= 0.85  # SSD boxes are a bit larger than the tight annotations
    rows = ["detection recall mask", "detection recall no_mask", "detection recall incorrect_mask", "detection precision"]
    if with_model:
        rows += ["classification accuracy", "unmasked people flagged", "masked people shown as masked"]
        # measured with the first trained classifier: 49 of 49 found faces labelled right
        assert big["classification"]["faces"] >= 40 and big["classification"]["accuracy"] >= 0.9
        assert big["masked_shown_masked"]["share"] >= 0.7
    for r in rows:
        assert r in out


@needs_scenes
@pytest.mark.skipif(not default_model_path().is_file(), reason="no classifier model")
def test_saved_crops_are_what_the_classifier_judged(tmp_path, capsys):
    """--save-crops writes the app's crop of every found and judged face under its annotated label: classifying
    the saved files again gives exactly the evaluation's confusion matrix."""
    from facemask_live.detection.classify import MaskClassifier

    crops, out_json = tmp_path / "crops", tmp_path / "f.json"
    code, _, err = run_cli(capsys, "--images", str(SCENES / "images"), "--annotations", str(SCENES / "annotations"),
                           "--limit", "12", "--save-crops", str(crops), "--json", str(out_json))
    assert code == 0, err
    judged = json.loads(out_json.read_text())["all"]["classification"]
    clf = MaskClassifier(default_model_path(), threads=1)
    confusion: dict = {}
    for folder in sorted(crops.iterdir()):
        files = sorted(folder.glob("*.png"))
        assert all(re.fullmatch(r"maksssksksss\d+__\d\d_\d+px\.png", f.name) for f in files)
        probs = clf.predict([cv2.imread(str(f)) for f in files])
        for label in (clf.labels[i] for i in probs.argmax(axis=1)):
            confusion.setdefault(folder.name, {}).setdefault(label, 0)
            confusion[folder.name][label] += 1
    assert len(list(crops.glob("*/*.png"))) == judged["faces"] >= 15
    assert confusion == judged["confusion"]
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    code, _, err = run_cli(capsys, "--images", str(SCENES / "images"), "--annotations", str(SCENES / "annotations"),
                           "--limit", "2", "--save-crops", str(blocked))
    assert code != 0 and "cannot write crops to" in one_line_error(err)


@needs_scenes
@pytest.mark.skipif(not default_model_path().is_file(), reason="no classifier model")
def test_sweep_confidence_gives_what_each_confidence_gives_alone(tmp_path, capsys):
    """--sweep-confidence runs the detector once at the lowest threshold; each row must be exactly the figures
    of a run at that --confidence (faces found, precision, labels): 20 real scenes, three thresholds."""
    scenes = ["--images", str(SCENES / "images"), "--annotations", str(SCENES / "annotations"), "--limit", "20"]
    swept = tmp_path / "sweep.json"
    code, out, err = run_cli(capsys, *scenes, "--sweep-confidence", "0.9", "0.4", "0.7", "--json", str(swept))
    assert code == 0, err
    rows = json.loads(swept.read_text())["sweep"]
    assert [r["confidence"] for r in rows] == [0.4, 0.7, 0.9]
    assert [line.split()[0] for line in out.splitlines()[3:6]] == ["0.4", "0.7", "0.9"]
    keys = ("faces", "detected", "detections", "true_positives", "classification", "unknown", "masked_shown_masked",
            "unmasked_flagged", "incorrect_flagged")
    for row in rows:
        alone = tmp_path / f"{row['confidence']}.json"
        code, _, err = run_cli(capsys, *scenes, "--confidence", str(row["confidence"]), "--json", str(alone))
        assert code == 0, err
        expected = json.loads(alone.read_text())
        for split in ("all", "height_20_40", "min_height_40"):
            for key in keys:
                assert row[split][key] == expected[split][key], (row["confidence"], split, key)
    # a lower threshold finds more: the sweep is not three copies of one run
    assert rows[0]["all"]["detections"] > rows[2]["all"]["detections"]
    # detection only: the same faces found, no classifier columns
    code, out, err = run_cli(capsys, *scenes, "--detection-only", "--sweep-confidence", "0.7", "--json", str(swept))
    assert code == 0, err
    (row,) = json.loads(swept.read_text())["sweep"]
    assert row["min_height_40"]["detected"] == rows[1]["min_height_40"]["detected"] and "classification" not in row["all"]
    assert "masked shown masked" not in out and ">= 40 px high: found" in out

    for bad, message in ((["--confidence", "0.5"], "either --confidence or --sweep-confidence"),
                         (["--detector", "ssd"], "needs a RetinaFace detector"),
                         (["--save-crops", str(tmp_path / "c")], "--save-crops writes the faces of one threshold")):
        code, _, err = run_cli(capsys, *scenes, "--sweep-confidence", "0.5", *bad)
        assert code != 0 and message in one_line_error(err)
