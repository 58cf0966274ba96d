"""A site: many cameras in one process, ONE shared face detector and classifier, a CPU budget.

Long because the camera loop and the scheduler share locking rules that read best side by side.

Threads::

    capture thread per camera ──newest frame──▶ camera thread (one per camera)
      (reconnects, loops files,                    motion gate ─▶ optical flow carries the boxes
       plays files at their fps)                   ─▶ zones ─▶ tracker ─▶ events ─▶ sinks / on_result
                                                      │ offer the newest frame when a detection is due ▲
                                                      ▼                                                │
                                         detector thread (ONE for the site): picks the camera that has │
                                         waited longest, detects + classifies its frame ───────────────┘

A camera thread never waits for the detector: every frame gets boxes at once (carried from the previous
frame by optical flow, :class:`~facemask_live.engine.pipeline.BoxFlow`); a detection that comes back for an
older frame is carried forward to the current frame by one more optical-flow step. Detection is due
every ``1 / detect_fps`` seconds per camera, and only while the camera's picture moves
(:mod:`facemask_live.sources.motion`): a still picture runs no detector (and no optical flow), except every
``still_detect_s`` seconds while faces are in view, so standing people stay tracked. When the cameras
together ask for more than the detector can do, they are served in turn (oldest offer first), so all
slow down evenly, and while the detector is that far behind (``BEHIND_WAIT_S``) each camera moves its boxes by
optical flow on every second frame only and holds them on the others; ``detector_load`` caps the share of wall
time the detector may run.

The detector and the classifier are called from the one detector thread only: neither is thread-safe
(the classifier reuses its batch buffer, the RetinaFace detector caches anchors of one frame size).

Two cadences, chosen per source. A live source (a camera, a stream, a file played in real time) follows the
rate and motion rules above. A file processed frame by frame (headless, evaluate, cliptruth: deterministic) is
located frame by frame: every ``detect_every``-th frame by the detector, the frames between by optical flow,
and the camera waits for each of its frames; it hands its next frame to the detector thread before it tracks,
draws and writes this one, so detection of frame n+1 runs beside the rest of frame n (what one camera needs
to be fast on two cores). A site of one camera is what ``--source`` runs: one engine for one camera or many.

A camera whose source cannot be opened, fails or ends shows it in its ``state`` and (except a file that
ended) is reopened with backoff in its own thread; the others are not affected.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import resource
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from facemask_live.core.config import DetectorSettings, QualitySettings
from facemask_live.core.errors import FacemaskError, SourceError
from facemask_live.core.results import UNKNOWN_LABEL, Face, Frame, FrameResult
from facemask_live.core.zones import ZoneFilter, ZoneSettings, draw_zones
from facemask_live.engine.pipeline import BoxFlow, Located, Pipeline, carry_labels
from facemask_live.outputs.annotate import annotate
from facemask_live.sources.capture import Capture, SourceState, mask_credentials, parse_source
from facemask_live.sources.dual import main_result, main_stream_sinks, open_capture
from facemask_live.sources.motion import MotionGate, MotionSettings

log = logging.getLogger(__name__)

DEFAULT_DETECT_FPS = DetectorSettings.detect_fps  # one default, in the settings
AGE_SAMPLES = 20000  # frame ages kept per camera for the percentiles
FIRST_LOOK_S = 2.0  # the longest a new scene's first frame waits for its detection (Camera._first_look)
# when more cameras are due than the detector can serve, one with people in view goes first unless another has
# waited this much longer: people are looked at more often, an empty (but moving) picture still in turn
PEOPLE_HEAD_START_S = 0.5
# a camera waiting for its first look at a new scene shows nothing meanwhile: it goes before every other camera.
# Why: 32 cameras starting together lost up to 0.8 s of frames each while the cameras already looked at (people in
# view, PEOPLE_HEAD_START_S) went first
FIRST_LOOK_HEAD_START_S = 60.0
# The detector is behind when the camera it takes next had waited this long: its cameras then carry their boxes by
# optical flow on every second frame only (Camera._locate). Why: past 16 cameras on two cores the per-frame work of
# 800 frames a second starves the detector, and a box held for one frame (40 ms) costs less than a detection
# missed; a site that keeps up (the detector idles between offers) moves its boxes on every frame
BEHIND_WAIT_S = 0.1
# a gap between two live frames longer than this (a pause, a stalled stream) counts this much towards the time
# people were in view
PEOPLE_GAP_S = 0.5


def cpu_seconds() -> float:
    """CPU time (user + system) of this process, all threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@dataclass(frozen=True)
