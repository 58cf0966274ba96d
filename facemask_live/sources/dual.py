"""Two streams of one camera, as IP cameras offer them: a small detect stream and the full-size main stream.

The camera's thread reads the detect stream (e.g. its 640x360 substream): detection, optical flow, the grid tile
and the events all run on it. The main stream (``source``, e.g. 1280x720 or larger) is decoded only while something
needs it: a recording (:class:`MainStreamSink` around a sink that draws frames) or a caller that asks with
:meth:`DualCapture.want_main` (the window's enlarged tile); it is closed again ``idle_s`` seconds after the last
ask. The main stream's frame is the newest one it delivered, and the faces found on the detect stream are scaled to
it (:func:`scaled_result`): the two streams of a camera show the same moment within a frame or two.

A live camera's main stream is opened in a thread of its own: opening an RTSP stream takes a second or more (up to
the capture's open timeout for a camera that does not answer), and the camera's thread, which asks for it when a
face is first labelled a violation, must not stop showing and detecting meanwhile. Until it delivers, the callers
get None and use the detect stream. An open that failed is tried again after ``MAIN_RETRY_S`` (doubling up to
``MAIN_RETRY_MAX_S``), not at every frame that asks. A file read frame by frame opens it in the asking thread, so
that the two streams go in step from their first frame.

A camera with one ``source`` and no ``detect_source`` opens a plain :class:`~facemask_live.sources.capture.Capture`.
"""

from __future__ import annotations

import dataclasses
import threading
import time

from facemask_live.core.geometry import scale_faces
from facemask_live.core.results import Frame, FrameResult
from facemask_live.sources.capture import Capture, parse_source

MAIN_IDLE_S = 5.0  # the main stream stays open this long after the last frame that needed it
FIRST_FRAME_S = 2.0  # a file's main stream: how long to wait for its next frame
MAIN_RETRY_S, MAIN_RETRY_MAX_S = 2.0, 60.0  # a live main stream that failed to open: when to try again (doubling)


class DualCapture:
    """The detect stream's :class:`Capture` (what ``read``, ``stats``, ``finished`` ... are), plus the main stream,
    opened on demand by ``open_main()`` (a function returning an unstarted Capture)."""

    def __init__(self, detect: Capture, open_main, idle_s: float = MAIN_IDLE_S):
        self.detect = detect
        self._open_main = open_main
        self.idle_s = float(idle_s)
        self.main: Capture | None = None
        self.main_opens = 0  # how many times the main stream was opened (it is closed while unused)
        self.main_error: str | None = None  # why the main stream could not be opened the last time
        self._main_frame: Frame | None = None
        self._wanted_until = 0.0
        self._lock = threading.Lock()
        self._opener: threading.Thread | None = None  # a live main stream being opened (see the module's doc)
        self._retry_at = 0.0  # a live main stream that failed is not tried again before this (time.monotonic())
        self._retry_s = MAIN_RETRY_S
        self._stopped = False

    # the detect stream is the camera's source: everything the camera asks a Capture goes to it
    def __getattr__(self, name):
        return getattr(self.detect, name)

    def start(self) -> DualCapture:
        self.detect.start()
        return self

    def read(self, timeout: float | None = None) -> Frame | None:
        frame = self.detect.read(timeout)
        self._close_idle()
        return frame

    @property
    def finished(self) -> bool:
        return self.detect.finished

    def want_main(self, seconds: float | None = None) -> None:
        """Keep the main stream decoded for the next ``seconds`` (default ``idle_s``); opens it if it is closed: a live
        one in the background (this returns at once), a file's here."""
        with self._lock:
            self._wanted_until = max(self._wanted_until, time.monotonic() + (self.idle_s if seconds is None else seconds))
            if self.main is not None or self._opener is not None or self._stopped:
                return
            if not self.detect.realtime:
                self._opened(*self._try_open())
                return
            if time.monotonic() < self._retry_at:
                return
            self._opener = self._in_background(self._open_in_background)

    def _in_background(self, work) -> threading.Thread:
        """``work()`` started in a thread of its own: opening or closing a network stream waits on the network."""
        thread = threading.Thread(target=work, daemon=True, name=f"main-stream[{self.detect.spec.name}]")
        thread.start()
        return thread

    def _try_open(self) -> tuple[Capture | None, str | None]:
        from facemask_live.core.errors import FacemaskError

        try:
            return self._open_main().start(), None
        except FacemaskError as exc:  # the detect stream goes on; the caller falls back to it
            return None, str(exc)

    def _opened(self, main: Capture | None, error: str | None) -> None:
        """Called under the lock with what an open gave."""
        self.main_error = error
        if main is None:
            self._retry_at = time.monotonic() + self._retry_s
            self._retry_s = min(self._retry_s * 2, MAIN_RETRY_MAX_S)
            return
        self.main = main
        self.main_opens += 1
        self._retry_s = MAIN_RETRY_S

    def _open_in_background(self) -> None:
        main, error = self._try_open()
        with self._lock:
            self._opener = None
            if not self._stopped:
                self._opened(main, error)
                return
        if main is not None:  # the camera stopped while this opened: nobody will read it
            main.stop()

    def main_frame(self, index: int | None = None) -> Frame | None:
        """The main stream's newest frame (keeps it open for ``idle_s`` more), or None while it has none yet.

        ``index``: the detect stream's frame index it should match, for files read frame by frame (the streams go
        in step; a main stream opened late reads up to that frame). None: one main frame per call."""
        self.want_main()
        with self._lock:
            main = self.main
            if main is None:
                return None
            if not main.realtime:
                frame = main.read(FIRST_FRAME_S) if index is None else self._main_frame
                while index is not None and (frame is None or frame.index < index):
                    nxt = main.read(FIRST_FRAME_S)
                    if nxt is None:
                        break
                    frame = nxt
                self._main_frame = frame or self._main_frame
                return self._main_frame
            while True:  # live: take every frame waiting; the newest is the one that matches the detect frame best
                frame = main.read(0)
                if frame is None:
                    break
                self._main_frame = frame
            return self._main_frame

    @property
    def main_open(self) -> bool:
        return self.main is not None

    def _close_idle(self) -> None:
        with self._lock:
            if self.main is None or time.monotonic() <= self._wanted_until:
                return
            main, self.main, self._main_frame = self.main, None, None
        if self.detect.realtime:  # closing a network stream may wait for its reader: not in the camera's thread
            self._in_background(main.stop)
        else:
            main.stop()

    def stop(self, timeout: float = 1.0) -> None:
        self.detect.stop(timeout)
        with self._lock:
            self._stopped = True
            if self.main is not None:
                self.main.stop(timeout)
                self.main = None


