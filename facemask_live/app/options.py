"""The app's command-line options and how they become :class:`~facemask_live.core.config.Settings`.

Shared by the front ends (``cli``, ``gui``) and the tools that run the app (bench, soak, screenshots).
Only options the user actually gave override a ``--config`` file; the others keep the file's values.
"""

from __future__ import annotations

import argparse

from facemask_live import __version__
from facemask_live.core.config import (
    DEFAULT_SOURCE,
    EVIDENCE_WINDOW,
    MQTT_BROKER_KEYS,
    ConfigError,
    QualitySettings,
    ReidSettings,
    Settings,
    load_file,
    mqtt_url_fields,
    override,  # noqa: F401 - part of this module's API
    settings_from_dict,
    settings_to_dict,
)
from facemask_live.detection.detect import DEFAULT_DETECTOR, DEFAULT_MIN_FACE, DETECTORS, RETINAFACE_FILES, RETINAFACE_ONNX

EPILOG = """\
sources:
  0, 1, ...                       webcam index
  rtsp://user:pass@host:554/path  RTSP IP camera (the password is never shown or logged)
  http://host:8080/video          MJPEG or other HTTP(S) stream
  clip.mp4                        video file (processed frame by frame; --realtime plays it at its own rate)
  photo.jpg                       a single image
  folder/                         every image in a folder (unreadable files are skipped and counted)

keys in the window: S snapshot, Space pause/resume, F freeze the pictures, Q or Esc quit.
exit codes: 0 ok, 1 internal error, 2 bad option, 3 source error, 4 model error, 5 output error, 130 interrupted (Ctrl+C; SIGTERM stops cleanly with 0).
"""


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