class CameraSpec:
    """One camera of a site, as the engine runs it: built by :func:`facemask_live.engine.build.camera_spec` from
    the checked :class:`~facemask_live.core.config.Settings` (so no checks of its own: one settings path).

    source: webcam index, stream URL, video file, image or folder (as ``--source``).
    realtime: files play at their own frame rate like cameras (False: every frame, the capture waits).
    detect_fps: detector runs per second for this camera while its picture moves.
    retry_s: (first, cap) seconds between attempts to reopen a source that cannot be opened or failed.
    backlog: frames that may wait for the camera's thread while it is a moment late (a busy machine), beyond
      which the oldest is dropped; bounds the frame age to about backlog frame periods.
    """

    name: str
    source: str
    loop: bool = False
    realtime: bool = True
    detect_fps: float = DEFAULT_DETECT_FPS
    zones: ZoneSettings = field(default_factory=ZoneSettings)
    motion: MotionSettings = field(default_factory=MotionSettings)
    stall_timeout: float = 5.0
    max_reconnects: int | None = None
    retry_s: tuple[float, float] = (1.0, 30.0)
    backlog: int = 3
    quality: QualitySettings | None = None  # the quality gate (None: every face is judged), as for one camera
    detect_every: int = 1  # a file processed frame by frame: the detector on every Nth frame, optical flow between
    max_frames: int | None = None  # stop after this many processed frames (None: when the source ends)
    image_period: float = 0.0  # seconds each still image stays up when played in real time (the demo)
    fail_fast: bool = False  # a first open that fails ends the camera with its error (one camera: the app exits)
    detect_source: str | None = None  # the camera's substream: detection and the tile use it (sources/dual.py)
    decode_threads: int = 0  # FFmpeg decoding threads per stream (0: FFmpeg's choice; a site of several cameras: 1)
    enlarge: bool = True  # False: frames smaller than the detector's input are detected at their own size (substream)

    @property
    def frame_by_frame(self) -> bool:
        """The file cadence: a video processed frame by frame (not played like a camera), or still images."""
        kind = source_kind(self.source)
        # still images always: each photo is detected afresh, nothing carried from the photo before it
        return kind in ("image", "folder") or (not self.realtime and kind == "video")


@dataclass(frozen=True)
class SiteSettings:
    """Site-wide engine settings.

    detector_load: the most of the wall time the shared detector may run (1.0: back to back).
    annotate: draw boxes (and zones, with ``show_zones``) for the sinks and ``on_result``.
    opencv_threads: the cameras work in parallel already; OpenCV's pool would spin on every small call
      (measured on 8 still cameras: CPU 1.65x decoding only with the default pool, 1.16x with 1 thread).
      Raise it for OpenCV's SSD detector, which runs on that pool.
    """

    detector_load: float = 1.0
    annotate: bool = False
    show_zones: bool = False
    opencv_threads: int | None = 1  # OpenCV's own thread pool (process-wide, set by start(); None: leave it)
    lookahead: bool = True  # file cadence: locate the next frame while this one is tracked, drawn and written


@dataclass(slots=True)
class Detection:
    """What the detector thread hands back to a camera: labelled faces of one of its frames."""

    frame_index: int
    faces: list[Face]
    flow: BoxFlow  # remembers the detected frame: carries the faces to the camera's current frame
    timings: dict[str, float]


def carry_face(moved: Face, src: Face, carried: int = 0) -> Face:
    """A new face at ``moved``'s box with ``src``'s detector score and labels, shown ``carried`` frames before."""
    return Face(box=moved.box, score=src.score, label=src.label, prob=src.prob, probs=src.probs, quality=src.quality,
                carried=carried)


