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


def _still_then_moving(src, out, still_s: float = 4.0, moving_s: float = 2.0):
    """``src``'s first frame held ``still_s`` seconds, then the clip from its second frame (someone walks on)."""
    import cv2

    from facemask_live.measure.substreams import _write

    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = [img for ok, img in iter(cap.read, (False, None)) if ok][: int(moving_s * fps) + 1]
    cap.release()
    still = int(still_s * fps)
    _write(out, [frames[0]] * still + frames[1:], fps, frames[0].shape[1::-1])
    return out, still, fps


def _play_one(clip, annotate: bool) -> tuple[list, dict]:
    from facemask_live.engine.build import build_site
    from facemask_live.measure.sitebench import site_settings

    seen = []
    site = build_site(site_settings([clip], loop=False), annotate=annotate,
                      on_result=lambda _cam, r, _drawn: seen.append((r.frame, len(r.faces))))
    with site:
        site.start()
        site.wait()
    return seen, site.stats()["cameras"]["cam1"]


def test_a_still_picture_is_converted_to_pixels_only_for_the_gates_looks(shared_dir, tmp_path):
    """A camera whose picture stands still decodes every frame but converts to pixels only those its motion gate
    looks at; the others show the last picture, with the boxes. When someone moves, every frame is converted again
    within the gate's look (four frames); a camera that draws every frame (a recording) converts them all."""
    clip, still, fps = _still_then_moving(shared_dir / "media" / "videos" / "street_nomask.mp4", tmp_path / "sm.mp4")
    seen, stats = _play_one(clip, annotate=False)
    frames = [f for f, _ in seen]
    assert len(frames) >= still + 40 and stats["frames_processed"] == len(frames)
    last, index = None, -1
    for f in frames:  # (a frame a busy machine dropped breaks the chain: the next converted frame starts it again)
        last = None if f.index != index + 1 else last
        if f.repeat and last is not None:
            assert f.image is last.image  # the picture converted last, untouched
        elif not f.repeat:
            last = f
        index = f.index
    quiet = [(f, n) for f, n in seen if 2.6 * fps <= f.index < still]  # nothing moved for QUIET_AFTER_S (2 s) and more
    assert sum(f.repeat for f, _ in quiet) >= 0.6 * len(quiet), [f.repeat for f, _ in quiet]
    assert all(n > 0 for _, n in quiet)  # the people stay boxed on the pictures that stand
    moving = [f for f in frames if f.index >= still]
    assert moving and not any(f.repeat for f in moving if f.index >= still + 5), [f.repeat for f in moving]
    assert stats["frames_repeated"] >= sum(f.repeat for f in frames) > 0

    drawn, stats = _play_one(clip, annotate=True)
    assert len(drawn) >= still + 40 and not any(f.repeat for f, _ in drawn) and stats["frames_repeated"] == 0
