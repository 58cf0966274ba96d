"""Privacy: --privacy blurs the masked person in saved snapshots and recordings, the violator stays sharp."""

from __future__ import annotations

import json
import stat
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest
from helpers import MODEL_JSON, make_video, run_cli

from facemask_live.core.results import Face
from facemask_live.outputs.privacy import PrivacySettings, redact

SCENE = "maksssksksss114"  # scenes-dev: an unmasked woman (left) beside a masked man, faces ~72 px
SCALE = 2


def sharpness(image: np.ndarray, box, inset: float = 0.2) -> float:
    """Laplacian variance inside ``box`` (inset, so drawn box lines and labels stay out)."""
    x1, y1, x2, y2 = box
    dx, dy = int((x2 - x1) * inset), int((y2 - y1) * inset)
    roi = cv2.cvtColor(image[y1 + dy : y2 - dy, x1 + dx : x2 - dx], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(roi, cv2.CV_64F).var())


@pytest.fixture(scope="module")
def scene(shared_dir):
    root = shared_dir / "data" / "scenes-dev"
    image = cv2.imread(str(root / "images" / f"{SCENE}.jpg"))
    boxes = {}
    for o in ET.parse(root / "annotations" / f"{SCENE}.xml").getroot().findall("object"):
        b = o.find("bndbox")
        boxes[o.find("name").text] = tuple(SCALE * int(float(b.find(k).text)) for k in ("xmin", "ymin", "xmax", "ymax"))
    image = cv2.resize(image, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_CUBIC)
    return image, boxes


def test_redact_blurs_compliant_faces_only(scene):
    image, boxes = scene
    faces = [Face(boxes["with_mask"], 0.9, "mask", track_label="mask"), Face(boxes["without_mask"], 0.9, "no_mask", track_label="no_mask")]
    out = redact(image, faces, {"no_mask"})
    assert sharpness(out, boxes["with_mask"]) < 0.2 * sharpness(image, boxes["with_mask"])
    assert sharpness(out, boxes["without_mask"]) == sharpness(image, boxes["without_mask"])
    solid = redact(image, faces, {"no_mask"}, solid=True)
    x1, y1, x2, y2 = boxes["with_mask"]
    assert solid[y1:y2, x1:x2].std() == 0  # not one pixel of the masked face is left
    assert np.array_equal(image, image.copy()) and not np.array_equal(out, image)  # the input is not changed


def test_redact_blurs_faces_the_quality_gate_left_unknown(scene):
    """An unknown face (quality gate, no stable label yet) is not a violation: blurred like a compliant one,
    and a frame with only such faces has no violator (nothing of it is recorded with --no-compliant-images)."""
    from facemask_live.core.results import UNKNOWN_LABEL
    from facemask_live.outputs.privacy import has_violator

    image, boxes = scene
    unknown = Face(boxes["without_mask"], 0.9, UNKNOWN_LABEL)
    out = redact(image, [unknown], {"no_mask"})
    assert sharpness(out, boxes["without_mask"]) < 0.2 * sharpness(image, boxes["without_mask"])
    assert not has_violator([unknown], {"no_mask"})
    # a person whose stable label is a violation stays sharp in a frame where their face was not judged
    judged_before = Face(boxes["without_mask"], 0.9, UNKNOWN_LABEL, track_id=1, track_label="no_mask")
    assert sharpness(redact(image, [judged_before], {"no_mask"}), boxes["without_mask"]) == sharpness(image, boxes["without_mask"])


def test_settings_reject_window_without_privacy():
    with pytest.raises(ValueError, match="need --privacy"):
        PrivacySettings(enabled=False, window=True)
    with pytest.raises(ValueError, match="need privacy.enabled"):
        PrivacySettings(no_compliant_images=True)


@pytest.mark.slow
@pytest.mark.skipif(not MODEL_JSON.is_file(), reason="needs the shipped classifier")
def test_cli_privacy_snapshot_and_video_blur_the_masked_man_not_the_violator(tmp_path, scene):
    image, boxes = scene
    h, w = image.shape[:2]
    clip = make_video(tmp_path / "scene.avi", n=40, size=(w, h), fps=10, image=image)
    cap = cv2.VideoCapture(str(clip))
    frame = cap.read()[1]  # the pixels the app sees (after the video codec)
    cap.release()
    snaps, events, video = tmp_path / "private" / "snaps", tmp_path / "ev.jsonl", tmp_path / "out.avi"
    proc = run_cli("--headless", "--no-progress", "--source", str(clip), "--events", str(events), "--snapshots", str(snaps),
                   "--output", str(video), "--privacy", "--cooldown", "999", timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(snaps.stat().st_mode) == 0o700
    recs = [json.loads(line) for line in events.read_text().splitlines()]
    assert len(recs) == 1 and recs[0]["label"] == "no_mask", recs
    snap = cv2.imread(recs[0]["snapshot"])
    masked_before, masked_after = sharpness(frame, boxes["with_mask"]), sharpness(snap, boxes["with_mask"])
    viol_before, viol_after = sharpness(frame, boxes["without_mask"]), sharpness(snap, boxes["without_mask"])
    print(f"masked face sharpness {masked_before:.0f} -> {masked_after:.0f}; violator {viol_before:.0f} -> {viol_after:.0f}")
    assert masked_after < 0.2 * masked_before  # blurred: > 80 % of the sharpness gone
    assert viol_after > 0.8 * viol_before  # the violator is kept sharp
    cap = cv2.VideoCapture(str(video))
    frames = [f for ok, f in iter(cap.read, (False, None)) if ok][-10:]  # once the tracker has decided both labels
    cap.release()
    assert frames and all(sharpness(f, boxes["with_mask"]) < 0.2 * masked_before for f in frames)
    assert all(sharpness(f, boxes["without_mask"]) > 0.5 * viol_before for f in frames)


def test_window_snapshot_with_privacy_blurs_the_masked_man_in_both_pictures(qtbot, tmp_path, scene):
    """Key S in the window: with --privacy the annotated and the raw PNG hide the compliant face as well."""
    import time

    from facemask_live.app.options import load_settings
    from facemask_live.app.window.bridge import Shown
    from facemask_live.app.window.main import MainWindow
    from facemask_live.core.results import Frame, FrameResult

    image, boxes = scene
    settings = load_settings(["--privacy", "--snapshots", str(tmp_path)])
    w = MainWindow(settings, labels=["mask", "no_mask"], violation_labels=("no_mask",))
    qtbot.addWidget(w)
    faces = [Face(boxes["with_mask"], 0.9, "mask", track_label="mask"), Face(boxes["without_mask"], 0.9, "no_mask", track_label="no_mask")]
    w.show_results({"camera": Shown(FrameResult(Frame(image, 0, 0.0, time.monotonic()), faces), image.copy(), None)}, [])
    [(annotated_path, raw_path)] = w.snapshot()
    for path in (annotated_path, raw_path):
        saved = cv2.imread(str(path))
        assert sharpness(saved, boxes["with_mask"]) < 0.2 * sharpness(image, boxes["with_mask"]), path
        assert sharpness(saved, boxes["without_mask"]) > 0.8 * sharpness(image, boxes["without_mask"]), path
