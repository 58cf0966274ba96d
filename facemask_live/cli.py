"""Command line: `python -m facemask_live` / `facemask-live`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from pathlib import Path

from . import __version__
from .capture import Capture, mask_credentials, parse_source
from .detect import DETECTORS, RETINAFACE_ONNX
from .errors import FacemaskError, OutputError, exit_code_of

log = logging.getLogger("facemask_live")

EPILOG = """\
sources:
  0, 1, ...                       webcam index
  rtsp://user:pass@host:554/path  RTSP IP camera (the password is never shown or logged)
  http://host:8080/video          MJPEG or other HTTP(S) stream
  clip.mp4                        video file (processed frame by frame; --realtime plays it at its own rate)
  photo.jpg                       a single image
  folder/                         every image in a folder (unreadable files are skipped and counted)

keys in the window: S snapshot, Space pause/resume, Q or Esc quit.
exit codes: 0 ok, 1 internal error, 2 bad option, 3 source error, 4 model error, 5 output error, 130 interrupted (Ctrl+C; SIGTERM stops cleanly with 0).
"""


def default_snapshot_dir() -> Path:
    pictures = Path.home() / "Pictures"
    return pictures / "facemask-live" if pictures.is_dir() else Path("snapshots")


def positive_int(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text}")
    return v


def non_negative_int(text: str) -> int:
    v = int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text}")
    return v


def unit_float(text: str) -> float:
    v = float(text)
    if not 0.0 < v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return v


def open_unit_float(text: str) -> float:
    v = float(text)
    if not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return v


def positive_float(text: str) -> float:
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return v


def non_negative_float(text: str) -> float:
    v = float(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="facemask-live",
        description="Watch a camera, video, image or folder and show for every person whether they wear a face mask.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"facemask-live {__version__}")
    g = p.add_argument_group("input")
    g.add_argument("--source", "-s", default="0", help="webcam index, stream URL, video file, image or folder (default: 0)")
    g.add_argument("--realtime", action="store_true", help="play a video file at its own frame rate, dropping frames like a live camera")
    g.add_argument("--loop", action="store_true", help="replay a video file or folder when it ends")
    g.add_argument("--max-frames", type=positive_int, metavar="N", help="stop after processing this many frames")
    g.add_argument("--stall-timeout", type=positive_float, default=5.0, metavar="S", help="seconds without a frame before a live source counts as lost (default: 5)")
    g.add_argument("--max-reconnects", type=non_negative_int, metavar="N", help="give up after N failed reconnection attempts in a row (default: retry forever)")

    g = p.add_argument_group("models")
    g.add_argument("--model", metavar="PATH", help="classifier metadata .json or model file (default: models/mask_classifier.json)")
    g.add_argument("--violation-threshold", type=open_unit_float, metavar="P", help="probability of no mask (or another violation label) from which a face counts as a violation; lower flags more (default: the model's, 0.3 for the shipped model)")
    g.add_argument("--detector", choices=DETECTORS, default="retinaface", help="face detector: retinaface (RetinaFace-MobileNet0.25, finds masked faces) or ssd (OpenCV's res10 SSD) (default: retinaface)")
    g.add_argument("--detector-dir", metavar="DIR", help=f"folder with the face detector files: {RETINAFACE_ONNX}, or deploy.prototxt and res10_300x300_ssd_iter_140000.caffemodel (default: models/)")
    g.add_argument("--confidence", type=unit_float, default=None, metavar="P", help="face detector confidence threshold (default: 0.7 for retinaface, 0.5 for ssd)")
    g.add_argument("--min-face", type=non_negative_int, default=20, metavar="PX", help="ignore faces smaller than this many pixels (default: 20)")
    g.add_argument("--detector-size", type=positive_int, default=None, metavar="PX", help="detector input: retinaface resizes the frame to this longer side, ssd to this square; larger finds smaller faces, slower (default: 700 for retinaface, 300 for ssd)")
    g.add_argument("--verify-faces", type=non_negative_int, default=2, metavar="N", help="ssd only: re-check up to N low-confidence face candidates per frame on an enlarged crop; finds more masked faces (default: 2, 0 = off)")
    g.add_argument("--candidate-confidence", type=unit_float, default=0.15, metavar="P", help="ssd only: lowest detector score of a candidate that --verify-faces re-checks (default: 0.15)")
    g.add_argument("--threads", type=positive_int, default=None, metavar="N", help="CPU threads for detection and classification (default: all cores for the detector, 1 for the classifier, which runs beside it)")
    g.add_argument("--detect-every", type=positive_int, default=2, metavar="N", help="run the face detector on every Nth frame of a video only, following faces by optical flow in between (default: 2; 1 = every frame)")

    g = p.add_argument_group("tracking and events")
    g.add_argument("--no-track", dest="track", action="store_false", help="label every frame on its own, without tracking people")
    g.add_argument("--track-delay", type=non_negative_int, default=3, metavar="N", help="frames a face must be seen before it becomes a tracked person (default: 3)")
    g.add_argument("--track-max-missing", type=non_negative_int, default=15, metavar="N", help="frames a person may be missing before the track ends (default: 15)")
    g.add_argument("--vote-window", type=positive_int, default=15, metavar="N", help="frames over which a person's label is decided (default: 15)")
    g.add_argument("--vote-min-confidence", type=unit_float, default=0.6, metavar="P", help="minimum averaged probability for a person's label (default: 0.6)")
    g.add_argument("--cooldown", type=non_negative_float, default=60.0, metavar="S", help="seconds before the same person can raise another violation event (default: 60)")
    g.add_argument("--events", metavar="FILE", help="append violation events to FILE (.jsonl or .csv)")
    g.add_argument("--no-auto-snapshots", dest="auto_snapshots", action="store_false", help="do not save a snapshot for each violation event")
    g.add_argument("--alert-sound", action="store_true", help="beep on a new violation (window mode)")
    g.add_argument("--no-alert-flash", dest="alert_flash", action="store_false", help="do not flash the window border on a new violation")

    add_quality_options(p)

    g = p.add_argument_group("output")
    g.add_argument("--headless", action="store_true", help="run without a window (servers, scripts); prints progress and a summary")
    g.add_argument("--snapshots", metavar="DIR", help="folder for snapshots (default: ~/Pictures/facemask-live if ~/Pictures exists, else ./snapshots)")
    g.add_argument("--output", "-o", metavar="FILE", help="write the annotated video to FILE (.mp4 or .avi)")
    g.add_argument("--detections", metavar="FILE", help="write one JSON record per processed frame/image to FILE (.jsonl)")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar in headless mode")
    g.add_argument("--verbose", "-v", action="store_true", help="log more")
    g.add_argument("--debug", action="store_true", help="show Python tracebacks on internal errors")
    return p


def add_quality_options(p: argparse.ArgumentParser) -> None:
    """The quality gate and re-identification options (facemask_live.quality, facemask_live.reid)."""
    from .events import EVIDENCE_WINDOW
    from .quality import QualitySettings
    from .reid import ReidSettings

    q, r = QualitySettings(), ReidSettings()

    def fraction(text: str) -> float:
        v = float(text)
        if not 0.0 <= v <= 1.0:
            raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
        return v

    def evidence_frames(text: str) -> int:
        v = int(text)
        if not 1 <= v <= EVIDENCE_WINDOW:
            raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {EVIDENCE_WINDOW}, got {text}")
        return v

    g = p.add_argument_group("quality gate and re-identification (see README: Judging only what can be judged)")
    g.add_argument("--no-quality-gate", dest="quality_gate", action="store_false", help="judge every face, however small, blurred or odd (the old behaviour)")
    g.add_argument("--judge-min-face", type=non_negative_int, default=q.min_size, metavar="PX", help=f"faces less high than this are shown as unknown, never judged (default: {q.min_size})")
    g.add_argument("--judge-min-sharpness", type=non_negative_float, default=q.min_sharpness, metavar="V", help=f"faces blurrier than this (variance of the Laplacian of the face at 64 px) are unknown (default: {q.min_sharpness:g})")
    g.add_argument("--judge-min-confidence", type=unit_float, default=q.min_score, metavar="P", help=f"faces the detector scores lower are unknown (default: {q.min_score:g})")
    g.add_argument("--alert-min-confidence", type=unit_float, default=q.alert_min_score, metavar="P", help=f"detector score a face needs to count towards a violation event (default: {q.alert_min_score:g})")
    g.add_argument("--alert-min-frontal", type=fraction, default=q.min_frontal, metavar="F", help=f"how frontal (0 profile .. 1 frontal, from the landmarks) a face must be to count towards a violation event (default: {q.min_frontal:g})")
    g.add_argument("--alert-frames", type=evidence_frames, default=q.alert_frames, metavar="N", help=f"frames of such evidence (of a person's last {EVIDENCE_WINDOW}) before they raise a violation event (default: {q.alert_frames})")
    g.add_argument("--no-reid", dest="reid", action="store_false", help="do not re-identify people whose track broke (a returning person gets a new id)")
    g.add_argument("--reid-max-age", type=non_negative_float, default=r.max_age, metavar="S", help=f"seconds a lost person can be re-identified (default: {r.max_age:g})")
    g.add_argument("--reid-min-similarity", type=unit_float, default=r.min_similarity, metavar="P", help=f"appearance similarity needed to re-identify (default: {r.min_similarity:g})")


def quality_settings(args):
    """QualitySettings from the options; None when the gate is off."""
    from .quality import QualitySettings

    if not getattr(args, "quality_gate", True):
        return None
    d = QualitySettings()
    return QualitySettings(
        min_size=getattr(args, "judge_min_face", d.min_size),
        min_sharpness=getattr(args, "judge_min_sharpness", d.min_sharpness),
        min_score=getattr(args, "judge_min_confidence", d.min_score),
        alert_min_score=getattr(args, "alert_min_confidence", d.alert_min_score),
        min_frontal=getattr(args, "alert_min_frontal", d.min_frontal),
        alert_frames=getattr(args, "alert_frames", d.alert_frames),
    )


def reid_settings(args):
    from .reid import ReidSettings

    d = ReidSettings()
    return ReidSettings(
        enabled=getattr(args, "reid", True),
        max_age=getattr(args, "reid_max_age", d.max_age),
        min_similarity=getattr(args, "reid_min_similarity", d.min_similarity),
    )


class CredentialFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_credentials(record.getMessage())
        record.args = ()
        return True


def setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("facemask-live: %(message)s"))
    handler.addFilter(CredentialFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)


def build_detector(args):
    """The face detector from the "models" options (also used by ``python -m facemask_live.evaluate``)."""
    import cv2

    from .detect import create_detector

    return create_detector(
        args.detector,
        args.detector_dir,
        confidence=args.confidence,
        min_size=args.min_face,
        input_size=args.detector_size,
        threads=args.threads or cv2.getNumberOfCPUs() or 1,
        verify_candidates=args.verify_faces,
        candidate_confidence=args.candidate_confidence,
    )


def build_pipeline(args, classifier=None):
    """Detector, classifier, tracker and event monitor from the options."""
    import cv2

    from .classify import MaskClassifier, default_model_path
    from .pipeline import Pipeline

    threads = args.threads or cv2.getNumberOfCPUs() or 1
    cv2.setNumThreads(threads)
    detector = build_detector(args)
    if classifier is None:
        classifier = MaskClassifier(args.model or default_model_path(), threads=args.threads or 1,
                                    violation_threshold=args.violation_threshold)
    tracker = monitor = None
    quality = quality_settings(args)
    if args.track:
        from .events import ViolationMonitor
        from .reid import Reidentifier
        from .track import Tracker

        reid = reid_settings(args)
        tracker = Tracker(
            initialization_delay=args.track_delay,
            max_missing=args.track_max_missing,
            vote_window=args.vote_window,
            min_confidence=args.vote_min_confidence,
            reid=Reidentifier(reid) if reid.enabled else None,
        )
        snap_dir = Path(args.snapshots) if args.snapshots else default_snapshot_dir()
        monitor = ViolationMonitor(
            classifier.violation_labels,
            cooldown=args.cooldown,
            snapshot_dir=snap_dir if args.auto_snapshots and (args.snapshots or args.events or not args.headless) else None,
            max_missing=args.track_max_missing,
            alert_frames=quality.alert_frames if quality is not None else 1,
            remember=reid.max_age,
        )
    return Pipeline(detector, classifier, tracker=tracker, monitor=monitor, detect_every=getattr(args, "detect_every", 1),
                    quality=quality)


def build_runner(args, pipeline, on_result=None, annotate_frames=False):
    from .runner import Runner
    from .sinks import DetectionsWriter, EventLog, VideoSink, ensure_dir

    if args.snapshots or not args.headless or (args.track and args.auto_snapshots and args.events):
        ensure_dir(args.snapshots or default_snapshot_dir(), "snapshot")
    capture = Capture(
        parse_source(args.source),
        realtime=True if args.realtime else None,
        loop=args.loop,
        stall_timeout=args.stall_timeout,
        max_reconnects=args.max_reconnects,
    )
    try:
        detections = DetectionsWriter(args.detections) if args.detections else None
        event_log = EventLog(args.events) if args.events else None
        video = VideoSink(args.output, capture.fps) if args.output else None
    except OutputError:
        capture.stop()
        raise
    return Runner(
        capture,
        pipeline,
        detections=detections,
        video=video,
        event_log=event_log,
        on_result=on_result,
        annotate_frames=annotate_frames,
        max_frames=args.max_frames,
    )


def summary_lines(stats, capture) -> list[str]:
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


def run_headless(args) -> int:
    pipeline = build_pipeline(args)
    runner = build_runner(args, pipeline)
    cap = runner.capture
    bar = None
    if args.progress and not cap.spec.is_live:
        from tqdm import tqdm

        bar = tqdm(
            total=None if args.loop else cap.frame_count,
            unit="frame",
            desc=Path(cap.spec.name).name[-30:],
            file=sys.stderr,
            mininterval=0.2 if sys.stderr.isatty() else 5.0,
        )
    last_status = [cap.stats.status]

    def progress(result):
        if bar is not None:
            bar.update(1)
        st = cap.stats.status
        if st != last_status[0]:
            if last_status[0].startswith("reconnecting") and st == "running":
                log.warning("%s: reconnected", cap.spec.name)
            last_status[0] = st

    interrupted = False

    def on_signal(signum, _frame):
        # Only set a flag here: the loop ends after the frame in hand, then the video is finalised and
        # the logs flushed. An exception thrown at a random point of the loop could leave a worker
        # thread waiting forever. A second Ctrl+C falls back to Python's KeyboardInterrupt.
        nonlocal interrupted
        if signum == signal.SIGINT:
            interrupted = True
            signal.signal(signal.SIGINT, signal.default_int_handler)
        runner.stop()

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    t0 = time.monotonic()
    try:
        stats = runner.run(progress)
    except KeyboardInterrupt:
        interrupted = True
        runner.close()
        stats = runner.stats
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if bar is not None:
            bar.close()
    if interrupted:
        print("interrupted", file=sys.stderr)
    if cap.error is not None:
        raise cap.error if isinstance(cap.error, FacemaskError) else FacemaskError(str(cap.error))
    elapsed = time.monotonic() - t0
    if cap.stats.status == "ended" and not cap.spec.is_live:
        print(f"reached the end of {cap.spec.name}", file=sys.stderr)
    for line in summary_lines(stats, cap):
        print(line, file=sys.stderr)
    print(f"time: {elapsed:.1f} s ({stats.processed / elapsed if elapsed else 0:.1f} frames/s)", file=sys.stderr)
    return 130 if interrupted else 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)

    def action() -> int:
        if args.headless:
            return run_headless(args)
        from .gui import run_gui

        return run_gui(args)

    return exit_code_of(action, debug=args.debug, clean=mask_credentials)


def run() -> None:
    """Console-script entry point (`facemask-live`)."""
    sys.exit(main())