def open_capture(spec, **options) -> Capture | DualCapture:
    """A camera's capture (not started): its ``detect_source`` with the ``source`` as main stream when it has one,
    else a plain Capture of ``source``. ``options``: the Capture's (realtime, loop, stall_timeout ...)."""
    detect_source = getattr(spec, "detect_source", None)
    if not detect_source:
        return Capture(parse_source(spec.source), **options)
    detect = Capture(parse_source(detect_source), **options)
    main_options = dict(options, backlog=1)  # only its newest frame is ever used
    return DualCapture(detect, lambda: Capture(parse_source(spec.source), **main_options))


def scaled_result(result: FrameResult, frame: Frame) -> FrameResult:
    """``result`` (faces on the detect stream's frame) moved to ``frame`` of another size: boxes and landmarks scaled."""
    h0, w0 = result.frame.image.shape[:2]
    h1, w1 = frame.image.shape[:2]
    return dataclasses.replace(result, frame=frame, faces=scale_faces(result.faces, w1 / w0, h1 / h0, w1, h1))


def main_result(capture, result: FrameResult) -> FrameResult | None:
    """``result`` on the main stream's picture of the same moment, boxes and landmarks scaled; None while ``capture``
    has one stream or its main stream has no frame yet. Keeps the main stream open."""
    if not isinstance(capture, DualCapture):
        return None
    main = capture.main_frame(result.frame.index)
    if main is None:
        return None
    # the main stream's picture at the detect frame's place in time (its index, timestamp, capture time)
    return scaled_result(result, dataclasses.replace(result.frame, image=main.image))


def main_view(capture, result: FrameResult, draw, redactors=()) -> tuple[FrameResult, object] | None:
    """``result`` on the main stream: (the result with its boxes scaled to the main frame, the main frame drawn by
    ``draw(image, result)`` and redacted in place by ``redactors`` as the detect stream's drawing was), or None
    while ``capture`` has one stream or its main stream has no frame yet. Keeps the main stream open."""
    scaled = main_result(capture, result)
    if scaled is None:
        return None
    drawn = draw(scaled.frame.image, scaled)
    for redactor in redactors:  # e.g. the window's privacy sink, which redacted the detect stream's drawing
        redactor.write(scaled, drawn)
    return scaled, drawn


def window_redactors(sinks) -> list:
    """The sinks that redact a drawn frame in place for everything after them (``--privacy`` in the window:
    ``outputs.privacy.WindowPrivacy`` says so with ``redacts_drawing``; a later stage, so not imported here)."""
    return [s for s in sinks if getattr(s, "redacts_drawing", False)]


class MainStreamSink:
    """A sink that draws frames (a recording), fed the camera's main stream instead of its detect stream.

    ``capture``: a function returning the camera's current capture (a :class:`DualCapture`, or a plain Capture
    while it has one stream); ``draw(image, result)``: the drawing of the detect stream's frames, done again on the
    main frame; ``redactors``: sinks before it that redact the drawn frame in place (:func:`window_redactors`).
    Nothing is written until the main stream delivers its first frame (about a second after the camera opens):
    a recording has one frame size, the main stream's."""

    def __init__(self, sink, capture, draw, redactors=()):
        self.sink = sink
        self._capture = capture
        self._draw = draw
        self._redactors = list(redactors)
        self.needs_annotated = True

    def __getattr__(self, name):  # set_fps, set_status, stopped_reason ... are the wrapped sink's
        return getattr(self.sink, name)

    def write(self, result: FrameResult, annotated=None) -> None:
        cap = self._capture()
        if not isinstance(cap, DualCapture):
            self.sink.write(result, annotated)
            return
        view = main_view(cap, result, self._draw, self._redactors)
        if view is not None:  # the main stream is not up yet: a recording does not start at the detect stream's size
            self.sink.write(*view)

    def close(self) -> None:
        self.sink.close()


def main_stream_sinks(spec, sinks: list, capture, draw) -> list:
    """``sinks`` with each one that draws frames wrapped in :class:`MainStreamSink` when the camera has two streams."""
    if not getattr(spec, "detect_source", None):
        return list(sinks)
    redactors = window_redactors(sinks)
    return [MainStreamSink(s, capture, draw, redactors) if getattr(s, "needs_annotated", False) else s for s in sinks]
