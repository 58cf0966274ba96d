"""Zones of a camera: polygons in relative coordinates (0..1 of the frame's width and height).

* ``entrance`` zones: when a camera has any, only people whose anchor point lies inside one are
  tracked, counted and can raise events (the street behind the door is not the entrance).
* ``ignore`` zones: faces whose anchor lies inside one (a poster, a TV screen, a mirror) are ignored:
  never tracked, never counted, never an event. Ignore wins over entrance.

The anchor of a face is the centre of its box (``anchor="face"``), or a point below the face at
about shoulder height (``anchor="shoulders"``), which is what a zone drawn on the floor in front of a
door catches. :class:`ZoneFilter` splits a frame's faces into those that count and those that do not;
:func:`draw_zones` draws the zones on a frame (a plain function, like :mod:`facemask_live.outputs.annotate`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from facemask_live.core.results import Face

ZONE_KINDS = ("entrance", "ignore")
ANCHORS = ("face", "shoulders")
SHOULDER_DROP = 0.75  # the shoulders anchor lies this many face heights below the face's bottom edge
ZONE_COLORS = {"entrance": (80, 200, 80), "ignore": (150, 150, 150)}  # BGR


def _polygon_area(points: Sequence[tuple[float, float]]) -> float:
    return 0.5 * abs(sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(points, [*points[1:], points[0]])))


@dataclass(frozen=True)
class Zone:
    """A named polygon of at least 3 points ``(x, y)``, each coordinate in 0..1 of the frame size."""

    name: str
    kind: str
    points: tuple[tuple[float, float], ...]

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("zone name must be a non-empty string")
        if self.kind not in ZONE_KINDS:
            raise ValueError(f"zone {self.name!r}: kind must be one of {', '.join(ZONE_KINDS)}, got {self.kind!r}")
        try:
            pts = tuple((float(x), float(y)) for x, y in self.points)
        except (TypeError, ValueError):
            raise ValueError(f"zone {self.name!r}: points must be pairs of numbers (x, y)") from None
        if len(pts) < 3:
            raise ValueError(f"zone {self.name!r}: a polygon needs at least 3 points, got {len(pts)}")
        for x, y in pts:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"zone {self.name!r}: point ({x}, {y}) is outside 0..1 (coordinates are relative to the frame)")
        if _polygon_area(pts) < 1e-6:
            raise ValueError(f"zone {self.name!r}: the points enclose no area (all on one line?)")
        object.__setattr__(self, "points", pts)

    @classmethod
    def from_mapping(cls, data: Mapping) -> Zone:
        """From a config entry ``{name: ..., kind: entrance|ignore, points: [[x, y], ...]}``; unknown keys rejected."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a zone must be a mapping with name, kind and points, got {type(data).__name__}")
        unknown = set(data) - {"name", "kind", "points"}
        if unknown:
            raise ValueError(f"zone: unknown key(s) {', '.join(sorted(map(str, unknown)))} (allowed: name, kind, points)")
        missing = {"name", "kind", "points"} - set(data)
        if missing:
            raise ValueError(f"zone: missing {', '.join(sorted(missing))}")
        return cls(str(data["name"]), str(data["kind"]), tuple(tuple(p) for p in data["points"]))

    def to_mapping(self) -> dict:
        return {"name": self.name, "kind": self.kind, "points": [[round(x, 4), round(y, 4)] for x, y in self.points]}

    def contains(self, x: float, y: float) -> bool:
        """Is the relative point (x, y) inside the polygon (even-odd rule; edges count as inside)?"""
        pts = self.points
        inside = False
        for (x1, y1), (x2, y2) in zip(pts, [*pts[1:], pts[0]]):
            if _on_segment(x, y, x1, y1, x2, y2):
                return True
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
                inside = not inside
        return inside


def _on_segment(x, y, x1, y1, x2, y2, eps=1e-9) -> bool:
    cross = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)
    return abs(cross) <= eps and min(x1, x2) - eps <= x <= max(x1, x2) + eps and min(y1, y2) - eps <= y <= max(y1, y2) + eps


def parse_zone(text: str) -> Zone:
    """``NAME:KIND:x,y x,y x,y ...`` (the command line's form), e.g. ``door:entrance:0.2,0.1 0.8,0.1 0.8,1 0.2,1``."""
    parts = text.split(":", 2)
    if len(parts) != 3:
        raise ValueError(f"zone {text!r}: expected NAME:KIND:x,y x,y x,y (relative coordinates 0..1)")
    name, kind, pts = parts
    try:
        points = tuple(tuple(float(v) for v in p.split(",")) for p in pts.replace(";", " ").split())
    except ValueError:
        raise ValueError(f"zone {name!r}: points must look like 0.1,0.2 0.5,0.2 0.5,0.9") from None
    if any(len(p) != 2 for p in points):
        raise ValueError(f"zone {name!r}: every point needs exactly two numbers x,y")
    return Zone(name, kind, points)


