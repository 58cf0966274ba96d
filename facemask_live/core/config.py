"""Typed, validated settings: one frozen dataclass per area, loaded from YAML/TOML and the command line.

Long because every settings section lives here on purpose: one field per option, one place.

A site file (``--config site.yaml``) holds the same sections as :class:`Settings`; every key is checked,
so a typo is an error naming the key and the closest valid one. ``{NAME}`` in a string is replaced by the
environment variable ``NAME`` (e.g. ``rtsp://admin:{FACEMASK_CAM1_PASSWORD}@10.0.0.5/stream``), which
keeps passwords out of the file. Command-line options override the file (see :mod:`facemask_live.app.options`).

Every section validates itself in ``__post_init__`` and raises ``ValueError`` with a one-line message;
:func:`load_file` turns that into a :class:`ConfigError` (exit code 2) naming the file.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from facemask_live.core.errors import FacemaskError
from facemask_live.core.schedule import Schedule  # pure Python, like zones
from facemask_live.core.zones import ANCHORS, Zone  # pure geometry: zones imports OpenCV only to draw

DETECTOR_NAMES = ("retinaface-masked", "retinaface", "ssd")  # detect.DETECTORS; repeated here so that config imports no OpenCV
DEFAULT_MIN_FACE = 14  # detect.DEFAULT_MIN_FACE (why 14, not 20: there), repeated for the same reason
DEFAULT_SOURCE = "0"  # the first webcam
DEFAULT_CAMERA = "camera"  # the name of the one camera made from the ``source`` section


log = logging.getLogger(__name__)

class ConfigError(FacemaskError):
    """A settings file or value that cannot be used (exit code 2)."""

    exit_code = 2


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _unit(value: float | None, name: str, *, open_top: bool = False) -> None:
    if value is None:
        return
    if open_top:
        _check(0.0 < value < 1.0, f"{name} must be between 0 and 1 (exclusive), got {value}")
    else:
        _check(0.0 < value <= 1.0, f"{name} must be in (0, 1], got {value}")


def _at_least(value: float | None, low: float, name: str) -> None:
    if value is not None:
        _check(value >= low, f"{name} must be >= {low:g}, got {value}")


@dataclass(frozen=True)
class SourceSettings:
    """What to watch and how to treat it (also the single camera of a one-camera site)."""

    source: str = DEFAULT_SOURCE
    demo: bool = False  # the built-in photos instead of ``source`` (engine.build.camera_spec, demo.py)
    realtime: bool = False
    loop: bool = False
    max_frames: int | None = None
    stall_timeout: float = 5.0
    max_reconnects: int | None = None

    def __post_init__(self):
        _check(str(self.source).strip() != "", "source.source must not be empty")
        _check(not self.demo or str(self.source) == DEFAULT_SOURCE,
               f"source.demo plays the built-in photos: leave out source.source (got {self.source!r})")
        _at_least(self.max_frames, 1, "source.max_frames")
        _check(self.stall_timeout > 0, f"source.stall_timeout must be > 0, got {self.stall_timeout}")
        _at_least(self.max_reconnects, 0, "source.max_reconnects")


@dataclass(frozen=True)
class DetectorSettings:
    """The face detector (:func:`facemask_live.detection.detect.create_detector`) and how often it runs.

    The cadence, chosen per source: ``detect_every`` for a video processed frame by frame (the detector on every
    Nth frame, optical flow between), ``detect_fps`` for a live source (a camera, a stream, a file played in real
    time: detector runs per second while the picture moves). A camera's ``detector`` keys override these.
    """

    name: str = "retinaface-masked"
    dir: str | None = None
    confidence: float | None = None  # None: the detector's own default
    min_face: int = DEFAULT_MIN_FACE
    size: int | None = None  # None: the detector's own default input size
    verify_faces: int = 2
    candidate_confidence: float = 0.15
    detect_every: int = 2
    detect_fps: float = 6.0
    # a camera's detect_source smaller than ``size`` (a 640x360 substream) is detected at its own size: a quarter less
    # per detector pass; true enlarges it to ``size`` like any picture (finds a few more of its faces under 40 px)
    enlarge_detect_stream: bool = False

    def __post_init__(self):
        _check(self.name in DETECTOR_NAMES, f"detector.name must be one of {', '.join(DETECTOR_NAMES)}, got {self.name!r}")
        _unit(self.confidence, "detector.confidence")
        _at_least(self.min_face, 0, "detector.min_face")
        _at_least(self.size, 1, "detector.size")
        _at_least(self.verify_faces, 0, "detector.verify_faces")
        _unit(self.candidate_confidence, "detector.candidate_confidence")
        _at_least(self.detect_every, 1, "detector.detect_every")
        _check(0 < self.detect_fps <= 60, f"detector.detect_fps must be in (0, 60], got {self.detect_fps}")


@dataclass(frozen=True)
class ClassifierSettings:
    """The mask classifier (:class:`facemask_live.detection.classify.MaskClassifier`)."""

    model: str | None = None  # None: the shipped model
    violation_threshold: float | None = None  # None: the model's
    violation_labels: tuple[str, ...] | None = None  # None: the model's

    def __post_init__(self):
        _unit(self.violation_threshold, "classifier.violation_threshold", open_top=True)
        if self.violation_labels is not None:
            _check(len(self.violation_labels) > 0, "classifier.violation_labels must name at least one label (or be left out)")


@dataclass(frozen=True)
class TrackingSettings:
    """People tracking and the per-person label vote (:class:`facemask_live.tracking.track.Tracker`)."""

    enabled: bool = True
    delay: int = 3
    max_missing: int = 15
    vote_window: int = 15
    vote_min_confidence: float = 0.6

    def __post_init__(self):
        _at_least(self.delay, 0, "tracking.delay")
        _at_least(self.max_missing, 0, "tracking.max_missing")
        _at_least(self.vote_window, 1, "tracking.vote_window")
        _unit(self.vote_min_confidence, "tracking.vote_min_confidence")


@dataclass(frozen=True)
class EventSettings:
    """Violation events (:class:`facemask_live.events.monitor.ViolationMonitor`)."""

    cooldown: float = 60.0
    auto_snapshots: bool = True
    # a violator still in view (inside the entrance zone when there is one) this many seconds after their event
    # raises one escalated event (per cooldown); None: no escalation. A camera's ``escalate_after`` overrides it.
    escalate_after: float | None = None

    def __post_init__(self):
        _at_least(self.cooldown, 0, "events.cooldown")
        _escalation(self.escalate_after, self.cooldown, "events.escalate_after")


def _escalation(after: float | None, cooldown: float, name: str) -> None:
    if after is not None:
        _check(0 < after < cooldown or cooldown == 0, f"{name} must be > 0 and less than events.cooldown ({cooldown:g} s), got {after}")


@dataclass(frozen=True)
class AlertHoursSettings:
    """When a camera alerts (:mod:`facemask_live.core.schedule`): outside these hours no events, sounds or flashes,
    the picture says "off hours" and the door signal is idle; people are still counted (people log).
    ``weekly``: rules like ``Mon-Fri 07:00-19:00`` (local time); none: always. ``holidays``: dates with no alerts."""

    weekly: tuple[str, ...] = ()
    holidays: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "_schedule", Schedule.parse(self.weekly, self.holidays))  # a one-line ValueError

    @property
    def schedule(self) -> Schedule:
        return self._schedule  # type: ignore[attr-defined]


@dataclass(frozen=True)
class DoorSettings:
    """The door signal (:mod:`facemask_live.outputs.door`): ``allow`` / ``deny`` / ``idle`` per camera on MQTT."""

    enabled: bool = True  # publish <prefix>/<camera>/door when MQTT is on
    idle_after: float = 2.0  # seconds without anyone judged in view before the door goes back to idle

    def __post_init__(self):
        _check(self.idle_after >= 0, f"door.idle_after must be >= 0 seconds, got {self.idle_after}")


VISITOR_LANGUAGES = ("en", "de")  # facemask_live/app/messages/<language>.yaml
_COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")


@dataclass(frozen=True)
class VisitorSettings:
    """The visitor display (:mod:`facemask_live.app.window.visitor`): a screen facing the entrance.

    camera: the camera it shows (``--visitor-display CAMERA``; None: no display). screen: the monitor it fills
    (``--visitor-screen N``; None: a normal window). language: the shipped messages (en, de) or a .yaml file
    of your own. messages / colors / sounds: per label (mask, no_mask, incorrect_mask), over the language's.
    """

    camera: str | None = None
    screen: int | None = None
    language: str = "en"
    messages: dict[str, str] = field(default_factory=dict)
    colors: dict[str, str] = field(default_factory=dict)  # "#RRGGBB"
    sounds: dict[str, str] = field(default_factory=dict)  # WAV files, played once when the message appears
    mirror: bool = True

    def __post_init__(self):
        _check(self.camera is None or bool(str(self.camera).strip()), "visitor.camera must not be empty (or be left out)")
        _at_least(self.screen, 0, "visitor.screen")
        _check(self.language in VISITOR_LANGUAGES or self.language.endswith((".yaml", ".yml")),
               f"visitor.language must be one of {', '.join(VISITOR_LANGUAGES)} or a .yaml messages file, got {self.language!r}")
        bad = [c for c in self.colors.values() if not _COLOR_RE.match(str(c))]
        _check(not bad, f"visitor.colors: {bad[0] if bad else ''!r} is not a colour #RRGGBB")
        bad = [w for w in self.sounds.values() if not str(w).lower().endswith(".wav")]
        _check(not bad, f"visitor.sounds: {bad[0] if bad else ''!r} is not a .wav file")


EVIDENCE_WINDOW = 15  # frames: a violation's evidence is counted over a person's last 15 good frames (events.py)


@dataclass(frozen=True)
class QualitySettings:
    """The quality gate (:mod:`facemask_live.detection.quality`): which faces are judged, and which count towards a
    violation event. ``enabled=False`` judges every face, and one frame with a violation label is enough."""

    enabled: bool = True
    # the gate: a face failing one of these is "unknown"
    min_size: int = 22  # pixels, height of the face box (32, then 24 until issue 27: see docs/accuracy.md)
    min_score: float = 0.7  # detector confidence
    min_sharpness: float = 8.0  # variance of the Laplacian of the grey face crop at 64 px
    max_roll: float = 50.0  # degrees the eye-to-mouth axis may lean from vertical
    landmarks: bool = True  # use the landmark rules when the detector gives landmarks
    # evidence for a violation event: a judged face must also pass these to count towards one
    alert_min_score: float = 0.9  # detector confidence
    min_frontal: float = 0.2  # 0: nose on an eye's line (profile), 1: nose midway between the eyes
    alert_frames: int = 6  # frames of such evidence with a violation label (of the last 15) before an event

    def __post_init__(self):
        _at_least(self.min_size, 0, "quality.min_size")
        _check(0.0 <= self.min_score <= 1.0, f"quality.min_score must be in [0, 1], got {self.min_score}")
        _at_least(self.min_sharpness, 0, "quality.min_sharpness")
        _check(0.0 < self.max_roll <= 90.0, f"quality.max_roll must be in (0, 90] degrees, got {self.max_roll}")
        _check(0.0 <= self.alert_min_score <= 1.0, f"quality.alert_min_score must be in [0, 1], got {self.alert_min_score}")
        _check(0.0 <= self.min_frontal <= 1.0, f"quality.min_frontal must be in [0, 1], got {self.min_frontal}")
        _check(int(self.alert_frames) == self.alert_frames and 1 <= self.alert_frames <= EVIDENCE_WINDOW,
               f"quality.alert_frames must be a whole number from 1 to {EVIDENCE_WINDOW}, got {self.alert_frames}")

    @property
    def event_frames(self) -> int:
        """Frames of evidence before a violation event: ``alert_frames``, or 1 with the gate off (the old behaviour)."""
        return self.alert_frames if self.enabled else 1

    @property
    def verdict_frames(self) -> int:
        """Frames one classifier verdict may count as evidence (and as a vote) on: half the evidence an event needs,
        rounded up, so that an event takes at least two looks that agree, however long a busy live camera carries
        one verdict by optical flow (a video processed frame by frame shows each verdict on ``detect_every`` = 2)."""
        return -(-self.event_frames // 2)


@dataclass(frozen=True)
class ReidSettings:
    """Re-identification of people whose track broke (:mod:`facemask_live.tracking.reid`); ``enabled=False``: a new
    track is always a new person. Needs ``tracking.enabled``."""

    enabled: bool = True
    max_age: float = 10.0  # seconds a lost person is remembered
    min_similarity: float = 0.88  # 0..1: same person >= 0.94, different people <= 0.83 on the shared clips
    gate: float = 2.0  # face sizes the face may have moved at once ...
    gate_per_second: float = 3.0  # ... plus this many per second of gap
    max_size_ratio: float = 2.0  # a face more than 2x larger/smaller (by height) is someone else

    def __post_init__(self):
        _at_least(self.max_age, 0, "reid.max_age")
        _unit(self.min_similarity, "reid.min_similarity")
        _at_least(self.gate, 0, "reid.gate")
        _at_least(self.gate_per_second, 0, "reid.gate_per_second")
        _at_least(self.max_size_ratio, 1, "reid.max_size_ratio")


@dataclass(frozen=True)
class OutputSettings:
    """Where results go. ``snapshots`` None: :func:`default_snapshot_dir` (a site: a subfolder per camera)."""

    snapshots: str | None = None
    output: str | None = None  # annotated video
    detections: str | None = None  # JSONL, one record per frame
    events: str | None = None  # event log, .jsonl or .csv
    progress: bool = True  # progress bar in headless mode
    stats_json: str | None = None  # headless: per-camera and site figures as JSON at the end

    def snapshot_dir(self) -> Path:
        """The snapshot folder: the one given, else ~/Pictures/facemask-live if ~/Pictures exists, else ./snapshots."""
        return Path(self.snapshots) if self.snapshots else default_snapshot_dir()


@dataclass(frozen=True)
class GuiSettings:
    """The window (or none)."""

    headless: bool = False
    alert_sound: bool = False
    alert_flash: bool = True


MQTT_SNAPSHOT_MODES = ("topic", "base64", "path")
MQTT_PASSWORD_ENV = "FACEMASK_MQTT_PASSWORD"
# the keys of an mqtt:// URL: ``--mqtt URL`` replaces these in a file's ``mqtt`` section and keeps the others
MQTT_BROKER_KEYS = ("host", "port", "tls", "username", "password", "ca_file")
_MQTT_URL_QUERY = {"ca_file": "ca_file", "ca": "ca_file", "prefix": "topic_prefix", "client_id": "client_id",
                   "snapshot": "snapshot", "discovery": "discovery_prefix", "outbox": "outbox_dir"}


@dataclass(frozen=True)
class MqttSettings:
    """Publishing to an MQTT broker (:mod:`facemask_live.outputs.mqtt`); ``Settings.mqtt`` None: no MQTT.

    From ``--mqtt URL`` (:meth:`from_url`) or an ``mqtt:`` section of a site file (``host`` at least).
    ``password`` None: ``FACEMASK_MQTT_PASSWORD`` when that is set.
    """

    host: str = ""
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never shown: repr, logs, errors, --print-config
    ca_file: str | None = None  # CA bundle for mqtts:// (default: the system's)
    camera: str | None = None  # the camera in the topics; None: the camera's name, else one from the source
    topic_prefix: str = "facemask"
    client_id: str | None = None  # default: facemask-live-<host name>-<camera>
    snapshot: str = "topic"  # topic: JPEG on <camera>/snapshot; base64: also inside the event; path: paths only
    discovery_prefix: str | None = "homeassistant"  # None: no Home Assistant discovery
    outbox_dir: str | None = None  # default: $XDG_STATE_HOME/facemask-live/mqtt-outbox
    outbox_max_messages: int = 10000
    outbox_max_bytes: int = 64 * 1024 * 1024
    keepalive: int = 30
    reconnect_max_delay: int = 10  # seconds between attempts, doubling from 1 up to this
    violation_hold_s: int = 30  # Home Assistant's "violation" stays on this long after an event
    jpeg_quality: int = 85
    snapshot_max_side: int = 1280
    flush_timeout: float = 5.0  # seconds close() waits for unsent events while the broker is reachable

    def __post_init__(self):
        _check(bool(self.host), "mqtt.host is required (the broker's name or address)")
        _check(not any(c in self.host for c in "/@ "), f"mqtt.host: bad broker host {self.host!r}")
        _check(0 < self.port < 65536, f"mqtt.port must be 1-65535, got {self.port}")
        for name in ("topic_prefix", "discovery_prefix"):
            value = getattr(self, name)
            if value is None and name == "discovery_prefix":
                continue
            _check(bool(value) and not value.startswith("/") and not value.endswith("/") and not any(c in value for c in "+#\0"),
                   f"mqtt.{name} must be a topic without + or # and no leading/trailing /, got {value!r}")
        _check(self.snapshot in MQTT_SNAPSHOT_MODES, f"mqtt.snapshot must be one of {', '.join(MQTT_SNAPSHOT_MODES)}, got {self.snapshot!r}")
        _check(self.client_id is None or 0 < len(self.client_id) <= 128, "mqtt.client_id must be 1-128 characters")
        _check(self.camera is None or bool(self.camera.strip()), "mqtt.camera must not be empty (or be left out)")
        for name in ("outbox_max_messages", "outbox_max_bytes", "keepalive", "reconnect_max_delay", "violation_hold_s", "snapshot_max_side"):
            _at_least(getattr(self, name), 1, f"mqtt.{name}")
        _check(1 <= self.jpeg_quality <= 100, f"mqtt.jpeg_quality must be 1-100, got {self.jpeg_quality}")
        _check(self.flush_timeout >= 0, f"mqtt.flush_timeout must be >= 0, got {self.flush_timeout}")
        _check(self.ca_file is None or self.tls, "mqtt.ca_file needs a TLS broker (mqtts:// or tls: true)")

    @classmethod
    def from_url(cls, url: str, env: typing.Mapping[str, str] | None = None, **overrides) -> MqttSettings:
        """Settings from ``mqtt[s]://...`` (see :func:`mqtt_url_fields`), then ``overrides``; raises ValueError."""
        return cls(**{**mqtt_url_fields(url, env), **overrides})

    @property
    def display_url(self) -> str:
        """The broker address as shown to people: the password is ``***``."""
        auth = f"{self.username}{':***' if self.password else ''}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{auth}{self.host}:{self.port}"

    def resolved_password(self, env: typing.Mapping[str, str] | None = None) -> str | None:
        env = os.environ if env is None else env
        return self.password if self.password is not None else env.get(MQTT_PASSWORD_ENV)

    def resolved_outbox_dir(self) -> Path:
        if self.outbox_dir:
            return Path(self.outbox_dir).expanduser()
        state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return Path(state) / "facemask-live" / "mqtt-outbox"


