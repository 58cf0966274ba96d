"""Process-wide memory settings for a run that lasts a shift.

Why: glibc gives each thread that allocates its own heap ("arena", up to 8 per core). The engine's
threads (one per camera, the detector, sinks, MQTT) each grow an arena that is rarely given back, so a
site's resident memory climbs for the first twenty minutes and settles 40-60 MB higher than it needs to
(docs/performance.md, "All day"). Two arenas hold it flat at no measurable speed cost.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_ARENA_MAX = -8  # from glibc's malloc.h
DEFAULT_ARENAS = 2


def limit_malloc_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """Cap glibc's malloc arenas; call before the first thread starts. True when the cap is in force.

    An explicit ``MALLOC_ARENA_MAX`` in the environment wins (glibc read it at start-up); on other C
    libraries (macOS, Windows, musl) this does nothing and says False.
    """
    if not sys.platform.startswith("linux") or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt(M_ARENA_MAX, int(arenas)) == 1
