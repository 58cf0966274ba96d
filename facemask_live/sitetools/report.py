"""Shift report: ``python -m facemask_live report LOG [LOG ...] --out report/``.

Long because the HTML, CSV and plots are drawn from one parsed log.

Reads people logs (``--people-log``) and event logs (``--events``, .jsonl or .csv) and writes into ``--out``:

* ``index.html``: one self-contained page (no script, no CDN; images are files inside the folder), with the
  period covered, totals, per-camera and per-hour tables, the plots and a gallery of violation snapshots;
* ``totals.csv``, ``cameras.csv``, ``hourly.csv`` (hour x camera), ``events.csv``;
* ``plots/people_per_hour.png``, ``plots/compliance.png``, ``plots/cameras.png``;
* ``gallery/``: small JPEG copies of each event's snapshot and face crop.

Counts: people, masked and not judged come from the people records (differences between a run's cumulative
counts, so each person counts once, in the hour of the record that first counted them); violations are the
violation events (the same event found in several logs counts once). Compliance = masked / people judged
(people with a decided label). Event logs alone give violations only; the page says so.
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import logging
import os
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import cv2

from facemask_live.core.errors import FacemaskError, OutputError, SourceError, exit_code_of
from facemask_live.sitetools.review import PRUNED, camera_of, event_key, marks_path, read_marks

log = logging.getLogger(__name__)

COUNTS = ("people_seen", "masked", "violations", "not_judged")
TITLES = {"people_seen": "people seen", "masked": "masked", "violations": "violations", "not_judged": "not judged"}
GALLERY_SIDE = 480  # px, longest side of the gallery copies
CROP_SIDE = 160


class ReportError(FacemaskError):
    """A report that cannot be made from the given logs."""


# -- reading ---------------------------------------------------------------------------------------
@dataclass
class LogData:
    people: list[dict] = field(default_factory=list)
    events: dict[str, dict] = field(default_factory=dict)  # event key -> record (first seen)
    marks: dict = field(default_factory=dict)  # event key -> review Mark
    skipped: dict[str, int] = field(default_factory=dict)  # log -> unreadable lines
    torn: list[str] = field(default_factory=list)  # logs whose last line was cut off (skipped)
    logs: list[Path] = field(default_factory=list)


def _as_float(v) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _add(data: LogData, rec: dict, log_path: Path) -> bool:
    """File one record; False if it is not a record of ours."""
    kind = rec.get("type", "event" if "track_id" in rec else None)
    t = _as_float(rec.get("time"))
    if t is None:
        return False
    rec["time"] = t
    if kind == "people":
        if not all(isinstance(rec.get(k), int) for k in ("people_seen", "masked", "violations", "not_judged")):
            return False
        data.people.append(rec)
        return True
    if kind == "event" and str(rec.get("escalated")).lower() == "true":
        return True  # the same violation again (still there after escalate_after): counted once, as its event
    if kind == "event" and rec.get("track_id") not in (None, ""):
        for k in ("snapshot", "crop"):
            p = (rec.get(k) or "").strip()
            if p and p != PRUNED and not os.path.isabs(p) and not Path(p).exists():
                p = str(log_path.parent / p)  # a relative path written from another working folder
            rec[k] = p or None
        data.events.setdefault(event_key(rec), rec)
        return True
    return kind is not None  # other record types (future) are skipped silently


def read_logs(paths: list[str | Path], progress: bool = True) -> LogData:
    """Every record of every log; a corrupt line is skipped and counted (never fatal)."""
    from tqdm import tqdm

    data = LogData()
    files = []
    for p in map(Path, paths):
        if not p.is_file():
            raise SourceError(f"log {p} not found" if not p.exists() else f"log {p} is not a file")
        files.append(p)
    total = sum(p.stat().st_size for p in files)
    with tqdm(total=total, unit="B", unit_scale=True, desc="reading logs", disable=not progress, file=sys.stderr) as bar:
        for p in files:
            data.logs.append(p)
            try:
                fh = open(p, encoding="utf-8", errors="replace", newline="")  # noqa: SIM115 (closed by the with below)
            except OSError as exc:
                raise SourceError(f"cannot read log {p}: {exc.strerror or exc}") from None
            with fh:
                bad = 0
                if p.suffix.lower() == ".csv":
                    for row in csv.DictReader(fh):
                        row = {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k}
                        bad += not _add(data, row, p)
                    bar.update(p.stat().st_size)
                else:
                    for line in fh:
                        bar.update(len(line.encode("utf-8", "replace")))
                        if not line.strip():
                            continue
                        try:
                            rec = json.loads(line)
                        except ValueError:
                            if line.endswith("\n"):
                                bad += 1
                            else:  # only the last line can lack its newline: a run killed while writing it
                                data.torn.append(str(p))
                            continue
                        bad += not (isinstance(rec, dict) and _add(data, rec, p))
            if bad:
                data.skipped[str(p)] = bad
            if marks_path(p).is_file():
                data.marks.update(read_marks(p))
    return data


# -- counting --------------------------------------------------------------------------------------
def hour_of(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:00")


@dataclass
class Tables:
    hourly: dict[tuple[str, str], dict[str, int]]  # (hour, camera) -> counts (+ "judged")
    cameras: dict[str, dict[str, int]]
    totals: dict[str, int]
    first: float | None
    last: float | None
    has_people: bool


def _zero() -> dict[str, int]:
    return {k: 0 for k in (*COUNTS, "judged")}


def count(data: LogData) -> Tables:
    hourly: dict[tuple[str, str], dict[str, int]] = defaultdict(_zero)
    runs: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for rec in data.people:
        runs[(str(rec.get("run", "")), camera_of(rec))].append(rec)
    for (_run, cam), recs in runs.items():
        recs.sort(key=lambda r: (r["time"], r["people_seen"]))
        prev = {k: 0 for k in COUNTS if k != "violations"}
        prev_judged = 0
        for r in recs:
            cell = hourly[(hour_of(r["time"]), cam)]
            for k in prev:
                cell[k] += r[k] - prev[k]
                prev[k] = r[k]
            judged = sum(v for v in (r.get("by_label") or {}).values() if isinstance(v, int))
            cell["judged"] += judged - prev_judged
            prev_judged = judged
    for ev in data.events.values():
        hourly[(hour_of(ev["time"]), camera_of(ev))]["violations"] += 1
    cameras: dict[str, dict[str, int]] = defaultdict(_zero)
    for (_hour, cam), cell in hourly.items():
        for k, v in cell.items():
            cameras[cam][k] += v
    totals = _zero()
    for cell in cameras.values():
        for k, v in cell.items():
            totals[k] += v
    times = [r["time"] for r in data.people] + [e["time"] for e in data.events.values()]
    return Tables(
        dict(sorted(hourly.items())), dict(sorted(cameras.items())), totals,
        min(times) if times else None, max(times) if times else None, bool(data.people),
    )


def compliance(cell: dict[str, int]) -> float | None:
    return cell["masked"] / cell["judged"] if cell.get("judged") else None


# -- writing ---------------------------------------------------------------------------------------
def _pct(v: float | None) -> str:
    return "" if v is None else f"{100 * v:.1f}"


def write_csvs(out: Path, t: Tables, data: LogData, gallery: dict[str, tuple[str | None, str | None]]) -> None:
    cols = [*COUNTS, "judged"]
    with open(out / "totals.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["first", "last", *cols, "compliance_pct"])
        w.writerow([_iso(t.first), _iso(t.last), *(t.totals[k] for k in cols), _pct(compliance(t.totals))])
    with open(out / "cameras.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["camera", *cols, "compliance_pct"])
        for cam, c in t.cameras.items():
            w.writerow([cam, *(c[k] for k in cols), _pct(compliance(c))])
    with open(out / "hourly.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["hour", "camera", *cols, "compliance_pct"])
        for (hour, cam), c in t.hourly.items():
            w.writerow([hour, cam, *(c[k] for k in cols), _pct(compliance(c))])
    with open(out / "events.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "camera", "track_id", "label", "confidence", "frame", "review", "true_label", "snapshot", "crop"])
        for key, ev in sorted(data.events.items(), key=lambda kv: kv[1]["time"]):
            m = data.marks.get(key)
            snap, crop = gallery.get(key, (None, None))
            w.writerow([_iso(ev["time"]), camera_of(ev), ev.get("track_id"), ev.get("label"), ev.get("confidence"),
                        ev.get("frame"), m.mark if m else "", (m.label or "") if m else "", snap or ev.get("snapshot") or "",
                        crop or ev.get("crop") or ""])


def _iso(t: float | None) -> str:
    return "" if t is None else datetime.fromtimestamp(t).isoformat(timespec="seconds")


def _thumb(src: str | None, dst: Path, side: int) -> str | None:
    """A small JPEG copy of ``src`` at ``dst``; its name relative to the report, or None (pruned, missing, unreadable)."""
    if not src or src == PRUNED or not Path(src).is_file():
        return None
    img = cv2.imread(src, cv2.IMREAD_COLOR)
    if img is None:
        return None
    h, w = img.shape[:2]
    s = min(1.0, side / max(h, w))
    if s < 1.0:
        img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    if not cv2.imwrite(str(dst), img, [cv2.IMWRITE_JPEG_QUALITY, 85]):
        raise OutputError(f"cannot write {dst}")
    return f"{dst.parent.name}/{dst.name}"


def write_gallery(out: Path, data: LogData, progress: bool) -> dict[str, tuple[str | None, str | None]]:
    from tqdm import tqdm

    folder = out / "gallery"
    folder.mkdir(exist_ok=True)
    os.chmod(folder, 0o700)  # faces of violators: private like the snapshot folder
    res = {}
    events = sorted(data.events.items(), key=lambda kv: kv[1]["time"])
    for i, (key, ev) in enumerate(tqdm(events, desc="gallery", unit="event", disable=not progress, file=sys.stderr)):
        res[key] = (_thumb(ev.get("snapshot"), folder / f"event{i:05d}.jpg", GALLERY_SIDE),
                    _thumb(ev.get("crop"), folder / f"event{i:05d}_crop.jpg", CROP_SIDE))
    return res


def write_plots(out: Path, t: Tables) -> list[tuple[str, str]]:
    """The PNG plots; returns (file relative to the report, caption)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ReportError("the report needs matplotlib: pip install 'facemask-live[report]'") from None
    folder = out / "plots"
    folder.mkdir(exist_ok=True)
    hours = sorted({h for h, _ in t.hourly})
    per_hour = {h: _zero() for h in hours}
    for (h, _cam), c in t.hourly.items():
        for k, v in c.items():
            per_hour[h][k] += v
    labels = [h[5:] for h in hours]  # "MM-DD HH:00"
    x = range(len(hours))
    plots = []

    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=100)
    width = 0.2
    colors = {"people_seen": "#4a6fa5", "masked": "#2e9e44", "violations": "#d62828", "not_judged": "#999999"}
    for i, k in enumerate(COUNTS):
        ax.bar([xi + (i - 1.5) * width for xi in x], [per_hour[h][k] for h in hours], width, label=TITLES[k], color=colors[k])
    ax.set_xticks(list(x), labels, rotation=45 if len(hours) > 8 else 0, ha="right" if len(hours) > 8 else "center")
    ax.set_ylabel("people / events")
    ax.set_title("per hour, all cameras")
    ax.legend(ncol=4, fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "people_per_hour.png")
    plt.close(fig)
    plots.append(("plots/people_per_hour.png", "People seen, masked, violations and not judged per hour"))

    fig, ax = plt.subplots(figsize=(9, 3.2), dpi=100)
    rates = [compliance(per_hour[h]) for h in hours]
    ax.plot([xi for xi, r in zip(x, rates) if r is not None], [100 * r for r in rates if r is not None], "o-", color="#2e9e44")
    ax.set_ylim(0, 105)
    ax.set_xlim(-0.5, max(len(hours) - 0.5, 0.5))
    ax.set_xticks(list(x), labels, rotation=45 if len(hours) > 8 else 0, ha="right" if len(hours) > 8 else "center")
    ax.set_ylabel("masked / judged (%)")
    ax.set_title("compliance rate per hour")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(folder / "compliance.png")
    plt.close(fig)
    plots.append(("plots/compliance.png", "Compliance rate over time (masked people / people judged)"))

    cams = list(t.cameras)
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.5 * max(len(cams), 1)), dpi=100)
    ys = range(len(cams))
    for i, k in enumerate(COUNTS):
        ax.barh([y + (i - 1.5) * width for y in ys], [t.cameras[c][k] for c in cams], width, label=TITLES[k], color=colors[k])
    ax.set_yticks(list(ys), [_short(c) for c in cams])
    ax.invert_yaxis()
    ax.set_title("per camera")
    ax.legend(ncol=4, fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(folder / "cameras.png")
    plt.close(fig)
    plots.append(("plots/cameras.png", "Per camera"))
    return plots


def _short(name: str, limit: int = 40) -> str:
    if "://" not in name and "/" in name:
        name = Path(name).name
    return name if len(name) <= limit else name[: limit - 1] + "…"


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{margin-bottom:4px} .period{color:#555;margin-top:0}
table{border-collapse:collapse;margin:8px 0 20px} th,td{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#f0f0f0} td.l,th.l{text-align:left}
.totals td{font-size:1.3em;font-weight:bold} .viol{color:#c01818} .note{color:#8a5a00}
figure{margin:10px 0} figure img{max-width:100%;border:1px solid #ddd}
.gallery{display:flex;flex-wrap:wrap;gap:12px} .card{border:1px solid #ccc;padding:6px;width:300px;font-size:.85em}
.card img.snap{width:100%} .card img.crop{height:80px;float:right;margin-left:6px}
.pruned{height:80px;background:#eee;color:#777;display:flex;align-items:center;justify-content:center}
"""


def _cell_row(name: str, c: dict[str, int]) -> str:
    vals = "".join(f"<td{' class=viol' if k == 'violations' else ''}>{c[k]}</td>" for k in COUNTS)
    return f"<tr><td class=l>{html.escape(name)}</td>{vals}<td>{_pct(compliance(c)) or '–'}</td></tr>"


def render_html(t: Tables, data: LogData, plots, gallery) -> str:
    e = html.escape
    head = "".join(f"<th>{TITLES[k]}</th>" for k in COUNTS) + "<th>compliance %</th>"
    notes = []
    if not t.has_people:
        notes.append("These logs hold violation events only: run the app with <code>--people-log FILE</code> to count people.")
    for p, n in data.skipped.items():
        notes.append(f"{n} unreadable lines skipped in {e(p)}.")
    period = f"{_iso(t.first).replace('T', ' ')} – {_iso(t.last).replace('T', ' ')}" if t.first is not None else "no records"
    marks = data.marks
    false_alarms = sum(1 for k in data.events if k in marks and marks[k].mark == "false_alarm")
    confirmed = sum(1 for k in data.events if k in marks and marks[k].mark == "confirmed")
    parts = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width, initial-scale=1'>",
        f"<title>facemask-live report {e(period)}</title><style>{CSS}</style></head><body>",
        "<h1>Face-mask report</h1>",
        f"<p class=period id=period>Period covered: <b>{e(period)}</b> · logs: {e(', '.join(p.name for p in data.logs))}</p>",
        *(f"<p class=note>{n}</p>" for n in notes),
        f"<h2>Totals</h2><table class=totals id=totals><tr><th class=l></th>{head}</tr>{_cell_row('all cameras', t.totals)}</table>",
        f"<p>Violations reviewed: {confirmed} confirmed, {false_alarms} false alarms, {len(data.events) - confirmed - false_alarms} not reviewed.</p>",
        f"<h2>Per camera</h2><table id=cameras><tr><th class=l>camera</th>{head}</tr>",
        *(_cell_row(cam, c) for cam, c in t.cameras.items()),
        "</table>",
        "<h2>Plots</h2>",
        *(f"<figure><img src='{p}' alt='{e(c)}'><figcaption>{e(c)}</figcaption></figure>" for p, c in plots),
        f"<h2>Per hour</h2><table id=hourly><tr><th class=l>hour</th><th class=l>camera</th>{head}</tr>",
    ]
    for (h, cam), c in t.hourly.items():
        vals = "".join(f"<td{' class=viol' if k == 'violations' else ''}>{c[k]}</td>" for k in COUNTS)
        parts.append(f"<tr><td class=l>{e(h)}</td><td class=l>{e(_short(cam))}</td>{vals}<td>{_pct(compliance(c)) or '–'}</td></tr>")
    parts.append("</table>")
    parts.append(f"<h2>Violations ({len(data.events)})</h2><div class=gallery id=gallery>")
    for key, ev in sorted(data.events.items(), key=lambda kv: kv[1]["time"]):
        snap, crop = gallery.get(key, (None, None))
        m = marks.get(key)
        review = f"<br><b>{'false alarm' if m.mark == 'false_alarm' else 'confirmed'}</b>" + (f" (really {e(m.label)})" if m and m.mark == "false_alarm" and m.label else "") if m else ""
        pic = f"<img class=snap src='{snap}' alt='snapshot'>" if snap else "<div class=pruned>snapshot pruned or missing</div>"
        crop_img = f"<img class=crop src='{crop}' alt='face'>" if crop else ""
        conf = _as_float(ev.get("confidence"))
        parts.append(
            f"<div class=card>{pic}{crop_img}{e(_iso(ev['time']).replace('T', ' '))}<br>{e(_short(camera_of(ev)))} · person #{e(str(ev.get('track_id')))}"
            f"<br><span class=viol>{e(str(ev.get('label')))}</span>{f' {conf * 100:.0f}%' if conf is not None else ''}{review}</div>"
        )
    parts.append("</div><p style='color:#777;font-size:.8em'>made by facemask-live · CSV: "
                 "<a href=totals.csv>totals</a>, <a href=cameras.csv>cameras</a>, <a href=hourly.csv>hourly</a>, <a href=events.csv>events</a></p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def make_report(logs: list[str | Path], out: str | Path, progress: bool = True) -> tuple[Path, Tables, LogData]:
    """Read ``logs`` and write the report into ``out``; returns (index.html, the tables, the data)."""
    if not logs:
        raise ReportError("no logs given")
    data = read_logs(logs, progress)
    for p, n in data.skipped.items():
        print(f"warning: skipped {n} unreadable lines in {p}", file=sys.stderr)
    for p in data.torn:
        print(f"note: skipped the torn last line of {p} (the app was stopped while writing it)", file=sys.stderr)
    out = Path(out).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"cannot write the report to {out}: {exc.strerror or exc} (choose another --out)") from None
    tables = count(data)
    try:
        plots = write_plots(out, tables)
        gallery = write_gallery(out, data, progress)
        write_csvs(out, tables, data, gallery)
        index = out / "index.html"
        index.write_text(render_html(tables, data, plots, gallery), encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    return index, tables, data


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m facemask_live report",
        description="Shift report from people logs (--people-log) and event logs (--events): HTML page, CSV files and plots.",
    )
    p.add_argument("logs", nargs="+", metavar="LOG", help="people logs and/or event logs (.jsonl or .csv)")
    p.add_argument("--out", "-o", default="report", metavar="DIR", help="folder for index.html, the CSV files, plots/ and gallery/ (default: report/)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def action() -> int:
        index, t, data = make_report(args.logs, args.out, args.progress)
        c = t.totals
        rate = compliance(c)
        print(f"people seen {c['people_seen']}, masked {c['masked']}, violations {c['violations']}, not judged {c['not_judged']}"
              + (f", compliance {100 * rate:.1f} %" if rate is not None else ""))
        print(f"report: {index}")
        return 0

    return exit_code_of(action)


if __name__ == "__main__":
    sys.exit(main())