class Camera:
    """One camera's thread and state: capture, motion gate, carried boxes, zones, tracker, monitor, sinks."""

    def __init__(self, spec: CameraSpec, site: Site, *, tracker=None, monitor=None, sinks: Sequence = (),
                 detector=None, classifier=None):
        self.spec = spec
        self.name = spec.name
        self.site = site
        self.tracker = tracker
        self.monitor = monitor
        # a camera with two streams: recordings draw on its main stream (sources/dual.py)
        self.sinks = main_stream_sinks(spec, list(sinks), lambda: self.capture, annotate)
        self.two_streams = bool(spec.detect_source)
        if monitor is not None and self.two_streams and monitor.snapshot_dir is not None:
            # a violator's snapshot comes from the main stream (no snapshots written: the main stream stays shut)
            monitor.full_view = lambda result: main_result(self.capture, result)
        # decided once, not per frame: parse_source looks at the file system
        self.frame_by_frame = spec.frame_by_frame
        self.live = source_kind(spec.source) in ("camera", "stream")
        self.annotate = site.settings.annotate or any(getattr(s, "needs_annotated", False) for s in self.sinks)
        # a still picture's frames between two looks of the motion gate need not be converted to pixels: nothing
        # uses them but a drawing of every frame (a recording, --annotate) or the file cadence (every frame counts)
        self._may_skip_pixels = not self.frame_by_frame and not self.annotate
        self._sparse = False  # the capture was asked to skip the pixels until the gate's next look
        # detect + classify (+ the quality verdicts), run by the site's detector thread
        self.pipeline = Pipeline(detector or site.detector, classifier or site.classifier, quality=spec.quality,
                                 detect_every=spec.detect_every, enlarge=spec.enlarge)
        self.gate = MotionGate(spec.motion)
        self.zones = ZoneFilter(spec.zones)
        self.capture: Capture | None = None
        self.state = SourceState.STARTING
        self.attempt = 0  # while reconnecting: the attempt number
        self.error: str | None = None
        self.exception: FacemaskError | None = None  # what stopped a file for good (a front end may raise it)
        self.paused = threading.Event()  # set: frames are not processed (a live source drops them as usual)
        self.faces_by_label: dict[str, int] = {}
        self.video_note: str | None = None  # why a recording stopped (e.g. a full disk)
        self._ahead: tuple[Frame, _Job] | None = None
        self._opened_once = False
        self._fresh_from: int | None = None
        self._delivered = threading.Event()  # set by the detector thread with each detection  # file cadence: the frame being located while this one finishes
        self.next_due = 0.0  # monotonic time from which the next detection may be offered (set by the site)
        self.detector_runs = 0
        self.processed = 0
        self.events = 0
        self.ages_ms: collections.deque[float] = collections.deque(maxlen=AGE_SAMPLES)
        self.fps = 0.0  # processed frames per second over the last second or so
        self._faces: list[Face] = []
        self._carried = 0  # frames that showed the labels of the last detection (see Face.carried)
        self._flow = BoxFlow()
        self._flowed = False  # the last frame's boxes were moved by optical flow
        self.flow_held = 0  # frames whose boxes were held, not moved, while the detector was behind
        # live cadence: seconds with faces in view, and the detections that came meanwhile. Why: the scheduler looks
        # at a camera with people first, so its rate over the whole run mixes the looks people get with the fewer
        # an empty picture gets; this is how often a person in view is looked at (detect_per_s_with_people)
        self.people_s = 0.0
        self.people_looks = 0
        self._frame_at: float | None = None  # monotonic time of the last live frame processed
        self._last_detect = -1e9
        self._detection: Detection | None = None
        self._still: list[Face] | None = None  # a still picture's faces after tracking, reused while nothing moves
        self._lock = threading.Lock()
        self._captured_before = self._dropped_before = self._skipped_before = 0  # counts of captures closed earlier
        self._repeated_before = self._stale_before = 0
        self._reconnects_seen = 0
        self._fps_mark = (time.monotonic(), 0)
        self.first_frame_at: float | None = None  # monotonic times of the first and the latest processed frame
        self.last_frame_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"camera[{spec.name}]", daemon=True)

    # -- detector side (called from the detector thread) --------------------------------------------
    def deliver(self, detection: Detection) -> None:
        with self._lock:
            self._detection = detection
            self.detector_runs += 1
        self._delivered.set()

    def _first_look(self, frame: Frame) -> Detection | None:
        """The first frame of a new scene (a connection, the end of a pause) waits for its own detection, at most
        ``FIRST_LOOK_S``: a stream often hands over seconds of buffered frames at once when it connects, and none of
        them should be shown without boxes while the detector's first answer is on its way."""
        deadline = time.monotonic() + FIRST_LOOK_S
        self._delivered.clear()
        self.site.offer(self, frame, first=True)
        while time.monotonic() < deadline and not self._stop.is_set() and not self.site.stopping:
            if self._delivered.wait(0.05):
                self._delivered.clear()
                det = self._take_detection()
                if det is not None and det.frame_index >= frame.index:
                    return det
                self.site.offer(self, frame, first=True)  # an answer for a frame before the new scene: ask again
        return None

    def _take_detection(self) -> Detection | None:
        with self._lock:
            det, self._detection = self._detection, None
            return det

    # -- capture ---------------------------------------------------------------------------------------
    def _open(self) -> bool:
        spec = self.spec
        try:
            self.capture = open_capture(  # a Capture, or a DualCapture with a detect_source (sources/dual.py)
                spec, realtime=spec.realtime, loop=spec.loop,
                stall_timeout=spec.stall_timeout, max_reconnects=spec.max_reconnects, backlog=spec.backlog,
                image_period=spec.image_period, decode_threads=spec.decode_threads,
            ).start()
        except FacemaskError as exc:
            # a missing file does not come back: no retries; nor does a camera that never opened, when it is
            # the only one (what `--source` asked for is not there: say so and stop, as a single source did)
            if not self.live or (spec.fail_fast and not self._opened_once):
                self.exception = exc
            self._fail(str(exc))
            return False
        self._opened_once = True
        self.error = None
        self._reset_scene()
        for sink in self.sinks:  # a recording plays at the source's own rate
            if hasattr(sink, "set_fps"):
                sink.set_fps(self.capture.fps)
        return True

    def _fail(self, message: str) -> None:
        message = mask_credentials(message)
        # an open that fails after close was asked for is no news (and may outlive the log's stream at exit)
        # a camera that ends for good with its error (the app's one error line) is not logged twice
        quiet = self.exception is not None and self.spec.fail_fast
        if self.error != message and not self._stop.is_set() and not quiet:
            log.error("camera %s: %s", self.name, message)
        self.error = message
        self._set_state(SourceState.FAILED)
        self._close_capture()

    def _close_capture(self) -> None:
        cap, self.capture = self.capture, None
        if cap is not None:
            cap.stop()
            self._captured_before += cap.stats.captured
            self._dropped_before += cap.stats.dropped
            self._skipped_before += cap.stats.skipped
            self._repeated_before += cap.stats.repeated
            self._stale_before += cap.stats.stale

    def _reset_scene(self) -> None:
        """A new connection: nothing carries over from the old picture."""
        self._faces = []
        self._still = None
        self._fresh_from: int | None = None  # the first frame of this scene: detections of older frames are stale
        self._take_detection()
        self._flow.reset()
        self.pipeline.reset()  # optical flow must not bridge two connections (file cadence)
        self.gate.reset()
        self.next_due = 0.0

    def _run(self) -> None:
        retry = self.spec.retry_s[0]
        while not self._stop.is_set():
            if self.capture is None:
                if not self._open():
                    if self.exception is not None or self._stop.wait(retry):
                        break
                    retry = min(retry * 2, self.spec.retry_s[1])
                    continue
                retry = self.spec.retry_s[0]
            cap = self.capture
            if self.paused.is_set():
                self._stop.wait(0.05)
                if not self.paused.is_set() and not self.frame_by_frame:
                    self._reset_scene()  # optical flow must not bridge the pause: a new detection finds the faces
                continue
            try:
                frame = cap.read(0.25)
            except SourceError as exc:  # failed for good (e.g. out of reconnection attempts): reopen later
                if not self.live or self.spec.max_reconnects is not None:  # a file gone, or out of attempts: final
                    self.exception = exc
                self._fail(str(exc))
                if self.exception is not None:
                    break
                continue
            if cap.stats.reconnects != self._reconnects_seen:
                self._reconnects_seen = cap.stats.reconnects
                self._reset_scene()
            if frame is None:
                if cap.finished:
                    self._flush()
                    if cap.error is not None:
                        final = not self.live or self.spec.max_reconnects is not None  # a file gone, or out of attempts
                        if final and isinstance(cap.error, FacemaskError):
                            self.exception = cap.error
                        self._fail(str(cap.error))
                        if self.exception is not None:
                            break
                        continue
                    self._set_state(SourceState.ENDED)
                    break
                self._set_state(cap.stats.state, cap.stats.attempt)
                continue
            self._set_state(SourceState.RUNNING)
            try:
                if self.frame_by_frame:
                    self._process_next(frame)
                else:
                    self._process(frame)
                if self.spec.max_frames is not None and self.processed >= self.spec.max_frames:
                    self._set_state(SourceState.ENDED)  # the run is over, not interrupted
                    break
            except FacemaskError as exc:  # e.g. a sink that cannot write: this camera stops, the others go on
                self._fail(str(exc))
                break
            except Exception as exc:  # a bug: this camera stops and says so, the others go on
                log.exception("camera %s stopped by an internal error", self.name)
                self._fail(f"internal error: {type(exc).__name__}: {exc}")
                break
        if self.state not in (SourceState.ENDED, SourceState.FAILED):
            try:
                self._flush()  # the frame located when the stop came is still shown and logged
            except Exception as exc:  # noqa: BLE001 - stopping anyway
                log.error("camera %s: %s", self.name, exc)
            self._set_state(SourceState.STOPPED)

    def _set_state(self, state: SourceState, attempt: int = 0) -> None:
        """Change the camera's state; sinks that follow it (``set_status``, e.g. MQTT) hear of each change."""
        if state is SourceState.STARTING and self.state is SourceState.RUNNING:
            state = SourceState.RUNNING  # a capture that has not counted its first frame yet is still live here
        changed = state is not self.state
        self.state, self.attempt = state, attempt if state is SourceState.RECONNECTING else 0
        if changed:
            for sink in self.sinks:
                if hasattr(sink, "set_status"):
                    sink.set_status(state)

    # -- one frame ---------------------------------------------------------------------------------------
    def _locate(self, frame: Frame, moving: bool, det: Detection | None) -> list[Face]:
        """This frame's faces: a fresh detection carried to this frame, or the last boxes carried by flow."""
        img = frame.image
        if det is not None:
            moved = det.flow.move(img, det.faces)  # also leaves det.flow remembering this frame
            self._flow = det.flow
            self._faces = [carry_face(m, f) for m, f in zip(moved, det.faces) if m is not None]
            self._flowed = True
        elif self._faces and moving and not (self.site.behind and self._flowed):
            moved = self._flow.move(img, self._faces)
            self._faces = [carry_face(m, f) for m, f in zip(moved, self._faces) if m is not None]
            self._flowed = True
        else:
            # a still picture: the boxes stay where they are (no optical flow either); a site whose detector is
            # behind holds them every second frame and flows over two frames the next (BEHIND_WAIT_S)
            self.flow_held += bool(self._faces and moving)
            self._flowed = False
        # every face carries the verdicts of the same detection: how many frames showed them already
        self._carried = 0 if det is not None else self._carried + 1
        return [carry_face(f, f, self._carried) for f in self._faces]

    def _process(self, frame: Frame) -> None:
        """The live cadence: boxes carried by optical flow, a detection offered when due and the picture moves."""
        now, t0 = time.monotonic(), time.perf_counter()
        moving = self.gate.update(frame.image, now, repeat=frame.repeat, sparse=self._sparse)
        sparse = self._may_skip_pixels and not moving and self.gate.quiet(now)
        if sparse or self._sparse:  # a picture that stands still is converted only for the gate's next look
            self.capture.skip_pixels_until(self.gate.next_look() if sparse else 0.0)
            self._sparse = sparse
        det = self._take_detection()
        if self._fresh_from is None:
            self._fresh_from = frame.index
            det = self._first_look(frame)
        if det is not None and det.frame_index < self._fresh_from:  # asked for before a pause or a reconnection
            det = None
        if det is not None:
            self._last_detect = now
        if self._faces:  # people were in view since the last frame
            self.people_s += min(now - self._frame_at, PEOPLE_GAP_S) if self._frame_at is not None else 0.0
            self.people_looks += det is not None
        self._frame_at = now
        t1 = time.perf_counter()
        faces = self._locate(frame, moving, det)
        timings = dict(det.timings) if det else {}
        timings["motion"], timings["flow"] = t1 - t0, time.perf_counter() - t1  # per-stage CPU: measure/stagecpu.py
        keep_alive = bool(self._faces) and now - self._last_detect >= self.spec.motion.still_detect_s
        if (moving or keep_alive) and now >= self.next_due:
            self.site.offer(self, frame)
        self._emit(frame, faces, timings, moving=moving, fresh=det is not None)

    # -- the file cadence -------------------------------------------------------------------------------------
    def _process_next(self, frame: Frame) -> None:
        """Hand ``frame`` to the detector thread, then finish the frame before it meanwhile."""
        job = self.site.submit(self, frame)
        self._flush()
        self._ahead = (frame, job)
        if not self.site.settings.lookahead:  # serial: this frame is finished before the next is read
            self._flush()

    def _flush(self) -> None:
        """Finish the frame handed to the detector thread, if any: track, events, draw, sinks."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return
        frame, job = ahead
        while not job.done.wait(0.1):
            if self.site.stopping:
                return
        located = job.located
        if located is None:
            return
        if located.detected:
            self.detector_runs += 1
        else:
            carry_labels(located)
        self._emit(frame, located.faces, located.timings, moving=True, fresh=True)

    def _emit(self, frame: Frame, faces: list[Face], timings: dict[str, float], *, moving: bool, fresh: bool) -> None:
        """The located, labelled faces of ``frame`` -> zones -> tracker -> events -> drawing -> sinks."""
        clock = time.perf_counter
        t0 = clock()
        still = not fresh and not moving and self._still is not None
        if still:
            # nothing moved and nothing new was detected: the same people as in the last frame, tracker untouched
            counted = [dataclasses.replace(f, carried=self._carried) for f in self._still]
        else:
            h, w = frame.image.shape[:2]
            counted, _left = self.zones.split(faces, w, h)
            if self.tracker is not None:
                self.tracker.update(counted, frame)
        # settled: every face has its person and their label; a face the quality gate cannot judge never gets a
        # label, and in a still picture it will not get one later either
        settled = self.tracker is None or all(
            f.track_id is not None and (f.track_label is not None or f.label == UNKNOWN_LABEL) for f in counted)
        self._still = [dataclasses.replace(f) for f in counted] if not moving and settled else None
        result = FrameResult(frame, counted, timings=timings, camera=self.name, still=still)
        t1 = clock()
        if self.monitor is not None:
            if self.monitor.full_view is not None and any(self.monitor.is_violation(f.label) for f in counted):
                self.capture.want_main()  # a violation may be coming: its snapshot needs the main stream up by then
            result.events = self.monitor.update(result)
            for ev in result.events:
                ev.camera = self.name
        t2 = clock()
        timings["track"], timings["events"] = t1 - t0, t2 - t1
        annotated = None
        if self.annotate:
            annotated = annotate(frame.image, result)
            if self.site.settings.show_zones and self.zones.active:
                draw_zones(annotated, self.spec.zones.zones, copy=False)
            timings["draw"] = clock() - t2
        t3 = clock()
        for sink in self.sinks:
            sink.write(result, annotated)
            if getattr(sink, "needs_annotated", False) and getattr(sink, "stopped_reason", None):
                self.video_note = sink.stopped_reason  # e.g. the recording stopped on a full disk
        timings["sinks"] = clock() - t3
        timings["total"] = sum(v for k, v in timings.items() if k != "total")  # work of every stage, not wall time
        done = time.monotonic()
        if self.first_frame_at is None:
            self.first_frame_at = done
        self.last_frame_at = done
        self.processed += 1
        self.events += len(result.events)
        for face in counted:
            self.faces_by_label[face.shown_label] = self.faces_by_label.get(face.shown_label, 0) + 1
        self.ages_ms.append((done - frame.captured_at) * 1000.0)
        t_mark, n_mark = self._fps_mark
        if done - t_mark >= 1.0:
            self.fps = (self.processed - n_mark) / (done - t_mark)
            self._fps_mark = (done, self.processed)
        if self.site.on_result is not None:
            self.site.on_result(self.name, result, annotated)

    @property
    def has_people(self) -> bool:
        """Faces in view at the last frame (the scheduler looks at such a camera first)."""
        return bool(self._faces)

    # -- life -------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float = 2.0) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._close_capture()
        close_sinks(self.sinks, self.name)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stats(self) -> dict:
        cap = self.capture
        captured = self._captured_before + (cap.stats.captured if cap else 0)
        dropped = self._dropped_before + (cap.stats.dropped if cap else 0)
        ages = np.asarray(self.ages_ms) if self.ages_ms else None
        return {
            # the engine's clock (time.monotonic(), alike in every process) when these figures were taken: rates
            # between two readings are timed by it (a worker's figures come once a second, whenever they are read)
            "stats_at": round(time.monotonic(), 3),
            "state": self.state.public,
            "attempt": self.attempt if self.state is SourceState.RECONNECTING else None,
            "error": self.error,
            "source": parse_safe_name(self.spec.source),
            "frames_captured": captured,
            "frames_processed": self.processed,
            # decoded but not converted to pixels: a still picture between two looks of the motion gate
            "frames_repeated": self._repeated_before + (cap.stats.repeated if cap else 0),
            "dropped": dropped,
            # a live connection's opening burst, skipped (neither captured nor dropped): sources/capture.py
            "frames_stale": self._stale_before + (cap.stats.stale if cap else 0),
            "processed_share": round(self.processed / captured, 4) if captured else None,
            "detector_runs": self.detector_runs,
            "frame_age_p50_ms": round(float(np.percentile(ages, 50)), 1) if ages is not None else None,
            "frame_age_p95_ms": round(float(np.percentile(ages, 95)), 1) if ages is not None else None,
            "fps": round(self.fps, 2),
            "motion_share": round(self.gate.moving_frames / self.gate.frames, 4) if self.gate.frames else None,
            "reconnects": (cap.stats.reconnects if cap else 0),
            "events": self.events,
            "people": self.monitor.people_seen if self.monitor is not None else None,
            "faces_ignored": self.zones.ignored,
            "faces_outside": self.zones.outside,
            "skipped": self._skipped(),
            "flow_held": self.flow_held,
            "people_s": round(self.people_s, 2),
            "people_looks": self.people_looks,
            "faces_by_label": dict(sorted(self.faces_by_label.items())),
            "people_by_label": dict(sorted(self.monitor.people_by_label.items())) if self.monitor is not None else {},
            "not_judged": self.monitor.not_judged if self.monitor is not None else None,
            "video_note": self.video_note,
        }

    def _skipped(self) -> int:
        cap = self.capture
        return self._skipped_before + (cap.stats.skipped if cap is not None else 0)


def source_kind(source: str) -> str:
    """camera, stream, video, image or folder; a file that is not there (yet) counts as a video."""
    try:
        return parse_source(source).kind
    except FacemaskError:
        return "video"


def parse_safe_name(source: str) -> str:
    return mask_credentials(str(source))


class _Job:
    """A frame-by-frame camera's frame to locate (and classify) in the detector thread; the camera waits on it."""

    __slots__ = ("done", "located")

    def __init__(self):
        self.done = threading.Event()
        self.located: Located | None = None