def label_list(text: str) -> tuple[str, ...]:
    labels = tuple(x.strip() for x in text.split(",") if x.strip())
    if not labels:
        raise argparse.ArgumentTypeError(f"expected comma-separated label names, got {text!r}")
    return labels


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="facemask-live",
        description="Watch a camera, video, image or folder and show for every person whether they wear a face mask.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"facemask-live {__version__}")
    p.add_argument("--config", "-c", metavar="FILE", help="read settings from a YAML or TOML file; options given here override it (see docs/architecture.md)")
    p.add_argument("--print-config", action="store_true", help="print the effective settings as YAML and exit")
    g = p.add_argument_group("input")
    g.add_argument("--source", "-s", default=DEFAULT_SOURCE, help="webcam index, stream URL, video file, image or folder (default: 0)")
    g.add_argument("--demo", action="store_true", help="play the built-in demo photos, no camera needed (window: a looping slide show; --headless: each once)")
    g.add_argument("--realtime", action="store_true", help="play a video file at its own frame rate, dropping frames like a live camera (the window always does; headless processes every frame)")
    g.add_argument("--loop", action="store_true", help="replay a video file or folder when it ends")
    g.add_argument("--max-frames", type=positive_int, metavar="N", help="stop after processing this many frames")
    g.add_argument("--stall-timeout", type=positive_float, default=5.0, metavar="S", help="seconds without a frame before a live source counts as lost (default: 5)")
    g.add_argument("--max-reconnects", type=non_negative_int, metavar="N", help="give up after N failed reconnection attempts in a row (default: retry forever)")
    g.add_argument("--duration", type=positive_float, metavar="S", help="stop after S seconds (the window closes itself; default: when every source ended, or the window is closed)")

    g = p.add_argument_group("cameras (one, or a site of several in --config)")
    g.add_argument("--workers", type=positive_int, metavar="N", help="share the cameras out over N processes, each with its own detector (and, in the window, drawing its cameras' tiles) (default: automatic: more than eight live cameras go to processes of four, at most two per core; 1: all in one process)")
    g.add_argument("--no-motion", dest="motion", action="store_false", help="live cameras detect on schedule even when their picture is still (no motion gating)")
    g.add_argument("--stats-json", metavar="FILE", help='write per-camera and site figures to FILE at the end: {"cameras": {NAME: {...}}, "site": {...}, "cpu_seconds": ...}')

    g = p.add_argument_group("models")
    g.add_argument("--model", metavar="PATH", help="classifier metadata .json or model file (default: facemask_live/models/mask_classifier.json)")
    g.add_argument("--violation-threshold", type=open_unit_float, metavar="P", help="probability of no mask (or another violation label) from which a face counts as a violation; lower flags more (default: the model's, 0.5 for the shipped model, whose per-class prior weights were chosen on validation data)")
    g.add_argument("--violation-labels", type=label_list, metavar="A,B", help="comma-separated labels that count as a violation (default: the model's metadata, no_mask,incorrect_mask for the shipped model)")
    g.add_argument("--detector", choices=DETECTORS, default=DEFAULT_DETECTOR, help="face detector: retinaface-masked (RetinaFace-MobileNet0.25 fine-tuned on masked scene photos: finds more masked and small faces), retinaface (the same network with its original WIDER FACE weights) or ssd (OpenCV's res10 SSD) (default: retinaface-masked)")
    g.add_argument("--detector-dir", metavar="DIR", help=f"folder with the face detector files: {RETINAFACE_FILES['retinaface-masked']} (retinaface-masked), {RETINAFACE_ONNX} (retinaface; also what train_detector.py writes), or, for ssd, OpenCV's deploy.prototxt and res10_300x300_ssd_iter_140000.caffemodel, which are not shipped (default: facemask_live/models/)")
    g.add_argument("--confidence", type=unit_float, default=None, metavar="P", help="face detector confidence threshold (default: 0.7 for retinaface-masked and retinaface, 0.5 for ssd)")
    g.add_argument("--min-face", type=non_negative_int, default=DEFAULT_MIN_FACE, metavar="PX", help=f"ignore face boxes narrower or lower than this many pixels (default: {DEFAULT_MIN_FACE}; a face 20 px high is often under 20 px wide)")
    g.add_argument("--detector-size", type=positive_int, default=None, metavar="PX", help="detector input: the retinaface detectors resize the frame to this longer side, ssd to this square; larger finds smaller faces, slower (default: 700 for the retinaface detectors, 300 for ssd)")
    g.add_argument("--verify-faces", type=non_negative_int, default=2, metavar="N", help="ssd only: re-check up to N low-confidence face candidates per frame on an enlarged crop; finds more masked faces (default: 2, 0 = off)")
    g.add_argument("--candidate-confidence", type=unit_float, default=0.15, metavar="P", help="ssd only: lowest detector score of a candidate that --verify-faces re-checks (default: 0.15)")
    g.add_argument("--threads", type=positive_int, default=None, metavar="N", help="CPU threads for detection and classification (default: all cores for the detector, 1 for the classifier, which runs beside it; several cameras: 2 for both, 1 with --detector ssd)")
    g.add_argument("--detect-every", type=positive_int, default=2, metavar="N", help="the cadence of a video processed frame by frame: the face detector on every Nth frame, faces followed by optical flow in between (default: 2; 1 = every frame)")
    g.add_argument("--detect-fps", type=positive_float, metavar="F", help="the cadence of a live source: face detector runs per second for a camera, a stream or a file played in real time, while its picture moves (default: 6; a camera's detector.detect_fps overrides it)")

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
    g.add_argument("--visitor-display", metavar="CAMERA", help="open the visitor display beside the window: CAMERA's picture mirrored and one large message for the person nearest the camera ('camera' for a single --source; messages, colours, language and sounds: the visitor section of --config)")
    g.add_argument("--visitor-screen", type=non_negative_int, metavar="N", help="show the visitor display full screen on monitor N (0, 1, ...; default: a normal window)")

    add_quality_options(p)

    g = p.add_argument_group("output")
    g.add_argument("--headless", action="store_true", help="run without a window (servers, scripts); prints progress and a summary")
    g.add_argument("--snapshots", metavar="DIR", help="folder for snapshots (default: ~/Pictures/facemask-live if ~/Pictures exists, else ./snapshots)")
    g.add_argument("--output", "-o", metavar="FILE", help="write the annotated video to FILE (.mp4 or .avi)")
    g.add_argument("--detections", metavar="FILE", help="write one JSON record per processed frame/image to FILE (.jsonl)")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar in headless mode")
    g.add_argument("--verbose", "-v", action="store_true", help="log more")
    g.add_argument("--debug", action="store_true", help="show Python tracebacks on internal errors")

    g = p.add_argument_group("reports, retention and privacy")
    g.add_argument("--people-log", metavar="FILE", help="append people counts per camera (every --people-interval s and at the end) and every violation event to FILE (.jsonl), the input of `python -m facemask_live report`")
    g.add_argument("--people-interval", type=positive_float, default=10.0, metavar="S", help="seconds between people-count records (default: 10)")
    g.add_argument("--keep-days", type=positive_float, metavar="N", help="delete the app's snapshots and recordings older than N days, at start and while running (event log lines stay, their snapshot path becomes \"pruned\")")
    g.add_argument("--max-snapshot-mb", type=positive_float, metavar="M", help="keep the app's snapshots and earlier recordings under M megabytes, deleting the oldest first")
    g.add_argument("--privacy", action="store_true", help="blur every face that is not a violation in saved snapshots and the recorded video")
    g.add_argument("--privacy-window", action="store_true", help="with --privacy: blur them in the window too")
    g.add_argument("--no-compliant-images", action="store_true", help="with --privacy: store no pixel of compliant faces (filled, not blurred) and record only frames with a violation")
    g = p.add_argument_group("MQTT (topics and payloads: see the README)")
    g.add_argument("--mqtt", metavar="URL", help="publish events, counts and snapshots to a broker: mqtt://[user[:password]@]host[:port] or mqtts://...?ca_file=ca.pem; password also from {ENV_VAR} or FACEMASK_MQTT_PASSWORD; replaces the broker of an mqtt section in --config")
    g.add_argument("--mqtt-camera", metavar="NAME", help="camera name in the MQTT topics (default: the camera's name in --config, else from the source, e.g. the file name)")
    return p


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


