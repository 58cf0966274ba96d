"""``python -m facemask_live console``: the site console's command line (headless lines or the window).

A leaf front end like :mod:`facemask_live.app.cli`: nothing imports it; the model and the broker client are in
:mod:`facemask_live.sitetools.console`, the window in :mod:`facemask_live.sitetools.console_gui`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from facemask_live.core.errors import FacemaskError, exit_code_of
from facemask_live.core.logs import log_to_terminal
from facemask_live.sitetools.console import ConsoleClient, ConsoleEvent, JsonlRecorder


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="facemask-live console",
                                description="Show the violation events of every camera publishing to an MQTT broker.")
    p.add_argument("--mqtt", required=True, metavar="URL", help="broker: mqtt://[user[:password]@]host[:port] or mqtts://...?ca_file=ca.pem&prefix=facemask")
    p.add_argument("--headless", action="store_true", help="no window: print one line per event")
    p.add_argument("--jsonl", metavar="FILE", help="append every event (JSON, without the base64 picture) to FILE")
    p.add_argument("--count", type=int, metavar="N", help="exit after N events (headless)")
    p.add_argument("--verbose", "-v", action="store_true", help="log more")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks on internal errors")
    return p


def run_headless(settings, recorder: JsonlRecorder | None, count: int | None) -> int:
    done = threading.Event()
    seen = [0]

    def on_event(ev: ConsoleEvent) -> None:
        print(ev.line, flush=True)
        if recorder is not None:
            recorder.write(ev)
        seen[0] += 1
        if count is not None and seen[0] >= count:
            done.set()

    console = ConsoleClient(settings, on_event=on_event)
    old = {sig: signal.signal(sig, lambda *_: done.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        console.start()
        while not done.wait(0.2):
            pass
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        console.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    from facemask_live.core.config import MqttSettings
    from facemask_live.sources.capture import mask_credentials

    args = build_parser().parse_args(argv)
    log_to_terminal(args.verbose)  # the monitor's own log lines (core/logs.py)

    def action() -> int:
        try:
            settings = MqttSettings.from_url(args.mqtt)
        except ValueError as exc:
            raise FacemaskError(str(exc)) from None
        if args.count is not None and args.count < 1:
            raise FacemaskError(f"--count must be >= 1, got {args.count}")
        recorder = JsonlRecorder(args.jsonl) if args.jsonl else None
        try:
            if args.headless:
                return run_headless(settings, recorder, args.count)
            from facemask_live.sitetools.console_gui import run_console_window

            return run_console_window(settings, recorder)
        finally:
            if recorder is not None:
                recorder.close()

    return exit_code_of(action, debug=args.debug, clean=mask_credentials)


if __name__ == "__main__":
    sys.exit(main())
