"""Benchmark the real pipeline headless on a video: ``python -m facemask_live.bench --source VIDEO``.

Long because each stage's timing loop lives beside the ones it is compared with.

What it measures, in this order:

1. start-up (unless ``--no-startup``): a fresh ``python -m facemask_live.bench --startup-probe`` builds the
   app exactly as ``facemask-live --headless`` does and processes one frame; the wall time from launching
   the process to its first result, with a breakdown (imports, onnxruntime, models, first frame), and the wall
   time and peak memory of a whole ``python -m facemask_live --headless --max-frames 1`` run;
2. end to end: capture thread -> the engine (one camera; pipelined or serial) -> draw, on ``--frames`` frames as fast as
   possible: frames/s, per-stage median and p95 in ms, faces per frame, peak RSS;
3. with ``--realtime``: the same at the clip's own frame rate, dropping frames like a live camera: the age
   of the newest result behind capture (what the window shows);
4. the detector alone on the same frames (decoding timed separately), for the ratio full pipeline /
   detector only;
5. for comparison, the straightforward loop (decode, detect, one classifier call per face, draw) on the
   same frames with all cores.

``--faces 2..4`` runs on a 2x2 mosaic of the clip (half-size cells, the same frame size as the clip) with
that many faces in view. Prints a table; ``--json FILE`` writes every figure.
"""

from __future__ import annotations

import time

_T_IMPORT = time.perf_counter()  # before any heavy import: start of the start-up probe's clock

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

STAGES = ("decode", "detect", "flow", "preprocess", "classify", "track", "events", "draw", "sinks", "total")
STAGE_HELP = {
    "decode": "reading + decoding a frame (timed in the detector-only pass)",
    "detect": "face detector (frames it ran on)",
    "flow": "optical flow carrying boxes (frames between detector runs)",
    "preprocess": "crop + resize + scale of all faces of a frame",
    "classify": "one batched classifier call",
    "track": "tracker update",
    "events": "violation monitor",
    "draw": "boxes and labels on a copy of the frame",
    "sinks": "the outputs (logs, recording, MQTT) of a frame",
    "total": "all pipeline stages of a frame (work, not wall time)",
}


def _peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM, else ru_maxrss) in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process, all threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _dist(values: list[float]) -> dict:
    """median / p95 / count of seconds, reported in ms."""
    if not values:
        return {"median_ms": None, "p95_ms": None, "count": 0}
    vs = sorted(values)
    p95 = vs[min(len(vs) - 1, int(round(0.95 * (len(vs) - 1))))]
    return {"median_ms": round(statistics.median(vs) * 1000, 3), "p95_ms": round(p95 * 1000, 3), "count": len(vs)}


def _ms_dist(values: list[float]) -> dict | None:
    if not values:
        return None
    vs = sorted(values)
    p95 = vs[min(len(vs) - 1, int(round(0.95 * (len(vs) - 1))))]
    return {"median": round(statistics.median(vs), 1), "p95": round(p95, 1), "max": round(vs[-1], 1)}