@dataclass(slots=True)
class _Offer:
    camera: Camera
    frame: Frame
    since: float  # when the camera first asked: the longest-waiting camera goes first
    job: _Job | None = None  # the file cadence: locate exactly this frame and hand it back
    first: bool = False  # the camera's first look at a new scene: its thread waits for it (Camera._first_look)


class EngineLife:
    """What the front ends drive in every engine (:class:`Site`, and the worker processes' ``ProcessSite``): a
    context manager that starts and closes it, and waiting for its cameras. Needs ``cameras``, ``stopping``,
    ``start`` and ``close``."""

    def wait(self, duration: float | None = None, stop: threading.Event | None = None) -> None:
        """Until ``duration`` seconds passed, ``stop`` is set, or every camera ended."""
        deadline = None if duration is None else time.monotonic() + duration
        while not self.stopping and not (stop is not None and stop.is_set()):
            if not any(c.alive for c in self.cameras.values()):
                return
            left = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if left <= 0:
                return
            time.sleep(left)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def camera_totals(cams: dict[str, dict], elapsed: float) -> dict:
    """The site's first figures from its cameras' (``Camera.stats``): how many, for how long, frames in all."""
    return {"cameras": len(cams), "elapsed_s": round(elapsed, 2),
            **{k: sum(s[k] for s in cams.values()) for k in ("frames_captured", "frames_processed", "dropped")}}


