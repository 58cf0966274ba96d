"""python -m facemask_live.evaluate --truth on the shared clips: every clip's violation events inside the
range of ../shared/media/videos/truth.json, none late (about 17 s on an idle 2-core machine)."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_every_shared_clip_is_inside_its_truth_range(shared_dir, tmp_path):
    from facemask_live.measure.evaluate import main

    videos = shared_dir / "media" / "videos"
    out = tmp_path / "truth.json"
    assert main(["--truth", str(videos / "truth.json"), "--clips", str(videos), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert len(data["clips"]) == 6
    bad = [(c["clip"], c["events"], c["expected"]) for c in data["clips"] if not c["inside"]]
    assert not bad, f"clips outside their expected range: {bad}"
    late = [(c["clip"], c["event_delays"]) for c in data["clips"] if c["late"]]
    assert not late, f"late events: {late}"
    by = {c["clip"]: c for c in data["clips"]}
    for clip in ("street_nomask.mp4", "man_nomask.mp4"):  # unmasked from the first frame: reported in 1.5 s
        assert by[clip]["first_event"] <= 1.5, by[clip]
    assert by["nurse_mask.mp4"]["events"] == 0 and by["office_mask.mp4"]["masked"] == 1


def test_a_bad_truth_file_is_one_error_line(tmp_path, capsys):
    from facemask_live.measure.evaluate import main

    bad = tmp_path / "truth.json"
    bad.write_text('{"a.mp4": {"violation_events": [2, 1]}}')
    assert main(["--truth", str(bad)]) != 0
    err = capsys.readouterr().err
    assert err.startswith("error:") and "violation_events" in err and "Traceback" not in err
    assert main(["--truth", str(tmp_path / "missing.json")]) != 0


def test_bad_app_options_are_one_error_line(tmp_path, capsys):
    from facemask_live.measure.evaluate import main

    truth = tmp_path / "truth.json"
    truth.write_text('{"a.mp4": {"violation_events": [0, 1]}}')
    for bad in ("--alert-frames 16", "--bogus", "--alert-frames '3"):
        assert main(["--truth", str(truth), f"--app-options={bad}"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: --app-options:") and err.count("\n") == 1, err
