"""Each camera's newest picture for a window that takes them at its own pace; no Qt here.

The camera threads :meth:`TileFeed.put` every processed frame, the window :meth:`TileFeed.take` s what came since
its last look: the newest frame of each camera (drawn at its tile's size, :class:`~facemask_live.outputs.annotate.
TilePainter`) and every event. Why the drawing waits: with sixteen cameras at 25 fps a window repaints far fewer
than the 400 frames a second it is given, so a frame is drawn by its camera's thread only while the window keeps up
(nothing of that camera waiting); a frame that replaces one still waiting is drawn when the window takes it, so a
camera's pictures cost at most one drawing per look of the window (issue 26: no work for frames nobody sees).

:class:`WindowTap` is the window's ``on_result`` where the cameras run: in the window's process, or in each worker
process of a site of many cameras (:mod:`facemask_live.engine.workers`), which then sends what the window takes
(the tile pictures, the counts, every event with its thumbnail) over its pipe at the window's pace.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass

import numpy as np

from facemask_live.app.window.view import event_thumbnail
from facemask_live.core.results import Event, FrameResult
from facemask_live.outputs.annotate import TilePainter

# what the window gets of an event: (camera, event, its face thumbnail or None), taken in the camera's thread
TakenEvent = tuple[str, Event, "np.ndarray | None"]


@dataclass(slots=True)
class Shown:
    """A camera's newest processed frame for the window."""

    result: FrameResult
    image: np.ndarray  # annotated (boxes, labels) at the size the tile shows it
    counts: dict[str, int] | None  # the camera's ViolationMonitor.counts() after this frame (None: no tracking)


@dataclass(slots=True)
class _Waiting:
    """A frame that replaced one the window had not taken: drawn when it is taken."""

    result: FrameResult
    annotated: np.ndarray | None
    counts: dict[str, int] | None


class TileFeed:
    """The pictures between the camera threads and the window (see the module's docstring). ``lazy``: every
    picture is drawn when taken (a worker, whose pictures are taken on its own clock)."""

    def __init__(self, lazy: bool = False):
        self.lazy = lazy
        self._lock = threading.Lock()
        self._latest: dict[str, Shown | _Waiting] = {}
        self._events: list[TakenEvent] = []
        self._pending = False  # the window was told and has not taken yet
        self.replaced: collections.Counter[str] = collections.Counter()  # frames the window never showed, per camera
        # each camera's picture size on screen (device pixels), set by the window: pictures are drawn at that size
        self.view_sizes: dict[str, tuple[int, int]] = {}
        self.painters: collections.defaultdict[str, TilePainter] = collections.defaultdict(TilePainter)

    def put(self, camera: str, result: FrameResult, annotated: np.ndarray | None, counts: dict | None,
            monitor=None) -> bool:
        """A camera thread's frame; True when the window should be told (nothing was waiting for it).
        ``monitor``: the camera's ViolationMonitor, whose thumbnail of an event is its best view of the person."""
        # the thumbnail now, in the camera's thread: the monitor keeps it for its recent events only
        events = [(camera, ev, event_thumbnail(ev, result.frame.image, monitor)) for ev in result.events]
        with self._lock:
            self._events += events
            if camera in self._latest or self.lazy:  # the window is behind: drawn when taken, if still the newest
                self.replaced[camera] += camera in self._latest
                self._latest[camera] = _Waiting(result, annotated, counts)
                return self._tell()
        return self.put_shown({camera: Shown(result, self._draw(camera, result, annotated), counts)})

    def put_shown(self, shown: dict[str, Shown], events: list[TakenEvent] = ()) -> bool:
        """Pictures drawn already (here, or by a worker) and events; True when the window should be told."""
        with self._lock:
            self._events += events
            for camera, picture in shown.items():
                self.replaced[camera] += camera in self._latest
                self._latest[camera] = picture
            return self._tell()

    def _tell(self) -> bool:
        signal = not self._pending
        self._pending = True
        return signal

    def take(self, pictures: bool = True) -> tuple[dict[str, Shown], list[TakenEvent]]:
        """The window: the newest frame of each camera since the last take, and every event, oldest first
        (``pictures=False``: the events alone; the pictures wait)."""
        with self._lock:
            if not pictures:
                events, self._events = self._events, []
                return {}, events
            latest, events = self._latest, self._events
            self._latest, self._events, self._pending = {}, [], False
        for camera, entry in latest.items():
            if isinstance(entry, _Waiting):
                latest[camera] = Shown(entry.result, self._draw(camera, entry.result, entry.annotated), entry.counts)
        return latest, events

    def _draw(self, camera: str, result: FrameResult, annotated: np.ndarray | None) -> np.ndarray:
        return self.painters[camera].picture(result, annotated, self.view_sizes.get(camera), time.monotonic())