def _hide_password(url: str) -> str:
    return re.sub(r"(://[^:@/\s]*):[^@/\s]*@", r"\1:***@", url)  # as capture.mask_credentials (no OpenCV here)


def mqtt_url_fields(url: str, env: typing.Mapping[str, str] | None = None) -> dict:
    """The :class:`MqttSettings` keys in ``mqtt[s]://[user[:password]@]host[:port][?query]``; raises ValueError.

    Query keys: ``ca_file`` (or ``ca``), ``prefix``, ``client_id``, ``snapshot``, ``discovery`` (``off``: none),
    ``outbox``. The user and password may be ``{ENV_NAME}``; without a password in the URL it is read from
    ``FACEMASK_MQTT_PASSWORD`` when that is set.
    """
    env = os.environ if env is None else env
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, got {_hide_password(url)!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"MQTT URL has a bad port: {_hide_password(url)}") from None

    def expand(text: str) -> str:
        try:
            return substitute_env(unquote(text), "MQTT URL", env)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    tls = scheme in ("mqtts", "ssl")
    query = dict(parse_qsl(parts.query))
    unknown = sorted(set(query) - set(_MQTT_URL_QUERY))
    if unknown:
        raise ValueError(f"MQTT URL: unknown option {unknown[0]!r} (known: {', '.join(sorted(_MQTT_URL_QUERY))})")
    fields: dict = {_MQTT_URL_QUERY[k]: v for k, v in query.items()}
    if fields.get("discovery_prefix", "").lower() in ("off", "none", "false", "0"):
        fields["discovery_prefix"] = None
    return {
        "host": parts.hostname or "",
        "port": port or (8883 if tls else 1883),
        "tls": tls,
        "username": expand(parts.username) if parts.username else None,
        "password": expand(parts.password) if parts.password is not None else env.get(MQTT_PASSWORD_ENV),
        "ca_file": None,
        **fields,
    }


