"""The visitor display: a second window for a screen facing the entrance (``--visitor-display CAMERA``, or the
window's View -> Visitor display; ``--visitor-screen N`` fills monitor N).

It shows the camera's picture mirrored, like a mirror by the door, with a box around the one person it speaks
to, and one large message for them: what :func:`~facemask_live.app.window.visitor_message.visitor_message` decides
(green "Thank you", red "Please put on your mask", orange "Please pull your mask over your nose", nothing when
nobody is there or the face cannot be judged yet). No list of other people, no stored image: only the newest
frame, replaced by the next. A WAV per message (``visitor.sounds``) plays when the message appears, with
QtMultimedia; without it sounds are skipped (one log line).

The windows hand it results through a :class:`VisitorFeed` (its ``on_result`` runs on the camera's thread and
keeps only the newest result, like the window's own bridge).
"""

from __future__ import annotations

import logging
import threading

import cv2
import numpy as np

from facemask_live.app.window.qt import Qt, QtCore, QtGui, QtWidgets
from facemask_live.app.window.visitor_message import MessageTable, VisitorMessage, visitor_message
from facemask_live.core.config import ConfigError, VisitorSettings
from facemask_live.core.results import FrameResult

log = logging.getLogger(__name__)


def _bgr(color: str) -> tuple[int, int, int]:
    c = QtGui.QColor(color)
    return c.blue(), c.green(), c.red()


