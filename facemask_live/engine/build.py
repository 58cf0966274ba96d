"""The composition root: the one place that builds the app's objects from :class:`~facemask_live.core.config.Settings`.

    settings -> build_site: the detector and classifier (shared), then per camera (add_site_camera): its
                tracker, monitor and sinks, and the plan the engine runs it by (camera_spec)

The sinks of issue 16 are built here too: the people log, retention (pruning the snapshot folder) and
privacy (blurring compliant faces in snapshots, the recording and optionally the window).

The front ends (``cli`` headless, ``gui`` window) and the tools (evaluate, bench, soak, screenshots) call
these functions and nothing else to put the app together; no object is changed after it is built.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path

from facemask_live.core.config import DEFAULT_CAMERA, Settings
from facemask_live.core.errors import OutputError
from facemask_live.engine.pipeline import Pipeline
from facemask_live.outputs.sinks import DetectionsWriter, EventLog, Sink, VideoSink, ensure_dir


def build_detector(settings: Settings):
    """The face detector of the ``detector`` section."""
    from facemask_live.detection.detect import create_detector

    d = settings.detector
    return create_detector(d.name, d.dir, confidence=d.confidence, min_size=d.min_face, input_size=d.size,
                           threads=settings.detector_threads(), verify_candidates=d.verify_faces,
                           candidate_confidence=d.candidate_confidence)


def build_classifier(settings: Settings, threads: int | None = None):
    """The mask classifier of the ``classifier`` section (``threads``: override the thread rule)."""
    from facemask_live.detection.classify import MaskClassifier, default_model_path

    c = settings.classifier
    return MaskClassifier(c.model or default_model_path(), threads=threads or settings.classifier_threads(),
                          violation_threshold=c.violation_threshold, violation_labels=c.violation_labels)


def event_snapshot_dir(settings: Settings) -> Path | None:
    """Where violation events save their snapshots, or None for no automatic snapshots.

    Headless runs save them only when asked for a snapshot folder or an event log; the window always does.
    """
    out = settings.output
    if not settings.events.auto_snapshots:
        return None
    if out.snapshots or out.events or not settings.gui.headless:
        return out.snapshot_dir()
    return None


def snapshot_redactor(settings: Settings, violation_labels: Iterable[str]) -> Callable | None:
    """``--privacy``: ``(image, faces) -> image`` blurring (or filling) every compliant face of a violation
    snapshot before it is drawn; None without privacy."""
    if not settings.privacy.enabled:
        return None
    from facemask_live.outputs.privacy import redact

    return functools.partial(redact, violation_labels=frozenset(violation_labels), solid=settings.privacy.no_compliant_images)


_DEFAULT = object()


def build_tracking(settings: Settings, violation_labels: Iterable[str], snapshot_dir=_DEFAULT):
    """(tracker, violation monitor) of the ``tracking`` and ``events`` sections, or (None, None) without tracking.

    ``snapshot_dir``: where the monitor saves event snapshots (default: :func:`event_snapshot_dir`; None: none).
    """
    t = settings.tracking
    if not t.enabled:
        return None, None
    from facemask_live.events.monitor import ViolationMonitor
    from facemask_live.tracking.reid import Reidentifier
    from facemask_live.tracking.track import Tracker

    reid = settings.reid
    own = settings.for_camera(settings.cameras[0])  # issue 29: the camera's own alert hours and escalation
    tracker = Tracker(
        initialization_delay=t.delay,
        max_missing=t.max_missing,
        vote_window=t.vote_window,
        min_confidence=t.vote_min_confidence,
        reid=Reidentifier(reid) if reid.enabled else None,
        verdict_frames=settings.quality.verdict_frames,
    )
    monitor = ViolationMonitor(
        violation_labels,
        cooldown=settings.events.cooldown,
        snapshot_dir=event_snapshot_dir(settings) if snapshot_dir is _DEFAULT else snapshot_dir,
        max_missing=t.max_missing,
        redact=snapshot_redactor(settings, violation_labels),
        alert_frames=settings.quality.event_frames,
        remember=reid.max_age,
        schedule=own.alert_hours.schedule,
        escalate_after=own.events.escalate_after,
        verdict_frames=settings.quality.verdict_frames,
    )
    return tracker, monitor


def build_pipeline(settings: Settings, classifier=None) -> Pipeline:
    """Detector, classifier, tracker and event monitor (``classifier``: one already loaded, e.g. by bench)."""
    import cv2

    cv2.setNumThreads(settings.detector_threads())
    detector = build_detector(settings)
    if classifier is None:
        classifier = build_classifier(settings)
    tracker, monitor = build_tracking(settings, classifier.violation_labels)
    quality = settings.quality if settings.quality.enabled else None  # None: every face is judged (no verdicts)
    return Pipeline(detector, classifier, tracker=tracker, monitor=monitor, detect_every=settings.detector.detect_every,
                    quality=quality)


def build_retention(settings: Settings):
    """The pruner of the snapshot folder (``retention`` section); it prunes once right away, before anything
    of this run is written. None when neither ``keep_days`` nor ``max_snapshot_mb`` is set."""
    if not settings.retention.active:
        return None
    from facemask_live.outputs.retention import Retention

    logs = [p for p in (settings.output.events, settings.people_log.path) if p]
    try:
        pruner = Retention(settings.output.snapshot_dir(), settings.retention, logs, recording=settings.output.output)
    except OSError as exc:  # the snapshot folder (where the recordings manifest lives) cannot be written
        raise OutputError(f"cannot write snapshot folder {settings.output.snapshot_dir()}: {exc.strerror or exc} (choose another folder)") from None
    pruner.prune()
    return pruner


def make_snapshot_dir(path: Path) -> None:
    """Create the snapshot folder readable by this user only (0700: it holds faces) and check it is writable."""
    from facemask_live.outputs.privacy import private_dir

    try:
        private_dir(path)
    except OSError:
        pass  # ensure_dir says what is wrong, in the words every folder error uses
    ensure_dir(path, "snapshot")


# ------------------------------------------------------------------------------------------------ a site
def site_thread_settings(settings: Settings) -> Settings:
    """A site's detector threads: ``threads``, else every core for one camera (its detector runs beside the camera's
    thread as the single-source runner's did). Several cameras: two (at most the cores) for RetinaFace, whose ONNX
    Runtime pool does not spin: on two cores shared with the camera threads the one detector then gets its share of
    the CPU (16 cameras: about a third more detector runs, ``docs/performance.md`` "Third pass"); one for OpenCV's SSD,
    whose process-wide pool would also serve, and spin on, every camera thread's small calls."""
    import dataclasses

    if settings.threads or len(settings.cameras) == 1:
        return settings
    threads = 1 if settings.detector.name == "ssd" else min(2, settings.detector_threads())
    return dataclasses.replace(settings, threads=threads)


