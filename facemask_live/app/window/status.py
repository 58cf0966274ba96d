"""The window's status bar: a message too long for its room is cut with an ellipsis, the whole of it in the tooltip.

Why: a camera's error is one long line ("source not found: ... is not a camera index, a stream URL ..."), and Qt
paints a status message under the permanent widgets on its right (the site's "12 cameras · 10 live"), so both were
unreadable where they met.
"""

from __future__ import annotations

import time

from facemask_live.app.window.qt import Qt, QtWidgets

LEFT_PX, GAP_PX = 6, 8  # where Qt paints a message from, and the gap kept before the permanent widgets


class StatusBar(QtWidgets.QStatusBar):
    """:meth:`showMessage` as Qt's, shown cut to the room left of the permanent widgets; :meth:`currentMessage`
    is the whole message."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._text = ""
        self._until: float | None = None  # when a message shown with a timeout goes (time.monotonic())
        self._permanent: list[QtWidgets.QWidget] = []
        self.messageChanged.connect(self._changed)

    def addPermanentWidget(self, widget, stretch: int = 0) -> None:  # noqa: N802 - Qt's name
        super().addPermanentWidget(widget, stretch)
        self._permanent.append(widget)
        widget.installEventFilter(self)  # a label whose text grows takes room from the message: cut it again

    def showMessage(self, text: str, timeout: int = 0) -> None:  # noqa: N802 - Qt's name
        self._text = text
        self._until = time.monotonic() + timeout / 1000 if timeout else None
        self._show(timeout)

    def currentMessage(self) -> str:  # noqa: N802 - Qt's name
        return self._text

    def room(self) -> int:
        """The width in pixels the message may take: up to the leftmost permanent widget."""
        right = min((w.geometry().left() for w in self._permanent if w.isVisible()), default=self.width())
        return max(right - LEFT_PX - GAP_PX, 0)

    def _cut(self) -> str:
        # never empty while there is a message: Qt takes an empty message for a cleared one
        return self.fontMetrics().elidedText(self._text, Qt.ElideRight, self.room()) or "…"

    def _show(self, timeout: int, shown: str | None = None) -> None:
        shown = self._cut() if shown is None else shown
        self.setToolTip(self._text if shown != self._text else "")
        super().showMessage(shown, timeout)

    def _changed(self, message: str) -> None:
        if not message:  # cleared, or its timeout ran out
            self._text, self._until = "", None
            self.setToolTip("")

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._refit()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() in (event.Resize, event.Move, event.Show, event.Hide):
            self._refit()
        return False

    def _refit(self) -> None:
        """Cut the message again to the room there is now, for what is left of its timeout."""
        if self._text and (shown := self._cut()) != super().currentMessage():
            left = 0 if self._until is None else max(int((self._until - time.monotonic()) * 1000), 1)
            self._show(left, shown)