def visitor_picture(result: FrameResult, message: VisitorMessage | None, mirror: bool = True) -> np.ndarray:
    """The frame as the visitor sees it: a box around the person spoken to (only while there is a message), mirrored."""
    image = result.frame.image.copy()
    door = result.door
    if message is not None and door is not None and door.box is not None:
        x1, y1, x2, y2 = door.box
        cv2.rectangle(image, (x1, y1), (x2 - 1, y2 - 1), _bgr(message.color), max(3, image.shape[0] // 120))
    return cv2.flip(image, 1) if mirror else image


class VisitorFeed(QtCore.QObject):
    """Results of one camera for the display: ``on_result(camera, result, annotated)`` from any thread."""

    ready = QtCore.pyqtSignal()

    def __init__(self, camera: str | None = None):
        super().__init__()
        self.camera = camera  # None: every result (a window of one camera)
        self.window: VisitorWindow | None = None
        self._lock = threading.Lock()
        self._pending: FrameResult | None = None

    def on_result(self, camera: str | None, result: FrameResult, annotated=None) -> None:
        if self.window is None or (self.camera is not None and camera != self.camera):
            return
        with self._lock:
            waiting = self._pending is not None
            self._pending = result
        if not waiting:  # one signal in flight at most: the display shows the newest frame
            self.ready.emit()

    def take(self) -> FrameResult | None:
        with self._lock:
            result, self._pending = self._pending, None
            return result

    def open(self, settings: VisitorSettings, camera: str | None = None) -> VisitorWindow:
        """Open (or bring up) the display of ``camera`` (default: ``settings.camera``); raises ConfigError."""
        if self.window is None:
            self.window = VisitorWindow(settings)
            self.ready.connect(self._show, Qt.QueuedConnection)
        camera = settings.camera if camera is None else camera
        if camera is not None:  # (--visitor-display CAMERA: the display follows that camera, not every one)
            self.camera = camera
        self.window.setWindowTitle(f"Visitor display - {self.camera or 'camera'}")
        place(self.window, settings.screen)
        return self.window

    def _show(self) -> None:
        result = self.take()
        if result is not None and self.window is not None:
            self.window.show_result(result)

    def choose(self, parent: QtWidgets.QWidget, settings: VisitorSettings, cameras: list[str]) -> None:
        """View -> Visitor display: pick the camera (when there are several) and open the display."""
        camera = cameras[0] if len(cameras) == 1 else None
        if camera is None:
            current = cameras.index(self.camera) if self.camera in cameras else 0
            camera, ok = QtWidgets.QInputDialog.getItem(parent, "Visitor display", "Camera facing the entrance:", cameras, current, False)
            if not ok:
                return
        try:
            self.open(settings, camera)
        except ConfigError as exc:
            QtWidgets.QMessageBox.warning(parent, "Visitor display", str(exc))


def place(window: QtWidgets.QWidget, screen: int | None) -> None:
    """Full screen on monitor ``screen`` (0, 1, ...), or a normal window; raises ConfigError for a missing monitor."""
    if screen is None:
        window.resize(960, 720)
        window.show()
        return
    screens = QtWidgets.QApplication.screens()
    if screen >= len(screens):
        raise ConfigError(f"--visitor-screen {screen}: this display has {len(screens)} screen{'s' * (len(screens) != 1)} "
                          f"(0..{len(screens) - 1})")
    window.winId()  # the native window exists: it can be moved to the screen (also a separate X screen, :0.1)
    window.windowHandle().setScreen(screens[screen])
    window.setGeometry(screens[screen].geometry())
    window.showFullScreen()


class VisitorWindow(QtWidgets.QWidget):
    """The picture (mirrored) above one large message on a black screen."""

    def __init__(self, settings: VisitorSettings, parent=None):
        super().__init__(parent, Qt.Window)
        self.settings = settings
        self.table = MessageTable(settings)  # a bad messages file: ConfigError before anything is shown
        self.message: VisitorMessage | None = None
        self.setStyleSheet("background: black;")
        self.picture = QtWidgets.QLabel()
        self.picture.setAlignment(Qt.AlignCenter)
        self.picture.setMinimumSize(1, 1)
        self.picture.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Ignored)
        self.text = QtWidgets.QLabel("")
        self.text.setAlignment(Qt.AlignCenter)
        self.text.setWordWrap(True)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.picture, 4)
        layout.addWidget(self.text, 1)
        self._image: np.ndarray | None = None
        self._sounds: dict[str, object] = {}
        self._sound_class = _sound_class() if settings.sounds else None
        self._style()

    # -- what it shows ---------------------------------------------------------------------------------
    def show_result(self, result: FrameResult) -> None:
        message = visitor_message(result.door, self.table)
        if message != self.message:
            self.message = message
            self._style()
            if message is not None and message.sound:
                self._play(message.sound)
        self._image = visitor_picture(result, message, self.settings.mirror)
        self._rescale()

    @property
    def shown_text(self) -> str:
        return self.text.text()

    @property
    def shown_color(self) -> str | None:
        """The message's background colour, ``#rrggbb`` (None: no message)."""
        return None if self.message is None else QtGui.QColor(self.message.color).name()

    def _style(self) -> None:
        size = max(18, self.height() // 14)
        if self.message is None:
            self.text.setText("")
            self.text.setStyleSheet("background: black;")
        else:
            self.text.setText(self.message.text)
            self.text.setStyleSheet(f"background: {self.message.color}; color: white; font-weight: bold; font-size: {size}px;")

    def _rescale(self) -> None:
        if self._image is None:
            return
        rgb = np.ascontiguousarray(self._image[:, :, ::-1])
        h, w = rgb.shape[:2]
        qimg = QtGui.QImage(rgb.data, w, h, 3 * w, QtGui.QImage.Format_RGB888).copy()
        self.picture.setPixmap(QtGui.QPixmap.fromImage(qimg).scaled(self.picture.size(), Qt.KeepAspectRatio, Qt.SmoothTransformation))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._style()
        self._rescale()

    def _play(self, path: str) -> None:
        if self._sound_class is None:
            return
        effect = self._sounds.get(path)
        if effect is None:
            effect = self._sounds[path] = self._sound_class(self)
            effect.setSource(QtCore.QUrl.fromLocalFile(path))
        effect.play()


def _sound_class():
    """QSoundEffect, or None (one log line) where QtMultimedia cannot be loaded."""
    try:
        from PyQt5.QtMultimedia import QSoundEffect
    except ImportError as exc:
        log.warning("visitor display: sounds are skipped, QtMultimedia is not available (%s)", exc)
        return None
    return QSoundEffect
