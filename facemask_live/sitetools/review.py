"""Review of violation events: marks written next to the event log, and false alarms turned into training data.

Marks go to ``<event log>.review.jsonl`` (e.g. ``events.jsonl.review.jsonl``), one JSON line per mark, the
newest mark of an event wins::

    {"event": "door-1|1718000000.123|7|1234", "mark": "false_alarm", "label": "mask",
     "marked_at": 1718000100.5, "iso_marked_at": "2024-06-10T08:15:00.500", "event_label": "no_mask",
     "crop": "/home/me/Pictures/facemask-live/violation_t7_..._crop.png", "snapshot": "..."}

``mark`` is ``false_alarm`` or ``confirmed``; ``label`` is the person's true label (for a false alarm on the
shipped 2-class model: ``mask``). ``python -m facemask_live.sitetools.review export events.jsonl --out extra_faces/``
copies the face crop of every false alarm into the class folder of its true label (``with_mask/``,
``without_mask/``, ``incorrect_mask/``), the layout ``train_mobilenet.py --data`` reads.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from facemask_live.core.config import DEFAULT_CAMERA
from facemask_live.core.errors import OutputError, SourceError, exit_code_of

MARKS = ("false_alarm", "confirmed")
FOLDERS = {"mask": "with_mask", "no_mask": "without_mask", "incorrect_mask": "incorrect_mask"}
SUFFIX = ".review.jsonl"
PRUNED = "pruned"


def _site_camera(rec: dict) -> str | None:
    """The name of a site's camera a record is of; None for the one camera of a plain ``--source`` (named
    ``camera``) and for logs written before records named their camera."""
    name = rec.get("camera")
    return str(name) if name and name != DEFAULT_CAMERA else None


def camera_of(rec: dict) -> str:
    """The camera a people record or an event is of, as a report names it: a site's camera by its name
    (``front-door``), a plain source by its source."""
    return _site_camera(rec) or str(rec.get("source", ""))


def event_key(rec: dict) -> str:
    """One event's identity across the event log, the people log and the marks."""
    key = f"{rec.get('source', '')}|{float(rec.get('time') or 0):.3f}|{rec.get('track_id')}|{rec.get('frame')}"
    # two cameras of a site may show one source: their people's events in the same millisecond are two events
    # (a plain source's key is as it always was, so its marks still match)
    name = _site_camera(rec)
    return f"{key}|{name}" if name else key


def marks_path(event_log: str | Path) -> Path:
    p = Path(event_log)
    return p.with_name(p.name + SUFFIX)


def default_true_label(event_label: str) -> str:
    """What a false alarm on a violation most likely was: a masked face."""
    return "mask" if event_label != "mask" else "no_mask"


@dataclass(frozen=True)
class Mark:
    event: str
    mark: str
    label: str | None
    marked_at: float
    event_label: str | None = None
    crop: str | None = None
    snapshot: str | None = None


