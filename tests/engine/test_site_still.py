"""Bar of issue 14 (slow): eight still cameras cost at most 1.5x the CPU of only decoding the same streams.

A CPU bar for a two-core machine: on a machine that other work keeps busy it measures that work too.
"""

from __future__ import annotations

import pytest

CLIPS = ("street_nomask.mp4", "putting_on_mask_720p.mp4", "man_nomask.mp4", "office_mask.mp4")


@pytest.mark.slow
def test_bar_still_cameras_cpu(shared_dir, tmp_path):
    """8 still cameras: the process's CPU is at most 1.5x that of decoding the same streams only (steady state)."""
    from facemask_live.measure.sitebench import decode_only, run_site, still_clip

    clips = [still_clip(shared_dir / "media" / "videos" / c, tmp_path) for c in CLIPS]
    load = clips * 2
    # the decode-only reference is taken before and after the site run and averaged: on a shared host one pass
    # of it varies by +-10 % (3.4-4.2 CPU s measured back to back), which alone moved the ratio across the bar
    before = decode_only(load, 15, warmup=3)
    site = run_site(load, 15, warmup=3)
    after = decode_only(load, 15, warmup=3)
    assert all(s["state"] == "live" for s in site["cameras"].values())
    assert sum(s["detector_runs"] for s in site["cameras"].values()) <= 8 * 3  # the first frame, then keep-alives only
    # steady state: the first detector run of each camera and the models' first calls are left out
    decode_cpu = (before["steady_cpu_seconds"] + after["steady_cpu_seconds"]) / 2
    ratio = site["steady_cpu_seconds"] / decode_cpu
    assert ratio <= 1.5, (ratio, site["steady_cpu_seconds"], site["cpu_seconds"], before, after)


def test_a_still_cameras_frames_are_marked_still(shared_dir, tmp_path):
    """After its first detection a still picture's frames carry ``still``: the window shows its last picture."""
    from facemask_live.measure.sitebench import run_site, still_clip

    clip = still_clip(shared_dir / "media" / "videos" / "street_nomask.mp4", tmp_path, seconds=4.0)
    flags = []
    run_site([clip], None, loop=False, on_result=lambda _c, r, _a: flags.append(r.still))
    assert len(flags) >= 90 and not flags[0]
    assert sum(flags) >= 0.9 * len(flags), (sum(flags), len(flags))
