"""Site benchmark: ``python -m facemask_live.bench --cameras 1 2 4 8``.

Long because the clips it makes, the runs, the window's stand-in and the report are one measurement.

Clips are played at their own frame rate, looped, like cameras. For each N it runs N cameras as the app runs them
(one process, :class:`facemask_live.engine.site.Site`; more than eight: worker processes of four,
:mod:`facemask_live.engine.workers`; ``--workers`` chooses) for ``--duration`` seconds, then the same load as N
separate ``python -m facemask_live --headless --realtime --loop`` processes, and reports per camera the
share of frames processed (shown with boxes), detector runs per second, frame age, and the CPU used.

``--events`` also runs each clip once through a 4-camera site and alone through the single-source app
(every frame), and compares the number of violation events per clip. ``--still`` runs N cameras on
still scenes (the first frame of each clip repeated as a video) and the same streams decoded only, for
the CPU ratio. Clips below 720p are upscaled to 1280x720 copies first (``--no-hd`` keeps them as they are).
Under each run: CPU ms per second of video per camera and stage beside the decode-only floor
(:mod:`facemask_live.measure.stagecpu`); ``--substreams``: each camera with a 640x360 copy as its ``detect_source``.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2

from facemask_live.measure import stagecpu
from facemask_live.measure.substreams import _write, substream_clip

DEFAULT_CLIPS = ("street_nomask.mp4", "putting_on_mask_720p.mp4", "man_nomask.mp4", "office_mask.mp4")
WARMUP_S = 3.0  # still mode: the steady-state CPU leaves out the first seconds (first detector run per camera)
SHARED_VIDEOS = Path(__file__).resolve().parents[3] / "shared" / "media" / "videos"


# ------------------------------------------------------------------------------------------ clips
def hd_clip(src: Path, folder: Path, size: tuple[int, int] = (1280, 720)) -> Path:
    """``src`` if it is at least 720 pixels high, else a copy upscaled to ``size`` (same frames and fps)."""
    cap = cv2.VideoCapture(str(src))
    h, fps = cap.get(cv2.CAP_PROP_FRAME_HEIGHT), cap.get(cv2.CAP_PROP_FPS) or 25.0
    if h >= 720:
        cap.release()
        return src
    out = folder / f"{src.stem}_720p.mp4"
    if not out.exists():
        frames = (cv2.resize(img, size, interpolation=cv2.INTER_LINEAR) for ok, img in iter(cap.read, (False, None)) if ok)
        _write(out, frames, fps, size)
    cap.release()
    return out


def still_clip(src: Path, folder: Path, seconds: float = 10.0) -> Path:
    """A video of ``src``'s first frame repeated for ``seconds`` at the clip's frame rate (a still scene)."""
    cap = cv2.VideoCapture(str(src))
    ok, img = cap.read()
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    cap.release()
    if not ok:
        raise RuntimeError(f"cannot read {src}")
    out = folder / f"{src.stem}_still.mp4"
    if not out.exists():
        _write(out, (img for _ in range(int(seconds * fps))), fps, (img.shape[1], img.shape[0]))
    return out


def find_clips(folder: Path | None, names=DEFAULT_CLIPS) -> list[Path]:
    folder = folder or SHARED_VIDEOS
    clips = [folder / n for n in names if (folder / n).is_file()]
    if not clips:
        raise RuntimeError(f"no clips found in {folder} (looked for {', '.join(names)}); use --clips-dir")
    return clips


# ------------------------------------------------------------------------------------------ runs
def deal_clips(clips: list[Path], n: int, workers: int = 1) -> list[Path]:
    """The clip each of ``n`` cameras plays, for a site of ``workers`` processes. The app deals cameras out to its
    workers in turn (``share_out``: camera i to worker i % workers); each worker gets the clips in turn, starting
    one further than the worker before. Why: four clips cycled over four workers gave each worker copies of one
    clip, which no site listed by door does, and the slowest camera then told which clip a worker had drawn, not how
    the site shares its detectors. One process (``workers`` 1): the clips in turn, as before."""
    k = len(clips)
    return [clips[(i % workers + i // workers) % k] for i in range(n)]


def site_settings(clips: list[Path], *, loop: bool = True, detect_fps: float | None = None, motion: bool = True,
                  headless: bool = True, detect_clips: list[Path] | None = None, workers: int | None = None):
    """Settings of a site of ``clips`` (cameras cam1..camN), played at their own rate like cameras."""
    from facemask_live.app.options import load_settings
    from facemask_live.core.config import CameraSettings

    cams = tuple(CameraSettings(f"cam{i + 1}", str(c), loop=loop, detect_source=str(detect_clips[i]) if detect_clips else None)
                 for i, c in enumerate(clips))  # detect_clips: substreams (measure/substreams.py)
    detector = {"detect_fps": detect_fps} if detect_fps else {}
    return load_settings(["--headless", "--no-progress", "--no-auto-snapshots"], cameras=cams,
                         detector=detector, motion={"enabled": motion}, site={"workers": workers})


def run_site(clips: list[Path], duration: float | None, *, loop: bool = True, detect_fps: float | None = None,
             motion: bool = True, tile: tuple[int, int] | None = None, warmup: float = 0.0,
             detect_clips: list[Path] | None = None, workers: int | None = None, on_result=None) -> dict:
    """N cameras (``clips``, names cam1..camN) as the app runs them (one process, or worker processes: ``workers``,
    None: the app's rule) for ``duration`` seconds (None: until all ended). ``tile``: each frame is handed to a
    stand-in for the window's grid tile of that size (:class:`WindowHandoff`); else to ``on_result``, if given (it
    must be picklable where the cameras run in worker processes).

    ``warmup`` > 0: also report ``steady_cpu_seconds``, the CPU of the run after its first ``warmup`` seconds
    (the first detector run of every camera and the models' first calls are one-time costs)."""
    import functools

    from facemask_live.engine.build import build_site
    from facemask_live.engine.site import Site

    settings = site_settings(clips, loop=loop, detect_fps=detect_fps, motion=motion, detect_clips=detect_clips,
                             workers=workers)
    site = build_site(settings, hook=functools.partial(BenchProbe, tile, on_result))  # the meter runs in every process
    try:
        site.start()
        host0 = stagecpu.host_cpu()
        steady = None
        if warmup and duration:
            site.wait(warmup)
            at = site.stats()
            steady = (at["cpu_seconds"], at["site"]["elapsed_s"])
            duration -= warmup
        site.wait(duration)
    finally:
        site.close()
    reports = [dict(r) for r in site.reports]
    settled = [r.pop("stats") for r in reports]
    # one process: its figures as they stood when the cameras settled, before closing (the run itself); worker
    # processes: as the workers sent them last, after closing
    stats = settled[0] if isinstance(site, Site) else site.stats()
    stats["stage_cpu"] = stagecpu.merge(reports, list(stats["cameras"]), host0, stats["cpu_seconds"],
                                        stats["site"]["elapsed_s"])
    if steady is not None:
        stats["steady_cpu_seconds"] = round(stats["cpu_seconds"] - steady[0], 2)
        stats["steady_elapsed_s"] = round(stats["site"]["elapsed_s"] - steady[1], 2)
    for name, c in zip(stats["cameras"], clips):
        stats["cameras"][name]["clip"] = c.name
    return stats


class BenchProbe:
    """The ``on_result`` of the benchmark's site in each process: the per-stage meter
    (:class:`~facemask_live.measure.stagecpu.StageMeter`), which hands every frame to the window's stand-in
    (``tile``; None: to ``forward``, if any). At close (:meth:`report`) it stops the cameras' work and reports their
    per-stage CPU."""

    def __init__(self, tile: tuple[int, int] | None = None, forward=None):
        self.handoff = WindowHandoff(tile) if tile else None
        self.meter = stagecpu.StageMeter(self.handoff or forward)

    def __call__(self, camera: str, result, annotated) -> None:
        self.meter(camera, result, annotated)

    def report(self, site) -> dict:
        """The per-stage CPU of ``site``'s cameras, and (``stats``) the site's figures at the same moment."""
        _settle(site)
        try:
            stats = site.stats()
            return {**stagecpu.site_cpu(site, self.meter, stats["site"]["elapsed_s"]), "stats": stats}
        finally:
            if self.handoff is not None:
                self.handoff.close()


def _settle(site, timeout: float = 1.0) -> None:
    """Pause every camera and wait until none is still finishing a frame, so that the site's counts and the stage
    meter's (read one after the other) count the same frames."""
    cams = list(site.cameras.values())
    for cam in cams:
        cam.paused.set()
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline and last != (last := [cam.processed for cam in cams]):
        time.sleep(0.05)


def decode_only(clips: list[Path], duration: float, warmup: float = 0.0) -> dict:
    """The same streams decoded at their own rate (capture threads + a consumer each), nothing else: CPU seconds
    (after the first ``warmup`` seconds as ``steady_cpu_seconds``)."""
    from facemask_live.engine.site import cpu_seconds
    from facemask_live.sources.capture import Capture, decode_threads_for

    # decoded as the site decodes them (its rule: one FFmpeg thread per stream when several)
    caps = [Capture(str(c), realtime=True, loop=True, decode_threads=decode_threads_for(len(clips))) for c in clips]
    stop = threading.Event()
    counts = [0] * len(caps)

    def consume(i: int) -> None:
        while not stop.is_set():
            if caps[i].read(0.25) is not None:
                counts[i] += 1

    threads = [threading.Thread(target=consume, args=(i,), daemon=True) for i in range(len(caps))]
    c0, t0 = cpu_seconds(), time.monotonic()
    for cap in caps:
        cap.start()
    for t in threads:
        t.start()
    time.sleep(warmup)
    c1, t1 = cpu_seconds(), time.monotonic()
    time.sleep(max(duration - warmup, 0.0))
    stop.set()
    steady_cpu, steady_wall = cpu_seconds() - c1, time.monotonic() - t1
    for t in threads:
        t.join(1.0)
    cpu, wall = cpu_seconds() - c0, time.monotonic() - t0
    captured = sum(c.stats.captured for c in caps)
    per_stream = stagecpu.floor_per_stream(clips, [c.stats.captured for c in caps], cpu, wall)
    for cap in caps:
        cap.stop()
    return {"cpu_seconds": round(cpu, 2), "elapsed_s": round(wall, 2), "cpu_share": round(cpu / wall, 3),
            "steady_cpu_seconds": round(steady_cpu, 2), "steady_elapsed_s": round(steady_wall, 2),
            "frames_decoded": captured, "frames_consumed": sum(counts), "per_stream_cpu_ms_per_s": per_stream}


_SUMMARY = re.compile(r"frames processed: (\d+), dropped: (\d+)")


def run_processes(clips: list[Path], duration: float) -> dict:
    """The same load as separate single-camera app processes (realtime, looped), stopped by SIGTERM after ``duration``."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    procs = []
    t0 = time.monotonic()
    for c in clips:
        cmd = [sys.executable, "-m", "facemask_live", "--headless", "--no-progress", "--realtime", "--loop",
               "--no-auto-snapshots", "--source", str(c)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env))
    time.sleep(duration)
    out = {}
    cpu = 0.0
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for i, (c, p) in enumerate(zip(clips, procs)):
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        err = p.stderr.read()
        p.stderr.close()
        cpu += usage.ru_utime + usage.ru_stime
        m = _SUMMARY.search(err)
        processed, dropped = (int(m[1]), int(m[2])) if m else (0, 0)
        out[f"proc{i + 1}"] = {"clip": c.name, "frames_processed": processed, "dropped": dropped,
                               "processed_share": round(processed / (processed + dropped), 4) if processed + dropped else None,
                               "exit_code": p.returncode}
    wall = time.monotonic() - t0
    return {"processes": out, "cpu_seconds": round(cpu, 2), "elapsed_s": round(wall, 2), "cpu_share": round(cpu / wall, 3)}


def events_alone(clip: Path) -> int:
    """Violation events of ``clip`` run once as ``--source CLIP``, every frame (the reference)."""
    from facemask_live.app.options import load_settings
    from facemask_live.engine.api import Monitor

    settings = load_settings(["--headless", "--no-progress", "--no-auto-snapshots", "--source", str(clip)])
    with Monitor(settings=settings) as monitor:
        monitor.wait()
        return monitor.stats().events


def compare_events(clips: list[Path]) -> dict:
    """Events per clip: the clips once (no loop) as cameras of one site vs each clip alone."""
    site = run_site(clips, None, loop=False)
    rows = {}
    for name, s in site["cameras"].items():
        clip = next(c for c in clips if c.name == s["clip"])
        rows[name] = {"clip": s["clip"], "site_events": s["events"], "alone_events": events_alone(clip)}
    return {"cameras": rows, "identical": all(r["site_events"] == r["alone_events"] for r in rows.values()), "site": site}


# ------------------------------------------------------------------------------------------ report
def load_line() -> str:
    try:
        return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3]) + f" on {os.cpu_count()} cores"
    except OSError:
        return ""


def _rate(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_site(n: int, site: dict, procs: dict | None) -> list[str]:
    workers = site["site"].get("workers", 1)
    where = "one process" if workers == 1 else f"{workers} worker processes"
    lines = [f"--- {n} camera(s), {where}: CPU {site['cpu_seconds']:.1f} s in {site['site']['elapsed_s']:.0f} s "
             f"({site['cpu_share']:.2f} cores), detector busy {site['site']['detector_busy_share'] * 100:.0f} %"]
    lines.append(f"  {'camera':6s} {'clip':30s} {'captured':>8s} {'with boxes':>10s} {'det/s':>6s} {'people':>6s} {'age p50':>8s} {'age p95':>8s} {'state':8s}")
    for name, s in site["cameras"].items():
        share = f"{(s['processed_share'] or 0) * 100:.1f} %"
        lines.append(f"  {name:6s} {s['clip'][:30]:30s} {s['frames_captured']:8d} {share:>10s} {s['detect_per_s'] or 0:6.1f} "
                     f"{_rate(s.get('detect_per_s_with_people'), 1):>6s} {s['frame_age_p50_ms'] or 0:8.0f} {s['frame_age_p95_ms'] or 0:8.0f} {s['state']:8s}")
    rates = [s["detect_per_s"] or 0.0 for s in site["cameras"].values()]
    people = [r for s in site["cameras"].values() if (r := s.get("detect_per_s_with_people")) is not None]
    lines.append(f"  det/s: detector runs per second, slowest camera {min(rates, default=0):.2f}; people: the same while "
                 f"faces were in view (the scheduler looks at such a camera first), slowest "
                 f"{_rate(min(people, default=None))}")
    if procs:
        lines.append(f"  same load as {n} separate processes: CPU {procs['cpu_seconds']:.1f} s ({procs['cpu_share']:.2f} cores)")
        for name, p in procs["processes"].items():
            share = f"{(p['processed_share'] or 0) * 100:.1f} %"
            lines.append(f"  {name:6s} {p['clip'][:30]:30s} {p['frames_processed'] + p['dropped']:8d} {share:>10s}")
    return lines


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m facemask_live.bench --cameras",
                                description="Benchmark many cameras in one process against one process per camera.")
    p.add_argument("--cameras", type=int, nargs="+", required=True, metavar="N", help="camera counts to run, e.g. 1 2 4 8")
    p.add_argument("--duration", type=float, default=20.0, metavar="S", help="seconds per run (default: 20)")
    p.add_argument("--clips-dir", type=Path, metavar="DIR", help=f"folder with the clips (default: {SHARED_VIDEOS})")
    p.add_argument("--clips", nargs="+", default=list(DEFAULT_CLIPS), metavar="FILE", help="clip names, dealt over the cameras so that each worker process plays them all in turn")
    p.add_argument("--no-hd", dest="hd", action="store_false", help="do not upscale clips below 720p")
    p.add_argument("--no-processes", dest="processes", action="store_false", help="skip the separate-processes comparison")
    p.add_argument("--still", action="store_true", help="still scenes instead: N still cameras vs decoding the same streams only")
    p.add_argument("--events", action="store_true", help="also compare events per clip: 4-camera site vs each clip alone")
    p.add_argument("--substreams", action="store_true", help="each camera also has its clip at 640x360 as detect_source")
    p.add_argument("--workers", type=int, metavar="N",
                   help="processes the cameras are shared out over (default: the app's rule: more than eight cameras in "
                        "processes of four, at most two per core; 1: all in one process)")
    p.add_argument("--detect-fps", type=float, metavar="F", help="detector runs per second per camera (default: the engine's)")
    p.add_argument("--screen", default="1280x720", metavar="WxH",
                   help="the window's picture area: each camera's frame is drawn at its tile's size in a grid over it, "
                        "as the window does (the 'hand-off' column; default 1280x720: 320x180 tiles for 16 cameras); "
                        "'none': nothing drawn")
    p.add_argument("--json", metavar="FILE", help="also write every figure to FILE")
    return p


def parse_screen(text: str) -> tuple[int, int] | None:
    """'1280x720' -> (1280, 720); 'none' -> None. ValueError for anything else."""
    if text.lower() == "none":
        return None
    w, _, h = text.lower().partition("x")
    if not (w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0):
        raise ValueError(f"--screen must be WIDTHxHEIGHT (e.g. 1280x720) or none, got {text!r}")
    return int(w), int(h)


def grid_tile(screen: tuple[int, int], n: int) -> tuple[int, int]:
    """The picture size of each of ``n`` tiles in the window's grid (ceil(sqrt(n)) columns) over ``screen``."""
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    return screen[0] // cols, screen[1] // rows


class WindowHandoff:
    """An ``on_result`` that does what the window does with a grid tile: the bridge's
    :class:`~facemask_live.app.window.feed.TileFeed` with the picture drawn at ``tile``, and a thread standing in for
    the window's GUI thread that takes the pictures ``display_hz`` times a second (a frame replaced before it was
    taken is drawn by nobody, as in the window). :meth:`close` stops that thread."""

    def __init__(self, tile: tuple[int, int], display_hz: float = 25.0):
        from facemask_live.app.window.feed import TileFeed

        self.tile, self.feed = tile, TileFeed()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._look, args=(1.0 / display_hz,), name=stagecpu.WINDOW_THREAD,
                                        daemon=True)
        self._thread.start()

    def __call__(self, camera, result, annotated) -> None:
        self.feed.view_sizes[camera] = self.tile
        self.feed.put(camera, result, annotated, None)

    def _look(self, period: float) -> None:
        while not self._stop.wait(period):
            self.feed.take()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def main(argv: list[str] | None = None) -> int:
    import logging

    from facemask_live.core.errors import FacemaskError
    from facemask_live.core.memory import limit_malloc_arenas
    from facemask_live.engine.build import site_workers
    from facemask_live.outputs.sinks import write_json

    opts = build_parser().parse_args(argv)
    limit_malloc_arenas()  # the site measured as the app runs it (app/cli.py does the same)
    logging.basicConfig(level=logging.WARNING, format="facemask-live: %(message)s")
    if any(n < 1 for n in opts.cameras) or opts.duration <= 0 or (opts.workers is not None and opts.workers < 1):
        print("error: --cameras and --workers need whole numbers >= 1 and --duration a positive number of seconds",
              file=sys.stderr)
        return 2
    try:
        screen = parse_screen(opts.screen)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report: dict = {"load_before": load_line(), "runs": {}}
    print(f"site benchmark, {report['load_before']}", flush=True)
    try:
        clips = find_clips(opts.clips_dir, opts.clips)
        with tempfile.TemporaryDirectory(prefix="facemask-sitebench-") as tmp:
            folder = Path(tmp)
            if opts.still:
                clips = [still_clip(c, folder) for c in clips]
            elif opts.hd:
                clips = [hd_clip(c, folder) for c in clips]
            for n in opts.cameras:
                # dealt for the workers the site will have: its own rule, as the app applies it (engine/build.py)
                workers = site_workers(site_settings(clips[:1] * n, workers=opts.workers))
                load = deal_clips(clips, n, workers)
                warm = min(WARMUP_S, opts.duration / 4) if opts.still else 0.0
                subs = [substream_clip(c, folder) for c in load] if opts.substreams else None
                site = run_site(load, opts.duration, detect_fps=opts.detect_fps, warmup=warm, detect_clips=subs,
                                tile=grid_tile(screen, n) if screen else None, workers=opts.workers)
                run = {"site": site, "load": load_line()}
                if opts.still:
                    d = run["decode_only"] = decode_only(load, opts.duration, warmup=warm)
                    run["cpu_ratio"] = round(site["cpu_seconds"] / max(d["cpu_seconds"], 1e-6), 3)
                    run["steady_cpu_ratio"] = round(site["steady_cpu_seconds"] / max(d["steady_cpu_seconds"], 1e-6), 3)
                else:  # the floor of the per-stage table: the same streams decoded only
                    run["decode_only"] = decode_only(subs or load, opts.duration)
                if opts.processes and not opts.still:
                    run["processes"] = run_processes(load, opts.duration)
                report["runs"][n] = run
                for line in format_site(n, site, run.get("processes")):
                    print(line, flush=True)
                for line in stagecpu.format_table(site["stage_cpu"], run["decode_only"]["per_stream_cpu_ms_per_s"]):
                    print(line, flush=True)
                if opts.still:
                    d = run["decode_only"]
                    print(f"  decode only: CPU {d['cpu_seconds']:.1f} s ({d['cpu_share']:.2f} cores); site / decode only = "
                          f"{run['cpu_ratio']:.2f} (whole run), {run['steady_cpu_ratio']:.2f} (after the first {warm:g} s)",
                          flush=True)
                    cams = site["cameras"].values()
                    repeated = sum(c["frames_repeated"] for c in cams) / max(sum(c["frames_captured"] for c in cams), 1)
                    print(f"  frames decoded but not converted to pixels (the last picture stood for them): "
                          f"{repeated * 100:.0f} %", flush=True)
                print(f"  ({run['load']})", flush=True)
            if opts.events:
                ev = compare_events(clips[:4])
                report["events"] = ev
                print("--- events per clip: 4-camera site (clips once, at their own rate) vs each clip alone (every frame)")
                for name, r in ev["cameras"].items():
                    print(f"  {name:6s} {r['clip'][:30]:30s} site {r['site_events']}  alone {r['alone_events']}")
                print(f"  identical: {ev['identical']}")
    except (FacemaskError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if opts.json:
        try:
            write_json(opts.json, report, "benchmark file")
        except FacemaskError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
    return 0
