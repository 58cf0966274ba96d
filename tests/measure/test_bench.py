"""The benchmark runs the real pipeline on a few frames of a real clip and reports every figure."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import REPO

from facemask_live.measure import bench

STAGE_KEYS = {"median_ms", "p95_ms", "count"}
TOP_KEYS = {
    "tool", "command", "source", "faces_mode", "frame_size", "frames", "machine", "settings", "end_to_end", "fps",
    "detector_only", "detector_only_fps", "ratio_to_detector", "stages", "faces_per_frame", "peak_rss_mb", "startup",
    "startup_s", "realtime", "frame_age_ms", "plain_loop", "plain_loop_fps",
}  # fmt: skip


@pytest.fixture(scope="module")
def clip(shared_dir):
    return shared_dir / "media" / "videos" / "office_mask.mp4"


def test_bench_json_has_every_field(clip, classifier_model, tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = bench.main(
        ["--source", str(clip), "--model", str(classifier_model), "--frames", "8", "--realtime", "--json", str(out)]
    )
    assert code == 0
    rep = json.loads(out.read_text())
    assert rep.keys() >= TOP_KEYS
    assert rep["frames"] == rep["end_to_end"]["processed"] == 8
    assert rep["fps"] > 0 and rep["detector_only_fps"] > 0
    assert rep["ratio_to_detector"] == pytest.approx(rep["fps"] / rep["detector_only_fps"], rel=0.01)
    assert rep["detector_only"]["frames"] == 8 and rep["detector_only"]["faces_mean"] == 1.0
    assert rep["plain_loop"]["frames"] == 8 and rep["plain_loop_fps"] > 0
    assert rep["end_to_end"]["cpu_ms_per_frame"] > 0 and rep["detector_only"]["cpu_ms_per_frame"] > 0
    assert set(rep["stages"]) == set(bench.STAGES)
    for name, d in rep["stages"].items():
        assert set(d) == STAGE_KEYS, name
    assert rep["settings"]["detect_every"] == 2  # the app's default: detector on every 2nd frame, flow between
    for name, least in (
        ("decode", 8),
        ("track", 7),
        ("draw", 7),
        ("total", 7),
        ("detect", 3),
        ("preprocess", 3),
        ("classify", 3),
        ("flow", 3),
    ):
        d = rep["stages"][name]
        assert d["count"] >= least and 0 <= d["median_ms"] <= d["p95_ms"], name
    assert rep["stages"]["detect"]["count"] + rep["stages"]["flow"]["count"] == 7  # every frame after the first
    assert rep["faces_per_frame"] == {"mean": 1.0, "min": 1, "max": 1}  # one person in the clip
    assert rep["frame_size"] == [720, 404]
    assert 50 < rep["peak_rss_mb"] < 4096
    s = rep["settings"]
    assert {"pipelined", "detect_threads", "classify_threads", "detect_every", "track", "classifier_engine"} <= s.keys()
    m = rep["machine"]
    assert m["nproc"] >= 1 and m["cpu_model"] and m["opencv"]
    st = rep["startup"]
    assert rep["startup_s"] == st["first_result_s"] > 0
    assert st["cli_exit_code"] == 0 and st["cli_run_s"] > 0 and st["cli_peak_rss_mb"] > 50
    b = st["breakdown_s"]
    assert b["faces"] == 1  # the probe really processed the first frame
    assert set(b) >= {"import_app_s", "import_onnxruntime_s", "load_models_s", "first_frame_s", "since_import_s"}
    assert b["since_import_s"] < st["first_result_s"]  # the parent's clock also counts interpreter start-up
    rt = rep["realtime"]
    assert rt["processed"] >= 1 and rt["source_fps"] == 25.0
    assert rep["frame_age_ms"] == rt["frame_age_ms"] and rt["frame_age_ms"]["median"] > 0
    table = capsys.readouterr().out
    for text in ("end to end", "detector only", "decode", "classify", "peak RSS", "start-up to first result", "shown frame age"):
        assert text in table


def test_bench_mosaic_serial_detect_every(clip, classifier_model, tmp_path):
    out = tmp_path / "bench.json"
    argv = ["--source", str(clip), "--model", str(classifier_model), "--frames", "6", "--faces", "3", "--serial",
            "--detect-every", "2", "--threads", "1", "--no-startup", "--json", str(out)]  # fmt: skip
    assert bench.main(argv) == 0
    rep = json.loads(out.read_text())
    assert rep["startup"] is None and rep["realtime"] is None
    s = rep["settings"]
    assert (s["pipelined"], s["detect_every"], s["detect_threads"], s["classify_threads"]) == (False, 2, 1, 1)
    assert rep["faces_per_frame"]["max"] == 3  # three faces in the mosaic, found by the real detector
    assert rep["detector_only"]["faces_mean"] == 3.0
    assert rep["stages"]["detect"]["count"] >= 2 and rep["stages"]["flow"]["count"] >= 2


def test_bench_bad_source_is_one_line_error(tmp_path):
    image = tmp_path / "still.png"
    image.write_bytes(b"\x89PNG not really")
    for source, code in ((tmp_path / "missing.mp4", 3), (image, 3)):
        r = subprocess.run([sys.executable, "-m", "facemask_live.measure.bench", "--source", str(source), "--no-startup"],
                           cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert r.returncode == code, r.stderr
        assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "Traceback" not in r.stderr


def test_bench_detector_size_reaches_the_detector(clip, classifier_model, tmp_path):
    """--detector-size measures a detector candidate (issue 12): the pipeline's detector runs at that input size."""
    out = tmp_path / "bench.json"
    argv = ["--source", str(clip), "--model", str(classifier_model), "--frames", "4", "--serial", "--threads", "1",
            "--detector-size", "960", "--no-startup", "--json", str(out)]  # fmt: skip
    assert bench.main(argv) == 0
    rep = json.loads(out.read_text())
    assert rep["settings"]["detector_input"] == 960
    assert rep["detector_only"]["faces_mean"] >= 1.0  # the face is still found at that size
