"""Threaded capture: a reader thread owns the source and always hands on the newest frame.

Long because every kind of source shares the reader thread's drop, stall and reconnect rules.

Live sources (webcams, RTSP/HTTP streams) overwrite an unconsumed frame and count it as dropped, so
the consumer never falls behind. Files and image folders are read frame by frame without dropping,
unless ``realtime=True`` makes a file play at its own frame rate like a live source.

A live source that stops delivering frames (a failed read, or no new frame for ``stall_timeout``
seconds) is closed and reopened with exponential backoff. A read blocked inside FFmpeg or a camera
driver cannot be interrupted safely from another thread, so the supervising thread abandons the stuck
reader (it releases its own capture whenever the read returns) and carries on with a new connection.
"""

from __future__ import annotations

import collections
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np

from facemask_live.core.errors import SourceError
from facemask_live.core.logs import mask_credentials  # noqa: F401 - where the sources' users have imported it from
from facemask_live.core.results import Frame

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # keep FFmpeg's own chatter off the terminal
if "OPENCV_LOG_LEVEL" not in os.environ:  # OpenCV's "[ WARN:0@...]" lines would bury our one-line errors
    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:  # pragma: no cover - very old OpenCV
        pass

log = logging.getLogger(__name__)

# image file suffixes (lower case; the usual ones first, for finding "name.*")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".jp2", ".pgm", ".ppm", ".pbm")
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
# The moment a live stream opens it hands on the frames FFmpeg buffered while it probed the stream: against an RTSP
# server, 27 frames (1.1 s of video) within 20 ms, old on arrival. Within CONNECT_BURST_S of a connection's first frame,
# the first frame and every frame read in under a third of the frame period (it was waiting in a buffer, not coming
# live) is skipped, counted as ``stale``; the first frame that had to be waited for is live, and from it on every
# frame is handed on. Why: a camera shows and judges the present, and these frames counted as dropped by the camera
# (a tenth of a 20 s run's frames)
CONNECT_BURST_S = 1.5


@dataclass(frozen=True, slots=True)
class SourceSpec:
    kind: str  # "camera" | "stream" | "video" | "image" | "folder"
    target: int | str
    name: str  # safe to show: credentials masked

    @property
    def is_live(self) -> bool:
        return self.kind in ("camera", "stream")


def parse_source(spec: str | int) -> SourceSpec:
    """Recognise what kind of source ``spec`` is; raise SourceError naming what was tried."""
    text = str(spec).strip()
    if re.fullmatch(r"\d+", text):
        return SourceSpec("camera", int(text), f"camera {text}")
    scheme = urlsplit(text).scheme.lower()
    if scheme in STREAM_SCHEMES:
        return SourceSpec("stream", text, mask_credentials(text))
    if scheme == "file":
        text = urlsplit(text).path
    path = Path(text).expanduser()
    if path.is_dir():
        return SourceSpec("folder", str(path), str(path))
    if path.is_file():
        kind = "image" if path.suffix.lower() in IMAGE_EXTS else "video"
        return SourceSpec(kind, str(path), str(path))
    raise SourceError(
        f"source not found: {mask_credentials(text)!s} is not a camera index, a stream URL "
        f"({', '.join(s + '://' for s in STREAM_SCHEMES[:4])}...), an existing video/image file or a folder"
    )


def read_image(path: str | Path) -> np.ndarray | None:
    """Read any image as 3-channel BGR uint8 (grayscale, RGBA and 16-bit converted); None if not decodable."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except (OSError, ValueError):
        return None
    if data.size == 0:
        return None
    try:
        img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error:  # e.g. an image over OpenCV's pixel limit
        return None
    if img is None or img.size == 0:
        return None
    return img


def list_images(folder: str | Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def _other_files(folder: str | Path) -> list[Path]:
    """Regular, non-hidden files of ``folder`` that are not images (skipped and counted)."""
    return sorted(
        p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() not in IMAGE_EXTS
    )


class SourceState(str, Enum):
    """Where a source stands. A ``str`` so that ``state == "ended"`` and JSON/log output stay plain text."""

    STARTING = "starting"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    ENDED = "ended"
    STOPPED = "stopped"
    FAILED = "failed"
    PAUSED = "paused"  # shown by the window; the capture itself never pauses

    def __str__(self) -> str:
        return self.value

    def describe(self, attempt: int = 0) -> str:
        """The text shown to people: ``reconnecting (attempt n)`` or the state's name."""
        return f"reconnecting (attempt {attempt})" if self is SourceState.RECONNECTING else self.value

    @property
    def public(self) -> str:
        """The name a site shows and publishes (tiles, stats JSON, MQTT): ``live`` for a running source."""
        return "live" if self is SourceState.RUNNING else self.value

    @classmethod
    def from_public(cls, name: str) -> SourceState:
        """The state whose :attr:`public` name is ``name`` (a camera's state in figures sent by a worker process)."""
        return cls.RUNNING if name == "live" else cls(name)


