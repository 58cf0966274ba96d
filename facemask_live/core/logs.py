"""The app's terminal log, in every process of it (the app, a site's worker processes): one line per message, prefixed
``facemask-live:``, with every password in a URL masked."""

from __future__ import annotations

import logging
import re

_CRED_RE = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/\s]*):(?P<pw>[^@/\s]*)@")


def mask_credentials(text: str) -> str:
    """Replace passwords in any URL inside ``text`` by ``***`` (``rtsp://user:***@host/...``)."""
    return _CRED_RE.sub(lambda m: f"{m['scheme']}{m['user']}:***@", str(text))


class CredentialFilter(logging.Filter):
    """A log filter that masks passwords in every message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_credentials(record.getMessage())
        record.args = ()
        return True


def log_to_terminal(verbose: bool) -> None:
    """Every message of this process to stderr, one line each (INFO and up with ``verbose``, else WARNING and up)."""
    import sys

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("facemask-live: %(message)s"))
    handler.addFilter(CredentialFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
