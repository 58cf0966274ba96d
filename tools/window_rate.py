#!/usr/bin/env python3
"""The real window on a site, for a while: per camera the pictures it showed per second and their age (capture to
shown), and the CPU of the window's process and its workers. Offscreen unless DISPLAY is set.

    python tools/window_rate.py --config site16.yaml --seconds 40 [--warmup 10] [--workers N] [--size 1600x900]
    python tools/window_rate.py --cameras 16 --clips ../shared/media/videos ...   # the clips in turn, looping

Why: the benchmark (``bench --cameras N``) stands a thread in for the window; this runs the window itself, so the
figures include the Qt thread's work (converting and scaling each picture) and, with workers, the pipes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))


def cpu_seconds_with_children() -> float:
    """CPU seconds of this process and its workers (the soak's own reading of /proc)."""
    from soak import proc_sample

    return proc_sample(os.getpid(), 0.0).cpu_s


def clips_config(folder: Path, cameras: int) -> str:
    """A site config of ``cameras`` looping cameras, the clips of ``folder`` in turn (a temporary file)."""
    import tempfile

    import yaml

    clips = sorted(folder.glob("*.mp4"))
    if not clips:
        sys.exit(f"error: no .mp4 clips in {folder}")
    cams = [{"name": f"cam{i + 1:02d}", "source": str(clips[i % len(clips)].resolve()), "loop": True} for i in range(cameras)]
    path = Path(tempfile.mkdtemp(prefix="window-rate-")) / "site.yaml"
    path.write_text(yaml.safe_dump({"cameras": cams}))
    return str(path)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", help="the site's YAML config")
    where.add_argument("--clips", help="a folder of video clips: --cameras of them in turn, each looping")
    ap.add_argument("--cameras", type=int, default=16, help="with --clips: how many cameras (default 16)")
    ap.add_argument("--seconds", type=float, default=40.0, help="measured time (default 40)")
    ap.add_argument("--warmup", type=float, default=10.0, help="time before measuring (default 10)")
    ap.add_argument("--workers", type=int, help="as the app's --workers (default: the app's rule)")
    ap.add_argument("--size", default="1600x900", help="window size WxH (default 1600x900)")
    args = ap.parse_args(argv)
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from facemask_live.app.options import load_settings
    from facemask_live.app.window.qt import QtCore, QtWidgets
    from facemask_live.app.window.run import build_window
    from facemask_live.core.memory import limit_malloc_arenas

    limit_malloc_arenas()  # the window measured as the app runs it (app/cli.py does the same)

    if args.clips:
        args.config = clips_config(Path(args.clips), args.cameras)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["window-rate"])
    options = ["--config", args.config, "--no-progress"] + (["--workers", str(args.workers)] if args.workers else [])
    w = build_window(load_settings(options), args.config)
    width, height = (int(v) for v in args.size.split("x"))
    w.resize(width, height)
    w.show()
    shown: dict[str, list[tuple[float, float]]] = {name: [] for name in w.tiles}  # (time, age ms) per picture
    original = w.show_results

    def show_results(latest, events):
        original(latest, events)
        now = time.monotonic()
        for name, s in latest.items():
            if name in shown:
                shown[name].append((now, (now - s.result.frame.captured_at) * 1000.0))

    w.show_results = show_results
    marks: dict[str, float] = {}

    stats: dict[str, dict] = {}

    def mark(what: str) -> None:
        marks[what], marks[what + "_cpu"] = time.monotonic(), cpu_seconds_with_children()
        stats[what] = w.site.stats()

    w.site.start()
    QtCore.QTimer.singleShot(int(args.warmup * 1000), lambda: mark("start"))
    QtCore.QTimer.singleShot(int((args.warmup + args.seconds) * 1000), lambda: (mark("end"), app.quit()))
    app.exec_()
    workers = w.site.stats()["site"].get("workers", 1)
    w.shutdown()
    t0, t1 = marks["start"], marks["end"]
    print(f"{'camera':12s} {'shown/s':>8s} {'age p50 ms':>10s} {'age p95 ms':>10s} {'det/s':>6s} {'processed':>9s}")
    rates, det, done = [], [], []
    for name, items in shown.items():
        inside = [age for t, age in items if t0 <= t <= t1]
        rates.append(len(inside) / (t1 - t0))
        a, b = stats["start"]["cameras"][name], stats["end"]["cameras"][name]
        det.append((b["detector_runs"] - a["detector_runs"]) / (t1 - t0))
        captured = b["frames_captured"] - a["frames_captured"]
        done.append((b["frames_processed"] - a["frames_processed"]) / captured if captured else float("nan"))
        print(f"{name[:12]:12s} {rates[-1]:8.1f} {percentile(inside, 50):10.0f} {percentile(inside, 95):10.0f} "
              f"{det[-1]:6.2f} {done[-1]:9.1%}")
    ages = [age for items in shown.values() for t, age in items if t0 <= t <= t1]
    cores = (marks["end_cpu"] - marks["start_cpu"]) / (t1 - t0)
    print(f"window: {len(shown)} cameras in {workers} process(es), shown/s per camera {min(rates):.1f}-{max(rates):.1f}, "
          f"age p50 {percentile(ages, 50):.0f} ms, p95 {percentile(ages, 95):.0f} ms, detector runs/s per camera "
          f"{min(det):.2f}-{max(det):.2f}, frames processed {min(done):.1%}-{max(done):.1%}, CPU {cores:.2f} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
