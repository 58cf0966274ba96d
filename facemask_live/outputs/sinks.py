"""Where results go: detections JSONL, event logs, annotated video, snapshots.

Every sink has the same small interface, :class:`Sink`: ``write(result, annotated)`` for each processed
frame (``annotated`` is the drawn frame, or None unless a sink sets ``needs_annotated``) and ``close()``;
none needs Qt. A sink that also has ``set_status(state)`` (:class:`StatusSink`) is told each change of the
source's :class:`~facemask_live.sources.capture.SourceState`. The runner feeds a list of them. Files are flushed as they are
written (JSONL/CSV per record) so that a killed process loses nothing already recorded, and the video
writer is finalised by :meth:`close` (called on every exit path by the runner).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from facemask_live.core.errors import OutputError
from facemask_live.core.results import Event, FrameResult
from facemask_live.sources.capture import SourceState

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Where results go. ``stopped_reason``: why the sink stopped writing (e.g. a full disk), else None."""

    needs_annotated: bool
    stopped_reason: str | None

    def write(self, result: FrameResult, annotated: np.ndarray | None) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class StatusSink(Protocol):
    """A sink that also publishes where its source stands (e.g. MQTT): the runner calls ``set_status`` on a change."""

    def set_status(self, state: SourceState) -> None: ...


def ensure_dir(path: str | Path, what: str) -> Path:
    """Create ``path`` if needed and prove it is writable, or raise OutputError naming ``what``."""
    p = Path(path).expanduser()
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=p, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write {what} folder {p}: {exc.strerror or exc} (choose another folder)") from None
    return p


def write_json(path: str | Path, data, what: str = "file") -> Path:
    """Write ``data`` as indented JSON (a stats, figures or benchmark file); OutputError when it cannot be written."""
    p = Path(path).expanduser()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {what} {path}: {exc.strerror or exc} (choose a writable path)") from None
    return p


def open_for_append(path: str | Path, what: str, newline: str | None = None):
    p = Path(path).expanduser()
    if p.parent != Path("."):
        ensure_dir(p.parent, what)
    try:
        drop_torn_tail(p, what)
        return open(p, "a", encoding="utf-8", newline=newline)
    except OSError as exc:
        raise OutputError(f"cannot write {what} file {p}: {exc.strerror or exc} (choose another path)") from None


def drop_torn_tail(path: Path, what: str) -> int:
    """Cut a torn last line (a run killed in the middle of writing it) off a line log before appending to it,
    so that the next record does not glue onto it; returns the bytes cut (one line logged when any)."""
    try:
        fh = open(path, "r+b")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        return 0
    with fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        start = max(0, size - (1 << 20))  # a record is far shorter than 1 MiB
        fh.seek(start)
        tail = fh.read()
        cut = tail.rfind(b"\n")
        keep = start + cut + 1 if cut >= 0 else (0 if start == 0 else size)
        fh.truncate(keep)
    log.warning("%s %s: dropped a torn last line of %d bytes (a run was stopped while writing it)", what, path, size - keep)
    return size - keep


def face_record(face) -> dict:
    rec = {
        "box": list(face.box),
        "label": face.label,
        "score": round(face.prob, 4),
        "probs": {k: round(v, 4) for k, v in face.probs.items()},
        "detector_score": round(face.score, 4),
    }
    if face.quality is not None:
        rec["quality"] = face.quality.record()
    if face.track_id is not None:
        rec["track"] = face.track_id
    rec["track_label"] = face.track_label
    return rec


def frame_record(result: FrameResult) -> dict:
    f = result.frame
    camera = {"camera": result.camera} if result.camera is not None else {}  # only in a multi-camera site
    return {
        **camera,
        "source": f.source,
        "frame": f.index,
        "file": f.file,
        "t": round(f.timestamp, 3),
        "faces": [face_record(face) for face in result.faces],
    }


class DetectionsWriter:
    """One JSON record per processed frame or image (also frames without faces)."""

    needs_annotated = False

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh = open_for_append(path, "detections")
        self._fh.truncate(0)
        self.stopped_reason: str | None = None

    def write(self, result: FrameResult, annotated: np.ndarray | None = None) -> None:
        if self.stopped_reason:
            return
        try:
            self._fh.write(json.dumps(frame_record(result), separators=(",", ":")) + "\n")
            self._fh.flush()
        except OSError as exc:  # e.g. a full disk: stop this log, keep running, say so
            self.stopped_reason = f"writing detections to {self.path} stopped: {exc.strerror or exc}"
            log.error(self.stopped_reason)

    def close(self) -> None:
        self._fh.close()


EVENT_FIELDS = ["time", "iso_time", "source", "track_id", "label", "confidence", "frame", "box", "snapshot", "crop", "camera",
                "escalated"]  # last: a CSV written before it keeps its columns


def event_record(ev: Event) -> dict:
    return {
        "time": round(ev.time, 3),
        "iso_time": datetime.fromtimestamp(ev.time).isoformat(timespec="milliseconds"),
        "source": ev.source,
        "track_id": ev.track_id,
        "label": ev.label,
        "confidence": round(ev.confidence, 4),
        "frame": ev.frame,
        "box": list(ev.box),
        "snapshot": ev.snapshot,
        "crop": ev.crop,
        "camera": ev.camera,
        "escalated": ev.escalated,  # still in view escalate_after seconds after their event (issue 29)
    }


