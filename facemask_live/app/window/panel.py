"""The side panel: performance, faces in the shown frame, the session's people counts, the camera table (with
several cameras), the violation list, and the Pause and Snapshot buttons. It shows texts made by
:mod:`facemask_live.app.window.view`; the window says which camera(s) it follows (the only one, the enlarged
one, or all)."""

from __future__ import annotations

from collections.abc import Mapping

from facemask_live.app.window.events_list import EventList
from facemask_live.app.window.qt import Qt, QtWidgets

PERF_ROWS = (("capture", "Capture"), ("processed", "Processed"), ("dropped", "Dropped frames"), ("age", "Frame age"))
SESSION_ROWS = (("people", "People seen"), ("masked", "Masked"), ("not_judged", "Not judged"), ("violations", "Violations"))
TABLE_COLUMNS = ["camera", "state", "fps", "people", "events"]
TABLE_ROWS_SHOWN = 6  # rows the camera table shows without scrolling
# the panel's width, wider with several cameras: at 320 the camera table's other columns left 40 px for the names
# ("do…" for door01)
WIDTH, SITE_WIDTH = 320, 380


def _form(box: QtWidgets.QGroupBox, rows) -> dict[str, QtWidgets.QLabel]:
    form = QtWidgets.QFormLayout(box)
    labels = {}
    for key, title in rows:
        value = QtWidgets.QLabel("–")
        value.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        labels[key] = value
        form.addRow(title, value)
    return labels


class SidePanel(QtWidgets.QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFixedWidth(WIDTH)
        self.perf = QtWidgets.QGroupBox("Performance")
        self.perf_labels = _form(self.perf, PERF_ROWS)
        self.perf_labels["age"].setToolTip("time from capture to display of the shown frame")
        self.perf_labels["dropped"].setToolTip("frames of a live source replaced by a newer one before processing")
        self.frame_box = QtWidgets.QGroupBox("This frame")
        self.frame_counts = QtWidgets.QLabel("no faces")
        self.frame_counts.setTextFormat(Qt.RichText)
        QtWidgets.QVBoxLayout(self.frame_box).addWidget(self.frame_counts)
        self.session = QtWidgets.QGroupBox("This session")
        self.session_labels = _form(self.session, SESSION_ROWS)
        self.session_labels["violations"].setStyleSheet("font-weight: bold;")

        self.cameras = QtWidgets.QGroupBox("Cameras and site")
        self.table = QtWidgets.QTableWidget(0, len(TABLE_COLUMNS))
        self._bold_row: int | None = None  # the site's row, bold (set when the rows change)
        self.table.setHorizontalHeaderLabels(TABLE_COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.NoSelection)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.table.setWordWrap(False)  # (Qt elides wrapped text at its end, whatever the mode)
        self.table.setTextElideMode(Qt.ElideMiddle)  # a long name keeps its end: "entr…east-2" (its tooltip: all)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeToContents)
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.Stretch)
        QtWidgets.QVBoxLayout(self.cameras).addWidget(self.table)

        self.events = QtWidgets.QGroupBox("Violations")
        self.event_list = EventList()
        QtWidgets.QVBoxLayout(self.events).addWidget(self.event_list)

        self.pause_button = QtWidgets.QPushButton("Pause (Space)")
        self.snapshot_button = QtWidgets.QPushButton("Snapshot (S)")
        buttons = QtWidgets.QHBoxLayout()
        for b in (self.pause_button, self.snapshot_button):
            b.setFocusPolicy(Qt.NoFocus)
            buttons.addWidget(b)

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for w in (self.perf, self.frame_box, self.session):
            lay.addWidget(w)
        lay.addWidget(self.cameras)
        lay.addWidget(self.events, 1)
        lay.addLayout(buttons)
        for w in (self, self.perf, self.frame_box, self.session, self.cameras, self.events, self.table):
            w.setFocusPolicy(Qt.NoFocus)

    def set_following(self, what: str | None, cameras: int) -> None:
        """Which camera the upper boxes follow (None: all of them); the table only shows with several cameras."""
        suffix = f" — {what}" if what and cameras > 1 else (" — all cameras" if cameras > 1 else "")
        self.perf.setTitle("Performance" + suffix)
        self.frame_box.setTitle("This frame" + suffix)
        self.frame_box.setVisible(what is not None)  # faces of several frames at once would say little
        self.session.setTitle("This session" + suffix)
        self.events.setTitle("Violations (all cameras)" if cameras > 1 else "Violations")
        self.cameras.setVisible(cameras > 1)
        self.setFixedWidth(SITE_WIDTH if cameras > 1 else WIDTH)

    def show_values(self, labels: dict[str, QtWidgets.QLabel], values: Mapping[str, str]) -> None:
        for key, text in values.items():
            labels[key].setText(text)

    def fill_table(self, rows: list[tuple[str, ...]]) -> None:
        """The camera table; only the cells whose text changed are touched. Why: the window fills it for every
        picture it shows, and a new item per cell cost a millisecond each (16 cameras: most of the GUI thread)."""
        if self.table.rowCount() != len(rows):
            self.table.setRowCount(len(rows))
            self._bold_row = None
        for r, row in enumerate(rows):
            for col, text in enumerate(row):
                item = self.table.item(r, col)
                if item is None:
                    item = QtWidgets.QTableWidgetItem(text)
                    self.table.setItem(r, col, item)
                elif item.text() != text:
                    item.setText(text)
                else:
                    continue
                if col == 0:
                    item.setToolTip(text)
                elif col == 1 and r == len(rows) - 1:
                    item.setToolTip(f"cameras live: {text.replace('/', ' of ')}")
        if self._bold_row != len(rows) - 1:  # the site's row is the last
            self._bold_row = len(rows) - 1
            for r in range(len(rows)):
                for col in range(self.table.columnCount()):
                    item = self.table.item(r, col)
                    if item is not None:
                        font = item.font()
                        font.setBold(r == len(rows) - 1)
                        item.setFont(font)
            self.table.resizeRowsToContents()
            rows_h = sum(self.table.rowHeight(r) for r in range(min(len(rows), TABLE_ROWS_SHOWN)))
            self.table.setFixedHeight(self.table.horizontalHeader().height() + rows_h + 2 * self.table.frameWidth())
