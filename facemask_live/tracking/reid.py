"""Re-identification: one person keeps one id when their track breaks.

A person who turns away, is hidden for a moment or leaves the face detector for a few seconds loses their
track; without help the tracker gives them a new id when the face comes back, and a new id means a new
violation event. In the spirit of norfair's ReID and BoT-SORT (own code, CPU-cheap):

* every tracked face keeps an **appearance descriptor** of its head-and-shoulders region (the face box
  widened and extended down over the shoulders, where the hair, the clothes and the skin colours are): a
  hue/saturation histogram (16 x 4 bins) and a coarse texture descriptor (gradient orientations, 8 bins in
  2 x 3 cells), averaged over the track's sightings;
* a confirmed track that ends (or has been missing for a few frames) goes to a **gallery** of lost people,
  kept for ``max_age`` seconds;
* a new track, when it is confirmed, is compared with the gallery: a lost person matches when the new face
  is about their size, near where they were last seen (a gate that widens with the time gap, in face sizes
  per second) and looks alike (``min_similarity``, colour and texture combined). The best match gives the
  new track its **person id**; the event monitor keys its cooldown by that id, so a re-appearance within the
  cooldown raises no second event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from facemask_live.core.config import ReidSettings  # the ``reid`` section of Settings (also this module's API)

H_BINS, S_BINS = 16, 4
PATCH = (24, 36)  # width, height the region is resized to
CELLS = (2, 3)  # texture cells across, down
ORIENT_BINS = 8
COLOUR_WEIGHT = 0.7  # of the similarity; the rest is texture


def region(box, width: int, height: int) -> tuple[int, int, int, int]:
    """The head-and-shoulders region of a face box: 2x as wide, from a bit above the head to 1.5 faces below."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    return (
        int(max(x1 - 0.5 * w, 0)),
        int(max(y1 - 0.2 * h, 0)),
        int(min(x2 + 0.5 * w, width)),
        int(min(y2 + 1.5 * h, height)),
    )


def descriptor(image: np.ndarray, box) -> np.ndarray | None:
    """Colour histogram + texture descriptor of the head-and-shoulders region of ``box`` (L1-normalised parts)."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = region(box, w, h)
    if x2 - x1 < 4 or y2 - y1 < 4:
        return None
    # take every k-th pixel first: a plain resize of a large region would cost a millisecond per face
    k = max(1, min((x2 - x1) // (2 * PATCH[0]), (y2 - y1) // (2 * PATCH[1])))
    patch = cv2.resize(image[y1:y2:k, x1:x2:k], PATCH, interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(patch, cv2.COLOR_BGR2HSV)
    # dark and grey pixels have no reliable hue: weight by saturation and value
    weight = ((hsv[..., 1] > 30) & (hsv[..., 2] > 30)).astype(np.uint8)
    colour = cv2.calcHist([hsv], [0, 1], weight, [H_BINS, S_BINS], [0, 180, 0, 256]).ravel()
    grey = cv2.calcHist([hsv], [2], 1 - weight, [8], [0, 256]).ravel()  # brightness of the unsaturated pixels
    colour = np.concatenate([colour, grey])
    colour /= max(colour.sum(), 1e-6)
    g = cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY).astype(np.float32)
    gx, gy = cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)
    mag, ang = cv2.cartToPolar(gx, gy)
    bins = np.minimum((ang % np.pi) / np.pi * ORIENT_BINS, ORIENT_BINS - 1).astype(np.int32)
    cw, ch = PATCH[0] // CELLS[0], PATCH[1] // CELLS[1]
    texture = []
    for cy in range(CELLS[1]):
        for cx in range(CELLS[0]):
            sl = (slice(cy * ch, (cy + 1) * ch), slice(cx * cw, (cx + 1) * cw))
            texture.append(np.bincount(bins[sl].ravel(), weights=mag[sl].ravel(), minlength=ORIENT_BINS))
    tex = np.concatenate(texture).astype(np.float32)
    tex /= max(float(tex.sum()), 1e-6)
    return np.concatenate([colour.astype(np.float32), tex])


N_COLOUR = H_BINS * S_BINS + 8


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """0..1: Bhattacharyya coefficient of the colour parts and of the texture parts, weighted."""
    colour = float(np.sum(np.sqrt(a[:N_COLOUR] * b[:N_COLOUR])))
    tex = float(np.sum(np.sqrt(a[N_COLOUR:] * b[N_COLOUR:])))
    return COLOUR_WEIGHT * colour + (1 - COLOUR_WEIGHT) * tex


@dataclass(eq=False)
class Lost:
    """A person whose track ended, waiting to be re-identified."""

    person: int
    box: tuple[float, float, float, float]
    time: float  # frame time they were last seen
    appearance: np.ndarray


@dataclass(eq=False)
class Appearance:
    """A running mean of a track's descriptors."""

    mean: np.ndarray | None = None
    n: int = 0

    def add(self, d: np.ndarray | None, limit: int = 30) -> None:
        if d is None:
            return
        self.n = min(self.n + 1, limit)  # a mean over about the last ``limit`` sightings
        self.mean = d.copy() if self.mean is None else self.mean + (d - self.mean) / self.n


@dataclass
class Reidentifier:
    """The gallery of lost people and the matching of new tracks against it (see the module doc)."""

    settings: ReidSettings = field(default_factory=ReidSettings)
    gallery: list[Lost] = field(default_factory=list)
    matches: int = 0  # new tracks given a lost person's id

    MAX_GALLERY = 256  # lost people kept at most, newest first: a crowd leaving at once must not grow it without end

    def lose(self, person: int, box, time: float, appearance: Appearance) -> None:
        """Remember a person whose track ended (or went missing) at frame time ``time``."""
        if appearance.mean is None or not self.settings.enabled:
            return
        # expire here too, not only in claim(): people who leave while nobody new comes must not pile up all shift
        self.gallery = [g for g in self.gallery if g.person != person and 0 <= time - g.time <= self.settings.max_age]
        self.gallery.append(Lost(person, tuple(float(c) for c in box), time, appearance.mean.copy()))
        del self.gallery[: -self.MAX_GALLERY]

    def forget(self, person: int) -> None:
        self.gallery = [g for g in self.gallery if g.person != person]

    def expire(self, now: float) -> None:
        self.gallery = [g for g in self.gallery if 0 <= now - g.time <= self.settings.max_age]

    def claim(self, box, now: float, appearance: Appearance, exclude: set[int] = frozenset()) -> int | None:
        """The person id of the lost person a new track at ``box`` is, or None; the match leaves the gallery."""
        s = self.settings
        if not s.enabled or appearance.mean is None:
            return None
        self.expire(now)
        h = max(box[3] - box[1], 1.0)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        best, best_sim = None, s.min_similarity
        for g in self.gallery:
            if g.person in exclude:
                continue
            gh = max(g.box[3] - g.box[1], 1.0)
            if max(h / gh, gh / h) > s.max_size_ratio:
                continue
            size = math.sqrt(h * gh)
            gap = max(now - g.time, 0.0)
            dist = math.hypot(cx - (g.box[0] + g.box[2]) / 2, cy - (g.box[1] + g.box[3]) / 2) / size
            if dist > s.gate + s.gate_per_second * gap:
                continue
            sim = similarity(appearance.mean, g.appearance)
            if sim >= best_sim:
                best, best_sim = g, sim
        if best is None:
            return None
        self.gallery.remove(best)
        self.matches += 1
        return best.person

    def reset(self) -> None:
        self.gallery.clear()
