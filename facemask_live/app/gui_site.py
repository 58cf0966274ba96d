"""The window of a site: a grid of every camera, one event list, counters per camera and for the site.

Long because one Qt window's widgets, menus and slots only make sense together.

It shows what the core produces and holds no detection logic: :func:`facemask_live.engine.build.build_site` builds the
:class:`~facemask_live.engine.site.Site`; its ``on_result`` callback runs on the camera threads and hands the newest
result of each camera (and every event) to the GUI thread through a queued Qt signal (:class:`SiteBridge`).

Tiles show the camera's name, state (live, reconnecting, ended, failed) and fps; a click enlarges a tile, another
click goes back to the grid. File -> Open (a video, image or folder) and Camera -> Add (a webcam index or a URL,
with a masked password field and a test-connection button) add a camera while the site runs, as does dropping
files on the window; recent sources are kept in QSettings. View -> Freeze pictures (Space) holds every tile's
picture while the cameras are still processed and their events listed (a desk never stops watching). View -> Show
zones draws each camera's zones; on an enlarged tile, Zones -> Draw zone takes clicks as the points of a polygon,
Zones -> Finish zone names it.
File -> Save config writes the cameras and their zones to a YAML file (passwords as ``{ENV}`` placeholders).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import sys
import threading
from datetime import datetime
from pathlib import Path

import numpy as np
from PyQt5 import QtCore, QtGui, QtWidgets  # cli imports .gui first, which says clearly when PyQt5 is missing

from facemask_live.app.gui import APP_NAME, THUMB, VideoView, display_problem, event_thumbnail, short_name, to_qimage
from facemask_live.app.visitor import VisitorFeed  # issue 29: the visitor display
from facemask_live.core.config import CameraSettings, Settings, read_file, settings_to_dict
from facemask_live.core.errors import FacemaskError
from facemask_live.core.results import Event, FrameResult
from facemask_live.core.zones import Zone, draw_zones
from facemask_live.engine.build import add_site_camera, build_site, safe_name, site_summary_lines, snapshot_redactor
from facemask_live.outputs.annotate import display_name
from facemask_live.outputs.sinks import ensure_dir, save_snapshot
from facemask_live.sources.capture import SourceState, mask_credentials, parse_source

log = logging.getLogger(__name__)
Qt = QtCore.Qt

MAX_EVENTS = 100
STATE_COLORS = {"live": "#40c040", "reconnecting": "#e0a020", "starting": "#a0a0a0", "ended": "#8080ff",
                "failed": "#e04040", "stopped": "#a0a0a0"}
RECENT_KEY = "site/recent_sources"
MAX_RECENT = 8
VIDEO_FILTER = "Videos, images (*.mp4 *.avi *.mkv *.mov *.webm *.jpg *.jpeg *.png *.bmp);;All files (*)"


class SiteBridge(QtCore.QObject):
    """The Site's ``on_result`` (camera threads) -> the GUI thread. Keeps only each camera's newest frame,
    but every event; one queued signal at a time."""

    ready = QtCore.pyqtSignal()

    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()
        self._latest: dict[str, tuple[FrameResult, np.ndarray]] = {}
        self._events: list[tuple[str, Event, np.ndarray]] = []
        self._pending = False
        self.visitor = VisitorFeed()  # the visitor display's results (issue 29)

    def on_result(self, camera: str, result: FrameResult, annotated: np.ndarray | None) -> None:
        self.visitor.on_result(camera, result, annotated)
        image = annotated if annotated is not None else result.frame.image
        with self._lock:
            self._latest[camera] = (result, image)
            self._events += [(camera, ev, result.frame.image) for ev in result.events]
            if self._pending:
                return
            self._pending = True
        self.ready.emit()

    def take(self) -> tuple[dict, list]:
        with self._lock:
            latest, events = self._latest, self._events
            self._latest, self._events, self._pending = {}, [], False
        return latest, events


class CameraTile(QtWidgets.QFrame):
    """One camera: a title line (name, state, fps) above its newest frame. Emits ``clicked(name, x, y)`` with the
    click's position in relative frame coordinates (None outside the picture)."""

    clicked = QtCore.pyqtSignal(str, object)

    def __init__(self, name: str, parent=None, frozen: bool = False):
        super().__init__(parent)
        self.name = name
        self.state = "starting"
        self.fps = 0.0
        self.attempt = 0
        self.frozen = frozen  # the window froze the pictures: said on the title, so nobody takes it for live
        self.setFrameShape(QtWidgets.QFrame.StyledPanel)
        self.title = QtWidgets.QLabel()
        self.title.setTextFormat(Qt.RichText)
        self.view = VideoView()
        self.view.setMinimumSize(160, 90)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        lay.addWidget(self.title)
        lay.addWidget(self.view, 1)
        self.set_state("starting", 0.0)

    def set_state(self, state: str, fps: float, attempt: int = 0) -> None:
        self.state, self.fps, self.attempt = state, fps, attempt
        shown = f"{state} (attempt {attempt})" if state == "reconnecting" and attempt else state
        color = STATE_COLORS.get(state, "#a0a0a0")
        frozen = " · <span style='color:#3080ff'>picture frozen</span>" if self.frozen else ""
        self.title.setText(f"<b>{self.name}</b> · <span style='color:{color}'>{shown}</span> · {fps:.1f} fps{frozen}")

    def picture_rect(self) -> QtCore.QRectF | None:
        """Where the frame is drawn in the view (scaled keeping its aspect ratio, centred), from the frame's size:
        the label's own pixmap is replaced on every frame and must not be held."""
        img = self.view.image
        if img is None or img.isNull():
            return None
        r = self.view.contentsRect()
        scale = min(r.width() / img.width(), r.height() / img.height())
        w, h = img.width() * scale, img.height() * scale
        return QtCore.QRectF(r.x() + (r.width() - w) / 2, r.y() + (r.height() - h) / 2, w, h)

    def relative_point(self, pos: QtCore.QPoint) -> tuple[float, float] | None:
        """A click on the view -> (x, y) in 0..1 of the frame, None outside the drawn picture."""
        rect = self.picture_rect()
        if rect is None or rect.width() <= 0 or rect.height() <= 0:
            return None
        x, y = (pos.x() - rect.x()) / rect.width(), (pos.y() - rect.y()) / rect.height()
        return (round(x, 4), round(y, 4)) if 0 <= x <= 1 and 0 <= y <= 1 else None

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.clicked.emit(self.name, self.relative_point(self.view.mapFrom(self, event.pos())))


