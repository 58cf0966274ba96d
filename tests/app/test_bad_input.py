"""Bad input, tried for real: broken videos and images, missing cameras and streams, broken models,
unwritable and full output folders. Each gives one clear line and an exit code; none crashes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import count_frames, make_video, pattern_frame, read_all, run_cli

from facemask_live.app import cli
from facemask_live.core.errors import ModelError, OutputError, SourceError, exit_code_of
from facemask_live.detection.detect import create_detector
from facemask_live.outputs.sinks import DetectionsWriter, EventLog, VideoSink, ensure_dir, save_snapshot
from facemask_live.sources.capture import Capture


# -- videos -------------------------------------------------------------------------------------
def test_truncated_avi_plays_what_is_left_and_ends(tmp_path):
    full = make_video(tmp_path / "full.avi", n=40)
    data = full.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    cap = Capture(str(cut)).start()
    frames = read_all(cap)
    assert 5 <= len(frames) < 40
    assert cap.stats.status == "ended" and cap.error is None


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("cut.mp4", "half-mp4", "cannot (open|read) video"),  # the index (moov) is at the end: nothing decodable
        ("noise.mp4", "random", "cannot (open|read) video"),
        ("notes.avi", "text", "cannot (open|read) video"),
        ("empty.mp4", "empty", "empty"),
    ],
)
def test_broken_video_files_are_source_errors(tmp_path, name, content, match):
    path = tmp_path / name
    if content == "half-mp4":
        data = make_video(tmp_path / "full.mp4", n=40).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif content == "random":
        path.write_bytes(np.random.default_rng(1).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    elif content == "text":
        path.write_text("this is not a video\n" * 100)
    else:
        path.write_bytes(b"")
    with pytest.raises(SourceError, match=match) as err:
        Capture(str(path))
    assert name in str(err.value) and "\n" not in str(err.value)


# -- images -------------------------------------------------------------------------------------
def test_undecodable_single_image_is_a_source_error(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    with pytest.raises(SourceError, match="cannot decode image .*photo.jpg"):
        Capture(str(path))
    (tmp_path / "zero.png").write_bytes(b"")
    with pytest.raises(SourceError, match="empty, truncated or not an image"):
        Capture(str(tmp_path / "zero.png"))


def test_huge_grayscale_and_rgba_images_find_the_face(tmp_path, face_frame):
    """An 8000x6000 photo, a grayscale one and one with an alpha channel: all read, the face is found."""
    folder = tmp_path / "photos"
    folder.mkdir()
    huge = cv2.resize(face_frame, (8000, 6000), interpolation=cv2.INTER_LINEAR)
    cv2.imwrite(str(folder / "a_huge.jpg"), huge, [cv2.IMWRITE_JPEG_QUALITY, 80])
    cv2.imwrite(str(folder / "b_gray.png"), cv2.cvtColor(face_frame, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "c_rgba.png"), cv2.cvtColor(face_frame, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(folder / "d_gray16.png"), cv2.cvtColor(face_frame, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257)
    detector = create_detector()  # the app's default detector
    cap = Capture(str(folder)).start()
    frames = read_all(cap)
    assert [f.file for f in frames] == ["a_huge.jpg", "b_gray.png", "c_rgba.png", "d_gray16.png"]
    assert frames[0].image.shape == (6000, 8000, 3)
    for f in frames:
        assert f.image.ndim == 3 and f.image.shape[2] == 3 and f.image.dtype == np.uint8
        faces = detector.detect(f.image)
        assert len(faces) == 1, f.file
    x1, y1, x2, y2 = detector.detect(frames[0].image)[0].box
    assert x2 - x1 > 1000 and y2 - y1 > 1000  # boxes in the huge image's own pixels


# -- outputs ------------------------------------------------------------------------------------
def test_unwritable_output_folders_are_output_errors(tmp_path, readonly_dir):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for make in (
        lambda: ensure_dir(readonly_dir, "snapshot"),
        lambda: ensure_dir(blocker / "snaps", "snapshot"),
        lambda: VideoSink(readonly_dir / "out.mp4", 10),
        lambda: DetectionsWriter(blocker / "det.jsonl"),
        lambda: EventLog(readonly_dir / "events.csv"),
    ):
        with pytest.raises(OutputError) as err:
            make()
        assert "\n" not in str(err.value) and ("folder" in str(err.value) or "file" in str(err.value))
    with pytest.raises(OutputError, match="cannot write snapshot"):
        save_snapshot(readonly_dir, pattern_frame(1), None, 1)


def test_disk_filling_up_stops_the_recording_and_keeps_a_playable_video(small_disk):
    """A 2 MiB disk: recording stops with a message before the disk is full; the video plays to its last frame."""
    rng = np.random.default_rng(0)
    for ext in ("mp4", "avi"):
        sink = VideoSink(small_disk / f"out.{ext}", 10)
        for i in range(500):
            frame = pattern_frame(i)
            frame[60:180, 80:240] = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)  # hard to compress
            sink.write(None, frame)  # never raises, also after it stopped
            if sink.stopped_reason and i > sink.frames + 3:
                break
        sink.close()
        assert sink.stopped_reason and "disk is full" in sink.stopped_reason
        assert sink.frames >= 5
        assert count_frames(sink.path) == sink.frames
        sink.path.unlink()


def test_jsonl_log_on_a_full_disk_stops_and_says_so(small_disk, caplog):
    filler = small_disk / "filler"
    writer = DetectionsWriter(small_disk / "det.jsonl")
    with open(filler, "wb") as fh:  # fill the disk
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    from facemask_live.core.results import Frame, FrameResult

    frame = Frame(pattern_frame(0), 0, 0.0, 0.0, None, "test")
    for _ in range(2000):
        writer.write(FrameResult(frame, []))
        if writer.stopped_reason:
            break
    assert writer.stopped_reason and "No space left" in writer.stopped_reason
    try:
        writer.close()
    except OSError:
        pass


# -- the CLI ------------------------------------------------------------------------------------
def cli_error(capsys, *argv: str) -> tuple[int, str]:
    """Run the CLI in-process; return its exit code and its one-line error."""
    code = cli.main(["--headless", "--no-progress", *argv])
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert "Traceback" not in err
    assert lines and lines[-1].startswith("error: "), err
    assert sum(line.startswith("error: ") for line in lines) == 1, err
    return code, lines[-1]


@pytest.fixture
def model_copy(tmp_path, classifier_model) -> Path:
    """A writable copy of the trained classifier's metadata and model files."""
    folder = tmp_path / "model"
    folder.mkdir()
    meta = json.loads(classifier_model.read_text())
    shutil.copy(classifier_model, folder / classifier_model.name)
    shutil.copy(classifier_model.parent / meta["model_file"], folder / meta["model_file"])
    return folder / classifier_model.name


