"""``python -m facemask_live [options]`` runs the app; ``python -m facemask_live COMMAND ...`` a tool."""

import sys

# Subcommands: `python -m facemask_live <name> ...`; anything else is the monitor's own command line.
COMMANDS = {
    "console": "facemask_live.console_cli",
    "report": "facemask_live.report",
}


def _main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
        import importlib

        return importlib.import_module(COMMANDS[sys.argv[1]]).main(sys.argv[2:])
    from .cli import main

    return main()


sys.exit(_main())
