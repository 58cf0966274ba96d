"""Publish events, counts and snapshots to an MQTT broker (paho-mqtt 2.x, callback API version 2).

Long because the connection, the outbox hand-off, the topics and their payloads are one protocol.

Topics (``<prefix>`` is ``facemask`` unless set, ``<camera>`` is the camera name), see the README:

- ``<prefix>/<camera>/available``  ``online`` / ``offline`` (the broker's last will), retained
- ``<prefix>/<camera>/status``     ``starting`` / ``live`` / ``reconnecting`` / ``ended`` / ``stopped`` / ``failed``, retained
- ``<prefix>/<camera>/events``     one JSON message per violation event, QoS 1, through the on-disk outbox
- ``<prefix>/<camera>/snapshot``   JPEG of the latest violation, retained
- ``<prefix>/<camera>/people``     JSON counts (in view, masked, unmasked, not judged), retained, on change
- ``<prefix>/<camera>/door``       JSON door state ``allow`` / ``deny`` / ``idle`` with its reason, retained, on change
  (:mod:`facemask_live.outputs.door`)

Nothing is lost while the broker is away: every event goes into an :class:`~facemask_live.outputs.outbox.Outbox`
first and leaves it only on the broker's PUBACK. Only one thread (the sender) hands messages to paho, in
outbox order; paho keeps handed QoS 1 messages across reconnects and sends them again itself, the sender
hands on what came after. The monitoring loop never waits for the broker: :meth:`MqttSink.write` stores
and returns.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
import sqlite3
import ssl
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np

from facemask_live.core.config import DEFAULT_CAMERA, MQTT_PASSWORD_ENV, MqttSettings, Settings
from facemask_live.core.results import UNKNOWN_LABEL, Event, FrameResult
from facemask_live.outputs.outbox import Outbox
from facemask_live.sources.capture import SourceState

log = logging.getLogger(__name__)

SCHEMA = 1  # version of the JSON payloads (events, people); bumped on an incompatible change
_NAME_RE = re.compile(r"[^A-Za-z0-9_-]+")


def slug(text: str, fallback: str = "camera") -> str:
    """A name usable as one MQTT topic level and a Home Assistant id: letters, digits, ``_`` and ``-``."""
    s = _NAME_RE.sub("_", str(text)).strip("_-")
    return s[:64] or fallback


def camera_name_from_source(source: str | int) -> str:
    """Default camera name: ``camera0`` for a webcam, the host of a stream, the file or folder name."""
    text = str(source).strip()
    if text.isdigit():
        return f"camera{text}"
    parts = urlsplit(text)
    if parts.scheme and parts.hostname and "://" in text:
        return slug(parts.hostname + (f"_{parts.port}" if parts.port else ""))
    return slug(Path(text.rstrip("/\\")).stem or text)


def _default_client_id(camera: str) -> str:
    # Stable across restarts (the outbox file is named after it) and unique per machine and camera.
    return slug(f"facemask-live-{socket.gethostname()}-{camera}")[:64]


# ---------------------------------------------------------------------------------------------------------
# The connection: paho client, TLS, state in one line per change
# ---------------------------------------------------------------------------------------------------------
class BrokerConnection:
    """One paho client in its own network thread, reconnecting forever, its state as one line per change.

    ``state`` is ``connecting``, ``connected``, ``connection lost``, ``unreachable``, ``refused: <reason>``,
    ``closed`` or ``error: <reason>``. ``on_connected()`` runs in the network thread after every CONNACK
    that accepted us; keep it short (set flags, subscribe).
    """

    def __init__(self, settings: MqttSettings, client_id: str, will: tuple[str, bytes] | None = None,
                 on_connected=None, on_message=None, on_publish=None, what: str = "MQTT", keeps_events: bool = True):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.settings = settings
        self.what = what
        self._kept = "; events are kept on disk until sent" if keeps_events else ""
        self._state = "connecting"
        self._state_lock = threading.Lock()
        self.on_state_change = None  # callable(state) for a window, called in the network thread
        self._on_connected = on_connected
        self._thread: threading.Thread | None = None
        self._closing = False
        # MQTT 5: the broker's PUBACK then says when its ACL refused a publish (3.1.1 acknowledges it silently)
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5)
        self.client.suppress_exceptions = True  # a bug in a callback must not end the network thread
        self.client.reconnect_delay_set(1, settings.reconnect_max_delay)
        if settings.username is not None:
            self.client.username_pw_set(settings.username, settings.resolved_password())
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        self.client.on_connect = self._handle_connect
        self.client.on_disconnect = self._handle_disconnect
        self.client.on_connect_fail = self._handle_connect_fail
        if on_message is not None:
            self.client.on_message = on_message
        if on_publish is not None:
            self.client.on_publish = on_publish

    # -- state ------------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    @property
    def connected(self) -> bool:
        return self._state == "connected"

    def _set_state(self, state: str, hint: str = "") -> None:
        with self._state_lock:
            if state == self._state:
                return
            self._state = state
        # One line per change of state, never one per retry; the password is never in it.
        log.warning("%s %s: %s%s", self.what, self.settings.display_url, state, hint)
        if self.on_state_change is not None:
            try:
                self.on_state_change(state)
            except Exception as exc:  # a window callback must not break the connection
                log.error("broker state callback failed: %s", exc)

    # -- paho callbacks (network thread) ----------------------------------------------------------
    def _handle_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            reason = str(reason_code)
            hint = ""
            if "password" in reason.lower() or "authori" in reason.lower():
                hint = f" (check the user name and the password, e.g. {MQTT_PASSWORD_ENV}; retrying)"
            self._set_state(f"refused: {reason}", hint)
            return
        self._set_state("connected")
        if self._on_connected is not None:
            self._on_connected()

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._closing:
            self._set_state("closed")
        elif self._state == "connected":
            self._set_state("connection lost", f" (reconnecting{self._kept})")

    def _handle_connect_fail(self, client, userdata) -> None:
        if self._closing or self._state.startswith("refused"):
            return
        # paho calls this inside its ``except OSError``: a TLS failure (untrusted certificate, wrong host name)
        # is not "unreachable", say what it is
        exc = sys.exc_info()[1]
        if isinstance(exc, ssl.SSLError):
            reason = getattr(exc, "verify_message", None) or exc.reason or str(exc)
            self._set_state(f"refused: TLS: {reason}", f" (check the CA file and the host name in the URL; retrying{self._kept})")
        else:
            self._set_state("unreachable", f" (retrying{self._kept})")

    # -- life -------------------------------------------------------------------------------------
    def start(self) -> bool:
        """Start connecting in the background. False (and one logged line) if TLS cannot be set up."""
        s = self.settings
        if s.tls:
            try:
                self.client.tls_set(ca_certs=s.ca_file, cert_reqs=ssl.CERT_REQUIRED)
            except (OSError, ssl.SSLError, ValueError) as exc:
                reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc) or type(exc).__name__
                self._set_state(f"error: cannot use CA file {s.ca_file}: {reason}",
                                f" (not connecting{self._kept})")
                return False
        try:
            self.client.connect_async(s.host, s.port, keepalive=s.keepalive, clean_start=True)
        except (OSError, ValueError) as exc:
            self._set_state(f"error: {exc}")
            return False
        self._thread = threading.Thread(target=self._run, name="facemask-mqtt-net", daemon=True)
        self._thread.start()
        return True

    def _run(self) -> None:
        try:
            self.client.loop_forever(retry_first_connection=True)
        except Exception as exc:  # e.g. a TLS handshake failure that is not an OSError: one line, no traceback
            if not self._closing:
                self._set_state(f"error: {type(exc).__name__}: {exc}", " (no longer connected)")

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connected:
                return True
            if self._state.startswith(("error", "refused", "unreachable")) or self._thread is None:
                return False
            time.sleep(0.02)
        return self.connected

    def stop(self, timeout: float = 2.0) -> None:
        self._closing = True
        try:
            self.client.disconnect()
        except Exception:
            pass
        if self._thread is not None:
            self._thread.join(timeout)
        if self._state != "closed" and not self._state.startswith("error"):
            with self._state_lock:
                self._state = "closed"


# ---------------------------------------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------------------------------------
def event_id(camera: str, ev: Event) -> str:
    """The same event always gets the same id (camera, source, person, frame, time): consumers can drop resends."""
    key = f"facemask-live:{camera}:{ev.source}:{ev.track_id}:{ev.frame}:{round(ev.time * 1000)}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, key))


def iso_utc(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="milliseconds")


def event_payload(camera: str, ev: Event, snapshot_topic: str | None, jpeg: bytes | None) -> dict:
    payload = {
        "schema": SCHEMA,
        "id": event_id(camera, ev),
        "camera": camera,
        "time": round(ev.time, 3),
        "iso_time": iso_utc(ev.time),
        "track_id": ev.track_id,
        "label": ev.label,
        "confidence": round(float(ev.confidence), 4),
        "frame": ev.frame,
        "box": [int(v) for v in ev.box],
        "source": ev.source,
        "snapshot": ev.snapshot,
        "crop": ev.crop,
        "snapshot_topic": snapshot_topic,
        "escalated": ev.escalated,  # still in view escalate_after seconds after their event
    }
    if jpeg is not None:
        payload["snapshot_jpeg"] = base64.b64encode(jpeg).decode("ascii")
    return payload


@dataclass(frozen=True)
class PeopleCounts:
    in_view: int
    masked: int
    unmasked: int
    not_judged: int


def people_counts(result: FrameResult, tracked: bool = True) -> PeopleCounts:
    """Faces in view by the label people see: the track's stable label (or the frame's with ``tracked=False``).

    ``not_judged``: no stable label yet, or (untracked) a face the quality gate left ``unknown``; a track's
    label comes from judged frames only (unknown faces never vote), so a tracked person is never "unknown".
    """
    masked = unmasked = not_judged = 0
    for face in result.faces:
        label = face.track_label if tracked else face.label
        if not label or label == UNKNOWN_LABEL:
            not_judged += 1
        elif label == "mask":
            masked += 1
        else:  # no_mask, or a three-class model's incorrectly worn mask
            unmasked += 1
    return PeopleCounts(len(result.faces), masked, unmasked, not_judged)


def encode_jpeg(image: np.ndarray, quality: int, max_side: int) -> bytes | None:
    h, w = image.shape[:2]
    if max(h, w) > max_side:
        scale = max_side / max(h, w)
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes() if ok else None


def published_status(state: SourceState) -> str:
    """The text on ``<camera>/status``: the state's name, with ``live`` for a running source."""
    return SourceState(state).public