class WindowTap:
    """The window's ``on_result`` where the cameras run (see the module's docstring), and the controls the window
    sends it: each tile's size (:attr:`feed`'s ``view_sizes``), pause, and the enlarged camera.

    Pause: the camera threads wait in :meth:`__call__` until the window goes on, so nothing more is read or
    processed (a live source drops its frames meanwhile, as it does for any slow consumer). The camera's monitor
    counts are read here, in the camera's own thread, where the monitor is not being changed."""

    def __init__(self, lazy: bool = False):
        self.site = None
        self.feed = TileFeed(lazy)
        self.main_camera: str | None = None  # the enlarged camera: its tile shows its main stream (sources/dual.py)
        self._go = threading.Event()  # cleared while paused
        self._go.set()
        self._sent: dict[str, np.ndarray] = {}  # in a worker: each camera's picture sent last
        # in a worker: the window took the pictures sent last. Why: a window that shows fewer pictures than the
        # cameras make must not cost the workers a drawing, a pickle and a pipe write for every one it skips
        self._taken = True

    def attach(self, site) -> None:
        self.site = site

    def __call__(self, camera: str, result: FrameResult, annotated: np.ndarray | None) -> bool:
        """A camera thread's frame; True when the window should be told."""
        cam = self.site.cameras.get(camera) if self.site is not None else None
        if camera == self.main_camera and cam is not None:
            result, annotated = main_stream_view(cam, result, annotated)
        monitor = getattr(cam, "monitor", None)
        tell = self.feed.put(camera, result, annotated, monitor.counts() if monitor is not None else None, monitor)
        while not self._go.wait(0.1):  # paused: this camera's thread holds here, unless it was removed or stops
            if self.site is not None and (self.site.cameras.get(camera) is None or self.site.stopping):
                break
        return tell

    @property
    def paused(self) -> bool:
        return not self._go.is_set()

    def pause(self, paused: bool = True) -> None:
        """Pause (or let the cameras go on: also before the site is closed, so that no camera thread waits here)."""
        if paused:
            self._go.clear()
        else:
            self._go.set()

    # -- in a worker process (engine/workers.py): what goes to the window, and what comes from it ----------
    def outgoing(self) -> dict | None:
        """What the window has not taken: each camera's newest picture (its result without the frame, which the
        picture replaces) and every event with its thumbnail; None when nothing came."""
        from facemask_live.engine.workers import no_picture

        latest, events = self.feed.take(pictures=self._taken)
        if not latest and not events:
            return None
        if latest:
            self._taken = False
        shown = {}
        for camera, s in latest.items():  # a still camera's picture, kept (TilePainter), is not sent again
            same = self._sent.get(camera) is s.image
            self._sent[camera] = s.image
            shown[camera] = Shown(no_picture(s.result), None if same else s.image, s.counts)
        return {"shown": shown, "events": events, "replaced": dict(self.feed.replaced)}

    def control(self, message: tuple) -> None:
        """The window's ("taken", None), ("sizes", {camera: (w, h)}), ("pause", bool) or ("main", camera or None)."""
        kind, body = message
        if kind == "taken":
            self._taken = True
        elif kind == "sizes":
            self.feed.view_sizes.update(body)
        elif kind == "pause":
            self.pause(body)
        elif kind == "main":
            self.main_camera = body


def main_stream_view(cam, result: FrameResult, annotated: np.ndarray | None):
    """A camera with two streams: ``result`` and its drawing on the main stream (the enlarged tile), else unchanged."""
    from facemask_live.outputs.annotate import annotate
    from facemask_live.sources.dual import main_view, window_redactors

    view = main_view(cam.capture, result, annotate, window_redactors(cam.sinks))
    return view if view is not None else (result, annotated)
