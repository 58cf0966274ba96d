"""User-facing errors.

Every problem a user can cause (bad source, missing model, unwritable folder ...) is raised as a
:class:`FacemaskError` whose message is one line that names the problem and what to do. The CLI
prints ``error: <message>`` and exits with :attr:`FacemaskError.exit_code`; no traceback is shown.
"""

from __future__ import annotations


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
