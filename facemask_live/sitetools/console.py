"""Site console: ``python -m facemask_live console --mqtt URL`` shows every camera's events from a broker.

Subscribes to ``<prefix>/#`` and keeps, per camera, availability, source status, people counts and the
latest snapshot, plus the list of violation events (each event id once: a message the app sent again
after a lost acknowledgement is not shown twice). ``--headless`` prints one line per event;
``--jsonl FILE`` appends each event's JSON (without the base64 picture); without ``--headless`` a PyQt5
window (:mod:`facemask_live.sitetools.console_gui`) shows the same. The command itself is :mod:`facemask_live.sitetools.console_cli`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

log = logging.getLogger(__name__)


@dataclass
class CameraState:
    name: str
    available: str = "?"
    status: str = "?"
    people: dict = field(default_factory=dict)
    snapshot: bytes | None = None  # latest violation JPEG
    events: int = 0


@dataclass(frozen=True)
class ConsoleEvent:
    camera: str
    payload: dict  # the event as published (schema 1)
    jpeg: bytes | None  # its snapshot: base64 in the event, else the camera's latest snapshot

    @property
    def line(self) -> str:
        p = self.payload
        t = p.get("time")
        when = datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S") if isinstance(t, (int, float)) else "?"
        conf = p.get("confidence")
        conf_text = f"{conf:.2f}" if isinstance(conf, (int, float)) else "?"
        snap = p.get("snapshot") or (p.get("snapshot_topic") if self.jpeg else None) or "-"
        return f"{when}  {self.camera}  {p.get('label', '?')}  {conf_text}  track {p.get('track_id', '?')}  {snap}"


class ConsoleModel:
    """What the console knows, fed with (topic, payload) from any thread; returns the new events."""

    MAX_IDS = 10000

    def __init__(self, prefix: str = "facemask"):
        self.prefix = prefix
        self.cameras: dict[str, CameraState] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def camera(self, name: str) -> CameraState:
        if name not in self.cameras:
            self.cameras[name] = CameraState(name)
        return self.cameras[name]

    def handle(self, topic: str, payload: bytes) -> ConsoleEvent | None:
        parts = topic.split("/")
        if len(parts) != len(self.prefix.split("/")) + 2 or not topic.startswith(self.prefix + "/"):
            return None
        name, kind = parts[-2], parts[-1]
        with self._lock:
            cam = self.camera(name)
            if kind == "snapshot":
                cam.snapshot = bytes(payload) or None
            elif kind in ("available", "status"):
                setattr(cam, kind, payload.decode("utf-8", "replace").strip() or "?")
            elif kind == "people":
                data = _json(payload)
                if data is not None:
                    cam.people = {k: data.get(k) for k in ("in_view", "masked", "unmasked", "not_judged")}
            elif kind == "events":
                return self._event(cam, payload)
        return None

    def _event(self, cam: CameraState, payload: bytes) -> ConsoleEvent | None:
        data = _json(payload)
        if data is None:
            return None
        eid = str(data.get("id") or hash(payload))
        if eid in self._seen:  # a resend (at-least-once delivery): shown once
            return None
        self._seen[eid] = None
        while len(self._seen) > self.MAX_IDS:
            self._seen.popitem(last=False)
        jpeg = None
        if data.get("snapshot_jpeg"):
            import base64

            try:
                jpeg = base64.b64decode(data["snapshot_jpeg"])
            except ValueError:
                jpeg = None
        cam.events += 1
        return ConsoleEvent(cam.name, data, jpeg or cam.snapshot)


def _json(payload: bytes) -> dict | None:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        log.warning("console: a message that is not JSON was ignored")
        return None
    return data if isinstance(data, dict) else None


class ConsoleClient:
    """Subscribes to ``<prefix>/#`` and feeds a :class:`ConsoleModel`; ``on_event(ev)`` / ``on_update()`` in the network thread."""

    def __init__(self, settings, on_event=None, on_update=None):
        from facemask_live.outputs.mqtt import BrokerConnection, slug

        self.settings = settings
        self.model = ConsoleModel(settings.topic_prefix)
        self.on_event = on_event
        self.on_update = on_update
        client_id = settings.client_id or slug(f"facemask-console-{socket.gethostname()}-{os.getpid()}")
        self.conn = BrokerConnection(settings, client_id, on_connected=self._connected, on_message=self._message,
                                     what="console: MQTT", keeps_events=False)

    def _connected(self) -> None:
        self.conn.client.subscribe(f"{self.settings.topic_prefix}/#", qos=1)

    def _message(self, client, userdata, msg) -> None:
        try:
            ev = self.model.handle(msg.topic, msg.payload)
            if ev is not None and self.on_event is not None:
                self.on_event(ev)
            if self.on_update is not None:
                self.on_update()
        except Exception as exc:  # one bad message must not stop the console
            log.error("console: message on %s: %s: %s", msg.topic, type(exc).__name__, exc)

    def start(self) -> bool:
        return self.conn.start()

    def stop(self) -> None:
        self.conn.stop()


class JsonlRecorder:
    def __init__(self, path: str):
        from facemask_live.outputs.sinks import open_for_append

        self._fh = open_for_append(path, "console events")
        self._lock = threading.Lock()

    def write(self, ev: ConsoleEvent) -> None:
        rec = {k: v for k, v in ev.payload.items() if k != "snapshot_jpeg"}
        with self._lock:
            self._fh.write(json.dumps(rec) + "\n")
            self._fh.flush()

    def close(self) -> None:
        self._fh.close()
