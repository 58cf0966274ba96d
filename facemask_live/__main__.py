"""``python -m facemask_live [options]`` runs the app; ``python -m facemask_live COMMAND ...`` a tool."""

import sys

# Subcommands: `python -m facemask_live <name> ...`; anything else is the monitor's own command line.
COMMANDS = {
    "console": "facemask_live.sitetools.console_cli",
    "report": "facemask_live.sitetools.report",
    "review": "facemask_live.sitetools.review",
    "bench": "facemask_live.measure.bench",
    "evaluate": "facemask_live.measure.evaluate",
}


def _main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
        import importlib

        return importlib.import_module(COMMANDS[sys.argv[1]]).main(sys.argv[2:])
    from facemask_live.app.cli import main

    return main()


sys.exit(_main())
