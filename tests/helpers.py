"""Helpers the test modules import (``from helpers import ...``): generated videos, frame ids, the CLI, real MJPEG and
RTSP servers on 127.0.0.1, tmpfs mounts, and the paths ``REPO`` and ``SHARED``. The fixtures are in conftest.py.
"""


from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
MODEL_JSON = REPO / "facemask_live" / "models" / "mask_classifier.json"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, where python3-gi and the GStreamer RTSP server bindings live


def encode_seq(img: np.ndarray, n: int, bits: int = 16) -> np.ndarray:
    """Write ``n`` as a row of black/white blocks across the top 40 rows (survives JPEG)."""
    w = img.shape[1]
    step = w // bits
    for b in range(bits):
        img[:40, b * step : (b + 1) * step] = 255 if (n >> (bits - 1 - b)) & 1 else 0
    return img


def decode_seq(img: np.ndarray, bits: int = 16) -> int:
    """Read back the number written by :func:`encode_seq`."""
    gray = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    step = gray.shape[1] // bits
    n = 0
    for b in range(bits):
        n = (n << 1) | int(gray[5:35, b * step + 3 : (b + 1) * step - 3].mean() > 127)
    return n


def pattern_frame(n: int, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """A frame with a moving gradient and ``n`` encoded at the top."""
    w, h = size
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    img = np.dstack([(x + 5 * n) % 256 + 0 * y, (y + 3 * n) % 256 + 0 * x, np.full((h, w), (7 * n) % 256, np.float32)])
    return encode_seq(img.astype(np.uint8), n)


def make_video(
    path: Path, n: int = 30, size: tuple[int, int] = (320, 240), fps: float = 10.0, image: np.ndarray | None = None
) -> Path:
    """Write an ``n``-frame video (MJPG in .avi, mp4v in .mp4): ``image`` repeated, or a numbered pattern."""
    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if path.suffix.lower() == ".mp4" else "MJPG"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, size)
    assert writer.isOpened(), f"cannot write test video {path}"
    for i in range(n):
        frame = pattern_frame(i, size) if image is None else cv2.resize(image, size)
        writer.write(frame)
    writer.release()
    return path


def read_all(cap, limit: int = 10_000, timeout: float = 10) -> list:
    """Frames from a started Capture until it ends (or ``limit`` frames, or ``timeout`` s without one)."""
    frames = []
    while len(frames) < limit and (f := cap.read(timeout)) is not None:
        frames.append(f)
    return frames


def count_frames(path: Path) -> int:
    """Frames that really decode (not what the header claims)."""
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def run_cli(*args: str, timeout: float = 120, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m facemask_live ARGS`` in a subprocess; returns the completed process (text output)."""
    full_env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO))
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "facemask_live", *args],
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())


class MjpegServer:
    """multipart/x-mixed-replace JPEG stream on 127.0.0.1 (ephemeral port, kept across restarts).

    Every frame carries its number (:func:`encode_seq`), counted across restarts. ``stall()`` keeps
    the connections open but sends nothing (a hung camera); ``stop()`` closes everything.
    """

    def __init__(self, fps: float = 10.0, size: tuple[int, int] = (320, 240)):
        self.fps, self.size = fps, size
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/video"
        self.seq = 0
        self.stalled = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                try:
                    while not server._stopping.is_set():
                        if server.stalled.is_set():
                            server._stopping.wait(0.05)
                            continue
                        with server._lock:
                            n = server.seq
                            server.seq += 1
                        ok, buf = cv2.imencode(".jpg", pattern_frame(n, server.size), [cv2.IMWRITE_JPEG_QUALITY, 85])
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(buf))
                        self.wfile.write(buf.tobytes() + b"\r\n")
                        self.wfile.flush()
                        server._stopping.wait(1.0 / server.fps)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass

        return Handler

    def start(self) -> MjpegServer:
        self._stopping.clear()
        self.stalled.clear()
        ThreadingHTTPServer.allow_reuse_address = True
        deadline = time.monotonic() + 5
        while True:
            try:
                self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stall(self) -> None:
        self.stalled.set()

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None


def _rtsp_available() -> str | None:
    """None when Debian's GStreamer RTSP server can run, else why not."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found"
    probe = (
        "import gi; gi.require_version('Gst','1.0'); gi.require_version('GstRtspServer','1.0');"
        "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
        "missing=[e for e in ('x264enc','rtph264pay','videotestsrc','imagefreeze','jpegdec') if not Gst.ElementFactory.find(e)];"
        "print(' '.join(missing))"
    )
    try:
        out = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if out.returncode != 0:
        return "python3-gi / gir1.2-gst-rtsp-server-1.0 not installed (see .ci/apt-packages.txt)"
    if out.stdout.strip():
        return f"GStreamer elements missing: {out.stdout.strip()} (see .ci/apt-packages.txt)"
    return None


class RtspServer:
    """Debian's GStreamer RTSP server in a subprocess (tests/rtsp_server.py) on a fixed loopback port."""

    def __init__(self, image: Path | None = None):
        self.port = free_port()
        self.url = f"rtsp://127.0.0.1:{self.port}/live"
        self.image = image
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20) -> RtspServer:
        cmd = [SYSTEM_PYTHON, str(Path(__file__).with_name("rtsp_server.py")), str(self.port)]
        if self.image is not None:
            cmd.append(str(self.image))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not ready or "READY" not in ready[0]:
            self.stop()
            raise RuntimeError(f"RTSP test server did not start on port {self.port}")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc.stdout.close()
            self.proc = None


def _mount_tmpfs(target: Path, options: str) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def _umount(target: Path) -> None:
    subprocess.run(["umount", "-l", str(target)], capture_output=True, timeout=10)


def crowd(people: int, every: int = 10, stay: int = 20, fps: float = 25.0, size: tuple[int, int] = (320, 240)):
    """A shift in fast-forward: ``(frame, faces)`` with a new person every ``every`` frames, each in view for ``stay``
    frames walking across, each in their own clothes colour (real pixels for re-identification); odd people unmasked.
    The faces carry detector and classifier fields only, as the tracker gets them."""
    from facemask_live.core.results import Face, Frame

    w, h = size
    for i in range(people * every + stay):
        img = np.full((h, w, 3), 70, np.uint8)
        faces = []
        for p in range(max(0, (i - stay) // every + 1), min(people, i // every + 1)):
            t = i - p * every  # frames since person p came in
            x = int(20 + (w - 80) * t / stay) if p % 2 else int(w - 60 - (w - 80) * t / stay)
            box = (x, 60, x + 40, 110)
            colour = cv2.cvtColor(np.uint8([[[(p * 37) % 180, 200, 200]]]), cv2.COLOR_HSV2BGR)[0, 0].tolist()
            cv2.rectangle(img, (x - 20, 50), (x + 60, 200), colour, -1)
            cv2.circle(img, (x + 20, 85), 22, (150, 170, 200), -1)
            label = "no_mask" if p % 2 else "mask"
            faces.append(Face(box, 0.95, label, 0.95, {label: 0.95, ("mask" if p % 2 else "no_mask"): 0.05}))
        yield Frame(img, i, i / fps, time.monotonic(), source="door"), faces
