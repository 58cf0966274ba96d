"""The PyQt5 window: frames shown, FPS panel, snapshots, pause, reconnect banner, events, clean shutdown."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt is imported

import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import make_video
from PyQt5.QtCore import Qt

from facemask_live.app import gui
from facemask_live.app.options import load_settings
from facemask_live.core.errors import FacemaskError, SourceError
from facemask_live.core.results import Event, Face, Frame, FrameResult
from facemask_live.engine.runner import Runner, RunStats
from facemask_live.sources.capture import Capture, SourceState

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(__file__).resolve().parents[3] / "shared"
OFFICE = SHARED / "media" / "videos" / "office_mask.mp4"
STREET = SHARED / "media" / "videos" / "street_nomask.mp4"
MODEL = REPO / "facemask_live" / "models" / "mask_classifier.json"

needs_model = pytest.mark.skipif(
    not MODEL.is_file(), reason="facemask_live/models/mask_classifier.json is not there yet (train it with train_mobilenet.py)"
)


def gui_args(source: Path, snapshots: Path, *extra: str):
    return load_settings(["--source", str(source), "--snapshots", str(snapshots), *extra])


def result_for(image: np.ndarray, index: int = 0, faces=(), events=()) -> FrameResult:
    frame = Frame(image, index, index / 25.0, time.monotonic(), None, "test")
    return FrameResult(frame, list(faces), list(events))


def pixel_rgb(window: gui.MainWindow, x: int, y: int) -> tuple[int, int, int]:
    c = window.video.image.pixelColor(x, y)
    return c.red(), c.green(), c.blue()


# -- no pipeline needed ---------------------------------------------------------------------------


def test_display_problem_names_the_fixes():
    msg = gui.display_problem({}, "linux")
    assert msg and "--headless" in msg and "QT_QPA_PLATFORM=offscreen" in msg and "\n" not in msg
    assert gui.display_problem({"DISPLAY": ":0"}, "linux") is None
    assert gui.display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert gui.display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert gui.display_problem({}, "win32") is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="DISPLAY only matters on Linux")
@pytest.mark.parametrize(
    ("display", "start"), [(None, "error: no display"), (":987", "error: cannot connect to the X display :987")]
)
def test_no_display_is_a_one_line_error_not_a_qt_abort(tmp_path, display, start):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    if display:
        env["DISPLAY"] = display  # no X server there
    video = make_video(tmp_path / "clip.avi", n=3)
    res = subprocess.run(
        [sys.executable, "-m", "facemask_live", "--source", str(video)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
    )
    assert res.returncode == FacemaskError.exit_code, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(start) and "--headless" in lines[0], res.stderr


def test_reconnecting_banner_over_the_last_frame(qtbot):
    w = gui.MainWindow(source_name="rtsp://cam:***@10.0.0.5/live", labels=["mask", "no_mask"])
    qtbot.addWidget(w)
    w.show()
    image = np.full((240, 320, 3), 90, np.uint8)
    w.show_result(result_for(image), image, RunStats(state=SourceState.RUNNING))
    assert not w.video.pixmap().isNull()
    assert pixel_rgb(w, 2, 2) == (90, 90, 90)

    w.show_stats(RunStats(state=SourceState.RECONNECTING, attempt=2))
    r, g, b = pixel_rgb(w, 2, 2)  # the banner across the top of the last frame, red (BGR 0,0,200)
    assert r > 150 and g < 60 and b < 60
    assert pixel_rgb(w, 2, 200) == (90, 90, 90)  # the rest of the last frame is still there
    assert "reconnecting (attempt 2)" in w.source_label.text()
    assert "reconnecting (attempt 2)" in w.statusBar().currentMessage()
    assert image[2, 2].tolist() == [90, 90, 90]  # drawn on a copy

    w.show_stats(RunStats(state=SourceState.RUNNING))  # reconnected, no new frame yet: the plain last frame
    assert pixel_rgb(w, 2, 2) == (90, 90, 90)
    assert "running" in w.source_label.text() and w.statusBar().currentMessage() == ""

    w.show_stats(RunStats(state=SourceState.RECONNECTING, attempt=1))
    w.show_result(result_for(image, 1), image, RunStats(state=SourceState.RECONNECTING, attempt=1))  # a frame still in flight
    assert pixel_rgb(w, 2, 2)[0] > 150
    w.show_result(result_for(image, 2), image, RunStats(state=SourceState.RUNNING))  # frames again: banner gone
    assert pixel_rgb(w, 2, 2) == (90, 90, 90)


def test_window_title_and_status_bar_show_the_masked_source(qtbot):
    w = gui.MainWindow(source_name="rtsp://admin:secret@10.0.0.5/live")
    qtbot.addWidget(w)
    assert w.windowTitle() == "facemask-live — rtsp://admin:***@10.0.0.5/live"
    assert "secret" not in w.source_label.text() and "10.0.0.5" in w.source_label.text()


def test_violation_event_listed_with_its_face_and_flashes(qtbot):
    w = gui.MainWindow(source_name="test", labels=["mask", "no_mask"])
    qtbot.addWidget(w)
    w.show()
    image = np.full((240, 320, 3), 30, np.uint8)
    image[60:140, 100:180] = (0, 0, 255)  # the 'face' in pure red (BGR)
    face = Face((100, 60, 180, 140), 0.9, "no_mask", 0.95, track_id=7, track_label="no_mask", track_prob=0.95)
    ev = Event(time.time(), "test", 7, "no_mask", 0.95, 0, face.box)
    stats = RunStats(state=SourceState.RUNNING, people=1, people_by_label={"no_mask": 1}, violations=1)
    w.show_result(result_for(image, faces=[face], events=[ev]), image, stats)

    assert w.event_list.count() == 1
    item = w.event_list.item(0)
    assert "#7" in item.text() and "No mask 95%" in item.text()
    thumb = item.icon().pixmap(gui.THUMB, gui.THUMB).toImage()
    c = thumb.pixelColor(thumb.width() // 2, thumb.height() // 2)
    assert (c.red(), c.green(), c.blue()) == (255, 0, 0)
    assert w.session_labels["violations"].text() == "1" and w.session_labels["people"].text() == "1"
    assert "No mask</span>: 1" in w.frame_counts.text() and "Mask</span>: 0" in w.frame_counts.text()
    assert w.alert_active and "#e01010" in w.video.styleSheet()
    qtbot.waitUntil(lambda: not w.alert_active, timeout=5000)  # the flash ends by itself
    assert "#e01010" not in w.video.styleSheet()


def test_event_thumbnail_sources(tmp_path):
    frame = np.zeros((100, 100, 3), np.uint8)
    frame[20:60, 30:70] = (255, 0, 0)
    ev = Event(time.time(), "test", 3, "no_mask", 0.9, 5, (30, 20, 70, 60))
    assert gui.event_thumbnail(ev, frame).shape == (40, 40, 3)
    assert (gui.event_thumbnail(ev, frame) == (255, 0, 0)).all()
    crop = np.full((30, 24, 3), (0, 255, 0), np.uint8)
    cv2.imwrite(str(tmp_path / "crop.png"), crop)
    ev.crop = str(tmp_path / "crop.png")
    assert np.array_equal(gui.event_thumbnail(ev, frame), crop)  # the saved crop wins over the frame
    assert np.array_equal(gui.event_thumbnail(ev, None), crop)
    ev.crop = str(tmp_path / "gone.png")
    assert gui.event_thumbnail(ev, None) is None


def test_alert_flash_can_be_turned_off(qtbot):
    w = gui.MainWindow(source_name="test", alert_flash=False)
    qtbot.addWidget(w)
    image = np.zeros((120, 160, 3), np.uint8)
    w.show_result(
        result_for(image, events=[Event(time.time(), "test", 1, "no_mask", 0.9, 0, (10, 10, 50, 50))]), image, RunStats()
    )
    assert w.event_list.count() == 1 and not w.alert_active


def test_only_the_newest_pending_result_is_shown(qtbot):
    w = gui.MainWindow(source_name="test")
    qtbot.addWidget(w)
    results = [result_for(np.full((60, 80, 3), 50 * i, np.uint8), i) for i in range(4)]

    def produce():  # the worker side, faster than the GUI: nothing is processed meanwhile
        for r in results:
            w.worker.publish(r, r.frame.image)

    t = threading.Thread(target=produce)
    t.start()
    t.join()
    qtbot.waitUntil(lambda: w.shown_frames >= 1, timeout=5000)
    qtbot.wait(50)
    assert w.shown_frames == 1
    assert w.current[0] is results[-1]
    assert w.worker.replaced == 3
    assert "+3 not shown" in w.perf_labels["dropped"].text()


def test_events_of_replaced_results_are_still_listed(qtbot):
    """A frame may be skipped by a busy window, its violation event never."""
    w = gui.MainWindow(source_name="test")
    qtbot.addWidget(w)
    event = Event(time.time(), "test", 7, "no_mask", 0.9, 0, (10, 10, 50, 50))
    results = [result_for(np.full((60, 80, 3), 50 * i, np.uint8), i, events=[event] if i == 0 else []) for i in range(3)]

    def produce():
        for r in results:
            w.worker.publish(r, r.frame.image)

    t = threading.Thread(target=produce)
    t.start()
    t.join()
    qtbot.waitUntil(lambda: w.shown_frames >= 1, timeout=5000)
    assert w.current[0] is results[-1] and w.worker.replaced == 2
    assert w.event_list.count() == 1 and "#7" in w.event_list.item(0).text()


class CrashingPipeline:
    """Stands in for a pipeline that has a bug (the GUI's error handling is under test, not the pipeline)."""

    labels = ["mask", "no_mask"]
    monitor = None

    def __init__(self, exc: BaseException):
        self.exc = exc

    def locate(self, frame):
        raise self.exc

    def reset(self):
        pass


@pytest.mark.parametrize(
    ("exc", "code", "text"),
    [
        (RuntimeError("boom"), 1, "error: internal error: RuntimeError: boom"),
        (SourceError("lost camera 0"), 3, "error: lost camera 0"),
    ],
)
def test_worker_crash_is_shown_and_exits_non_zero(qtbot, tmp_path, capsys, exc, code, text):
    worker = gui.FrameWorker()
    runner = Runner(Capture(str(make_video(tmp_path / "clip.avi", n=5))), CrashingPipeline(exc),
                    on_result=worker.publish, on_idle=worker.idle, annotate_frames=True)
    worker.runner = runner
    w = gui.MainWindow(runner, worker=worker, snapshot_dir=tmp_path)
    qtbot.addWidget(w)
    w.show()
    w.error_close_ms = 200
    with qtbot.waitSignal(w.worker.failed, timeout=10000):
        w.start()
    qtbot.waitUntil(lambda: w.error is not None, timeout=5000)
    assert w.exit_code == code
    assert text in w.statusBar().currentMessage()
    assert text in capsys.readouterr().err
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=10000)  # closes itself, the app then exits non-zero
    assert not w.worker.thread.is_alive()
    assert runner.capture._cap is None


