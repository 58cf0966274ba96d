"""Capture of files, folders and images: order, end of file, looping, realtime dropping, stop, bad arguments."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
from helpers import decode_seq, make_video, pattern_frame, read_all, wait_until

from facemask_live.core.errors import SourceError
from facemask_live.sources.capture import Capture, list_images, mask_credentials, parse_source, read_image


def test_parse_source_kinds(tmp_path):
    video = make_video(tmp_path / "clip.avi", n=2)
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), pattern_frame(1))
    assert parse_source("0").kind == "camera" and parse_source(" 7 ").target == 7
    assert parse_source(str(video)).kind == "video"
    assert parse_source(str(img)).kind == "image"
    assert parse_source(str(tmp_path)).kind == "folder"
    spec = parse_source("rtsp://admin:hunter2@127.0.0.1:554/stream1")
    assert spec.kind == "stream" and spec.is_live
    assert "hunter2" not in spec.name and spec.name == "rtsp://admin:***@127.0.0.1:554/stream1"
    assert spec.target == "rtsp://admin:hunter2@127.0.0.1:554/stream1"  # the real URL is still used to connect
    with pytest.raises(SourceError, match="source not found"):
        parse_source(str(tmp_path / "missing.mp4"))


def test_mask_credentials_everywhere_in_a_text():
    text = "lost rtsp://u:p%40ss@cam/1 and http://x:y@127.0.0.1:8080/v; keep http://host/path and user@host"
    masked = mask_credentials(text)
    assert "p%40ss" not in masked and ":y@" not in masked
    assert "rtsp://u:***@cam/1" in masked and "http://x:***@127.0.0.1:8080/v" in masked
    assert "http://host/path" in masked and "user@host" in masked


def test_video_file_is_read_completely_in_order(tmp_path):
    video = make_video(tmp_path / "clip.avi", n=25)
    cap = Capture(str(video)).start()
    frames = read_all(cap)
    assert [decode_seq(f.image) for f in frames] == list(range(25))
    assert [f.index for f in frames] == list(range(25))
    assert cap.frame_count == 25 and cap.fps == pytest.approx(10.0)
    assert cap.finished and cap.stats.status == "ended"
    assert cap.stats.dropped == 0 and cap.stats.captured == 25
    assert cap.size == (320, 240)
    cap.stop()
    assert cap.stats.status == "ended"  # stop() after the end does not hide that it ended


def test_loop_replays_a_file(tmp_path):
    video = make_video(tmp_path / "clip.mp4", n=10)
    cap = Capture(str(video), loop=True).start()
    frames = read_all(cap, limit=35)
    cap.stop()
    seqs = [decode_seq(f.image) for f in frames]
    assert seqs == [i % 10 for i in range(35)]
    indices = [f.index for f in frames]
    assert indices == sorted(set(indices)), "frame ids stay unique across loops"
    assert cap.stats.status == "stopped"
    # each pass's timestamps are positions in the file: the first frame of every pass is at the file's start
    # (a jump ahead at a loop would age the event cooldown by a whole pass)
    period = 1.0 / cap.fps
    starts = [f.timestamp for f, s in zip(frames, seqs) if s == 0]
    assert len(starts) == 4 and max(starts) <= period + 1e-6, starts


def test_realtime_file_drops_frames_for_a_slow_consumer(tmp_path):
    video = make_video(tmp_path / "clip.avi", n=40, fps=50)
    cap = Capture(str(video), realtime=True).start()
    frames = []
    while (f := cap.read(5)) is not None:
        frames.append(decode_seq(f.image))
        time.sleep(0.1)  # 5x slower than the file's 50 fps
    assert cap.stats.dropped > 0 and len(frames) + cap.stats.dropped == 40
    assert frames == sorted(frames) and frames[-1] == 39


def test_folder_skips_and_counts_broken_and_non_image_files(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.jpg"), pattern_frame(1))
    cv2.imwrite(str(folder / "c.png"), pattern_frame(3))
    (folder / "b.jpg").write_bytes(b"")  # zero bytes
    good = cv2.imencode(".jpg", pattern_frame(2))[1].tobytes()
    (folder / "d.jpg").write_bytes(good[: len(good) // 3])  # truncated: decodes partially or not at all
    (folder / "e.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 50)  # corrupt
    (folder / "notes.txt").write_text("not an image")
    (folder / "movie.mp4").write_bytes(b"\x00" * 100)
    (folder / ".hidden").write_text("ignored silently")
    cap = Capture(str(folder)).start()
    frames = read_all(cap)
    assert [f.file for f in frames] == ["a.jpg", "c.png"]
    assert [decode_seq(f.image) for f in frames] == [1, 3]
    assert cap.stats.skipped == 5  # 3 unreadable images + 2 files that are not images (hidden files ignored)
    assert all(f.image.dtype == np.uint8 and f.image.shape[2] == 3 for f in frames)
    assert cap.stats.status == "ended"
    assert list_images(folder)[0].name == "a.jpg"


def test_folder_with_only_broken_images_is_an_error(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"")
    (tmp_path / "y.png").write_text("no")
    cap = Capture(str(tmp_path)).start()
    with pytest.raises(SourceError, match="no decodable image"):
        read_all(cap)
    assert cap.stats.status == "failed" and cap.stats.skipped == 2


def test_read_image_converts_gray_rgba_and_16bit(tmp_path):
    gray = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (48, 1))
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 10, 200, 30, 0  # fully transparent
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    deep = (np.ones((10, 10, 3)) * 65535).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), deep)
    g = read_image(tmp_path / "g.png")
    assert g.shape == (48, 64, 3) and g.dtype == np.uint8 and (g[..., 0] == gray).all() and (g[..., 2] == gray).all()
    a = read_image(tmp_path / "a.png")
    assert a.shape == (20, 30, 3) and tuple(a[0, 0]) == (10, 200, 30)
    d = read_image(tmp_path / "d.png")
    assert d.dtype == np.uint8 and d.shape == (10, 10, 3) and d.min() == 255
    (tmp_path / "z.jpg").write_bytes(b"")
    assert read_image(tmp_path / "z.jpg") is None
    assert read_image(tmp_path / "missing.jpg") is None


def test_single_image_source(tmp_path):
    path = tmp_path / "one.png"
    cv2.imwrite(str(path), pattern_frame(42))
    cap = Capture(str(path)).start()
    frames = read_all(cap)
    assert len(frames) == 1 and decode_seq(frames[0].image) == 42 and frames[0].file == "one.png"


def test_stop_ends_the_reader_thread_of_a_blocked_producer(tmp_path):
    """A file source waits for the consumer; stop() must still end its thread promptly."""
    cap = Capture(str(make_video(tmp_path / "clip.avi", n=50))).start()
    assert cap.read(5) is not None
    cap.stop()
    assert wait_until(lambda: not cap._thread.is_alive(), 2)
    assert cap.stats.status == "stopped" and cap._cap is None
    assert cap.read(0.1) is None or cap.finished


def test_read_from_another_thread_sees_the_end(tmp_path):
    cap = Capture(str(make_video(tmp_path / "clip.avi", n=5))).start()
    got = []
    t = threading.Thread(target=lambda: got.extend(read_all(cap)))
    t.start()
    t.join(10)
    assert not t.is_alive() and len(got) == 5


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"stall_timeout": 0}, "stall_timeout"),
        ({"max_reconnects": -1}, "max_reconnects"),
        ({"backoff": (0, 1)}, "backoff"),
        ({"backoff": (5, 1)}, "backoff"),
        ({"open_timeout": -1}, "open_timeout"),
        ({"decode_threads": -1}, "decode_threads"),
        ({"decode_threads": 1.5}, "decode_threads"),
    ],
)
def test_bad_arguments_raise_clear_value_errors(tmp_path, kwargs, word):
    video = make_video(tmp_path / "clip.avi", n=2)
    with pytest.raises(ValueError, match=word):
        Capture(str(video), **kwargs)


def _ffmpeg_threads() -> list[str]:
    """Names of this process's FFmpeg worker threads (``av:mpeg4:df0`` ...)."""
    import os
    from pathlib import Path

    names = []
    for task in Path("/proc/self/task").glob("*"):
        try:
            names.append((task / "comm").read_text().strip())
        except OSError:  # ended meanwhile
            pass
    return sorted(n for n in names if n.startswith("av:")) if os.path.isdir("/proc/self/task") else []


