"""Soak test: a long headless run of a looping clip, reporting memory (RSS) and checking the event log.

Runs the same engine as ``python -m facemask_live --headless --loop`` (``facemask_live.Monitor``, a site of one
camera) in this process and samples the resident set size (VmRSS from /proc/self/status) at the start,
every ``--every`` frames and at the end. Without ``--source`` it makes a small clip (a face from
shared/media, present for a few seconds of every loop so that people come and go, when shared/ is
there; else a moving pattern).

    python tools/soak.py --frames 50000 --every 1000            # an all-day shift in fast-forward
    python tools/soak.py --frames 3000 --json                     # what the CI test runs

Exit code 0 when RSS grew by less than ``--max-growth-mb`` after warm-up and every event-log line parses.

``--site N --duration S``: a shift of a site instead, as a user runs it: N cameras of the shared clips, looping in
real time, with an event log, snapshots and a people log (a ``cameras:`` settings file written to the work folder),
run as ``python -m facemask_live --config site.yaml --headless --duration S`` in a child process. Its resident
memory, open files, threads and CPU are read from ``/proc/PID`` every ``--every`` seconds and printed once a
minute; the verdict compares the end with minute ``--baseline-min`` (RSS within ``--max-growth-mb``, open files and
threads unchanged):

    nice python tools/soak.py --site 4 --duration 1800          # four cameras for half an hour
"""

from __future__ import annotations

import argparse
import json
import os
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


# -- a site shift in a child process ---------------------------------------------------------------
CLIPS = ("nurse_mask.mp4", "street_nomask.mp4", "office_mask.mp4", "man_nomask.mp4", "dancer_mask.mp4", "putting_on_mask_720p.mp4")


@dataclass
class ProcSample:
    t: float  # seconds since the start
    rss_mb: float
    files: int  # open file descriptors
    threads: int
    cpu_s: float  # user + system CPU seconds so far


