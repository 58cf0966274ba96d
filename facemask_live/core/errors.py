"""User-facing errors.

Every problem a user can cause (bad source, missing model, unwritable folder ...) is raised as a
:class:`FacemaskError` whose message is one line that names the problem and what to do. The CLI
prints ``error: <message>`` and exits with :attr:`FacemaskError.exit_code`; no traceback is shown.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class FacemaskError(Exception):
    """An error the user can fix; its message is shown as-is on one line."""

    exit_code = 2


class SourceError(FacemaskError):
    """A video/camera/image source that cannot be opened or read."""

    exit_code = 3


class ModelError(FacemaskError):
    """A missing, corrupt or inconsistent model or metadata file."""

    exit_code = 4


class OutputError(FacemaskError):
    """An output file or folder that cannot be written."""

    exit_code = 5


def exit_code_of(action: Callable[[], int], debug: bool = False, clean: Callable[[str], str] = str) -> int:
    """Run a command's ``action`` and turn what it raises into one ``error:`` line and an exit code.

    FacemaskError -> its message and exit code; Ctrl+C -> ``interrupted``, 130; anything else is a bug:
    one line and 1, or the traceback with ``debug``. ``clean`` filters messages (e.g. hides passwords).
    """
    try:
        return action()
    except FacemaskError as exc:
        print(f"error: {clean(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory (close other programs; for training use a smaller --batch-size or --input-size)", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: one line unless --debug
        if debug:
            raise
        print(f"error: internal error: {type(exc).__name__}: {clean(str(exc))} (run with --debug for details)", file=sys.stderr)
        return 1
