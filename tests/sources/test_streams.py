"""Live streams from real servers on 127.0.0.1: MJPEG over HTTP and H.264 over RTSP.

The servers are cut, stalled and restarted mid-run; the capture must report the gap, reconnect and
go on delivering the newest frames.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from helpers import REPO, MjpegServer, RtspServer, decode_seq, wait_until

from facemask_live.core.errors import SourceError
from facemask_live.detection.detect import create_detector
from facemask_live.sources.capture import Capture

pytestmark = pytest.mark.slow  # end-to-end runs of the real app: python -m pytest -m "not slow" skips them


class Pump:
    """Reads a capture for a while, remembering frames and every status it went through."""

    def __init__(self, cap: Capture, on_frame=None):
        self.cap, self.on_frame = cap, on_frame
        self.frames = []
        self.statuses: list[str] = []

    def run(self, seconds: float, until=None) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            frame = self.cap.read(0.1)
            st = self.cap.stats.status
            if not self.statuses or self.statuses[-1] != st:
                self.statuses.append(st)
            if frame is not None:
                self.frames.append(self.on_frame(frame) if self.on_frame else frame)
            if until is not None and until():
                return True
        return until is None


def test_mjpeg_reconnects_after_server_restart(mjpeg_server: MjpegServer):
    cap = Capture(mjpeg_server.url, stall_timeout=1.5, backoff=(0.5, 2.0), open_timeout=5).start()
    pump = Pump(cap, on_frame=lambda f: (decode_seq(f.image), f.image.shape))
    try:
        assert pump.run(10, until=lambda: len(pump.frames) >= 8), "no frames from the MJPEG server"
        assert pump.frames[0][1] == (240, 320, 3)
        before = len(pump.frames)
        mjpeg_server.stop()
        assert pump.run(10, until=lambda: cap.stats.status.startswith("reconnecting")), pump.statuses
        mjpeg_server.start()
        assert pump.run(20, until=lambda: cap.stats.reconnects >= 1 and len(pump.frames) >= before + 5), pump.statuses
    finally:
        cap.stop()
    assert "reconnecting (attempt 1)" in pump.statuses
    assert pump.statuses[-1] == "running" or pump.statuses[-1] == "stopped"
    assert cap.stats.lost >= 1
    seqs = [s for s, _ in pump.frames]
    assert all(b > a for a, b in zip(seqs, seqs[1:])), f"frames out of order or repeated: {seqs}"
    assert not cap._thread.is_alive()


def test_mjpeg_stall_is_detected_by_the_watchdog(mjpeg_server: MjpegServer):
    """The server keeps the connection open but sends nothing: a hung camera, not a closed one."""
    cap = Capture(mjpeg_server.url, stall_timeout=1.0, backoff=(0.5, 1.0), open_timeout=5).start()
    pump = Pump(cap, on_frame=lambda f: decode_seq(f.image))
    try:
        assert pump.run(10, until=lambda: len(pump.frames) >= 5)
        mjpeg_server.stall()
        assert pump.run(10, until=lambda: cap.stats.lost >= 1), pump.statuses
        # the loss is counted a moment before the reconnect loop sets the state: wait for it, do not race it
        assert pump.run(5, until=lambda: cap.stats.status.startswith("reconnecting (attempt")), pump.statuses
        stalled_at = len(pump.frames)
        mjpeg_server.stalled.clear()
        assert pump.run(20, until=lambda: cap.stats.reconnects >= 1 and len(pump.frames) >= stalled_at + 3), pump.statuses
        # the reader left blocked in the stalled read ends by itself and releases its connection
        assert cap._abandoned, "the watchdog, not FFmpeg's read timeout, must notice the stall first"
        assert wait_until(lambda: all(r.done.is_set() for r in cap._abandoned), 10)
    finally:
        cap.stop()
    assert all(b > a for a, b in zip(pump.frames, pump.frames[1:]))


def test_live_source_hands_on_the_newest_frame(mjpeg_server: MjpegServer):
    """A consumer slower than the camera gets the newest frame, never a backlog; the rest are counted as dropped."""
    cap = Capture(mjpeg_server.url, stall_timeout=3, open_timeout=5).start()
    lags = []
    try:
        assert cap.read(10) is not None
        for _ in range(6):
            time.sleep(0.35)  # a slow consumer: ~3 frames arrive meanwhile
            frame = cap.read(2)
            assert frame is not None
            lags.append(mjpeg_server.seq - 1 - decode_seq(frame.image))
    finally:
        cap.stop()
    assert cap.stats.dropped >= 6
    assert max(lags) <= 2, f"frames handed on lag behind the stream by {lags} frames"


def test_the_frames_a_stream_buffered_while_it_opened_are_skipped_not_dropped(rtsp_ready, tmp_path):
    """The moment an RTSP stream opens, FFmpeg hands on about a second of frames it buffered while probing the stream
    (27 within 20 ms, measured). They are old: the capture skips them (``stale``) and hands on the stream from its
    first live frame on, as the frames come. Before, a consumer got the burst and then the stream, and a camera,
    which keeps the newest frames only, counted most of the burst as dropped."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(50):  # a square moving across, looped by the server at 25 fps
        img = np.full((180, 320, 3), 40, np.uint8)
        cv2.rectangle(img, (i * 5, 50), (i * 5 + 60, 130), (0, 200, 255), -1)
        cv2.imwrite(str(frames / f"{i:03d}.jpg"), img)
    server = RtspServer(frames).start()
    cap = Capture(server.url, backlog=100).start()  # a consumer that is given every frame read
    try:
        got = [cap.read(10) for _ in range(15)]
    finally:
        cap.stop()
        server.stop()
    assert all(f is not None for f in got)
    gaps = np.diff([f.captured_at for f in got])
    assert sum(gaps < 0.01) <= 2, gaps  # one every 40 ms; the burst came within a millisecond or two each
    assert cap.stats.stale >= 5 and cap.stats.dropped == 0 and cap.stats.captured >= 15


