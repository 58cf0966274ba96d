"""Each camera's newest picture for a window that takes them at its own pace; no Qt here.

The camera threads :meth:`TileFeed.put` every processed frame, the window :meth:`TileFeed.take` s what came since
its last look: the newest frame of each camera (drawn at its tile's size, :class:`~facemask_live.outputs.annotate.
TilePainter`) and every event. Why the drawing waits: with sixteen cameras at 25 fps a window repaints far fewer
than the 400 frames a second it is given, so a frame is drawn by its camera's thread only while the window keeps up
(nothing of that camera waiting); a frame that replaces one still waiting is drawn when the window takes it, so a
camera's pictures cost at most one drawing per look of the window (issue 26: no work for frames nobody sees).
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass

import numpy as np

from facemask_live.core.results import Event, FrameResult
from facemask_live.outputs.annotate import TilePainter


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
    """The pictures between the camera threads and the window (see the module's docstring)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._latest: dict[str, Shown | _Waiting] = {}
        self._events: list[tuple[str, Event, np.ndarray]] = []
        self._pending = False  # the window was told and has not taken yet
        self.replaced: collections.Counter[str] = collections.Counter()  # frames the window never showed, per camera
        # each camera's picture size on screen (device pixels), set by the window: pictures are drawn at that size
        self.view_sizes: dict[str, tuple[int, int]] = {}
        self.painters: collections.defaultdict[str, TilePainter] = collections.defaultdict(TilePainter)

    def put(self, camera: str, result: FrameResult, annotated: np.ndarray | None, counts: dict | None) -> bool:
        """A camera thread's frame; True when the window should be told (nothing was waiting for it)."""
        with self._lock:
            self._events += [(camera, ev, result.frame.image) for ev in result.events]
            if camera in self._latest:  # the window is behind: drawn when taken, if it still is the newest then
                self.replaced[camera] += 1
                self._latest[camera] = _Waiting(result, annotated, counts)
                return False
        shown = Shown(result, self._draw(camera, result, annotated), counts)
        with self._lock:
            self._latest[camera] = shown
            signal = not self._pending
            self._pending = True
            return signal

    def take(self) -> tuple[dict[str, Shown], list[tuple[str, Event, np.ndarray]]]:
        """The window: the newest frame of each camera since the last take, and every event, oldest first."""
        with self._lock:
            latest, events = self._latest, self._events
            self._latest, self._events, self._pending = {}, [], False
        for camera, entry in latest.items():
            if isinstance(entry, _Waiting):
                latest[camera] = Shown(entry.result, self._draw(camera, entry.result, entry.annotated), entry.counts)
        return latest, events

    def _draw(self, camera: str, result: FrameResult, annotated: np.ndarray | None) -> np.ndarray:
        return self.painters[camera].picture(result, annotated, self.view_sizes.get(camera), time.monotonic())