@dataclass(frozen=True)
class PeopleLogSettings:
    """The people log, the input of shift reports (:class:`facemask_live.events.peoplelog.PeopleLog`)."""

    path: str | None = None  # .jsonl; None: no people log
    interval: float = 10.0  # seconds between "people" records

    def __post_init__(self):
        _check(self.interval > 0, f"people_log.interval must be > 0 seconds, got {self.interval}")


@dataclass(frozen=True)
class RetentionSettings:
    """Deleting the app's old snapshots and recordings (:class:`facemask_live.outputs.retention.Retention`)."""

    keep_days: float | None = None  # None: keep them whatever their age
    max_snapshot_mb: float | None = None  # None: no size cap
    interval: float = 60.0  # seconds between checks while running

    def __post_init__(self):
        if self.keep_days is not None:
            _check(self.keep_days > 0, f"retention.keep_days must be > 0, got {self.keep_days}")
        if self.max_snapshot_mb is not None:
            _check(self.max_snapshot_mb > 0, f"retention.max_snapshot_mb must be > 0, got {self.max_snapshot_mb}")
        _check(self.interval > 0, f"retention.interval must be > 0 seconds, got {self.interval}")

    @property
    def active(self) -> bool:
        return self.keep_days is not None or self.max_snapshot_mb is not None


