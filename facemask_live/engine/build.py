"""The composition root: the one place that builds the app's objects from :class:`~facemask_live.core.config.Settings`.

    settings -> build_pipeline (detector, classifier, tracker, monitor) -> build_runner (capture, sinks)

The sinks of issue 16 are built here too: the people log, retention (pruning the snapshot folder) and
privacy (blurring compliant faces in snapshots, the recording and optionally the window).

The front ends (``cli`` headless, ``gui`` window) and the tools (evaluate, bench, soak, screenshots) call
these functions and nothing else to put the app together; no object is changed after it is built.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path

from facemask_live.core.config import Settings
from facemask_live.core.errors import OutputError
from facemask_live.engine.pipeline import Pipeline
from facemask_live.engine.runner import Runner, RunStats
from facemask_live.outputs.sinks import DetectionsWriter, EventLog, Sink, VideoSink, ensure_dir
from facemask_live.sources.capture import Capture, parse_source


def build_detector(settings: Settings):
    """The face detector of the ``detector`` section."""
    from facemask_live.detection.detect import create_detector

    d = settings.detector
    return create_detector(
        d.name,
        d.dir,
        confidence=d.confidence,
        min_size=d.min_face,
        input_size=d.size,
        threads=settings.detector_threads(),
        verify_candidates=d.verify_faces,
        candidate_confidence=d.candidate_confidence,
    )


def build_classifier(settings: Settings, threads: int | None = None):
    """The mask classifier of the ``classifier`` section (``threads``: override the thread rule)."""
    from facemask_live.detection.classify import MaskClassifier, default_model_path

    c = settings.classifier
    return MaskClassifier(
        c.model or default_model_path(),
        threads=threads or settings.classifier_threads(),
        violation_threshold=c.violation_threshold,
        violation_labels=c.violation_labels,
    )


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
    tracker = Tracker(
        initialization_delay=t.delay,
        max_missing=t.max_missing,
        vote_window=t.vote_window,
        min_confidence=t.vote_min_confidence,
        reid=Reidentifier(reid) if reid.enabled else None,
    )
    monitor = ViolationMonitor(
        violation_labels,
        cooldown=settings.events.cooldown,
        snapshot_dir=event_snapshot_dir(settings) if snapshot_dir is _DEFAULT else snapshot_dir,
        max_missing=t.max_missing,
        redact=snapshot_redactor(settings, violation_labels),
        alert_frames=settings.quality.event_frames,
        remember=reid.max_age,
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


def build_capture(settings: Settings) -> Capture:
    """The source of the ``source`` section; ``demo``: the built-in photos, played as :mod:`facemask_live.sources.demo` says."""
    s = settings.source
    source, loop, image_period = s.source, s.loop, 0.0
    if s.demo:
        from facemask_live.sources.demo import demo_source

        demo = demo_source(settings.gui.headless)
        source, loop, image_period = str(demo.folder), s.loop or demo.loop, demo.image_period
    return Capture(
        parse_source(source),
        realtime=True if s.realtime else None,
        loop=loop,
        stall_timeout=s.stall_timeout,
        max_reconnects=s.max_reconnects,
        image_period=image_period,
    )


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


def build_sinks(settings: Settings, fps: float | None, violation_labels: Iterable[str] = (), monitor=None) -> list[Sink]:
    """The outputs asked for, in the order they get each frame; on an error the ones opened are closed.

    ``violation_labels``: the classifier's, for the privacy sinks (faces with other labels are blurred).
    ``monitor``: the pipeline's ViolationMonitor, whose people counts the people log follows.
    """
    out, privacy = settings.output, settings.privacy
    labels = frozenset(violation_labels)
    sinks: list[Sink] = []
    try:
        if privacy.window:
            from facemask_live.outputs.privacy import WindowPrivacy

            sinks.append(WindowPrivacy(labels, privacy))  # first: redacts the drawn frame in place for all after it
        if out.detections:
            sinks.append(DetectionsWriter(out.detections))
        if out.events:
            sinks.append(EventLog(out.events))
        if out.output:
            video = VideoSink(out.output, fps)
            if privacy.enabled:
                from facemask_live.outputs.privacy import PrivateVideo

                video = PrivateVideo(video, labels, privacy)
            sinks.append(video)
        if settings.people_log.path:
            from facemask_live.events.peoplelog import PeopleLog

            counted = monitor.counted_label if monitor is not None else None
            sinks.append(PeopleLog(settings.people_log.path, settings.people_log.interval, counted_label=counted))
        pruner = build_retention(settings)
        if pruner is not None:
            sinks.append(pruner)  # last: after the snapshots of a frame were logged
        if settings.mqtt is not None:  # last: it connects in the background, after the files opened
            from facemask_live.outputs.mqtt import build_mqtt_sink

            # but it gets each frame first (after the window's redaction): an event is in the outbox before the
            # event log, so a kill -9 between the two never leaves a logged event that never reaches the broker
            sinks.insert(1 if privacy.window else 0, build_mqtt_sink(settings))
    except Exception:
        for sink in sinks:
            sink.close()
        raise
    return sinks


def make_snapshot_dir(path: Path) -> None:
    """Create the snapshot folder readable by this user only (0700: it holds faces) and check it is writable."""
    from facemask_live.outputs.privacy import private_dir

    try:
        private_dir(path)
    except OSError:
        pass  # ensure_dir says what is wrong, in the words every folder error uses
    ensure_dir(path, "snapshot")


def build_runner(
    settings: Settings,
    pipeline: Pipeline,
    *,
    on_result: Callable | None = None,
    on_idle: Callable[[RunStats], None] | None = None,
    annotate_frames: bool = False,
    pipelined: bool = True,
) -> Runner:
    """Capture and sinks around ``pipeline``; the snapshot folder is checked first (an error before any window)."""
    if settings.output.snapshots or not settings.gui.headless or (settings.tracking.enabled and event_snapshot_dir(settings)):
        make_snapshot_dir(settings.output.snapshot_dir())
    capture = build_capture(settings)
    try:
        sinks = build_sinks(settings, capture.fps, pipeline.classifier.violation_labels, pipeline.monitor)
    except Exception:
        capture.stop()
        raise
    return Runner(
        capture,
        pipeline,
        sinks=sinks,
        on_result=on_result,
        on_idle=on_idle,
        annotate_frames=annotate_frames,
        max_frames=settings.source.max_frames,
        pipelined=pipelined,
    )


def summary_lines(stats: RunStats, capture: Capture) -> list[str]:
    """The end-of-run summary printed by both front ends."""
    labels = ", ".join(f"{k or 'unlabelled'} {v}" for k, v in sorted(stats.faces_by_label.items())) or "none"
    people = ", ".join(f"{k} {v}" for k, v in sorted(stats.people_by_label.items()))
    lines = [
        f"source: {capture.spec.name} ({capture.stats.status})",
        f"frames processed: {stats.processed}, dropped: {stats.dropped}, skipped: {stats.skipped}, reconnects: {stats.reconnects}",
        f"face detections by label: {labels}",
        f"people seen: {stats.people}" + (f" ({people})" if people else "") + f", not judged: {stats.not_judged}"
        + f", violations: {stats.violations}",
    ]
    if stats.video_note:
        lines.append(stats.video_note)
    return lines


# ------------------------------------------------------------------------------------------------ a site
def site_thread_settings(settings: Settings) -> Settings:
    """A site's detector threads: ``threads``, else 1 (the cameras' own threads use the other cores)."""
    import dataclasses

    return settings if settings.threads else dataclasses.replace(settings, threads=1)


def camera_spec(settings: Settings, camera, *, realtime: bool = True):
    """The engine's :class:`~facemask_live.engine.site.CameraSpec` of one camera of ``settings``.

    ``realtime``: how a video file plays when the camera does not say (a site: at its own frame rate).
    """
    from facemask_live.core.zones import ZoneSettings
    from facemask_live.engine.site import CameraSpec

    site = settings.site
    return CameraSpec(
        camera.name,
        camera.source,
        loop=camera.loop,
        realtime=realtime if camera.realtime is None else camera.realtime,
        detect_fps=camera.detect_fps or site.detect_fps,
        zones=ZoneSettings(camera.zones, camera.anchor or site.anchor),
        motion=camera.motion or settings.motion,
        quality=settings.quality if settings.quality.enabled else None,
        stall_timeout=settings.source.stall_timeout,
        max_reconnects=settings.source.max_reconnects,
        backlog=site.backlog,
    )


def camera_snapshot_dir(settings: Settings, name: str) -> Path | None:
    """A site camera's event snapshots: a subfolder named after the camera (None: no automatic snapshots)."""
    root = event_snapshot_dir(settings)
    return None if root is None else root / safe_name(name)