def add_quality_options(p: argparse.ArgumentParser) -> None:
    """The quality gate and re-identification options (the ``quality`` and ``reid`` sections; also used by evaluate)."""
    q, r = QualitySettings(), ReidSettings()
    g = p.add_argument_group("quality gate and re-identification (see README: Judging only what can be judged)")
    g.add_argument("--no-quality-gate", dest="quality_gate", action="store_false", help="judge every face, however small, blurred or odd (the old behaviour)")
    g.add_argument("--judge-min-face", type=non_negative_int, default=q.min_size, metavar="PX", help=f"faces less high than this are shown as unknown, never judged (default: {q.min_size})")
    g.add_argument("--judge-min-sharpness", type=non_negative_float, default=q.min_sharpness, metavar="V", help=f"faces blurrier than this (variance of the Laplacian of the face at 64 px) are unknown (default: {q.min_sharpness:g})")
    g.add_argument("--judge-min-confidence", type=fraction, default=q.min_score, metavar="P", help=f"faces the detector scores lower are unknown (default: {q.min_score:g})")
    g.add_argument("--alert-min-confidence", type=fraction, default=q.alert_min_score, metavar="P", help=f"detector score a face needs to count towards a violation event (default: {q.alert_min_score:g})")
    g.add_argument("--alert-min-frontal", type=fraction, default=q.min_frontal, metavar="F", help=f"how frontal (0 profile .. 1 frontal, from the landmarks) a face must be to count towards a violation event (default: {q.min_frontal:g})")
    g.add_argument("--alert-frames", type=evidence_frames, default=q.alert_frames, metavar="N", help=f"frames of such evidence (of a person's last {EVIDENCE_WINDOW}) before they raise a violation event (default: {q.alert_frames})")
    g.add_argument("--no-reid", dest="reid", action="store_false", help="do not re-identify people whose track broke (a returning person gets a new id)")
    g.add_argument("--reid-max-age", type=non_negative_float, default=r.max_age, metavar="S", help=f"seconds a lost person can be re-identified (default: {r.max_age:g})")
    g.add_argument("--reid-min-similarity", type=unit_float, default=r.min_similarity, metavar="P", help=f"appearance similarity needed to re-identify (default: {r.min_similarity:g})")


