"""A camera's tile: a title line (name, state, fps) above its newest picture, a red border while a violation
is new, the 'reconnecting' banner over the last picture while the source is away."""

from __future__ import annotations

import numpy as np

from facemask_live.app.window.qt import Qt, QtCore, QtGui, QtWidgets, to_qimage
from facemask_live.app.window.view import status_banner, tile_title


class VideoView(QtWidgets.QLabel):
    """The newest picture, scaled to the widget keeping its aspect ratio; its border turns red on an alert."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("video")
        self.setAlignment(Qt.AlignCenter)
        self.setMinimumSize(160, 90)
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
        if self.image.size().scaled(r.size(), Qt.KeepAspectRatio) != self.image.size():  # (drawn at its size: as is)
            pix = pix.scaled(r.width(), r.height(), Qt.KeepAspectRatio, Qt.SmoothTransformation)
        self.setPixmap(pix)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._rescale()


class CameraTile(QtWidgets.QFrame):
    """One camera. ``picture``: what the window gives it to show (the annotated frame, zones drawn); the tile
    adds the banner while reconnecting. Emits ``clicked(name, point)`` with the click's position in relative
    frame coordinates (None outside the picture)."""

    clicked = QtCore.pyqtSignal(str, object)

    def __init__(self, name: str, parent=None, frozen: bool = False, paused: bool = False):
        super().__init__(parent)
        self.name = name
        self.state, self.fps, self.attempt = "starting", 0.0, 0
        self.frozen, self.paused = frozen, paused  # said on the title, so nobody takes the picture for live
        self.picture: np.ndarray | None = None
        self.alert = False
        self._flash = QtCore.QTimer(self)
        self._flash.setSingleShot(True)
        self._flash.timeout.connect(self._end_flash)  # a method: Qt drops the connection with the tile
        self.setFrameShape(QtWidgets.QFrame.StyledPanel)
        self.title = QtWidgets.QLabel()
        self.title.setTextFormat(Qt.RichText)
        # the tile's width is the grid's to give, not the title's to ask: a long name widened its whole grid column
        self.title.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Preferred)
        self.view = VideoView()
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        lay.addWidget(self.title)
        lay.addWidget(self.view, 1)
        self.set_state("starting", 0.0)

    def set_state(self, state: str, fps: float, attempt: int | None = 0) -> None:
        """The engine's state of the camera (live, reconnecting, ended, failed ...); the banner follows it."""
        was_banner = self.state == "reconnecting"
        self.state, self.fps, self.attempt = state, fps, attempt or 0
        self._retitle()
        if self.picture is not None and (state == "reconnecting" or was_banner):
            self._paint()

    def _retitle(self) -> None:
        """The title line, the camera's name cut in the middle where the whole line is wider than the tile, so
        that its state and fps stay in view (the whole name in the tooltip)."""
        def line(name: str) -> str:
            return tile_title(name, self.state, self.fps, self.attempt, frozen=self.frozen, paused=self.paused)

        text, room = line(self.name), self.title.contentsRect().width()
        doc = QtGui.QTextDocument()
        doc.setDocumentMargin(0)
        doc.setDefaultFont(self.title.font())
        doc.setHtml(text)
        over = doc.idealWidth() - room
        cut = over > 0 and room > 1
        if cut:
            bold = QtGui.QFont(self.title.font())
            bold.setBold(True)  # the name is bold in the line
            fm = QtGui.QFontMetrics(bold)
            text = line(fm.elidedText(self.name, Qt.ElideMiddle, max(int(fm.horizontalAdvance(self.name) - over), 1)))
        self.title.setText(text)
        self.title.setToolTip(self.name if cut else "")

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._retitle()

    def show_picture(self, picture: np.ndarray) -> None:
        self.picture = picture
        self._paint()

    def _paint(self) -> None:
        banner = status_banner(self.picture, self.state, self.attempt)
        self.view.show_image(self.picture if banner is None else banner)

    def set_alert(self, on: bool) -> None:
        self.alert = on
        self.view.set_alert(on)

    def _end_flash(self) -> None:
        self.set_alert(False)

    def flash(self, ms: int) -> None:
        """A red border for ``ms`` milliseconds (a new violation of this camera)."""
        self.set_alert(True)
        self._flash.start(ms)

    def view_size(self) -> tuple[int, int]:
        """The picture's room on screen in device pixels (what a picture drawn for this tile needs, no more)."""
        r, ratio = self.view.contentsRect(), self.view.devicePixelRatioF()
        return max(1, round(r.width() * ratio)), max(1, round(r.height() * ratio))

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