def proc_sample(pid: int, t: float) -> ProcSample | None:
    """RSS, open files, threads and CPU of process ``pid`` and its worker processes (a site of many cameras,
    engine/workers.py) from /proc, summed; None once ``pid`` is gone."""
    total = None
    for p in [pid, *child_pids(pid)]:
        try:
            status = Path(f"/proc/{p}/status").read_text()
            files = len(list(Path(f"/proc/{p}/fd").iterdir()))
            stat = Path(f"/proc/{p}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            if p == pid:
                return None
            continue  # a worker that ended meanwhile
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        ticks = stat.rsplit(")", 1)[1].split()  # after the command name: state is field 3, utime 14, stime 15
        cpu = (int(ticks[11]) + int(ticks[12])) / os.sysconf("SC_CLK_TCK")
        one = ProcSample(round(t, 1), int(fields["VmRSS"].split()[0]) / 1024.0, files, int(fields["Threads"]), cpu)
        total = one if total is None else ProcSample(total.t, total.rss_mb + one.rss_mb, total.files + one.files,
                                                     total.threads + one.threads, total.cpu_s + one.cpu_s)
    return total


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return kids


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float, proc=None) -> bool:
    """True once something listens on 127.0.0.1:``port``; False after ``timeout`` or when ``proc`` ended."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def site_config(workdir: Path, cameras: int, clips_dir: Path = SHARED / "media" / "videos", people_interval: float = 10,
                extra: tuple[str, ...] = ()) -> Path:
    """A site of ``cameras`` looping shared clips with events, snapshots and a people log (``extra``: more lines)."""
    if cameras == 1:  # one camera alone, as with --source CLIP --loop --realtime
        lines = [f"source: {{source: {json.dumps(str(clips_dir / CLIPS[0]))}, loop: true, realtime: true}}"]
    else:
        lines = ["cameras:"]
        for i in range(cameras):
            clip = clips_dir / CLIPS[i % len(CLIPS)]
            lines.append(f"  - {{name: cam{i + 1}, source: {json.dumps(str(clip))}, loop: true, realtime: true}}")  # played like cameras
    lines += ["output: {events: events.jsonl, snapshots: snapshots}",
              f"people_log: {{path: people.jsonl, interval: {people_interval}}}", *extra]
    path = workdir / "site.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class ShiftReport:
    cameras: int = 0
    duration_s: float = 0.0
    baseline_min: float = 3.0
    minutes: list[dict] = field(default_factory=list)  # one row per minute: t, rss_mb, files, threads, cpu_cores
    rss_baseline_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_max_mb: float = 0.0
    growth_mb: float = 0.0
    files_baseline: int = 0
    files_end: int = 0
    threads_baseline: int = 0
    threads_end: int = 0
    cpu_cores: float = 0.0  # mean over the run
    exit_code: int | None = None
    events: int = 0
    event_lines_bad: int = 0
    verdict: str = ""
    ok: bool = False


def shift_verdict(rep: ShiftReport, max_growth_mb: float) -> tuple[bool, str]:
    """PASS when RSS at the end is within ``max_growth_mb`` of the baseline and files and threads did not change."""
    problems = []
    if rep.growth_mb > max_growth_mb:
        problems.append(f"RSS grew {rep.growth_mb:.1f} MB after minute {rep.baseline_min:g} (limit {max_growth_mb:g})")
    if rep.files_end != rep.files_baseline:
        problems.append(f"open files {rep.files_baseline} -> {rep.files_end}")
    if rep.threads_end != rep.threads_baseline:
        problems.append(f"threads {rep.threads_baseline} -> {rep.threads_end}")
    if rep.exit_code != 0:
        problems.append(f"the app exited with {rep.exit_code}")
    if rep.event_lines_bad:
        problems.append(f"{rep.event_lines_bad} unreadable event-log lines")
    return not problems, "PASS" if not problems else "FAIL: " + "; ".join(problems)


def shift(cameras: int, duration: float, workdir: Path, every: float = 15.0, baseline_min: float = 3.0,
          max_growth_mb: float = 30.0, clips_dir: Path = SHARED / "media" / "videos", log=print) -> ShiftReport:
    """Run a site of ``cameras`` looping clips for ``duration`` seconds in a child process and watch it."""
    import subprocess

    config = site_config(workdir, cameras, clips_dir)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen([sys.executable, "-m", "facemask_live", "--config", str(config), "--headless",
                             "--duration", str(duration)], cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=open(workdir / "app.log", "w"))  # noqa: SIM115
    rep = ShiftReport(cameras=cameras, duration_s=duration, baseline_min=baseline_min)
    t0 = time.monotonic()
    samples: list[ProcSample] = []
    next_minute = 60.0
    while proc.poll() is None:
        s = proc_sample(proc.pid, time.monotonic() - t0)
        if s is not None:
            samples.append(s)
            if s.t >= next_minute or not rep.minutes:
                prev = rep.minutes[-1] if rep.minutes else {"t": 0.0, "cpu_s": 0.0}
                cores = (s.cpu_s - prev["cpu_s"]) / max(s.t - prev["t"], 1e-6)
                rep.minutes.append({"t": s.t, "rss_mb": round(s.rss_mb, 1), "files": s.files, "threads": s.threads,
                                    "cpu_s": round(s.cpu_s, 1), "cpu_cores": round(cores, 2)})
                log(f"min {s.t / 60:5.1f}  rss {s.rss_mb:7.1f} MiB  open files {s.files:3d}  threads {s.threads:3d}  "
                    f"cpu {cores:4.2f} cores")
                next_minute = (int(s.t // 60) + 1) * 60.0
        try:
            proc.wait(every)
        except subprocess.TimeoutExpired:
            pass
    rep.exit_code = proc.returncode
    if not samples:
        rep.verdict = f"FAIL: the app ended at once (exit {proc.returncode}, see {workdir / 'app.log'})"
        return rep
    samples = [s for s in samples if s.t <= duration] or samples  # not the shutdown at the end
    last = samples[-1]
    base = next((s for s in samples if s.t >= baseline_min * 60), last)
    rep.rss_baseline_mb, rep.rss_end_mb = round(base.rss_mb, 1), round(last.rss_mb, 1)
    rep.rss_max_mb = round(max(s.rss_mb for s in samples), 1)
    rep.growth_mb = round(last.rss_mb - base.rss_mb, 1)
    # files and threads: the least over a minute, so that a snapshot being written at one sample is no leak
    start = [s for s in samples if base.t <= s.t < base.t + 60] or [base]
    end = [s for s in samples if s.t > last.t - 60]
    rep.files_baseline, rep.files_end = min(s.files for s in start), min(s.files for s in end)
    rep.threads_baseline, rep.threads_end = min(s.threads for s in start), min(s.threads for s in end)
    rep.cpu_cores = round(last.cpu_s / max(last.t, 1e-6), 2)
    rep.events, rep.event_lines_bad = check_event_log(workdir / "events.jsonl")
    rep.ok, rep.verdict = shift_verdict(rep, max_growth_mb)
    return rep


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--site", type=int, metavar="N", help="a shift of a site of N looping cameras instead (see above)")
    p.add_argument("--duration", type=float, default=1800.0, help="--site: seconds to run (default: 1800)")
    p.add_argument("--sample-every", type=float, default=15.0, help="--site: seconds between samples (default: 15)")
    p.add_argument("--baseline-min", type=float, default=3.0, help="--site: the minute the end is compared with (default: 3)")
    p.add_argument("--frames", type=int, default=20000, help="frames to process (default: 20000)")
    p.add_argument("--every", type=int, default=500, help="sample RSS every N frames (default: 500)")
    p.add_argument("--warmup", type=int, help="frames before the RSS baseline (default: a fifth of --frames, at most 1000)")
    p.add_argument("--source", help="clip to loop (default: a generated 4 s clip)")
    p.add_argument("--model", help="classifier metadata (default: facemask_live/models/mask_classifier.json)")
    p.add_argument("--max-growth-mb", type=float, default=30.0, help="allowed RSS growth after warm-up (default: 30)")
    p.add_argument("--workdir", help="where logs go (default: a temporary folder)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON line on stdout")
    a, extra = p.parse_known_args(argv)
    if a.site is not None:
        return main_site(a)
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


def log_err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def in_workdir(workdir: str | None, prefix: str, work):
    """``work(folder)`` in ``workdir`` (created), or in a temporary folder removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        folder = Path(workdir or tmp).absolute()
        folder.mkdir(parents=True, exist_ok=True)
        return work(folder)


def main_site(a) -> int:
    if a.site < 1 or a.duration <= 0 or a.sample_every <= 0:
        print("error: --site needs N >= 1 cameras, --duration and --sample-every > 0", file=sys.stderr)
        return 2
    if not (SHARED / "media" / "videos").is_dir():
        print(f"error: the shared clips are not in {SHARED / 'media' / 'videos'}", file=sys.stderr)
        return 2
    rep = in_workdir(a.workdir, "facemask-shift-", lambda workdir: shift(
        a.site, a.duration, workdir, a.sample_every, a.baseline_min, a.max_growth_mb, log=log_err))
    if a.json:
        print(json.dumps(asdict(rep)))
    else:
        print(f"{rep.cameras} cameras, {rep.duration_s / 60:g} min: RSS {rep.rss_baseline_mb} MiB at minute "
              f"{rep.baseline_min:g} -> {rep.rss_end_mb} MiB at the end (max {rep.rss_max_mb}), open files "
              f"{rep.files_baseline} -> {rep.files_end}, threads {rep.threads_baseline} -> {rep.threads_end}, "
              f"CPU {rep.cpu_cores} cores, {rep.events} events")
        print(rep.verdict)
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