@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self/task"), reason="thread names from /proc (Linux)")
def test_one_decoding_thread_per_stream_when_asked(tmp_path):
    """decode_threads=1 (a site of several cameras): the stream is decoded in the reader thread, FFmpeg starts no
    frame threads of its own; the frames are the same."""
    import os

    video = make_video(tmp_path / "clip.mp4", n=20)
    before = _ffmpeg_threads()
    cap = Capture(str(video), decode_threads=1).start()
    frames = [cap.read(5) for _ in range(5)]  # a file waits for its reader: the stream is open and decoding now
    assert _ffmpeg_threads() == before
    frames += read_all(cap)
    assert [decode_seq(f.image) for f in frames] == list(range(20))
    cap.stop()
    if (os.cpu_count() or 1) > 1:  # FFmpeg's own choice on this machine: one frame thread per core
        cap = Capture(str(video)).start()
        cap.read(5)
        assert len(_ffmpeg_threads()) > len(before)
        cap.stop()


def test_frames_before_skip_pixels_until_are_decoded_but_not_converted(tmp_path):
    """A still camera's capture between two looks of its motion gate: the frames are decoded in order (the stream
    goes on) but handed on with the last converted picture, marked ``repeat``; from the time asked on, each frame is
    converted again and shows its own pixels."""
    video = make_video(tmp_path / "clip.mp4", n=60, fps=25)
    cap = Capture(str(video), realtime=True, backlog=60).start()
    try:
        cap.skip_pixels_until(time.monotonic() + 0.6)
        frames = [cap.read(5) for _ in range(40)]
    finally:
        cap.stop()
    assert [f.index for f in frames] == list(range(40))
    flags = [f.repeat for f in frames]
    first = flags.index(True)  # the first frame converted after the ask is kept for the frames after it
    skipped = frames[first: first + flags[first:].index(False)]
    assert first <= 2 and 8 <= len(skipped) <= 20 and not any(flags[first + len(skipped):]), flags
    assert all(f.image is frames[first - 1].image for f in skipped)  # the last picture, not a copy
    converted = [f for f in frames if not f.repeat]
    # decoding never stopped: a converted frame is the file's own frame, not the one after the last conversion
    assert [decode_seq(f.image) for f in converted] == [f.index for f in converted]
    assert cap.stats.repeated == len(skipped) and cap.stats.captured >= 40
