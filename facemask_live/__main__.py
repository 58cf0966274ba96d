"""``python -m facemask_live [options]`` runs the app; ``python -m facemask_live COMMAND ...`` a tool."""

import importlib
import sys

# sub-commands: name -> module with main(argv) -> exit code
COMMANDS = {
    "report": "facemask_live.report",
}

if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
    sys.exit(importlib.import_module(COMMANDS[sys.argv[1]]).main(sys.argv[2:]))

from facemask_live.cli import main  # noqa: E402

sys.exit(main())
