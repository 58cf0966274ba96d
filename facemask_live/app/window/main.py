"""The window: a grid of 1..N camera tiles over the site engine, a side panel, menus. One camera or many, a
plain ``--source`` or a config: the same window.

It shows what the engine produces and holds no detection logic: :func:`facemask_live.engine.build.build_site`
builds the :class:`~facemask_live.engine.site.Site` with ``on_result`` = :class:`SiteBridge`, which hands each
camera's newest result (and every event) to the GUI thread; every 0.5 s the window reads ``Site.stats()`` for
the states, rates and dropped frames. With one camera the panel follows it; with several, the enlarged one
(click a tile) or all of them, and a table lists every camera and the site.

Keys: S snapshot, Space pause (every camera stops reading; Space again goes on), F freeze the pictures (the
cameras are still processed and their events listed), Q or Esc quit (or stop drawing a zone).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from facemask_live.app.window import review
from facemask_live.app.window.bridge import SiteBridge
from facemask_live.app.window.feed import Shown, TakenEvent
from facemask_live.app.window.panel import SidePanel
from facemask_live.app.window.qt import Qt, QtCore, QtWidgets
from facemask_live.app.window.sources import source_label
from facemask_live.app.window.sources_menu import SourcesMixin
from facemask_live.app.window.status import StatusBar
from facemask_live.app.window.tiles import CameraTile
from facemask_live.app.window.view import (
    FLASH_MS,
    CaptureRates,
    frame_counts_html,
    perf_values,
    session_values,
    snapshot_folder,
    state_text,
    table_rows,
    window_status,
    window_title,
    zone_overlay,
)
from facemask_live.app.window.zone_editor import ZoneEditorMixin
from facemask_live.core.config import Settings
from facemask_live.core.errors import FacemaskError
from facemask_live.core.geometry import scale_faces
from facemask_live.core.results import Event
from facemask_live.engine.build import snapshot_redactor
from facemask_live.outputs.annotate import annotate
from facemask_live.outputs.sinks import ensure_dir, save_snapshot


class MainWindow(SourcesMixin, ZoneEditorMixin, QtWidgets.QMainWindow):
    """``settings``: the cameras (``settings.cameras`` grows as cameras are added); ``site``: the engine built from
    them with ``on_result=bridge.on_result`` (None: tests feed :meth:`show_results` and :meth:`set_camera_state`,
    ``labels`` and ``violation_labels`` standing for the classifier's).
    ``config_path``: the file the settings came from (File -> Save config keeps its other sections)."""

    def __init__(self, settings: Settings, site=None, bridge: SiteBridge | None = None, config_path: str | None = None,
                 *, labels: list[str] | None = None, violation_labels: tuple[str, ...] = ()):
        super().__init__()
        self.settings, self.site, self.config_path = settings, site, config_path
        self.bridge = bridge or SiteBridge()
        self.bridge.site = site
        self.labels = list(labels if labels is not None else (site.classifier.labels if site is not None else []))
        # --privacy: (image, faces) -> image with compliant faces blurred, for the operator's snapshots
        self.redact = snapshot_redactor(settings, site.classifier.violation_labels if site is not None else violation_labels)
        self.alert_flash, self.alert_sound = settings.gui.alert_flash, settings.gui.alert_sound
        self.tiles: dict[str, CameraTile] = {}
        self.current: dict[str, Shown] = {}  # what each tile shows
        self.counts: dict[str, dict | None] = {}  # each camera's newest monitor counts
        self.stats: dict[str, dict] = {}  # each camera's Site.stats() entry, read every 0.5 s
        self.age_ms: dict[str, float] = {}  # capture to display of the shown frame
        self.capture_rates = CaptureRates()  # each camera's frames captured per second, from its figures
        self._errors: dict[str, str] = {}  # each failed camera's error, said once
        self.enlarged: str | None = None
        self.frozen = False  # the pictures stand still (F); the cameras and events go on
        self._held: dict[str, Shown] = {}  # newest frames that came while frozen
        self.finished = False  # every camera's source ended
        self.shown_frames = 0
        self.exit_code = 0
        self.debug = settings.debug
        self.setAcceptDrops(True)
        self._build()
        for cam in settings.cameras:
            self._add_tile(cam.name)
        review.install(self, settings.output.events, settings.people_log.path)  # click an event; Review > Report
        self.bridge.ready.connect(self._on_ready, Qt.QueuedConnection)
        if any(c.zones for c in settings.cameras):
            self.zones_action.setChecked(True)  # cameras with zones: show them from the start
        self._timer = QtCore.QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(500)
        self.resize(1400 if len(self.tiles) > 1 else 1280, 800 if len(self.tiles) > 1 else 640)

    # -- layout ------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.grid_widget = QtWidgets.QWidget()
        self.grid = QtWidgets.QGridLayout(self.grid_widget)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(4)
        self.panel = SidePanel()
        self.event_list = self.panel.event_list
        self.panel.pause_button.clicked.connect(self.toggle_pause)
        self.panel.snapshot_button.clicked.connect(self.snapshot)
        central = QtWidgets.QWidget()
        h = QtWidgets.QHBoxLayout(central)
        h.setContentsMargins(6, 6, 6, 6)
        h.addWidget(self.grid_widget, 1)
        h.addWidget(self.panel)
        self.setCentralWidget(central)
        for w in (central, self.grid_widget):
            w.setFocusPolicy(Qt.NoFocus)
        self.setFocusPolicy(Qt.StrongFocus)
        self.source_label = QtWidgets.QLabel()
        self.setStatusBar(StatusBar())  # a long message (a camera's error) is cut short of the label on its right
        self.statusBar().addPermanentWidget(self.source_label)
        bar = self.menuBar()
        file_menu, camera_menu = bar.addMenu("&File"), bar.addMenu("&Camera")
        view_menu, zones_menu = bar.addMenu("&View"), bar.addMenu("&Zones")
        self._source_menus(file_menu, camera_menu)
        file_menu.addSeparator()
        file_menu.addAction("&Quit", self.close, "Ctrl+Q")
        self._zone_menus(view_menu, zones_menu)
        self.freeze_action = view_menu.addAction("&Freeze pictures (F)")
        self.freeze_action.setCheckable(True)
        self.freeze_action.toggled.connect(self.set_frozen)
        view_menu.addAction("&Visitor display...", self.choose_visitor_display)

    def choose_visitor_display(self) -> None:
        if self.bridge.remote:  # the workers send tiles, and the display shows a camera's whole picture
            self.statusBar().showMessage("error: the visitor display needs the cameras in the window's process: "
                                         "start with --visitor-display CAMERA or --workers 1", 8000)
            return
        self.bridge.visitor.choose(self, self.settings.visitor, list(self.tiles))

    def _add_tile(self, name: str) -> CameraTile:
        tile = CameraTile(name, frozen=self.frozen, paused=self.paused)
        tile.clicked.connect(self.tile_clicked)
        self.tiles[name] = tile
        self._relayout()
        return tile

    def _remove_tile(self, name: str) -> None:
        tile = self.tiles.pop(name)
        self.grid.removeWidget(tile)
        tile.deleteLater()
        for d in (self.current, self.counts, self.stats, self._held):
            d.pop(name, None)
        self.enlarged = None
        self._relayout()

    def _relayout(self) -> None:
        for tile in self.tiles.values():
            self.grid.removeWidget(tile)
        shown = [self.tiles[self.enlarged]] if self.enlarged in self.tiles else list(self.tiles.values())
        cols = max(1, int(np.ceil(np.sqrt(len(shown)))))
        for i, tile in enumerate(shown):
            self.grid.addWidget(tile, i // cols, i % cols)
        for tile in self.tiles.values():
            tile.setVisible(tile in shown)
            tile.title.setVisible(len(self.tiles) > 1)  # one camera: its state is in the status bar
        self.panel.set_following(self.following, len(self.tiles))
        sources = [source_label(self.settings, c) for c in self.settings.cameras]
        self.setWindowTitle(window_title(sources))
        self.update_panel()

    @property
    def following(self) -> str | None:
        """The camera the panel follows: the only one, the enlarged one, or None for all."""
        return self.zone_camera

    def tile_clicked(self, name: str, point) -> None:
        """A click enlarges one of several tiles and the next goes back to the grid; drawing a zone, it adds a point."""
        if self.add_zone_point(name, point) or len(self.tiles) < 2:
            return
        self.enlarged = None if self.enlarged == name else name
        self.bridge.main_camera = self.enlarged  # an enlarged camera with two streams shows its main stream
        self._relayout()

    # -- results (GUI thread) ----------------------------------------------------------------------
    def _on_ready(self) -> None:
        self.show_results(*self.bridge.take())

    def show_results(self, latest: dict[str, Shown], events: list[TakenEvent]) -> None:
        """Each camera's newest frame and counts, and every event since the last call."""
        now = time.monotonic()
        for name, shown in latest.items():
            if name not in self.tiles:
                continue
            self.counts[name] = shown.counts
            if self.frozen and name in self.current:  # only the pictures wait (a new camera still gets its first)
                self._held[name] = shown
                continue
            same = name in self.current and self.current[name].image is shown.image  # a still picture, kept
            self.current[name] = shown
            self.bridge.view_sizes[name] = self.tiles[name].view_size()  # the next pictures are drawn at this size
            self.age_ms[name] = (now - shown.result.frame.captured_at) * 1000.0
            self.shown_frames += 1
            if not same:
                self.redraw(name)
        for name, event, thumb in events:
            self.add_event(name, event, thumb)
        self.update_panel()

    def redraw(self, name: str) -> None:
        if name in self.current and name in self.tiles:
            drawing = self.drawing if name == self.zone_camera else None
            self.tiles[name].show_picture(zone_overlay(self.current[name].image, self.zones_shown(name), drawing))

    def add_event(self, camera: str, event: Event, thumb: np.ndarray | None = None) -> None:
        """Put a violation at the top of the list (with the face ``thumb``, taken where the camera runs) and raise
        the alert on its tile."""
        self.event_list.add_event(event, thumb, camera=camera if len(self.tiles) > 1 else None)
        if self.alert_flash and camera in self.tiles:
            self.tiles[camera].flash(FLASH_MS)
        if self.alert_sound:
            QtWidgets.QApplication.beep()

    @property
    def alert_active(self) -> bool:
        return any(t.alert for t in self.tiles.values())

    def set_camera_state(self, name: str, state: str, fps: float, attempt: int | None = 0, error: str | None = None) -> None:
        """The engine's state of a camera: its tile, the status bar, an error said once."""
        tile = self.tiles.get(name)
        if tile is None:
            return
        if error and state == "failed" and self._errors.get(name) != error:
            self._errors[name] = error
            where = f"{name}: " if len(self.tiles) > 1 else ""
            self.statusBar().showMessage(f"error: {where}{error}")
        if len(self.tiles) == 1 and state != tile.state:
            if state == "reconnecting":
                self.statusBar().showMessage(f"{source_label(self.settings, self.settings.cameras[0])}: {state_text(state, attempt)}")
            elif tile.state == "reconnecting":
                self.statusBar().clearMessage()
        tile.set_state(state, fps, attempt)

    def refresh(self) -> None:
        """Every 0.5 s: each camera's state, rates and dropped frames from the engine's stats."""
        if self.site is not None:
            for name, s in self.site.stats()["cameras"].items():
                if name not in self.tiles:
                    continue
                self.stats[name] = s
                self.capture_rates.update(name, s)
                moving = s["state"] == "live" and not self.paused  # the engine's fps stays as it was while paused
                self.set_camera_state(name, s["state"], s["fps"] if moving else 0.0, s["attempt"], s["error"])
        ended = bool(self.tiles) and all(t.state == "ended" for t in self.tiles.values())
        if ended and not self.finished:
            self.finished = True
            self.panel.pause_button.setEnabled(False)
            self.statusBar().showMessage(self._status_text())
        self.update_panel()

    def _status_text(self) -> str:
        states = {n: t.state for n, t in self.tiles.items()}
        attempts = {n: t.attempt for n, t in self.tiles.items()}
        source = source_label(self.settings, self.settings.cameras[0]) if len(self.tiles) == 1 else ""
        return window_status(states, attempts, source, paused=self.paused)

    def update_panel(self) -> None:
        names = [self.following] if self.following else list(self.tiles)
        live = [n for n in names if self.stats.get(n, {}).get("state") == "live"]  # a failed camera's last rate is old
        rates = [self.capture_rates.fps[n] for n in live if n in self.capture_rates.fps]
        ages = [self.age_ms[n] for n in names if n in self.age_ms]
        replaced = self.bridge.replaced
        not_shown = sum(replaced[n] for n in names)
        p = self.panel
        p.show_values(p.perf_labels, perf_values([self.stats.get(n, {}) for n in names], sum(rates) if rates else None,
                                                 max(ages) if ages else None, not_shown, self.paused))
        p.frame_counts.setText(frame_counts_html([self.current[n].result for n in names if n in self.current], self.labels))
        p.show_values(p.session_labels, session_values([self.counts.get(n) for n in names], self.settings.tracking.enabled))
        if len(self.tiles) > 1:
            paused = {"live": "paused"} if self.paused else {}
            p.fill_table(table_rows({n: {"state": paused.get(t.state, t.state), "fps": t.fps,
                                         "people": (self.counts.get(n) or {}).get("people"),
                                         "violations": (self.counts.get(n) or {}).get("violations")}
                                     for n, t in self.tiles.items()}))
        text = self._status_text()
        self.source_label.setText(text)
        self.source_label.setToolTip(", ".join(source_label(self.settings, c) for c in self.settings.cameras))

    # -- controls ----------------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self.bridge.paused

    def toggle_pause(self) -> None:
        """Space: every camera stops reading (a live source drops its frames meanwhile); Space again goes on."""
        if self.finished:
            return
        if self.paused:
            self.bridge.resume()
        else:
            self.bridge.pause()
            for tile in self.tiles.values():
                tile.fps = 0.0
        self.panel.pause_button.setText("Start (Space)" if self.paused else "Pause (Space)")
        for tile in self.tiles.values():
            tile.paused = self.paused
            tile.set_state(tile.state, tile.fps, tile.attempt)
        self.update_panel()

    def set_frozen(self, on: bool) -> None:
        """F: hold the pictures (to look at a face, or snapshot what is shown) while every camera is still
        processed and its events listed; unfreezing shows each camera's newest frame at once."""
        if on == self.frozen:
            return
        self.frozen = on
        if self.freeze_action.isChecked() != on:
            self.freeze_action.setChecked(on)
        for tile in self.tiles.values():
            tile.frozen = on
            tile.set_state(tile.state, tile.fps, tile.attempt)  # the title says it at once
        if on:
            self.statusBar().showMessage("pictures frozen: every camera is still watched and its events listed (F to go on)")
            return
        held, self._held = self._held, {}
        self.show_results(held, [])
        self.statusBar().showMessage("pictures live again", 3000)

    def snapshot(self) -> list[tuple]:
        """Key S: the shown picture (annotated and raw PNG) of the followed camera, or of every camera into a
        subfolder each; returns the (annotated, raw) paths."""
        names = [self.following] if self.following in self.current else list(self.current)
        if not names:
            self.statusBar().showMessage("no frame to save yet", 3000)
            return []
        root, saved = self.settings.output.snapshot_dir(), []
        for name in names:
            shown = self.current[name]
            raw, faces = shown.result.frame.image, shown.result.faces
            if raw.ndim == 3 and raw.shape[2] == 0:  # a camera in a worker process sends its tile's picture alone
                (fh, fw), (h, w) = shown.result.frame.image.shape[:2], shown.image.shape[:2]
                image, raw, faces = shown.image, None, scale_faces(faces, w / max(fw, 1), h / max(fh, 1), w, h)
            else:  # the tile's picture is drawn at the tile's size: a saved picture is drawn again at the frame's
                image = shown.image if shown.image.shape == raw.shape else annotate(raw, shown.result)
            if self.redact is not None:  # --privacy holds for every saved picture, the operator's too
                image = self.redact(image, faces)
                raw = self.redact(raw, faces) if raw is not None else None
            try:
                folder = ensure_dir(snapshot_folder(root, name, len(self.tiles)), "snapshot")
                saved.append(save_snapshot(folder, image, raw, shown.result.frame.index))
            except FacemaskError as exc:
                self.statusBar().showMessage(f"error: {exc}")
                print(f"error: {exc}", file=sys.stderr)
                return saved
        text = f"snapshot saved: {saved[0][0]} (+ raw)" if len(saved) == 1 else f"{len(saved)} snapshots saved in {root}"
        self.statusBar().showMessage(text, 8000)
        return saved

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt name)
        key = event.key()
        if key == Qt.Key_S:
            self.snapshot()
        elif key == Qt.Key_Space:
            self.toggle_pause()
        elif key == Qt.Key_F:
            self.set_frozen(not self.frozen)
        elif key in (Qt.Key_Q, Qt.Key_Escape):
            if self.drawing is not None:
                self.cancel_zone()
            else:
                self.close()
        else:
            super().keyPressEvent(event)

    # -- closing -----------------------------------------------------------------------------------
    def request_quit(self, exit_code: int | None = None) -> None:
        if exit_code is not None and self.exit_code == 0:
            self.exit_code = exit_code
        self.close()

    def shutdown(self) -> None:
        """Stop the engine: every camera, the detector, the sinks (logs flushed). Safe to call twice."""
        self._timer.stop()
        self.bridge.resume()  # no camera thread may wait in the bridge while the site closes
        if self.site is not None:
            self.site.close()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.shutdown()
        super().closeEvent(event)

