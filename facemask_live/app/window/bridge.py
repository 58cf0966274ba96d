"""The site's ``on_result`` (camera threads) -> the window (GUI thread).

Keeps only each camera's newest frame but every event (a frame may be skipped by a busy window, a violation
never), with one queued Qt signal at a time. The camera's monitor counts are read here, in the camera's own
thread, where the monitor is not being changed. Pause: the camera threads wait in :meth:`SiteBridge.on_result`
until the window goes on, so nothing more is read or processed (a live source drops its frames meanwhile, as
it does for any slow consumer).
"""

from __future__ import annotations

import collections
import threading

import numpy as np

from facemask_live.app.window.feed import Shown, TileFeed
from facemask_live.app.window.qt import QtCore
from facemask_live.app.window.visitor import VisitorFeed  # issue 29: the visitor display
from facemask_live.core.results import Event, FrameResult


def camera_counts(site, camera: str) -> dict[str, int] | None:
    """The camera's people and violation counts from its monitor (None without tracking or a site)."""
    cam = site.cameras.get(camera) if site is not None else None
    monitor = getattr(cam, "monitor", None)
    return monitor.counts() if monitor is not None else None


class SiteBridge(QtCore.QObject):
    """``on_result`` for :func:`~facemask_live.engine.build.build_site`; set :attr:`site` once it is built."""

    ready = QtCore.pyqtSignal()

    def __init__(self):
        super().__init__()
        self.site = None
        self.feed = TileFeed()  # the pictures, drawn at each tile's size at the window's pace (feed.py)
        self._go = threading.Event()  # cleared while paused
        self._go.set()
        self.visitor = VisitorFeed()  # the visitor display's results (issue 29)
        self.main_camera: str | None = None  # the enlarged camera: its tile shows its main stream (sources/dual.py)

    @property
    def replaced(self) -> collections.Counter[str]:
        """Frames the window never showed, per camera."""
        return self.feed.replaced

    @property
    def view_sizes(self) -> dict[str, tuple[int, int]]:
        """Each camera's picture size on screen (device pixels), set by the GUI."""
        return self.feed.view_sizes

    def on_result(self, camera: str, result: FrameResult, annotated: np.ndarray | None) -> None:
        if camera == self.main_camera and self.site is not None and camera in self.site.cameras:
            result, annotated = main_stream_view(self.site.cameras[camera], result, annotated)
        self.visitor.on_result(camera, result, annotated)
        if self.feed.put(camera, result, annotated, camera_counts(self.site, camera)):
            self.ready.emit()
        while not self._go.wait(0.1):  # paused: this camera's thread holds here, unless it was removed meanwhile
            if self.site is not None and self.site.cameras.get(camera) is None:
                break

    def take(self) -> tuple[dict[str, Shown], list[tuple[str, Event, np.ndarray]]]:
        """GUI thread: the newest frame of each camera since the last take, and every event, oldest first."""
        return self.feed.take()

    @property
    def paused(self) -> bool:
        return not self._go.is_set()

    def pause(self) -> None:
        self._go.clear()

    def resume(self) -> None:
        """Let the cameras go on (also before the site is closed, so that no camera thread waits here)."""
        self._go.set()


def main_stream_view(cam, result: FrameResult, annotated: np.ndarray | None):
    """A camera with two streams: ``result`` and its drawing on the main stream (the enlarged tile), else unchanged."""
    from facemask_live.outputs.annotate import annotate
    from facemask_live.sources.dual import main_view, window_redactors

    view = main_view(cam.capture, result, annotate, window_redactors(cam.sinks))
    return view if view is not None else (result, annotated)