def camera_spec(settings: Settings, camera, *, realtime: bool = True):
    """The engine's :class:`~facemask_live.engine.site.CameraSpec` of one camera of ``settings``.

    ``realtime``: how a video file plays when neither the camera nor ``source.realtime`` says (the window: at
    its own frame rate, like a camera; headless: frame by frame).
    """
    from facemask_live.core.zones import ZoneSettings
    from facemask_live.engine.site import CameraSpec
    from facemask_live.sources.capture import decode_threads_for
    from facemask_live.sources.demo import demo_playback

    site, demo = settings.site, settings.source.demo  # --demo: the built-in photos (in the window a slide show)
    source, loop, image_period = demo_playback(settings.gui.headless, camera.loop) if demo else (camera.source, camera.loop, 0.0)
    if camera.realtime is not None:
        realtime = camera.realtime
    elif settings.source.realtime:
        realtime = True
    return CameraSpec(
        camera.name,
        source,
        loop=loop,
        realtime=realtime,
        image_period=image_period,
        detect_every=(camera.detector or settings.detector).detect_every,
        max_frames=settings.source.max_frames,
        fail_fast=len(settings.cameras) == 1,
        detect_source=camera.detect_source,  # two streams (sources/dual.py); the substream detected at its own size:
        enlarge=not camera.detect_source or (camera.detector or settings.detector).enlarge_detect_stream,  # it is cheap
        detect_fps=(camera.detector or settings.detector).detect_fps,
        zones=ZoneSettings(camera.zones, camera.anchor or site.anchor),
        motion=camera.motion or settings.motion,
        quality=settings.quality if settings.quality.enabled else None,
        stall_timeout=settings.source.stall_timeout,
        max_reconnects=settings.source.max_reconnects,
        backlog=site.backlog,
        decode_threads=decode_threads_for(len(settings.cameras)),
    )


def camera_snapshot_dir(settings: Settings, name: str) -> Path | None:
    """A camera's event snapshots: the snapshot folder itself for one camera, a subfolder named after the
    camera for several (None: no automatic snapshots)."""
    root = event_snapshot_dir(settings)
    if root is None or len(settings.cameras) == 1:
        return root
    return root / safe_name(name)


