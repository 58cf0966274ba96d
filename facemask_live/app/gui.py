"""The PyQt5 window. It shows what the shared core produces and holds no detection logic.

Long because one Qt window's widgets, menus and slots only make sense together.

A :class:`FrameWorker` runs the same :class:`~facemask_live.engine.runner.Runner` as headless mode in a
worker thread and hands each result (result, annotated frame, stats snapshot) to the GUI thread with a
queued Qt signal. Only the newest result is kept: when the GUI is slower than the pipeline, older
pending results are replaced, never queued up.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np

from facemask_live.core.config import Settings
from facemask_live.core.errors import FacemaskError
from facemask_live.engine.build import build_pipeline, build_runner, snapshot_redactor, summary_lines
from facemask_live.outputs.annotate import color_for, display_name, draw_banner
from facemask_live.sources.capture import SourceState, mask_credentials, read_image

try:  # PyQt5 is the optional "gui" extra: without it the window is one clear error, headless still works
    from PyQt5 import QtCore, QtGui, QtWidgets
except ImportError:
    raise FacemaskError("the window needs PyQt5: pip install 'facemask-live[gui]' or use --headless") from None
from facemask_live.app.visitor import VisitorFeed  # issue 29: the visitor display
from facemask_live.core.results import Event, FrameResult
from facemask_live.engine.runner import Runner, RunStats
from facemask_live.outputs.sinks import save_snapshot

log = logging.getLogger(__name__)
Qt = QtCore.Qt

APP_NAME = "facemask-live"
FLASH_MS = 1500
MAX_EVENTS = 50
THUMB = 56
BANNER_BGR = (0, 0, 200)


# libraries Qt's xcb platform plugin loads, and the Debian/Ubuntu packages that have them
XCB_LIBS = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}
NO_WINDOW_HINT = "use --headless, or set QT_QPA_PLATFORM=offscreen to run the window without showing it"


def x_server_reachable(display: str, timeout: float = 1.0) -> bool:
    """Whether an X server answers at ``display`` (``[host]:N[.S]``); True when the form is not understood."""
    host, sep, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not sep or not number.isdigit() or host.startswith("/"):  # e.g. macOS launchd paths: let Qt try
        return True
    n = int(number)
    try:
        if host in ("", "unix"):
            paths = [f"/tmp/.X11-unix/X{n}"]
            if sys.platform.startswith("linux"):
                paths.insert(0, f"\0/tmp/.X11-unix/X{n}")  # abstract socket
            for path in paths:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.settimeout(timeout)
                    try:
                        sock.connect(path)
                        return True
                    except OSError:
                        continue
            return False
        with socket.create_connection((host, 6000 + n), timeout=timeout):
            return True
    except OSError:
        return False


def missing_xcb_packages() -> list[str]:
    """Packages of the libraries Qt's xcb plugin needs that cannot be loaded here."""
    missing = []
    for lib, package in XCB_LIBS.items():
        try:
            ctypes.CDLL(lib)
        except OSError:
            missing.append(package)
    return missing


