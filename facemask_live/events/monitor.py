"""Violation events: one per person, not one per frame, with a cooldown and an automatic snapshot.

:class:`ViolationMonitor` reads the track fields the :class:`~facemask_live.tracking.track.Tracker` set on the
faces. When a person's stable label is a violation label it raises one :class:`Event`; while the
person stays in violation it raises the next one only after ``cooldown`` seconds, measured on
``frame.timestamp`` (so a video file gives the same events on every run; a looping file whose
timestamps restart keeps counting up).

Outside the alert hours (``schedule``, :mod:`facemask_live.core.schedule`) it raises no event but counts
people as always. With ``escalate_after`` a violator still in view (the faces it gets are those inside the
entrance zone when the camera has one) that many seconds after their event raises ONE escalated event
(``Event.escalated``); the next regular event, a cooldown later, may be followed by the next one. Every frame
it names the person a door speaks to (:class:`~facemask_live.core.results.DoorView`, ``result.door``).

For each live person it keeps a copy of the best frame so far (violation frames first, then face
detector confidence x face area) and, for every event, writes that frame annotated and the face crop
as PNGs into ``snapshot_dir``. The copy is freed when the person's track ends. A snapshot that cannot
be written is logged; the event still goes out, with ``snapshot=None``.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facemask_live.core.config import EVIDENCE_WINDOW  # a violation's evidence: counted over a person's last 15 good frames
from facemask_live.core.geometry import crop_faces
from facemask_live.core.results import DoorView, Event, Face, Frame, FrameResult, check_verdict_frames
from facemask_live.core.schedule import Schedule
from facemask_live.outputs.annotate import annotate
from facemask_live.outputs.sinks import timestamp_name, write_png

log = logging.getLogger(__name__)

CROP_MARGIN = 0.15  # face crops show a little around the box
THUMB_SIDE = 96  # in-memory thumbnails of recent events, for an event list


@dataclass(eq=False)
class PersonState:
    """What the monitor remembers about one live (confirmed) track."""

    track_id: int
    label: str | None = None  # last stable label seen
    last_event: float | None = None  # monitor clock of the last event
    escalated: bool = False  # the escalated event of the last event was raised
    missing: int = 0  # frames in a row without this track
    last_seen: float = 0.0  # monitor clock when last seen
    recent: collections.deque = dataclasses.field(default_factory=lambda: collections.deque(maxlen=EVIDENCE_WINDOW))
    best_key: tuple[bool, float] = (False, -1.0)
    best_frame: Frame | None = None  # a private copy of the best frame
    best_faces: list[Face] = dataclasses.field(default_factory=list)
    best_box: tuple[int, int, int, int] | None = None

    @property
    def evidence(self) -> int:
        """Frames with a violation label among the person's last EVIDENCE_WINDOW frames good enough to count."""
        return sum(self.recent)


def _held(result: FrameResult | None) -> tuple[Frame, list[Face]] | None:
    """A copy of ``result``'s frame and faces that outlives the frame (the capture reuses nothing, the caller may)."""
    if result is None:
        return None
    f = result.frame
    return dataclasses.replace(f, image=f.image.copy()), [dataclasses.replace(x) for x in result.faces]