# ---------------------------------------------------------------------------------------------------------
# The publisher: outbox + retained state + one sender thread
# ---------------------------------------------------------------------------------------------------------
class MqttPublisher:
    """Sends outbox messages in order (removed on PUBACK) and the latest retained state after every connect."""

    MAX_HANDED = 500  # outbox messages handed to paho and not yet confirmed, at most

    def __init__(self, settings: MqttSettings, node: str, discovery: list[tuple[str, dict]] | None = None):
        self.settings = settings
        self.node = node
        self.client_id = settings.client_id or _default_client_id(node)
        self.availability_topic = f"{settings.topic_prefix}/{node}/available"
        outbox_dir = settings.resolved_outbox_dir()
        self.outbox: Outbox | None = None
        try:
            self.outbox = Outbox(outbox_dir / f"{slug(self.client_id)}.sqlite", settings.outbox_max_messages,
                                 settings.outbox_max_bytes)
        except (OSError, ValueError, sqlite3.Error) as exc:  # sqlite3.Error is not an OSError
            log.error("MQTT outbox in %s unusable (%s): events are sent only while the broker is reachable", outbox_dir, exc)
        if self.outbox is not None and len(self.outbox):
            log.warning("MQTT: %d unsent events from an earlier run are waiting in %s", len(self.outbox), self.outbox.path)
        self.sent = 0  # outbox messages confirmed by the broker
        self._memory: list[tuple[int, str, bytes]] = []  # without an outbox: (seq, topic, payload)
        self._mem_seq = 0
        self._retained: dict[str, bytes] = {}  # topic -> latest payload, republished on every connect
        self._dirty: set[str] = set()
        self._discovery_topics: set[str] = set()
        self._lock = threading.Lock()  # guards _retained/_dirty/_memory (never held while calling paho)
        self._ack_lock = threading.Lock()  # guards _inflight/_early (never held while calling paho)
        self._inflight: dict[int, tuple[int | None, str]] = {}  # paho mid -> (outbox seq or None: retained, topic)
        self._early: dict[int, object] = {}  # mid -> reason code of a PUBACK that came before publish() returned
        self.refused = 0  # publishes the broker refused (PUBACK reason code, e.g. 0x87 not authorized by its ACL)
        self._handed_upto = 0
        self._ha_online = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._reconnected = threading.Event()
        self.conn = BrokerConnection(settings, self.client_id, will=(self.availability_topic, b"offline"),
                                     on_connected=self._connected, on_message=self._message, on_publish=self._published)
        self._set(self.availability_topic, b"online")
        for topic, config in discovery or []:
            self._discovery_topics.add(topic)
            self._set(topic, json.dumps(config, separators=(",", ":")).encode())
        self._sender = threading.Thread(target=self._send_loop, name="facemask-mqtt-send", daemon=True)
        self.conn.start()
        self._sender.start()

    # -- public API (any thread) ------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self.conn.state

    def publish_event(self, topic: str, payload: dict) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode()
        if self.outbox is not None:
            self.outbox.add(topic, data, qos=1)
        else:
            with self._lock:
                self._mem_seq += 1
                self._memory.append((self._mem_seq, topic, data))
                del self._memory[: max(0, len(self._memory) - self.settings.outbox_max_messages)]
        self._wake.set()

    def set_retained(self, topic: str, payload: bytes) -> None:
        self._set(topic, payload)
        self._wake.set()

    def unsent(self) -> int:
        return len(self.outbox) if self.outbox is not None else len(self._memory)

    def close(self) -> None:
        """Send what can be sent within ``flush_timeout`` while the broker is reachable, say ``offline``, disconnect."""
        deadline = time.monotonic() + self.settings.flush_timeout
        while time.monotonic() < deadline and self.conn.state in ("connecting", "connected"):
            with self._lock:
                dirty = bool(self._dirty)
            if self.conn.connected and not dirty and self.unsent() == 0:
                break
            self._wake.set()
            time.sleep(0.02)
        self._stop.set()
        self._wake.set()
        self._sender.join(2.0)
        if self.conn.connected:
            info = self.conn.client.publish(self.availability_topic, b"offline", qos=1, retain=True)
            try:
                info.wait_for_publish(1.0)
            except (RuntimeError, ValueError):
                pass
        left = self.unsent()
        self.conn.stop()
        if left:
            where = self.outbox.path if self.outbox is not None else "memory (lost at exit)"
            log.warning("MQTT: %d event%s not confirmed by the broker, kept in %s for the next start", left, "s" if left > 1 else "", where)
        if self.outbox is not None:
            self.outbox.close()

    # -- internals --------------------------------------------------------------------------------
    def _set(self, topic: str, payload: bytes) -> None:
        with self._lock:
            if self._retained.get(topic) == payload:
                return
            self._retained[topic] = payload
            self._dirty.add(topic)

    def _connected(self) -> None:  # network thread: just flag it, the sender does the work
        self._reconnected.set()
        self._wake.set()

    def _message(self, client, userdata, msg) -> None:  # network thread
        if self.settings.discovery_prefix and msg.topic == f"{self.settings.discovery_prefix}/status":
            if msg.payload.strip().lower() == b"online":  # Home Assistant (re)started: announce again
                with self._lock:
                    self._dirty |= self._discovery_topics
                self._wake.set()

    def _published(self, client, userdata, mid, reason_code, properties) -> None:  # network thread
        with self._ack_lock:
            if mid not in self._inflight:
                self._early[mid] = reason_code
                return
            seq, topic = self._inflight.pop(mid)
        self._acked(seq, topic, reason_code)

    def _acked(self, seq: int | None, topic: str, reason_code) -> None:
        if getattr(reason_code, "is_failure", False):
            self._refused(topic, reason_code)
        elif seq is not None:
            self._confirmed(seq)

    def _refused(self, topic: str, reason_code) -> None:
        """The broker took the message but would not deliver it (MQTT 5 PUBACK, e.g. its ACL): one line for the
        first, a count after. A refused event stays in the outbox and is offered again at the next start."""
        self.refused += 1
        if self.refused == 1:
            user = f" for user {self.settings.username}" if self.settings.username else ""
            log.warning("%s %s: refused: %s to publish on %s (check the broker's ACL%s; monitoring goes on, "
                        "refused events stay in the outbox)", self.conn.what, self.settings.display_url, reason_code, topic, user)

    def _confirmed(self, seq: int) -> None:
        if self.outbox is not None:
            self.outbox.remove(seq)
        else:
            with self._lock:
                self._memory = [m for m in self._memory if m[0] != seq]
        self.sent += 1

    def _send(self, topic: str, payload: bytes, retain: bool, seq: int | None) -> bool:
        info = self.conn.client.publish(topic, payload, qos=1, retain=retain)
        if info.rc not in (0, 4):  # 0 success, 4 no connection (paho keeps QoS 1 messages queued)
            return False
        with self._ack_lock:
            early = self._early.pop(info.mid, None)
            if early is None:
                self._inflight[info.mid] = (seq, topic)
        if early is not None:
            self._acked(seq, topic, early)
        return True

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            try:
                self._service()
            except Exception as exc:  # never a traceback from a background thread
                log.error("MQTT sender: %s: %s", type(exc).__name__, exc)
                self._stop.wait(1.0)

    def _service(self) -> None:
        if not self.conn.connected:
            return
        if self._reconnected.is_set():
            self._reconnected.clear()
            if self.settings.discovery_prefix:
                self.conn.client.subscribe(f"{self.settings.discovery_prefix}/status", qos=1)
            with self._lock:  # a restarted broker may have lost every retained message
                self._dirty = set(self._retained)
        with self._lock:
            dirty = [(t, self._retained[t]) for t in sorted(self._dirty, key=self._order)]
            self._dirty.clear()
        for topic, payload in dirty:
            if not self._send(topic, payload, retain=True, seq=None):
                self._set_dirty(topic)
        self._pump()

    def _order(self, topic: str) -> tuple[int, str]:
        # availability first, then discovery (so Home Assistant knows the entities), then the state
        return (0 if topic == self.availability_topic else 1 if topic in self._discovery_topics else 2, topic)

    def _set_dirty(self, topic: str) -> None:
        with self._lock:
            self._dirty.add(topic)

    def _pump(self) -> None:
        """Hand the outbox to paho in order, past what was handed already."""
        while self.conn.connected and not self._stop.is_set():
            with self._ack_lock:
                handed = sum(1 for s, _ in self._inflight.values() if s is not None)
            room = self.MAX_HANDED - handed
            if room <= 0:
                return
            if self.outbox is not None:
                batch = [(m.seq, m.topic, m.payload) for m in self.outbox.pending(self._handed_upto, min(room, 100))]
            else:
                with self._lock:
                    batch = [m for m in self._memory if m[0] > self._handed_upto][: min(room, 100)]
            if not batch:
                return
            for seq, topic, payload in batch:
                if not self._send(topic, payload, retain=False, seq=seq):
                    return
                self._handed_upto = seq