def display_problem(environ=None, platform: str | None = None, probe: bool = False) -> str | None:
    """Why no window can be opened here (one line), or None.

    Checked before Qt starts, because Qt aborts the process when it has no display. ``probe``: also
    check that the X server answers and that the xcb plugin's libraries are installed."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    qpa = environ.get("QT_QPA_PLATFORM", "")
    if qpa and not qpa.startswith("xcb"):
        return None
    if not platform.startswith("linux") and "bsd" not in platform:
        return None  # Windows and macOS always have their native platform plugin
    display = environ.get("DISPLAY", "")
    if not display:
        if environ.get("WAYLAND_DISPLAY") and not qpa:
            return None
        return f"no display to open the window on (DISPLAY is not set): {NO_WINDOW_HINT}"
    if probe and not x_server_reachable(display):
        return f"cannot connect to the X display {display} (no X server there?): {NO_WINDOW_HINT}"
    if probe and platform.startswith("linux"):
        missing = missing_xcb_packages()
        if missing:
            return f"Qt's xcb plugin needs libraries that are not installed; install them (apt-get install {' '.join(missing)}) or {NO_WINDOW_HINT}"
    return None


def status_banner(image: np.ndarray, stats: RunStats) -> np.ndarray | None:
    """A copy of ``image`` with a 'reconnecting (attempt n)' banner, or None when the state needs none."""
    if stats.state is not SourceState.RECONNECTING:
        return None
    return draw_banner(image.copy(), stats.status, BANNER_BGR)


def event_thumbnail(event: Event, frame_image: np.ndarray | None, monitor=None) -> np.ndarray | None:
    """The face of a violation event: the monitor's thumbnail (its best view of the person), else the
    event's crop file, else cut from the frame the event happened in."""
    thumb = monitor.thumbnail(event) if monitor is not None and hasattr(monitor, "thumbnail") else None
    if thumb is not None and thumb.size:
        return thumb
    if event.crop and Path(event.crop).is_file():
        thumb = read_image(event.crop)
        if thumb is not None:
            return thumb
    if frame_image is not None:
        h, w = frame_image.shape[:2]
        x1, y1, x2, y2 = event.box
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if x2 > x1 and y2 > y1:
            return frame_image[y1:y2, x1:x2].copy()
    return None


def stats_snapshot(stats: RunStats) -> RunStats:
    """A copy of ``stats`` that the GUI thread may keep while the worker goes on updating the original."""
    return dataclasses.replace(stats, faces_by_label=dict(stats.faces_by_label), people_by_label=dict(stats.people_by_label))


def short_name(source_name: str, limit: int = 48) -> str:
    """A source name for the status bar: file names without their folders, long URLs shortened in the middle."""
    if "://" not in source_name and ("/" in source_name or os.sep in source_name):
        source_name = Path(source_name).name or source_name
    if len(source_name) > limit:
        half = (limit - 1) // 2
        source_name = source_name[:half] + "…" + source_name[-half:]
    return source_name


def end_message(source_name: str) -> str:
    return f"end of {short_name(source_name)}"


def to_qimage(image: np.ndarray) -> QtGui.QImage:
    """A QImage that owns a copy of a BGR uint8 HxWx3 array."""
    img = np.ascontiguousarray(image)
    h, w = img.shape[:2]
    return QtGui.QImage(img.data, w, h, img.strides[0], QtGui.QImage.Format_BGR888).copy()


def _hex(bgr: tuple[int, int, int]) -> str:
    b, g, r = bgr
    return f"#{r:02x}{g:02x}{b:02x}"