# ------------------------------------------------------------------------------------------ options
def build_parser() -> argparse.ArgumentParser:
    from facemask_live.app.options import positive_int
    from facemask_live.detection.detect import DETECTORS

    p = argparse.ArgumentParser(
        prog="python -m facemask_live.bench",
        description="Measure the facemask-live pipeline headless on a video: frames/s, per-stage times, memory, start-up.",
        epilog="Many cameras: python -m facemask_live.bench --cameras N [N ...] (e.g. --cameras 1 8 16: a site of each "
               "size, clips played like cameras, CPU per camera and stage); its options: --cameras 2 --help.",
    )
    p.add_argument("--source", "-s", required=True, help="video file to measure on")
    p.add_argument("--frames", type=positive_int, default=200, help="frames to process (default: 200, at most the clip's length)")
    p.add_argument("--json", metavar="FILE", help="also write every figure to FILE")
    p.add_argument("--model", metavar="PATH", help="classifier metadata .json (default: facemask_live/models/mask_classifier.json)")
    p.add_argument("--detector", choices=DETECTORS, help="face detector (default: as the app)")
    p.add_argument("--detector-dir", metavar="DIR", help="folder with the face detector files (default: facemask_live/models/)")
    p.add_argument("--detector-size", type=positive_int, metavar="PX", help="side of the detector's network input (default: as the app)")
    p.add_argument("--threads", type=positive_int, metavar="N", help="threads for detector and classifier (default: as the app)")
    p.add_argument(
        "--detect-threads", type=positive_int, metavar="N", help="OpenCV threads (cv2.setNumThreads), overrides --threads"
    )
    p.add_argument("--classify-threads", type=positive_int, metavar="N", help="classifier runtime threads, overrides --threads")
    p.add_argument(
        "--detect-every",
        type=positive_int,
        default=None,
        metavar="N",
        help="detector on every Nth frame, optical flow in between (default: as the app)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--pipelined",
        dest="pipelined",
        action="store_true",
        default=None,
        help="detect the next frame in a second thread (the app's default)",
    )
    mode.add_argument(
        "--serial", dest="pipelined", action="store_false", help="one thread: detect, classify, track, draw in turn"
    )
    p.add_argument("--no-track", dest="track", action="store_false", help="without tracker and event monitor")
    p.add_argument(
        "--faces", type=int, choices=(1, 2, 3, 4), default=1, help="faces in view: 2-4 use a 2x2 mosaic of the clip (default: 1)"
    )
    p.add_argument(
        "--realtime", action="store_true", help="also run at the clip's own frame rate and report how old the shown frame is"
    )
    p.add_argument(
        "--detector-only-threads", type=positive_int, metavar="N", help="threads for the detector-only pass (default: all cores)"
    )
    p.add_argument("--no-startup", dest="startup", action="store_false", help="skip the start-up measurement (two subprocesses)")
    p.add_argument("--startup-probe", action="store_true", help=argparse.SUPPRESS)
    return p


def model_argv(opts) -> list[str]:
    """The model options of this benchmark run as app command-line arguments."""
    argv = []
    for flag, value in (("--model", opts.model), ("--detector", opts.detector), ("--detector-dir", opts.detector_dir)):
        if value:
            argv += [flag, value]
    if opts.detector_size:  # a test-time candidate (issue 12): measured at the size evaluate scores it
        argv += ["--detector-size", str(opts.detector_size)]
    return argv


def app_settings(opts, source: str, frames: int, realtime: bool = False, threads: int | None = None):
    """The app's settings (its defaults, headless) for this benchmark run."""
    from facemask_live.app.options import load_settings

    return load_settings(
        ["--headless", "--no-progress", "--source", source, "--max-frames", str(frames), *model_argv(opts)]
        + (["--threads", str(threads)] if threads else [])
        + ([] if opts.track else ["--no-track"])
        + (["--realtime"] if realtime else [])
        + (["--detect-every", str(opts.detect_every)] if opts.detect_every is not None else [])
    )


# ------------------------------------------------------------------------------------------ start-up
def startup_probe(opts) -> int:
    """Child process: build the app as the CLI does, process one frame, print the timings as JSON."""
    marks = {}
    from facemask_live.engine import build as app

    marks["import_app_s"] = time.perf_counter() - _T_IMPORT
    t = time.perf_counter()
    try:
        import onnxruntime  # noqa: F401  (what the classifier imports; timed on its own)
    except ImportError:
        pass
    marks["import_onnxruntime_s"] = time.perf_counter() - t
    settings = app_settings(opts, opts.source, 1)
    import threading

    first = threading.Event()
    found: list = []

    def on_result(_camera, result, _annotated):
        found.append(result)
        first.set()

    t = time.perf_counter()
    site = app.build_site(settings, on_result=on_result, realtime=False)
    marks["load_models_s"] = time.perf_counter() - t
    t = time.perf_counter()
    try:
        site.start()
        while not first.wait(0.05) and any(c.alive for c in site.cameras.values()):
            pass
    finally:
        site.close()
    marks["first_frame_s"] = time.perf_counter() - t
    result = found[0] if found else None
    marks["since_import_s"] = time.perf_counter() - _T_IMPORT
    marks["faces"] = None if result is None else len(result.faces)
    print("FIRST-RESULT " + json.dumps(marks), flush=True)
    return 0 if result is not None else 3


