"""Where a site's CPU goes: per camera and per stage, CPU ms per second of video (``bench --cameras N``).

Costs nothing while not benchmarking: it reads what the engine already keeps, and the kernel's counts.

- Per thread, the CPU time the kernel counted (``/proc/self/task/TID/stat``, user + system, since the meter
  was made): each camera's thread (motion gate, optical flow, tracking, events, drawing, sinks, hand-off) and the site's
  one detector thread (detection and classification for every camera).
- Decoding is the rest of the process's CPU (``getrusage``): the capture and reader threads and FFmpeg's own
  decoding threads (``av:h264:*``, not Python threads, and new ones each time a looped clip is reopened), shared
  out to the cameras by the pixels they decoded. Threads that are neither (the main thread, model loading, thread
  pools) are left out.
- Per stage, the wall times the engine puts in every ``FrameResult.timings``, summed per camera by
  :class:`StageMeter` (the site's ``on_result``). A thread's CPU is shared out over its stages in proportion to
  their wall times (on two shared cores a stage's wall time is its CPU plus its waits, alike for every stage of
  the thread); the hand-off to ``on_result`` (the window's) is timed on its own with ``time.thread_time``, and
  the CPU of a thread named :data:`WINDOW_THREAD` (the GUI thread's stand-in, which draws the pictures it takes
  late) is added to it, shared out by frames. The detector thread's CPU goes to the cameras in proportion to their
  detection + classification wall time.
- For the whole machine, the kernel's counts in ``/proc/stat`` over the same time: the cores this process used,
  those other processes used, those idle, and those the hypervisor took (``steal``): a run that falls behind while
  other processes or the host take cores is told from one where the site itself is short of them.
"""

from __future__ import annotations

import os
import resource
import time
from collections import defaultdict
from pathlib import Path

CAMERA_STAGES = ("motion", "flow", "track", "events", "draw", "sinks")  # timed in the camera thread
DETECTOR_STAGES = ("detect", "preprocess", "classify", "quality")  # timed in the detector thread
WINDOW_THREAD = "window"  # the name of the thread that stands in for the window (sitebench.WindowHandoff)
COLUMNS = ("decode", "motion", "flow", "detect", "classify", "track+events", "draw", "sinks", "hand-off")


