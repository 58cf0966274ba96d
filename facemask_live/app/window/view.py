"""What the window shows, as plain functions (no Qt): tile titles, the panel's lines, event-list entries, the
camera table, the reconnecting banner, zones over a picture. The Qt parts only put these on screen.

Every number comes from the engine: a result (faces, events), the camera's monitor counts
(:meth:`~facemask_live.events.monitor.ViolationMonitor.counts`, taken in the camera's thread) or
:meth:`~facemask_live.engine.site.Site.stats`. Nothing here counts people or events again.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

import numpy as np

from facemask_live.core.results import Event, FrameResult
from facemask_live.core.zones import Zone, draw_zones
from facemask_live.engine.build import safe_name
from facemask_live.outputs.annotate import color_for, display_name, draw_banner
from facemask_live.sources.capture import read_image

APP_NAME = "facemask-live"
FLASH_MS = 1500  # how long a tile's border stays red after a violation
MAX_EVENTS = 100  # entries kept in the event list
THUMB = 56  # event thumbnails, pixels
BANNER_BGR = (0, 0, 200)
STATE_COLORS = {"live": "#40c040", "reconnecting": "#e0a020", "starting": "#a0a0a0", "ended": "#8080ff",
                "failed": "#e04040", "stopped": "#a0a0a0", "paused": "#3080ff"}
SESSION_KEYS = ("people", "masked", "not_judged", "violations")  # ViolationMonitor.counts() keys shown


def short_name(source_name: str, limit: int = 48) -> str:
    """A source name for the status bar: file names without their folders, long URLs shortened in the middle."""
    if "://" not in source_name and ("/" in source_name or os.sep in source_name):
        source_name = Path(source_name).name or source_name
    if len(source_name) > limit:
        half = (limit - 1) // 2
        source_name = source_name[:half] + "…" + source_name[-half:]
    return source_name


def state_text(state: str, attempt: int | None = 0) -> str:
    """``reconnecting (attempt n)`` or the state's name (the engine's public names: live, ended, ...)."""
    return f"{state} (attempt {attempt})" if state == "reconnecting" and attempt else state


def tile_title(name: str, state: str, fps: float, attempt: int | None = 0, *, frozen: bool = False,
               paused: bool = False) -> str:
    """A tile's title line (rich text): name, state in its colour, fps, and what the window holds."""
    shown = "paused" if paused and state not in ("ended", "failed") else state
    color = STATE_COLORS.get(shown, "#a0a0a0")
    extra = " · <span style='color:#3080ff'>picture frozen</span>" if frozen else ""
    return f"<b>{name}</b> · <span style='color:{color}'>{state_text(shown, attempt)}</span> · {fps:.1f} fps{extra}"


def window_status(states: Mapping[str, str], attempts: Mapping[str, int | None], source: str, *,
                  paused: bool = False) -> str:
    """The status bar's permanent text: for one camera its source and state (``end of clip.mp4``), for
    several how many are live."""
    if len(states) == 1:
        (name, state), = states.items()
        if paused and state not in ("ended", "failed"):
            state = "paused"
        text = f"end of {short_name(source)}" if state == "ended" else state_text(state, attempts.get(name))
        return f"{short_name(source)}  ·  {text}" if source and state != "ended" else text
    live = sum(s == "live" for s in states.values())
    return f"{len(states)} cameras  ·  {live} live" + ("  ·  paused" if paused else "")


def window_title(sources: list[str]) -> str:
    """``facemask-live — <source>`` for one camera, ``facemask-live — site of N cameras`` for several."""
    if len(sources) == 1:
        return f"{APP_NAME} — {sources[0]}" if sources[0] else APP_NAME
    return f"{APP_NAME} — site of {len(sources)} cameras"


def status_banner(image: np.ndarray, state: str, attempt: int | None = 0) -> np.ndarray | None:
    """A copy of ``image`` with a 'reconnecting (attempt n)' banner, or None when the state needs none."""
    if state != "reconnecting":
        return None
    return draw_banner(image.copy(), state_text(state, attempt), BANNER_BGR)


def hex_color(bgr: tuple[int, int, int]) -> str:
    b, g, r = bgr
    return f"#{r:02x}{g:02x}{b:02x}"


def frame_counts_html(results: Iterable[FrameResult], labels: list[str]) -> str:
    """'This frame': faces of the shown frame(s) per class, each in its box colour (rich text)."""
    results = list(results)
    shown = {f.shown_label for r in results for f in r.faces}
    parts = []
    for lab in list(labels) + sorted(shown - set(labels), key=str):
        n = sum(r.count(lab) for r in results)
        name = display_name(lab) if lab else "unlabelled"
        parts.append(f"<span style='color:{hex_color(color_for(lab))}; font-weight:bold'>{name}</span>: {n}")
    total = sum(len(r.faces) for r in results)
    return f"faces: {total}<br>" + "<br>".join(parts)


def session_values(counts: Iterable[Mapping[str, int] | None], tracking: bool = True) -> dict[str, str]:
    """'This session': people seen, masked, not judged, violations, summed over the cameras' monitor counts
    (None: no frame yet); 'tracking off' without tracking."""
    if not tracking:
        return dict.fromkeys(SESSION_KEYS, "tracking off")
    counts = [c for c in counts if c is not None]
    return {k: str(sum(c.get(k, 0) for c in counts)) for k in SESSION_KEYS}