# -- the real pipeline ------------------------------------------------------------------------------


@pytest.fixture
def open_window(qtbot):
    """Opens the real window on CLI options and closes it after the test (pytest-qt only keeps weak references)."""
    windows: list[gui.MainWindow] = []

    def open_(args) -> gui.MainWindow:
        w = gui.build_window(args)
        qtbot.addWidget(w)
        windows.append(w)
        w.show()
        w.start()
        return w

    yield open_
    for w in windows:
        w.close()
        assert not w.worker.thread.is_alive()


@needs_model
def test_window_plays_file_snapshots_pauses_and_closes(qtbot, open_window, tmp_path):
    source = OFFICE if OFFICE.is_file() else make_video(tmp_path / "clip.avi", n=200)
    snaps = tmp_path / "snaps"
    w = open_window(gui_args(source, snaps))
    assert w.windowTitle() == f"facemask-live — {source}"
    assert source.name in w.source_label.text()

    qtbot.waitUntil(lambda: w.shown_frames >= 3, timeout=30000)
    assert not w.video.pixmap().isNull() and w.video.pixmap().width() > 0
    qtbot.waitUntil(lambda: w.perf_labels["processed"].text() not in ("–", "0.0 fps"), timeout=10000)
    assert w.perf_labels["processed"].text().endswith(" fps")
    assert w.perf_labels["age"].text().endswith(" ms")

    before = set(snaps.glob("snapshot_*.png"))  # (violation events may add their own violation_*.png)
    qtbot.mouseClick(w.snapshot_button, Qt.LeftButton)
    result, annotated = w.current  # unchanged: the GUI thread handled the click
    new = sorted(set(snaps.glob("snapshot_*.png")) - before)
    assert len(new) == 2, new
    raw_path = next(p for p in new if p.stem.endswith("_raw"))
    ann_path = next(p for p in new if not p.stem.endswith("_raw"))
    ann, raw = cv2.imread(str(ann_path)), cv2.imread(str(raw_path))
    assert ann.shape == raw.shape == result.frame.image.shape
    assert np.array_equal(raw, result.frame.image) and np.array_equal(ann, annotated)
    assert str(ann_path) in w.statusBar().currentMessage()
    qtbot.wait(5)  # snapshot names carry the millisecond
    qtbot.keyClick(w, Qt.Key_S)  # the S key does the same
    assert len(set(snaps.glob("snapshot_*.png")) - before) == 4

    qtbot.keyClick(w, Qt.Key_Space)
    assert w.paused and w.runner.paused.is_set() and "paused" in w.source_label.text()
    qtbot.wait(300)
    n = w.runner.stats.processed
    qtbot.wait(500)
    assert w.runner.stats.processed == n  # nothing processed while paused
    qtbot.keyClick(w, Qt.Key_Space)
    assert not w.paused
    qtbot.waitUntil(lambda: w.runner.stats.processed > n, timeout=10000)

    worker_thread, capture = w.worker.thread, w.runner.capture
    w.close()
    assert not worker_thread.is_alive()  # close() waits at most a second for it
    assert not capture._thread.is_alive() and capture._cap is None
    assert capture.stats.status == "stopped"


