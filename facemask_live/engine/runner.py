"""Drives capture -> pipeline -> sinks. The headless CLI runs it in the main thread, the GUI in a worker.

With ``pipelined=True`` (the default) a second thread runs the pipeline's first stage (face detection,
:meth:`Pipeline.locate`) one frame ahead of the thread that calls :meth:`Runner.step` (classification,
tracking, events, drawing, sinks). The detector and the classifier release the GIL, so on two cores the
frame rate is set by the slower stage instead of the sum of both. At most one located frame waits
between the stages, so a live source's newest frame is never more than about two stage times old.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from facemask_live.core.results import FrameResult
from facemask_live.engine.pipeline import Located, Pipeline
from facemask_live.outputs.annotate import annotate
from facemask_live.outputs.sinks import Sink, StatusSink
from facemask_live.sources.capture import Capture, SourceState

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
    state: SourceState = SourceState.STARTING
    attempt: int = 0  # reconnection attempt while RECONNECTING
    faces_by_label: dict[str, int] = field(default_factory=dict)
    people: int = 0
    people_by_label: dict[str, int] = field(default_factory=dict)
    not_judged: int = 0  # people never seen well enough to judge (quality gate)
    violations: int = 0
    video_note: str | None = None

    @property
    def status(self) -> str:
        """The source state as shown: ``running``, ``reconnecting (attempt 2)``, ``ended`` ..."""
        return self.state.describe(self.attempt)

    def follow(self, capture: Capture) -> None:
        """Take the capture's state (and its reconnection attempt)."""
        self.attempt, self.state = capture.stats.attempt, capture.stats.state


_END = object()  # the locate thread's last item: the source ended or was stopped


class LocateThread:
    """Runs ``pipeline.locate`` on the frames of ``capture`` in its own thread, one frame ahead.

    Items come out of :attr:`queue` in frame order: :class:`Located`, an exception raised by the capture
    or the detector, or ``_END``. While ``paused`` is set a live source is not read (its frames are
    dropped by the capture as usual) and on resume the frame located before the pause is thrown away.
    """

    def __init__(self, capture: Capture, pipeline: Pipeline, paused: threading.Event):
        self.capture = capture
        self.pipeline = pipeline
        self.paused = paused
        self.queue: queue.Queue = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="facemask-locate", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _put(self, item) -> bool:
        """Hand ``item`` on, waiting while the consumer is busy. False if stopped."""
        while not self._stop.is_set():
            if isinstance(item, Located) and self._pause_point():
                return True  # the item went stale during the pause: dropped
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _pause_point(self) -> bool:
        """While a live source is paused: throw away what was located, wait, start afresh. True if paused."""
        if not (self.capture.realtime and self.paused.is_set()):
            return False
        self._drain()  # the consumer is paused too: nothing located before the pause is shown after it
        while self.paused.is_set() and not self._stop.is_set():
            self._stop.wait(0.05)
        self.pipeline.reset()  # optical flow must not bridge the pause
        return True

    def _run(self) -> None:
        cap = self.capture
        try:
            while not self._stop.is_set():
                if self._pause_point():
                    continue
                frame = cap.read(0.25)
                if frame is None:
                    if cap.finished:
                        break
                    continue
                if not self._put(self.pipeline.locate(frame)):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(exc)
            return
        self._put(_END)

    def _drain(self) -> None:
        try:
            while True:
                self.queue.get_nowait()
        except queue.Empty:
            pass

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._drain()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout)
        self._drain()