class CaptureRates:
    """Each camera's frames captured per second, from its figures (:meth:`Site.stats` camera dicts) read again and
    again: over at least ``every_s`` seconds of the figures' own clock (``stats_at``), not of the reader's. Why: a
    camera in a worker process sends its figures once a second and the window reads them every half second; timed
    by the window's clock, a reading that spanned one or two of the worker's updates showed 16.7 or 33.3 fps for a
    25 fps camera."""

    def __init__(self, every_s: float = 1.0):
        self.every_s = every_s
        self.fps: dict[str, float] = {}
        self._marks: dict[str, tuple[float, int]] = {}  # (stats_at, frames captured) of the last reading

    def update(self, name: str, stats: Mapping) -> float | None:
        """Take a new reading of ``name``'s figures; its rate (None until two readings ``every_s`` apart)."""
        at = stats.get("stats_at")
        if at is None:  # a worker camera that sent no figures yet
            return self.fps.get(name)
        before, captured = self._marks.get(name), stats["frames_captured"]
        if before is None or captured < before[1]:  # (counted afresh: a camera added again, a worker started again)
            self._marks[name] = (at, captured)
        elif at - before[0] >= self.every_s:
            self._marks[name] = (at, captured)
            self.fps[name] = (captured - before[1]) / (at - before[0])
        return self.fps.get(name)


def perf_values(stats: Iterable[Mapping], capture_fps: float | None, age_ms: float | None, not_shown: int,
                paused: bool = False) -> dict[str, str]:
    """'Performance' of the shown camera(s) from :meth:`Site.stats` camera dicts: capture and processed fps
    (0 for a camera that is not live, or while paused), dropped frames (and frames the window skipped), the
    age of the shown frame."""
    stats = list(stats)
    dropped = sum(s.get("dropped") or 0 for s in stats)
    fps = 0.0 if paused else sum(s.get("fps") or 0.0 for s in stats if s.get("state") == "live")
    return {
        "capture": "–" if capture_fps is None else f"{capture_fps:.1f} fps",
        "processed": f"{fps:.1f} fps",
        "dropped": f"{dropped}" + (f" (+{not_shown} not shown)" if not_shown else ""),
        "age": "–" if age_ms is None else f"{age_ms:.0f} ms",
    }


def event_text(event: Event, camera: str | None = None) -> str:
    """An event-list entry: time, person id, label and confidence; the camera's name when there are several."""
    stamp = datetime.fromtimestamp(event.time).strftime("%H:%M:%S")
    where = f"{camera} · " if camera else ""
    escalated = " · ESCALATED" if event.escalated else ""
    return f"{where}{stamp}  #{event.track_id}\n{display_name(event.label)} {event.confidence * 100:.0f}%{escalated}"


def event_thumbnail(event: Event, frame_image: np.ndarray | None, monitor=None) -> np.ndarray | None:
    """The face of a violation event: the monitor's thumbnail (its best view of the person), else the
    event's crop file, else cut from the frame the event happened in."""
    thumb = monitor.thumbnail(event) if monitor is not None and hasattr(monitor, "thumbnail") else None
    if thumb is not None and thumb.size:
        return thumb
    if event.crop and Path(event.crop).is_file():
        thumb = read_image(event.crop)
        if thumb is not None:
            return thumb
    if frame_image is not None:
        h, w = frame_image.shape[:2]
        x1, y1, x2, y2 = event.box
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if x2 > x1 and y2 > y1:
            return frame_image[y1:y2, x1:x2].copy()
    return None


def table_rows(cameras: Mapping[str, Mapping]) -> list[tuple[str, ...]]:
    """The camera table: (camera, state, fps, people, violations) per camera and a last row for the site, whose
    state is its cameras live of all ("11/12").
    ``cameras``: name -> {"state", "fps", "people", "violations"} (people/violations None: not tracked)."""
    rows, people, violations, fps = [], 0, 0, 0.0
    for name, c in cameras.items():
        rows.append((name, c["state"], f"{c['fps']:.1f}", str(c["people"] or 0), str(c["violations"] or 0)))
        people += c["people"] or 0
        violations += c["violations"] or 0
        fps += c["fps"]
    live = sum(c["state"] == "live" for c in cameras.values())
    # "11/12": cameras live of all (short: "11/12 live" set the state column's width and left the names no room)
    rows.append(("site", f"{live}/{len(cameras)}", f"{fps:.1f}", str(people), str(violations)))
    return rows


def zone_overlay(image: np.ndarray, zones: Iterable[Zone], drawing: list[tuple[float, float]] | None) -> np.ndarray:
    """``image`` with the camera's zones and the polygon being drawn (its points as dots); a copy when changed."""
    zones = list(zones)
    if drawing is not None and len(drawing) >= 3:
        try:
            zones.append(Zone("new zone", "entrance", tuple(drawing)))
        except ValueError:  # e.g. a polygon that crosses itself: only its points are shown
            pass
    if zones:
        image = draw_zones(image, zones)
    if drawing:
        import cv2

        image = image.copy()
        h, w = image.shape[:2]
        for x, y in drawing:
            cv2.circle(image, (round(x * (w - 1)), round(y * (h - 1))), max(3, h // 150), (0, 255, 255), -1)
    return image


def snapshot_folder(root: Path, camera: str, cameras: int) -> Path:
    """Where key S saves a camera's picture: the snapshot folder itself for one camera, a subfolder per
    camera for several (as the cameras' event snapshots)."""
    return root if cameras == 1 else root / safe_name(camera)
