"""Score the violation event stream on video clips against what an operator expects (``truth.json``).

    python -m facemask_live.evaluate --truth truth.json --clips DIR [--json out.json]

``truth.json`` maps clip file names to ``{"violation_events": [min, max], "note": ...}`` (keys starting with
``_`` are comments). Each clip is run exactly as ``python -m facemask_live --headless --source CLIP`` runs it
(the app's default settings, every frame, the same engine: :class:`~facemask_live.engine.api.Monitor`), and per clip we
report the events against the expected range, the time of the first event and its delay (from the frame from
which that person's judged faces showed a violation label without a break; late when over ``late_after`` seconds,
or when a clip that expects events has none), and the people seen / counted masked / not judged.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from facemask_live.core.config import Settings
from facemask_live.core.errors import OutputError, SourceError
from facemask_live.outputs.sinks import write_json

LATE_AFTER = 1.0  # seconds from a person's first judged violation frame to their event


@dataclass(frozen=True, slots=True)
class ClipTruth:
    """What an operator expects from one clip."""

    clip: str
    min_events: int
    max_events: int
    note: str = ""


@dataclass(slots=True)
class ClipResult:
    """What the app did on one clip."""

    clip: str
    expected: tuple[int, int]
    events: int
    event_times: list[float]  # frame time (s) of each event
    event_tracks: list[int]  # person id of each event
    event_delays: list[float]  # seconds from the start of the person's unbroken judged violation to each event
    frames: int
    people: int
    masked: int
    violators: int  # people counted under a violation label
    not_judged: int  # people never judged (no usable face seen)
    inside: bool = False
    late: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def first_event(self) -> float | None:
        return self.event_times[0] if self.event_times else None


def load_truth(path: str | Path) -> list[ClipTruth]:
    """The clips of a truth file, in file order; SourceError for an unreadable or malformed file."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SourceError(f"truth file {p} is not a readable JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise SourceError(f"truth file {p}: expected an object mapping clip names to expectations")
    out = []
    for name, exp in data.items():
        if name.startswith("_"):
            continue
        rng = exp.get("violation_events") if isinstance(exp, dict) else None
        ok = isinstance(rng, list) and len(rng) == 2 and all(isinstance(v, int) and v >= 0 for v in rng)
        if not ok or rng[0] > rng[1]:
            raise SourceError(f"truth file {p}: {name!r} needs \"violation_events\": [min, max] (whole numbers, min <= max)")
        out.append(ClipTruth(name, rng[0], rng[1], str(exp.get("note", ""))))
    if not out:
        raise SourceError(f"truth file {p} names no clip")
    return out


def clip_settings(clip: Path, settings: Settings | None = None) -> Settings:
    """``settings`` (default: the app's defaults) with ``clip`` as the source, headless, every frame, no
    snapshots and no progress bar: ``python -m facemask_live --headless --source CLIP`` as the app runs it."""
    from facemask_live.app.options import override

    return override(
        settings or Settings(),
        source={"source": str(clip), "demo": False, "realtime": False, "loop": False},
        gui={"headless": True},
        output={"progress": False},
        events={"auto_snapshots": False},
    )