def safe_name(name: str) -> str:
    """A camera name as a file/folder name."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "camera"


def build_shared_sinks(settings: Settings, violation_labels: Iterable[str]) -> list[Sink]:
    """The site's outputs written by every camera: event log, detections, people log, retention."""
    import dataclasses

    if settings.output.output:
        raise OutputError("--output records one camera: a site of several cameras cannot write one video (leave out output)")
    # the window-privacy and MQTT sinks are per camera (add_site_camera); the others are shared
    shared = dataclasses.replace(settings, privacy=dataclasses.replace(settings.privacy, window=False), mqtt=None)
    return build_sinks(shared, None, violation_labels)


def add_site_camera(site, settings: Settings, camera, *, realtime: bool = True):
    """Build one camera's tracker, monitor and sinks with the same builders as a single camera, and add it to
    ``site`` (also while it runs: the window's File -> Open and Camera -> Add)."""
    from facemask_live.engine.site import SharedSink

    cs = settings.for_camera(camera)
    detector = classifier = None
    if camera.detector is not None and camera.detector != settings.detector:  # its own detector settings
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
        sinks.append(build_site_mqtt_sink(cs, camera.name))  # before the event log: see build_sinks
    sinks += [SharedSink(s, site.shared_lock) for s in site.shared_sinks]
    return site.add_camera(camera_spec(settings, camera, realtime=realtime), tracker=tracker, monitor=monitor,
                           sinks=sinks, detector=detector, classifier=classifier)


