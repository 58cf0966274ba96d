"""The site's results (camera threads, or a worker process's pipe) -> the window (GUI thread).

Keeps only each camera's newest frame but every event (a frame may be skipped by a busy window, a violation
never), with one queued Qt signal at a time. The pictures are drawn where the cameras run, by a
:class:`~facemask_live.app.window.feed.WindowTap`: the bridge's own when the cameras run in this process, each
worker's when the site runs in worker processes (:mod:`facemask_live.engine.workers`); then the tiles' sizes, pause
and the enlarged camera go to the workers, and their pictures come back through :meth:`SiteBridge.receive`.
"""

from __future__ import annotations

import collections
import threading

import numpy as np

from facemask_live.app.window.feed import Shown, TakenEvent, TileFeed, WindowTap
from facemask_live.app.window.qt import QtCore
from facemask_live.app.window.visitor import VisitorFeed  # issue 29: the visitor display
from facemask_live.core.results import FrameResult


class SiteBridge(QtCore.QObject):
    """``on_result`` of a site in this process (:func:`~facemask_live.engine.build.build_site`), or ``on_hook`` of
    one in workers (:meth:`receive`); set :attr:`site` once it is built."""

    ready = QtCore.pyqtSignal()

    def __init__(self):
        super().__init__()
        self.tap = WindowTap()  # the pictures, drawn at each tile's size at the window's pace (feed.py)
        self.visitor = VisitorFeed()  # the visitor display's results (issue 29)
        self._remote_replaced: dict[int, dict[str, int]] = {}  # each worker's frames its window feed replaced
        self._sizes_told: dict[str, tuple[int, int]] = {}
        self._pictures: dict[str, np.ndarray] = {}  # each remote camera's last picture
        self._owed: set[int] = set()  # the workers whose pictures wait for the window
        self._owed_lock = threading.Lock()  # (the results thread adds, the GUI thread takes)

    @property
    def site(self):
        return self.tap.site

    @site.setter
    def site(self, site) -> None:
        self.tap.attach(site)

    @property
    def feed(self) -> TileFeed:
        return self.tap.feed

    @property
    def remote(self) -> bool:
        """The cameras run in worker processes: the controls go to them (``ProcessSite.tell``)."""
        return hasattr(self.site, "tell")

    @property
    def replaced(self) -> collections.Counter[str]:
        """Frames the window never showed, per camera (here, and in the workers before they sent them)."""
        total = collections.Counter(self.feed.replaced)
        for counts in list(self._remote_replaced.values()):  # (a worker added meanwhile adds a key)
            total.update(counts)
        return total

    @property
    def view_sizes(self) -> dict[str, tuple[int, int]]:
        """Each camera's picture size on screen (device pixels), set by the GUI."""
        return self.feed.view_sizes

    @property
    def main_camera(self) -> str | None:
        return self.tap.main_camera

    @main_camera.setter
    def main_camera(self, camera: str | None) -> None:
        self.tap.main_camera = camera
        if self.remote:
            self.site.tell("main", camera)

    def on_result(self, camera: str, result: FrameResult, annotated: np.ndarray | None) -> None:
        self.visitor.on_result(camera, result, annotated)
        if self.tap(camera, result, annotated):
            self.ready.emit()

    def receive(self, worker: int, payload: dict) -> None:
        """A worker's pictures and events (the site's results thread)."""
        self._remote_replaced[worker] = payload["replaced"]
        shown: dict[str, Shown] = payload["shown"]
        if shown:
            with self._owed_lock:
                self._owed.add(worker)  # told "taken" when the window takes them
        for camera, s in shown.items():  # no picture: the one before again (the same object: not drawn again)
            if s.image is None:
                s.image = self._pictures.get(camera, np.zeros((1, 1, 3), np.uint8))
            self._pictures[camera] = s.image
        if self.feed.put_shown(shown, payload["events"]):
            self.ready.emit()

    def take(self) -> tuple[dict[str, Shown], list[TakenEvent]]:
        """GUI thread: the newest frame of each camera since the last take, and every event, oldest first."""
        if self.remote and self.view_sizes != self._sizes_told:  # the next pictures are drawn at these sizes
            self._sizes_told = dict(self.view_sizes)
            self.site.tell("sizes", self._sizes_told)
        with self._owed_lock:  # (before the take: a worker's pictures that come later wait for the next take)
            owed, self._owed = self._owed, set()
        taken = self.feed.take()
        for worker in owed:  # each sends its next pictures (feed.py WindowTap.outgoing)
            self.site.tell("taken", None, worker)
        return taken

    @property
    def paused(self) -> bool:
        return self.tap.paused

    def pause(self) -> None:
        self.tap.pause(True)
        if self.remote:
            self.site.tell("pause", True)

    def resume(self) -> None:
        """Let the cameras go on (also before the site is closed, so that no camera thread waits here)."""
        self.tap.pause(False)
        if self.remote:
            self.site.tell("pause", False)