@dataclass(slots=True)
class CaptureStats:
    captured: int = 0  # frames read from the source
    delivered: int = 0  # frames handed to the consumer
    dropped: int = 0  # live frames overwritten before the consumer took them
    skipped: int = 0  # unreadable images/frames and non-image files skipped
    reconnects: int = 0  # reconnections of a live source that delivered frames again
    lost: int = 0  # times a live source was lost (failed read or stall)
    repeated: int = 0  # frames decoded but not converted to a picture: handed on with the last one (Frame.repeat)
    stale: int = 0  # frames a live source had buffered while it opened, read at once and skipped (CONNECT_BURST_S)
    state: SourceState = SourceState.STARTING
    attempt: int = 0  # the current reconnection attempt while RECONNECTING

    @property
    def status(self) -> str:
        """The state as shown: ``running``, ``reconnecting (attempt 2)``, ``ended`` ..."""
        return self.state.describe(self.attempt)


class _Reader:
    """One connection to a live source, read in its own thread. Abandoned (not joined) when stuck."""

    def __init__(self, cap: cv2.VideoCapture, started: float):
        self.cap = cap
        self.last_frame = started  # monotonic time of the newest frame (or of the connection)
        self.frames = 0
        self.first_frame: float | None = None  # monotonic time of its first frame
        self.live = False  # a frame came that had to be waited for: the buffered frames of the opening are behind
        self.failure: str | None = None  # why the reader ended by itself
        self.abandoned = False
        self.done = threading.Event()
        self.thread: threading.Thread | None = None


def decode_threads_for(cameras: int) -> int:
    """FFmpeg decoding threads per stream for a site of ``cameras``: one camera, FFmpeg's choice (0: one per core);
    several, one each: the cameras are the parallelism, and FFmpeg's frame threads cost 10-30 % more CPU per frame and
    hold a frame back each (``docs/performance.md`` "Third pass")."""
    return 1 if cameras > 1 else 0


