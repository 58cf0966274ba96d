"""The composition root: the one place that builds the app's objects from :class:`~facemask_live.config.Settings`.

    settings -> build_pipeline (detector, classifier, tracker, monitor) -> build_runner (capture, sinks)

The front ends (``cli`` headless, ``gui`` window) and the tools (evaluate, bench, soak, screenshots) call
these functions and nothing else to put the app together; no object is changed after it is built.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .capture import Capture, parse_source
from .config import Settings
from .pipeline import Pipeline
from .runner import Runner, RunStats
from .sinks import DetectionsWriter, EventLog, Sink, VideoSink, ensure_dir


def build_detector(settings: Settings):
    """The face detector of the ``detector`` section."""
    from .detect import create_detector

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
    from .classify import MaskClassifier, default_model_path

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


def build_pipeline(settings: Settings, classifier=None) -> Pipeline:
    """Detector, classifier, tracker and event monitor (``classifier``: one already loaded, e.g. by bench)."""
    import cv2

    cv2.setNumThreads(settings.detector_threads())
    detector = build_detector(settings)
    if classifier is None:
        classifier = build_classifier(settings)
    tracker = monitor = None
    t = settings.tracking
    if t.enabled:
        from .events import ViolationMonitor
        from .track import Tracker

        tracker = Tracker(
            initialization_delay=t.delay,
            max_missing=t.max_missing,
            vote_window=t.vote_window,
            min_confidence=t.vote_min_confidence,
        )
        monitor = ViolationMonitor(
            classifier.violation_labels,
            cooldown=settings.events.cooldown,
            snapshot_dir=event_snapshot_dir(settings),
            max_missing=t.max_missing,
        )
    return Pipeline(detector, classifier, tracker=tracker, monitor=monitor, detect_every=settings.detector.detect_every)


def build_capture(settings: Settings) -> Capture:
    s = settings.source
    return Capture(
        parse_source(s.source),
        realtime=True if s.realtime else None,
        loop=s.loop,
        stall_timeout=s.stall_timeout,
        max_reconnects=s.max_reconnects,
    )


def build_sinks(settings: Settings, fps: float | None) -> list[Sink]:
    """The outputs asked for (detections, event log, video, MQTT); on an error the ones opened are closed."""
    out = settings.output
    sinks: list[Sink] = []
    try:
        if out.detections:
            sinks.append(DetectionsWriter(out.detections))
        if out.events:
            sinks.append(EventLog(out.events))
        if out.output:
            sinks.append(VideoSink(out.output, fps))
        if settings.mqtt is not None:  # last: it connects in the background, after the files opened
            from .mqtt import build_mqtt_sink

            sinks.append(build_mqtt_sink(settings))
    except Exception:
        for sink in sinks:
            sink.close()
        raise
    return sinks


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
        ensure_dir(settings.output.snapshot_dir(), "snapshot")
    capture = build_capture(settings)
    try:
        sinks = build_sinks(settings, capture.fps)
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
        f"people seen: {stats.people}" + (f" ({people})" if people else "") + f", violations: {stats.violations}",
    ]
    if stats.video_note:
        lines.append(stats.video_note)
    return lines