def anchor_point(box: tuple[int, int, int, int], width: int, height: int, anchor: str = "face") -> tuple[float, float]:
    """The relative point of a face box that zones test: its centre, or the shoulders below it (clamped to the frame)."""
    x1, y1, x2, y2 = box
    x = (x1 + x2) / 2.0
    y = (y1 + y2) / 2.0 if anchor == "face" else y2 + SHOULDER_DROP * (y2 - y1)
    return min(max(x / width, 0.0), 1.0), min(max(y / height, 0.0), 1.0)


@dataclass(frozen=True)
class ZoneSettings:
    """The zones of one camera and which point of a face they test."""

    zones: tuple[Zone, ...] = ()
    anchor: str = "face"

    def __post_init__(self):
        if self.anchor not in ANCHORS:
            raise ValueError(f"zone anchor must be one of {', '.join(ANCHORS)}, got {self.anchor!r}")
        if not all(isinstance(z, Zone) for z in self.zones):
            raise ValueError("zones must be Zone objects")
        names = [z.name for z in self.zones]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"zone names must be unique per camera, repeated: {', '.join(dup)}")
        object.__setattr__(self, "zones", tuple(self.zones))


class ZoneFilter:
    """Splits faces into those that count (tracked, counted, may raise events) and those that do not.

    A face counts when its anchor is in no ignore zone and, if the camera has entrance zones, inside one.
    With no zones every face counts.
    """

    def __init__(self, settings: ZoneSettings | Iterable[Zone] = ()):
        self.settings = settings if isinstance(settings, ZoneSettings) else ZoneSettings(tuple(settings))
        self.ignore = [z for z in self.settings.zones if z.kind == "ignore"]
        self.entrance = [z for z in self.settings.zones if z.kind == "entrance"]
        self.ignored = 0  # faces (per frame) left out by an ignore zone
        self.outside = 0  # faces (per frame) left out for being outside every entrance zone

    @property
    def active(self) -> bool:
        return bool(self.settings.zones)

    def verdict(self, face: Face, width: int, height: int) -> str:
        """``"count"``, ``"ignored"`` (in an ignore zone) or ``"outside"`` (outside every entrance zone)."""
        x, y = anchor_point(face.box, width, height, self.settings.anchor)
        if any(z.contains(x, y) for z in self.ignore):
            return "ignored"
        if self.entrance and not any(z.contains(x, y) for z in self.entrance):
            return "outside"
        return "count"

    def split(self, faces: list[Face], width: int, height: int) -> tuple[list[Face], list[Face]]:
        """(faces that count, faces left out), keeping the order."""
        if not self.active:
            return faces, []
        kept, left = [], []
        for f in faces:
            v = self.verdict(f, width, height)
            if v == "count":
                kept.append(f)
            else:
                left.append(f)
                if v == "ignored":
                    self.ignored += 1
                else:
                    self.outside += 1
        return kept, left


def draw_zones(image: np.ndarray, zones: Iterable[Zone], copy: bool = True, alpha: float = 0.25) -> np.ndarray:
    """The zones as tinted polygons with an outline and their name (entrance green, ignore grey)."""
    import cv2  # here: config.py imports this module for Zone, and imports no OpenCV

    out = image.copy() if copy else image
    zones = list(zones)
    if not zones:
        return out
    h, w = out.shape[:2]
    overlay = out.copy()
    polys = []
    for z in zones:
        pts = np.array([[round(x * (w - 1)), round(y * (h - 1))] for x, y in z.points], np.int32)
        polys.append((z, pts))
        cv2.fillPoly(overlay, [pts], ZONE_COLORS[z.kind])
    cv2.addWeighted(overlay, alpha, out, 1 - alpha, 0, dst=out)
    thick = max(1, round(h / 360))
    scale = max(0.4, min(1.0, h / 900))
    for z, pts in polys:
        color = ZONE_COLORS[z.kind]
        cv2.polylines(out, [pts], True, color, thick, cv2.LINE_AA)
        x, y = pts[:, 0].min(), pts[:, 1].min()
        cv2.putText(out, f"{z.name} ({z.kind})", (int(x) + 4, int(y) + 18), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)
    return out