class Capture:
    """Owns a source in a reader thread. Use :meth:`read` to get frames and :meth:`stop` to end.

    realtime: a file plays at its own fps and drops stale frames like a live source (a live source always does).
    loop: replay a file or folder when it ends.
    stall_timeout: seconds without a new frame before a live source is considered lost.
    max_reconnects: give up after that many failed reconnection attempts in a row (None: forever).
    backoff: (first, cap) delay in seconds between reconnection attempts, doubled each time.
    open_timeout: seconds allowed for opening a stream.
    image_period: seconds each image of a folder/image source is held before the next (0: as fast as
    consumed; the window's --demo uses it as a slide show).
    backlog: realtime only: how many of the newest frames wait for a consumer that is a moment late (the
      oldest is dropped beyond that); 1 = only the newest frame.
    decode_threads: FFmpeg's decoding threads for a file or stream (0: FFmpeg's choice, one per core; a site's rule:
      :func:`decode_threads_for`).
    """

    def __init__(
        self,
        spec: SourceSpec | str | int,
        *,
        realtime: bool | None = None,
        loop: bool = False,
        stall_timeout: float = 5.0,
        max_reconnects: int | None = None,
        backoff: tuple[float, float] = (1.0, 30.0),
        open_timeout: float = 10.0,
        image_period: float = 0.0,
        backlog: int = 1,
        decode_threads: int = 0,
    ):
        if not stall_timeout > 0:
            raise ValueError(f"stall_timeout must be > 0 seconds, got {stall_timeout}")
        if max_reconnects is not None and max_reconnects < 0:
            raise ValueError(f"max_reconnects must be >= 0 or None (forever), got {max_reconnects}")
        if len(backoff) != 2 or not 0 < backoff[0] <= backoff[1]:
            raise ValueError(f"backoff must be (first, cap) seconds with 0 < first <= cap, got {backoff}")
        if not open_timeout > 0:
            raise ValueError(f"open_timeout must be > 0 seconds, got {open_timeout}")
        if not image_period >= 0:
            raise ValueError(f"image_period must be >= 0 seconds, got {image_period}")
        if int(backlog) != backlog or backlog < 1:
            raise ValueError(f"backlog must be a whole number of frames >= 1, got {backlog}")
        if int(decode_threads) != decode_threads or decode_threads < 0:
            raise ValueError(f"decode_threads must be a whole number >= 0 (0: FFmpeg's choice), got {decode_threads}")
        self.backlog = int(backlog)
        self.decode_threads = int(decode_threads)
        self.spec = spec if isinstance(spec, SourceSpec) else parse_source(spec)
        # a live source never waits for its consumer, whatever is asked: the stream goes on, and a reader that waited
        # would hand on ever older frames (a headless site's cameras, and their main streams, were opened with
        # realtime=False, meant for how files play). ``realtime`` only decides how a file plays.
        self.realtime = self.spec.is_live or bool(realtime)
        self.loop = loop
        self.stall_timeout = float(stall_timeout)
        self.max_reconnects = max_reconnects
        self.backoff = (float(backoff[0]), float(backoff[1]))
        self.open_timeout = float(open_timeout)
        self.image_period = float(image_period)
        self.stats = CaptureStats()
        self.fps: float | None = None
        self.frame_count: int | None = None  # known length of a file/folder (for progress bars)
        self.size: tuple[int, int] | None = None  # (width, height) of the first frame
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self._queue: collections.deque[Frame] = collections.deque()  # frames not yet taken, oldest first
        self._done = False  # reader finished (end, stop or failure)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cap: cv2.VideoCapture | None = None
        self._reader: _Reader | None = None
        self._abandoned: list[_Reader] = []
        self._t0 = time.monotonic()
        self._index = 0  # next live frame index (continues across reconnections)
        self._attempts = 0  # failed reconnection attempts in a row
        self._reconnecting = False
        self._images: list[Path] = []
        # a still picture's frames are decoded (the stream must be) but not converted to BGR before this monotonic
        # time: see skip_pixels_until; _picture is the last converted picture (kept while asked to skip), handed on
        # in their place
        self._skip_until = 0.0
        self._picture: np.ndarray | None = None
        self._open()

    # -- opening ------------------------------------------------------------------------------
    def _open_videocapture(self) -> cv2.VideoCapture:
        kind, target = self.spec.kind, self.spec.target
        if kind == "camera":
            cap = cv2.VideoCapture(int(target))
        else:
            params = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                int(self.open_timeout * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,  # a backstop that frees a reader the watchdog left behind
                int((self.stall_timeout + 1.0) * 1000),
            ]
            if self.decode_threads:
                params += [cv2.CAP_PROP_N_THREADS, self.decode_threads]
            cap = cv2.VideoCapture(str(target), cv2.CAP_FFMPEG, params)
        if kind in ("camera", "stream"):
            try:
                cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
            except cv2.error:
                pass
        return cap

    def _open(self) -> None:
        kind, name = self.spec.kind, self.spec.name
        if kind == "folder":
            try:
                self._images = list_images(self.spec.target)
                others = _other_files(self.spec.target)
            except OSError as exc:
                raise SourceError(f"cannot list folder {name}: {exc.strerror or exc} (check its permissions)") from None
            if not self._images:
                raise SourceError(f"no images in folder {name} (looked for {', '.join(sorted(IMAGE_EXTS))})")
            if others:
                self.stats.skipped += len(others)
                log.warning("skipping %d file(s) in %s that are not images (e.g. %s)", len(others), name, others[0].name)
            self.frame_count = len(self._images)
            return
        if kind == "image":
            self._images = [Path(self.spec.target)]
            if read_image(self._images[0]) is None:
                raise SourceError(f"cannot decode image {name}: the file is empty, truncated or not an image (try another file)")
            self.frame_count = 1
            return
        if kind == "video":
            try:
                if os.path.getsize(self.spec.target) == 0:
                    raise SourceError(f"cannot read video {name}: the file is empty (0 bytes)")
            except OSError as exc:
                raise SourceError(f"cannot read video {name}: {exc.strerror or exc}") from None
        cap = self._open_videocapture()
        if not cap.isOpened():
            cap.release()
            raise SourceError(self._open_failure_message())
        if kind == "video":
            ok, first = cap.read()
            if not ok or first is None:
                cap.release()
                raise SourceError(f"cannot read video {name}: no decodable frame (corrupt file or not a video; try another file)")
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            self.frame_count = n if n > 0 else None
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and 1 <= fps <= 240 else None
        self._cap = cap

    def _open_failure_message(self) -> str:
        kind, name = self.spec.kind, self.spec.name
        if kind == "camera":
            return (
                f"cannot open {name}: no such camera, or it is in use by another program "
                "(check the cable or try another index; no camera? --demo plays built-in photos)"
            )
        if kind == "stream":
            return (
                f"cannot open stream {name}: unreachable, wrong URL/credentials, or not a video stream "
                "(check it in a player such as ffplay or VLC)"
            )
        return f"cannot open video {name}: not a video file or an unsupported codec (try another file)"

    # -- reading ------------------------------------------------------------------------------
    def skip_pixels_until(self, when: float) -> None:
        """Until ``when`` (``time.monotonic()``), frames are decoded but not converted to a picture: each is handed
        on with the last converted one (``Frame.repeat``; when none is kept, the first frame after the ask is
        converted and kept). A camera whose picture stands still asks for this between two looks of its motion gate.
        Why: converting a decoded 720p frame to BGR costs 0.3-0.4 ms, more than decoding a frame of a still scene
        (0.2-0.25 ms). 0 (the default): every frame is converted."""
        self._skip_until = when

    def _next(self, cap: cv2.VideoCapture) -> tuple[bool, np.ndarray | None, bool]:
        """(ok, picture, repeat): the next frame of ``cap``, converted unless :meth:`skip_pixels_until` says not yet."""
        picture = self._picture
        if picture is not None and self._skip_until and time.monotonic() < self._skip_until:
            return cap.grab(), picture, True
        ok, img = cap.read()
        # kept only while asked to skip: a moving picture's frames are not held one frame longer than their consumer
        self._picture = img if self._skip_until and ok and img is not None and img.size else None
        return ok, img, False

    # -- thread -------------------------------------------------------------------------------
    def start(self) -> Capture:
        if self._thread is None:
            self._t0 = time.monotonic()
            self.stats.state = SourceState.RUNNING
            self._thread = threading.Thread(target=self._run, name=f"capture[{self.spec.name}]", daemon=True)
            self._thread.start()
        return self

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _publish(self, frame: Frame) -> bool:
        """Hand a frame on. Live: overwrite (count a drop). Files: wait for the consumer. False if stopped."""
        with self._cond:
            if self.realtime:
                while len(self._queue) >= self.backlog:
                    self._queue.popleft()
                    self.stats.dropped += 1
                self._queue.append(frame)
                self._cond.notify_all()
                return not self._stop.is_set()
            while self._queue and not self._stop.is_set():
                self._cond.wait(0.1)
            if self._stop.is_set():
                return False
            self._queue.append(frame)
            self._cond.notify_all()
            return True

    def _run(self) -> None:
        try:
            if self.spec.kind in ("folder", "image"):
                self._run_images()
            elif self.spec.is_live:
                self._run_live()
            else:
                self._run_file()
            if not self._stop.is_set():
                self.stats.state = SourceState.ENDED
        except BaseException as exc:  # reported to the consumer by read()
            self.error = exc
            self.stats.state = SourceState.FAILED
            log.error("capture of %s failed: %s", self.spec.name, mask_credentials(str(exc)))
        finally:
            if self._cap is not None:
                self._cap.release()
                self._cap = None
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _run_images(self) -> None:
        index = 0
        while not self._stop.is_set():
            for path in self._images:
                if self._stop.is_set():
                    return
                img = read_image(path)
                if img is None:
                    self.stats.skipped += 1
                    log.warning("skipped unreadable image %s (empty, truncated or not an image)", path.name)
                    continue
                self.stats.captured += 1
                if self.size is None:
                    self.size = (img.shape[1], img.shape[0])
                now = time.monotonic()
                frame = Frame(img, index, float(index), now, path.name, self.spec.name)
                index += 1
                if not self._publish(frame):
                    return
                if self.image_period and self._stop.wait(self.image_period):
                    return
            if self.stats.captured == 0:
                raise SourceError(
                    f"no decodable image in {self.spec.name} ({self.stats.skipped} file(s) skipped: empty, corrupt or not images)"
                )
            if not self.loop:
                return

    def _run_file(self) -> None:
        index = 0
        period = 1.0 / self.fps if (self.realtime and self.fps) else 0.0
        next_due = time.monotonic()
        pass_start = index  # frame index at which the current pass through the file began
        while not self._stop.is_set():
            ok, img, repeat = self._next(self._cap) if self._cap is not None else (False, None, False)
            if ok and img is not None and img.size:
                now = time.monotonic()
                pos = self._cap.get(cv2.CAP_PROP_POS_MSEC)
                # the position in the file; the first frame of a pass reports 0 (or nothing): count from the pass's
                # start, not from the first pass (a looped file's timestamps must not jump ahead)
                n = index - pass_start
                ts = pos / 1000.0 if pos and pos > 0 else (n / self.fps if self.fps else float(n))
                if self.size is None:
                    self.size = (img.shape[1], img.shape[0])
                self.stats.captured += 1
                self.stats.repeated += repeat
                if not self._publish(Frame(img, index, ts, now, None, self.spec.name, repeat)):
                    return
                index += 1
                if period:
                    next_due += period
                    delay = next_due - time.monotonic()
                    if delay > 0:
                        self._stop.wait(delay)
                    else:
                        next_due = time.monotonic()
                continue
            if self.loop and self.stats.captured:
                if self._cap is not None:
                    self._cap.release()
                self._cap = self._open_videocapture()  # reopening rewinds reliably for every container
                self._picture = None
                if not self._cap.isOpened():
                    raise SourceError(f"cannot reopen video {self.spec.name} to loop it (was it deleted or moved?)")
                log.info("reached the end of %s; looping", self.spec.name)
                pass_start = index
                continue
            return  # end of file (or of a truncated file: everything decodable was read)

    # -- live sources -------------------------------------------------------------------------
    def _run_live(self) -> None:
        cap, self._cap = self._cap, None
        while not self._stop.is_set():
            reader = self._start_reader(cap)
            reason = self._supervise(reader)
            if reason is None:  # stopped
                return
            self.stats.lost += 1
            log.warning("lost %s: %s", self.spec.name, reason)
            cap = self._reconnect()
            if cap is None:
                return

    def _start_reader(self, cap: cv2.VideoCapture) -> _Reader:
        self._picture = None  # a new connection: its first frame is converted
        reader = _Reader(cap, time.monotonic())
        reader.thread = threading.Thread(target=self._read_loop, args=(reader,), name=f"reader[{self.spec.name}]", daemon=True)
        self._reader = reader
        reader.thread.start()
        return reader

    def _read_loop(self, reader: _Reader) -> None:
        """Read one connection until it fails, is abandoned or the capture stops; then release it."""
        try:
            while not self._stop.is_set() and not reader.abandoned:
                t = time.monotonic()
                ok, img, repeat = self._next(reader.cap)
                now = time.monotonic()
                if reader.abandoned or self._stop.is_set():
                    break
                if not ok or img is None or not img.size:
                    reader.failure = "the source stopped delivering frames (read failed)"
                    break
                if now - t >= self.stall_timeout:  # FFmpeg's read timeout fired: whatever it returned is stale
                    reader.failure = f"no new frame for {now - t:.1f} s"
                    break
                reader.last_frame = now
                reader.frames += 1
                if reader.frames == 1:
                    reader.first_frame = now
                    self._connected()
                if self.size is None:
                    self.size = (img.shape[1], img.shape[0])
                if not reader.live:
                    waited = reader.frames > 1 and now - t >= 1.0 / (3.0 * (self.fps or 25.0))
                    reader.live = waited or now - reader.first_frame >= CONNECT_BURST_S
                    if not reader.live:  # buffered while the stream opened (CONNECT_BURST_S)
                        self.stats.stale += 1
                        continue
                self.stats.captured += 1
                self.stats.repeated += repeat
                frame = Frame(img, self._index, now - self._t0, now, None, self.spec.name, repeat)
                self._index += 1
                self._publish(frame)
        except Exception as exc:  # a driver error is a lost source, not a crash
            reader.failure = f"read error: {mask_credentials(str(exc))}"
        finally:
            try:
                reader.cap.release()
            except Exception:  # pragma: no cover - best effort
                pass
            reader.done.set()

    def _connected(self) -> None:
        """First frame of a connection: a reconnection is complete."""
        self._attempts = 0
        if self._reconnecting:
            self._reconnecting = False
            self.stats.reconnects += 1
            log.warning("reconnected to %s", self.spec.name)
        self.stats.state = SourceState.RUNNING

    def _supervise(self, reader: _Reader) -> str | None:
        """Watch a reader; return why its connection is lost, or None when the capture is stopped."""
        while True:
            if reader.done.wait(0.05):
                if self._stop.is_set():
                    return None
                return reader.failure or "the source closed the connection"
            if self._stop.is_set():
                return None
            idle = time.monotonic() - reader.last_frame
            if idle > self.stall_timeout:  # the reader is blocked in read(): leave it behind
                reader.abandoned = True
                self._abandoned = [r for r in self._abandoned if not r.done.is_set()] + [reader]
                if len(self._abandoned) > 1:
                    log.warning("%d stuck reads of %s are still blocked", len(self._abandoned), self.spec.name)
                return f"no new frame for {idle:.1f} s"

    def _reconnect(self) -> cv2.VideoCapture | None:
        """Reopen the lost live source with backoff. None if stopped; SourceError when out of attempts."""
        self._reconnecting = True
        first, cap_delay = self.backoff
        while not self._stop.is_set():
            self._attempts += 1
            attempt = self._attempts
            if self.max_reconnects is not None and attempt > self.max_reconnects:
                raise SourceError(
                    f"lost {self.spec.name} and could not reconnect after {self.max_reconnects} attempt(s) "
                    "(check the camera/stream, or raise --max-reconnects)"
                )
            delay = min(first * 2 ** (attempt - 1), cap_delay)
            self.stats.attempt = attempt  # before the state: a reader never sees attempt 0
            self.stats.state = SourceState.RECONNECTING
            log.warning("%s: reconnecting (attempt %d) in %.1f s", self.spec.name, attempt, delay)
            if self._stop.wait(delay):
                return None
            cap = self._open_videocapture()
            if self._stop.is_set():
                cap.release()
                return None
            if cap.isOpened():
                return cap
            cap.release()
        return None

    # -- consumer side ------------------------------------------------------------------------
    def read(self, timeout: float | None = None) -> Frame | None:
        """The next frame not yet taken (the newest one unless ``backlog`` > 1). Blocks until one arrives.

        Returns None when the source has ended or was stopped (or on timeout); raises the reader's
        error if the source failed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._queue and not self._done:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining if remaining is not None else 0.25)
            frame = self._queue.popleft() if self._queue else None
            if frame is not None:
                self.stats.delivered += 1
                self._cond.notify_all()
                return frame
        if self.error is not None:
            if isinstance(self.error, SourceError):
                raise self.error
            raise SourceError(f"reading {self.spec.name} failed: {mask_credentials(str(self.error))}") from None
        return None

    @property
    def finished(self) -> bool:
        with self._cond:
            return self._done and not self._queue

    def stop(self, timeout: float = 1.0) -> None:
        """Stop reading and release the source; returns within about ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(max(deadline - time.monotonic(), 0.0))
        reader = self._reader
        if reader is not None and reader.thread is not None:
            reader.thread.join(max(deadline - time.monotonic(), 0.0))
            if reader.thread.is_alive():
                log.warning("a read of %s is still blocked; it is released when it returns", self.spec.name)
        if self._thread is None or not self._thread.is_alive():
            if self._cap is not None:
                self._cap.release()
                self._cap = None
        if self.stats.state in (SourceState.RUNNING, SourceState.STARTING, SourceState.RECONNECTING):
            self.stats.state = SourceState.STOPPED
