"""A camera with two streams: detection on the substream, the recording on the main stream, opened only on demand."""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from helpers import RtspServer, free_port, run_cli, wait_until

from facemask_live.core.config import CameraSettings
from facemask_live.sources.dual import DualCapture, open_capture

FRAMES = 20


def _first_frames(clip, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(clip))
    frames = [cap.read()[1] for _ in range(n)]
    cap.release()
    return frames


def _write_streams(clip, folder, sizes: dict, n: int = FRAMES) -> dict:
    """The first ``n`` frames of a real clip, written once per stream at its size: {name: path}."""
    frames = _first_frames(clip, n)
    paths = {}
    for name, size in sizes.items():
        paths[name] = folder / f"{name}.avi"
        w = cv2.VideoWriter(str(paths[name]), cv2.VideoWriter_fourcc(*"MJPG"), 25, size)
        for f in frames:
            w.write(cv2.resize(f, size, interpolation=cv2.INTER_AREA))
        w.release()
    return paths


@pytest.fixture(scope="module")
def two_streams(shared_dir, tmp_path_factory):
    """A real 1280x720 clip (main stream) and the same frames at 640x360 (substream)."""
    clip = shared_dir / "media" / "videos" / "street_nomask.mp4"
    return _write_streams(clip, tmp_path_factory.mktemp("dual"), {"main": (1280, 720), "sub": (640, 360)})