def read_event_log(path: str | Path) -> list[dict]:
    """Violation events of an --events log (.jsonl or .csv) or a people log; bad lines are skipped."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise SourceError(f"cannot read event log {path}: {exc.strerror or exc}") from None
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        for r in rows:
            for k in ("time", "confidence"):
                try:
                    r[k] = float(r[k])
                except (TypeError, ValueError, KeyError):
                    pass
        return [r for r in rows if r.get("track_id")]
    return [rec for rec in json_lines(text, path) if rec.get("type", "event") == "event" and "track_id" in rec]


def json_lines(text: str, path: Path) -> list[dict]:
    """The JSON objects of a JSON-lines text; bad lines are skipped, a torn last line with a one-line note."""
    out = []
    for line in text.splitlines(keepends=True):
        try:
            rec = json.loads(line)
        except ValueError:
            if line.strip() and not line.endswith("\n"):  # only the last line can lack its newline
                print(f"note: skipped the torn last line of {path} (the app was stopped while writing it)", file=sys.stderr)
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def add_mark(event_log: str | Path, event: dict, mark: str, label: str | None = None, now: float | None = None) -> Mark:
    """Append a mark for ``event`` (a record of the event log) next to ``event_log``."""
    if mark not in MARKS:
        raise ValueError(f"mark must be one of {', '.join(MARKS)}, got {mark!r}")
    now = time.time() if now is None else now
    if mark == "false_alarm" and not label:
        label = default_true_label(str(event.get("label", "")))
    m = Mark(event_key(event), mark, label or None, now, event.get("label"), event.get("crop"), event.get("snapshot"))
    rec = {
        "event": m.event,
        "mark": m.mark,
        "label": m.label,
        "marked_at": round(now, 3),
        "iso_marked_at": datetime.fromtimestamp(now).isoformat(timespec="milliseconds"),
        "event_label": m.event_label,
        "crop": m.crop,
        "snapshot": m.snapshot,
    }
    from facemask_live.outputs.sinks import drop_torn_tail

    path = marks_path(event_log)
    try:
        drop_torn_tail(path, "review marks")  # a mark torn by a killed window must not swallow this one
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write review marks {path}: {exc.strerror or exc}") from None
    return m


def read_marks(event_log: str | Path) -> dict[str, Mark]:
    """The newest mark of each event (empty when nothing was reviewed yet)."""
    out: dict[str, Mark] = {}
    try:
        text = marks_path(event_log).read_text(encoding="utf-8")
    except OSError:
        return out
    for r in json_lines(text, marks_path(event_log)):
        try:
            m = Mark(r["event"], r["mark"], r.get("label"), float(r["marked_at"]), r.get("event_label"), r.get("crop"), r.get("snapshot"))
        except (ValueError, KeyError, TypeError):
            continue
        if m.mark in MARKS and (m.event not in out or m.marked_at >= out[m.event].marked_at):
            out[m.event] = m
    return out


@dataclass
class ExportResult:
    copied: dict[str, int]  # class folder -> crops
    missing: int  # false alarms whose crop was pruned or deleted


def export_false_alarms(event_log: str | Path, out: str | Path, include_confirmed: bool = False) -> ExportResult:
    """Copy the crop of each false alarm (and, optionally, each confirmed event) into ``out/<class folder>/``."""
    out = Path(out)
    marks = read_marks(event_log)
    res = ExportResult({}, 0)
    for m in marks.values():
        if m.mark == "confirmed" and not include_confirmed:
            continue
        label = m.label if m.mark == "false_alarm" else (m.label or m.event_label)
        if not label:
            continue
        crop = Path(m.crop) if m.crop and m.crop.strip() != PRUNED else None
        if crop is None or not crop.is_file():
            res.missing += 1
            continue
        folder = out / FOLDERS.get(label, label)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy2(crop, folder / f"review_{crop.name}")
        except OSError as exc:
            raise OutputError(f"cannot write training crops to {folder}: {exc.strerror or exc}") from None
        res.copied[folder.name] = res.copied.get(folder.name, 0) + 1
    return res


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m facemask_live.sitetools.review",
        description="Turn reviewed violation events into training data for train_mobilenet.py.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="copy the face crops of false alarms into one folder per true class")
    e.add_argument("events", help="the --events log (or people log) the marks were made on")
    e.add_argument("--out", required=True, metavar="DIR", help="training folder to add to (with_mask/, without_mask/, ...)")
    e.add_argument("--include-confirmed", action="store_true", help="also copy confirmed events, under their own label")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def action() -> int:
        if not Path(args.events).is_file():
            raise SourceError(f"event log {args.events} not found")
        if not marks_path(args.events).is_file():
            raise SourceError(f"no review marks for {args.events} (expected {marks_path(args.events)}; mark events in the window first)")
        logged = read_event_log(args.events)
        res = export_false_alarms(args.events, args.out, args.include_confirmed)
        parts = ", ".join(f"{n} to {k}/" for k, n in sorted(res.copied.items())) or "nothing"
        print(f"{len(logged)} events logged; copied {parts} in {args.out}"
              + (f"; {res.missing} crops were pruned or deleted" if res.missing else ""))
        print(f"retrain with: python train_mobilenet.py --data {args.out} (merge it with your training folder first)")
        return 0

    return exit_code_of(action)


if __name__ == "__main__":
    sys.exit(main())