@dataclass(frozen=True)
class PrivacySettings:
    """Blurring the faces of compliant people in what the app stores (:mod:`facemask_live.outputs.privacy`)."""

    enabled: bool = False  # blur compliant faces in snapshots and recordings
    window: bool = False  # ... and in the window
    no_compliant_images: bool = False  # store no pixel of compliant faces; record only frames with a violator

    def __post_init__(self):
        _check(
            self.enabled or not (self.window or self.no_compliant_images),
            "privacy.window and privacy.no_compliant_images need privacy.enabled "
            "(--privacy-window and --no-compliant-images need --privacy)",
        )


@dataclass(frozen=True)
class MotionSettings:
    """Motion gating of a site camera (:mod:`facemask_live.sources.motion`, whose doc has the measured defaults)."""

    enabled: bool = True
    width: int = 160  # the grey copy is about this many pixels wide
    pixel_threshold: int = 15  # grey levels (0-255) from which a pixel counts as changed
    min_area: float = 0.002  # fraction of changed pixels from which the picture moves
    background_alpha: float = 0.05  # weight of a new frame in the running-average background
    hold_s: float = 1.0  # seconds the gate stays open after the last motion
    still_detect_s: float = 10.0  # in a still picture with faces, re-run the detector this often (their boxes stay meanwhile)

    def __post_init__(self):
        _check(16 <= self.width <= 1920, f"motion.width must be 16..1920 pixels, got {self.width}")
        _check(1 <= self.pixel_threshold <= 254, f"motion.pixel_threshold must be 1..254 grey levels, got {self.pixel_threshold}")
        _check(0.0 < self.min_area < 1.0, f"motion.min_area must be a fraction between 0 and 1, got {self.min_area}")
        _check(0.0 < self.background_alpha <= 1.0, f"motion.background_alpha must be in (0, 1], got {self.background_alpha}")
        _check(self.hold_s >= 0, f"motion.hold_s must be >= 0 seconds, got {self.hold_s}")
        _check(self.still_detect_s > 0, f"motion.still_detect_s must be > 0 seconds, got {self.still_detect_s}")


