"""The arena cap really limits glibc's per-thread heaps (counted by glibc's own malloc_stats)."""

import os
import subprocess
import sys
import textwrap

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc arenas are Linux-only")

PROGRAM = textwrap.dedent(
    """
    import ctypes, ctypes.util, sys, threading
    from facemask_live.core.memory import limit_malloc_arenas
    capped = limit_malloc_arenas() if sys.argv[1] == "cap" else False
    keep = []
    def work():  # each thread allocates through malloc (numpy buffers of 4 KB)
        import numpy as np
        keep.extend(np.ones(512) for _ in range(200))
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    print("capped", capped, flush=True)
    ctypes.CDLL(ctypes.util.find_library("c")).malloc_stats()  # one "Arena N:" block per arena, on stderr
    """
)


def arenas(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    proc = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    if "Arena 0:" not in proc.stderr:
        pytest.skip("not glibc: no malloc_stats")
    assert ("capped True" in proc.stdout) == (mode == "cap")
    return sum(1 for line in proc.stderr.splitlines() if line.startswith("Arena "))


def test_two_arenas_for_eight_allocating_threads_instead_of_one_each():
    assert arenas("free") > 2  # glibc's default: a heap per thread (up to 8 per core)
    assert arenas("cap") <= 2


def test_an_explicit_environment_setting_wins():
    from facemask_live.core.memory import limit_malloc_arenas

    os.environ["MALLOC_ARENA_MAX"] = "4"
    try:
        assert limit_malloc_arenas() is False
    finally:
        del os.environ["MALLOC_ARENA_MAX"]
