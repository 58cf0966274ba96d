"""train_detector.py and facemask_live.training.detector: the Keras rebuild of the shipped RetinaFace equals
ONNX Runtime, anchors and matching round-trip on real annotated boxes, the loss mines 3 negatives per
positive, and a tiny real run exports an ONNX file the app's detector loads and finds faces with."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from facemask_live.detection.detect import RETINAFACE_MEAN_BGR, RETINAFACE_ONNX, RetinaFaceDetector, retinaface_anchors
from facemask_live.training.detector.anchors import (
    IGNORE,
    NEGATIVE,
    POSITIVE,
    MatchSettings,
    corners,
    decode,
    iou_matrix,
    match,
)
from facemask_live.training.detector.scenes import Scene, load_split
from facemask_live.training.detector.tiles import TileBatches, TileSettings, make_mosaic, make_tile

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
SCENES_DEV = SHARED / "data" / "scenes-dev"
BASE = REPO / "facemask_live" / "models" / RETINAFACE_ONNX
PHOTO = REPO / "facemask_live" / "demo" / "photos" / "maksssksksss114.jpg"
SPLITS = REPO / "facemask_live" / "models" / "report" / "scene_splits.json"
needs_shared = pytest.mark.skipif(not SCENES_DEV.is_dir(), reason="../shared/data/scenes-dev not present")


def blob_of(image: np.ndarray, width: int, height: int) -> np.ndarray:
    return cv2.dnn.blobFromImage(cv2.resize(image, (width, height)), 1.0, (width, height), RETINAFACE_MEAN_BGR)


def dev_scenes(n: int):
    stems = sorted(p.stem for p in (SCENES_DEV / "annotations").glob("*.xml"))[:n]
    return load_split([SCENES_DEV], [f"scenes-dev/{s}" for s in stems])


def test_keras_rebuild_matches_onnx_runtime():
    import onnxruntime as ort

    from facemask_live.training.detector.onnx_keras import build_keras

    model = build_keras(BASE)
    sess = ort.InferenceSession(str(BASE), providers=["CPUExecutionProvider"])
    image = cv2.imread(str(PHOTO))
    for width, height in ((700, 525), (333, 251)):  # odd sizes: the FPN's upsampling must crop like ONNX's Resize
        blob = blob_of(image, width, height)
        ref = dict(zip(("loc", "conf", "landmarks"), sess.run(["loc", "conf", "landmarks"], {"input": blob})))
        got = model(blob.transpose(0, 2, 3, 1), training=False)
        for name, want in ref.items():
            assert got[name].shape == want.shape
            assert np.abs(np.asarray(got[name]) - want).max() < 1e-3, name
        softmax = np.asarray(got["conf_logits"], np.float64)
        softmax = np.exp(softmax - softmax.max(-1, keepdims=True))
        assert np.abs(softmax / softmax.sum(-1, keepdims=True) - ref["conf"]).max() < 1e-3  # the loss's logits


def test_weights_written_back_into_the_base_graph_reproduce_it(tmp_path):
    import onnx
    import onnxruntime as ort

    from facemask_live.training.detector.onnx_keras import build_keras, write_weights

    model = build_keras(BASE)
    path = write_weights(model, BASE, tmp_path / RETINAFACE_ONNX)
    blob = blob_of(cv2.imread(str(PHOTO)), 333, 251)
    want = ort.InferenceSession(str(BASE), providers=["CPUExecutionProvider"]).run(None, {"input": blob})
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": blob})
    assert all(np.array_equal(a, b) for a, b in zip(want, got))  # the same graph, the same numbers back
    assert [n.op_type for n in onnx.load(str(path)).graph.node] == [n.op_type for n in onnx.load(str(BASE)).graph.node]


@needs_shared
def test_matching_round_trips_real_boxes():
    anchors = retinaface_anchors(480, 480)
    rng = np.random.default_rng(5)
    n_faces = 0
    for scene in dev_scenes(12):
        tile = make_tile(scene, cv2.imread(str(scene.image)), TileSettings(size=480), rng)
        ignore = np.array([[0, 0, 60, 60]], np.float32)  # a corner region: its anchors are neither class
        labels, targets = match(anchors, tile.faces, ignore)
        boxes = corners(anchors)
        on_ignore = iou_matrix(boxes, ignore).max(axis=1) >= 0.3
        assert not np.any(labels[on_ignore & (labels != POSITIVE)] == NEGATIVE)
        if not len(tile.faces):
            continue
        n_faces += len(tile.faces)
        pos = np.flatnonzero(labels == POSITIVE)
        back = decode(targets[pos], anchors[pos])
        ious = iou_matrix(back, tile.faces)
        assert np.allclose(ious.max(axis=1), 1.0, atol=1e-4)  # every positive decodes to exactly one face
        assert set(ious.argmax(axis=1)) == set(range(len(tile.faces)))  # and every face has a positive
        between = (iou_matrix(boxes, tile.faces).max(axis=1) >= 0.3) & (iou_matrix(boxes, tile.faces).max(axis=1) < 0.35)
        assert np.all(labels[between] != NEGATIVE)
        assert IGNORE in labels
    assert n_faces >= 10


def drawn_photo(w: int, h: int, boxes: list[tuple[int, int, int, int]]) -> tuple[Scene, np.ndarray]:
    """A dark photo with each "face" a white box, as a scene with those boxes annotated."""
    image = np.full((h, w, 3), 30, np.uint8)
    for x0, y0, x1, y1 in boxes:
        image[y0:y1, x0:x1] = 255
    faces = np.array(boxes, np.float32).reshape(-1, 4)
    return Scene("t/x", Path("x.jpg"), Path("x.xml"), faces, ["with_mask"] * len(boxes), np.zeros((0, 4), np.float32)), image


def test_a_mosaic_moves_every_face_box_onto_its_pixels():
    rng = np.random.default_rng(3)
    st = TileSettings(size=480, colour=False)
    photos = [drawn_photo(400, 300, [(40, 50, 140, 170), (250, 100, 290, 150)]), drawn_photo(300, 500, [(100, 100, 200, 230)]),
              drawn_photo(640, 480, [(300, 200, 316, 214)]), drawn_photo(200, 200, [])]
    for _ in range(10):
        tile = make_mosaic(photos, st, rng)
        assert tile.image.shape == (480, 480, 3)
        assert len(tile.faces) == 3 and len(tile.ignore) == 1  # the 16x14 px face shrinks under 12 px: ignored
        for x0, y0, x1, y1 in np.concatenate([tile.faces, tile.ignore]):
            assert tile.image[round((y0 + y1) / 2), round((x0 + x1) / 2)].min() > 200  # the box is on its white face
        for x0, y0, x1, y1 in np.round(tile.faces).astype(int):
            assert tile.image[y0 + 2:y1 - 2, x0 + 2:x1 - 2].min() > 200  # all of it
        # each photo fits its 240-px cell at 75-100 %: the first photo's 120-px face is 54-72 px high
        assert 0.75 * 0.6 * 120 - 0.5 <= tile.faces[0, 3] - tile.faces[0, 1] <= 0.6 * 120 + 0.5
        white = tile.image.min(axis=2) > 200
        assert white.sum() <= sum(np.prod(b[2:] - b[:2] + 1) for b in np.concatenate([tile.faces, tile.ignore]))
    with pytest.raises(ValueError, match="square number"):
        make_mosaic(photos[:3], st, rng)


def test_mosaic_share_of_tiles_and_the_shipped_stream_unchanged():
    photos = [drawn_photo(400, 300, [(40, 50, 140, 170)]) for _ in range(8)]
    scenes = [p[0] for p in photos]

    def tiles(mosaic: float, seed: int = 9) -> list:
        batches = TileBatches(scenes, TileSettings(size=160, mosaic=mosaic, colour=False), MatchSettings(), seed)
        batches._images = {i: p[1] for i, p in enumerate(photos)}
        return [batches.tile(i % 8) for i in range(200)]

    # a mosaic of four one-face photos has four faces (each at most 80/400 x 120 = 24 px, at least 12 px)
    share = np.mean([len(t.faces) == 4 for t in tiles(0.3)])
    assert 0.2 < share < 0.4
    assert all(len(t.faces) == 4 for t in tiles(1.0))
    # mosaic off draws no extra random numbers: the same tiles as a run from before the option existed
    rng = np.random.default_rng(9)
    want = [make_tile(scenes[i % 8], photos[i % 8][1], TileSettings(size=160, colour=False), rng) for i in range(20)]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(want, tiles(0.0)[:20]))


def test_hard_negative_mining_keeps_three_per_positive():
    import tensorflow as tf

    from facemask_live.training.detector.loss import MIN_NEGATIVES, hard_negatives

    rng = np.random.default_rng(0)
    labels = rng.choice([1, 0, 0, 0, 0, 0, 0, 0, 0, -1], size=(3, 500)).astype(np.int32)
    labels[2] = np.where(labels[2] == 1, 0, labels[2])  # a tile with no face
    ce = tf.constant(rng.random((3, 500)), tf.float32)
    npos = (labels == 1).sum(axis=1)
    chosen = hard_negatives(ce, tf.constant(labels == 0), tf.constant(npos), 3.0).numpy()
    for i in range(3):
        want = min(max(3 * npos[i], MIN_NEGATIVES), int((labels[i] == 0).sum()))
        assert chosen[i].sum() == want and not np.any(chosen[i] & (labels[i] != 0))
        neg_ce = ce.numpy()[i][labels[i] == 0]
        assert ce.numpy()[i][chosen[i]].min() >= np.sort(neg_ce)[::-1][want - 1]  # the hardest ones


def test_distillation_pulls_only_the_non_face_anchors_towards_the_base_scores():
    import tensorflow as tf

    from facemask_live.training.detector.loss import distill_loss

    rng = np.random.default_rng(1)
    labels = rng.choice([1, 0, 0, 0, -1], size=(2, 300)).astype(np.int32)
    teacher = tf.constant(rng.normal(size=(2, 300, 2)) * 3, tf.float32)
    assert abs(float(distill_loss(labels, teacher, teacher))) < 1e-5  # the base model's own scores cost nothing
    student = tf.Variable(rng.normal(size=(2, 300, 2)) * 3, dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = distill_loss(labels, student, teacher)
    grad = tape.gradient(loss, student).numpy()
    assert float(loss) > 0.1
    assert np.all(grad[labels == 1] == 0) and np.any(grad[labels != 1] != 0)  # annotated faces keep their labels' pull
    # a step down the gradient moves the face probability of the other anchors towards the base model's
    p = lambda z: tf.nn.softmax(z, axis=-1).numpy()[..., 1]  # noqa: E731
    stepped = student - 0.5 * grad * (labels == 1).sum()
    rest = labels != 1
    before, after = np.abs(p(student) - p(teacher))[rest], np.abs(p(stepped) - p(teacher))[rest]
    assert np.all(after <= before + 1e-6) and after.mean() < before.mean() - 0.02


def run_script(*args, timeout=240):
    return subprocess.run([sys.executable, str(REPO / "train_detector.py"), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def test_bad_input_is_one_error_line(tmp_path):
    r = run_script("--scenes", tmp_path / "nope", "--splits", SPLITS, "--out", tmp_path / "o", "--epochs", "1")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: scenes folder not found")


def dev_splits(tmp_path: Path) -> Path:
    """The real split file, its scenes-dev photos only."""
    sources = json.loads(SPLITS.read_text())["sources"]
    splits = tmp_path / "splits.json"
    splits.write_text(json.dumps({"sources": {k: [x for x in v if x.startswith("scenes-dev/")] for k, v in sources.items()}}))
    return splits


@pytest.mark.parametrize("args, message", [
    (("--ship-epoch", 3), "--ship-epoch must be in 1..--epochs (2), got 3"),
    (("--refit",), "--refit trains on the val photos, so val cannot choose the epoch: give --ship-epoch N"),
])
def test_ship_epoch_and_refit_misuse_is_one_error_line(tmp_path, args, message):
    r = run_script("--scenes", SCENES_DEV, "--splits", SPLITS, "--out", tmp_path / "o", "--epochs", 2, *args)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == "error: " + message


@needs_shared
@pytest.mark.slow
def test_tiny_run_exports_a_detector_the_app_uses(tmp_path):
    out = tmp_path / "run"
    r = run_script("--scenes", SCENES_DEV, "--splits", dev_splits(tmp_path), "--base", BASE, "--epochs", 1, "--batch-size", 4,
                   "--tile", 192, "--limit-train", 4, "--limit-val", 2, "--seed", 3, "--threads", 2, "--out", out,
                   "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    record = json.loads((out / "report" / "training.json").read_text())
    assert record["best_epoch"] == 1 and len(record["epochs"]) == 1 and record["data"]["train_photos"] == 4
    assert record["seed"] == 3 and "train_detector.py" in record["command"]
    assert record["epochs"][0]["distill_loss"] == 0  # off by default
    for png in ("loss_curves.png", "val_pr_curves.png"):
        assert cv2.imread(str(out / "report" / png)) is not None
    import onnx

    graph = [n.op_type for n in onnx.load(str(out / RETINAFACE_ONNX)).graph.node]
    assert graph == [n.op_type for n in onnx.load(str(BASE)).graph.node]  # the base graph, new weights
    det = RetinaFaceDetector(out)  # the app's loader: same input/output names
    base = RetinaFaceDetector()
    image = cv2.imread(str(PHOTO))
    faces, base_faces = det.detect(image), base.detect(image)
    assert faces and all(f.landmarks is not None and f.landmarks.shape == (5, 2) for f in faces)
    assert max(max(iou_matrix(np.array([f.box], float), np.array([b.box for b in base_faces], float))[0]) for f in faces) > 0.5


def test_moving_average_is_swapped_in_and_out():
    import tensorflow as tf

    from facemask_live.training.detector.optim import RelativeAdam

    w = tf.Variable([1.0, -2.0])
    opt = RelativeAdam([w], lambda step: 0.1, ema=0.9)
    start = w.numpy().copy()
    avg = start.copy()
    for t in range(1, 31):  # noisy pulls towards (3, 3): the average lags the weights and is smoother
        grad = 2.0 * (w - 3.0) + tf.constant(np.random.default_rng(t).normal(0, 3, 2), tf.float32)
        opt.apply([grad])
        decay = min(0.9, (1.0 + t) / (10.0 + t))
        avg = decay * avg + (1.0 - decay) * w.numpy()
    trained = w.numpy().copy()
    assert not np.allclose(trained, avg, atol=1e-3)
    with opt.averaged():
        np.testing.assert_allclose(w.numpy(), avg, rtol=1e-5)
    np.testing.assert_array_equal(w.numpy(), trained)  # the training weights are back
    plain = RelativeAdam([tf.Variable([1.0])], lambda step: 0.1)
    with plain.averaged():  # without --ema nothing is swapped
        assert plain.variables[0].numpy()[0] == 1.0


@needs_shared
def test_ignore_regions_pool_every_finder_and_never_cover_an_annotation(tmp_path):
    """--ignore-detectors: the masked-face detector finds unannotated (mostly masked) faces the base misses; the
    regions of both are pooled, none covers an annotated face, and the cache is keyed by the models."""
    from facemask_live.training.detector.scenes import IgnoreSettings, find_ignore_regions

    masked = REPO / "facemask_live" / "models" / "retinaface_mnet025_masked.onnx"
    scenes = dev_scenes(40)
    cache = tmp_path / "ignore.json"
    n_base = find_ignore_regions(scenes, IgnoreSettings((str(BASE),), str(cache)), progress=False)
    base_regions = {s.source: s.ignore.copy() for s in scenes}
    n_both = find_ignore_regions(scenes, IgnoreSettings((str(BASE), str(masked)), str(cache)), progress=False)
    assert n_both > n_base  # measured: 8 -> 15 on these 40 photos
    for s in scenes:
        assert all(any(np.array_equal(b, r) for r in s.ignore) for b in base_regions[s.source])  # the base's kept
        if len(s.ignore) and len(s.faces):
            assert iou_matrix(s.ignore, s.faces).max() < 0.3
    sha1s = json.loads(cache.read_text())["key"]["detector_sha1s"]
    assert len(sha1s) == 2 and sha1s[0] != sha1s[1]  # a cache made by other models is not reused


@needs_shared
@pytest.mark.slow
def test_refit_trains_on_the_val_photos_too_and_ships_the_given_epoch(tmp_path):
    """--refit --ship-epoch N: the val photos join the train photos, the run stops after epoch N of the --epochs
    schedule and exports that epoch whatever val says (val has been trained on, so it chooses nothing). With
    --distill the term is trained and logged (the base model's scores move away from its own as the weights do)."""
    out = tmp_path / "refit"
    r = run_script("--scenes", SCENES_DEV, "--splits", dev_splits(tmp_path), "--base", BASE, "--epochs", 3,
                   "--refit", "--ship-epoch", 2, "--batch-size", 4, "--tile", 192, "--limit-train", 4, "--limit-val", 2,
                   "--distill", 0.5, "--seed", 3, "--threads", 2, "--out", out, "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    record = json.loads((out / "report" / "training.json").read_text())
    assert record["data"]["train_photos"] == 6 and record["data"]["val_photos"] == 2  # 4 train + the 2 val photos
    assert [e["epoch"] for e in record["epochs"]] == [1, 2] and record["best_epoch"] == 2  # stopped at 2 of 3
    assert record["selection"].startswith("refit on train + val: epoch 2 of 3")
    assert "refit on train + val, epoch 2 of 3" in (out / "train.log").read_text()
    # the first step starts at the base model's own scores (0); after it the model has moved away from them
    assert record["settings"]["distill_weight"] == 0.5 and record["epochs"][1]["distill_loss"] > 0
    assert "distill " in (out / "train.log").read_text()
    faces = RetinaFaceDetector(out).detect(cv2.imread(str(PHOTO)))  # the app loads the export
    assert faces and all(f.landmarks is not None for f in faces)


def run_soup(*args):
    return subprocess.run([sys.executable, str(REPO / "tools" / "average_detectors.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)


def test_averaged_detector_is_the_mean_of_the_weights_and_finds_faces(tmp_path):
    """tools/average_detectors.py: every float weight of the soup is the mean of the two models' (the original and
    the fine-tuned detector share one graph), and the app's detector loads it and finds the faces both find."""
    import onnx
    from onnx import numpy_helper

    masked = REPO / "facemask_live" / "models" / "retinaface_mnet025_masked.onnx"
    out = tmp_path / "soup" / "retinaface_mnet025_masked.onnx"
    r = run_soup(BASE, masked, "--out", out)
    assert r.returncode == 0, r.stderr
    weights = [{t.name: numpy_helper.to_array(t) for t in onnx.load(str(p)).graph.initializer} for p in (BASE, masked, out)]
    floats = [k for k, v in weights[0].items() if v.dtype.kind == "f"]
    assert sum(not np.array_equal(weights[0][k], weights[1][k]) for k in floats) > 50  # the two really differ
    for k in floats:
        np.testing.assert_allclose(weights[2][k], (weights[0][k].astype(np.float64) + weights[1][k]) / 2, rtol=1e-6, atol=1e-7)
    image = cv2.imread(str(PHOTO))
    found = [RetinaFaceDetector(d, name="retinaface-masked").detect(image) for d in (masked.parent, out.parent)]
    base_faces = RetinaFaceDetector(name="retinaface").detect(image)
    both = [f for f in found[0] if max(iou_matrix(np.array([f.box], float), np.array([b.box for b in base_faces], float))[0]) > 0.5]
    assert len(both) == 2  # the demo photo's two faces (one masked, one not)
    for f in both:
        assert max(iou_matrix(np.array([f.box], float), np.array([g.box for g in found[1]], float))[0]) > 0.5


@pytest.mark.parametrize("case", ["other graph", "missing", "one model"])
def test_averaging_bad_models_is_one_error_line(tmp_path, case):
    import onnx

    out = tmp_path / "soup.onnx"
    if case == "other graph":  # one weight renamed: not the same graph
        m = onnx.load(str(BASE))
        m.graph.initializer[0].name += "_x"
        other = tmp_path / "other.onnx"
        onnx.save(m, str(other))
        r, want = run_soup(BASE, other, "--out", out), f"error: {other} is not the same graph as {BASE}"
    elif case == "missing":
        r, want = run_soup(BASE, tmp_path / "nope.onnx", "--out", out), f"error: model not found: {tmp_path / 'nope.onnx'}"
    else:
        r, want = run_soup(BASE, "--out", out), "error: give at least two models to average"
    assert r.returncode == 2 and "Traceback" not in r.stderr and not out.exists()
    assert want in r.stderr.strip().splitlines()[-1]