@dataclass(frozen=True)
class SiteSection:
    """How a site of several cameras shares one detector (:class:`facemask_live.engine.site.Site`).

    anchor: the default for every camera (a camera may set its own); the detector's rate is ``detector.detect_fps``.
    detector_load: the most of the wall time the shared detector may run (1: back to back).
    backlog: frames that may wait for a camera's thread while it is a moment late.
    workers: processes the cameras are shared out over, each with its own detector (engine/workers.py); None:
      automatic (every camera live and more than eight of them: one per four cameras, at most two per core; a
      window with a visitor display keeps them in its process); 1: every camera in this process.
    """

    anchor: str = "face"
    detector_load: float = 1.0
    backlog: int = 3
    workers: int | None = None

    def __post_init__(self):
        _check(self.anchor in ANCHORS, f"site.anchor must be one of {', '.join(ANCHORS)}, got {self.anchor!r}")
        _check(0.05 <= self.detector_load <= 1.0, f"site.detector_load must be in [0.05, 1], got {self.detector_load}")
        _check(1 <= self.backlog <= 25, f"site.backlog must be 1..25 frames, got {self.backlog}")
        _check(self.workers is None or (isinstance(self.workers, int) and 1 <= self.workers <= 64),
               f"site.workers must be a whole number 1..64 (or left out: automatic), got {self.workers!r}")


