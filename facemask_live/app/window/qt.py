"""PyQt5 for the window, imported in one place: without it asking for the window is one clear error (headless
needs no Qt). Also the two conversions every Qt part of the window uses."""

from __future__ import annotations

import numpy as np

from facemask_live.core.errors import FacemaskError

try:  # PyQt5 is the optional "gui" extra
    from PyQt5 import QtCore, QtGui, QtWidgets
except ImportError:
    raise FacemaskError("the window needs PyQt5: pip install 'facemask-live[gui]' or use --headless") from None

Qt = QtCore.Qt
__all__ = ["Qt", "QtCore", "QtGui", "QtWidgets", "to_qimage", "thumbnail_icon"]


def to_qimage(image: np.ndarray) -> QtGui.QImage:
    """A QImage that owns a copy of a BGR uint8 HxWx3 array. Why 32-bit: a pixmap is made from it for every
    picture shown, and Qt converts 24-bit BGR to the screen's format slowly (1.2 ms for a 320x180 tile, most of
    the GUI thread with 16 cameras); BGRA bytes are the screen's RGB32 as they are."""
    import cv2

    img = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2BGRA)
    h, w = img.shape[:2]
    return QtGui.QImage(img.data, w, h, img.strides[0], QtGui.QImage.Format_RGB32).copy()


def thumbnail_icon(image: np.ndarray, side: int) -> QtGui.QIcon:
    """A BGR picture as an icon of at most ``side`` x ``side`` pixels (aspect ratio kept)."""
    pix = QtGui.QPixmap.fromImage(to_qimage(image)).scaled(side, side, Qt.KeepAspectRatio, Qt.SmoothTransformation)
    return QtGui.QIcon(pix)