class FrameWorker(QtCore.QObject):
    """Runs the runner's own loop (:meth:`Runner.run`) in a Python thread; reports to the GUI thread through
    queued signals. The runner is built with ``on_result=worker.publish`` and ``on_idle=worker.idle``.

    result_ready(object): (FrameResult, annotated ndarray, RunStats snapshot) - always the newest one
    status_changed(object): RunStats snapshot while no frames arrive (e.g. reconnecting)
    ended(str): the source ended (status)
    failed(object): the exception that stopped the worker
    """

    result_ready = QtCore.pyqtSignal(object)
    status_changed = QtCore.pyqtSignal(object)
    ended = QtCore.pyqtSignal(str)
    failed = QtCore.pyqtSignal(object)

    def __init__(self, runner: Runner | None = None):
        super().__init__()
        self.runner = runner
        self.thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._latest: tuple | None = None  # newest result not yet taken by the GUI
        # events of results replaced before the GUI took them, with their frames: a frame may be skipped, an
        # event never (the list, the flash and the counters must show every violation)
        self._missed_events: list[tuple[Event, np.ndarray]] = []
        self._pending = False  # a result_ready signal is on its way
        self.replaced = 0  # results the GUI never showed because a newer one came first
        self._last_idle: tuple[str | None, float] = (None, 0.0)  # (status, time) of the last status_changed
        self.visitor = VisitorFeed()  # the visitor display's results (issue 29)

    def publish(self, result: FrameResult, annotated) -> None:
        """Runner's on_result (worker thread): keep only the newest result; signal only if none is pending."""
        self.visitor.on_result(None, result, annotated)
        stats = stats_snapshot(self.runner.stats) if self.runner is not None else RunStats()
        payload = (result, annotated if annotated is not None else result.frame.image, stats)
        with self._lock:
            if self._latest is not None:
                self.replaced += 1
                old = self._latest[0]
                self._missed_events += [(ev, old.frame.image) for ev in old.events]
            self._latest = payload
            if self._pending:
                return
            self._pending = True
        self.result_ready.emit(payload)

    def take(self) -> tuple | None:
        """GUI thread: the newest result (None if already taken); lets the worker signal again."""
        with self._lock:
            payload, self._latest, self._pending = self._latest, None, False
        return payload

    def take_missed_events(self) -> list[tuple[Event, np.ndarray]]:
        """GUI thread: (event, frame) of results that were replaced before being shown, oldest first."""
        with self._lock:
            missed, self._missed_events = self._missed_events, []
        return missed

    def start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="facemask-worker", daemon=True)
            self.thread.start()

    def idle(self, stats: RunStats) -> None:
        """Runner's on_idle (worker thread): no frame for a while; tell the GUI on a change or every 0.5 s."""
        now = time.monotonic()
        last_status, last_emit = self._last_idle
        if stats.status != last_status or now - last_emit > 0.5:
            self._last_idle = (stats.status, now)
            self.status_changed.emit(stats_snapshot(stats))

    def _run(self) -> None:
        runner = self.runner
        try:
            stats = runner.run()
            if not runner.stop_event.is_set():  # the source ended (or --max-frames): not stopped by the window
                self.ended.emit(stats.status)
        except BaseException as exc:  # shown by the window, which then exits non-zero
            if not runner.stop_event.is_set():
                self.failed.emit(exc)
        finally:
            runner.close()

    def stop(self, timeout: float = 1.0) -> bool:
        """Stop the loop, wait for the thread, close the runner (capture, video, logs). True if the thread ended."""
        if self.runner is None:
            return True
        self.runner.stop()
        if self.thread is not None:
            self.thread.join(timeout)
        alive = self.thread is not None and self.thread.is_alive()
        self.runner.close()
        return not alive


