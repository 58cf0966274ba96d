"""Command line: `python -m facemask_live` / `facemask-live`. A leaf front end: nothing imports it.

Options -> :class:`~facemask_live.core.config.Settings` (:mod:`facemask_live.app.options`), then headless mode here
or the window (:mod:`facemask_live.app.window`); both build the app with :mod:`facemask_live.engine.build`.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from pathlib import Path

from facemask_live.app.options import build_parser, settings_from_args
from facemask_live.core.config import Settings, to_yaml
from facemask_live.core.errors import FacemaskError, exit_code_of
from facemask_live.engine.build import build_pipeline, build_runner, build_site, site_summary_lines, summary_lines
from facemask_live.sources.capture import SourceState, mask_credentials

log = logging.getLogger("facemask_live")

class CredentialFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_credentials(record.getMessage())
        record.args = ()
        return True


def setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("facemask-live: %(message)s"))
    handler.addFilter(CredentialFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)


def write_stats(path: str, stats: dict) -> None:
    from facemask_live.outputs.sinks import write_json

    write_json(path, stats, "stats file")


def run_site_headless(settings: Settings) -> int:
    """Every camera of the site through the multi-camera engine until ``duration``, Ctrl+C or all ended."""
    import threading

    site = build_site(settings)
    stop = threading.Event()
    interrupted = False

    def on_signal(signum, _frame):
        nonlocal interrupted
        interrupted = interrupted or signum == signal.SIGINT
        stop.set()

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        site.start()
        site.wait(settings.duration, stop)
        stats = site.stats()
    finally:
        site.close()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if interrupted:
        print("interrupted", file=sys.stderr)
    for line in site_summary_lines(stats):
        print(mask_credentials(line), file=sys.stderr)
    if settings.output.stats_json:
        write_stats(settings.output.stats_json, stats)
    return 130 if interrupted else 0


def run_headless(settings: Settings) -> int:
    if settings.is_site:
        return run_site_headless(settings)
    pipeline = build_pipeline(settings)
    runner = build_runner(settings, pipeline)
    cap = runner.capture
    bar = None
    if settings.output.progress and not cap.spec.is_live:
        from tqdm import tqdm

        bar = tqdm(
            total=None if cap.loop else cap.frame_count,
            unit="frame",
            desc=Path(cap.spec.name).name[-30:],
            file=sys.stderr,
            mininterval=0.2 if sys.stderr.isatty() else 5.0,
        )
    last_state = [cap.stats.state]

    def progress(result):
        if bar is not None:
            bar.update(1)
        st = cap.stats.state
        if st != last_state[0]:
            if last_state[0] is SourceState.RECONNECTING and st is SourceState.RUNNING:
                log.warning("%s: reconnected", cap.spec.name)
            last_state[0] = st

    interrupted = False

    def on_signal(signum, _frame):
        # Only set a flag here: the loop ends after the frame in hand, then the video is finalised and
        # the logs flushed. An exception thrown at a random point of the loop could leave a worker
        # thread waiting forever. A second Ctrl+C falls back to Python's KeyboardInterrupt.
        nonlocal interrupted
        if signum == signal.SIGINT:
            interrupted = True
            signal.signal(signal.SIGINT, signal.default_int_handler)
        runner.stop()

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    t0 = time.monotonic()
    timer = None
    if settings.duration:
        import threading

        timer = threading.Timer(settings.duration, runner.stop)
        timer.daemon = True
        timer.start()
    try:
        stats = runner.run(progress)
    except KeyboardInterrupt:
        interrupted = True
        runner.close()
        stats = runner.stats
    finally:
        if timer is not None:
            timer.cancel()
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if bar is not None:
            bar.close()
    if interrupted:
        print("interrupted", file=sys.stderr)
    if cap.error is not None:
        raise cap.error if isinstance(cap.error, FacemaskError) else FacemaskError(str(cap.error))
    elapsed = time.monotonic() - t0
    if cap.stats.state is SourceState.ENDED and not cap.spec.is_live:
        print(f"reached the end of {cap.spec.name}", file=sys.stderr)
    for line in summary_lines(stats, cap):
        print(line, file=sys.stderr)
    print(f"time: {elapsed:.1f} s ({stats.processed / elapsed if elapsed else 0:.1f} frames/s)", file=sys.stderr)
    if settings.output.stats_json:
        write_stats(settings.output.stats_json, single_stats(settings, stats, cap, elapsed))
    return 130 if interrupted else 0


def single_stats(settings: Settings, stats, cap, elapsed: float) -> dict:
    """The ``--stats-json`` format for one camera run by the single-source runner (no site figures of
    the shared detector: ``detector_runs`` and the age percentiles are the site engine's)."""
    name = settings.cameras[0].name
    cam = {"state": cap.stats.state.value, "source": cap.spec.name, "frames_captured": cap.stats.captured,
           "frames_processed": stats.processed, "dropped": stats.dropped, "detector_runs": None,
           "frame_age_p50_ms": None, "frame_age_p95_ms": None, "events": stats.violations, "people": stats.people}
    site = {"cameras": 1, "elapsed_s": round(elapsed, 2), "frames_captured": cap.stats.captured,
            "frames_processed": stats.processed, "dropped": stats.dropped, "events": stats.violations}
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return {"cameras": {name: cam}, "site": site, "cpu_seconds": round(r.ru_utime + r.ru_stime, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)

    def action() -> int:
        settings = settings_from_args(args, parser, argv)  # a bad --config file: one error line, exit 2
        setup_logging(settings.verbose)
        if args.print_config:
            print(mask_credentials(to_yaml(settings)), end="")  # passwords from the environment stay hidden
            return 0
        if settings.gui.headless:
            return run_headless(settings)
        from facemask_live.app.window.run import run_window  # says in one line when PyQt5 is missing

        return run_window(settings, args.config)  # one window for one camera or many, over the site engine

    return exit_code_of(action, debug=args.debug, clean=mask_credentials)


def run() -> None:
    """Console-script entry point (`facemask-live`)."""
    sys.exit(main())