def measure_startup(opts, source: str) -> dict:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    probe = [sys.executable, "-m", "facemask_live.measure.bench", "--startup-probe", "--source", source, *model_argv(opts)]
    if not opts.track:
        probe.append("--no-track")
    out: dict = {}
    t0 = time.perf_counter()
    proc = subprocess.Popen(probe, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    marks = None
    for line in proc.stdout:
        if line.startswith("FIRST-RESULT "):
            out["first_result_s"] = round(time.perf_counter() - t0, 3)
            marks = json.loads(line.split(" ", 1)[1])
    err = proc.stderr.read()
    proc.wait()
    if marks is None:
        last = err.strip().splitlines()[-1] if err.strip() else f"exit code {proc.returncode}"
        raise RuntimeError(f"start-up probe failed: {last}")
    out["breakdown_s"] = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in marks.items()}

    cmd = [sys.executable, "-m", "facemask_live", "--headless", "--no-progress", "--max-frames", "1", "--source", source,
           *model_argv(opts)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out["cli_run_s"] = round(time.perf_counter() - t0, 3)
    out["cli_exit_code"] = proc.returncode
    out["cli_peak_rss_mb"] = round(usage.ru_maxrss / 1024.0, 1)
    out["cli_command"] = " ".join(["python", *cmd[1:]])
    proc.stderr.close()
    return out


# ------------------------------------------------------------------------------------------ mosaic
def make_mosaic(source: str, faces: int, frames: int, folder: Path) -> tuple[str, int]:
    """A 2x2 mosaic clip of ``source`` with ``faces`` cells filled (half-size cells, other cells black).

    Cell k plays the clip from a different point (k * 1/4 of its length) so the faces move differently.
    Returns (path, frames written)."""
    import cv2
    import numpy as np

    from facemask_live.core.errors import SourceError

    readers = []
    first = cv2.VideoCapture(source)
    total = int(first.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    fps = first.get(cv2.CAP_PROP_FPS) or 25.0
    first.release()
    for k in range(faces):
        cap = cv2.VideoCapture(source)
        if total > 4:
            cap.set(cv2.CAP_PROP_POS_FRAMES, k * (total // 4))
        readers.append(cap)
    path = folder / f"mosaic{faces}.mp4"
    writer = None
    written = 0
    try:
        for _ in range(frames):
            cells = []
            for cap in readers:
                ok, img = cap.read()
                if not ok:  # wrap around
                    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    ok, img = cap.read()
                if not ok:
                    break
                cells.append(img)
            if len(cells) < faces:
                break
            h, w = cells[0].shape[:2]
            ch, cw = h // 2, w // 2
            canvas = np.zeros((ch * 2, cw * 2, 3), np.uint8)
            for k, img in enumerate(cells):
                r, c = divmod(k, 2)
                canvas[r * ch : (r + 1) * ch, c * cw : (c + 1) * cw] = cv2.resize(img, (cw, ch), interpolation=cv2.INTER_AREA)
            if writer is None:
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (cw * 2, ch * 2))
                if not writer.isOpened():
                    raise SourceError(f"cannot write the mosaic clip {path} (no mp4v encoder in this OpenCV)")
            writer.write(canvas)
            written += 1
    finally:
        for cap in readers:
            cap.release()
        if writer is not None:
            writer.release()
    if written == 0:
        raise SourceError(f"cannot read video {source}: no decodable frame")
    return str(path), written


# ------------------------------------------------------------------------------------------ runs
def run_pipeline(opts, source: str, frames: int, realtime: bool, settings: dict):
    """The app's engine (a site of one camera, as ``--source`` runs it) on ``source``; (summary, per-frame records)."""
    from facemask_live.engine import build as app

    app_config = app_settings(opts, source, frames, realtime=realtime, threads=settings["detect_threads"])
    classifier = app.build_classifier(app_config, threads=settings["classify_threads"])
    stamps: list[float] = []
    timings: list[dict] = []
    faces: list[int] = []
    ages: list[float] = []
    fps: list[float | None] = [None]
    site = None

    def on_result(_camera, result, _annotated):
        now = time.perf_counter()
        stamps.append(now)
        timings.append(dict(result.timings))
        faces.append(len(result.faces))
        ages.append((time.monotonic() - result.frame.captured_at) * 1000.0)
        if fps[0] is None:
            cap = next(iter(site.cameras.values())).capture
            fps[0] = cap.fps if cap is not None else None

    site = app.build_site(app_config, on_result=on_result, annotate=True, realtime=realtime, classifier=classifier,
                          lookahead=settings["pipelined"])
    camera = next(iter(site.cameras.values()))
    c0 = _cpu_seconds()
    t0 = time.perf_counter()
    with site:
        site.wait()
    wall = time.perf_counter() - t0
    cpu = _cpu_seconds() - c0
    if camera.exception is not None:
        raise camera.exception
    n = len(stamps)
    steady = (n - 1) / (stamps[-1] - stamps[0]) if n > 1 and stamps[-1] > stamps[0] else None
    return {
        "processed": n,
        "wall_s": round(wall, 3),
        "fps": round(steady, 2) if steady else None,
        "fps_wall": round(n / wall, 2) if wall > 0 else None,
        "cpu_ms_per_frame": round(cpu / n * 1000, 2) if n else None,
        "timings": timings,
        "faces": faces,
        "frame_age_ms": ages,
        "dropped": camera.stats()["dropped"],
        "capture_fps": fps[0],
        "pipeline": camera.pipeline,
    }


def detector_only(det, source: str, frames: int, threads: int) -> dict:
    """The detector ``det`` (the pipeline's own) alone on the first ``frames`` frames; decoding timed separately."""
    import cv2

    cv2.setNumThreads(threads)
    cap = cv2.VideoCapture(source)
    decode, detect, faces = [], [], []
    ok, img = cap.read()
    if ok:
        det.detect(img)  # warm-up, not counted
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    cpu = 0.0
    for _ in range(frames):
        t0 = time.perf_counter()
        ok, img = cap.read()
        t1 = time.perf_counter()
        if not ok:
            break
        c1 = _cpu_seconds()
        found = det.detect(img)
        t2 = time.perf_counter()
        cpu += _cpu_seconds() - c1
        decode.append(t1 - t0)
        detect.append(t2 - t1)
        faces.append(len(found))
    cap.release()
    total = sum(detect)
    return {
        "frames": len(detect),
        "threads": threads,
        "fps": round(len(detect) / total, 2) if total > 0 else None,
        "cpu_ms_per_frame": round(cpu / len(detect) * 1000, 2) if detect else None,
        "detect": _dist(detect),
        "decode": _dist(decode),
        "faces_mean": round(sum(faces) / len(faces), 3) if faces else 0.0,
    }


def plain_loop(opts, det, source: str, frames: int, threads: int) -> dict:
    """The straightforward implementation, for comparison: one loop of decode -> detect (``det``, the
    pipeline's own detector) -> one classifier call per face -> draw, with ``threads`` for both runtimes."""
    import cv2

    from facemask_live.core.results import Frame, FrameResult
    from facemask_live.detection.classify import MaskClassifier, default_model_path
    from facemask_live.outputs.annotate import annotate

    cv2.setNumThreads(threads)
    clf = MaskClassifier(opts.model or default_model_path(), threads=threads)
    cap = cv2.VideoCapture(source)
    n = 0
    ok, img = cap.read()
    if ok:  # warm-up, not counted
        for face in det.detect(img):
            clf.predict([crop_of(img, face, clf.crop_margin)])
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    t0 = time.perf_counter()
    for i in range(frames):
        ok, img = cap.read()
        if not ok:
            break
        faces = det.detect(img)
        for face in faces:
            probs = clf.predict([crop_of(img, face, clf.crop_margin)])[0]
            k = int(probs.argmax())
            face.label, face.prob = clf.labels[k], float(probs[k])
        annotate(img, FrameResult(Frame(img, i, 0.0, 0.0), faces))
        n += 1
    wall = time.perf_counter() - t0
    cap.release()
    return {"frames": n, "threads": threads, "fps": round(n / wall, 2) if wall > 0 else None}


def crop_of(image, face, margin: float):
    from facemask_live.engine.pipeline import crop_faces

    return crop_faces(image, [face], margin)[0]


# ------------------------------------------------------------------------------------------ report
def machine_info() -> dict:
    info = {
        "cpu_model": _cpu_model(),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    import cv2
    import numpy as np

    info["opencv"] = cv2.__version__
    info["numpy"] = np.__version__
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        info["onnxruntime"] = None
    return info


def format_table(rep: dict) -> str:
    s = rep["settings"]
    e2e, det = rep["end_to_end"], rep["detector_only"]
    lines = [
        f"facemask-live benchmark: {rep['source']} ({rep['frame_size'][0]}x{rep['frame_size'][1]}, faces per frame "
        f"{rep['faces_per_frame']['mean']:.2f}), {e2e['processed']} frames",
        f"machine: {rep['machine']['cpu_model']}, {rep['machine']['nproc']} cores, load {rep['machine']['loadavg_1min']}",
        f"settings: detector {s['detector']} {s['detector_input']}, {'pipelined' if s['pipelined'] else 'serial'}, detect threads {s['detect_threads']}, "
        f"classify threads {s['classify_threads']}, detect every {s['detect_every']}, tracking {'on' if s['track'] else 'off'}, "
        f"classifier {s['classifier_engine']} {s['classifier_input']}",
        "",
        f"{'end to end':<28}{e2e['fps'] or 0:>8.1f} frames/s   (wall incl. warm-up {e2e['fps_wall'] or 0:.1f}; "
        f"CPU {e2e['cpu_ms_per_frame'] or 0:.1f} ms per frame, all threads)",
        f"{'detector only':<28}{det['fps'] or 0:>8.1f} frames/s   ({det['threads']} threads; CPU {det['cpu_ms_per_frame'] or 0:.1f} ms per frame)",
        f"{'end to end / detector only':<28}{(rep['ratio_to_detector'] or 0) * 100:>7.0f} %",
        f"{'plain loop (for comparison)':<28}{rep['plain_loop']['fps'] or 0:>8.1f} frames/s   "
        f"(decode, detect, one classifier call per face, draw; {rep['plain_loop']['threads']} threads)",
        "",
        f"{'stage':<12}{'median ms':>10}{'p95 ms':>10}{'frames':>8}",
    ]
    for name in STAGES:
        d = rep["stages"][name]
        if d["count"]:
            lines.append(f"{name:<12}{d['median_ms']:>10.2f}{d['p95_ms']:>10.2f}{d['count']:>8}")
        else:
            lines.append(f"{name:<12}{'-':>10}{'-':>10}{0:>8}")
    lines.append("")
    lines.append(f"{'peak RSS':<28}{rep['peak_rss_mb']:>8.0f} MB")
    st = rep["startup"]
    if st:
        b = st["breakdown_s"]
        lines.append(
            f"{'start-up to first result':<28}{st['first_result_s']:>8.2f} s   "
            f"(imports {b['import_app_s']:.2f}, onnxruntime {b['import_onnxruntime_s']:.2f}, "
            f"models {b['load_models_s']:.2f}, first frame {b['first_frame_s']:.2f})"
        )
        lines.append(f"{'whole 1-frame CLI run':<28}{st['cli_run_s']:>8.2f} s   (peak RSS {st['cli_peak_rss_mb']:.0f} MB)")
    rt = rep["realtime"]
    if rt:
        age = rt["frame_age_ms"] or {}
        lines.append(
            f"{'realtime: processed':<28}{rt['fps'] or 0:>8.1f} frames/s of {rt['source_fps'] or 0:.0f}, dropped {rt['dropped']}"
        )
        lines.append(
            f"{'realtime: shown frame age':<28}{age.get('median', 0):>8.1f} ms median, p95 {age.get('p95', 0):.1f}, max {age.get('max', 0):.1f}"
        )
    return "\n".join(lines)


def run(opts) -> dict:
    from facemask_live.core.errors import SourceError
    from facemask_live.sources.capture import parse_source

    spec = parse_source(opts.source)
    if spec.kind != "video":
        raise SourceError(f"--source must be a video file, got a {spec.kind}: {spec.name}")
    import cv2

    cap = cv2.VideoCapture(str(spec.target))
    ok, first = cap.read()
    length = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    cap.release()
    if not ok:
        raise SourceError(f"cannot read video {spec.name}: no decodable frame (corrupt file or not a video)")
    frames = min(opts.frames, length) if length > 0 else opts.frames
    cores = cv2.getNumberOfCPUs() or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="facemask-bench-") as tmp:
        source = str(spec.target)
        if opts.faces > 1:
            source, frames = make_mosaic(source, opts.faces, frames, Path(tmp))
        startup = measure_startup(opts, source) if opts.startup else None

        from facemask_live.core.config import Settings

        defaults = Settings()
        default_threads = defaults.threads or cores
        settings = {
            "pipelined": True if opts.pipelined is None else opts.pipelined,
            "detect_threads": opts.detect_threads or opts.threads or default_threads,
            "classify_threads": opts.classify_threads or opts.threads or defaults.classifier_threads(),
            "detect_every": opts.detect_every or defaults.detector.detect_every,
            "track": opts.track,
        }
        e2e = run_pipeline(opts, source, frames, False, settings)
        peak = _peak_rss_mb()
        clf = e2e["pipeline"].classifier
        settings["classifier_engine"] = getattr(clf, "engine", type(clf).__name__)
        settings["classifier_input"] = "x".join(str(v) for v in getattr(clf, "input_size", ()))
        settings["detector"] = getattr(e2e["pipeline"].detector, "name", type(e2e["pipeline"].detector).__name__)
        settings["detector_input"] = getattr(e2e["pipeline"].detector, "input_size", None)
        realtime = None
        if opts.realtime:
            rt = run_pipeline(opts, source, frames, True, settings)
            realtime = {
                "processed": rt["processed"],
                "fps": rt["fps"],
                "source_fps": rt["capture_fps"],
                "dropped": rt["dropped"],
                "frame_age_ms": _ms_dist(rt["frame_age_ms"][1:] if len(rt["frame_age_ms"]) > 1 else rt["frame_age_ms"]),
            }
        detector = e2e["pipeline"].detector
        det = detector_only(detector, source, frames, opts.detector_only_threads or cores)
        plain = plain_loop(opts, detector, source, frames, cores)
        cv2.setNumThreads(settings["detect_threads"])

    stages = {name: _dist([t[name] for t in e2e["timings"][1:] if name in t]) for name in STAGES if name != "decode"}
    stages["decode"] = det["decode"]
    stages = {name: stages[name] for name in STAGES}
    faces = e2e["faces"]
    h, w = first.shape[:2]
    return {
        "tool": "facemask_live.measure.bench",
        "command": " ".join(["python -m facemask_live.bench", *sys.argv[1:]]),
        "source": spec.name,
        "faces_mode": opts.faces,
        "frame_size": [w, h] if opts.faces == 1 else [w // 2 * 2, h // 2 * 2],
        "frames": e2e["processed"],
        "machine": machine_info(),
        "settings": settings,
        "end_to_end": {k: e2e[k] for k in ("processed", "fps", "fps_wall", "wall_s", "dropped", "cpu_ms_per_frame")},
        "fps": e2e["fps"],
        "detector_only": det,
        "detector_only_fps": det["fps"],
        "ratio_to_detector": round(e2e["fps"] / det["fps"], 3) if e2e["fps"] and det["fps"] else None,
        "plain_loop": plain,
        "plain_loop_fps": plain["fps"],
        "stages": stages,
        "faces_per_frame": {
            "mean": round(sum(faces) / len(faces), 3) if faces else 0.0,
            "min": min(faces) if faces else 0,
            "max": max(faces) if faces else 0,
        },
        "peak_rss_mb": round(peak, 1),
        "startup": startup,
        "startup_s": startup["first_result_s"] if startup else None,
        "realtime": realtime,
        "frame_age_ms": realtime["frame_age_ms"] if realtime else None,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    k = args.index("--cameras") if "--cameras" in args else -1
    counts = list(itertools.takewhile(lambda a: not a.startswith("-"), args[k + 1:])) if k >= 0 else []
    if counts == ["1"] and ("--source" in args or "-s" in args):
        # one camera of a clip of one's own: this benchmark (end to end against the detector alone and the plain
        # loop); several counts (``--cameras 1 8 16``) all go to the site benchmark, a site of one included
        args = args[:k] + args[k + 2:]
        argv = args
    if "--cameras" in args:  # many cameras in one process: facemask_live.measure.sitebench
        from facemask_live.measure.sitebench import main as site_main

        return site_main(argv)
    opts = build_parser().parse_args(argv)
    from facemask_live.core.errors import FacemaskError
    from facemask_live.outputs.sinks import write_json

    try:
        if opts.startup_probe:
            return startup_probe(opts)
        rep = run(opts)
        if opts.json:
            write_json(opts.json, rep, "benchmark file")
    except FacemaskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(format_table(rep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