# option dest -> (section, key) of Settings; None as section: a key of Settings itself
OPTION_MAP: dict[str, tuple[str | None, str]] = {
    "source": ("source", "source"),
    "demo": ("source", "demo"),
    "realtime": ("source", "realtime"),
    "loop": ("source", "loop"),
    "max_frames": ("source", "max_frames"),
    "stall_timeout": ("source", "stall_timeout"),
    "max_reconnects": ("source", "max_reconnects"),
    "duration": (None, "duration"),
    "detect_fps": ("detector", "detect_fps"),
    "motion": ("motion", "enabled"),
    "workers": ("site", "workers"),
    "stats_json": ("output", "stats_json"),
    "model": ("classifier", "model"),
    "violation_threshold": ("classifier", "violation_threshold"),
    "violation_labels": ("classifier", "violation_labels"),
    "detector": ("detector", "name"),
    "detector_dir": ("detector", "dir"),
    "confidence": ("detector", "confidence"),
    "min_face": ("detector", "min_face"),
    "detector_size": ("detector", "size"),
    "verify_faces": ("detector", "verify_faces"),
    "candidate_confidence": ("detector", "candidate_confidence"),
    "detect_every": ("detector", "detect_every"),
    "threads": (None, "threads"),
    "track": ("tracking", "enabled"),
    "track_delay": ("tracking", "delay"),
    "track_max_missing": ("tracking", "max_missing"),
    "vote_window": ("tracking", "vote_window"),
    "vote_min_confidence": ("tracking", "vote_min_confidence"),
    "cooldown": ("events", "cooldown"),
    "auto_snapshots": ("events", "auto_snapshots"),
    "quality_gate": ("quality", "enabled"),
    "judge_min_face": ("quality", "min_size"),
    "judge_min_sharpness": ("quality", "min_sharpness"),
    "judge_min_confidence": ("quality", "min_score"),
    "alert_min_confidence": ("quality", "alert_min_score"),
    "alert_min_frontal": ("quality", "min_frontal"),
    "alert_frames": ("quality", "alert_frames"),
    "reid": ("reid", "enabled"),
    "reid_max_age": ("reid", "max_age"),
    "reid_min_similarity": ("reid", "min_similarity"),
    "events": ("output", "events"),
    "snapshots": ("output", "snapshots"),
    "output": ("output", "output"),
    "detections": ("output", "detections"),
    "progress": ("output", "progress"),
    "alert_sound": ("gui", "alert_sound"),
    "alert_flash": ("gui", "alert_flash"),
    "visitor_display": ("visitor", "camera"),
    "visitor_screen": ("visitor", "screen"),
    "headless": ("gui", "headless"),
    "people_log": ("people_log", "path"),
    "people_interval": ("people_log", "interval"),
    "keep_days": ("retention", "keep_days"),
    "max_snapshot_mb": ("retention", "max_snapshot_mb"),
    "privacy": ("privacy", "enabled"),
    "privacy_window": ("privacy", "window"),
    "no_compliant_images": ("privacy", "no_compliant_images"),
    "verbose": (None, "verbose"),
    "debug": (None, "debug"),
}
NOT_SETTINGS = {"config", "print_config", "help", "version"}
MQTT_OPTIONS = ("mqtt", "mqtt_camera")  # the mqtt section: see _mqtt_section


