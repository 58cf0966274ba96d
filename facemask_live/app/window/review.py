"""Review in the window: click a violation in the event list to see its snapshot and face crop and mark it
"False alarm" or "Confirmed" (marks go next to the event log, see :mod:`facemask_live.sitetools.review`); the
"Report..." menu entry writes the shift report of the current logs and opens it.
"""

from __future__ import annotations

from pathlib import Path

from facemask_live.app.window.qt import QtCore, QtGui, QtWidgets
from facemask_live.core.errors import FacemaskError
from facemask_live.core.results import Event
from facemask_live.outputs.sinks import event_record
from facemask_live.sitetools.review import MARKS, add_mark, camera_of, default_true_label, event_key, read_marks

Qt = QtCore.Qt
SNAP_SIDE = 720
CROP_SIDE = 200


def _pixmap(path: str | None, side: int) -> QtGui.QPixmap | None:
    if not path or not Path(path).is_file():
        return None
    pix = QtGui.QPixmap(path)
    if pix.isNull():
        return None
    return pix.scaled(side, side, Qt.KeepAspectRatio, Qt.SmoothTransformation) if max(pix.width(), pix.height()) > side else pix


class ReviewDialog(QtWidgets.QDialog):
    """One event: full snapshot, face crop, details, and the two marks. ``event_log`` None: view only."""

    def __init__(self, event: Event | dict, event_log: str | Path | None, labels: list[str] | None = None, parent=None):
        super().__init__(parent)
        self.record = event_record(event) if isinstance(event, Event) else dict(event)
        self.event_log = Path(event_log) if event_log else None
        self.mark = None  # the Mark written, once a button was pressed
        rec = self.record
        self.setWindowTitle(f"Violation #{rec.get('track_id')} at {rec.get('iso_time', '')[:19].replace('T', ' ')}")
        self.snapshot_label = QtWidgets.QLabel()
        self.crop_label = QtWidgets.QLabel()
        for lab, path, side, what in ((self.snapshot_label, rec.get("snapshot"), SNAP_SIDE, "snapshot"),
                                      (self.crop_label, rec.get("crop"), CROP_SIDE, "face crop")):
            lab.setAlignment(Qt.AlignCenter)
            pix = _pixmap(path, side)
            if pix is not None:
                lab.setPixmap(pix)
            else:
                lab.setText(f"no {what} ({'pruned' if (path or '').strip() == 'pruned' else 'not saved'})")
                lab.setMinimumSize(160, 120)
        conf = rec.get("confidence")
        details = QtWidgets.QLabel(
            f"camera: {camera_of(rec)}\nperson #{rec.get('track_id')} · frame {rec.get('frame')}\n"
            f"label: {rec.get('label')}" + (f" ({float(conf) * 100:.0f}%)" if conf not in (None, "") else "")
        )
        details.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.true_label = QtWidgets.QComboBox()
        choices = list(dict.fromkeys([*(labels or []), "mask", "no_mask"]))
        self.true_label.addItems(choices)
        self.true_label.setCurrentText(default_true_label(str(rec.get("label", ""))))
        self.true_label.setToolTip("what the person really is, for a false alarm: the class its crop is exported to")
        self.false_button = QtWidgets.QPushButton("False alarm")
        self.confirm_button = QtWidgets.QPushButton("Confirmed")
        self.false_button.clicked.connect(lambda: self._mark("false_alarm"))
        self.confirm_button.clicked.connect(lambda: self._mark("confirmed"))
        self.state = QtWidgets.QLabel()
        if self.event_log is None:
            for b in (self.false_button, self.confirm_button):
                b.setEnabled(False)
            self.state.setText("run with --events FILE to keep review marks")
        else:
            old = read_marks(self.event_log).get(event_key(rec))
            if old is not None:
                self.state.setText(f"marked {old.mark.replace('_', ' ')}" + (f" (really {old.label})" if old.mark == "false_alarm" else ""))

        side = QtWidgets.QVBoxLayout()
        side.addWidget(self.crop_label)
        side.addWidget(details)
        form = QtWidgets.QFormLayout()
        form.addRow("true label", self.true_label)
        side.addLayout(form)
        side.addWidget(self.false_button)
        side.addWidget(self.confirm_button)
        side.addWidget(self.state)
        side.addStretch(1)
        top = QtWidgets.QHBoxLayout(self)
        top.addWidget(self.snapshot_label, 1)
        top.addLayout(side)

    def _mark(self, mark: str) -> None:
        assert mark in MARKS
        try:
            self.mark = add_mark(self.event_log, self.record, mark, self.true_label.currentText() if mark == "false_alarm" else None)
        except FacemaskError as exc:
            self.state.setText(f"error: {exc}")
            return
        self.accept()


def open_review(window, item: QtWidgets.QListWidgetItem, event_log: str | Path | None) -> ReviewDialog | None:
    """Show the review dialog of a clicked event-list item (modal); returns it after it closed."""
    event = item.data(Qt.UserRole)
    if event is None:
        return None
    dialog = ReviewDialog(event, event_log, getattr(window, "labels", None), window)
    window.review_dialog = dialog  # tests reach it here while it is open
    dialog.exec_()
    if dialog.mark is not None:
        item.setText(item.text().split("\n[")[0] + f"\n[{dialog.mark.mark.replace('_', ' ')}]")
    return dialog


def run_report(window, logs: list[str], out: str | Path | None = None, open_it: bool = True) -> Path | None:
    """Write the shift report of ``logs`` (asking for the folder unless ``out``) and open it in the browser."""
    from facemask_live.sitetools.report import make_report

    if not logs:
        QtWidgets.QMessageBox.information(window, "Report", "Run with --people-log FILE (and --events FILE) to make reports.")
        return None
    if out is None:
        default = str(Path(logs[0]).expanduser().absolute().parent / "report")
        out = QtWidgets.QFileDialog.getExistingDirectory(window, "Folder for the report", default) or None
        if out is None:
            return None
    QtWidgets.QApplication.setOverrideCursor(Qt.WaitCursor)
    try:
        index = make_report(logs, out, progress=False)[0]
    except FacemaskError as exc:
        window.statusBar().showMessage(f"error: {exc}")
        return None
    finally:
        QtWidgets.QApplication.restoreOverrideCursor()
    window.statusBar().showMessage(f"report written: {index}", 8000)
    if open_it:
        QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(index)))
    return index


def install(window, event_log: str | Path | None, people_log: str | Path | None) -> None:
    """Hook review and reports into a MainWindow while it is built: event-list clicks and a "Report..." menu entry.

    ``event_log`` (``--events``): where marks go (None: the dialog only shows the event); the report reads
    ``people_log`` (``--people-log``) and ``event_log``.
    """
    logs = [str(p) for p in (people_log, event_log) if p]
    window.review_dialog = None
    window.event_list.itemClicked.connect(lambda item: open_review(window, item, event_log))
    window.event_list.setToolTip("click a violation to review it")
    menu = window.menuBar().addMenu("&Review")
    action = menu.addAction("Report...")
    action.triggered.connect(lambda: run_report(window, logs))
    window.report_action = action
