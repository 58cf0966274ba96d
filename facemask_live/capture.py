"""Threaded capture: a reader thread owns the source and always hands on the newest frame.

Live sources (webcams, RTSP/HTTP streams) overwrite an unconsumed frame and count it as dropped, so
the consumer never falls behind. Files and image folders are read frame by frame without dropping,
unless ``realtime=True`` makes a file play at its own frame rate like a live source. A live source
that stops delivering frames is closed and reopened with exponential backoff.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from .errors import SourceError
from .results import Frame

log = logging.getLogger(__name__)

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".jp2", ".pgm", ".ppm", ".pbm"}
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
_CRED_RE = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/\s]*):(?P<pw>[^@/\s]*)@")


def mask_credentials(text: str) -> str:
    """Replace passwords in any URL inside ``text`` by ``***`` (``rtsp://user:***@host/...``)."""
    return _CRED_RE.sub(lambda m: f"{m['scheme']}{m['user']}:***@", str(text))


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
    """Read any image as 3-channel BGR uint8 (grayscale and RGBA converted); None if not decodable."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        return None
    return img


def list_images(folder: str | Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


@dataclass(slots=True)
class CaptureStats:
    captured: int = 0  # frames read from the source
    delivered: int = 0  # frames handed to the consumer
    dropped: int = 0  # live frames overwritten before the consumer took them
    skipped: int = 0  # unreadable images/frames skipped
    reconnects: int = 0  # successful reopenings of a live source
    status: str = "starting"  # starting | running | reconnecting (attempt n) | ended | stopped | failed


class Capture:
    """Owns a source in a reader thread. Use :meth:`read` to get frames and :meth:`stop` to end.

    realtime: drop stale frames (default for live sources; for files it plays at the file's fps).
    loop: replay a file or folder when it ends.
    stall_timeout: seconds without a new frame before a live source is considered lost.
    max_reconnects: give up after that many failed reconnection attempts in a row (None: forever).
    backoff: (first, cap) delay in seconds between reconnection attempts, doubled each time.
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
    ):
        self.spec = spec if isinstance(spec, SourceSpec) else parse_source(spec)
        self.realtime = self.spec.is_live if realtime is None else realtime
        self.loop = loop
        self.stall_timeout = stall_timeout
        self.max_reconnects = max_reconnects
        self.backoff = backoff
        self.open_timeout = open_timeout
        self.stats = CaptureStats()
        self.fps: float | None = None
        self.frame_count: int | None = None  # known length of a file/folder (for progress bars)
        self.size: tuple[int, int] | None = None  # (width, height) of the first frame
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self._slot: Frame | None = None  # newest frame not yet taken
        self._done = False  # reader finished (end, stop or failure)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cap: cv2.VideoCapture | None = None
        self._t0 = time.monotonic()
        self._images: list[Path] = []
        self._open()

    # -- opening ------------------------------------------------------------------------------
    def _open_videocapture(self) -> cv2.VideoCapture:
        kind, target = self.spec.kind, self.spec.target
        if kind == "camera":
            cap = cv2.VideoCapture(int(target))
        else:
            ms = int(self.open_timeout * 1000)
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.stall_timeout * 1000)]
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
            self._images = list_images(self.spec.target)
            if not self._images:
                raise SourceError(f"no images in folder {name} (looked for {', '.join(sorted(IMAGE_EXTS))})")
            self.frame_count = len(self._images)
            return
        if kind == "image":
            self._images = [Path(self.spec.target)]
            if read_image(self._images[0]) is None:
                raise SourceError(f"cannot decode image {name}: the file is empty, truncated or not an image")
            self.frame_count = 1
            return
        cap = self._open_videocapture()
        if not cap.isOpened():
            cap.release()
            raise SourceError(self._open_failure_message())
        if kind == "video":
            ok, first = cap.read()
            if not ok or first is None:
                cap.release()
                raise SourceError(f"cannot read video {name}: no decodable frame (corrupt file or not a video)")
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            self.frame_count = n if n > 0 else None
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and 1 <= fps <= 240 else None
        self._cap = cap

    def _open_failure_message(self) -> str:
        kind, name = self.spec.kind, self.spec.name
        if kind == "camera":
            return f"cannot open {name}: no such camera, or it is in use by another program (try another index)"
        if kind == "stream":
            return f"cannot open stream {name}: unreachable, wrong URL/credentials, or not a video stream (check it in a player such as ffplay/VLC)"
        return f"cannot open video {name}: not a video file or an unsupported codec"

    # -- thread -------------------------------------------------------------------------------
    def start(self) -> Capture:
        if self._thread is None:
            self._t0 = time.monotonic()
            self.stats.status = "running"
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
                if self._slot is not None:
                    self.stats.dropped += 1
                self._slot = frame
                self._cond.notify_all()
                return not self._stop.is_set()
            while self._slot is not None and not self._stop.is_set():
                self._cond.wait(0.1)
            if self._stop.is_set():
                return False
            self._slot = frame
            self._cond.notify_all()
            return True

    def _run(self) -> None:
        try:
            if self.spec.kind in ("folder", "image"):
                self._run_images()
            else:
                self._run_video()
            if not self._stop.is_set():
                self.stats.status = "ended"
        except BaseException as exc:  # reported to the consumer by read()
            self.error = exc
            self.stats.status = "failed"
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
                    log.warning("skipped unreadable image %s", path.name)
                    continue
                self.stats.captured += 1
                now = time.monotonic()
                frame = Frame(img, index, float(index), now, path.name, self.spec.name)
                index += 1
                if not self._publish(frame):
                    return
            if not self.loop or self.stats.captured == 0:
                return

    def _run_video(self) -> None:
        index = 0
        period = 1.0 / self.fps if (self.realtime and not self.spec.is_live and self.fps) else 0.0
        next_due = time.monotonic()
        failures = 0
        while not self._stop.is_set():
            ok, img = self._cap.read() if self._cap is not None else (False, None)
            if ok and img is not None and img.size:
                failures = 0
                now = time.monotonic()
                if self.spec.is_live:
                    ts = now - self._t0
                else:
                    pos = self._cap.get(cv2.CAP_PROP_POS_MSEC)
                    ts = pos / 1000.0 if pos and pos > 0 else (index / self.fps if self.fps else float(index))
                if self.size is None:
                    self.size = (img.shape[1], img.shape[0])
                self.stats.captured += 1
                if not self._publish(Frame(img, index, ts, now, None, self.spec.name)):
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
            if not self.spec.is_live:
                if self.loop and self.stats.captured:
                    self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    if self._cap.read()[0]:
                        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                        continue
                    self._cap.release()
                    self._cap = self._open_videocapture()
                    continue
                return  # end of file (or a truncated file: everything decodable was read)
            failures += 1
            if not self._reconnect():
                return

    def _reconnect(self) -> bool:
        """Close the lost live source and reopen it with backoff. False if stopped or out of attempts."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        delay, cap_delay = self.backoff
        attempt = 0
        while not self._stop.is_set():
            attempt += 1
            if self.max_reconnects is not None and attempt > self.max_reconnects:
                raise SourceError(
                    f"lost {self.spec.name} and could not reconnect after {self.max_reconnects} attempts"
                )
            self.stats.status = f"reconnecting (attempt {attempt})"
            log.warning("lost %s; reconnecting (attempt %d) in %.1f s", self.spec.name, attempt, delay)
            if self._stop.wait(delay):
                return False
            cap = self._open_videocapture()
            if cap.isOpened():
                ok, img = cap.read()
                if ok and img is not None:
                    self._cap = cap
                    self.stats.reconnects += 1
                    self.stats.status = "running"
                    log.warning("reconnected to %s after %d attempt(s)", self.spec.name, attempt)
                    now = time.monotonic()
                    self.stats.captured += 1
                    idx = self.stats.captured + self.stats.skipped
                    return self._publish(Frame(img, idx, now - self._t0, now, None, self.spec.name))
            cap.release()
            delay = min(delay * 2, cap_delay)
        return False

    # -- consumer side ------------------------------------------------------------------------
    def read(self, timeout: float | None = None) -> Frame | None:
        """The newest frame not yet taken. Blocks until one arrives.

        Returns None when the source has ended or was stopped (or on timeout); raises the reader's
        error if the source failed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._slot is None and not self._done:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining if remaining is not None else 0.25)
            frame, self._slot = self._slot, None
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
            return self._done and self._slot is None

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._thread is None or not self._thread.is_alive():
            if self._cap is not None:
                self._cap.release()
                self._cap = None
        if self.stats.status in ("running", "starting") or self.stats.status.startswith("reconnecting"):
            self.stats.status = "stopped"


os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # keep FFmpeg's own chatter off the terminal