# ---------------------------------------------------------------------------------------------------------
# The sink
# ---------------------------------------------------------------------------------------------------------
class MqttSink:
    """Sink for one camera: ``write(result, annotated)``, ``set_status(state)`` (from the runner), ``close()``.

    ``tracked``: counts use the tracks' stable labels (False with ``--no-track``: each frame's own labels).
    """

    needs_annotated = False  # the event's snapshot file is sent; a frame is drawn here only without one

    def __init__(self, settings: MqttSettings, camera: str, tracked: bool = True, publisher: MqttPublisher | None = None,
                 door_idle_after: float | None = None):
        from facemask_live import __version__
        from facemask_live.outputs.door import DoorSink
        from facemask_live.outputs.ha_discovery import discovery_messages

        self.settings = settings
        self.camera = slug(camera)
        self.tracked = tracked
        base = f"{settings.topic_prefix}/{self.camera}"
        self.topics = {k: f"{base}/{k}" for k in ("available", "status", "events", "snapshot", "people", "door")}
        door = door_idle_after is not None
        discovery = discovery_messages(settings, self.camera, __version__, door=door) if settings.discovery_prefix else []
        self.publisher = publisher or MqttPublisher(settings, self.camera, discovery)
        # door_idle_after None: no door signal (tracking off, or door.enabled false)
        self.door = DoorSink(self.camera, self.topics["door"], self.publisher.set_retained, door_idle_after) if door else None
        self._last_counts: PeopleCounts | None = None
        self._status: str | None = None
        self.events = 0
        self.stopped_reason: str | None = None  # never stops: the outbox keeps what the broker did not take
        self.set_status(SourceState.STARTING)

    @property
    def state(self) -> str:
        """The broker connection state, one short line (for the window's status bar)."""
        return self.publisher.state

    def set_status(self, state: SourceState) -> None:
        status = published_status(state)
        if status != self._status:
            self._status = status
            self.publisher.set_retained(self.topics["status"], status.encode())

    def write(self, result: FrameResult, annotated: np.ndarray | None = None) -> None:
        try:
            for ev in result.events:
                self._event(ev, result, annotated)
            if self.door is not None:
                self.door.write(result, annotated)
            counts = people_counts(result, self.tracked)
            if counts != self._last_counts:
                self._last_counts = counts
                payload = {"schema": SCHEMA, "camera": self.camera, "time": round(time.time(), 3), **counts.__dict__}
                self.publisher.set_retained(self.topics["people"], json.dumps(payload, separators=(",", ":")).encode())
        except Exception as exc:  # the monitor goes on whatever happens to the publishing
            log.error("MQTT: publishing failed: %s: %s", type(exc).__name__, exc)

    def _event(self, ev: Event, result: FrameResult, annotated: np.ndarray | None) -> None:
        jpeg = None
        if self.settings.snapshot != "path":
            jpeg = self._snapshot_jpeg(ev, result, annotated)
            if jpeg is not None:
                self.publisher.set_retained(self.topics["snapshot"], jpeg)
        topic = self.topics["snapshot"] if jpeg is not None else None
        payload = event_payload(self.camera, ev, topic, jpeg if self.settings.snapshot == "base64" else None)
        self.publisher.publish_event(self.topics["events"], payload)
        self.events += 1

    def _snapshot_jpeg(self, ev: Event, result: FrameResult, annotated: np.ndarray | None) -> bytes | None:
        """The event's annotated best frame (the snapshot file), else this frame annotated; None if neither works."""
        try:
            image = cv2.imread(ev.snapshot) if ev.snapshot else None
            if image is None:
                if annotated is None:
                    from facemask_live.outputs.annotate import annotate

                    annotated = annotate(result.frame.image, result)
                image = annotated
            return encode_jpeg(image, self.settings.jpeg_quality, self.settings.snapshot_max_side)
        except (cv2.error, ValueError, TypeError, AttributeError) as exc:  # the event still goes out, without a picture
            log.error("MQTT: no snapshot for the event of track %s: %s", ev.track_id, exc)
            return None

    def close(self) -> None:
        if self._status in (None, "starting", "live", "reconnecting"):
            self.set_status(SourceState.STOPPED)
        if self.door is not None:
            self.door.close()
        self.publisher.close()


def mqtt_camera_name(settings: Settings) -> str:
    """The camera in the topics: ``mqtt.camera``, else the name of the camera being watched when it was given
    one (a site file), else one made from the source (the file name, ``camera0``, the stream's host)."""
    if settings.mqtt is not None and settings.mqtt.camera:
        return settings.mqtt.camera
    source = settings.source.source
    for cam in settings.cameras:
        if cam.source == source and cam.name != DEFAULT_CAMERA:
            return cam.name
    return camera_name_from_source(source)


def build_mqtt_sink(settings: Settings) -> MqttSink:
    """The sink for ``settings.mqtt`` (which must be set); counts follow the tracks unless tracking is off."""
    assert settings.mqtt is not None
    door = settings.door.idle_after if settings.door.enabled and settings.tracking.enabled else None
    return MqttSink(settings.mqtt, mqtt_camera_name(settings), tracked=settings.tracking.enabled, door_idle_after=door)
