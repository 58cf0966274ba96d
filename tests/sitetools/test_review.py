"""Review: marks next to the event log, the review dialog in the window, false alarms exported as training crops."""

from __future__ import annotations

import json
import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt is imported

import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from helpers import REPO
from PyQt5 import QtCore

from facemask_live.app.options import load_settings
from facemask_live.app.window import review as gui_review
from facemask_live.app.window.main import MainWindow
from facemask_live.core.results import Event
from facemask_live.outputs.sinks import event_record
from facemask_live.sitetools.review import add_mark, event_key, export_false_alarms, marks_path, read_marks


@pytest.fixture
def logged_events(tmp_path, shared_dir):
    """An --events log with two violations whose crops are real face crops (one masked: a false alarm)."""
    val = shared_dir / "data" / "masks-2class" / "val"
    masked, unmasked = sorted((val / "with_mask").iterdir())[0], sorted((val / "without_mask").iterdir())[0]
    snaps = tmp_path / "snaps"
    snaps.mkdir()
    events = []
    for i, src in enumerate((masked, unmasked)):
        img = cv2.imread(str(src))
        crop = snaps / f"violation_t{i + 1}_20240101-080000-00{i}_f00000{i}_crop.png"
        snap = crop.with_name(crop.name.replace("_crop", ""))
        cv2.imwrite(str(crop), img)
        cv2.imwrite(str(snap), cv2.copyMakeBorder(img, 100, 100, 200, 200, cv2.BORDER_CONSTANT, value=(60, 60, 60)))
        events.append(Event(time.time() + i, "door-1", i + 1, "no_mask", 0.8, i, (200, 100, 300, 200), str(snap), str(crop)))
    log = tmp_path / "events.jsonl"
    log.write_text("".join(json.dumps(event_record(e)) + "\n" for e in events))
    return log, events


def test_dialog_shows_snapshot_and_crop_and_writes_a_false_alarm_mark(qtbot, logged_events):
    log, events = logged_events
    dialog = gui_review.ReviewDialog(events[0], log, ["mask", "no_mask"])
    qtbot.addWidget(dialog)
    assert dialog.snapshot_label.pixmap() is not None and not dialog.snapshot_label.pixmap().isNull()
    assert dialog.crop_label.pixmap().width() > 0
    assert dialog.true_label.currentText() == "mask"  # a false "no mask" was most likely a masked face
    assert "camera: door-1\n" in details_text(dialog)  # a plain source: named by its source
    qtbot.mouseClick(dialog.false_button, QtCore.Qt.LeftButton)
    assert dialog.result() == dialog.Accepted
    marks = read_marks(log)
    m = marks[event_key(event_record(events[0]))]
    assert (m.mark, m.label, m.crop) == ("false_alarm", "mask", events[0].crop)
    assert marks_path(log).name == "events.jsonl.review.jsonl"


def details_text(dialog) -> str:
    from PyQt5 import QtWidgets

    return "\n".join(lab.text() for lab in dialog.findChildren(QtWidgets.QLabel) if lab.text().startswith("camera: "))


def test_the_dialog_names_a_site_camera_by_its_name(qtbot, logged_events):
    """An event of a site's camera says the camera's name, as the event list and the report do, not its source."""
    import dataclasses

    log, events = logged_events
    dialog = gui_review.ReviewDialog(dataclasses.replace(events[1], camera="front-door"), log, ["mask", "no_mask"])
    qtbot.addWidget(dialog)
    assert "camera: front-door\n" in details_text(dialog) and "door-1" not in details_text(dialog)


def test_clicking_an_event_in_the_window_opens_the_review(qtbot, logged_events, tmp_path):
    log, events = logged_events
    window = MainWindow(load_settings(["--source", "door-1.mp4", "--events", str(log)]), labels=["mask", "no_mask"])
    qtbot.addWidget(window)
    window.add_event("camera", events[1])
    item = window.event_list.item(0)
    QtCore.QTimer.singleShot(300, lambda: window.review_dialog.confirm_button.click())
    window.event_list.itemClicked.emit(item)  # modal until the timer presses "Confirmed"
    assert read_marks(log)[event_key(event_record(events[1]))].mark == "confirmed"
    assert item.text().endswith("[confirmed]")
    assert [a.text() for a in window.menuBar().actions()][-1] == "&Review"
    index = gui_review.run_report(window, [str(log)], out=tmp_path / "report", open_it=False)
    assert index is not None and "Violations reviewed: 1 confirmed" in index.read_text()


def test_export_puts_false_alarms_into_their_true_class_folder(logged_events, tmp_path):
    log, events = logged_events
    recs = [event_record(e) for e in events]
    add_mark(log, recs[0], "confirmed", now=1.0)
    add_mark(log, recs[0], "false_alarm", now=2.0)  # changed one's mind: the newest mark wins
    add_mark(log, recs[1], "confirmed", now=3.0)
    out = tmp_path / "extra_faces"
    res = export_false_alarms(log, out)
    assert res.copied == {"with_mask": 1} and res.missing == 0
    exported = list((out / "with_mask").iterdir())
    assert len(exported) == 1 and cv2.imread(str(exported[0])).shape == cv2.imread(events[0].crop).shape
    res = export_false_alarms(log, out, include_confirmed=True)
    assert res.copied == {"with_mask": 1, "without_mask": 1}
    assert sorted(p.name for p in out.iterdir()) == ["with_mask", "without_mask"]  # train_mobilenet.py --data layout
    Path(events[0].crop).unlink()  # pruned by retention
    assert export_false_alarms(log, tmp_path / "again").missing == 1


def test_export_cli(logged_events, tmp_path):
    log, events = logged_events

    def review(*args):
        return subprocess.run([sys.executable, "-m", "facemask_live.sitetools.review", *args], capture_output=True, text=True,
                              cwd=REPO, timeout=60)

    proc = review("export", str(log), "--out", str(tmp_path / "x"))
    assert proc.returncode == 3 and proc.stderr.startswith("error: no review marks for") and proc.stderr.count("\n") == 1
    add_mark(log, event_record(events[0]), "false_alarm")
    proc = review("export", str(log), "--out", str(tmp_path / "x"))
    assert proc.returncode == 0, proc.stderr
    assert "copied 1 to with_mask/" in proc.stdout
    assert len(list((tmp_path / "x" / "with_mask").glob("review_*.png"))) == 1