class VideoView(QtWidgets.QLabel):
    """The newest frame, scaled to the widget keeping its aspect ratio."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("video")
        self.setAlignment(Qt.AlignCenter)
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Ignored)
        self.setText("waiting for the first frame ...")
        self.image: QtGui.QImage | None = None
        self.set_alert(False)

    def set_alert(self, on: bool) -> None:
        color = "#e01010" if on else "#202020"
        self.setStyleSheet(f"QLabel#video {{ background: #202020; color: #c0c0c0; border: 6px solid {color}; }}")

    def show_image(self, image: np.ndarray) -> None:
        self.image = to_qimage(image)
        self._rescale()

    def _rescale(self) -> None:
        if self.image is None:
            return
        r = self.contentsRect()
        pix = QtGui.QPixmap.fromImage(self.image)
        self.setPixmap(pix.scaled(r.width(), r.height(), Qt.KeepAspectRatio, Qt.SmoothTransformation))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._rescale()


class MainWindow(QtWidgets.QMainWindow):
    """Video, FPS panel, counters, violation events, snapshot and pause controls.

    ``runner``: the Runner to drive (None: only show what is fed to :meth:`show_result` /
    :meth:`show_stats`, as tests do). The worker starts with :meth:`start`. ``event_log``/``people_log``: the
    run's logs, for the review dialog (click an event) and Review > Report... (:mod:`facemask_live.app.gui_review`).
    """

    def __init__(
        self,
        runner: Runner | None = None,
        *,
        worker: FrameWorker | None = None,
        snapshot_dir: str | Path = "snapshots",
        source_name: str | None = None,
        labels: list[str] | None = None,
        alert_flash: bool = True,
        alert_sound: bool = False,
        debug: bool = False,
        event_log: str | Path | None = None,
        people_log: str | Path | None = None,
        redact: Callable | None = None,
    ):
        super().__init__()
        self.runner = runner
        self.redact = redact  # --privacy: (image, faces) -> image with compliant faces blurred, for key-S snapshots
        self.worker = worker or FrameWorker(runner)
        if self.worker.runner is None:
            self.worker.runner = runner
        if runner is not None:
            source_name = source_name or runner.capture.spec.name
            labels = labels or list(runner.pipeline.labels)
        self.source_name = mask_credentials(source_name or "")
        self.labels = list(labels or [])
        self.tracking = runner is None or runner.pipeline.monitor is not None
        self.snapshot_dir = Path(snapshot_dir)
        self.alert_flash = alert_flash
        self.alert_sound = alert_sound
        self.debug = debug
        self.exit_code = 0
        self.error_close_ms = 3000  # how long an error stays on screen before the window closes
        self.error: BaseException | None = None
        self.status = "starting"
        self.current: tuple[FrameResult, np.ndarray] | None = None  # what the video shows (result, annotated)
        self.shown_frames = 0
        self.alert_active = False
        self.banner_shown = False
        self.event_count = 0
        self.finished = False  # the source ended or failed: the status stays as it is
        self._closing = False
        self._flash_timer = QtCore.QTimer(self)
        self._flash_timer.setSingleShot(True)
        self._flash_timer.timeout.connect(self._end_flash)

        self.setWindowTitle(f"{APP_NAME} — {self.source_name}" if self.source_name else APP_NAME)
        self._build()
        from facemask_live.app.gui_review import install  # click an event to review it; Review > Report...

        install(self, event_log, people_log)
        self.worker.result_ready.connect(self._on_result_signal, Qt.QueuedConnection)
        self.worker.status_changed.connect(self.show_stats, Qt.QueuedConnection)
        self.worker.ended.connect(self._on_ended, Qt.QueuedConnection)
        self.worker.failed.connect(self._on_failed, Qt.QueuedConnection)
        self.resize(1280, 640)

    # -- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.video = VideoView()
        self.pause_button = QtWidgets.QPushButton("Pause (Space)")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.snapshot_button = QtWidgets.QPushButton("Snapshot (S)")
        self.snapshot_button.clicked.connect(self.snapshot)
        for b in (self.pause_button, self.snapshot_button):
            b.setFocusPolicy(Qt.NoFocus)

        perf = QtWidgets.QGroupBox("Performance")
        form = QtWidgets.QFormLayout(perf)
        self.perf_labels: dict[str, QtWidgets.QLabel] = {}
        for key, title in (
            ("capture", "Capture"),
            ("processed", "Processed"),
            ("dropped", "Dropped frames"),
            ("age", "Frame age"),
        ):
            value = QtWidgets.QLabel("–")
            value.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
            self.perf_labels[key] = value
            form.addRow(title, value)
        self.perf_labels["age"].setToolTip("time from capture to display of the shown frame")
        self.perf_labels["dropped"].setToolTip("frames of a live source replaced by a newer one before processing")

        frame_box = QtWidgets.QGroupBox("This frame")
        fl = QtWidgets.QVBoxLayout(frame_box)
        self.frame_counts = QtWidgets.QLabel("no faces")
        self.frame_counts.setTextFormat(Qt.RichText)
        fl.addWidget(self.frame_counts)

        session = QtWidgets.QGroupBox("This session")
        sl = QtWidgets.QFormLayout(session)
        self.session_labels: dict[str, QtWidgets.QLabel] = {}
        for key, title in (("people", "People seen"), ("masked", "Masked"), ("not_judged", "Not judged"), ("violations", "Violations")):
            value = QtWidgets.QLabel("0")
            value.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
            self.session_labels[key] = value
            sl.addRow(title, value)
        self.session_labels["violations"].setStyleSheet("font-weight: bold;")
        if not self.tracking:
            for value in self.session_labels.values():
                value.setText("tracking off")

        events = QtWidgets.QGroupBox("Violations")
        el = QtWidgets.QVBoxLayout(events)
        self.event_list = QtWidgets.QListWidget()
        self.event_list.setIconSize(QtCore.QSize(THUMB, THUMB))
        self.event_list.setFocusPolicy(Qt.NoFocus)
        self.event_list.setSelectionMode(QtWidgets.QAbstractItemView.NoSelection)
        el.addWidget(self.event_list)

        side = QtWidgets.QWidget()
        side.setFixedWidth(300)
        sv = QtWidgets.QVBoxLayout(side)
        sv.setContentsMargins(0, 0, 0, 0)
        for w in (perf, frame_box, session):
            sv.addWidget(w)
        sv.addWidget(events, 1)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.snapshot_button)
        sv.addLayout(buttons)

        central = QtWidgets.QWidget()
        h = QtWidgets.QHBoxLayout(central)
        h.setContentsMargins(6, 6, 6, 6)
        h.addWidget(self.video, 1)
        h.addWidget(side)
        self.setCentralWidget(central)

        self.source_label = QtWidgets.QLabel()
        self.statusBar().addPermanentWidget(self.source_label)
        self._update_source_label()
        for w in (central, side, perf, frame_box, session, events, self.video):
            w.setFocusPolicy(Qt.NoFocus)
        self.setFocusPolicy(Qt.StrongFocus)

    def _update_source_label(self) -> None:
        name = short_name(self.source_name)
        self.source_label.setText(f"{name}  ·  {self.status}" if name else self.status)
        self.source_label.setToolTip(self.source_name)

    # -- running -------------------------------------------------------------------------------
    def start(self) -> None:
        if self.runner is not None:
            self.worker.start()
            self.status = "running"
            self._update_source_label()

    def _on_result_signal(self, _payload) -> None:
        payload = self.worker.take()  # the newest, which may be newer than the one this signal carried
        for ev, image in self.worker.take_missed_events():
            self.add_event(ev, image)
        if payload is not None:
            self.show_result(*payload)

    def show_result(self, result: FrameResult, annotated: np.ndarray, stats: RunStats) -> None:
        """Display one processed frame with its counters and events (GUI thread)."""
        age_ms = (time.monotonic() - result.frame.captured_at) * 1000.0
        self.current = (result, annotated)
        self.shown_frames += 1
        self.video.show_image(annotated)
        self.perf_labels["age"].setText(f"{age_ms:.0f} ms")
        self._show_frame_counts(result)
        for ev in result.events:
            self.add_event(ev, result.frame.image)
        self.show_stats(stats, frame_shown=True)

    def show_stats(self, stats: RunStats, frame_shown: bool = False) -> None:
        """Update the FPS panel, session counters and status; overlay 'reconnecting' on the last frame."""
        self.perf_labels["capture"].setText(f"{stats.capture_fps:.1f} fps")
        self.perf_labels["processed"].setText(f"{stats.processed_fps:.1f} fps")
        shown_skip = self.worker.replaced
        self.perf_labels["dropped"].setText(f"{stats.dropped}" + (f" (+{shown_skip} not shown)" if shown_skip else ""))
        if self.tracking:
            self.session_labels["people"].setText(str(stats.people))
            self.session_labels["masked"].setText(str(stats.people_by_label.get("mask", 0)))
            self.session_labels["not_judged"].setText(str(stats.not_judged))
            self.session_labels["violations"].setText(str(stats.violations))
        if self.runner is not None and self.runner.paused.is_set():
            return
        if not self.finished and stats.status != self.status:
            self.status = stats.status
            self._update_source_label()
        if self.current is not None:
            banner = status_banner(self.current[1], stats)
            if banner is not None:  # also over frames still in flight when the source was lost
                self.video.show_image(banner)
                self.banner_shown = True
                self.statusBar().showMessage(f"{self.source_name}: {stats.status}")
            elif self.banner_shown:
                self.banner_shown = False
                self.statusBar().clearMessage()
                if not frame_shown:  # back without a new frame yet: the plain last frame
                    self.video.show_image(self.current[1])

    def _show_frame_counts(self, result: FrameResult) -> None:
        labels = list(self.labels) + sorted({f.shown_label for f in result.faces} - set(self.labels))
        parts = []
        for lab in labels:
            n = result.count(lab)
            name = display_name(lab) if lab else "unlabelled"
            parts.append(f"<span style='color:{_hex(color_for(lab))}; font-weight:bold'>{name}</span>: {n}")
        total = len(result.faces)
        self.frame_counts.setText(f"faces: {total}<br>" + "<br>".join(parts))

    # -- events --------------------------------------------------------------------------------
    def add_event(self, event: Event, frame_image: np.ndarray | None = None) -> None:
        """Put a violation event at the top of the list (with the face) and raise the alert."""
        self.event_count += 1
        stamp = datetime.fromtimestamp(event.time).strftime("%H:%M:%S")
        text = f"{stamp}  #{event.track_id}\n{display_name(event.label)} {event.confidence * 100:.0f}%" + (" · ESCALATED" if event.escalated else "")
        item = QtWidgets.QListWidgetItem(text)
        thumb = event_thumbnail(event, frame_image, self.runner.pipeline.monitor if self.runner is not None else None)
        if thumb is not None and thumb.size:
            pix = QtGui.QPixmap.fromImage(to_qimage(thumb)).scaled(THUMB, THUMB, Qt.KeepAspectRatio, Qt.SmoothTransformation)
            item.setIcon(QtGui.QIcon(pix))
        item.setToolTip(event.snapshot or event.crop or "")
        item.setData(Qt.UserRole, event)  # for the review dialog (gui_review.py)
        self.event_list.insertItem(0, item)
        while self.event_list.count() > MAX_EVENTS:
            self.event_list.takeItem(self.event_list.count() - 1)
        self.alert()

    def alert(self) -> None:
        if self.alert_flash:
            self.alert_active = True
            self.video.set_alert(True)
            self._flash_timer.start(FLASH_MS)
        if self.alert_sound:
            QtWidgets.QApplication.beep()

    def _end_flash(self) -> None:
        self.alert_active = False
        self.video.set_alert(False)

    # -- controls ------------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self.runner is not None and self.runner.paused.is_set()

    def toggle_pause(self) -> None:
        if self.runner is None or self.finished:
            return
        if self.runner.paused.is_set():
            self.runner.paused.clear()
            self.pause_button.setText("Pause (Space)")
            self.status = "running"
        else:
            self.runner.paused.set()
            self.pause_button.setText("Start (Space)")
            self.status = "paused"
        self._update_source_label()

    def snapshot(self) -> tuple[Path, Path | None] | None:
        """Save the shown annotated frame and its raw frame as PNGs; returns their paths (None: nothing shown yet)."""
        if self.current is None:
            self.statusBar().showMessage("no frame to save yet", 3000)
            return None
        result, annotated = self.current
        raw = result.frame.image
        if self.redact is not None:  # --privacy holds for every saved picture, the operator's too
            annotated, raw = self.redact(annotated, result.faces), self.redact(raw, result.faces)
        try:
            paths = save_snapshot(self.snapshot_dir, annotated, raw, result.frame.index)
        except FacemaskError as exc:
            self.statusBar().showMessage(f"error: {exc}")
            print(f"error: {exc}", file=sys.stderr)
            return None
        self.statusBar().showMessage(f"snapshot saved: {paths[0]} (+ raw)", 8000)
        return paths

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt name)
        key = event.key()
        if key == Qt.Key_S:
            self.snapshot()
        elif key == Qt.Key_Space:
            self.toggle_pause()
        elif key in (Qt.Key_Q, Qt.Key_Escape):
            self.close()
        else:
            super().keyPressEvent(event)

    # -- ending --------------------------------------------------------------------------------
    def _on_ended(self, status: str) -> None:
        self.finished = True
        self.status = end_message(self.source_name) if status == "ended" else status
        self._update_source_label()
        self.statusBar().showMessage(self.status)
        self.pause_button.setEnabled(False)

    def _on_failed(self, exc: BaseException) -> None:
        self.error = exc
        self.finished = True
        if isinstance(exc, FacemaskError):
            msg, self.exit_code = str(exc), exc.exit_code
        else:
            msg, self.exit_code = f"internal error: {type(exc).__name__}: {exc}", 1
        msg = mask_credentials(msg).splitlines()[0] if msg.strip() else type(exc).__name__
        self.status = "failed"
        self._update_source_label()
        self.statusBar().showMessage(f"error: {msg}")
        print(f"error: {msg}", file=sys.stderr)
        if not isinstance(exc, FacemaskError) and self.debug:
            traceback.print_exception(exc)
        self.pause_button.setEnabled(False)
        QtCore.QTimer.singleShot(self.error_close_ms, self.close)  # leave the message up briefly, then exit non-zero

    def request_quit(self, exit_code: int | None = None) -> None:
        if exit_code is not None and self.exit_code == 0:
            self.exit_code = exit_code
        self.close()

    def shutdown(self) -> bool:
        """Stop the worker and close the runner (capture, video, logs). True if the worker thread ended."""
        self._flash_timer.stop()
        return self.worker.stop(1.0)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if not self._closing:
            self._closing = True
            if not self.shutdown():
                log.warning("the worker thread did not stop within a second")
        super().closeEvent(event)


def build_window(settings: Settings) -> MainWindow:
    """Pipeline, runner and window from the settings. Raises FacemaskError for bad sources/models/folders.

    A video file plays at its own frame rate in the window, like a camera (headless processes every frame
    unless --realtime); a camera's ``realtime: false`` in a settings file keeps every frame.
    """
    if settings.cameras[0].realtime is None and not settings.source.realtime and not settings.source.demo:
        settings = dataclasses.replace(settings, source=dataclasses.replace(settings.source, realtime=True))
    pipeline = build_pipeline(settings)
    worker = FrameWorker()
    runner = build_runner(settings, pipeline, on_result=worker.publish, on_idle=worker.idle, annotate_frames=True)
    worker.runner = runner  # the worker exists first: the runner's callbacks are its methods
    return MainWindow(
        runner,
        worker=worker,
        snapshot_dir=settings.output.snapshot_dir(),
        alert_flash=settings.gui.alert_flash,
        alert_sound=settings.gui.alert_sound,
        debug=settings.debug,
        event_log=settings.output.events,
        people_log=settings.people_log.path,
        redact=snapshot_redactor(settings, pipeline.classifier.violation_labels),
    )


def _excepthook(window: MainWindow):
    def hook(exc_type, exc, tb):  # an exception in a slot: one line, then exit 1 (PyQt would abort)
        print(
            f"error: internal error: {exc_type.__name__}: {mask_credentials(str(exc))} (run with --debug for details)",
            file=sys.stderr,
        )
        if window.debug:
            traceback.print_exception(exc_type, exc, tb)
        window.request_quit(1)

    return hook


def run_gui(settings: Settings) -> int:
    """Open the window on the settings' source and run until it is closed; returns the exit code."""
    problem = display_problem(probe=True)
    if problem:
        raise FacemaskError(problem)
    app = QtWidgets.QApplication.instance()
    if app is None:
        QtCore.QCoreApplication.setAttribute(Qt.AA_EnableHighDpiScaling, True)  # sharp text on HiDPI screens
        QtCore.QCoreApplication.setAttribute(Qt.AA_UseHighDpiPixmaps, True)
        app = QtWidgets.QApplication([APP_NAME])
    app.setApplicationName(APP_NAME)
    window = build_window(settings)  # FacemaskError before any window is shown
    old_hook = sys.excepthook
    sys.excepthook = _excepthook(window)
    old_int = signal.signal(signal.SIGINT, lambda *_: window.request_quit(130))
    old_term = signal.signal(signal.SIGTERM, lambda *_: window.request_quit(0))
    tick = QtCore.QTimer()
    tick.timeout.connect(lambda: None)  # lets the Python interpreter run the signal handlers
    tick.start(200)
    try:
        window.show()
        if settings.visitor.camera:  # --visitor-display (issue 29)
            window.worker.visitor.open(settings.visitor)
        window.start()
        app.exec_()
    finally:
        tick.stop()
        window.shutdown()
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        sys.excepthook = old_hook
    if window.error is None:
        for line in summary_lines(window.runner.stats, window.runner.capture):
            print(line, file=sys.stderr)
    return window.exit_code