def close_sinks(sinks: Iterable, camera: str | None = None) -> None:
    """Close every sink; one that fails is logged and the others are still closed."""
    for sink in sinks:
        try:
            sink.close()
        except Exception as exc:  # keep closing the others
            where = f"camera {camera}: " if camera else ""
            log.error("%sclosing %s failed: %s", where, type(sink).__name__, exc)


class Site(EngineLife):
    """The engine: cameras added with :meth:`add_camera`, started with :meth:`start`, stopped with :meth:`close`.

    detector / classifier: shared by all cameras (a camera may bring its own in :meth:`add_camera`).
    on_result(camera_name, result, annotated): called from the camera's thread for every processed frame; one with
      a ``report(site)`` method (the benchmark's meter) is asked for its report first thing in :meth:`close`, while
      the threads still run, and the report goes in :attr:`reports`.
    """

    def __init__(self, detector, classifier, settings: SiteSettings | None = None,
                 on_result: Callable[[str, FrameResult, np.ndarray | None], None] | None = None,
                 shared_sinks: Sequence = ()):
        self.shared_sinks = list(shared_sinks)  # written by every camera through SharedSink, closed by close()
        self.shared_lock = threading.Lock()
        self.detector = detector
        self.classifier = classifier
        self.settings = settings or SiteSettings()
        self.on_result = on_result
        self.cameras: dict[str, Camera] = {}
        self.reports: list = []
        self.detector_runs = 0
        self.detector_busy_s = 0.0
        self.detector_errors = 0
        self.behind = False  # the detector cannot keep up with the offers (BEHIND_WAIT_S); read by the cameras
        self._offers: dict[str | tuple[str, int], _Offer] = {}  # live: by camera name; file cadence: one per job
        self._running: str | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._detect_loop, name="site-detector", daemon=True)
        self._t0 = time.monotonic()
        self._cpu0 = cpu_seconds()
        self._started = False
        self._closed = False

    def add_camera(self, spec: CameraSpec, *, tracker=None, monitor=None, sinks: Iterable = (),
                   detector=None, classifier=None) -> Camera:
        if spec.name in self.cameras:
            raise ValueError(f"two cameras are named {spec.name!r}; camera names must be unique")
        cam = Camera(spec, self, tracker=tracker, monitor=monitor, sinks=tuple(sinks), detector=detector, classifier=classifier)
        self.cameras[spec.name] = cam
        if self._started:
            cam.start()
        return cam

    def remove_camera(self, name: str) -> None:
        """Stop a camera, close its sinks and forget it; the others go on."""
        cam = self.cameras.pop(name)
        with self._cond:
            for key in [k for k, o in self._offers.items() if o.camera is cam]:
                del self._offers[key]
        cam.stop()
        cam.join()

    # -- scheduling ---------------------------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def submit(self, camera: Camera, frame: Frame) -> _Job:
        """A frame-by-frame camera's next frame: located in turn with the other cameras' offers, never replaced."""
        job = _Job()
        with self._cond:
            # keyed apart from the camera's name: the next frame is handed on before this one was taken
            self._offers[(camera.name, id(job))] = _Offer(camera, frame, time.monotonic(), job)
            self._cond.notify()
        return job

    def offer(self, camera: Camera, frame: Frame, first: bool = False) -> None:
        """A camera's newest frame is due for detection; a newer offer replaces a waiting one. ``first``: the
        camera shows nothing until this detection comes (a start, a reconnection, the end of a pause)."""
        with self._cond:
            if self._running == camera.name:
                return
            old = self._offers.get(camera.name)
            self._offers[camera.name] = _Offer(camera, frame, old.since if old else time.monotonic(), first=first)
            self._cond.notify()

    def _next_offer(self) -> _Offer | None:
        with self._cond:
            if not self._offers:
                self.behind = False  # caught up: the detector waits for work
            while not self._offers and not self._stop.is_set():
                self._cond.wait(0.2)
            if self._stop.is_set():
                return None
            key = min(self._offers, key=lambda n: self._offers[n].since - self._head_start(self._offers[n]))
            offer = self._offers.pop(key)
            self._running = offer.camera.name
            # the next run is due one period after this one was due (not after it ran), so the rate holds
            # on average although offers only come with frames; a camera far behind starts afresh
            now, cam = time.monotonic(), offer.camera
            if offer.job is not None:
                return offer
            self.behind = now - offer.since >= BEHIND_WAIT_S
            period = 1.0 / cam.spec.detect_fps
            cam.next_due = (cam.next_due if now - cam.next_due < period else now) + period
            return offer

    def _taken_done(self) -> None:
        """The offer :meth:`_next_offer` gave is done: its camera may offer again."""
        with self._cond:
            self._running = None

    @staticmethod
    def _head_start(offer: _Offer) -> float:
        if offer.first:
            return FIRST_LOOK_HEAD_START_S
        return PEOPLE_HEAD_START_S if offer.job is None and offer.camera.has_people else 0.0

    def _detect_loop(self) -> None:
        while not self._stop.is_set():
            offer = self._next_offer()
            if offer is None:
                return
            cam, img = offer.camera, offer.frame.image
            if offer.job is not None:
                self._locate_job(offer)
                continue
            t0 = time.perf_counter()
            timings: dict[str, float] = {}
            try:
                faces = cam.pipeline.detect(img)
                timings["detect"] = time.perf_counter() - t0
                cam.pipeline.classify(img, faces, timings)
            except Exception as exc:  # a detector bug must not stop the site: log it, this frame has no faces
                self.detector_errors += 1
                log.error("camera %s: face detection failed: %s: %s", cam.name, type(exc).__name__, exc)
                faces = []
            flow = BoxFlow()
            flow.remember(img)
            cam.deliver(Detection(offer.frame.index, faces, flow, timings))
            busy = time.perf_counter() - t0
            self._taken_done()
            self.detector_runs += 1
            self.detector_busy_s += busy
            load = self.settings.detector_load
            if load < 1.0:
                self._stop.wait(busy * (1.0 / load - 1.0))

    def _locate_job(self, offer: _Offer) -> None:
        """The file cadence: the detector (every Nth frame) or optical flow, and the classifier, for one frame."""
        cam, frame, t0 = offer.camera, offer.frame, time.perf_counter()
        try:
            located = cam.pipeline.locate(frame)
            if located.detected:
                cam.pipeline.classify(frame.image, located.faces, located.timings)
        except Exception as exc:  # a detector bug must not stop the site: log it, this frame has no faces
            self.detector_errors += 1
            log.error("camera %s: face detection failed: %s: %s", cam.name, type(exc).__name__, exc)
            cam.pipeline.reset()
            located = Located(frame, [], True, [])
        offer.job.located = located
        offer.job.done.set()
        self._taken_done()
        if located.detected:
            self.detector_runs += 1
            self.detector_busy_s += time.perf_counter() - t0

    # -- life -----------------------------------------------------------------------------------------------
    def start(self) -> Site:
        if not self._started:
            self._started = True
            if self.settings.opencv_threads is not None:
                cv2.setNumThreads(self.settings.opencv_threads)
            self._t0 = time.monotonic()
            self._cpu0 = cpu_seconds()
            self._thread.start()
            for cam in self.cameras.values():
                cam.start()
        return self

    def close(self) -> None:
        """Stop every camera and the detector; close the sinks. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._started and hasattr(self.on_result, "report"):
            self.reports.append(self.on_result.report(self))
        for cam in self.cameras.values():
            cam.stop()
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for cam in self.cameras.values():
            cam.join()
        if self._thread.is_alive():
            self._thread.join(2.0)
        close_sinks(self.shared_sinks)

    def stats(self) -> dict:
        """``{"cameras": {NAME: {...}}, "site": {...}, "cpu_seconds": ...}`` (the ``--stats-json`` format)."""
        elapsed = time.monotonic() - self._t0
        cams = {name: cam.stats() for name, cam in self.cameras.items()}
        for cam, s in zip(self.cameras.values(), cams.values()):
            # rates over the time the camera delivered frames (a clip that ended does not count as slow)
            active = (cam.last_frame_at - cam.first_frame_at) if cam.first_frame_at is not None else 0.0
            s["active_s"] = round(active, 2)
            s["detect_per_s"] = round(s["detector_runs"] / active, 2) if active > 0 else None
            # the detections a camera got while people were in view, per second of that (live cadence only)
            s["detect_per_s_with_people"] = round(s["people_looks"] / s["people_s"], 2) if s["people_s"] >= 1.0 else None
            s["processed_per_s"] = round((s["frames_processed"] - 1) / active, 2) if active > 0 else None
        ages = np.concatenate([np.asarray(c.ages_ms) for c in self.cameras.values() if c.ages_ms] or [np.zeros(0)])
        cpu = cpu_seconds() - self._cpu0
        site = {
            **camera_totals(cams, elapsed),
            "detector_runs": self.detector_runs,
            "detector_busy_share": round(self.detector_busy_s / elapsed, 3) if elapsed > 0 else None,
            "detector_errors": self.detector_errors,
            "frame_age_p95_ms": round(float(np.percentile(ages, 95)), 1) if ages.size else None,
            "events": sum(s["events"] for s in cams.values()),
            "states": {name: s["state"] for name, s in cams.items()},
        }
        return {"cameras": cams, "site": site, "cpu_seconds": round(cpu, 2),
                "cpu_share": round(cpu / elapsed, 3) if elapsed > 0 else None}


# ------------------------------------------------------------------------------------------ sinks
class SharedSink:
    """One sink (an event log, the detections file, the people log, retention) shared by every camera.

    Camera threads write through a lock; :meth:`close` does nothing: the site closes the sink once, after
    all cameras stopped (it is one of the site's ``shared_sinks``).
    """

    def __init__(self, sink, lock: threading.Lock, **camera_args):
        self.sink, self.lock = sink, lock
        self.camera_args = camera_args  # e.g. the people log's counted_label: this camera's monitor
        self.needs_annotated = getattr(sink, "needs_annotated", False)

    def write(self, result: FrameResult, annotated=None) -> None:
        with self.lock:
            self.sink.write(result, annotated, **self.camera_args)

    def close(self) -> None:
        pass