def run_clip(clip: Path, truth: ClipTruth, settings: Settings | None = None, late_after: float = LATE_AFTER) -> ClipResult:
    """Run one clip through the app's pipeline and runner (built by app.py); the events and counts it produced."""
    from facemask_live.engine.api import Monitor

    settings = clip_settings(clip, settings)
    times: list[float] = []
    tracks: list[int] = []
    delays: list[float] = []
    # person id -> frame time from which their judged faces have shown a violation without a break: a stray
    # misread followed by compliant frames (a mask held in front of the face) is not the start of a violation
    first_seen: dict[int, float] = {}
    is_violation = None

    def on_result(_camera, result, _annotated) -> None:
        t = result.frame.timestamp
        for face in result.faces:
            judged = face.quality is None or face.quality.judged
            if face.track_id is None or not judged or not face.label:
                continue
            if is_violation(face.label):
                first_seen.setdefault(face.track_id, t)
            else:
                first_seen.pop(face.track_id, None)
        for ev in result.events:
            times.append(round(t, 3))
            tracks.append(ev.track_id)
            delays.append(round(t - first_seen.get(ev.track_id, t), 3))

    with Monitor(settings=settings, on_result=on_result) as monitor:
        is_violation = monitor.site.classifier.is_violation
        monitor.wait()
    camera = next(iter(monitor.site.cameras.values()))
    if camera.exception is not None:
        raise camera.exception
    stats = monitor.stats().cameras[camera.name]
    violation_labels = monitor.site.classifier.violation_labels
    by_label = stats.people_by_label
    res = ClipResult(
        clip=truth.clip,
        expected=(truth.min_events, truth.max_events),
        events=len(times),
        event_times=times,
        event_tracks=tracks,
        event_delays=delays,
        frames=stats.frames_processed,
        people=stats.people or 0,
        masked=by_label.get("mask", 0),
        violators=sum(v for k, v in by_label.items() if k in violation_labels),
        not_judged=stats.not_judged or 0,
    )
    res.inside = truth.min_events <= res.events <= truth.max_events
    res.late = (truth.min_events > 0 and not times) or any(d > late_after for d in delays)
    return res


def format_results(results: Sequence[ClipResult], late_after: float = LATE_AFTER) -> str:
    heads = ("clip", "events", "expected", "ok", f"first event (delay; late > {late_after:g} s)", "people", "masked", "violators", "not judged")
    rows = []
    for r in results:
        first = "-" if r.first_event is None else f"{r.first_event:.2f} s ({max(r.event_delays):.2f} s)"
        if r.late:
            first += " LATE"
        rows.append((
            r.clip, str(r.events), f"{r.expected[0]}-{r.expected[1]}", "in" if r.inside else "OUT", first,
            str(r.people), str(r.masked), str(r.violators), str(r.not_judged),
        ))
    w = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(heads)]
    lines = ["  ".join(h.ljust(w[i]) for i, h in enumerate(heads))]
    lines += ["  ".join(c.ljust(w[i]) for i, c in enumerate(row)) for row in rows]
    inside = sum(r.inside for r in results)
    late = sum(r.late for r in results)
    lines.append(f"{inside}/{len(results)} clips inside their range, {late} late")
    return "\n".join(lines)


def evaluate_truth(truth_path: str | Path, clips_dir: str | Path, json_path: str | None = None, out=None,
                   settings: Settings | None = None, late_after: float = LATE_AFTER) -> list[ClipResult]:
    """Run every clip of ``truth_path`` found in ``clips_dir`` with ``settings`` (default: the app's defaults;
    each clip becomes the source); print the table, optionally write JSON."""
    out = out or sys.stdout
    clips_dir = Path(clips_dir)
    if not clips_dir.is_dir():
        raise SourceError(f"clips folder not found: {clips_dir} (pass --clips DIR)")
    truths = load_truth(truth_path)
    missing = [t.clip for t in truths if not (clips_dir / t.clip).is_file()]
    if missing:
        raise SourceError(f"clip(s) named in {truth_path} not found in {clips_dir}: {', '.join(missing)}")
    if json_path:
        parent = Path(json_path).expanduser().resolve().parent
        if not parent.is_dir():
            raise OutputError(f"cannot write {json_path}: folder {parent} does not exist")
    results = [run_clip(clips_dir / t.clip, t, settings, late_after) for t in truths]
    print(format_results(results, late_after), file=out)
    if json_path:
        data = {"truth": str(truth_path), "late_after": late_after,
                "clips": [asdict(r) | {"first_event": r.first_event} for r in results]}
        write_json(json_path, data, "figures file")
    return results
