"""Adding and saving cameras in the window: File -> Open (video, image, folder), Camera -> Add (webcam index or
URL with a masked password and a test-connection button), files dropped on the window, File -> Recent sources
(kept in QSettings, without passwords), Camera -> Remove, File -> Save config. A mixin of the main window."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from facemask_live.app.window.qt import QtCore, QtWidgets
from facemask_live.app.window.sources import (
    camera_for_source,
    config_data,
    password_placeholder,
    source_camera_name,
    unique_name,
    with_credentials,
    without_demo,
)
from facemask_live.app.window.view import APP_NAME, short_name
from facemask_live.core.errors import FacemaskError
from facemask_live.engine.build import add_site_camera
from facemask_live.sources.capture import mask_credentials, parse_source

RECENT_KEY = "site/recent_sources"
MAX_RECENT = 8
VIDEO_FILTER = "Videos, images (*.mp4 *.avi *.mkv *.mov *.webm *.jpg *.jpeg *.png *.bmp);;All files (*)"


class AddCameraDialog(QtWidgets.QDialog):
    """Camera -> Add: a name, a webcam index or URL, user and a masked password, and a test-connection button."""

    def __init__(self, taken: set[str], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Add camera")
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


class SourcesMixin:
    """Needs the window's ``settings``, ``site``, ``tiles``, ``enlarged``, ``config_path``, ``_add_tile``,
    ``_remove_tile`` and ``statusBar``."""

    def _source_menus(self, file_menu, camera_menu) -> None:
        file_menu.addAction("&Open video or image...", self.open_file, "Ctrl+O")
        file_menu.addAction("Open &folder...", self.open_folder)
        self.recent_menu = file_menu.addMenu("&Recent sources")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file_menu.addSeparator()
        file_menu.addAction("&Save config...", self.save_config_as, "Ctrl+S")
        camera_menu.addAction("&Add webcam or URL...", self.add_camera_dialog)
        camera_menu.addAction("&Remove enlarged camera", self.remove_enlarged)

    def add_source(self, source: str, name: str | None = None) -> str | None:
        """Add a camera for ``source`` while the others run (a file or folder plays at its own rate and loops);
        returns its name, None after an error (said in the status bar)."""
        taken = set(self.tiles)
        name = name or source_camera_name(source, taken)
        if name in taken:
            self.statusBar().showMessage(f"error: a camera named {name!r} exists already")
            return None
        try:
            cam = camera_for_source(name, source)
            base = without_demo(self.settings)
            new = dataclasses.replace(base, cameras=(*base.cameras, cam))
            if self.site is not None:
                add_site_camera(self.site, new, cam)
        except (FacemaskError, ValueError) as exc:
            self.statusBar().showMessage(f"error: {mask_credentials(str(exc))}")
            return None
        self.settings = new
        self._add_tile(name)
        self.remember_recent(source)
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
        if name is None or len(self.tiles) == 1:
            self.statusBar().showMessage("click one of several cameras to enlarge it first", 4000)
            return
        if self.site is not None and name in self.site.cameras:
            self.site.remove_camera(name)
        self.settings = dataclasses.replace(self.settings, cameras=tuple(c for c in self.settings.cameras if c.name != name))
        self._remove_tile(name)

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

    def save_config_as(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save config", self.config_path or "site.yaml", "YAML (*.yaml *.yml)")
        if path:
            self.save_config(path)

    def save_config(self, path: str | Path) -> list[str]:
        """Write the cameras (with their zones) into ``path``, keeping the other sections of the file the settings
        came from. Passwords become ``{FACEMASK_<CAMERA>_PASSWORD}``; returns the variables to set."""
        import yaml

        try:
            data, variables = config_data(self.settings, self.config_path)
            Path(path).write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=None), encoding="utf-8")
        except (OSError, FacemaskError) as exc:
            self.statusBar().showMessage(f"error: cannot write {path}: {getattr(exc, 'strerror', None) or exc}")
            return []
        note = f"; set {', '.join(variables)} in the environment" if variables else ""
        self.statusBar().showMessage(f"config saved: {path}{note}", 10000)
        return variables
