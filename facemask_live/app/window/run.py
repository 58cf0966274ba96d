"""Building and running the window: the site of the settings' cameras, the window over it, signals, the summary.

``python -m facemask_live`` (any ``--source`` or ``--config``, one camera or many) comes here unless headless.
"""

from __future__ import annotations

import functools
import signal
import sys
import traceback

from facemask_live.app.window.bridge import SiteBridge
from facemask_live.app.window.display import display_problem
from facemask_live.app.window.feed import WindowTap
from facemask_live.app.window.main import MainWindow
from facemask_live.app.window.qt import Qt, QtCore, QtWidgets
from facemask_live.app.window.sources import window_settings
from facemask_live.app.window.view import APP_NAME
from facemask_live.core.config import Settings
from facemask_live.core.errors import FacemaskError
from facemask_live.engine.build import build_site, camera_summary_lines, site_summary_lines, site_workers
from facemask_live.outputs.sinks import write_json
from facemask_live.sources.capture import mask_credentials, parse_source


def build_window(settings: Settings, config_path: str | None = None) -> MainWindow:
    """The site of the settings' cameras (files play at their own rate) and its window; not started
    (``window.site.start()``). Raises FacemaskError for a bad single source, models or folders."""
    settings = window_settings(settings)  # files play at their own rate
    if len(settings.cameras) == 1 and not settings.source.demo:  # one source that cannot be: one error line first
        parse_source(settings.cameras[0].source)
    bridge = SiteBridge()
    # annotate=False: each picture is drawn at its tile's size (a sink that draws, e.g. --privacy, still does)
    if site_workers(settings) > 1:  # many cameras: each worker draws its tiles and sends them (engine/workers.py)
        site = build_site(settings, hook=functools.partial(WindowTap, True), on_hook=bridge.receive, realtime=True)
    else:
        site = build_site(settings, on_result=bridge.on_result, realtime=True)
    return MainWindow(settings, site, bridge, config_path)


def _excepthook(window: MainWindow):
    def hook(exc_type, exc, tb):  # an exception in a slot: one line, then exit 1 (PyQt would abort)
        print(f"error: internal error: {exc_type.__name__}: {mask_credentials(str(exc))} (run with --debug for details)",
              file=sys.stderr)
        if window.debug:
            traceback.print_exception(exc_type, exc, tb)
        window.request_quit(1)

    return hook


def run_window(settings: Settings, config_path: str | None = None) -> int:
    """Open the window on the settings' cameras and run until it is closed; prints the summary; the exit code."""
    problem = display_problem(probe=True)
    if problem:
        raise FacemaskError(problem)
    app = QtWidgets.QApplication.instance()
    if app is None:
        QtCore.QCoreApplication.setAttribute(Qt.AA_EnableHighDpiScaling, True)  # sharp text on HiDPI screens
        QtCore.QCoreApplication.setAttribute(Qt.AA_UseHighDpiPixmaps, True)
        app = QtWidgets.QApplication([APP_NAME])
    app.setApplicationName(APP_NAME)
    window = build_window(settings, config_path)  # FacemaskError before any window is shown
    old_hook, sys.excepthook = sys.excepthook, _excepthook(window)
    old_int = signal.signal(signal.SIGINT, lambda *_: window.request_quit(130))
    old_term = signal.signal(signal.SIGTERM, lambda *_: window.request_quit(0))
    tick = QtCore.QTimer()
    tick.timeout.connect(lambda: None)  # lets the Python interpreter run the signal handlers
    tick.start(200)
    try:
        window.show()
        if settings.visitor.camera:  # --visitor-display (issue 29)
            window.bridge.visitor.open(settings.visitor)
        window.site.start()
        if settings.duration:  # --duration: the window closes by itself, as a headless run stops
            QtCore.QTimer.singleShot(int(settings.duration * 1000), lambda: window.request_quit(0))
        app.exec_()
        window.shutdown()
        stats = window.site.stats()
    finally:
        tick.stop()
        window.shutdown()
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        sys.excepthook = old_hook
    cams = list(window.site.cameras.values())
    for line in camera_summary_lines(cams[0]) if len(cams) == 1 else site_summary_lines(stats):
        print(mask_credentials(line), file=sys.stderr)
    if settings.output.stats_json:
        write_json(settings.output.stats_json, stats, "stats file")
    return window.exit_code