def safe_name(name: str) -> str:
    """A camera name as a file/folder name."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "camera"


def build_shared_sinks(settings: Settings) -> list[Sink]:
    """The outputs every camera writes into (event log, detections, people log, retention), in the order they get
    each frame; on an error the ones opened are closed. The window privacy, the recording and MQTT are per camera
    (:func:`add_site_camera`)."""
    if settings.output.output and len(settings.cameras) > 1:
        raise OutputError("--output records one camera: a site of several cameras cannot write one video (leave out output)")
    out = settings.output
    sinks: list[Sink] = []
    try:
        if out.detections:
            sinks.append(DetectionsWriter(out.detections))
        if out.events:
            sinks.append(EventLog(out.events))
        if settings.people_log.path:  # each camera counts with its own monitor (add_site_camera)
            from facemask_live.events.peoplelog import PeopleLog

            sinks.append(PeopleLog(settings.people_log.path, settings.people_log.interval))
        pruner = build_retention(settings)
        if pruner is not None:
            sinks.append(pruner)  # last: after the snapshots of a frame were logged
    except Exception:
        for sink in sinks:
            sink.close()
        raise
    return sinks


def add_site_camera(site, settings: Settings, camera, *, realtime: bool = True):
    """Build one camera's tracker, monitor and sinks with the same builders as a single camera, and add it to
    ``site`` (also while it runs: the window's File -> Open and Camera -> Add)."""
    from facemask_live.engine.site import SharedSink
    from facemask_live.engine.workers import ProcessSite

    if isinstance(site, ProcessSite):  # a worker of its own builds the rest
        return site.add_camera(settings, camera_spec(settings, camera, realtime=realtime))
    cs = settings.for_camera(camera)
    detector = classifier = None
    if camera.detector is not None and own_model(camera.detector, settings.detector):  # its own detector model
        detector = build_detector(site_thread_settings(cs))
    if camera.classifier is not None and camera.classifier != settings.classifier:
        classifier = build_classifier(cs)
    labels = (classifier or site.classifier).violation_labels
    snap = camera_snapshot_dir(settings, camera.name)
    tracker, monitor = build_tracking(cs, labels, snapshot_dir=snap)
    sinks: list = []
    if settings.privacy.window:
        from facemask_live.outputs.privacy import WindowPrivacy

        sinks.append(WindowPrivacy(frozenset(labels), settings.privacy))
    if settings.mqtt is not None:  # a connection per camera: each has its own topics and last will
        # before the event log: an event is in the outbox before it is logged, so a kill -9 between the two never
        # leaves a logged event that never reaches the broker
        if len(settings.cameras) == 1 and camera.name == DEFAULT_CAMERA:  # `--source`: the topics and client id it had
            from facemask_live.outputs.mqtt import build_mqtt_sink

            sinks.append(build_mqtt_sink(cs))
        else:
            sinks.append(build_site_mqtt_sink(cs, camera.name))
    for shared in site.shared_sinks:  # the people log counts each camera's people as its own monitor does
        own = {"counted_label": monitor.counted_label} if getattr(shared, "counts_people", False) and monitor is not None else {}
        sinks.append(SharedSink(shared, site.shared_lock, **own))
    if settings.output.output and len(settings.cameras) == 1:  # the recording of the one camera
        sinks.append(build_video_sink(settings, labels))
    return site.add_camera(camera_spec(settings, camera, realtime=realtime), tracker=tracker, monitor=monitor,
                           sinks=sinks, detector=detector, classifier=classifier)


def site_workers(settings: Settings, *, realtime: bool = True) -> int:
    """How many processes :func:`build_site` runs the cameras of ``settings`` in (1: this one)."""
    from facemask_live.engine.workers import worker_count

    return worker_count(settings, [camera_spec(settings, c, realtime=realtime) for c in settings.cameras])


def build_video_sink(settings: Settings, violation_labels: Iterable[str], fps: float | None = None):
    """``--output``: the recording of annotated frames (compliant faces blurred with ``--privacy``)."""
    video = VideoSink(settings.output.output, fps)
    if settings.privacy.enabled:
        from facemask_live.outputs.privacy import PrivateVideo

        video = PrivateVideo(video, frozenset(violation_labels), settings.privacy)
    return video


def own_model(camera_detector, site_detector) -> bool:
    """A camera needs a detector of its own when its settings differ in more than the cadence."""
    import dataclasses

    keys = ("detect_every", "detect_fps", "enlarge_detect_stream")  # the last: a way of calling the same detector
    return dataclasses.replace(camera_detector, **{k: getattr(site_detector, k) for k in keys}) != site_detector


def build_site_mqtt_sink(settings: Settings, camera: str):
    """The MQTT sink of one camera of a site: topics under the camera's name, a client id of its own."""
    import dataclasses

    from facemask_live.outputs.mqtt import build_mqtt_sink

    m = settings.mqtt
    own = dataclasses.replace(m, camera=camera, client_id=f"{m.client_id}-{camera}" if m.client_id else None)
    return build_mqtt_sink(dataclasses.replace(settings, mqtt=own))


def build_site(settings: Settings, *, on_result: Callable | None = None, annotate: bool = False, realtime: bool = True,
               classifier=None, lookahead: bool = True, hook: Callable | None = None, on_hook: Callable | None = None,
               only: list[str] | None = None, shared: list | None = None):
    """The engine of every camera of ``settings``, not started: a :class:`~facemask_live.engine.site.Site` (one shared
    detector and classifier, a tracker, monitor and sinks per camera), or for many live cameras a
    :class:`~facemask_live.engine.workers.ProcessSite` running such a site per worker process (``worker_count``).
    ``classifier``: one already loaded (the benchmark's); ``lookahead``: a file's next frame is located beside this
    one (False: the benchmark's ``--serial``); ``hook``: a picklable factory of each process's ``on_result`` (the
    benchmark's meter, the window's tap), ``on_hook``: what gets what each worker's hook sends (``ProcessSite``);
    ``only`` / ``shared``: a worker's share of the cameras and the output it hands results to.
    """
    from facemask_live.engine.site import Site, SiteSettings
    from facemask_live.engine.workers import ProcessSite, share_out, worker_count

    if hook is not None and on_result is not None:
        raise ValueError("build_site takes on_result or hook, not both")
    if settings.output.snapshots or not settings.gui.headless or (settings.tracking.enabled and event_snapshot_dir(settings)):
        make_snapshot_dir(settings.output.snapshot_dir())
    if only is None:
        specs = {c.name: camera_spec(settings, c, realtime=realtime) for c in settings.cameras}
        workers = worker_count(settings, list(specs.values()))
        if workers > 1:
            return ProcessSite(build_site, settings, share_out(list(specs), workers), specs, on_result=on_result, hook=hook,
                               on_hook=on_hook, shared_sinks=build_shared_sinks(settings), annotate=annotate,
                               realtime=realtime, lookahead=lookahead,
                               classifier=classifier or build_classifier(site_thread_settings(settings)))
    if hook is not None:
        on_result = hook()
    st = site_thread_settings(settings)
    detector = build_detector(st)
    classifier = classifier or build_classifier(st)
    shared = build_shared_sinks(settings) if shared is None else shared
    cv_threads = st.detector_threads() if settings.detector.name == "ssd" else 1  # the SSD runs on OpenCV's pool
    engine = SiteSettings(detector_load=settings.site.detector_load, annotate=annotate or settings.privacy.window,
                          opencv_threads=cv_threads, lookahead=lookahead)
    site = Site(detector, classifier, engine, on_result=on_result, shared_sinks=shared)
    try:
        for camera in settings.cameras:
            if only is None or camera.name in only:
                add_site_camera(site, settings, camera, realtime=realtime)
    except BaseException:
        site.close()
        raise
    return site


def camera_summary_lines(camera) -> list[str]:
    """The end-of-run summary of one camera (a ``--source`` run): source, frames, faces, people."""
    s = camera.stats()
    labels = ", ".join(f"{k or 'unlabelled'} {v}" for k, v in s["faces_by_label"].items()) or "none"
    people = ", ".join(f"{k} {v}" for k, v in s["people_by_label"].items())
    lines = [
        f"source: {s['source']} ({camera.state.describe(camera.attempt)})",
        f"frames processed: {s['frames_processed']}, dropped: {s['dropped']}, skipped: {s['skipped']}, "
        f"reconnects: {s['reconnects']}",
        f"face detections by label: {labels}",
        f"people seen: {s['people'] or 0}" + (f" ({people})" if people else "") + f", not judged: {s['not_judged'] or 0}"
        + f", violations: {s['events']}",
    ]
    if s["video_note"]:
        lines.append(s["video_note"])
    return lines


def site_summary_lines(stats: dict) -> list[str]:
    """The end-of-run summary of a site: one line per camera, one for the site."""
    lines = [f"{'camera':12s} {'state':26s} {'captured':>8s} {'processed':>9s} {'dropped':>7s} {'det/s':>6s} "
             f"{'age p50/p95 ms':>15s} {'people':>6s} {'events':>6s}"]
    for name, s in stats["cameras"].items():
        age = f"{s['frame_age_p50_ms'] or 0:.0f}/{s['frame_age_p95_ms'] or 0:.0f}"
        state = s["state"] + (f" (attempt {s['attempt']})" if s["attempt"] else "")
        lines.append(f"{name[:12]:12s} {state[:26]:26s} {s['frames_captured']:8d} {s['frames_processed']:9d} "
                     f"{s['dropped']:7d} {s['detect_per_s'] or 0:6.1f} {age:>15s} {s['people'] or 0:6d} {s['events']:6d}")
        if s["error"]:
            lines.append(f"{'':12s} error: {s['error']}")
    site = stats["site"]
    lines.append(f"site: {site['cameras']} cameras, {site['frames_processed']} frames processed of {site['frames_captured']}, "
                 f"{site['detector_runs']} detector runs, {site['events']} events, {site['elapsed_s']:.1f} s, "
                 f"CPU {stats['cpu_seconds']:.1f} s ({stats['cpu_share'] or 0:.2f} cores)")
    return lines
