"""Shared fixtures: shared data, the classifier, real RTSP and MJPEG servers on 127.0.0.1, small and read-only disks.

Helper functions and classes live in tests/helpers.py (imported as a module by the tests).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import MODEL_JSON, SHARED, MjpegServer, RtspServer, _mount_tmpfs, _rtsp_available, _umount

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _no_stale_log_handlers():
    """The CLI run in-process (facemask_live.core.logs.log_to_terminal) binds a root log handler to that test's captured
    stderr; a camera thread of a later test logging through it writes to a closed stream ("Logging error" in the
    CI output). Such handlers go when their test ends."""
    root = logging.getLogger()
    before = set(root.handlers)
    yield
    for h in root.handlers[:]:
        if type(h) is logging.StreamHandler and h not in before:  # pytest's own handlers are subclasses
            root.removeHandler(h)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only shared/ folder beside the repo; tests using it skip only when it does not exist."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder {SHARED} not present")
    return SHARED


@pytest.fixture(scope="session")
def face_frame(shared_dir) -> np.ndarray:
    """A real 320x240 frame with one clearly visible face (street_nomask.mp4, frame 40)."""
    cap = cv2.VideoCapture(str(shared_dir / "media" / "videos" / "street_nomask.mp4"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 40)
    ok, img = cap.read()
    cap.release()
    assert ok, "cannot read shared/media/videos/street_nomask.mp4"
    return cv2.resize(img, (320, 240), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="session")
def classifier_model() -> Path:
    """The trained default classifier (or $FACEMASK_TEST_MODEL); tests needing it skip only while it does not exist."""
    path = Path(os.environ.get("FACEMASK_TEST_MODEL") or MODEL_JSON)
    if not path.is_file():
        pytest.skip(f"classifier model {path} not trained yet")
    return path


@pytest.fixture
def mjpeg_server():
    server = MjpegServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rtsp_ready():
    why = _rtsp_available()
    if why:
        pytest.skip(f"no RTSP test server: {why}")


@pytest.fixture
def rtsp_server(rtsp_ready, tmp_path, face_frame):
    """A live RTSP stream of a real face (320x240, 10 fps); stop()/start() to cut and restore it."""
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), face_frame)
    server = RtspServer(image).start()
    yield server
    server.stop()


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs folder (a disk that fills up); skips where mounting is not permitted."""
    target = tmp_path / "small_disk"
    if not _mount_tmpfs(target, "size=2m"):
        pytest.skip("cannot mount a tmpfs here (needs root and mount permission)")
    yield target
    _umount(target)


@pytest.fixture
def readonly_dir(tmp_path):
    """A folder no one can write to, not even root: a read-only tmpfs, or else a path under a regular file."""
    target = tmp_path / "readonly"
    if _mount_tmpfs(target, "ro,size=1m"):
        yield target
        _umount(target)
    else:
        blocker = tmp_path / "a_file"
        blocker.write_text("not a folder")
        yield blocker / "sub"
