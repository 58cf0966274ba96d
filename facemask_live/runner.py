"""Drives capture -> pipeline -> sinks. The headless CLI runs it in the main thread, the GUI in a worker."""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .annotate import annotate
from .capture import Capture
from .pipeline import Pipeline
from .results import FrameResult
from .sinks import DetectionsWriter, EventLog, VideoSink

log = logging.getLogger(__name__)


class RateMeter:
    """Events per second over a sliding time window."""

    def __init__(self, window: float = 2.0):
        self.window = window
        self._times: collections.deque[float] = collections.deque()

    def tick(self, now: float | None = None, count: int = 1) -> None:
        now = time.monotonic() if now is None else now
        for _ in range(count):
            self._times.append(now)
        while self._times and now - self._times[0] > self.window:
            self._times.popleft()

    @property
    def rate(self) -> float:
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


@dataclass
class RunStats:
    """What the FPS panel and the end-of-run summary show."""

    processed: int = 0
    capture_fps: float = 0.0
    processed_fps: float = 0.0
    dropped: int = 0
    skipped: int = 0
    reconnects: int = 0
    frame_age_ms: float = 0.0  # capture -> result ready, newest frame
    status: str = "starting"
    faces_by_label: dict[str, int] = field(default_factory=dict)
    people: int = 0
    people_by_label: dict[str, int] = field(default_factory=dict)
    violations: int = 0
    video_note: str | None = None


class Runner:
    """Pulls frames from ``capture``, runs ``pipeline``, feeds the sinks and ``on_result``.

    ``on_result(result, annotated)`` is called for every processed frame (annotated is None unless
    ``annotate_frames`` is set or a video sink needs it).
    """

    def __init__(
        self,
        capture: Capture,
        pipeline: Pipeline,
        *,
        detections: DetectionsWriter | None = None,
        video: VideoSink | None = None,
        event_log: EventLog | None = None,
        on_result: Callable[[FrameResult, object], None] | None = None,
        annotate_frames: bool = False,
        max_frames: int | None = None,
    ):
        self.capture = capture
        self.pipeline = pipeline
        self.detections = detections
        self.video = video
        self.event_log = event_log
        self.on_result = on_result
        self.annotate_frames = annotate_frames or video is not None
        self.max_frames = max_frames
        self.stats = RunStats()
        self.stop_event = threading.Event()
        self.paused = threading.Event()
        self._processed_rate = RateMeter()
        self._captured_rate = RateMeter()
        self._last_captured = 0
        self._closed = False

    def _update_stats(self, result: FrameResult) -> None:
        s, cs = self.stats, self.capture.stats
        now = time.monotonic()
        s.processed += 1
        self._processed_rate.tick(now)
        new = cs.captured - self._last_captured
        if new > 0:
            self._captured_rate.tick(now, new)
            self._last_captured = cs.captured
        s.processed_fps = self._processed_rate.rate
        s.capture_fps = self._captured_rate.rate
        s.dropped, s.skipped, s.reconnects, s.status = cs.dropped, cs.skipped, cs.reconnects, cs.status
        s.frame_age_ms = (now - result.frame.captured_at) * 1000.0
        for face in result.faces:
            s.faces_by_label[face.shown_label] = s.faces_by_label.get(face.shown_label, 0) + 1
        monitor = self.pipeline.monitor
        if monitor is not None:
            s.people = monitor.people_seen
            s.people_by_label = dict(monitor.people_by_label)
            s.violations = monitor.violations

    def step(self, timeout: float | None = 0.25) -> FrameResult | None:
        """Process the next frame; None when no frame came within ``timeout`` or the source ended."""
        frame = self.capture.read(timeout)
        if frame is None:
            self.stats.status = self.capture.stats.status
            return None
        t0 = time.perf_counter()
        result = self.pipeline.process(frame)
        annotated = None
        if self.annotate_frames:
            t1 = time.perf_counter()
            annotated = annotate(frame.image, result)
            result.timings["draw"] = time.perf_counter() - t1
        if self.detections is not None:
            self.detections.write(result)
        if self.video is not None:
            self.video.write(annotated)
            self.stats.video_note = self.video.stopped_reason
        if self.event_log is not None:
            for ev in result.events:
                self.event_log.write(ev)
        result.timings["total"] = time.perf_counter() - t0
        self._update_stats(result)
        if self.on_result is not None:
            self.on_result(result, annotated)
        return result

    def run(self, progress: Callable[[FrameResult], None] | None = None) -> RunStats:
        """Loop until the source ends, ``stop()`` is called, or ``max_frames`` are processed."""
        self.capture.start()
        try:
            while not self.stop_event.is_set():
                if self.paused.is_set():
                    self.stop_event.wait(0.05)
                    continue
                result = self.step()
                if result is None:
                    if self.capture.finished:
                        break
                    self.stats.status = self.capture.stats.status
                    continue
                if progress is not None:
                    progress(result)
                if self.max_frames is not None and self.stats.processed >= self.max_frames:
                    break
        finally:
            self.close()
        return self.stats

    def stop(self) -> None:
        self.stop_event.set()

    def close(self) -> None:
        """Stop the capture thread, finalise the video, flush and close the logs. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.capture.stop()
        for sink in (self.video, self.detections, self.event_log):
            if sink is not None:
                try:
                    sink.close()
                except Exception as exc:  # keep closing the others
                    log.error("closing %s failed: %s", type(sink).__name__, exc)
        self.stats.status = self.capture.stats.status
