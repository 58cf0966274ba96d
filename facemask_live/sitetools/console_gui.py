"""The site console's PyQt5 window: events with snapshot thumbnails, per-camera counts, broker state."""

from __future__ import annotations

import sys

from PyQt5 import QtCore, QtGui, QtWidgets

from facemask_live.sitetools.console import ConsoleClient, ConsoleEvent

THUMB = 96
MAX_ROWS = 500


class ConsoleWindow(QtWidgets.QMainWindow):
    event_arrived = QtCore.pyqtSignal(object)  # ConsoleEvent, from the network thread
    changed = QtCore.pyqtSignal()
    broker_state = QtCore.pyqtSignal(str)

    def __init__(self, settings, recorder=None):
        super().__init__()
        self.setWindowTitle(f"facemask-live console: {settings.display_url}")
        self.recorder = recorder
        self.events = QtWidgets.QListWidget()
        self.events.setIconSize(QtCore.QSize(THUMB, THUMB))
        self.cameras = QtWidgets.QTableWidget(0, 7)
        self.cameras.setHorizontalHeaderLabels(["camera", "available", "status", "in view", "masked", "unmasked", "events"])
        self.cameras.verticalHeader().setVisible(False)
        self.cameras.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        split = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        split.addWidget(self.cameras)
        split.addWidget(self.events)
        split.setSizes([150, 450])
        self.setCentralWidget(split)
        self.state_label = QtWidgets.QLabel("broker: connecting")
        self.statusBar().addWidget(self.state_label)
        self.resize(820, 640)
        self.event_arrived.connect(self._add_event)
        self.changed.connect(self._refresh)
        self.broker_state.connect(lambda s: self.state_label.setText(f"broker: {s}"))
        self.client = ConsoleClient(settings, on_event=self.event_arrived.emit, on_update=self.changed.emit)
        self.client.conn.on_state_change = self.broker_state.emit

    def start(self) -> None:
        if not self.client.start():
            self.state_label.setText(f"broker: {self.client.conn.state}")

    def _add_event(self, ev: ConsoleEvent) -> None:
        if self.recorder is not None:
            self.recorder.write(ev)
        item = QtWidgets.QListWidgetItem(ev.line)
        if ev.jpeg:
            pix = QtGui.QPixmap()
            if pix.loadFromData(ev.jpeg, "JPG"):
                item.setIcon(QtGui.QIcon(pix.scaled(THUMB, THUMB, QtCore.Qt.KeepAspectRatio, QtCore.Qt.SmoothTransformation)))
        self.events.insertItem(0, item)
        while self.events.count() > MAX_ROWS:
            self.events.takeItem(self.events.count() - 1)

    def _refresh(self) -> None:
        model = self.client.model
        with model._lock:  # the network thread adds cameras
            cams = sorted(model.cameras.values(), key=lambda c: c.name)
        self.cameras.setRowCount(len(cams))
        for row, cam in enumerate(cams):
            p = cam.people
            values = [cam.name, cam.available, cam.status, p.get("in_view", ""), p.get("masked", ""), p.get("unmasked", ""), cam.events]
            for col, value in enumerate(values):
                self.cameras.setItem(row, col, QtWidgets.QTableWidgetItem("" if value is None else str(value)))

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.client.stop()
        super().closeEvent(event)


def run_console_window(settings, recorder=None) -> int:
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    win = ConsoleWindow(settings, recorder)
    win.show()
    win.start()
    return app.exec_()
