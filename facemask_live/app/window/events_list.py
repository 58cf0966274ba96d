"""The list of recent violation events, newest first, each with the person's face; a click opens the review
dialog (:mod:`facemask_live.app.window.review`, installed by the window)."""

from __future__ import annotations

import numpy as np

from facemask_live.app.window.qt import Qt, QtCore, QtWidgets, thumbnail_icon
from facemask_live.app.window.view import MAX_EVENTS, THUMB, event_text, event_thumbnail
from facemask_live.core.results import Event


class EventList(QtWidgets.QListWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setIconSize(QtCore.QSize(THUMB, THUMB))
        self.setFocusPolicy(Qt.NoFocus)
        self.setSelectionMode(QtWidgets.QAbstractItemView.NoSelection)
        self.setWordWrap(True)  # a long camera name wraps instead of hiding the person's id
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)

    def add_event(self, event: Event, thumb: np.ndarray | None = None, *, camera: str | None = None
                  ) -> QtWidgets.QListWidgetItem:
        """Put an event at the top with its face ``thumb`` (:func:`~facemask_live.app.window.view.event_thumbnail`,
        else its crop file). ``camera``: its name, shown when the window has several cameras."""
        item = QtWidgets.QListWidgetItem(event_text(event, camera))
        thumb = thumb if thumb is not None else event_thumbnail(event, None)
        if thumb is not None and thumb.size:
            item.setIcon(thumbnail_icon(thumb, THUMB))
        item.setToolTip(event.snapshot or event.crop or "")
        item.setData(Qt.UserRole, event)  # for the review dialog
        self.insertItem(0, item)
        while self.count() > MAX_EVENTS:
            self.takeItem(self.count() - 1)
        return item