def _frames(path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, img = cap.read()
        if not ok:
            return out
        out.append(img)


def test_recording_is_the_main_stream_with_the_substreams_boxes_scaled(two_streams, tmp_path):
    out, dets = tmp_path / "out.avi", tmp_path / "dets.jsonl"
    done = run_cli("--config", _site_config(tmp_path, two_streams), "--headless", "--no-progress", "--output", str(out), "--detections", str(dets))
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in dets.read_text().splitlines()]
    assert len(records) == FRAMES
    boxes = [(r["frame"], f["box"]) for r in records for f in r["faces"]]
    assert boxes, "the substream's face was found"
    assert all(b[2] <= 640 and b[3] <= 360 for _, b in boxes)  # detection ran on the 640x360 substream
    recorded, main = _frames(out), _frames(two_streams["main"])
    assert len(recorded) == FRAMES and recorded[0].shape == (720, 1280, 3)  # every frame, at the main stream's size
    index, (x1, y1, x2, y2) = boxes[len(boxes) // 2]
    diff = cv2.absdiff(recorded[index], main[index]).max(axis=2).astype(np.float32)
    # the drawn box lies on the main frame where the substream's box lands when scaled by 2
    edge = diff[2 * y1 - 2: 2 * y1 + 3, 2 * x1: 2 * x2].mean()
    assert edge > 40 and edge > 4 * diff.mean()


def test_the_substream_is_detected_at_its_own_size_unless_enlarging_is_asked(two_streams, tmp_path):
    """A 640x360 detect stream goes into the 700-px detector at its own size (a quarter less work per pass);
    ``detector.enlarge_detect_stream: true`` enlarges it like a single stream; a camera without one is unchanged."""
    from facemask_live import Monitor

    def network_input(config_text: str) -> tuple[int, int]:
        config = tmp_path / "site.yaml"
        config.write_text(config_text)
        with Monitor(config=config) as monitor:
            faces = [f for _, r in monitor.results() for f in r.faces]
            assert faces, "the face was found"
            return monitor.site.detector._anchors[0]

    two = f"cameras:\n  - name: door\n    source: {two_streams['main']}\n    detect_source: {two_streams['sub']}\n"
    assert network_input(two) == (640, 360)
    assert network_input("detector: {enlarge_detect_stream: true}\n" + two) == (700, 394)
    assert network_input(f"cameras:\n  - name: door\n    source: {two_streams['sub']}\n") == (700, 394)


def _site_config(folder, streams) -> str:
    config = folder / "site.yaml"
    config.write_text(f"cameras:\n  - name: door\n    source: {streams['main']}\n    detect_source: {streams['sub']}\n")
    return str(config)


def test_private_recording_of_the_main_stream_blurs_compliant_faces(shared_dir, tmp_path):
    """--privacy-window: the window's privacy sink redacted the substream's drawing; the main stream's is redacted too."""
    clip = shared_dir / "media" / "videos" / "office_mask.mp4"  # a masked (compliant) face
    streams = _write_streams(clip, tmp_path, {"main": (720, 404), "sub": (360, 202)})
    out, dets = tmp_path / "out.avi", tmp_path / "dets.jsonl"
    done = run_cli("--config", _site_config(tmp_path, streams), "--headless", "--no-progress", "--output", str(out),
                   "--detections", str(dets), "--privacy", "--privacy-window")
    assert done.returncode == 0, done.stderr
    masked = [(r["frame"], f["box"]) for r in map(json.loads, dets.read_text().splitlines()) for f in r["faces"]
              if f.get("label") == "mask"]
    assert masked, "the masked face was judged"
    recorded, main = _frames(out), _frames(streams["main"])
    for index, (x1, y1, x2, y2) in masked:
        face = (slice(2 * y1 + 4, 2 * y2 - 4), slice(2 * x1 + 4, 2 * x2 - 4))  # inside the drawn box, main pixels
        sharp = cv2.Laplacian(cv2.cvtColor(main[index][face], cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
        kept = cv2.Laplacian(cv2.cvtColor(recorded[index][face], cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
        assert kept < sharp / 4, (index, kept, sharp)  # blurred


def test_main_stream_decoded_only_while_wanted(rtsp_ready, face_frame, tmp_path):
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), face_frame)
    main, sub = RtspServer(image).start(), RtspServer(image).start()
    try:
        spec = SimpleNamespace(source=main.url, detect_source=sub.url)
        cap = open_capture(spec, realtime=True)
        assert isinstance(cap, DualCapture)
        cap.idle_s = 0.5
        cap.start()
        try:
            assert cap.read(10) is not None  # the camera reads the substream ...
            threads = {t.name for t in threading.enumerate()}
            assert not cap.main_open and not any(main.url.split("//")[1] in n for n in threads)  # ... and only it
            assert wait_until(lambda: cap.main_frame() is not None, 15)  # a recording or the enlarged tile asks
            assert cap.main_open and cap.main_opens == 1
            assert cap.main_frame().image.shape == (240, 320, 3)
            end = threading.Event()
            end.wait(0.8)  # nobody asked for 0.8 s > idle_s: the next frame read closes the main stream
            assert cap.read(5) is not None and not cap.main_open
            assert cap.main_frame() is not None or wait_until(lambda: cap.main_frame() is not None, 15)
            assert cap.main_opens == 2  # opened again on demand
        finally:
            cap.stop()
    finally:
        main.stop()
        sub.stop()


def test_a_live_main_stream_opens_beside_the_camera_and_a_dead_one_is_retried_slowly(rtsp_ready, face_frame, tmp_path):
    """Opening an RTSP main stream takes a second or more: the camera's thread, which asks for it when a violation
    starts, goes on reading its detect stream meanwhile. A main stream that does not open is tried again after
    seconds, not at every frame that asks for it."""
    from facemask_live.sources.capture import Capture, parse_source

    image = tmp_path / "face.png"
    cv2.imwrite(str(image), face_frame)
    main, sub = RtspServer(image).start(), RtspServer(image).start()
    urls, opens = [main.url], []

    def open_main():
        opens.append(time.monotonic())
        return Capture(parse_source(urls[-1]), realtime=True, backlog=1)

    try:
        cap = DualCapture(Capture(parse_source(sub.url), realtime=True), open_main).start()
        try:
            assert cap.read(10) is not None
            cap.want_main()
            assert opens and not cap.main_open  # asked for and being opened, while the camera's thread goes on
            assert all(cap.read(5) is not None for _ in range(5))
            assert wait_until(lambda: cap.main_frame() is not None, 15)
            assert cap.main_frame().image.shape == (240, 320, 3) and cap.main_opens == 1 and len(opens) == 1
        finally:
            cap.stop()
        urls.append(f"rtsp://127.0.0.1:{free_port()}/live")  # nothing listens there
        opens.clear()
        cap = DualCapture(Capture(parse_source(sub.url), realtime=True), open_main).start()
        try:
            start = time.monotonic()
            while time.monotonic() - start < 3.5:  # a violator in view: every frame asks
                assert cap.read(5) is not None
                cap.want_main()
            assert cap.main_frame() is None and cap.main_error and "cannot open stream" in cap.main_error
            assert 2 <= len(opens) <= 3 and opens[1] - opens[0] >= 1.9  # at 0 and 2 s (then 6 s), not 35 times
        finally:
            cap.stop()
    finally:
        main.stop()
        sub.stop()


def _jpeg_frames(clip, folder, size, n: int = 50):
    """The first ``n`` frames of a real clip as numbered JPEGs at ``size``: what tests/rtsp_server.py loops."""
    folder.mkdir()
    for i, frame in enumerate(_first_frames(clip, n)):
        cv2.imwrite(str(folder / f"{i:03d}.jpg"), cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    return folder


def test_a_headless_site_reads_its_rtsp_streams_live_without_stopping_at_a_violator(rtsp_ready, shared_dir, tmp_path):
    """A headless site (the Monitor API, as the CLI runs one) reads an RTSP camera's two streams live: the unmasked
    man walking in the street, 640x360 main stream and 320x180 substream at 25 fps. Before, a headless site opened
    live streams the way files are read (the reader waiting for the camera), and once the man was labelled a
    violation the camera's thread opened the main stream and then waited for it to reach the detect stream's frame
    number: it processed nothing for seconds (7 s measured), and its event came that much later."""
    from facemask_live import Monitor

    clip = shared_dir / "media" / "videos" / "street_nomask.mp4"
    main = RtspServer(_jpeg_frames(clip, tmp_path / "main", (640, 360))).start()
    sub = RtspServer(_jpeg_frames(clip, tmp_path / "sub", (320, 180))).start()
    config = tmp_path / "site.yaml"
    config.write_text(f"cameras:\n  - name: door\n    source: {main.url}\n    detect_source: {sub.url}\n")
    done, events = [], []
    try:
        with Monitor(config=config, output={"snapshots": str(tmp_path / "snaps")},
                     on_result=lambda _cam, _result, _drawn: done.append(time.monotonic())) as mon:
            for _cam, result in mon.results(timeout=10):
                events += result.events
            capture = mon.site.cameras["door"].capture
            assert capture.realtime and capture.main_opens == 1 and capture.main.realtime
            assert capture.main_frame().image.shape == (360, 640, 3)
            figures = mon.site.stats()["cameras"]["door"]
    finally:
        main.stop()
        sub.stop()
    assert [e.label for e in events] == ["no_mask"]  # the violator that asked for the main stream
    gaps = np.diff(done)
    assert len(done) > 150 and gaps.max() < 0.5, (len(done), gaps.max())  # 25 fps, processed all along
    # what the substream had buffered while it connected is reported as stale, not as captured or dropped
    assert figures["frames_stale"] >= 5 and figures["dropped"] <= 5, figures


def test_one_source_is_a_plain_capture(two_streams):
    from facemask_live.sources.capture import Capture

    cap = open_capture(SimpleNamespace(source=str(two_streams["main"]), detect_source=None))
    assert type(cap) is Capture
    cap.stop()


def test_detect_source_must_differ_from_source(tmp_path):
    with pytest.raises(ValueError, match="detect_source"):
        CameraSettings("door", "rtsp://cam/main", detect_source="rtsp://cam/main")
    config = tmp_path / "site.yaml"
    config.write_text("cameras:\n  - name: door\n    source: a.mp4\n    detect_source: ''\n")
    done = run_cli("--config", str(config), "--headless")
    assert done.returncode != 0 and done.stderr.startswith("error: ") and "detect_source" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_violators_snapshot_comes_from_the_main_stream(two_streams, tmp_path):
    """The unmasked man, detected on the 640x360 substream: his event's snapshot is the 1280x720 main frame with
    his box drawn at twice the substream's coordinates (the main stream opened when he was first seen unmasked)."""
    events, snaps = tmp_path / "events.jsonl", tmp_path / "snaps"
    done = run_cli("--config", _site_config(tmp_path, two_streams), "--headless", "--no-progress",
                   "--events", str(events), "--snapshots", str(snaps))
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in events.read_text().splitlines()]
    assert records and records[0]["label"] == "no_mask"
    snap = cv2.imread(records[0]["snapshot"])
    assert snap.shape == (720, 1280, 3)
    x1, y1, x2, y2 = records[0]["box"]  # the event's box, on the substream
    assert x2 <= 640 and y2 <= 360
    red = np.argwhere(np.abs(snap.astype(int) - (40, 40, 230)).sum(axis=2) < 30)  # the drawn "no mask" box
    (ry1, rx1), (ry2, rx2) = red.min(axis=0), red.max(axis=0)
    assert abs((rx2 - rx1) - 2 * (x2 - x1)) < 0.25 * 2 * (x2 - x1)  # his box, at twice the substream's size
    # the picture is a main-stream frame, not a substream frame enlarged (outside the box and its label)
    outside = np.ones(snap.shape[:2], bool)
    outside[max(ry1 - 60, 0): ry2 + 60, max(rx1 - 10, 0): rx2 + 200] = False
    main = min(cv2.absdiff(snap, m)[outside].mean() for m in _frames(two_streams["main"]))
    enlarged = min(cv2.absdiff(snap, cv2.resize(m, (1280, 720)))[outside].mean() for m in _frames(two_streams["sub"]))
    assert main < 1.0 < enlarged, (main, enlarged)


def test_the_main_stream_stays_closed_while_nobody_violates(shared_dir, tmp_path):
    """A masked face and no recording: nothing needs the main stream, so it is never decoded."""
    from facemask_live import Monitor

    clip = shared_dir / "media" / "videos" / "office_mask.mp4"
    streams = _write_streams(clip, tmp_path, {"main": (1280, 720), "sub": (640, 360)})
    with Monitor(config=_site_config(tmp_path, streams), output={"snapshots": str(tmp_path / "snaps")}) as mon:
        labels = [f.label for _cam, r in mon.results(timeout=60) for f in r.faces]
        capture = mon.site.cameras["door"].capture
    assert "mask" in labels and "no_mask" not in labels
    assert isinstance(capture, DualCapture) and capture.main_opens == 0