@needs_model
def test_end_of_file_keeps_the_last_frame(qtbot, open_window, tmp_path):
    w = open_window(gui_args(make_video(tmp_path / "short.avi", n=6), tmp_path / "snaps"))
    qtbot.waitUntil(lambda: w.finished, timeout=30000)
    assert w.status == "end of short.avi"
    assert "end of short.avi" in w.source_label.text() and "end of short.avi" in w.statusBar().currentMessage()
    assert w.isVisible() and not w.video.pixmap().isNull()
    assert w.current[0].frame.index == 5  # the last frame stays on screen
    assert not w.worker.thread.is_alive()
    qtbot.keyClick(w, Qt.Key_Space)  # nothing to pause any more
    assert not w.paused
    qtbot.keyClick(w, Qt.Key_Q)
    assert not w.isVisible()


@needs_model
def test_bad_source_fails_before_the_window_opens(tmp_path, qapp):
    args = gui_args(tmp_path / "missing.mp4", tmp_path / "snaps")
    with pytest.raises(SourceError, match="source not found: .*missing.mp4"):
        gui.run_gui(args)
    assert not [w for w in qapp.topLevelWidgets() if isinstance(w, gui.MainWindow) and w.isVisible()]


@needs_model
def test_unwritable_snapshot_folder_fails_before_the_window_opens(tmp_path, qapp):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(FacemaskError, match="snapshot folder"):
        gui.run_gui(gui_args(make_video(tmp_path / "clip.avi", n=3), blocker / "snaps"))