class EventLog:
    """Appends one record per violation event to a .jsonl or .csv file, flushed and fsynced per event."""

    needs_annotated = False

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.csv = self.path.suffix.lower() == ".csv"
        is_new = not self.path.exists() or self.path.stat().st_size == 0
        self._fh = open_for_append(path, "event log", newline="" if self.csv else None)
        self._writer = csv.DictWriter(self._fh, fieldnames=EVENT_FIELDS) if self.csv else None
        self.stopped_reason: str | None = None
        if self._writer and is_new:
            self._writer.writeheader()
            self._fh.flush()

    def write(self, result: FrameResult, annotated: np.ndarray | None = None) -> None:
        """The events of one frame (usually none)."""
        for ev in result.events:
            self.write_event(ev)

    def write_event(self, ev: Event) -> None:
        if self.stopped_reason:
            return
        rec = event_record(ev)
        try:
            if self._writer:
                rec["box"] = " ".join(map(str, rec["box"]))
                self._writer.writerow(rec)
            else:
                self._fh.write(json.dumps(rec) + "\n")
            self._fh.flush()
        except OSError as exc:  # e.g. a full disk: stop this log, keep running, say so
            self.stopped_reason = f"writing events to {self.path} stopped: {exc.strerror or exc}"
            log.error(self.stopped_reason)
            return
        try:
            os.fsync(self._fh.fileno())
        except OSError:
            pass

    def close(self) -> None:
        self._fh.close()


def timestamp_name(prefix: str, frame_index: int) -> str:
    now = time.time()
    stamp = datetime.fromtimestamp(now).strftime("%Y%m%d-%H%M%S") + f"-{int(now * 1000) % 1000:03d}"
    return f"{prefix}_{stamp}_f{frame_index:06d}"


def write_png(path: Path, image: np.ndarray) -> None:
    """Write a PNG under a temporary name, then rename it: a run killed meanwhile never leaves half a picture
    under a name an event (or the report) would use."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}")  # the same extension: OpenCV picks the format by it
    try:
        ok = cv2.imwrite(str(tmp), image)
        if ok:
            os.replace(tmp, path)
    except (cv2.error, OSError):
        ok = False
    if not ok:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # a read-only folder: nothing was written there either
            pass
        raise OutputError(f"cannot write snapshot {path} (folder missing, read-only or disk full)")


def save_snapshot(
    folder: str | Path, annotated: np.ndarray, raw: np.ndarray | None, frame_index: int, prefix: str = "snapshot"
) -> tuple[Path, Path | None]:
    """Write the annotated frame (and the raw frame) as timestamped PNGs; returns their paths."""
    folder = Path(folder)
    base = timestamp_name(prefix, frame_index)
    ann_path = folder / f"{base}.png"
    write_png(ann_path, annotated)
    raw_path = None
    if raw is not None:
        raw_path = folder / f"{base}_raw.png"
        write_png(raw_path, raw)
    return ann_path, raw_path


class VideoSink:
    """Writes annotated frames to a video file; finalised by close(). Stops (and says so) on a full disk."""

    MIN_FREE_BYTES = 64 * 1024 * 1024
    needs_annotated = True

    def __init__(self, path: str | Path, fps: float | None):
        self.path = Path(path).expanduser()
        if self.path.parent != Path("."):
            ensure_dir(self.path.parent, "output video")
        if self.path.exists() and not os.access(self.path, os.W_OK):
            raise OutputError(f"cannot write output video {self.path}: permission denied")
        self.fps = fps or 25.0
        self._writer: cv2.VideoWriter | None = None
        self.frames = 0
        self.stopped_reason: str | None = None
        fourcc = {".avi": "MJPG", ".mkv": "MJPG"}.get(self.path.suffix.lower(), "mp4v")
        self._fourcc = cv2.VideoWriter_fourcc(*fourcc)

    def _disk_full(self) -> bool:
        """True when the disk has no room left for a few more frames and the file's index (written on close).

        OpenCV's writer does not report a failed write, so the free space is checked before every frame:
        a video cut off by a full disk would not play at all, one stopped here plays to its last frame.
        """
        try:
            size = self.path.stat().st_size
            free = shutil.disk_usage(self.path.parent if str(self.path.parent) else ".").free
        except OSError:
            return False
        frame_bytes = max(size - self._last_size, self._frame_bytes)  # the largest growth per frame seen
        self._frame_bytes, self._last_size = frame_bytes, size
        reserve = min(self.MIN_FREE_BYTES, 8 * frame_bytes + 64 * self.frames + 256 * 1024)
        return free < reserve

    def set_fps(self, fps: float | None) -> None:
        """The source's frame rate, once it is open (before the first frame is written)."""
        if fps and self._writer is None:
            self.fps = fps

    def write(self, result: FrameResult | None, annotated: np.ndarray | None) -> None:
        """Append the annotated frame (``result`` is not needed: the drawing has everything)."""
        if self.stopped_reason or annotated is None:
            return
        image = annotated
        if self._writer is None:
            h, w = image.shape[:2]
            self._writer = cv2.VideoWriter(str(self.path), self._fourcc, self.fps, (w, h))
            if not self._writer.isOpened():
                self._writer = None
                raise OutputError(
                    f"cannot create output video {self.path} (unsupported extension or unwritable folder; try .mp4 or .avi)"
                )
            self._size = (w, h)
            self._last_size, self._frame_bytes = 0, w * h // 4  # until measured: a generous guess
        if (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size)
        if self._disk_full():
            self.stopped_reason = (
                f"recording to {self.path} stopped after {self.frames} frames: the disk is full (free some space)"
            )
            log.error(self.stopped_reason)
            self.close()
            return
        self._writer.write(image)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
