"""Typed results shared by every stage: capture, detection, classification, tracking, drawing, sinks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels of the original frame, x2/y2 exclusive
UNKNOWN_LABEL = "unknown"  # the label of a face the quality gate found too poor to judge


@dataclass(frozen=True, slots=True)
class Quality:
    """The quality gate's verdict on one face (see :mod:`facemask_live.detection.quality`).

    ``judged``: the face is good enough for its mask label to count; ``evidence``: also good enough to count
    towards a violation event; ``reason`` names the first rule failed ("too small", "low confidence",
    "blurred", "not a face": not judged; "low confidence", "profile": judged, no evidence). The measures are
    kept for the JSONL and for tuning.
    """

    judged: bool
    reason: str = ""
    size: float = 0.0  # height of the box, pixels
    sharpness: float = 0.0  # variance of the Laplacian of the grey crop resized to a fixed side
    frontal: float | None = None  # 1 = nose midway between the eyes, 0 = nose beyond an eye (None: no landmarks)
    evidence: bool = True  # judged AND strong enough (confidence, pose) to count towards a violation event

    def record(self) -> dict:
        """The verdict as the JSONL writes it."""
        rec = {"judged": self.judged, "evidence": self.evidence, "size": self.size, "sharpness": self.sharpness}
        if self.reason:
            rec["reason"] = self.reason
        if self.frontal is not None:
            rec["frontal"] = self.frontal
        return rec


@dataclass(slots=True)
class Frame:
    """One captured frame (BGR, uint8, HxWx3)."""

    image: np.ndarray
    index: int  # 0-based id of the frame in its source (counts dropped frames too)
    timestamp: float  # seconds: position in a file, or time since the live source started
    captured_at: float  # time.monotonic() when the reader thread got the frame
    file: str | None = None  # image file name for image/folder sources, else None
    source: str = ""  # display name of the source, credentials masked
    # decoded but not converted: ``image`` is the last converted picture (a still camera between two looks of its
    # motion gate, Capture.skip_pixels_until); the same array object, never to be drawn on in place
    repeat: bool = False


def check_verdict_frames(verdict_frames: int | None) -> int | None:
    """``verdict_frames`` as the tracker and the monitor take it (see :meth:`Face.verdict_counts`); ValueError else."""
    if verdict_frames is not None and (int(verdict_frames) != verdict_frames or verdict_frames < 1):
        raise ValueError(f"verdict_frames must be a whole number of frames >= 1, got {verdict_frames}")
    return verdict_frames


@dataclass(slots=True)
class Face:
    """One detected face and what we know about it."""

    box: Box
    score: float  # detector confidence
    label: str = ""  # per-frame classifier label
    prob: float = 0.0  # probability of `label`
    probs: dict[str, float] = field(default_factory=dict)
    track_id: int | None = None
    track_label: str | None = None  # stable label of the track (None until decided)
    track_prob: float | None = None
    landmarks: np.ndarray | None = None  # (5, 2) eyes, nose tip, mouth corners in frame pixels (RetinaFace only)
    quality: Quality | None = None  # the quality gate's verdict (facemask_live.detection.quality); None = not assessed
    # frames on which this face's label was shown before this one without a new classifier call (0: classified for
    # this frame, or shown for the first time). Why: the tracker's vote and the monitor's evidence count each
    # verdict on a bounded number of frames (``verdict_frames``), however long the detector takes to look again
    carried: int = 0

    def verdict_counts(self, verdict_frames: int | None) -> bool:
        """Whether this frame counts for the face's verdict (a vote, evidence): it is among the first
        ``verdict_frames`` frames that show it (None: every frame does)."""
        return verdict_frames is None or self.carried < verdict_frames

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]

    @property
    def shown_label(self) -> str:
        """The label to show a person: the track's stable label when there is one."""
        return self.track_label or self.label


@dataclass(slots=True)
class Event:
    """A violation raised once per person (track), see :mod:`facemask_live.events.monitor`."""

    time: float  # wall-clock epoch seconds
    source: str
    track_id: int
    label: str
    confidence: float
    frame: int
    box: Box
    snapshot: str | None = None  # annotated full frame
    crop: str | None = None  # face crop
    camera: str | None = None  # name of the camera in a multi-camera site (None for a single source)
    escalated: bool = False  # the person was still in view ``escalate_after`` seconds after their event


@dataclass(frozen=True, slots=True)
class DoorView:
    """The person a door speaks to: the nearest (largest) face in view, as the event monitor judges them.

    ``label``: the label they are counted under (a violation label only with its evidence, as for events;
    None: nobody in view, or not judged yet). ``off_hours``: outside the alert hours. ``clock``: the
    monitor's seconds of frame time (monotonic, also across a looped file).
    """

    track_id: int | None = None
    label: str | None = None
    violation: bool = False  # ``label`` is a violation label
    box: Box | None = None
    off_hours: bool = False
    clock: float = 0.0


@dataclass(slots=True)
class FrameResult:
    """Everything the pipeline produced for one frame."""

    frame: Frame
    faces: list[Face]
    events: list[Event] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    camera: str | None = None  # name of the camera in a multi-camera site (None for a single source)
    door: DoorView | None = None  # set by the event monitor (None: no tracking)
    # the picture did not move and the faces are the last frame's (a consumer may show what it drew for that one)
    still: bool = False

    def count(self, label: str) -> int:
        return sum(1 for f in self.faces if f.shown_label == label)
