"""People, not frames: follow every face across frames and give it a stable label.

Association (in the spirit of SORT / norfair, own code): every live track predicts where its face is
now with a constant-velocity model, then detections are matched to tracks greedily by cost, lowest
first. The cost of a (track, face) pair is ``(1 - IoU) + centre distance / track size``; a pair is
allowed only when the face is about the track's size and either overlaps the prediction enough
(``iou_threshold``) or its centre is near it (a gate that widens while a track is missing). The
prediction keeps two people who cross apart, and keeps an id through short detector gaps.

A track becomes a person (gets an id, is *confirmed*) after it was seen in ``initialization_delay``
frames, and ends after ``max_missing`` frames in a row without its face. Still images (frames with a
``file``, from an image or a folder source) are scenes of their own: every face in one is a person at
once, labelled by that one view, and no track carries over to the next file. Its label is the average of
the classifier probabilities over its last ``vote_window`` sightings; it is decided once the winning
label reaches ``min_confidence`` and then only changes when another label does (hysteresis), so one
misread frame never flips it.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field

import numpy as np

from facemask_live.core.geometry import iou  # noqa: F401 - also part of this module's API
from facemask_live.core.results import Box, Face, Frame, check_verdict_frames
from facemask_live.tracking.reid import Appearance, Reidentifier, descriptor

FloatBox = tuple[float, float, float, float]


def _centre(b: FloatBox | Box) -> tuple[float, float]:
    return (b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0


def _area(b: FloatBox | Box) -> float:
    return max(b[2] - b[0], 0) * max(b[3] - b[1], 0)


@dataclass(eq=False)
class Track:
    """One face followed across frames. ``id`` is None until the track is confirmed as a person."""

    key: int  # internal serial, also for tentative tracks
    box: FloatBox  # last matched box
    id: int | None = None
    hits: int = 0  # frames in which the face was seen
    misses: int = 0  # frames in a row without it
    age: int = 1  # frames since the track started
    confirmed: bool = False
    velocity: tuple[float, float] = (0.0, 0.0)  # centre motion per frame, pixels
    label: str | None = None  # stable label (None until decided)
    prob: float | None = None  # averaged probability of ``label`` over the window
    history: collections.deque = field(default_factory=collections.deque)  # probs dicts, newest last
    last_frame: int = -1  # index of the last frame the face was seen in
    last_time: float = 0.0  # frame time the face was last seen
    appearance: Appearance | None = None  # head-and-shoulders descriptor for re-identification (reid.py)
    in_gallery: bool = False  # handed to the re-identifier as lost
    described: int = -1_000_000  # ``hits`` when the last appearance descriptor was taken

    def predicted(self) -> FloatBox:
        """Where the face should be now: the last box moved by velocity x frames since it was seen."""
        steps = self.misses + 1
        dx, dy = self.velocity[0] * steps, self.velocity[1] * steps
        x1, y1, x2, y2 = self.box
        return (x1 + dx, y1 + dy, x2 + dx, y2 + dy)

    @property
    def size(self) -> float:
        return math.sqrt(max(_area(self.box), 1.0))

    def averaged(self) -> dict[str, float]:
        """Mean class probabilities over the vote window."""
        sums: dict[str, float] = {}
        for probs in self.history:
            for lab, p in probs.items():
                sums[lab] = sums.get(lab, 0.0) + p
        n = len(self.history)
        return {lab: s / n for lab, s in sums.items()} if n else {}


class Tracker:
    """Gives every face a track id that follows the person, and a label decided over recent frames.

    ``update(faces, frame)`` sets ``track_id``, ``track_label`` and ``track_prob`` on the faces in
    place; faces of tracks not yet confirmed keep ``track_id`` None. ``tracks`` holds the live tracks.
    """

    SIZE_RATIO = 3.0  # a face more than 3x larger/smaller (by side) than the track is someone else
    GATE = 0.6  # max centre distance, in track sizes, for a match without enough overlap ...
    GATE_PER_MISS = 0.15  # ... widened by this for every frame the track has been missing
    GATE_MAX = 2.0
    SMOOTHING = 0.5  # weight of the newest motion in the velocity estimate
    REID_AFTER_MISSES = 2  # frames a person is missing before a new track may take their id
    REID_EVERY = 3  # sightings between two appearance descriptors of a track (the first detected sighting has one)

    def __init__(
        self,
        iou_threshold: float = 0.3,
        initialization_delay: int = 3,
        max_missing: int = 15,
        vote_window: int = 15,
        min_confidence: float = 0.6,
        reid: Reidentifier | None = None,
        verdict_frames: int | None = None,
    ):
        if not 0.0 <= iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be between 0 and 1, got {iou_threshold}")
        if int(initialization_delay) != initialization_delay or initialization_delay < 0:
            raise ValueError(f"initialization_delay must be a whole number of frames >= 0, got {initialization_delay}")
        if int(max_missing) != max_missing or max_missing < 0:
            raise ValueError(f"max_missing must be a whole number of frames >= 0, got {max_missing}")
        if int(vote_window) != vote_window or vote_window < 1:
            raise ValueError(f"vote_window must be a whole number of frames >= 1, got {vote_window}")
        if not 0.0 < min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in (0, 1], got {min_confidence}")
        # one classifier verdict votes on at most this many frames (Face.carried; None: on every frame that shows
        # it). Why: a live camera whose detector looks again only every 10 frames would otherwise let one misread
        # crop fill the vote window
        self.verdict_frames = check_verdict_frames(verdict_frames)
        self.iou_threshold = float(iou_threshold)
        self.initialization_delay = int(initialization_delay)
        self.max_missing = int(max_missing)
        self.vote_window = int(vote_window)
        self.min_confidence = float(min_confidence)
        self.reid = reid  # re-identification of people whose track broke (None: off)
        self.tracks: list[Track] = []
        self.people = 0  # confirmed tracks ever (the last id given)
        self._serial = 0
        self._scene: str | None = None  # file name of the current still image

    # -- association -------------------------------------------------------------------------
    SMALL_PAIRS = 36  # up to this many track x face pairs are scored in plain Python (_pair_costs; numpy wins past 8 x 8)

    def _costs(self, faces: list[Face]) -> np.ndarray:
        """(tracks x faces) cost of giving each face to each track; inf where the pair is not allowed."""
        tracks = self.tracks
        last = np.array([t.box for t in tracks], np.float64).reshape(-1, 4)
        pred = np.array([t.predicted() for t in tracks], np.float64).reshape(-1, 4)
        det = np.array([f.box for f in faces], np.float64).reshape(-1, 4)
        misses = np.array([t.misses for t in tracks], np.float64)
        area_t = np.clip(last[:, 2] - last[:, 0], 0, None) * np.clip(last[:, 3] - last[:, 1], 0, None)
        area_f = np.clip(det[:, 2] - det[:, 0], 0, None) * np.clip(det[:, 3] - det[:, 1], 0, None)
        P, D = pred[:, None, :], det[None, :, :]
        iw = np.clip(np.minimum(P[..., 2], D[..., 2]) - np.maximum(P[..., 0], D[..., 0]), 0, None)
        ih = np.clip(np.minimum(P[..., 3], D[..., 3]) - np.maximum(P[..., 1], D[..., 1]), 0, None)
        inter = iw * ih
        union = area_t[:, None] + area_f[None, :] - inter  # the prediction has the last box's size
        overlap = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        dx = (P[..., 0] + P[..., 2] - D[..., 0] - D[..., 2]) / 2
        dy = (P[..., 1] + P[..., 3] - D[..., 1] - D[..., 3]) / 2
        dist = np.hypot(dx, dy) / np.sqrt(np.maximum(area_t, 1.0))[:, None]
        gate = np.minimum(self.GATE + self.GATE_PER_MISS * misses, self.GATE_MAX)[:, None]
        ratio = area_f[None, :] / np.maximum(area_t, 1e-9)[:, None]
        allowed = (area_t[:, None] > 0) & (area_f[None, :] > 0)
        allowed &= (ratio >= 1.0 / self.SIZE_RATIO**2) & (ratio <= self.SIZE_RATIO**2)
        allowed &= (overlap >= self.iou_threshold) | (dist <= gate)
        return np.where(allowed, 1.0 - overlap + dist, np.inf)

    def _pair_costs(self, faces: list[Face]) -> list[tuple[float, int, int]]:
        """(cost, track index, face index) of every allowed pair: :meth:`_costs`, written out pair by pair. Why: a
        door camera has one to three people, and twenty numpy calls on arrays of a few numbers cost a tenth of a
        millisecond per frame, more than the sums themselves (at 32 cameras, 800 frames a second)."""
        if len(self.tracks) * len(faces) > self.SMALL_PAIRS:
            cost = self._costs(faces)
            ti, fi = np.nonzero(np.isfinite(cost))
            return list(zip(cost[ti, fi].tolist(), ti.tolist(), fi.tolist()))
        lo, hi = 1.0 / self.SIZE_RATIO**2, self.SIZE_RATIO**2
        boxes = [(float(x1), float(y1), float(x2), float(y2), max(x2 - x1, 0) * max(y2 - y1, 0))
                 for x1, y1, x2, y2 in (f.box for f in faces)]
        pairs = []
        for t, track in enumerate(self.tracks):
            lx1, ly1, lx2, ly2 = track.box
            area_t = max(lx2 - lx1, 0.0) * max(ly2 - ly1, 0.0)
            if area_t <= 0:
                continue
            px1, py1, px2, py2 = track.predicted()
            gate = min(self.GATE + self.GATE_PER_MISS * track.misses, self.GATE_MAX)
            side = math.sqrt(max(area_t, 1.0))
            for f, (dx1, dy1, dx2, dy2, area_f) in enumerate(boxes):
                if area_f <= 0 or not lo <= area_f / area_t <= hi:
                    continue
                inter = max(min(px2, dx2) - max(px1, dx1), 0.0) * max(min(py2, dy2) - max(py1, dy1), 0.0)
                union = area_t + area_f - inter  # the prediction has the last box's size
                overlap = inter / union if union > 0 else 0.0
                dist = math.hypot((px1 + px2 - dx1 - dx2) / 2, (py1 + py2 - dy1 - dy2) / 2) / side
                if overlap >= self.iou_threshold or dist <= gate:
                    pairs.append((1.0 - overlap + dist, t, f))
        return pairs

    def _match(self, faces: list[Face]) -> list[tuple[Track, Face]]:
        """Greedy by cost, cheapest pair first; ties: confirmed tracks, then the most recently seen."""
        if not self.tracks or not faces:
            return []
        tracks = self.tracks
        order = sorted(self._pair_costs(faces), key=lambda p: (p[0], not tracks[p[1]].confirmed, tracks[p[1]].misses, p[1], p[2]))
        used_t: set[int] = set()
        used_f: set[int] = set()
        matches = []
        for _cost, t, f in order:
            if t in used_t or f in used_f:
                continue
            used_t.add(t)
            used_f.add(f)
            matches.append((tracks[t], faces[f]))
        return matches

    # -- labels -------------------------------------------------------------------------------
    def _vote(self, track: Track) -> None:
        avg = track.averaged()
        if not avg:
            return
        best = max(avg, key=avg.__getitem__)
        if best != track.label and avg[best] >= self.min_confidence:
            track.label = best  # decided, or changed: the new label now wins clearly
        if track.label is not None:
            track.prob = avg.get(track.label, 0.0)

    @staticmethod
    def _face_probs(face: Face) -> dict[str, float]:
        if face.quality is not None and not face.quality.judged:
            return {}  # an unknown face (quality gate) never votes: a person's label comes from judged frames
        if face.probs:
            return dict(face.probs)
        return {face.label: face.prob} if face.label else {}

    # -- update -------------------------------------------------------------------------------
    def _observe(self, track: Track, face: Face, frame: Frame) -> None:
        if track.hits:  # motion since the last sighting
            steps = track.misses + 1
            (ox, oy), (nx, ny) = _centre(track.box), _centre(face.box)
            v = ((nx - ox) / steps, (ny - oy) / steps)
            a = self.SMOOTHING if track.hits > 1 else 1.0
            track.velocity = (a * v[0] + (1 - a) * track.velocity[0], a * v[1] + (1 - a) * track.velocity[1])
        track.box = tuple(float(c) for c in face.box)
        track.hits += 1
        track.misses = 0
        track.last_frame = frame.index
        track.last_time = frame.timestamp
        if self.reid is not None and frame.file is None:
            if track.appearance is None:
                track.appearance = Appearance()
            # a running mean: every few sightings is enough, and only a detector's own box (Face.carried 0) is
            # described: a live camera carries its boxes by optical flow over ten frames and more between two looks
            if face.carried == 0 and track.hits - track.described >= self.REID_EVERY:
                track.appearance.add(descriptor(frame.image, face.box))
                track.described = track.hits
            if track.in_gallery:  # found again by the tracker itself
                self.reid.forget(track.id)
                track.in_gallery = False
        probs = self._face_probs(face)
        if probs and face.verdict_counts(self.verdict_frames):
            track.history.append(probs)

    def _confirm(self, track: Track, still: bool, frame: Frame) -> None:
        if not track.confirmed and (track.hits >= self.initialization_delay or still):
            track.confirmed = True
            if self.reid is not None and not still:
                visible = {t.id for t in self.tracks if t.confirmed and t.misses == 0 and t is not track}
                person = self.reid.claim(track.box, frame.timestamp, track.appearance or Appearance(), visible)
                if person is not None:  # a person seen before: same id, and their old track ends here
                    track.id = person
                    self.tracks = [t for t in self.tracks if t is track or t.id != person]
                    return
            self.people += 1
            track.id = self.people

    def _to_gallery(self) -> None:
        """Confirmed tracks missing for a few frames are offered to the re-identifier as lost people."""
        for t in self.tracks:
            if t.confirmed and not t.in_gallery and t.misses >= self.REID_AFTER_MISSES and t.appearance is not None:
                self.reid.lose(t.id, t.box, t.last_time, t.appearance)
                t.in_gallery = True

    def update(self, faces: list[Face], frame: Frame) -> None:
        """Associate this frame's faces with the live tracks and set the faces' track fields in place."""
        for face in faces:
            face.track_id = face.track_label = face.track_prob = None
        still = frame.file is not None  # an image or a folder of images
        if frame.file != self._scene:
            self.tracks.clear()  # another photo: nobody walks from one photo into the next
        self._scene = frame.file
        matches = self._match(faces)
        matched_tracks = {id(t) for t, _ in matches}
        for track in self.tracks:
            track.age += 1
            if id(track) not in matched_tracks:
                track.misses += 1
        for track, face in matches:
            self._observe(track, face, frame)
        # a face nobody claimed starts a tentative track
        claimed = {id(f) for _, f in matches}
        for face in faces:
            if id(face) in claimed:
                continue
            self._serial += 1
            track = Track(self._serial, face.box, hits=0, history=collections.deque(maxlen=self.vote_window))
            self._observe(track, face, frame)
            self.tracks.append(track)
            matches.append((track, face))
        if self.reid is not None and not still:
            self._to_gallery()
        for track, face in matches:
            self._confirm(track, still, frame)
            self._vote(track)
            if track.confirmed:
                face.track_id = track.id
                face.track_label = track.label
                face.track_prob = track.prob
        # tentative tracks survive one missing frame (flickering false detections die), people max_missing
        self.tracks = [t for t in self.tracks if t.misses <= (self.max_missing if t.confirmed else min(1, self.max_missing))]

    @property
    def confirmed_tracks(self) -> list[Track]:
        return [t for t in self.tracks if t.confirmed]

    def reset(self) -> None:
        """Forget every track (ids keep counting up)."""
        self.tracks.clear()
        if self.reid is not None:
            self.reid.reset()