@dataclass(frozen=True)
class CameraSettings:
    """One camera of a site. Sections and values left None use the site's.

    realtime None: files play at their own frame rate in a site and in the window; a headless single
    ``--source`` processes every frame (``source.realtime``).
    zones: entrance/ignore polygons in relative coordinates (:mod:`facemask_live.core.zones`).
    """

    name: str = "camera"
    source: str = DEFAULT_SOURCE
    loop: bool = False
    realtime: bool | None = None
    detector: DetectorSettings | None = None
    classifier: ClassifierSettings | None = None
    tracking: TrackingSettings | None = None
    zones: tuple[Zone, ...] = ()
    anchor: str | None = None  # the point of a face the zones test: face (centre) or shoulders
    motion: MotionSettings | None = None
    alert_hours: AlertHoursSettings | None = None  # None: the site's
    escalate_after: float | None = None  # None: the site's events.escalate_after
    detect_source: str | None = None  # its substream (detection, grid tile); ``source`` is then the main stream

    def __post_init__(self):
        _check(bool(str(self.name).strip()), "cameras[].name must not be empty")
        _check(self.detect_source is None or str(self.detect_source).strip() not in ("", str(self.source).strip()),
               f"camera {self.name!r}: detect_source must be a source other than source, got {self.detect_source!r}")
        _check(self.escalate_after is None or self.escalate_after > 0, f"camera {self.name!r}: escalate_after must be > 0 seconds, got {self.escalate_after}")
        _check(str(self.source).strip() != "", f"camera {self.name!r}: source must not be empty")
        if self.anchor is not None:
            _check(self.anchor in ANCHORS, f"camera {self.name!r}: anchor must be one of {', '.join(ANCHORS)}, got {self.anchor!r}")
        _check(all(isinstance(z, Zone) for z in self.zones), f"camera {self.name!r}: zones must be Zone objects")
        names = [z.name for z in self.zones]
        dupes = sorted({n for n in names if names.count(n) > 1})
        _check(not dupes, f"camera {self.name!r}: the zone name {dupes[0] if dupes else ''!r} is used twice")
        object.__setattr__(self, "zones", tuple(self.zones))


