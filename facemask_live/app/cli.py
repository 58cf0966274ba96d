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
from facemask_live.core.errors import exit_code_of
from facemask_live.core.logs import log_to_terminal, mask_credentials
from facemask_live.core.memory import limit_malloc_arenas
from facemask_live.engine.api import Monitor
from facemask_live.engine.build import camera_summary_lines, site_summary_lines
from facemask_live.sources.capture import SourceState

log = logging.getLogger("facemask_live")


class ProgressBar:
    """A progress bar for one file processed frame by frame (none for live sources or several cameras)."""

    def __init__(self, settings: Settings):
        self.bar = None
        self.wanted = settings.output.progress and len(settings.cameras) == 1
        self.total: int | None = None  # the file's length, once its capture is open

    def __call__(self, camera: str, result, annotated) -> None:
        if not self.wanted:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, unit="frame", desc=Path(result.frame.source).name[-30:], file=sys.stderr,
                            mininterval=0.2 if sys.stderr.isatty() else 5.0)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_headless(settings: Settings) -> int:
    """Every camera through the engine until the sources end, ``duration``, Ctrl+C or SIGTERM.

    One camera (``--source``) is a site of one: the same engine, the summary and exit codes of one source.
    """
    import threading

    progress = ProgressBar(settings)
    site = Monitor(settings=settings, on_result=progress).site
    stop = threading.Event()
    interrupted = False

    def on_signal(signum, _frame):
        # Only set a flag here: the cameras finish the frame in hand, then the video is finalised and the logs
        # flushed. An exception thrown at a random point could leave a worker thread waiting forever.
        nonlocal interrupted
        interrupted = interrupted or signum == signal.SIGINT
        stop.set()

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    t0 = time.monotonic()
    try:
        site.start()
        only = next(iter(site.cameras.values())) if len(site.cameras) == 1 else None
        if only is not None and progress.wanted:
            progress.total = None if only.spec.loop else _frame_count(only)
        site.wait(settings.duration, stop)
        elapsed = time.monotonic() - t0
    finally:
        site.close()
        progress.close()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    stats = site.stats()
    if interrupted:
        print("interrupted", file=sys.stderr)
    if only is not None and only.exception is not None:  # what --source names cannot be read: one error line
        raise only.exception
    if only is not None:
        if only.state is SourceState.ENDED and not only.live:
            print(f"reached the end of {stats['cameras'][only.name]['source']}", file=sys.stderr)
        lines = camera_summary_lines(only)
        processed = stats["cameras"][only.name]["frames_processed"]
        lines.append(f"time: {elapsed:.1f} s ({processed / elapsed if elapsed else 0:.1f} frames/s)")
    else:
        lines = site_summary_lines(stats)
    for line in lines:
        print(mask_credentials(line), file=sys.stderr)
    if settings.output.stats_json:
        from facemask_live.outputs.sinks import write_json

        write_json(settings.output.stats_json, stats, "stats file")
    return 130 if interrupted else 0


def _frame_count(camera) -> int | None:
    """The length of the camera's file or folder, once its capture is open (for the progress bar)."""
    for _ in range(50):
        cap = camera.capture
        if cap is not None and cap.frame_count is not None:
            return cap.frame_count
        if not camera.alive:
            return None
        time.sleep(0.02)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    log_to_terminal(args.verbose)
    limit_malloc_arenas()  # before any thread: memory stays flat over a shift (core/memory.py)

    def action() -> int:
        settings = settings_from_args(args, parser, argv)  # a bad --config file: one error line, exit 2
        log_to_terminal(settings.verbose)
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