def given_options(parser: argparse.ArgumentParser, argv: list[str] | None) -> dict:
    """Only the options present in ``argv`` (dest -> value): parsed again with every default suppressed."""
    quiet = argparse.ArgumentParser(add_help=False, allow_abbrev=parser.allow_abbrev)
    for action in parser._actions:
        if not action.option_strings or action.dest in ("help", "version"):
            continue
        kwargs = {"dest": action.dest, "default": argparse.SUPPRESS}
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            kwargs["action"] = "store_const"
            kwargs["const"] = action.const
        else:
            kwargs.update(type=action.type, choices=action.choices, nargs=action.nargs)
        quiet.add_argument(*action.option_strings, **kwargs)
    return vars(quiet.parse_known_args(argv)[0])


def apply_options(settings: Settings, options: dict) -> Settings:
    """``settings`` with the given command-line options (dest -> value) put in their sections."""
    data = settings_to_dict(settings)
    if options.get("demo") and options.get("source", DEFAULT_SOURCE) != DEFAULT_SOURCE:
        raise ConfigError("--demo plays the built-in photos: leave out --source")
    if options.get("demo"):  # the demo replaces a settings file's source (and its cameras, below)
        options = {**options, "source": DEFAULT_SOURCE}
    elif "source" in options:  # --source replaces a settings file's demo
        options = {**options, "demo": False}
    replace_cameras = "source" in options
    data["mqtt"] = _mqtt_section(data["mqtt"], options)
    for dest, value in options.items():
        if dest in NOT_SETTINGS or dest in MQTT_OPTIONS:
            continue
        section, key = OPTION_MAP[dest]
        if section is None:
            data[key] = value
        else:
            data[section][key] = value
    for cam in data["cameras"]:  # a camera list from a file keeps its sources; --loop/--realtime apply to all
        for key in ("loop", "realtime"):
            if key in options:
                cam[key] = options[key]
    if replace_cameras:  # --source: a one-camera site
        data["cameras"] = []
    for cam in data["cameras"]:  # the site sections the options just changed are not camera overrides
        for key in ("detector", "classifier", "tracking", "motion"):
            cam[key] = None if cam[key] is None else {**cam[key], **{OPTION_MAP[d][1]: v for d, v in options.items()
                                                                      if d in OPTION_MAP and OPTION_MAP[d][0] == key}}
    if not data["cameras"]:
        del data["cameras"]
    return settings_from_dict(data)


def _mqtt_section(section: dict | None, options: dict) -> dict | None:
    """The ``mqtt`` section with ``--mqtt URL`` (the broker keys replaced, the others kept) and ``--mqtt-camera``."""
    if options.get("mqtt"):
        try:
            broker = mqtt_url_fields(options["mqtt"])
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        section = {**{k: v for k, v in (section or {}).items() if k not in MQTT_BROKER_KEYS}, **broker}
    if options.get("mqtt_camera"):
        if section is None:
            raise ConfigError("--mqtt-camera needs --mqtt URL (or an mqtt section in --config)")
        section = {**section, "camera": options["mqtt_camera"]}
    return section


def settings_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None,
                       argv: list[str] | None = None) -> Settings:
    """Settings from parsed options: the ``--config`` file (if any), then the options given in ``argv``.

    Without ``argv`` every option counts as given (e.g. a Namespace made in code).
    """
    base = load_file(args.config) if getattr(args, "config", None) else Settings()
    if argv is None:
        options = {k: v for k, v in vars(args).items() if k in OPTION_MAP or k in MQTT_OPTIONS}
    else:
        options = given_options(parser or build_parser(), argv)
    try:
        return apply_options(base, options)
    except ConfigError as exc:
        raise ConfigError(f"{'config ' + args.config + ' with the options given: ' if getattr(args, 'config', None) else ''}{exc}") from None


def load_settings(argv: list[str] | None = None, **overrides) -> Settings:
    """Settings from app command-line arguments (as ``facemask-live`` takes them), then ``overrides``.

    ``overrides``: section name -> dict of keys (e.g. ``detector={"detect_every": 1}``) or a Settings field.
    """
    parser = build_parser()
    argv = list(argv or [])
    args = parser.parse_args(argv)
    settings = settings_from_args(args, parser, argv)
    return override(settings, **overrides) if overrides else settings