class AddCameraDialog(QtWidgets.QDialog):
    """Camera -> Add: a name, a webcam index or URL, user and a masked password, and a test-connection button."""

    def __init__(self, taken: set[str], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Add camera")
        self.taken = taken
        self.name = QtWidgets.QLineEdit(unique_name("camera", taken))
        self.source = QtWidgets.QLineEdit()
        self.source.setPlaceholderText("0, rtsp://10.0.0.5:554/stream, http://host:8080/video")
        self.user = QtWidgets.QLineEdit()
        self.password = QtWidgets.QLineEdit()
        self.password.setEchoMode(QtWidgets.QLineEdit.Password)
        self.result_label = QtWidgets.QLabel("")
        test = QtWidgets.QPushButton("Test connection")
        test.clicked.connect(self.test_connection)
        form = QtWidgets.QFormLayout(self)
        form.addRow("Name", self.name)
        form.addRow("Webcam index or URL", self.source)
        form.addRow("User", self.user)
        form.addRow("Password", self.password)
        form.addRow(test, self.result_label)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Ok | QtWidgets.QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def url(self) -> str:
        """The source with the user and password put into a URL (``rtsp://user:pass@host/...``)."""
        return with_credentials(self.source.text().strip(), self.user.text().strip(), self.password.text())

    def test_connection(self) -> bool:
        """Open the source once and read a frame (up to about 5 s); the outcome is shown beside the button."""
        import cv2

        from facemask_live.sources.capture import Capture

        self.result_label.setText("testing ...")
        QtWidgets.QApplication.processEvents()
        try:
            cap = Capture(parse_source(self.url()), stall_timeout=5.0, max_reconnects=0, open_timeout=5.0).start()
            frame = cap.read(5.0)
            cap.stop()
        except FacemaskError as exc:
            self.result_label.setText(f"failed: {mask_credentials(str(exc))[:80]}")
            return False
        except cv2.error as exc:
            self.result_label.setText(f"failed: {str(exc)[:80]}")
            return False
        ok = frame is not None
        self.result_label.setText(f"ok: {frame.image.shape[1]}x{frame.image.shape[0]}" if ok else "failed: no frame")
        return ok


def with_credentials(source: str, user: str, password: str) -> str:
    """``rtsp://host/x`` + user/password -> ``rtsp://user:password@host/x`` (unchanged without a user or a URL)."""
    if not user or "://" not in source:
        return source
    scheme, rest = source.split("://", 1)
    rest = rest.split("@", 1)[-1]
    from urllib.parse import quote

    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    return f"{scheme}://{auth}@{rest}"


def unique_name(base: str, taken: set[str]) -> str:
    base = re.sub(r"\s+", "-", base.strip()) or "camera"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def password_placeholder(source: str, camera: str) -> tuple[str, str | None]:
    """A URL's password replaced by ``{FACEMASK_<CAMERA>_PASSWORD}`` for a config file; (source, variable or None)."""
    m = re.match(r"^([a-z][a-z0-9+.-]*://[^:/@]+):([^@]+)@(.*)$", source, re.I)
    if not m or re.fullmatch(r"\{[A-Z_][A-Z0-9_]*\}", m.group(2)):
        return source, None
    var = "FACEMASK_" + re.sub(r"[^A-Z0-9]+", "_", camera.upper()).strip("_") + "_PASSWORD"
    return f"{m.group(1)}:{{{var}}}@{m.group(3)}", var


class SiteWindow(QtWidgets.QMainWindow):
    """The grid of cameras, the event list of all of them, counters, menus, the zone editor.

    ``settings``: the site's settings (``settings.cameras`` grows as cameras are added); ``site``: the running
    engine built from them with ``on_result=bridge.on_result`` (None: tests feed :meth:`show_results`).
    ``config_path``: the file the settings came from (its raw text keeps ``{ENV}`` placeholders when saving).
    """

    def __init__(self, settings: Settings, site=None, bridge: SiteBridge | None = None, config_path: str | None = None):
        super().__init__()
        self.settings = settings
        self.site = site
        self.bridge = bridge or SiteBridge()
        self.config_path = config_path
        # --privacy: (image, faces) -> image with compliant faces blurred, for the operator's snapshots
        self.redact = snapshot_redactor(settings, site.classifier.violation_labels) if site is not None else None
        self.raw_sources = raw_camera_sources(config_path)
        self.tiles: dict[str, CameraTile] = {}
        self.current: dict[str, tuple[FrameResult, np.ndarray]] = {}
        self.counts: dict[str, dict[str, int]] = {}
        self.enlarged: str | None = None
        self.show_zones = False
        self.drawing: list[tuple[float, float]] | None = None  # points of the zone being drawn
        self.frozen = False  # the pictures stand still (View -> Freeze); the cameras and events go on
        self._held: dict[str, tuple[FrameResult, np.ndarray]] = {}  # newest frames that arrived while frozen
        self.exit_code = 0
        self.setWindowTitle(f"{APP_NAME} — site of {len(settings.cameras)} cameras")
        self.setAcceptDrops(True)
        self._build()
        for cam in settings.cameras:
            self._add_tile(cam.name)
        self.bridge.ready.connect(self._on_ready, Qt.QueuedConnection)
        self._timer = QtCore.QTimer(self)
        self._timer.timeout.connect(self.refresh_states)
        self._timer.start(500)
        self.resize(1400, 800)

    # -- layout ------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.grid_widget = QtWidgets.QWidget()
        self.grid = QtWidgets.QGridLayout(self.grid_widget)
        self.grid.setContentsMargins(4, 4, 4, 4)
        self.grid.setSpacing(4)

        self.table = QtWidgets.QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["camera", "state", "fps", "people", "violations"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeToContents)
        self.event_list = QtWidgets.QListWidget()
        self.event_list.setIconSize(QtCore.QSize(THUMB, THUMB))
        snap = QtWidgets.QPushButton("Snapshot (S)")
        snap.clicked.connect(self.snapshot)
        snap.setFocusPolicy(Qt.NoFocus)

        side = QtWidgets.QWidget()
        side.setFixedWidth(380)
        sv = QtWidgets.QVBoxLayout(side)
        sv.setContentsMargins(0, 0, 0, 0)
        counters = QtWidgets.QGroupBox("Cameras and site")
        QtWidgets.QVBoxLayout(counters).addWidget(self.table)
        events = QtWidgets.QGroupBox("Violations (all cameras)")
        QtWidgets.QVBoxLayout(events).addWidget(self.event_list)
        sv.addWidget(counters, 2)
        sv.addWidget(events, 3)
        sv.addWidget(snap)

        central = QtWidgets.QWidget()
        h = QtWidgets.QHBoxLayout(central)
        h.setContentsMargins(4, 4, 4, 4)
        h.addWidget(self.grid_widget, 1)
        h.addWidget(side)
        self.setCentralWidget(central)
        self._menus()

    def _menus(self) -> None:
        bar = self.menuBar()
        m = bar.addMenu("&File")
        self.open_action = m.addAction("&Open video or image...", self.open_file, QtGui.QKeySequence.Open)
        m.addAction("Open &folder...", self.open_folder)
        self.recent_menu = m.addMenu("&Recent sources")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        m.addSeparator()
        m.addAction("&Save config...", self.save_config_as, QtGui.QKeySequence.Save)
        m.addSeparator()
        m.addAction("&Quit", self.close, QtGui.QKeySequence.Quit)
        m = bar.addMenu("&Camera")
        m.addAction("&Add webcam or URL...", self.add_camera_dialog)
        m.addAction("&Remove enlarged camera", self.remove_enlarged)
        m = bar.addMenu("&View")
        self.zones_action = m.addAction("Show &zones")
        self.zones_action.setCheckable(True)
        self.zones_action.toggled.connect(self.set_show_zones)
        self.freeze_action = m.addAction("&Freeze pictures (Space)")
        self.freeze_action.setCheckable(True)
        self.freeze_action.toggled.connect(self.set_frozen)
        m.addAction("&Visitor display...", lambda: self.bridge.visitor.choose(self, self.settings.visitor, list(self.tiles)))
        m = bar.addMenu("&Zones")
        m.addAction("&Draw zone on the enlarged camera", self.start_zone)
        m.addAction("&Finish zone...", self.finish_zone_dialog)
        m.addAction("&Cancel drawing", self.cancel_zone)

    # -- tiles -------------------------------------------------------------------------------------
    def _add_tile(self, name: str) -> CameraTile:
        tile = CameraTile(name, frozen=self.frozen)
        tile.clicked.connect(self.tile_clicked)
        self.tiles[name] = tile
        self.counts[name] = {"people": 0, "violations": 0}
        self._relayout()
        return tile

    def _relayout(self) -> None:
        for tile in self.tiles.values():
            self.grid.removeWidget(tile)
        shown = [self.tiles[self.enlarged]] if self.enlarged in self.tiles else list(self.tiles.values())
        cols = max(1, int(np.ceil(np.sqrt(len(shown)))))
        for i, tile in enumerate(shown):
            self.grid.addWidget(tile, i // cols, i % cols)
        for tile in self.tiles.values():
            tile.setVisible(tile in shown)
        self._fill_table()

    def tile_clicked(self, name: str, point) -> None:
        """A click enlarges a tile and the next one goes back to the grid; while drawing a zone it adds a point."""
        if self.drawing is not None and self.enlarged == name:
            if point is not None:
                self.drawing.append(point)
                self._redraw(name)
                self.statusBar().showMessage(f"zone: {len(self.drawing)} points (Zones -> Finish zone when done)")
            return
        self.enlarged = None if self.enlarged == name else name
        self._relayout()

    # -- results (GUI thread) ----------------------------------------------------------------------
    def _on_ready(self) -> None:
        latest, events = self.bridge.take()
        self.show_results(latest, events)

    def show_results(self, latest: dict, events: list) -> None:
        for name, (result, image) in latest.items():
            if name not in self.tiles:
                continue
            if self.frozen and name in self.current:  # only the pictures wait (a new camera still gets its first)
                self._held[name] = (result, image)
                continue
            self.current[name] = (result, image)
            self._redraw(name)
        for name, event, frame in events:
            self.add_event(name, event, frame)

    def _redraw(self, name: str) -> None:
        if name not in self.current:
            return
        image = self.current[name][1]
        cam = self._camera(name)
        zones = list(cam.zones) if cam is not None and self.show_zones else []
        if self.drawing is not None and self.enlarged == name and len(self.drawing) >= 3:
            try:
                zones.append(Zone("new zone", "entrance", tuple(self.drawing)))
            except ValueError:
                pass
        if zones:
            image = draw_zones(image, zones)
        if self.drawing is not None and self.enlarged == name:
            image = image.copy()
            import cv2

            h, w = image.shape[:2]
            for x, y in self.drawing:
                cv2.circle(image, (round(x * (w - 1)), round(y * (h - 1))), max(3, h // 150), (0, 255, 255), -1)
        self.tiles[name].view.show_image(image)

    def add_event(self, camera: str, event: Event, frame_image: np.ndarray | None = None) -> None:
        stamp = datetime.fromtimestamp(event.time).strftime("%H:%M:%S")
        item = QtWidgets.QListWidgetItem(f"{camera} · {stamp}  #{event.track_id}\n"
                                         f"{display_name(event.label)} {event.confidence * 100:.0f}%"
                                         + (" · ESCALATED" if event.escalated else ""))
        cam = self.site.cameras.get(camera) if self.site is not None else None
        thumb = event_thumbnail(event, frame_image, cam.monitor if cam is not None else None)
        if thumb is not None and thumb.size:
            pix = QtGui.QPixmap.fromImage(to_qimage(thumb)).scaled(THUMB, THUMB, Qt.KeepAspectRatio, Qt.SmoothTransformation)
            item.setIcon(QtGui.QIcon(pix))
        item.setToolTip(event.snapshot or event.crop or "")
        item.setData(Qt.UserRole, event)
        self.event_list.insertItem(0, item)
        while self.event_list.count() > MAX_EVENTS:
            self.event_list.takeItem(self.event_list.count() - 1)
        if camera in self.counts:
            self.counts[camera]["violations"] += 1
        self._fill_table()

    def set_frozen(self, on: bool) -> None:
        """Freeze the pictures (to look at a face, or snapshot what is shown) while every camera is still
        processed and its events still listed; unfreezing shows each camera's newest frame at once."""
        if on == self.frozen:
            return
        self.frozen = on
        if self.freeze_action.isChecked() != on:
            self.freeze_action.setChecked(on)
        for tile in self.tiles.values():
            tile.frozen = on
            tile.set_state(tile.state, tile.fps, tile.attempt)  # the title says it at once
        if on:
            self.statusBar().showMessage("pictures frozen: every camera is still watched and its events listed "
                                         "(Space to go on)")
            return
        held, self._held = self._held, {}
        self.show_results(held, [])
        self.statusBar().showMessage("pictures live again", 3000)

    def refresh_states(self) -> None:
        """Every 0.5 s: each camera's state and fps (and people) from the engine."""
        if self.site is None:
            return
        for name, tile in self.tiles.items():
            cam = self.site.cameras.get(name)
            if cam is None:
                continue
            tile.set_state(cam.state.public, cam.fps if cam.state is SourceState.RUNNING else 0.0, cam.attempt)
            if cam.monitor is not None:
                self.counts[name]["people"] = cam.monitor.people_seen
        self._fill_table()

    def _fill_table(self) -> None:
        rows = list(self.tiles)
        self.table.setRowCount(len(rows) + 1)
        total = {"people": 0, "violations": 0, "fps": 0.0}
        for r, name in enumerate(rows):
            tile, c = self.tiles[name], self.counts[name]
            for col, text in enumerate((name, tile.state, f"{tile.fps:.1f}", str(c["people"]), str(c["violations"]))):
                self.table.setItem(r, col, QtWidgets.QTableWidgetItem(text))
            total["people"] += c["people"]
            total["violations"] += c["violations"]
            total["fps"] += tile.fps
        live = sum(t.state == "live" for t in self.tiles.values())
        for col, text in enumerate(("site", f"{live}/{len(rows)} live", f"{total['fps']:.1f}",
                                    str(total["people"]), str(total["violations"]))):
            item = QtWidgets.QTableWidgetItem(text)
            font = item.font()
            font.setBold(True)
            item.setFont(font)
            self.table.setItem(len(rows), col, item)

    # -- snapshots ---------------------------------------------------------------------------------
    def snapshot(self) -> list[Path]:
        """The shown frame of every camera (only the enlarged one when a tile is enlarged) into a subfolder per camera."""
        names = [self.enlarged] if self.enlarged in self.current else list(self.current)
        saved = []
        root = self.settings.output.snapshot_dir()
        for name in names:
            result, image = self.current[name]
            raw = result.frame.image
            if self.redact is not None:  # --privacy holds for every saved picture, the operator's too
                image, raw = self.redact(image, result.faces), self.redact(raw, result.faces)
            try:
                folder = ensure_dir(root / safe_name(name), "snapshot")
                saved.append(save_snapshot(folder, image, raw, result.frame.index)[0])
            except FacemaskError as exc:
                self.statusBar().showMessage(f"error: {exc}")
                return saved
        self.statusBar().showMessage(f"{len(saved)} snapshot(s) saved in {root}", 8000)
        return saved

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if event.key() == Qt.Key_S:
            self.snapshot()
        elif event.key() == Qt.Key_Space:
            self.set_frozen(not self.frozen)
        elif event.key() in (Qt.Key_Q, Qt.Key_Escape):
            if self.drawing is not None:
                self.cancel_zone()
            else:
                self.close()
        else:
            super().keyPressEvent(event)

    # -- adding cameras ----------------------------------------------------------------------------
    def add_source(self, source: str, name: str | None = None) -> str | None:
        """Add a camera for ``source`` (a file/folder plays at its own rate and loops); returns its name."""
        taken = set(self.tiles)
        if name is None:
            stem = Path(source).stem if "://" not in source and not source.isdigit() else (
                f"webcam-{source}" if source.isdigit() else re.sub(r"[^A-Za-z0-9]+", "-", source.split("://", 1)[1].split("@")[-1])[:24])
            name = unique_name(stem or "camera", taken)
        if name in taken:
            self.statusBar().showMessage(f"error: a camera named {name!r} exists already")
            return None
        is_file = "://" not in source and not source.isdigit()
        try:
            cam = CameraSettings(name, source, loop=is_file and Path(source).suffix.lower() not in (".jpg", ".jpeg", ".png", ".bmp"))
            new = dataclasses.replace(self.settings, cameras=(*self.settings.cameras, cam))
            if self.site is not None:
                add_site_camera(self.site, new, cam)
        except (FacemaskError, ValueError) as exc:
            self.statusBar().showMessage(f"error: {mask_credentials(str(exc))}")
            return None
        self.settings = new
        self._add_tile(name)
        self.remember_recent(source)
        self.setWindowTitle(f"{APP_NAME} — site of {len(self.tiles)} cameras")
        self.statusBar().showMessage(f"added camera {name}: {short_name(mask_credentials(source))}", 5000)
        return name

    def open_file(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open video or image", "", VIDEO_FILTER)
        if path:
            self.add_source(path)

    def open_folder(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a folder of images")
        if path:
            self.add_source(path)

    def add_camera_dialog(self) -> None:
        dlg = AddCameraDialog(set(self.tiles), self)
        if dlg.exec_() == QtWidgets.QDialog.Accepted and dlg.source.text().strip():
            self.add_source(dlg.url(), dlg.name.text().strip() or None)

    def remove_enlarged(self) -> None:
        name = self.enlarged
        if name is None:
            self.statusBar().showMessage("click a camera to enlarge it first", 4000)
            return
        if self.site is not None and name in self.site.cameras:
            self.site.remove_camera(name)
        self.settings = dataclasses.replace(self.settings, cameras=tuple(c for c in self.settings.cameras if c.name != name)
                                            or self.settings.cameras)
        tile = self.tiles.pop(name)
        self.grid.removeWidget(tile)
        tile.deleteLater()
        self.current.pop(name, None)
        self.counts.pop(name, None)
        self.enlarged = None
        self._relayout()

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt name)
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.add_source(url.toLocalFile())

    def remember_recent(self, source: str) -> None:
        qs = QtCore.QSettings(APP_NAME, APP_NAME)
        saved, _ = password_placeholder(source, "recent")  # no password in the recent list
        recent = [s for s in (qs.value(RECENT_KEY, [], type=list) or []) if s != saved]
        qs.setValue(RECENT_KEY, [saved, *recent][:MAX_RECENT])

    def recent_sources(self) -> list[str]:
        return list(QtCore.QSettings(APP_NAME, APP_NAME).value(RECENT_KEY, [], type=list) or [])

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for source in self.recent_sources():
            self.recent_menu.addAction(short_name(mask_credentials(source)), lambda s=source: self.add_source(s))
        if not self.recent_menu.actions():
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    # -- zones -------------------------------------------------------------------------------------
    def _camera(self, name: str) -> CameraSettings | None:
        return next((c for c in self.settings.cameras if c.name == name), None)

    def set_show_zones(self, on: bool) -> None:
        self.show_zones = on
        for name in self.current:
            self._redraw(name)

    def start_zone(self) -> None:
        if self.enlarged is None:
            self.statusBar().showMessage("click a camera to enlarge it, then draw its zone", 5000)
            return
        self.drawing = []
        self.statusBar().showMessage(f"drawing a zone on {self.enlarged}: click its corners, then Zones -> Finish zone")

    def cancel_zone(self) -> None:
        name, self.drawing = self.enlarged, None
        if name:
            self._redraw(name)
        self.statusBar().clearMessage()

    def finish_zone_dialog(self) -> None:
        if self.drawing is None or self.enlarged is None:
            return
        name, ok = QtWidgets.QInputDialog.getText(self, "Zone", "Zone name:", text=f"zone{len(self._camera(self.enlarged).zones) + 1}")
        if not ok:
            return
        kind, ok = QtWidgets.QInputDialog.getItem(self, "Zone", "Kind:", ["entrance", "ignore"], 0, False)
        if ok:
            self.finish_zone(name, kind)

    def finish_zone(self, zone_name: str, kind: str) -> Zone | None:
        """The drawn points as a zone of the enlarged camera; the camera restarts with it (the others go on)."""
        camera = self._camera(self.enlarged) if self.enlarged else None
        if camera is None or self.drawing is None:
            return None
        try:
            zone = Zone(zone_name.strip(), kind, tuple(self.drawing))
            updated = dataclasses.replace(camera, zones=(*(z for z in camera.zones if z.name != zone.name), zone))
        except ValueError as exc:
            self.statusBar().showMessage(f"error: {exc}")
            return None
        self.settings = dataclasses.replace(self.settings, cameras=tuple(updated if c.name == camera.name else c
                                                                         for c in self.settings.cameras))
        if self.site is not None and camera.name in self.site.cameras:  # the zone filter is built with the camera
            self.site.remove_camera(camera.name)
            add_site_camera(self.site, self.settings, updated)
        self.drawing = None
        self.zones_action.setChecked(True)
        self.statusBar().showMessage(f"zone {zone.name} ({zone.kind}) added to {camera.name}; File -> Save config keeps it", 8000)
        return zone

    # -- saving ------------------------------------------------------------------------------------
    def save_config_as(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save config", self.config_path or "site.yaml", "YAML (*.yaml *.yml)")
        if path:
            self.save_config(path)

    def save_config(self, path: str | Path) -> list[str]:
        """Write the cameras (with their zones) into ``path``, keeping the other sections of the file the settings
        came from. Passwords become ``{FACEMASK_<CAMERA>_PASSWORD}``; returns the variables to set."""
        import yaml

        data = {}
        if self.config_path and Path(self.config_path).is_file():
            data = read_file(self.config_path)
        cams, variables = [], []
        for cam in self.settings.cameras:
            d = {k: v for k, v in settings_to_dict(cam).items() if v not in (None, [], (), False)}  # only what is set
            raw = self.raw_sources.get(cam.name)
            if raw is not None:
                d["source"] = raw
            else:
                d["source"], var = password_placeholder(cam.source, cam.name)
                if var:
                    variables.append(var)
            cams.append(d)
        data["cameras"] = cams
        try:
            Path(path).write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=None), encoding="utf-8")
        except OSError as exc:
            self.statusBar().showMessage(f"error: cannot write {path}: {exc.strerror or exc}")
            return variables
        note = f"; set {', '.join(variables)} in the environment" if variables else ""
        self.statusBar().showMessage(f"config saved: {path}{note}", 10000)
        return variables

    # -- closing -----------------------------------------------------------------------------------
    def shutdown(self) -> None:
        self._timer.stop()
        if self.site is not None:
            self.site.close()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.shutdown()
        super().closeEvent(event)


def raw_camera_sources(config_path: str | None) -> dict[str, str]:
    """Camera name -> the source as written in the config file (``{ENV}`` placeholders not substituted)."""
    if not config_path:
        return {}
    try:
        cams = read_file(config_path).get("cameras") or []
    except FacemaskError:
        return {}
    return {str(c["name"]): str(c["source"]) for c in cams if isinstance(c, dict) and "name" in c and "source" in c}


def build_site_window(settings: Settings, config_path: str | None = None) -> SiteWindow:
    """The site (files play at their own rate) and its window; the site is started by :func:`run_site_gui`."""
    bridge = SiteBridge()
    site = build_site(settings, on_result=bridge.on_result, annotate=True, realtime=True)
    return SiteWindow(settings, site, bridge, config_path=config_path)


def run_site_gui(settings: Settings, config_path: str | None = None) -> int:
    """Open the site window and run until it is closed; prints the site summary; returns the exit code."""
    import signal

    problem = display_problem(probe=True)
    if problem:
        raise FacemaskError(problem)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([APP_NAME])
    app.setApplicationName(APP_NAME)
    window = build_site_window(settings, config_path)
    old_int = signal.signal(signal.SIGINT, lambda *_: window.close())
    tick = QtCore.QTimer()
    tick.timeout.connect(lambda: None)  # lets Python run the signal handler
    tick.start(200)
    try:
        window.show()
        if settings.visitor.camera:  # --visitor-display (issue 29)
            window.bridge.visitor.open(settings.visitor)
        window.site.start()
        app.exec_()
        stats = window.site.stats()
    finally:
        tick.stop()
        window.shutdown()
        signal.signal(signal.SIGINT, old_int)
    for line in site_summary_lines(stats):
        print(mask_credentials(line), file=sys.stderr)
    return window.exit_code
