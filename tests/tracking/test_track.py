"""Tracker: ids that follow people through detector gaps and crossings, and labels that do not flicker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facemask_live.core.results import Face, Frame
from facemask_live.tracking.track import Tracker, iou

SHARED = Path(__file__).resolve().parents[3] / "shared"
FPS = 25.0


def make_frame(index: int, size=(360, 640)) -> Frame:
    image = np.full((*size, 3), 90, np.uint8)
    return Frame(image, index, index / FPS, 0.0, None, "synthetic")


def make_face(box, label="no_mask", p=0.9, labels=("mask", "no_mask")) -> Face:
    rest = (1.0 - p) / (len(labels) - 1)
    probs = {lab: (p if lab == label else rest) for lab in labels}
    return Face(tuple(int(round(c)) for c in box), 0.99, label, p, probs)


def square(cx, cy, side):
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def run(tracker: Tracker, per_frame: list[list[Face]]) -> list[list[Face]]:
    for i, faces in enumerate(per_frame):
        tracker.update(faces, make_frame(i))
    return per_frame


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)


def test_confirmed_after_initialization_delay_and_single_frame_blips_are_nobody():
    tracker = Tracker(initialization_delay=3)
    frames = []
    for i in range(10):
        faces = [make_face(square(100 + 3 * i, 150, 80))]
        if i == 4:
            faces.append(make_face(square(500, 100, 60)))  # a one-frame false detection
        frames.append(faces)
    run(tracker, frames)
    assert [faces[0].track_id for faces in frames] == [None, None] + [1] * 8
    assert frames[4][1].track_id is None
    assert tracker.people == 1
    assert len(tracker.tracks) == 1 and tracker.tracks[0].confirmed and tracker.tracks[0].id == 1


@pytest.mark.parametrize("delay", [0, 1])
def test_no_delay_confirms_at_once(delay):
    tracker = Tracker(initialization_delay=delay)
    faces = [make_face(square(100, 100, 50))]
    tracker.update(faces, make_frame(0))
    assert faces[0].track_id == 1


def test_still_images_are_scenes_of_their_own():
    tracker = Tracker(initialization_delay=3)
    shots = []
    for i, name in enumerate(["a.jpg", "b.jpg", "b.jpg"]):  # the same box in two photos; b.jpg shown twice (--loop)
        faces = [make_face(square(200, 150, 80), "mask", 0.95), make_face(square(400, 150, 80), "no_mask", 0.55)]
        frame = make_frame(i)
        frame.file = name
        tracker.update(faces, frame)
        shots.append(faces)
    assert [f.track_id for f in shots[0]] == [1, 2]  # everyone counts at once, no delay
    assert [f.track_id for f in shots[1]] == [3, 4]  # nobody carries over into another photo
    assert [f.track_id for f in shots[2]] == [3, 4]  # the same photo again: the same people
    assert [f.track_label for f in shots[0]] == ["mask", None]  # one view decides, if sure enough


def test_keeps_id_through_short_detector_gap():
    tracker = Tracker(max_missing=15)
    frames = []
    for i in range(70):
        box = square(80 + 5 * i, 180, 90)  # walks right, 5 px/frame
        frames.append([] if 25 <= i < 37 else [make_face(box)])  # detector misses 12 frames
    run(tracker, frames)
    ids = {faces[0].track_id for faces in frames[2:] if faces}
    assert ids == {1}
    assert tracker.people == 1


def test_long_gap_ends_the_track_and_starts_a_new_person():
    tracker = Tracker(max_missing=5)
    frames = [[make_face(square(200, 180, 90))] if not 10 <= i < 17 else [] for i in range(30)]
    run(tracker, frames)
    assert frames[9][0].track_id == 1
    assert [frames[i][0].track_id for i in (17, 18, 19, 20)] == [None, None, 2, 2]
    assert tracker.people == 2 and len(tracker.tracks) == 1


def crossing(n, a_side, b_side, a_y, b_y, hide_b=range(0)):
    """Person A walks right, B walks left, 8 px/frame each; they meet in the middle. Returns (who, face) pairs."""
    rng = np.random.default_rng(7)
    frames = []
    for i in range(n):
        jitter = rng.uniform(-2, 2, size=4)
        pairs = [("A", make_face(np.add(square(80 + 8 * i, a_y, a_side), jitter)))]
        if i not in hide_b:
            pairs.append(("B", make_face(np.add(square(80 + 8 * (n - 1) - 8 * i, b_y, b_side), jitter[::-1]))))
        frames.append(pairs)
    return frames


@pytest.mark.parametrize(
    "a_side, b_side, a_y, b_y, hide_b",
    [
        (90, 90, 180, 180, range(0)),  # same size, head on: the boxes coincide at the meeting point
        (90, 90, 172, 188, range(0)),  # same size, one head a little higher
        (100, 70, 170, 195, range(0)),  # one nearer the camera
        (100, 70, 170, 195, range(26, 36)),  # the far one is hidden behind the near one while they cross
    ],
)
def test_two_people_crossing_keep_their_ids(a_side, b_side, a_y, b_y, hide_b):
    frames = crossing(61, a_side, b_side, a_y, b_y, hide_b)  # they meet at frame 30
    tracker = Tracker()
    for i, pairs in enumerate(frames):
        tracker.update([f for _, f in pairs], make_frame(i))
    ids = {"A": [], "B": []}
    for pairs in frames[2:]:
        if len(pairs) == 2 and iou(pairs[0][1].box, pairs[1][1].box) > 0.85:
            continue  # the two boxes are one (up to detector jitter): nobody can tell who is who there
        for who, f in pairs:
            ids[who].append(f.track_id)
    assert len(set(ids["A"])) == 1 and len(set(ids["B"])) == 1, ids
    assert set(ids["A"]) | set(ids["B"]) == {1, 2}
    assert tracker.people == 2


def test_a_single_misread_frame_does_not_flip_the_stable_label():
    tracker = Tracker(vote_window=15, min_confidence=0.6)
    frames = []
    for i in range(40):
        flip = i in (12, 25)
        frames.append([make_face(square(200 + i, 180, 90), "mask" if flip else "no_mask", 0.97 if flip else 0.9)])
    run(tracker, frames)
    assert frames[12][0].label == "mask"  # the per-frame label stays what the classifier said
    stable = [faces[0].track_label for faces in frames[2:]]
    assert stable == ["no_mask"] * len(stable)
    assert 0.6 <= frames[-1][0].track_prob <= 0.9


def test_a_real_change_switches_the_label_after_the_vote_not_at_once():
    tracker = Tracker(vote_window=10, min_confidence=0.6)
    frames = [[make_face(square(200, 180, 90), "no_mask" if i < 30 else "mask", 0.95)] for i in range(60)]
    run(tracker, frames)
    stable = [faces[0].track_label for faces in frames]
    assert stable[29] == "no_mask"
    switch = stable.index("mask")
    assert 31 <= switch <= 39  # a majority of the window has to agree first
    assert set(stable[switch:]) == {"mask"}


def test_unsure_person_stays_undecided():
    tracker = Tracker(min_confidence=0.7)
    frames = [[make_face(square(200, 180, 90), ["mask", "no_mask"][i % 2], 0.55)] for i in range(30)]
    run(tracker, frames)
    assert all(faces[0].track_id == 1 for faces in frames[2:])
    assert all(faces[0].track_label is None and faces[0].track_prob is None for faces in frames)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"iou_threshold": 1.5}, "iou_threshold"),
        ({"initialization_delay": -1}, "initialization_delay"),
        ({"max_missing": -2}, "max_missing"),
        ({"vote_window": 0}, "vote_window"),
        ({"min_confidence": 0.0}, "min_confidence"),
        ({"min_confidence": 1.2}, "min_confidence"),
    ],
)
def test_bad_arguments_raise_clear_value_errors(kwargs, word):
    with pytest.raises(ValueError, match=word):
        Tracker(**kwargs)


@pytest.mark.skipif(not (SHARED / "media" / "videos").is_dir(), reason="../shared not available")
def test_real_video_one_person_one_id():
    """The SSD detector on the street clip, every 2nd frame (the person moves twice as far) and some more gaps."""
    import cv2

    from facemask_live.detection.detect import FaceDetector

    detector = FaceDetector(SHARED / "models")
    tracker = Tracker(max_missing=5)
    cap = cv2.VideoCapture(str(SHARED / "media" / "videos" / "street_nomask.mp4"))
    ids = []
    for i in range(120):
        ok, image = cap.read()
        assert ok
        if i % 2 or i % 20 in (6, 8):
            continue
        faces = detector.detect(image)
        tracker.update(faces, Frame(image, i, i / FPS, 0.0, None, "street"))
        ids += [f.track_id for f in faces]
    cap.release()
    assert len(ids) >= 40
    assert set(ids[3:]) == {1}
    assert tracker.people == 1


def test_appearance_is_described_from_the_detectors_own_boxes_only(face_frame):
    """A live camera carries a detection's boxes by optical flow over many frames (``Face.carried`` > 0): the
    re-identification descriptor comes from the frames a detector box is shown on, at most every REID_EVERY
    sightings, and not from the carried boxes in between."""
    from facemask_live.detection.detect import create_detector
    from facemask_live.tracking.reid import Reidentifier

    box = create_detector("retinaface-masked").detect(face_frame)[0].box
    tracker = Tracker(reid=Reidentifier())
    described = []
    # a detection every 6th frame (a 25 fps camera looked at about four times a second), carried between
    for i in range(24):
        face = Face(box, 0.99, "no_mask", 0.9, {"mask": 0.1, "no_mask": 0.9}, carried=i % 6)
        tracker.update([face], Frame(face_frame, i, i / FPS, 0.0, None, "live"))
        described.append(tracker.tracks[0].appearance.n)
    assert described == [1] * 6 + [2] * 6 + [3] * 6 + [4] * 6  # one per detection, none from carried boxes
    assert tracker.tracks[0].appearance.mean is not None and tracker.people == 1
    # a camera whose every frame is a detection (a file, frame by frame): every REID_EVERY-th sighting, as before
    tracker = Tracker(reid=Reidentifier())
    for i in range(9):
        tracker.update([Face(box, 0.99, "no_mask", 0.9, carried=0)], Frame(face_frame, i, i / FPS, 0.0, None, "live"))
    assert tracker.tracks[0].appearance.n == 9 // Tracker.REID_EVERY


@pytest.mark.parametrize("seed", range(4))
def test_few_pairs_are_scored_in_python_exactly_as_many_in_numpy(seed):
    """A door camera's few tracks and faces are paired in plain Python, a crowd's in numpy: the same pairs, costs and
    matches either way (moving, missing, tentative and confirmed tracks; near, far, small and large faces)."""
    from facemask_live.tracking.track import Track

    rng = np.random.default_rng(seed)
    for _ in range(200):
        tracker = Tracker()
        for k in range(int(rng.integers(1, 6))):
            x, y, s = rng.uniform(0, 600), rng.uniform(0, 300), rng.uniform(10, 120)
            track = Track(k, (x, y, x + s, y + 1.2 * s), hits=3, confirmed=bool(rng.random() < 0.7),
                          misses=int(rng.integers(0, 4)), velocity=tuple(rng.uniform(-6, 6, 2).tolist()))
            tracker.tracks.append(track)
        faces = []
        for _f in range(int(rng.integers(1, 6))):
            x1, y1, x2, y2 = tracker.tracks[int(rng.integers(len(tracker.tracks)))].box
            d, k = rng.uniform(-20, 20), rng.uniform(0.5, 2.0) if rng.random() < 0.2 else rng.uniform(0.8, 1.2)
            faces.append(Face(tuple(int(v) for v in (x1 + d, y1 + d, x1 + d + (x2 - x1) * k, y1 + d + (y2 - y1) * k)), 0.9))
        in_python = tracker._pair_costs(faces)
        matched = [(t.key, id(f)) for t, f in tracker._match(faces)]
        tracker.SMALL_PAIRS = 0
        in_numpy = tracker._pair_costs(faces)
        assert [p[1:] for p in sorted(in_python)] == [p[1:] for p in sorted(in_numpy)]
        assert [p[0] for p in sorted(in_python)] == pytest.approx([p[0] for p in sorted(in_numpy)], abs=1e-12)
        assert [(t.key, id(f)) for t, f in tracker._match(faces)] == matched
