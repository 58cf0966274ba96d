"""The window's Qt parts offscreen without an engine: results fed as the bridge hands them over (the banner, the
event list with its face, the flash, only the newest frame shown, every event kept, pause holding the camera
thread). The window on the real engine: test_window_site.py."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt is imported

import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from helpers import REPO, make_video

from facemask_live.app.options import load_settings
from facemask_live.app.window.bridge import Shown
from facemask_live.app.window.main import MainWindow
from facemask_live.app.window.view import THUMB
from facemask_live.core.errors import FacemaskError
from facemask_live.core.results import Event, Face, Frame, FrameResult

COUNTS = {"people": 1, "masked": 0, "not_judged": 0, "violations": 1}


def result_for(image: np.ndarray, index: int = 0, faces=(), events=()) -> FrameResult:
    return FrameResult(Frame(image, index, index / 25.0, time.monotonic(), None, "test"), list(faces), list(events))


def make_window(qtbot, *args: str, labels=("mask", "no_mask")) -> MainWindow:
    w = MainWindow(load_settings(list(args) or ["--source", "rtsp://admin:secret@10.0.0.5/live"]), labels=list(labels))
    qtbot.addWidget(w)
    w.show()
    return w


def pixel_rgb(w: MainWindow, name: str, x: int, y: int) -> tuple[int, int, int]:
    c = w.tiles[name].view.image.pixelColor(x, y)
    return c.red(), c.green(), c.blue()


def test_one_camera_reconnecting_banner_over_the_last_frame(qtbot):
    w = make_window(qtbot)
    assert w.windowTitle() == "facemask-live — rtsp://admin:***@10.0.0.5/live"
    assert "secret" not in w.source_label.text() and "10.0.0.5" in w.source_label.text()
    assert not w.tiles["camera"].title.isVisible() and not w.panel.cameras.isVisible()  # one camera: no tile title, no table
    image = np.full((240, 320, 3), 90, np.uint8)
    w.show_results({"camera": Shown(result_for(image), image, COUNTS)}, [])
    w.set_camera_state("camera", "live", 25.0)
    assert pixel_rgb(w, "camera", 2, 2) == (90, 90, 90)

    w.set_camera_state("camera", "reconnecting", 0.0, 2)
    w.update_panel()
    r, g, b = pixel_rgb(w, "camera", 2, 2)  # the banner across the top of the last frame
    assert r > 150 and g < 60 and b < 60
    assert pixel_rgb(w, "camera", 2, 200) == (90, 90, 90)
    assert "reconnecting (attempt 2)" in w.source_label.text()
    assert "reconnecting (attempt 2)" in w.statusBar().currentMessage()
    assert image[2, 2].tolist() == [90, 90, 90]

    w.set_camera_state("camera", "live", 25.0)  # back, no new frame yet: the plain last frame
    w.update_panel()
    assert pixel_rgb(w, "camera", 2, 2) == (90, 90, 90)
    assert "live" in w.source_label.text() and w.statusBar().currentMessage() == ""


def test_violation_listed_with_its_face_counts_and_flash(qtbot):
    w = make_window(qtbot)
    image = np.full((240, 320, 3), 30, np.uint8)
    image[60:140, 100:180] = (0, 0, 255)  # the 'face' in pure red (BGR)
    face = Face((100, 60, 180, 140), 0.9, "no_mask", 0.95, track_id=7, track_label="no_mask", track_prob=0.95)
    ev = Event(time.time(), "test", 7, "no_mask", 0.95, 0, face.box)
    w.show_results({"camera": Shown(result_for(image, faces=[face], events=[ev]), image, COUNTS)}, [("camera", ev, image)])

    assert w.event_list.count() == 1
    item = w.event_list.item(0)
    assert "#7" in item.text() and "No mask 95%" in item.text() and " · " not in item.text()  # one camera: no name
    thumb = item.icon().pixmap(THUMB, THUMB).toImage()
    c = thumb.pixelColor(thumb.width() // 2, thumb.height() // 2)
    assert (c.red(), c.green(), c.blue()) == (255, 0, 0)
    labels = w.panel.session_labels
    assert (labels["violations"].text(), labels["people"].text(), labels["masked"].text()) == ("1", "1", "0")
    assert "No mask</span>: 1" in w.panel.frame_counts.text() and "Mask</span>: 0" in w.panel.frame_counts.text()
    assert w.alert_active and "#e01010" in w.tiles["camera"].view.styleSheet()
    qtbot.waitUntil(lambda: not w.alert_active, timeout=5000)  # the flash ends by itself
    assert "#e01010" not in w.tiles["camera"].view.styleSheet()


def test_alert_flash_can_be_turned_off(qtbot):
    w = make_window(qtbot, "--source", "x.mp4", "--no-alert-flash")
    image = np.zeros((120, 160, 3), np.uint8)
    ev = Event(time.time(), "test", 1, "no_mask", 0.9, 0, (10, 10, 50, 50))
    w.show_results({"camera": Shown(result_for(image, events=[ev]), image, COUNTS)}, [("camera", ev, image)])
    assert w.event_list.count() == 1 and not w.alert_active


def test_several_cameras_name_their_events_and_fill_the_table(qtbot, tmp_path):
    cfg = tmp_path / "site.yaml"
    cfg.write_text("cameras:\n  - {name: a, source: '0'}\n  - {name: b, source: '1'}\n")
    w = make_window(qtbot, "--config", str(cfg))
    assert w.windowTitle() == "facemask-live — site of 2 cameras" and w.panel.cameras.isVisible()
    image = np.zeros((120, 160, 3), np.uint8)
    ev = Event(time.time(), "b", 4, "no_mask", 0.9, 0, (10, 10, 50, 50))
    w.show_results({"a": Shown(result_for(image), image, {**COUNTS, "violations": 0}),
                    "b": Shown(result_for(image, events=[ev]), image, COUNTS)}, [("b", ev, image)])
    assert w.event_list.item(0).text().startswith("b · ")
    assert w.tiles["b"].alert and not w.tiles["a"].alert  # the camera's own tile flashes
    table = w.panel.table
    assert [table.item(2, c).text() for c in range(5)] == ["site", "0/2", "0.0", "2", "1"]
    assert w.panel.session_labels["people"].text() == "2"  # all cameras ...
    w.tile_clicked("a", None)  # ... or the enlarged one
    assert w.enlarged == "a" and w.panel.session_labels["violations"].text() == "0"
    assert "— a" in w.panel.session.title() and not w.tiles["b"].isVisible()


def test_bridge_shows_only_the_newest_frame_but_every_event(qtbot):
    w = make_window(qtbot)
    event = Event(time.time(), "test", 7, "no_mask", 0.9, 0, (10, 10, 50, 50))
    results = [result_for(np.full((60, 80, 3), 50 * i, np.uint8), i, events=[event] if i == 0 else []) for i in range(4)]

    def produce():  # the camera thread, faster than the GUI: nothing is shown meanwhile
        for r in results:
            w.bridge.on_result("camera", r, r.frame.image)

    t = threading.Thread(target=produce)
    t.start()
    t.join()
    qtbot.waitUntil(lambda: w.shown_frames >= 1, timeout=5000)
    qtbot.wait(50)
    assert w.shown_frames == 1 and w.current["camera"].result is results[-1]
    assert w.bridge.replaced["camera"] == 3 and "+3 not shown" in w.panel.perf_labels["dropped"].text()
    assert w.event_list.count() == 1 and "#7" in w.event_list.item(0).text()  # the skipped frame's event


def test_pause_holds_the_camera_thread_in_the_bridge(qtbot):
    w = make_window(qtbot)
    delivered = []

    def camera():  # a camera thread: on_result returns only while not paused
        for i in range(50):
            img = np.zeros((60, 80, 3), np.uint8)
            w.bridge.on_result("camera", result_for(img, i), img)
            delivered.append(i)
            time.sleep(0.01)

    w.toggle_pause()
    assert w.paused and w.panel.pause_button.text() == "Start (Space)" and "paused" in w.source_label.text()
    t = threading.Thread(target=camera, daemon=True)
    t.start()
    qtbot.wait(400)
    assert delivered == []  # the first frame is handed over, then the thread waits
    w.toggle_pause()
    t.join(5)
    assert len(delivered) == 50 and not w.paused


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="DISPLAY only matters on Linux")
@pytest.mark.parametrize(("display", "start"), [(None, "error: no display"), (":987", "error: cannot connect to the X display :987")])
def test_no_display_is_a_one_line_error_not_a_qt_abort(tmp_path, display, start):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    if display:
        env["DISPLAY"] = display  # no X server there
    video = make_video(tmp_path / "clip.avi", n=3)
    res = subprocess.run([sys.executable, "-m", "facemask_live", "--source", str(video)], capture_output=True, text=True,
                         timeout=120, cwd=REPO, env=env)
    assert res.returncode == FacemaskError.exit_code, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(start) and "--headless" in lines[0], res.stderr


def site_window(qtbot, tmp_path, names: list[str], fps: float) -> MainWindow:
    """A 1600x900 window of a site of ``names`` (RTSP cameras that are never opened), every camera live at ``fps``."""
    import yaml

    config = tmp_path / "site.yaml"
    config.write_text(yaml.safe_dump({"cameras": [{"name": n, "source": f"rtsp://10.0.0.{i + 1}/live"}
                                                  for i, n in enumerate(names)]}))
    w = make_window(qtbot, "--config", str(config))
    w.resize(1600, 900)
    for n in names:
        w.set_camera_state(n, "live", fps)
    return w


def test_a_long_error_is_cut_short_of_the_site_summary_and_the_table_shows_the_camera_names(qtbot, tmp_path):
    """Twelve cameras, one failed with a long error: the status bar cuts the message with an ellipsis before the
    "12 cameras · 11 live" on its right (the whole message in its tooltip), where both ran into each other; the
    camera table leaves room for the names ("do…" for door01 before)."""
    from PyQt5 import QtWidgets

    w = site_window(qtbot, tmp_path, ["door01", "front-entrance-east", *[f"door{i:02d}" for i in range(3, 13)]], 25.0)
    w.set_camera_state("door12", "failed", 0.0)
    w.update_panel()
    error = ("error: door12: source not found: /srv/cameras/door12.mp4 is not a camera index, a stream URL (rtsp://, "
             "rtsps://, rtmp://, http://...), an existing video/image file or a folder")
    bar = w.statusBar()
    bar.showMessage(error)
    qtbot.waitUntil(lambda: "12 cameras" in w.source_label.text(), timeout=2000)
    qtbot.wait(50)
    painted = QtWidgets.QStatusBar.currentMessage(bar)  # what Qt paints
    assert bar.currentMessage() == error and bar.toolTip() == error
    assert painted.endswith("…") and error.startswith(painted[:-1]) and len(painted) > 40
    assert bar.fontMetrics().horizontalAdvance(painted) < w.source_label.geometry().left()
    bar.clearMessage()
    assert bar.currentMessage() == "" and bar.toolTip() == ""

    table = w.panel.table
    assert table.fontMetrics().horizontalAdvance("door01") + 12 <= table.columnWidth(0)
    long = table.item(1, 0)
    assert long.text() == "front-entrance-east" and long.toolTip() == "front-entrance-east"


def test_a_long_camera_name_is_cut_in_its_tile_title_and_the_grid_stays_even(qtbot, tmp_path):
    """Sixteen cameras, one with a long name: its title line asked for the width of the whole name, and its grid
    column grew to twice the others'. The name is now cut in the middle, its state and fps stay in view, and every
    tile of the grid is as wide as the others."""
    from PyQt5 import QtGui

    long = "north-building-ground-floor-emergency-exit-3"
    names = [f"door{i:02d}" for i in range(1, 13)] + [long, "door14", "door15", "door16"]
    w = site_window(qtbot, tmp_path, names, 24.7)
    qtbot.wait(100)
    widths = [w.tiles[n].width() for n in names]
    assert max(widths) - min(widths) <= 2, widths
    title = w.tiles[long].title
    assert "…" in title.text() and "live" in title.text() and "24.7 fps" in title.text() and title.toolTip() == long
    doc = QtGui.QTextDocument()  # the line as the label lays it out fits the label
    doc.setDocumentMargin(0)
    doc.setDefaultFont(title.font())
    doc.setHtml(title.text())
    assert doc.idealWidth() <= title.contentsRect().width() + 1
    short = w.tiles["door01"].title
    assert "<b>door01</b>" in short.text() and short.toolTip() == ""