def test_gives_up_after_max_reconnects():
    server = MjpegServer().start()
    cap = Capture(server.url, stall_timeout=1.0, max_reconnects=2, backoff=(0.2, 0.4), open_timeout=2).start()
    try:
        assert cap.read(10) is not None
        server.stop()
        with pytest.raises(SourceError, match="could not reconnect after 2 attempt"):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                cap.read(0.2)
        assert cap.stats.status == "failed"
    finally:
        cap.stop()
        server.stop()


@pytest.mark.parametrize("url", ["rtsp://user:s3cret@127.0.0.1:1/x", "http://user:s3cret@127.0.0.1:1/video"])
def test_unreachable_stream_is_a_clear_error(url):
    with pytest.raises(SourceError) as err:
        Capture(url, open_timeout=3)
    msg = str(err.value)
    assert "cannot open stream" in msg and "127.0.0.1:1" in msg
    assert "s3cret" not in msg and "user:***@" in msg


def test_server_that_never_answers_times_out_at_open():
    """A camera that accepts the connection but never answers (hung firmware): the open gives up after open_timeout."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)  # the kernel completes the handshake; nobody ever reads or answers
        port = sock.getsockname()[1]
        for url in (f"rtsp://127.0.0.1:{port}/live", f"http://127.0.0.1:{port}/video"):
            with pytest.raises(SourceError, match="cannot open stream"):
                Capture(url, open_timeout=1.5)


def test_rtsp_reconnects_after_server_loss_and_stall(rtsp_server):
    """H.264 over RTSP from GStreamer: faces are found before and after the server is killed and restarted,
    and after it freezes (SIGSTOP) so that no frame comes although the connection stays open."""
    detector = create_detector()  # the app's default detector
    cap = Capture(rtsp_server.url, stall_timeout=2.0, backoff=(0.5, 2.0), open_timeout=10).start()
    pump = Pump(cap, on_frame=lambda f: (f.index, len(detector.detect(f.image))))
    try:
        assert pump.run(20, until=lambda: len(pump.frames) >= 5), pump.statuses
        assert all(n == 1 for _, n in pump.frames), "the streamed face was not found"
        n1 = len(pump.frames)
        t0 = time.monotonic()
        rtsp_server.stop()
        assert pump.run(10, until=lambda: cap.stats.status.startswith("reconnecting")), pump.statuses
        rtsp_server.start()
        assert pump.run(30, until=lambda: cap.stats.reconnects >= 1 and len(pump.frames) >= n1 + 5), pump.statuses
        print(f"RTSP reconnect after server restart: {time.monotonic() - t0:.1f} s")
        n2 = len(pump.frames)
        t0 = time.monotonic()
        rtsp_server.proc.send_signal(signal.SIGSTOP)
        try:
            assert pump.run(10, until=lambda: cap.stats.lost >= 2), pump.statuses
        finally:
            rtsp_server.proc.send_signal(signal.SIGCONT)
        assert pump.run(30, until=lambda: cap.stats.reconnects >= 2 and len(pump.frames) >= n2 + 5), pump.statuses
        print(f"RTSP reconnect after a stall: {time.monotonic() - t0:.1f} s")
    finally:
        cap.stop()
    assert "reconnecting (attempt 1)" in pump.statuses
    assert all(n == 1 for _, n in pump.frames[n2:]), "no face after reconnecting"
    indices = [i for i, _ in pump.frames]
    assert indices == sorted(set(indices)), "frame indices must keep increasing across reconnections"
    assert wait_until(lambda: not cap._thread.is_alive(), 2)


def test_cli_headless_rides_through_an_rtsp_outage(rtsp_server, tmp_path, classifier_model):
    """End to end: the CLI keeps writing frame records after the server comes back, and logs the gap."""
    out = tmp_path / "det.jsonl"
    cmd = [
        sys.executable, "-m", "facemask_live", "--headless", "--source", rtsp_server.url.replace("rtsp://", "rtsp://cam:s3cret@"),
        "--stall-timeout", "2", "--detections", str(out), "--model", str(classifier_model), "--no-progress",
        "--snapshots", str(tmp_path / "snaps"), "--threads", "1",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)

    def records() -> list[dict]:
        if not out.exists():
            return []
        return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]

    try:
        assert wait_until(lambda: len(records()) >= 5, 60), "no frame records before the outage"
        rtsp_server.stop()
        time.sleep(3)
        n_gap = len(records())
        rtsp_server.start()
        assert wait_until(lambda: len(records()) >= n_gap + 5, 60), "no frame records after the server came back"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "reconnecting (attempt 1)" in err
    assert "s3cret" not in err
    assert "Traceback" not in err
    recs = records()
    assert sum(len(r["faces"]) >= 1 for r in recs) >= len(recs) * 0.8
    frames = [r["frame"] for r in recs]
    assert frames == sorted(set(frames))
    tracks = {f["track"] for r in recs for f in r["faces"] if f.get("track") is not None}
    assert len(tracks) == 1, f"the person's track must survive the short outage, got tracks {tracks}"


def test_a_live_stream_skips_the_pixels_only_when_asked(mjpeg_server: MjpegServer):
    """The live reader decodes every frame of a stream; while the consumer says it needs no pixels (a still
    camera between two looks of its gate) the frames come with the last picture, marked ``repeat``."""
    cap = Capture(mjpeg_server.url, stall_timeout=2.0, open_timeout=5, backlog=100).start()
    pump = Pump(cap, on_frame=lambda f: f)
    try:
        assert pump.run(10, until=lambda: len(pump.frames) >= 3), pump.statuses
        cap.skip_pixels_until(time.monotonic() + 1.0)
        n = len(pump.frames)
        assert pump.run(10, until=lambda: len(pump.frames) >= n + 16), pump.statuses
    finally:
        cap.stop()
    assert not any(f.repeat for f in pump.frames[:n])
    skipped, last = [], None
    for f in pump.frames:  # each skipped frame stands on the picture converted last before it (nothing dropped)
        if f.repeat:
            assert f.image is last.image
            skipped.append(f)
        else:
            last = f
    assert len(skipped) >= 5 and not pump.frames[-1].repeat
    # decoding never stopped: the frame converted after the gap is the stream's own, its number counted on
    assert decode_seq(pump.frames[-1].image) - decode_seq(pump.frames[0].image) == len(pump.frames) - 1
    assert cap.stats.repeated == len(skipped)
    indices = [f.index for f in pump.frames]
    assert indices == sorted(set(indices))
