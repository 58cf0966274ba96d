"""Soak test: a long headless run of a looping clip, reporting memory (RSS) and checking the event log.

Runs the same engine as ``python -m facemask_live --headless --loop`` (``facemask_live.Monitor``, a site of one
camera) in this process and samples the resident set size (VmRSS from /proc/self/status) at the start,
every ``--every`` frames and at the end. Without ``--source`` it makes a small clip (a face from
shared/media, present for a few seconds of every loop so that people come and go, when shared/ is
there; else a moving pattern).

    python tools/soak.py --frames 50000 --every 1000            # an all-day shift in fast-forward
    python tools/soak.py --frames 3000 --json                     # what the CI test runs

Exit code 0 when RSS grew by less than ``--max-growth-mb`` after warm-up and every event-log line parses.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux /proc)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


@dataclass
class SoakReport:
    frames: int = 0
    seconds: float = 0.0
    rss_start_mb: float = 0.0
    rss_warm_mb: float = 0.0  # after warm-up
    rss_end_mb: float = 0.0
    rss_max_mb: float = 0.0
    growth_after_warmup_mb: float = 0.0
    samples: list[tuple[int, float]] = field(default_factory=list)  # (frame, RSS MiB)
    events: int = 0
    event_lines_bad: int = 0
    detections: int = 0
    people: int = 0
    status: str = ""
    ok: bool = False


def make_clip(path: Path, seconds: float = 4.0, fps: float = 10.0, size: tuple[int, int] = (320, 240)) -> Path:
    """A short clip: a real face for the first half (when shared/ has one), an empty scene for the rest."""
    import cv2
    import numpy as np

    face = None
    video = SHARED / "media" / "videos" / "street_nomask.mp4"
    if video.is_file():
        cap = cv2.VideoCapture(str(video))
        cap.set(cv2.CAP_PROP_POS_FRAMES, 40)
        ok, img = cap.read()
        cap.release()
        face = cv2.resize(img, size, interpolation=cv2.INTER_AREA) if ok else None
    n = int(seconds * fps)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(n):
        if face is not None and i < n // 2:
            frame = face.copy()
        else:
            frame = np.full((size[1], size[0], 3), 60 + (i * 5) % 120, np.uint8)
            cv2.circle(frame, ((i * 13) % size[0], size[1] // 2), 20, (0, 200, 255), -1)
        writer.write(frame)
    writer.release()
    return path


def check_event_log(path: Path) -> tuple[int, int]:
    """(events, lines that are not a complete JSON event)."""
    if not path.exists():
        return 0, 0
    good = bad = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
            ok = isinstance(rec, dict) and {"time", "track_id", "label", "frame"} <= rec.keys()
        except json.JSONDecodeError:
            ok = False
        good, bad = (good + 1, bad) if ok else (good, bad + 1)
    return good, bad


def soak(
    frames: int,
    every: int,
    workdir: Path,
    source: str | None = None,
    model: str | None = None,
    warmup: int | None = None,
    extra: list[str] | None = None,
    log=print,
) -> SoakReport:
    from facemask_live import Monitor
    from facemask_live.app.options import load_settings

    source = source or str(make_clip(workdir / "soak_clip.avi"))
    events = workdir / "events.jsonl"
    detections = workdir / "detections.jsonl"
    argv = ["--headless", "--loop", "--source", source, "--max-frames", str(frames), "--events", str(events),
            "--detections", str(detections), "--snapshots", str(workdir / "snapshots"), "--cooldown", "1",
            "--no-progress", *(["--model", model] if model else []), *(extra or [])]  # fmt: skip
    settings = load_settings(argv)
    rep = SoakReport(rss_start_mb=rss_mb())
    warmup = warmup if warmup is not None else min(max(frames // 5, every), 1000)
    t0 = time.monotonic()
    count = [0]

    def progress(_camera, _result, _annotated) -> None:
        count[0] += 1
        n = count[0]
        if n == warmup:
            rep.rss_warm_mb = rss_mb()
        if n % every == 0:
            r = rss_mb()
            rep.samples.append((n, round(r, 1)))
            rep.rss_max_mb = max(rep.rss_max_mb, r)
            log(f"frame {n:7d}  rss {r:7.1f} MiB  {n / (time.monotonic() - t0):5.1f} frames/s")

    with Monitor(settings=settings, on_result=progress) as monitor:
        monitor.wait()
        stats = monitor.stats().cameras["camera"]
    rep.seconds = round(time.monotonic() - t0, 1)
    rep.frames = stats.frames_processed
    rep.people = stats.people or 0
    rep.status = stats.state
    rep.rss_end_mb = rss_mb()
    rep.rss_max_mb = max(rep.rss_max_mb, rep.rss_end_mb)
    if not rep.rss_warm_mb:
        rep.rss_warm_mb = rep.rss_start_mb
    rep.growth_after_warmup_mb = round(rep.rss_end_mb - rep.rss_warm_mb, 1)
    rep.events, rep.event_lines_bad = check_event_log(events)
    rep.detections = sum(1 for _ in detections.open()) if detections.exists() else 0
    for k in ("rss_start_mb", "rss_warm_mb", "rss_end_mb", "rss_max_mb"):
        setattr(rep, k, round(getattr(rep, k), 1))
    return rep


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=20000, help="frames to process (default: 20000)")
    p.add_argument("--every", type=int, default=500, help="sample RSS every N frames (default: 500)")
    p.add_argument("--warmup", type=int, help="frames before the RSS baseline (default: a fifth of --frames, at most 1000)")
    p.add_argument("--source", help="clip to loop (default: a generated 4 s clip)")
    p.add_argument("--model", help="classifier metadata (default: facemask_live/models/mask_classifier.json)")
    p.add_argument("--max-growth-mb", type=float, default=30.0, help="allowed RSS growth after warm-up (default: 30)")
    p.add_argument("--workdir", help="where logs go (default: a temporary folder)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON line on stdout")
    a, extra = p.parse_known_args(argv)
    from facemask_live.core.errors import FacemaskError

    with tempfile.TemporaryDirectory(prefix="facemask-soak-") as tmp:
        workdir = Path(a.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            rep = soak(a.frames, a.every, workdir, a.source, a.model, a.warmup, extra, log=lambda s: print(s, file=sys.stderr))
        except FacemaskError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
    rep.ok = rep.growth_after_warmup_mb < a.max_growth_mb and rep.event_lines_bad == 0 and rep.detections == rep.frames
    if a.json:
        print(json.dumps(asdict(rep)))
    else:
        for k, v in asdict(rep).items():
            if k != "samples":
                print(f"{k}: {v}")
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