class ViolationMonitor:
    """Turns tracked faces into violation events, people counts and snapshots.

    violation_labels: labels that are a violation (``classifier.violation_labels``).
    cooldown: seconds (frame time) before the same person can raise another event.
    snapshot_dir: folder for the automatic snapshots, None for no snapshots.
    max_missing: frames a person may be missing before the monitor frees their best frame; use the
    tracker's ``max_missing`` (after that the tracker has ended the track for sure).
    alert_frames: frames of violation *evidence* (a face with a violation label that the quality gate found
    good enough, ``face.quality.evidence``; every labelled face when there is no gate), among the person's
    last ``EVIDENCE_WINDOW`` good frames, needed before an event, and before the person is counted under a
    violation label: one misread frame, a few scattered ones, or a hand seen for a moment never raise one.
    remember: seconds (frame time) a person's id, cooldown and counts are kept after they were last seen
    (at least ``cooldown``): a person re-identified under the same id (reid.py) within it is the same person.
    redact: ``(image, faces) -> image`` applied to a snapshot's frame before it is drawn and saved, e.g.
    :func:`facemask_live.outputs.privacy.redact` blurring compliant faces (``--privacy``); None: saved as seen.
    schedule: the alert hours (None: always on). escalate_after: seconds (frame time, < cooldown) after an
    event at which a violator still in view raises one escalated event; None: never.
    verdict_frames: the frames one classifier verdict counts as evidence on (``Face.carried``); None: every frame
    that shows it. Why: a live camera whose detector looks again only every 10 frames (16 cameras on two cores)
    shows one verdict on all of them, and one misread crop would then be six frames of evidence on its own.
    full_view: ``result -> result`` on a larger picture of the same moment (a camera's main stream, boxes scaled:
    ``sources.dual``), or None while there is none; used for the best frame of a violator, so that the snapshot has
    the main stream's detail. None (the attribute): snapshots from the frames the monitor is given.
    """

    RECENT = 50

    def __init__(
        self,
        violation_labels: Iterable[str],
        cooldown: float = 60.0,
        snapshot_dir: str | Path | None = None,
        max_missing: int = 15,
        redact: Callable[[np.ndarray, list[Face]], np.ndarray] | None = None,
        alert_frames: int = 1,
        remember: float = 0.0,
        schedule: Schedule | None = None,
        escalate_after: float | None = None,
        verdict_frames: int | None = None,
    ):
        if isinstance(violation_labels, str):
            raise ValueError(f"violation_labels must be a collection of label names, not the string {violation_labels!r}")
        labels = frozenset(violation_labels)
        if not all(isinstance(x, str) and x for x in labels):
            raise ValueError(f"violation_labels must be non-empty label names, got {sorted(map(repr, labels))}")
        if not cooldown >= 0:  # also rejects NaN
            raise ValueError(f"cooldown must be >= 0 seconds, got {cooldown}")
        if int(max_missing) != max_missing or max_missing < 0:
            raise ValueError(f"max_missing must be a whole number of frames >= 0, got {max_missing}")
        if int(alert_frames) != alert_frames or not 1 <= alert_frames <= EVIDENCE_WINDOW:
            raise ValueError(f"alert_frames must be a whole number from 1 to {EVIDENCE_WINDOW}, got {alert_frames}")
        if not remember >= 0:
            raise ValueError(f"remember must be >= 0 seconds, got {remember}")
        if escalate_after is not None and not escalate_after > 0:
            raise ValueError(f"escalate_after must be > 0 seconds, got {escalate_after}")
        self.verdict_frames = check_verdict_frames(verdict_frames)
        self.schedule = None if schedule is None or schedule.always else schedule
        self.escalate_after = escalate_after
        self.full_view: Callable[[FrameResult], FrameResult | None] | None = None
        self.escalations = 0
        self.off_hours = False  # outside the alert hours at the last frame
        self.violation_labels = labels
        self.cooldown = float(cooldown)
        self.alert_frames = int(alert_frames)
        # a person's cooldown and counts outlive their track, so that a re-identified person (same id)
        # raises no second event within the cooldown and is not counted twice
        self.remember = max(float(remember), self.cooldown)
        self.snapshot_dir = Path(snapshot_dir).expanduser().absolute() if snapshot_dir is not None else None
        self.max_missing = int(max_missing)
        self.redact = redact
        self.people_seen = 0
        self.people_by_label: dict[str, int] = {}
        self.violations = 0
        self.snapshot_failures = 0
        self.recent_events: collections.deque[Event] = collections.deque(maxlen=self.RECENT)
        self._thumbs: dict[int, np.ndarray] = {}  # id(event) -> small BGR face crop
        self._people: dict[int, PersonState] = {}
        self._clock = 0.0
        self._last_ts: float | None = None
        self._last_dt = 0.0

    # -- public helpers -------------------------------------------------------------------------
    def is_violation(self, label: str | None) -> bool:
        return label is not None and label in self.violation_labels

    def thumbnail(self, event: Event) -> np.ndarray | None:
        """A small BGR face crop of one of ``recent_events`` (also when snapshots are off)."""
        return self._thumbs.get(id(event))

    @property
    def live_people(self) -> int:
        """People whose track may still be live (each holds at most one best-frame copy)."""
        return sum(1 for p in self._people.values() if p.missing <= self.max_missing)

    @property
    def not_judged(self) -> int:
        """People seen who are counted under no label: never judged (quality gate), or a violation label
        without the evidence for it."""
        return self.people_seen - sum(self.people_by_label.values())

    def counts(self) -> dict[str, int]:
        """People seen / masked / counted under a violation label / not judged, and violation events."""
        return {
            "people": self.people_seen,
            "masked": self.people_by_label.get("mask", 0),
            "violators": sum(v for k, v in self.people_by_label.items() if self.is_violation(k)),
            "not_judged": self.not_judged,
            "violations": self.violations,
        }

    @property
    def held_frames(self) -> int:
        return sum(1 for p in self._people.values() if p.best_frame is not None)

    # -- clock ----------------------------------------------------------------------------------
    def _tick(self, ts: float) -> float:
        """Monotonic seconds from frame timestamps; a timestamp that goes back (a looped file) adds one
        frame period instead of going back."""
        if self._last_ts is not None:
            dt = ts - self._last_ts
            if dt > 0:
                self._last_dt = dt
            else:
                dt = self._last_dt
            self._clock += dt
        self._last_ts = ts
        return self._clock

    # -- people counts --------------------------------------------------------------------------
    def counted_label(self, track_id: int) -> str | None:
        """The label person ``track_id`` is counted under now (a violation label only with its evidence);
        None: not judged (yet), or not a person the monitor remembers."""
        person = self._people.get(track_id)
        return None if person is None else person.label

    def _count_label(self, person: PersonState, label: str | None, needed: int) -> None:
        """Count each person once, under their current stable label (a violation label only with ``needed``
        frames of evidence)."""
        if label is None or label == person.label:
            return
        if self.is_violation(label) and person.evidence < needed:
            return
        if person.label is not None:
            n = self.people_by_label.get(person.label, 0) - 1
            if n > 0:
                self.people_by_label[person.label] = n
            else:
                self.people_by_label.pop(person.label, None)
        self.people_by_label[label] = self.people_by_label.get(label, 0) + 1
        person.label = label

    # -- best frame -----------------------------------------------------------------------------
    def _keep_best(self, person: PersonState, face: Face, result: FrameResult, cache: dict) -> None:
        strong = self.is_violation(face.label) and (face.quality is None or face.quality.evidence)
        key = (strong, face.score * face.width * face.height)
        if person.best_frame is not None and key <= person.best_key:
            return
        view = None
        if strong and self.full_view is not None:  # a camera with two streams: the snapshot from its main stream
            if "main" not in cache:
                cache["main"] = _held(self.full_view(result))  # None until the main stream has a frame
            view = cache["main"]
        if view is None:
            if "detect" not in cache:  # one copy per frame, shared by everyone whose best it is
                cache["detect"] = _held(result)
            view = cache["detect"]
        frame, faces = view
        person.best_key = key
        person.best_frame = frame
        person.best_faces = faces
        i = next((i for i, f in enumerate(result.faces) if f is face), None)
        person.best_box = faces[i].box if i is not None else face.box

    # -- snapshots ------------------------------------------------------------------------------
    def _snapshot(self, person: PersonState, event: Event) -> tuple[np.ndarray | None, str | None, str | None]:
        """Crop (for the thumbnail) and the written annotated/crop paths for ``event``."""
        frame = person.best_frame
        if frame is None:
            return None, None, None
        crop = crop_faces(frame.image, [Face(person.best_box, 0.0)], CROP_MARGIN)[0]
        if self.snapshot_dir is None:
            return crop, None, None
        faces = []
        for f in person.best_faces:  # show the person as the event names them
            if f.track_id == person.track_id:
                f = dataclasses.replace(f, track_label=event.label, track_prob=event.confidence)
            faces.append(f)
        snap = crop_path = None
        try:
            self.snapshot_dir.mkdir(parents=True, exist_ok=True)
            base = timestamp_name(f"violation_t{person.track_id}", frame.index)
            path = self.snapshot_dir / f"{base}.png"
            n = 1
            while path.exists() or path.with_name(f"{path.stem}_crop.png").exists():
                n += 1
                path = self.snapshot_dir / f"{base}_{n}.png"
            image = frame.image if self.redact is None else self.redact(frame.image, faces)
            write_png(path, annotate(image, FrameResult(frame, faces)))
            snap = str(path)
            crop_file = path.with_name(f"{path.stem}_crop.png")
            write_png(crop_file, np.ascontiguousarray(crop))
            crop_path = str(crop_file)
        except Exception as exc:  # disk full, read-only, not a folder ...: log, never stop the run
            self.snapshot_failures += 1
            log.error("could not save the violation snapshot for person #%d in %s: %s", person.track_id, self.snapshot_dir, exc)
        return crop, snap, crop_path

    def _remember(self, event: Event, crop: np.ndarray | None) -> None:
        if len(self.recent_events) == self.recent_events.maxlen:
            self._thumbs.pop(id(self.recent_events[0]), None)
        self.recent_events.append(event)
        if crop is not None and crop.size:
            h, w = crop.shape[:2]
            s = THUMB_SIDE / max(h, w)
            self._thumbs[id(event)] = cv2.resize(crop, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)

    # -- update ---------------------------------------------------------------------------------
    def _escalate(self, person: PersonState, now: float) -> bool:
        """Is it time for the one escalated event of the person's last event?"""
        if self.escalate_after is None or person.escalated or now - person.last_event < self.escalate_after:
            return False
        person.escalated = True
        return True

    def _event(self, person: PersonState, face: Face, result: FrameResult, escalated: bool = False) -> Event:
        event = Event(
            time=time.time(),
            source=result.frame.source,
            track_id=person.track_id,
            label=face.track_label,
            confidence=float(face.track_prob or 0.0),
            frame=result.frame.index,
            box=tuple(int(c) for c in face.box),
            escalated=escalated,
        )
        crop, event.snapshot, event.crop = self._snapshot(person, event)
        if escalated:
            self.escalations += 1
        else:
            self.violations += 1
        self._remember(event, crop)
        return event

    def door_view(self, result: FrameResult, now: float) -> DoorView:
        """The nearest person (largest face) in view and the label they are counted under."""
        if not result.faces:
            return DoorView(off_hours=self.off_hours, clock=now)
        face = max(result.faces, key=lambda f: f.width * f.height)
        label = self.counted_label(face.track_id) if face.track_id is not None else None
        return DoorView(face.track_id, label, self.is_violation(label), tuple(int(c) for c in face.box), self.off_hours, now)

    def update(self, result: FrameResult) -> list[Event]:
        """Read this frame's tracked faces; return the new events (usually none). Sets ``result.door``."""
        now = self._tick(result.frame.timestamp)
        self.off_hours = self.schedule is not None and not self.schedule.is_on()
        seen: set[int] = set()
        cache: dict = {}
        events = []
        # a photo (image or folder source) shows each person once: its one judged frame is all the evidence there is
        needed = 1 if result.frame.file is not None else self.alert_frames
        for face in result.faces:
            tid = face.track_id
            if tid is None or tid in seen:
                continue
            seen.add(tid)
            person = self._people.get(tid)
            if person is None:
                person = self._people[tid] = PersonState(tid)
                self.people_seen += 1
            person.missing = 0
            person.last_seen = now
            q = face.quality
            if face.label and face.verdict_counts(self.verdict_frames) and (q.evidence if q is not None else True):
                person.recent.append(self.is_violation(face.label))
            self._count_label(person, face.track_label, needed)
            self._keep_best(person, face, result, cache)
            if self.off_hours or not self.is_violation(face.track_label) or person.evidence < needed:
                continue
            if person.last_event is not None and now - person.last_event < self.cooldown:
                if self._escalate(person, now):
                    events.append(self._event(person, face, result, escalated=True))
                continue
            person.last_event, person.escalated = now, False
            events.append(self._event(person, face, result))
        for tid in [t for t in self._people if t not in seen]:
            person = self._people[tid]
            person.missing += 1
            if person.missing > self.max_missing:  # the track has ended: free its best frame
                person.best_frame, person.best_faces, person.best_box, person.best_key = None, [], None, (False, -1.0)
                if now - person.last_seen > self.remember:
                    del self._people[tid]  # and after `remember` seconds the person too
        result.door = self.door_view(result, now)
        return events