def process_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def task_cpu() -> dict[int, float]:
    """{thread id: CPU seconds} of every live thread of this process (empty where /proc is not there)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for task in Path("/proc/self/task").glob("*"):
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": proc(5) fields 3..
        except OSError:  # ended meanwhile
            continue
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return out


def host_cpu() -> list[int] | None:
    """The machine's CPU counters (``/proc/stat``: user, nice, system, idle, iowait, irq, softirq, steal), None
    where there is no /proc."""
    try:
        return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None


def host_share(before: list[int] | None, after: list[int] | None, process_s: float, seconds: float) -> dict | None:
    """Cores of the machine over ``seconds``: used by this process (``process_s`` CPU seconds), by the others,
    idle (incl. waiting for disk), and stolen by the hypervisor."""
    if before is None or after is None or seconds <= 0:
        return None
    d = [b - a for a, b in zip(before, after)]
    tick = os.sysconf("SC_CLK_TCK")
    busy = (d[0] + d[1] + d[2] + d[5] + d[6]) / tick / seconds
    this = process_s / seconds
    return {"this_process": round(this, 2), "other_processes": round(max(busy - this, 0.0), 2),
            "idle": round((d[3] + d[4]) / tick / seconds, 2), "steal": round(d[7] / tick / seconds, 2)}


class StageMeter:
    """A site's ``on_result`` that sums each camera's stage wall times and the CPU of the hand-off to ``forward``
    (if any). Made before the site starts: the process and thread counts are taken from then on."""

    def __init__(self, forward=None):
        self.forward = forward
        self.wall: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.frames: dict[str, int] = defaultdict(int)
        self.pixels: dict[str, float] = defaultdict(float)
        self.handoff: dict[str, float] = defaultdict(float)
        self.process0, self.tasks0, self.host0, self.t0 = process_cpu(), task_cpu(), host_cpu(), time.monotonic()

    def __call__(self, camera: str, result, annotated) -> None:
        row = self.wall[camera]
        for key, seconds in result.timings.items():
            row[key] += seconds
        self.frames[camera] += 1
        h, w = result.frame.image.shape[:2]
        self.pixels[camera] += h * w
        if self.forward is not None:
            t0 = time.thread_time()  # this is the camera's thread: its own CPU
            self.forward(camera, result, annotated)
            self.handoff[camera] += time.thread_time() - t0

    def since(self, tasks: dict[int, float], tid) -> float:
        return max(tasks.get(tid, 0.0) - self.tasks0.get(tid, 0.0), 0.0) if tid is not None else 0.0


def site_cpu(site, meter: StageMeter, seconds: float) -> dict:
    """Per camera, CPU ms per second of video for each of :data:`COLUMNS`, from a running ``site`` (call it before
    ``site.close()``: the threads' counts go with them) and the ``meter`` that was its ``on_result``;
    ``seconds``: how long the cameras played."""
    tasks, process = task_cpu(), process_cpu() - meter.process0
    cams = site.cameras
    detector = meter.since(tasks, getattr(site._thread, "native_id", None))
    own = {name: meter.since(tasks, getattr(cam._thread, "native_id", None)) for name, cam in cams.items()}
    engine = {getattr(site._thread, "native_id", None)} | {getattr(c._thread, "native_id", None) for c in cams.values()}
    window = _window_threads()  # the bench's stand-in for the GUI thread draws the pictures it takes late
    gui = sum(meter.since(tasks, tid) for tid in window)
    decoders = {tid for tid in tasks if tid not in engine | window and _decoding(tid)}
    # what is left when the engine's threads and the non-decoding ones (main thread, pools) are taken out
    others = sum(meter.since(tasks, tid) for tid in tasks if tid not in engine | window and tid not in decoders)
    decoding = max(process - detector - sum(own.values()) - gui - others, 0.0)
    frames_all = sum(meter.frames.get(name, 0) for name in cams) or 1
    pixels = sum(meter.pixels.values()) or 1.0
    det_wall = {name: sum(meter.wall[name].get(k, 0.0) for k in DETECTOR_STAGES) for name in cams}
    det_total = sum(det_wall.values()) or 1.0
    out = {}
    for name in cams:
        wall = meter.wall[name]
        row = dict.fromkeys(COLUMNS, 0.0)
        row["decode"] = decoding * meter.pixels[name] / pixels
        share, d = detector * det_wall[name] / det_total, det_wall[name] or 1.0
        row["detect"] = share * wall.get("detect", 0.0) / d
        row["classify"] = share - row["detect"]
        staged = max(own[name] - meter.handoff[name], 0.0)
        row["hand-off"] = meter.handoff[name] + gui * meter.frames.get(name, 0) / frames_all
        cam_wall = sum(wall.get(k, 0.0) for k in CAMERA_STAGES) or 1.0
        for col, keys in (("motion", ("motion",)), ("flow", ("flow",)), ("track+events", ("track", "events")), ("draw", ("draw",)),
                          ("sinks", ("sinks",))):
            row[col] = staged * sum(wall.get(k, 0.0) for k in keys) / cam_wall
        out[name] = {k: round(v * 1000.0 / max(seconds, 1e-9), 1) for k, v in row.items()}
        out[name]["total"] = round(sum(out[name][k] for k in COLUMNS), 1)
        out[name]["frames"] = meter.frames[name]
    return {"cameras": out, "detector_thread_cpu_s": round(detector, 2), "decoding_cpu_s": round(decoding, 2),
            "other_threads_cpu_s": round(others, 2), "process_cpu_s": round(process, 2),
            "host_cores": host_share(meter.host0, host_cpu(), process, time.monotonic() - meter.t0)}


def merge(reports: list[dict], names: list[str], host0: list[int] | None, process_s: float, seconds: float) -> dict:
    """The :func:`site_cpu` reports of every process of a site as one (cameras in ``names`` order); the machine
    line over ``seconds`` from ``host0``, with ``process_s`` the CPU of all the site's processes."""
    cams = {k: v for r in reports for k, v in r["cameras"].items()}
    out = {"cameras": {n: cams[n] for n in names if n in cams}}
    for key in ("detector_thread_cpu_s", "decoding_cpu_s", "other_threads_cpu_s", "process_cpu_s"):
        out[key] = round(sum(r[key] for r in reports), 2)
    out["host_cores"] = host_share(host0, host_cpu(), process_s, seconds)
    return out


def _window_threads() -> set:
    """The native ids of live threads named :data:`WINDOW_THREAD`."""
    import threading

    return {t.native_id for t in threading.enumerate() if t.name == WINDOW_THREAD and t.native_id is not None}


def _decoding(tid: int) -> bool:
    """A capture, reader or FFmpeg thread: named by Python ``capture[...]`` / ``reader[...]``, or by FFmpeg ``av:...``."""
    import threading

    names = {t.native_id: t.name for t in threading.enumerate()}
    name = names.get(tid)
    if name is not None:
        return name.startswith(("capture[", "reader["))
    try:
        return Path(f"/proc/self/task/{tid}/comm").read_text().startswith("av:")
    except OSError:
        return True  # gone meanwhile: count it with the rest of decoding


def format_table(stage: dict, floor_ms: list[float] | None) -> list[str]:
    """The per-camera rows of :func:`site_cpu`, with each camera's decode-only floor (CPU ms per s) beside them."""
    head = "".join(f"{c:>13s}" for c in (*COLUMNS, "total", "decode only"))
    lines = [f"  CPU ms per second of video, per camera and stage (detector thread {stage['detector_thread_cpu_s']:.1f} s):",
             f"  {'camera':6s}{head}"]
    for i, (name, row) in enumerate(stage["cameras"].items()):
        floor = f"{floor_ms[i]:13.1f}" if floor_ms and i < len(floor_ms) else f"{'-':>13s}"
        lines.append(f"  {name:6s}" + "".join(f"{row[c]:13.1f}" for c in (*COLUMNS, "total")) + floor)
    host = stage.get("host_cores")
    if host:
        lines.append(f"  the machine meanwhile, in cores: this process {host['this_process']:.2f}, other processes "
                     f"{host['other_processes']:.2f}, idle {host['idle']:.2f}, taken by the host (steal) {host['steal']:.2f}")
    return lines


def floor_per_stream(clips, frames: list[int], cpu: float, seconds: float) -> list[float]:
    """Decode-only CPU ms per second of video of each stream: ``cpu`` (the whole decode-only run's) shared out by
    the pixels each stream decoded (``frames`` of each clip's size), as :func:`site_cpu` shares decoding out."""
    import cv2

    pixels = []
    for clip, n in zip(clips, frames):
        cap = cv2.VideoCapture(str(clip))
        pixels.append(n * cap.get(cv2.CAP_PROP_FRAME_WIDTH) * cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        cap.release()
    total = sum(pixels) or 1.0
    return [round(cpu * p / total * 1000.0 / max(seconds, 1e-9), 1) for p in pixels]
