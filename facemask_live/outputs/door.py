"""The door signal: per camera ``allow`` / ``deny`` / ``idle`` on MQTT, for a relay, a turnstile or an automation.

The state follows the person nearest the camera (the largest face in view; inside the entrance zone when the
camera has one) as the event monitor judges them (``result.door``, set by
:class:`~facemask_live.events.monitor.ViolationMonitor`): a violation label only with the evidence an event needs,
so one misread frame cannot close a door, and a label only from judged frames, so a blurred one cannot open it.
``idle`` when nobody is judged in view for ``idle_after`` seconds (frame time) and outside the alert hours.

Published retained on ``<prefix>/<camera>/door`` through the camera's MQTT connection
(:class:`~facemask_live.outputs.mqtt.MqttSink` owns a :class:`DoorSink`) on every change::

    {"schema": 1, "camera": "door", "state": "deny", "reason": "no mask", "time": 1765000000.123,
     "iso_time": "2026-12-06T04:00:00.123+00:00", "track_id": 3, "label": "no_mask", "frame": 57}
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from facemask_live.core.results import DoorView, FrameResult
from facemask_live.outputs.annotate import display_name

ALLOW, DENY, IDLE = "allow", "deny", "idle"
STATES = (ALLOW, DENY, IDLE)
NOBODY = "nobody judged in view"
OFF_HOURS = "off hours"
STOPPED = "stopped"


@dataclass(frozen=True)
class DoorState:
    state: str
    reason: str
    track_id: int | None = None
    label: str | None = None


class DoorSignal:
    """The door state from each frame's :class:`DoorView`; :meth:`update` returns the new state on a change."""

    def __init__(self, idle_after: float = 2.0):
        if not idle_after >= 0:
            raise ValueError(f"idle_after must be >= 0 seconds, got {idle_after}")
        self.idle_after = float(idle_after)
        self.state: DoorState | None = None
        self._judged_at: float | None = None  # monitor clock when someone was last judged

    def decide(self, view: DoorView) -> DoorState | None:
        """The state for ``view``; None: keep the current one (someone was judged less than idle_after ago)."""
        if view.off_hours:
            return DoorState(IDLE, OFF_HOURS)
        if view.label is not None:
            self._judged_at = view.clock
            reason = display_name(view.label).lower()
            return DoorState(DENY if view.violation else ALLOW, reason, view.track_id, view.label)
        if self.state is not None and self.state.state != IDLE and self._judged_at is not None \
                and 0 <= view.clock - self._judged_at < self.idle_after:
            return None  # a moment without a judged face (turned away, passing behind someone) changes nothing
        return DoorState(IDLE, NOBODY)

    def update(self, view: DoorView) -> DoorState | None:
        new = self.decide(view)
        if new is None or (self.state is not None and (new.state, new.reason) == (self.state.state, self.state.reason)):
            return None
        self.state = new
        return new


def door_payload(camera: str, state: DoorState, frame: int | None, now: float | None = None) -> dict:
    now = time.time() if now is None else now
    return {
        "schema": 1,
        "camera": camera,
        "state": state.state,
        "reason": state.reason,
        "time": round(now, 3),
        "iso_time": datetime.fromtimestamp(now, tz=timezone.utc).isoformat(timespec="milliseconds"),
        "track_id": state.track_id,
        "label": state.label,
        "frame": frame,
    }


class DoorSink:
    """Sink: publishes the camera's door state on each change through ``publish(topic, payload_bytes)`` (retained).

    ``close()`` publishes ``idle`` ("stopped"): a stopped monitor holds no door.
    """

    needs_annotated = False

    def __init__(self, camera: str, topic: str, publish, idle_after: float = 2.0):
        self.camera = camera
        self.topic = topic
        self.publish = publish
        self.signal = DoorSignal(idle_after)
        self.stopped_reason: str | None = None
        self.changes = 0

    def _send(self, state: DoorState, frame: int | None) -> None:
        self.changes += 1
        self.publish(self.topic, json.dumps(door_payload(self.camera, state, frame), separators=(",", ":")).encode())

    def write(self, result: FrameResult, annotated: np.ndarray | None = None) -> None:
        if result.door is None:  # no tracking: no judged label to follow
            return
        new = self.signal.update(result.door)
        if new is not None:
            self._send(new, result.frame.index)

    def close(self) -> None:
        if self.signal.state is not None and self.signal.state.reason != STOPPED:
            self.signal.state = DoorState(IDLE, STOPPED)
            self._send(self.signal.state, None)