@dataclass(frozen=True)
class Settings:
    """Everything the app needs; built by :func:`facemask_live.app.options.load_settings` or directly in code.

    ``cameras`` empty: one camera named "camera" made from the ``source`` section.
    """

    source: SourceSettings = field(default_factory=SourceSettings)
    detector: DetectorSettings = field(default_factory=DetectorSettings)
    classifier: ClassifierSettings = field(default_factory=ClassifierSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    events: EventSettings = field(default_factory=EventSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    reid: ReidSettings = field(default_factory=ReidSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    gui: GuiSettings = field(default_factory=GuiSettings)
    people_log: PeopleLogSettings = field(default_factory=PeopleLogSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    mqtt: MqttSettings | None = None  # None: no MQTT
    motion: MotionSettings = field(default_factory=MotionSettings)
    site: SiteSection = field(default_factory=SiteSection)
    alert_hours: AlertHoursSettings = field(default_factory=AlertHoursSettings)
    door: DoorSettings = field(default_factory=DoorSettings)
    visitor: VisitorSettings = field(default_factory=VisitorSettings)
    cameras: tuple[CameraSettings, ...] = ()
    duration: float | None = None  # stop after this many seconds (None: when the sources end)
    threads: int | None = None  # None: all cores for the detector, 1 for the classifier (see detector_threads)
    verbose: bool = False
    debug: bool = False

    def __post_init__(self):
        _at_least(self.threads, 1, "threads")
        if self.duration is not None:
            _check(self.duration > 0, f"duration must be > 0 seconds, got {self.duration}")
        if not self.cameras:
            s = self.source
            object.__setattr__(self, "cameras", (CameraSettings(DEFAULT_CAMERA, s.source, s.loop, s.realtime),))
        # the demo is one built-in source: a camera list with other sources would silently not be watched
        _check(not self.source.demo or (len(self.cameras) == 1 and self.cameras[0].source == self.source.source),
               "source.demo plays the built-in photos on one camera: leave out cameras")
        names = [c.name for c in self.cameras]
        dupes = sorted({n for n in names if names.count(n) > 1})
        _check(not dupes, f"cameras: the name {dupes[0] if dupes else ''!r} is used twice (names must be unique)")
        for cam in self.cameras:
            _escalation(cam.escalate_after, self.events.cooldown, f"camera {cam.name!r}: escalate_after")
        _check(self.visitor.camera is None or self.visitor.camera in names,
               f"visitor.camera: no camera named {self.visitor.camera!r} (cameras: {', '.join(names)})")
        _check(self.visitor.camera is None or not self.gui.headless, "visitor.camera (--visitor-display) needs the window: leave out --headless")

    # -- the thread-count rule, written once -------------------------------------------------------
    def detector_threads(self) -> int:
        """OpenCV/detector threads: ``threads``, else every core (the classifier runs beside it)."""
        if self.threads:
            return self.threads
        import cv2

        return cv2.getNumberOfCPUs() or os.cpu_count() or 1

    def classifier_threads(self) -> int:
        return self.threads or 1

    # -- per camera ----------------------------------------------------------------------------------
    def camera(self, name: str | None = None) -> CameraSettings:
        """The camera called ``name`` (None: the first)."""
        if name is None:
            return self.cameras[0]
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise ConfigError(f"no camera named {name!r} (cameras: {', '.join(c.name for c in self.cameras)})")

    def for_camera(self, camera: CameraSettings) -> Settings:
        """These settings with the camera's source and its own detector/classifier/tracking sections."""
        return dataclasses.replace(
            self,
            source=dataclasses.replace(self.source, source=camera.source, loop=camera.loop,
                                       realtime=self.source.realtime if camera.realtime is None else camera.realtime),
            detector=camera.detector or self.detector,
            classifier=camera.classifier or self.classifier,
            tracking=camera.tracking or self.tracking,
            motion=camera.motion or self.motion,
            alert_hours=camera.alert_hours or self.alert_hours,
            events=self.events if camera.escalate_after is None else dataclasses.replace(self.events, escalate_after=camera.escalate_after),
            # the visitor display is the site's, shown by the window: a camera's own settings name it only when it
            # is theirs (another camera's name here was "no camera named ..." for every other camera of the site)
            visitor=self.visitor if self.visitor.camera in (None, camera.name) else dataclasses.replace(self.visitor, camera=None),
            cameras=(camera,),
        )

    @property
    def is_site(self) -> bool:
        """Several cameras, or one with zones (informational: one engine runs every case)."""
        return len(self.cameras) > 1 or bool(self.cameras[0].zones)


def override(settings: Settings, **changes) -> Settings:
    """``settings`` with some keys of some sections replaced: ``override(s, detector={"confidence": 0.5})``."""
    fields = {}
    for name, value in changes.items():
        current = getattr(settings, name)
        fields[name] = dataclasses.replace(current, **value) if isinstance(value, dict) else value
    if "source" in fields and "cameras" not in fields:
        fields["cameras"] = ()  # rebuilt from the new source section
    return dataclasses.replace(settings, **fields)


def default_snapshot_dir() -> Path:
    pictures = Path.home() / "Pictures"
    return pictures / "facemask-live" if pictures.is_dir() else Path("snapshots")


# ----------------------------------------------------------------------------------- from plain data
_ENV_RE = re.compile(r"\{([A-Z_][A-Z0-9_]*)\}")


def substitute_env(text: str, where: str, environ: typing.Mapping[str, str] | None = None) -> str:
    """Replace ``{NAME}`` by the environment variable NAME; a missing variable is a ConfigError."""
    env = os.environ if environ is None else environ

    def repl(m: re.Match) -> str:
        name = m.group(1)
        if name not in env:
            raise ConfigError(f"{where}: environment variable {name} is not set (export {name}=...)")
        return env[name]

    return _ENV_RE.sub(repl, text)


def _describe(hint) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if args and (typing.get_origin(hint) in (typing.Union, types.UnionType)):
        return " or ".join(_describe(a) for a in args)
    if typing.get_origin(hint) is tuple or hint is tuple:
        return "a list"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a text"}.get(hint, getattr(hint, "__name__", str(hint)))


def _value(value: Any, hint, where: str) -> Any:
    """``value`` checked against the type ``hint`` (lists become tuples, ints are accepted as floats)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        if len(args) == 2 and type(None) in args:  # X | None: X's own message (e.g. a section's unknown key)
            return _value(value, next(a for a in args if a is not type(None)), where)
        errors = []
        for a in (a for a in args if a is not type(None)):
            try:
                return _value(value, a, where)
            except ConfigError as exc:
                errors.append(exc)
        raise ConfigError(f"{where}: expected {_describe(hint)}, got {value!r}")
    if dataclasses.is_dataclass(hint):
        return _section(hint, value, where)
    if origin is dict:  # e.g. visitor.messages: {label: text}
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return {str(k): _value(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if origin is tuple or hint is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item = args[0] if args else Any
        return tuple(_value(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return substitute_env(value, where)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # e.g. `source: 0` for a webcam
    raise ConfigError(f"{where}: expected {_describe(hint)}, got {value!r}")


def _section(cls, data: Any, where: str):
    """An instance of the dataclass ``cls`` from a mapping; unknown keys name the closest valid one."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'settings'}: expected a mapping of keys, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (valid keys: {', '.join(names)})"
            raise ConfigError(f"unknown setting {path!r}{hint}")
        kwargs[key] = _value(value, hints[key], path)
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in kwargs]
    if required:
        raise ConfigError(f"{where or 'settings'}: missing {', '.join(required)}")
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ConfigError(f"{where + ': ' if where else ''}{exc}") from None


def _moved_detect_fps(data: dict) -> dict:
    """``site.detect_fps`` and a camera's ``detect_fps`` (before issue 25) are ``detector.detect_fps`` now: one
    cadence family in one section. Old files keep working, with one warning line."""
    site = data.get("site")
    if isinstance(site, dict) and "detect_fps" in site:
        site = dict(site)
        data["detector"] = {**(data.get("detector") or {}), "detect_fps": site.pop("detect_fps")}
        data["site"] = site
        log.warning("site.detect_fps is now detector.detect_fps (read as such)")
    cams = data.get("cameras")
    if isinstance(cams, list):
        moved = []
        for cam in cams:
            if isinstance(cam, dict) and "detect_fps" in cam:
                cam = dict(cam)
                cam["detector"] = {**(cam.get("detector") or {}), "detect_fps": cam.pop("detect_fps")}
                log.warning("cameras[].detect_fps is now cameras[].detector.detect_fps (read as such)")
            moved.append(cam)
        data["cameras"] = moved
    return data


def settings_from_dict(data: dict) -> Settings:
    """Settings from nested plain data (as read from YAML/TOML); raises ConfigError.

    A camera's ``detector``/``classifier``/``tracking`` keys override the site's sections key by key.
    """
    data = _moved_detect_fps(dict(data or {}))
    cams = data.pop("cameras", None)
    visitor = data.get("visitor")
    if cams is not None and isinstance(visitor, dict) and visitor.get("camera") is not None:
        data["visitor"] = {**visitor, "camera": None}  # one of the cameras below, checked with them
    site = _section(Settings, data, "")
    if cams is None:
        return site
    if not isinstance(cams, list):
        raise ConfigError(f"cameras: expected a list of cameras, got {cams!r}")
    built = []
    for i, cam in enumerate(cams):
        where = f"cameras[{i}]"
        if not isinstance(cam, dict):
            raise ConfigError(f"{where}: expected a mapping of keys, got {cam!r}")
        cam = dict(cam)
        for key in ("detector", "classifier", "tracking", "motion"):
            if isinstance(cam.get(key), dict):  # merged over the site's section
                merged = {**settings_to_dict(getattr(site, key)), **cam[key]}
                cam[key] = _section(type(getattr(site, key)), merged, f"{where}.{key}")
        built.append(_section(CameraSettings, cam, where))
    extra = {}
    if data.get("visitor") is not visitor:
        extra["visitor"] = dataclasses.replace(site.visitor, camera=_value(visitor["camera"], str, "visitor.camera"))
    try:
        return dataclasses.replace(site, cameras=tuple(built), **extra)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def settings_to_dict(obj) -> Any:
    """Plain data (dicts, lists, scalars) of a settings object, as written by ``--print-config``."""
    if dataclasses.is_dataclass(obj):
        return {f.name: settings_to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (tuple, list)):
        return [settings_to_dict(v) for v in obj]
    return obj


def read_file(path: str | Path) -> dict:
    """The raw mapping in a .yaml/.yml/.toml/.json settings file; raises ConfigError."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    suffix = p.suffix.lower()
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {p}: {getattr(exc, 'strerror', None) or exc}") from None
    if suffix == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            raise ConfigError(f"config file {p}: TOML needs Python 3.11 or later (use .yaml)") from None

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {p} is not valid TOML: {exc}") from None
    elif suffix in (".yaml", ".yml", ".json"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {p} is not valid YAML: {' '.join(str(exc).split())}") from None
    else:
        raise ConfigError(f"config file {p}: unknown format {suffix or '(no extension)'} (use .yaml, .yml or .toml)")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p}: expected a mapping of sections at the top, got {type(data).__name__}")
    return data


def load_file(path: str | Path) -> Settings:
    """Settings from a YAML/TOML file; every problem is a ConfigError naming the file."""
    data = read_file(path)
    try:
        return settings_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"config {path}: {exc}") from None


def to_yaml(settings: Settings) -> str:
    import yaml

    data = settings_to_dict(settings)
    if data["mqtt"] and data["mqtt"]["password"] is not None:
        data["mqtt"]["password"] = "***"  # the broker password is never printed
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
