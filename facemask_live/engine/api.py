"""The public API: :class:`Monitor` runs one camera or a site of many and hands on typed results.

    from facemask_live import Monitor

    with Monitor("entrance.mp4") as monitor:             # a source, or Monitor(config="site.yaml")
        for camera, result in monitor.results():        # a FrameResult per processed frame of each camera
            for face in result.faces:
                print(camera, face.track_id, face.shown_label)
        print(monitor.stats().frames_processed)

The command line and the window drive the same engine (:func:`facemask_live.engine.build.build_site`): one
camera is a site of one. A ``Monitor`` that is iterated hands every result of a file on (its camera waits for
the reader); results of live sources that the reader does not take in time are dropped, oldest first.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facemask_live.core.config import CameraSettings, Settings
from facemask_live.core.results import FrameResult

ResultCallback = Callable[[str, FrameResult, "np.ndarray | None"], None]
_END = object()


@dataclass(frozen=True)
class CameraStats:
    """One camera's figures since it started (the ``cameras`` entries of ``--stats-json``)."""

    name: str
    state: str
    source: str
    frames_captured: int
    frames_processed: int
    dropped: int
    detector_runs: int
    events: int
    people: int | None
    frame_age_p95_ms: float | None
    detect_per_s: float | None
    faces_by_label: dict[str, int] = field(default_factory=dict)
    people_by_label: dict[str, int] = field(default_factory=dict)
    not_judged: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Stats:
    """The whole run: every camera's :class:`CameraStats` and the site's totals; ``raw`` is ``--stats-json``."""

    cameras: dict[str, CameraStats]
    elapsed_s: float
    frames_processed: int
    events: int
    detector_runs: int
    cpu_seconds: float
    raw: dict

    @classmethod
    def from_dict(cls, data: dict) -> Stats:
        names = {f.name for f in dataclasses.fields(CameraStats)}
        cams = {n: CameraStats(name=n, **{k: v for k, v in s.items() if k in names}) for n, s in data["cameras"].items()}
        site = data["site"]
        return cls(cams, site["elapsed_s"], site["frames_processed"], site["events"], site["detector_runs"],
                   data["cpu_seconds"], data)


class Monitor:
    """Face-mask monitoring of one source or a whole site, as a context manager.

    source: a webcam index, stream URL, video file, image or folder (as ``--source``); or
    config: a YAML/TOML site file (as ``--config``); or settings: a :class:`~facemask_live.core.config.Settings`.
    realtime: play files at their own rate like cameras (default: frame by frame, every frame judged).
    annotate: draw boxes on the frames handed to ``on_result`` (the window does).
    on_result(camera, result, annotated): called from the camera's thread for every processed frame.
    Further keyword arguments override sections of the settings, e.g. ``detector={"confidence": 0.8}``.

    A site of more than eight live cameras runs them in worker processes (``site={"workers": 1}`` keeps them here,
    :mod:`facemask_live.engine.workers`): ``on_result`` and :meth:`results` then get each frame's result without its
    picture (``frame.image`` has the frame's height and width and no channels, ``annotated`` is None), and cameras
    cannot be added or removed while it runs.
    """

    def __init__(self, source: str | int | None = None, *, config: str | Path | None = None,
                 settings: Settings | None = None, realtime: bool = False, annotate: bool = False,
                 on_result: ResultCallback | None = None, **sections):
        from facemask_live.core.config import load_file, override

        if settings is None:  # a script: no window, no progress bar, snapshots only where asked for
            settings = load_file(config) if config is not None else Settings()
            settings = override(settings, gui={"headless": True}, output={"progress": False})
        if source is not None:
            settings = override(settings, source={"source": str(source), "demo": False})
        if sections:
            settings = override(settings, **sections)
        self.settings = settings
        self._callback = on_result
        self._queue: queue.Queue | None = None
        self._lock = threading.Lock()
        from facemask_live.engine.build import build_site

        self.site = build_site(settings, on_result=self._on_result, annotate=annotate, realtime=realtime)
        self._started = False

    # -- results ------------------------------------------------------------------------------------------
    def _on_result(self, camera: str, result: FrameResult, annotated) -> None:
        if self._callback is not None:
            self._callback(camera, result, annotated)
        q = self._queue
        if q is None:
            return
        cam = self.site.cameras.get(camera)
        if cam is not None and cam.frame_by_frame:
            while not self.site.stopping:  # a file waits for its reader: every result is handed on
                try:
                    q.put((camera, result), timeout=0.1)
                    return
                except queue.Full:
                    continue
            return
        try:  # a live camera never waits: the oldest result nobody took is dropped
            q.put_nowait((camera, result))
        except queue.Full:
            try:
                q.get_nowait()
            except queue.Empty:
                pass
            q.put_nowait((camera, result))

    def results(self, timeout: float | None = None) -> Iterator[tuple[str, FrameResult]]:
        """(camera name, :class:`FrameResult`) for every processed frame, until every camera ended, ``timeout``
        seconds passed or :meth:`close` was called."""
        import time

        with self._lock:
            if self._queue is None:
                self._queue = queue.Queue(maxsize=64)
        self.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        while deadline is None or time.monotonic() < deadline:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self.site.stopping or not any(c.alive for c in self.site.cameras.values()):
                    if self._queue.empty():
                        return
                continue
            yield item

    # -- cameras and life ---------------------------------------------------------------------------------------
    def add_camera(self, name: str, source: str | int, **camera) -> None:
        """Watch one more camera, also while running (``camera``: CameraSettings keys, e.g. ``loop=True``)."""
        from facemask_live.engine.build import add_site_camera

        add_site_camera(self.site, self.settings, CameraSettings(name=name, source=str(source), **camera),
                        realtime=bool(camera.get("realtime", False)))

    def remove_camera(self, name: str) -> None:
        self.site.remove_camera(name)

    @property
    def cameras(self) -> list[str]:
        return list(self.site.cameras)

    def stats(self) -> Stats:
        return Stats.from_dict(self.site.stats())

    def start(self) -> Monitor:
        if not self._started:
            self._started = True
            self.site.start()
        return self

    def wait(self, duration: float | None = None, stop: threading.Event | None = None) -> None:
        """Until every camera ended, ``duration`` seconds passed or ``stop`` is set."""
        self.start()
        self.site.wait(duration, stop)

    def close(self) -> None:
        """Stop every camera, finalise recordings, flush and close every log. Safe to call twice."""
        self.site.close()

    def __enter__(self) -> Monitor:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