def build_site_mqtt_sink(settings: Settings, camera: str):
    """The MQTT sink of one camera of a site: topics under the camera's name, a client id of its own."""
    import dataclasses

    from facemask_live.outputs.mqtt import build_mqtt_sink

    m = settings.mqtt
    own = dataclasses.replace(m, camera=camera, client_id=f"{m.client_id}-{camera}" if m.client_id else None)
    return build_mqtt_sink(dataclasses.replace(settings, mqtt=own))


def build_site(settings: Settings, *, on_result: Callable | None = None, annotate: bool = False, realtime: bool = True):
    """A :class:`~facemask_live.engine.site.Site` of every camera of ``settings``: one shared detector and
    classifier, a tracker, monitor and sinks per camera. Not started (``site.start()``)."""
    from facemask_live.engine.site import Site, SiteSettings

    st = site_thread_settings(settings)
    if settings.output.snapshots or not settings.gui.headless or (settings.tracking.enabled and event_snapshot_dir(settings)):
        make_snapshot_dir(settings.output.snapshot_dir())
    detector = build_detector(st)
    classifier = build_classifier(st)
    shared = build_shared_sinks(settings, classifier.violation_labels)
    cv_threads = st.detector_threads() if settings.detector.name == "ssd" else 1  # the SSD runs on OpenCV's pool
    engine = SiteSettings(detector_load=settings.site.detector_load, annotate=annotate or settings.privacy.window,
                          opencv_threads=cv_threads)
    site = Site(detector, classifier, engine, on_result=on_result, shared_sinks=shared)
    try:
        for camera in settings.cameras:
            add_site_camera(site, settings, camera, realtime=realtime)
    except BaseException:
        site.close()
        raise
    return site


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