@pytest.mark.parametrize(
    "source, words",
    [
        ("missing.mp4", ["source not found", "missing.mp4"]),
        ("0", ["cannot open camera 0", "another index", "--demo"]),
        ("7", ["cannot open camera 7"]),
        ("rtsp://127.0.0.1:1/x", ["cannot open stream rtsp://127.0.0.1:1/x"]),
        ("http://127.0.0.1:1/video", ["cannot open stream http://127.0.0.1:1/video"]),
        ("broken.jpg", ["cannot decode image", "broken.jpg"]),
        ("noise.avi", ["noise.avi"]),
    ],
)
def test_cli_source_errors(capsys, tmp_path, monkeypatch, classifier_model, source, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff" + b"\x01" * 100)
    (tmp_path / "noise.avi").write_bytes(np.random.default_rng(2).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    code, line = cli_error(capsys, "--source", source, "--model", str(classifier_model))
    assert code == SourceError.exit_code
    for w in words:
        assert w in line


def test_cli_model_errors(capsys, tmp_path, model_copy):
    video = make_video(tmp_path / "clip.avi", n=3)
    meta = json.loads(model_copy.read_text())
    model_file = model_copy.parent / meta["model_file"]

    code, line = cli_error(capsys, "--source", str(video), "--model", str(tmp_path / "nope.json"))
    assert code == ModelError.exit_code and "not found" in line and "nope.json" in line

    data = model_file.read_bytes()
    model_file.write_bytes(data[: len(data) // 3])  # truncated
    code, line = cli_error(capsys, "--source", str(video), "--model", str(model_copy))
    assert code == ModelError.exit_code and "corrupt" in line
    model_file.write_bytes(data)

    bad = dict(meta, labels=[*meta["labels"], "extra_label"])  # metadata that disagrees with the model
    model_copy.write_text(json.dumps(bad))
    code, line = cli_error(capsys, "--source", str(video), "--model", str(model_copy))
    assert code == ModelError.exit_code and "label" in line

    h, w = meta["input"]["size"]
    bad = dict(meta, input=dict(meta["input"], size=[h // 2, w // 2]))  # wrong input shape
    model_copy.write_text(json.dumps(bad))
    code, line = cli_error(capsys, "--source", str(video), "--model", str(model_copy))
    assert code == ModelError.exit_code and f"{h}x{w}" in line

    model_copy.write_text('{"labels": ["a", ')  # corrupt metadata
    code, line = cli_error(capsys, "--source", str(video), "--model", str(model_copy))
    assert code == ModelError.exit_code and "JSON" in line


def test_cli_output_errors(capsys, tmp_path, readonly_dir, classifier_model):
    video = make_video(tmp_path / "clip.avi", n=3)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    base = ["--source", str(video), "--model", str(classifier_model)]
    for opts in (
        ["--output", str(readonly_dir / "out.mp4")],
        ["--snapshots", str(readonly_dir)],
        ["--detections", str(blocker / "det.jsonl")],
        ["--events", str(blocker / "sub" / "events.jsonl")],
    ):
        code, line = cli_error(capsys, *base, *opts)
        assert code == OutputError.exit_code, line
        assert "cannot write" in line or "cannot create" in line


def test_cli_keeps_running_when_the_disk_fills_up(tmp_path, small_disk, classifier_model):
    video = make_video(tmp_path / "clip.avi", n=120, size=(640, 480))
    out = small_disk / "out.avi"
    det = tmp_path / "det.jsonl"
    r = run_cli("--headless", "--no-progress", "--source", str(video), "--model", str(classifier_model),
                "--output", str(out), "--detections", str(det))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "disk is full" in r.stderr and "Traceback" not in r.stderr
    assert len(det.read_text().splitlines()) == 120  # everything else went on
    n = count_frames(out)
    assert 0 < n < 120


def test_cli_never_shows_a_stream_password(tmp_path, classifier_model):
    for url in ("rtsp://user:s3cret@127.0.0.1:1/x", "http://admin:s3cret@127.0.0.1:1/video"):
        r = run_cli("--headless", "--source", url, "--model", str(classifier_model), "--verbose", timeout=60)
        assert r.returncode == SourceError.exit_code
        assert "s3cret" not in r.stderr and "s3cret" not in r.stdout
        assert ":***@127.0.0.1:1" in r.stderr
        assert r.stderr.strip().splitlines()[-1].startswith("error: cannot open stream")
        assert "Traceback" not in r.stderr


def test_every_command_turns_exceptions_into_one_line_and_an_exit_code(capsys):
    def raising(exc):
        def action():
            raise exc
        return action

    cases = [
        (SourceError("cannot open stream rtsp://u:secret@cam/x"), 3, "error: cannot open stream rtsp://u:***@cam/x"),
        (KeyboardInterrupt(), 130, "interrupted"),
        (MemoryError(), 1, "error: out of memory"),
        (ZeroDivisionError("division by zero"), 1, "error: internal error: ZeroDivisionError: division by zero"),
    ]
    for exc, code, line in cases:
        assert exit_code_of(raising(exc), clean=cli.mask_credentials) == code
        err = capsys.readouterr().err
        assert err.startswith(line) and err.count("\n") == 1 and "Traceback" not in err, err
    assert exit_code_of(lambda: 0) == 0
    with pytest.raises(ZeroDivisionError):  # --debug shows the real traceback
        exit_code_of(raising(ZeroDivisionError()), debug=True)
