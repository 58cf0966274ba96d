"""A site's cameras shared out over worker processes (``site.workers``, ``--workers N``).

Long because the two ends of one protocol, the worker's loop and the parent's reader, read best side by side.

Why: Python runs one thread at a time per process. Sixteen cameras in one process leave a quarter of a core idle
while their threads queue for the interpreter lock, and fall short of the 16-camera bars; the same sixteen as two
processes of eight met every bar on two cores (``docs/performance.md``, "Fourth pass"). So a site of many live
cameras runs them as frigate runs its cameras, each share in a process of its own. Every worker is a whole engine,
a :class:`~facemask_live.engine.site.Site` built by the same :func:`~facemask_live.engine.build.build_site` for
its share of the cameras, with its own detector and classifier::

    ProcessSite (this process) ── spawns ──▶ worker 1: Site(cam1, cam3, ...) ──┐  every frame's result (no picture),
                               ── spawns ──▶ worker 2: Site(cam2, cam4, ...) ──┤  each camera's figures every second,
      the shared outputs (event log, detections, people log, retention)  ◀────┘  the final figures: a pipe each
      are written here, in the order results arrive; ``on_result`` is called here

Per-camera outputs stay in the worker as in one process: event snapshots and crops, and MQTT with its outbox (an
event is in the outbox before the result that carries it leaves the worker, so a ``kill -9`` of either process
never leaves a logged event that never reaches the broker). A worker that dies, or hangs (sends nothing for
``STALL_S``), is started again with backoff (its cameras show ``failed`` meanwhile), and a worker whose parent is
gone stops: a ``kill -9`` leaves no orphans.
Each worker has a pipe of its own and nothing else is shared between the processes (no queue, lock or event): a
process killed in the middle of a write can break only its own pipe, which is dropped with it.
A result handed to ``on_result`` here carries no picture: its ``frame.image`` has the frame's height and width
and no channels (what a picture would cost the pipe is what the workers are there to save).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from facemask_live.core.errors import FacemaskError
from facemask_live.core.results import FrameResult
from facemask_live.engine.site import EngineLife, camera_totals, close_sinks
from facemask_live.sources.capture import SourceState

log = logging.getLogger(__name__)

# more than eight cameras go to workers of four, at most two per core (measured on two cores, docs/performance.md
# "Fifth pass": 16 cameras in four workers beat two workers of eight, which beat one process)
ONE_PROCESS_UP_TO = 8
CAMERAS_PER_WORKER = 4
WORKERS_PER_CORE = 2
SEND_EVERY_S = 0.05  # a worker sends its results in batches: one pickle and one pipe write per batch
STATS_EVERY_S = 1.0  # and each camera's figures
START_TIMEOUT_S = 120.0  # a worker that has not built its engine by then counts as failed
RETRY_S = (1.0, 30.0)  # a worker that died is started again after this (doubling up to the cap)
STALL_S = 30.0  # a running worker that sent nothing for this long hangs: it is ended, and so started again


def worker_count(settings, specs: Sequence) -> int:
    """How many processes the cameras of ``settings`` run in (1: this process, no workers).

    ``site.workers`` when set; left out, for more than :data:`ONE_PROCESS_UP_TO` cameras, one per
    :data:`CAMERAS_PER_WORKER` (at most :data:`WORKERS_PER_CORE` per core) when every camera is live (a file
    processed frame by frame waits for its reader, which a pipe between processes would only slow down). A window
    with a visitor display keeps its cameras in its own process (the display shows a camera's whole picture)."""
    if len(specs) < 2 or (not settings.gui.headless and settings.visitor.camera):
        return 1
    wanted = settings.site.workers
    if wanted is None:
        if len(specs) <= ONE_PROCESS_UP_TO or any(s.frame_by_frame for s in specs):
            return 1
        wanted = min(WORKERS_PER_CORE * (os.cpu_count() or 1), math.ceil(len(specs) / CAMERAS_PER_WORKER))
    return max(1, min(wanted, len(specs)))


def share_out(names: Sequence[str], workers: int) -> list[list[str]]:
    """Cameras dealt out in turn (cam1 to worker 1, cam2 to worker 2, ...): alike shares of a site listed by door."""
    return [list(names[i::workers]) for i in range(workers)]


def no_picture(result: FrameResult) -> FrameResult:
    """``result`` without its picture, to cross the pipe: ``frame.image`` keeps the frame's height and width (a
    shape some outputs read) and has no channels, so it holds no bytes."""
    h, w = result.frame.image.shape[:2]
    frame = dataclasses.replace(result.frame, image=np.empty((h, w, 0), np.uint8))
    return dataclasses.replace(result, frame=frame)


class Forwarder:
    """In a worker, the one shared output every camera writes into (in place of the parent's event log, detections,
    people log and retention): it keeps each result, without its picture, until the worker sends the batch.
    ``counts_people``: the site hands it each camera's ``counted_label`` (as it does the people log), and the
    label each person in the frame is counted under goes along, for the parent's people log."""

    needs_annotated = False
    counts_people = True

    def __init__(self):
        self._items: list[bytes] = []  # pickled (camera, result, {track id: counted label})
        self._lock = threading.Lock()

    def write(self, result: FrameResult, annotated=None, counted_label: Callable[[int], str | None] | None = None) -> None:
        ids = {f.track_id for f in result.faces if f.track_id is not None}
        labels = {tid: counted_label(tid) for tid in ids} if counted_label is not None else {}
        # pickled now, in the camera's thread: what is sent is this frame as it was written, whatever changes later
        item = pickle.dumps((result.camera or "", no_picture(result), labels), protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            self._items.append(item)

    def take(self) -> list:
        with self._lock:
            items, self._items = self._items, []
        return items

    def close(self) -> None:
        pass


def worker_main(build_site: Callable, settings, names: list[str], index: int, conn, hook, options: dict,
                hold: bool = False) -> None:
    """A worker process: builds the engine of its cameras with ``build_site`` (the app's one builder, handed in by it),
    runs it until the parent says stop (or is gone: its end of the pipe closes) or every camera ended, and sends what
    it produced over ``conn``. ``hold``: once built, its cameras wait for the parent's ``"go"`` (see
    :meth:`ProcessSite.start`)."""
    from facemask_live.core.logs import log_to_terminal
    from facemask_live.core.memory import limit_malloc_arenas
    from facemask_live.engine.site import cpu_seconds

    stop = threading.Event()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches every process of the terminal: the parent decides
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    limit_malloc_arenas()
    log_to_terminal(settings.verbose)
    forward = Forwarder() if options.get("forward") else None
    try:
        site = build_site(settings, hook=hook, annotate=options.get("annotate", False),
                          realtime=options.get("realtime", True), lookahead=options.get("lookahead", True),
                          only=names, shared=[forward] if forward is not None else [])
    except FacemaskError as exc:
        conn.send(("error", str(exc)))
        return
    except Exception as exc:  # noqa: BLE001 - the parent says it in one line
        conn.send(("error", f"internal error: {type(exc).__name__}: {exc}"))
        return
    cpu0 = cpu_seconds()
    tap = site.on_result  # a front end's own on_result in this worker (the window's pictures, the bench's meter)
    if hasattr(tap, "attach"):
        tap.attach(site)
    outgoing, control = getattr(tap, "outgoing", None), getattr(tap, "control", None)

    def figures() -> dict:
        stats = site.stats()
        stats["alive"] = {name: cam.alive for name, cam in site.cameras.items()}
        stats["cpu_seconds"] = round(cpu_seconds() - cpu0, 3)
        return stats

    orphan = False
    try:
        conn.send(("ready", None))
        while hold and not stop.is_set():  # the front end's controls may come first (the window's tile sizes)
            msg = conn.recv()
            if msg == "stop":
                stop.set()
            elif msg == "go":
                hold = False
            elif control is not None:
                control(msg)
        if not stop.is_set():
            site.start()
        next_stats = 0.0
        while not stop.is_set() and any(c.alive for c in site.cameras.values()):
            if forward is not None and (items := forward.take()):
                conn.send(("results", items))
            if outgoing is not None and (payload := outgoing()) is not None:
                conn.send(("hook", payload))
            if time.monotonic() >= next_stats:
                next_stats = time.monotonic() + STATS_EVERY_S
                conn.send(("stats", figures()))
            if conn.poll(SEND_EVERY_S):  # "stop", a front end's control, or the end of the pipe: the parent is gone
                msg = conn.recv()
                if msg == "stop":
                    break
                if control is not None:
                    control(msg)
    except (EOFError, OSError):
        orphan = True
    finally:
        site.close()  # the cameras finish the frame in hand (its result is sent below) and close their outputs
    if orphan:
        return
    with contextlib.suppress(OSError):
        if forward is not None and (items := forward.take()):
            conn.send(("results", items))
        conn.send(("final", {**figures(), "reports": site.reports}))
    conn.close()


@dataclass
class _Worker:
    index: int
    names: list[str]
    settings: object  # what it builds its engine from (a camera added later comes with newer settings)
    process: multiprocessing.process.BaseProcess | None = None
    conn: object = None  # this end of its pipe (None once it closed)
    stats: dict = field(default_factory=dict)  # the latest figures it sent
    final: bool = False  # it sent its final figures: it stopped on purpose
    ready: bool = False
    error: str | None = None
    cpu_before: float = 0.0  # CPU seconds of its earlier lives (it was started again)
    starts: int = 0
    retry_s: float = RETRY_S[0]
    restart_at: float | None = None
    heard_at: float = 0.0  # when it last sent something (monotonic)
    respawn: bool = False  # asked to stop to be started again (one of its cameras was removed)


class RemoteCamera:
    """A camera that runs in a worker, as the site's front ends see a camera: its name, spec, state, figures."""

    # results reach this process after the fact: nobody here can make a worker's file wait for its reader
    frame_by_frame = False
    exception = None  # one camera of many: a camera's failure is its state, never the app's error

    def __init__(self, spec, worker: _Worker):
        self.spec, self.name, self.worker = spec, spec.name, worker

    def stats(self) -> dict:
        return self.worker.stats.get("cameras", {}).get(self.name) or _empty_stats(self.spec)

    @property
    def state(self) -> SourceState:
        return SourceState.from_public(self.stats()["state"])

    @property
    def attempt(self) -> int:
        return self.stats()["attempt"] or 0

    @property
    def processed(self) -> int:
        return self.stats()["frames_processed"]

    @property
    def alive(self) -> bool:
        # a worker that died is started again: its cameras are as alive as a camera that reconnects
        return not self.worker.final and self.worker.stats.get("alive", {}).get(self.name, True)


def _empty_stats(spec) -> dict:
    from facemask_live.engine.site import parse_safe_name

    return {"stats_at": None, "state": SourceState.STARTING.public, "attempt": None, "error": None, "source": parse_safe_name(spec.source),
            "frames_captured": 0, "frames_processed": 0, "frames_repeated": 0, "dropped": 0, "frames_stale": 0, "processed_share": None,
            "detector_runs": 0, "frame_age_p50_ms": None, "frame_age_p95_ms": None, "fps": 0.0, "motion_share": None,
            "reconnects": 0, "events": 0, "people": None, "faces_ignored": 0, "faces_outside": 0, "skipped": 0,
            "flow_held": 0, "people_s": 0.0, "people_looks": 0, "faces_by_label": {}, "people_by_label": {},
            "not_judged": None, "video_note": None, "active_s": 0.0, "detect_per_s": None,
            "detect_per_s_with_people": None, "processed_per_s": None}


class ProcessSite(EngineLife):
    """The engine of a site whose cameras run in worker processes; front ends drive it as a
    :class:`~facemask_live.engine.site.Site`: :meth:`start`, :meth:`wait`, :meth:`stats`, :meth:`close`, ``cameras``.

    build: the builder each worker builds its engine with (:func:`~facemask_live.engine.build.build_site`);
    groups: the camera names of each worker; specs: every camera's spec (by name) for the figures before the first
    report; hook: a picklable factory of each worker's own ``on_result`` (the benchmark's meter, which reports at
    :meth:`Site.close <facemask_live.engine.site.Site.close>`: the reports of every worker are in :attr:`reports`;
    the window's :class:`~facemask_live.app.window.feed.WindowTap`, whose ``outgoing()`` the worker sends and whose
    ``control()`` gets what :meth:`tell` says); on_hook(worker, payload): called here with what it sent;
    classifier: the site's classifier model, loaded here for its labels (the window names them).
    """

    def __init__(self, build: Callable, settings, groups: list[list[str]], specs: dict, *, on_result=None,
                 shared_sinks: Sequence = (), hook=None, on_hook: Callable | None = None, classifier=None,
                 annotate: bool = False, realtime: bool = True, lookahead: bool = True):
        self.build, self.settings, self.classifier = build, settings, classifier
        self.shared_sinks = list(shared_sinks)
        self.on_result, self.on_hook = on_result, on_hook
        self.hook = hook
        self._told: dict[str, object] = {}  # the front end's controls, said again to a worker that starts
        self._send_lock = threading.Lock()  # the front end's thread and the results thread both write to the pipes
        # results cross the pipe only where something here takes them
        self._options = {"annotate": annotate, "realtime": realtime, "lookahead": lookahead,
                         "forward": bool(self.shared_sinks) or on_result is not None}
        self._ctx = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        # replaced, never changed in place, when cameras are added: the results thread reads it meanwhile
        self.workers = [_Worker(i + 1, names, settings) for i, names in enumerate(groups)]
        owner = {name: w for w in self.workers for name in w.names}
        self.cameras = {name: RemoteCamera(spec, owner[name]) for name, spec in specs.items()}  # the settings' order
        self.reports: list = []
        self._reader = threading.Thread(target=self._read, name="site-results", daemon=True)
        self._sink_errors: set[int | str] = set()  # outputs (by index) and the callback whose failure was logged
        self._t0 = time.monotonic()
        self._cpu0 = 0.0
        self._started = self._closed = self._stopping = False

    # -- life -----------------------------------------------------------------------------------------------
    def start(self) -> ProcessSite:
        """Start every worker and wait until each has built its engine; a worker that cannot (a model file missing)
        stops the others and raises its one-line error."""
        from facemask_live.engine.site import cpu_seconds

        if self._started:
            return self
        self._started = True
        for w in self.workers:
            self._spawn(w, hold=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(w.ready for w in self.workers):
            self._receive(0.1)
            failed = next((w for w in self.workers if w.error or (w.conn is None and not w.ready)), None)
            if failed is not None:
                code = failed.process.exitcode if failed.process is not None else None
                failed.error = failed.error or f"worker {failed.index} stopped while starting (exit code {code})"
            elif time.monotonic() > deadline:
                failed = next(w for w in self.workers if not w.ready)
                failed.error = f"worker {failed.index} did not start in {START_TIMEOUT_S:g} s"
            if failed is not None:
                self.close()
                raise FacemaskError(failed.error)
        # every worker built its engine: the cameras start together. Why: a worker's cameras that start while the
        # others still import and load their models (a second or two of both cores) drop their first frames
        for w in self.workers:
            self._send(w, "go")
        # the figures count from here, as a Site's count from its start (the workers' CPU from their engines' start)
        self._t0, self._cpu0 = time.monotonic(), cpu_seconds()
        self._reader.start()
        return self

    def _spawn(self, w: _Worker, hold: bool = False) -> None:
        w.cpu_before += w.stats.get("cpu_seconds", 0.0)
        w.stats = {**w.stats, "cpu_seconds": 0.0}
        w.final, w.error, w.restart_at, w.heard_at = False, None, None, time.monotonic()
        w.starts += 1
        mine, theirs = self._ctx.Pipe()
        process = self._ctx.Process(
            target=worker_main, name=f"facemask-live worker {w.index}", daemon=True,
            args=(self.build, w.settings, w.names, w.index, theirs, self.hook, self._options, hold))
        process.start()
        theirs.close()  # the worker's end lives in the worker alone: its death closes the pipe
        # its pipe before its process: the results thread, which may be looking, never sees a process without a pipe
        w.conn, w.process = mine, process

    @property
    def stopping(self) -> bool:
        return self._stopping

    def close(self) -> None:
        """Stop every worker (each finishes its frames, closes its outputs and sends its final figures), then close
        the shared outputs. Safe to call twice."""
        if self._closed:
            return
        self._closed = self._stopping = True
        for w in self.workers:
            self._send(w, "stop")
        deadline = time.monotonic() + 15.0
        if self._reader.is_alive():
            self._reader.join(max(deadline - time.monotonic(), 0.1))
        else:  # closed while starting: take what is in the pipe
            self._drain(deadline)
        for w in self.workers:
            p = w.process
            if p is not None:
                p.join(max(deadline - time.monotonic(), 0.1))
                if p.is_alive():
                    log.error("worker %d did not stop in time: ended", w.index)
                    p.kill()
                    p.join(1.0)
        close_sinks(self.shared_sinks)

    def _send(self, w: _Worker, msg) -> None:
        conn = w.conn
        if conn is not None:
            with self._send_lock, contextlib.suppress(OSError):  # a worker gone meanwhile: its pipe is dropped
                conn.send(msg)

    def tell(self, kind: str, body, worker: int | None = None) -> None:
        """Say ``(kind, body)`` to the ``hook`` of every worker (the window's tile sizes, pause, enlarged camera), and
        again to each worker that starts later; or once to the worker numbered ``worker``."""
        if worker is None:
            self._told[kind] = body
        for w in self.workers:
            if w.ready and worker in (None, w.index):
                self._send(w, (kind, body))

    def add_camera(self, settings, spec) -> RemoteCamera:
        """A camera added while the site runs (the window's File -> Open, Camera -> Add): a worker of its own, built
        from ``settings`` (which hold it)."""
        if spec.name in self.cameras:
            raise FacemaskError(f"a camera named {spec.name!r} exists already")
        w = _Worker(max(x.index for x in self.workers) + 1, [spec.name], settings)
        self.settings = settings
        if self._started and not self._stopping:
            self._spawn(w)  # ready when it says so (the results thread reads it)
        self.cameras[spec.name] = cam = RemoteCamera(spec, w)
        self.workers = [*self.workers, w]
        return cam

    def remove_camera(self, name: str) -> None:
        """Stop a camera: its worker stops, and is started again for its other cameras (a moment without pictures)."""
        cam = self.cameras.pop(name, None)
        if cam is None:
            return
        w = cam.worker
        w.names = [n for n in w.names if n != name]
        w.respawn = bool(w.names)
        self._send(w, "stop")

    # -- what the workers send ------------------------------------------------------------------------------
    def _read(self) -> None:
        """The results thread: writes the shared outputs and hands results on; restarts a worker that died."""
        while not (self._stopping and self._all_in()):
            self._receive(0.25)
            self._watch(restart=not self._stopping)

    def _all_in(self) -> bool:
        """Every worker's pipe is closed: all it sent was read."""
        return all(w.conn is None for w in self.workers)

    def _drain(self, deadline: float) -> None:
        while time.monotonic() < deadline and not self._all_in():
            self._receive(0.1)

    def _receive(self, timeout: float) -> None:
        """Handle what the workers sent within ``timeout`` seconds; a pipe that ends (its worker stopped or died)
        is closed here."""
        conns = {w.conn: w for w in self.workers if w.conn is not None}
        if not conns:
            time.sleep(timeout)
            return
        for conn in multiprocessing.connection.wait(list(conns), timeout):
            w = conns[conn]
            try:
                msg = conn.recv()
                w.heard_at = time.monotonic()
                self._handle(w, msg)
            except (EOFError, OSError):  # the worker is gone; what it left half-written is dropped with the pipe
                conn.close()
                w.conn = None

    def _handle(self, w: _Worker, msg) -> None:
        kind, body = msg
        if kind == "results":
            for item in body:
                self._write(*pickle.loads(item))
        elif kind == "stats":
            w.stats = body
        elif kind == "hook":
            self._call("on_hook", self.on_hook, w.index, body)
        elif kind == "final":
            w.stats, w.final = body, not w.respawn  # (one that is started again has not stopped for good)
            self.reports.extend(body.get("reports") or [])
        elif kind == "ready":
            w.ready, w.retry_s = True, RETRY_S[0]
            for told in list(self._told.items()):  # (the front end may tell more meanwhile)
                self._send(w, told)
        elif kind == "error":
            w.error = body
            if w.starts > 1:  # an engine that ran once and cannot be built again: say so, try again later
                log.error("worker %d (cameras %s): %s", w.index, ", ".join(w.names), body)

    def _write(self, camera: str, result: FrameResult, labels: dict) -> None:
        for i, sink in enumerate(self.shared_sinks):
            try:
                if getattr(sink, "counts_people", False):  # the people log: each person as their camera counts them
                    sink.write(result, None, counted_label=labels.get)
                else:
                    sink.write(result, None)
            except Exception as exc:  # one output failing must not stop the others, nor the cameras
                if i not in self._sink_errors:
                    self._sink_errors.add(i)
                    log.error("%s: %s", type(sink).__name__, exc)
        self._call("on_result", self.on_result, camera, result, None)

    def _call(self, what: str, callback, *args) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:  # a front end's bug must not stop the shared outputs of every camera
            if what not in self._sink_errors:
                self._sink_errors.add(what)
                log.exception("%s failed (logged once)", what)

    def _watch(self, restart: bool) -> None:
        """A worker that ended without its final figures died (kill -9, out of memory), and one that sent nothing for
        ``STALL_S`` hangs and is ended: its cameras show ``failed``, and it is started again with backoff (their
        counts start afresh in the new worker)."""
        now = time.monotonic()
        for w in self.workers:
            p = w.process
            if p is not None and w.ready and not w.final and p.is_alive() and now - w.heard_at > STALL_S:
                log.error("worker %d (cameras %s) sent nothing for %g s: ended", w.index, ", ".join(w.names), STALL_S)
                p.kill()  # its pipe ends, and it is started again below
            if p is None or w.final or p.is_alive() or w.conn is not None:  # (its pipe is read to the end first)
                continue
            if w.respawn and restart:  # it stopped to leave a removed camera out
                w.respawn, w.ready = False, False
                self._spawn(w)
                continue
            if not w.names:  # its only camera was removed
                continue
            if w.restart_at is None:
                code = p.exitcode
                w.error = w.error or f"worker {w.index} stopped (exit code {code})"
                log.error("worker %d (cameras %s) stopped (exit code %s); starting it again in %g s",
                          w.index, ", ".join(w.names), code, w.retry_s)
                cams = w.stats.get("cameras", {})
                for name in (n for n in w.names if n in self.cameras):
                    cams[name] = {**(cams.get(name) or _empty_stats(self.cameras[name].spec)),
                                  "state": SourceState.FAILED.public, "error": w.error}
                w.stats["cameras"] = cams
                w.restart_at = now + w.retry_s
                w.retry_s = min(w.retry_s * 2, RETRY_S[1])
            elif restart and now >= w.restart_at:
                w.ready = False
                self._spawn(w)

    # -- figures ----------------------------------------------------------------------------------------------
    def stats(self) -> dict:
        """The format of :meth:`Site.stats <facemask_live.engine.site.Site.stats>`: every camera's figures as its
        worker last sent them (each second, and when it stopped); CPU: this process's and every worker's."""
        from facemask_live.engine.site import cpu_seconds

        elapsed = time.monotonic() - self._t0
        cams = {name: cam.stats() for name, cam in self.cameras.items()}
        sites = [w.stats.get("site", {}) for w in self.workers]
        cpu = cpu_seconds() - self._cpu0 + sum(w.cpu_before + w.stats.get("cpu_seconds", 0.0) for w in self.workers)
        busy = [s.get("detector_busy_share") for s in sites if s.get("detector_busy_share") is not None]
        ages = [s.get("frame_age_p95_ms") for s in sites if s.get("frame_age_p95_ms") is not None]
        site = {
            **camera_totals(cams, elapsed),
            "detector_runs": sum(s.get("detector_runs", 0) for s in sites),
            # each worker has a detector: the busiest one says how close the site is to its limit
            "detector_busy_share": max(busy) if busy else None,
            "detector_errors": sum(s.get("detector_errors", 0) for s in sites),
            "frame_age_p95_ms": max(ages) if ages else None,  # the worst worker's (percentiles do not add up)
            "events": sum(s["events"] for s in cams.values()),
            "states": {name: s["state"] for name, s in cams.items()},
            "workers": sum(1 for w in self.workers if w.names),  # (a worker whose cameras were removed stopped)
            "worker_starts": sum(w.starts for w in self.workers),
        }
        return {"cameras": cams, "site": site, "cpu_seconds": round(cpu, 2),
                "cpu_share": round(cpu / elapsed, 3) if elapsed > 0 else None}