class Runner:
    """Owns the loop: pulls frames from ``capture``, runs ``pipeline``, feeds ``sinks`` and ``on_result``.

    ``sinks``: objects with ``write(result, annotated)`` and ``close()`` (:class:`~facemask_live.outputs.sinks.Sink`).
    ``on_result(result, annotated)`` is called for every processed frame (annotated is None unless
    ``annotate_frames`` is set or a sink needs it). ``on_idle(stats)`` is called when no frame came for a
    while (e.g. reconnecting), so that a window can show the state. ``pipelined``: detect the next frame in
    a second thread while this one is classified, tracked and drawn (see the module docstring). Headless
    mode calls :meth:`run` in the main thread, the window in a worker thread: the same loop.
    """

    def __init__(
        self,
        capture: Capture,
        pipeline: Pipeline,
        *,
        sinks: Sequence[Sink] = (),
        on_result: Callable[[FrameResult, object], None] | None = None,
        on_idle: Callable[[RunStats], None] | None = None,
        annotate_frames: bool = False,
        max_frames: int | None = None,
        pipelined: bool = True,
    ):
        self.capture = capture
        self.pipeline = pipeline
        self.sinks = tuple(sinks)
        self._status_sinks = tuple(s for s in self.sinks if isinstance(s, StatusSink))
        self._told_state: SourceState | None = None
        self.on_result = on_result
        self.on_idle = on_idle
        self.annotate_frames = annotate_frames or any(s.needs_annotated for s in self.sinks)
        self.max_frames = max_frames
        self.reached_max_frames = False
        self.stats = RunStats()
        self.stop_event = threading.Event()
        self.paused = threading.Event()
        self._processed_rate = RateMeter()
        self._captured_rate = RateMeter()
        self._last_captured = 0
        self._closed = False
        self.pipelined = pipelined
        self._locator: LocateThread | None = None
        self._ended = False

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
        s.dropped, s.skipped, s.reconnects = cs.dropped, cs.skipped, cs.reconnects
        s.follow(self.capture)
        s.frame_age_ms = (now - result.frame.captured_at) * 1000.0
        for face in result.faces:
            s.faces_by_label[face.shown_label] = s.faces_by_label.get(face.shown_label, 0) + 1
        monitor = self.pipeline.monitor
        if monitor is not None:
            s.people = monitor.people_seen
            s.people_by_label = dict(monitor.people_by_label)
            s.violations = monitor.violations
            s.not_judged = monitor.not_judged

    def _next_located(self, timeout: float | None) -> Located | None:
        """The next frame with its faces located, from the locate thread (pipelined) or in this thread."""
        if not self.pipelined:
            frame = self.capture.read(timeout)
            return None if frame is None else self.pipeline.locate(frame)
        if self._ended or self._closed:
            return None
        if self._locator is None:
            self.capture.start()
            self._locator = LocateThread(self.capture, self.pipeline, self.paused)
            self._locator.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = 0.25 if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                item = self._locator.queue.get(timeout=wait) if wait > 0 else self._locator.queue.get_nowait()
            except queue.Empty:
                # the source ended but the last frames are still being located: wait for them
                if self._locator.alive and self.capture.finished and not self.stop_event.is_set():
                    continue
                if deadline is None and self._locator.alive:
                    continue
                if not self._locator.alive:
                    self._ended = True
                return None
            if item is _END:
                self._ended = True
                return None
            if isinstance(item, BaseException):
                self._ended = True
                raise item
            return item

    def step(self, timeout: float | None = 0.25) -> FrameResult | None:
        """Process the next frame; None when no frame came within ``timeout`` or the source ended."""
        located = self._next_located(timeout)
        if located is None:
            self.stats.follow(self.capture)
            self._tell_state()
            return None
        t0 = time.perf_counter()
        result = self.pipeline.finish(located)
        frame = located.frame
        annotated = None
        if self.annotate_frames:
            t1 = time.perf_counter()
            annotated = annotate(frame.image, result)
            result.timings["draw"] = time.perf_counter() - t1
        for sink in self.sinks:
            sink.write(result, annotated)
            if sink.needs_annotated and sink.stopped_reason:  # e.g. the recording stopped on a full disk
                self.stats.video_note = sink.stopped_reason
        t = result.timings
        t["total"] = time.perf_counter() - t0 + t.get("detect", 0.0) + t.get("flow", 0.0)
        self._update_stats(result)
        self._tell_state()
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
                    self.stats.follow(self.capture)
                    if self.on_idle is not None:
                        self.on_idle(self.stats)
                    continue
                if progress is not None:
                    progress(result)
                if self.max_frames is not None and self.stats.processed >= self.max_frames:
                    self.reached_max_frames = True
                    break
        finally:
            self.close()
        return self.stats

    def stop(self) -> None:
        self.stop_event.set()

    def _tell_state(self) -> None:
        """Tell the sinks that publish the source's state (e.g. MQTT) when it changed."""
        state = self.stats.state
        if state is self._told_state:
            return
        self._told_state = state
        for sink in self._status_sinks:
            try:
                sink.set_status(state)
            except Exception as exc:  # a sink's trouble never stops the monitor
                log.error("%s.set_status failed: %s", type(sink).__name__, exc)

    def close(self) -> None:
        """Stop the capture thread, finalise the video, flush and close the logs. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.capture.stop()
        if self._locator is not None:
            self._locator.stop()
        self.stats.follow(self.capture)
        if self.reached_max_frames:
            self.stats.state = SourceState.ENDED  # the run is over, not interrupted (the window and MQTT say so)
        self._tell_state()  # the final state, before the sinks close
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:  # keep closing the others
                log.error("closing %s failed: %s", type(sink).__name__, exc)