@needs_model
def test_lost_stream_shows_reconnecting_over_the_last_frame(qtbot, open_window, tmp_path, mjpeg_server):
    w = open_window(gui_args(mjpeg_server.url, tmp_path / "snaps", "--stall-timeout", "1"))
    assert w.windowTitle() == f"facemask-live — {mjpeg_server.url}"
    qtbot.waitUntil(lambda: w.shown_frames >= 2, timeout=30000)

    mjpeg_server.stop()
    qtbot.waitUntil(lambda: "reconnecting (attempt" in w.source_label.text(), timeout=20000)
    last, annotated = w.current  # the last frame stays, with the banner over it
    h, wd = annotated.shape[:2]
    assert (w.video.image.width(), w.video.image.height()) == (wd, h)
    r, g, b = pixel_rgb(w, 2, 2)
    assert r > 150 and g < 60 and b < 60
    assert pixel_rgb(w, wd // 2, h - 2) == tuple(int(v) for v in annotated[h - 2, wd // 2][::-1])
    assert "reconnecting (attempt" in w.statusBar().currentMessage()

    mjpeg_server.start()
    qtbot.waitUntil(lambda: w.current[0] is not last and "running" in w.source_label.text(), timeout=30000)
    assert w.runner.stats.reconnects >= 1


@needs_model
def test_giving_up_on_a_lost_stream_exits_with_the_source_error(qtbot, open_window, tmp_path, mjpeg_server, capsys):
    w = open_window(gui_args(mjpeg_server.url, tmp_path / "snaps", "--stall-timeout", "1", "--max-reconnects", "1"))
    w.error_close_ms = 200
    qtbot.waitUntil(lambda: w.shown_frames >= 1, timeout=30000)
    mjpeg_server.stop()
    qtbot.waitUntil(lambda: w.error is not None, timeout=30000)
    assert w.exit_code == SourceError.exit_code
    msg = w.statusBar().currentMessage()
    assert msg.startswith("error: lost ") and "could not reconnect" in msg
    assert msg in capsys.readouterr().err
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=10000)
    assert not w.worker.thread.is_alive()


@needs_model
@pytest.mark.skipif(not STREET.is_file(), reason="../shared/media/videos/street_nomask.mp4 is not present")
def test_real_violation_listed_with_face_and_flash(qtbot, open_window, tmp_path):
    snaps = tmp_path / "snaps"
    w = open_window(gui_args(STREET, snaps))
    qtbot.waitUntil(lambda: w.event_list.count() >= 1, timeout=60000)
    assert w.alert_active and "#e01010" in w.video.styleSheet()
    item = w.event_list.item(w.event_list.count() - 1)  # the first event
    assert "No mask" in item.text() and "#" in item.text()
    assert not item.icon().isNull()
    assert int(w.session_labels["violations"].text()) >= 1 and int(w.session_labels["people"].text()) >= 1
    assert list(snaps.glob("violation_*_crop.png"))  # the automatic snapshot the thumbnail may come from
