"""python -m facemask_live.evaluate --truth on the shared clips: every clip's violation events inside the
range of ../shared/media/videos/truth.json, none late (about 17 s on an idle 2-core machine)."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def truth_run(shared_dir, tmp_path_factory) -> dict:
    """``evaluate --truth`` on the shared clips, once for this module: each clip alone, as ``--source CLIP``."""
    from facemask_live.measure.evaluate import main

    videos = shared_dir / "media" / "videos"
    out = tmp_path_factory.mktemp("truth") / "truth.json"
    assert main(["--truth", str(videos / "truth.json"), "--clips", str(videos), "--json", str(out)]) == 0
    return json.loads(out.read_text())


@pytest.mark.slow
def test_every_shared_clip_is_inside_its_truth_range(truth_run):
    data = truth_run
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


@pytest.mark.slow
def test_every_shared_clip_gives_its_events_as_one_camera_of_a_site(shared_dir, truth_run):
    """The six clips as the six cameras of one site (frame by frame, one shared detector): each camera raises
    exactly the events its clip raises alone (cliptruth: ``--source CLIP``), and those are inside the truth."""
    from facemask_live import Monitor
    from facemask_live.core.config import CameraSettings, Settings, override

    videos = shared_dir / "media" / "videos"
    truth = {k: v for k, v in json.loads((videos / "truth.json").read_text()).items() if not k.startswith("_")}
    alone = {c["clip"]: c["event_tracks"] for c in truth_run["clips"]}
    cams = tuple(CameraSettings(name=clip.split(".")[0], source=str(videos / clip)) for clip in truth)
    settings = override(Settings(cameras=cams), gui={"headless": True}, output={"progress": False},
                        events={"auto_snapshots": False})
    events: dict[str, list[int]] = {c.name: [] for c in cams}
    with Monitor(settings=settings) as monitor:
        for camera, result in monitor.results():
            events[camera] += [ev.track_id for ev in result.events]
    assert {clip: events[clip.split(".")[0]] for clip in truth} == alone
    for clip, spec in truth.items():
        low, high = spec["violation_events"]
        assert low <= len(alone[clip]) <= high, (clip, alone[clip])
