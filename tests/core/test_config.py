"""Settings: defaults equal to the command line's, YAML and TOML files, typos, environment, overrides, --print-config."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from helpers import run_cli

from facemask_live.app.options import load_settings
from facemask_live.core.config import (
    ClassifierSettings,
    ConfigError,
    DetectorSettings,
    MqttSettings,
    PeopleLogSettings,
    PrivacySettings,
    Settings,
    load_file,
    settings_to_dict,
    to_yaml,
)

SITE_YAML = """\
source:
  source: rtsp://admin:{FACEMASK_TEST_PASSWORD}@10.0.0.5/live
  stall_timeout: 2
detector:
  confidence: 0.6
  detect_every: 1
classifier:
  violation_labels: [no_mask]
tracking:
  vote_window: 9
output:
  events: events.jsonl
cameras:
  - name: door
    source: "0"
    detector: {confidence: 0.8}
  - name: hall
    source: clip.mp4
    loop: true
"""


def test_defaults_are_the_command_line_defaults():
    assert load_settings([]) == Settings()
    s = Settings()
    assert (s.detector.name, s.detector.min_face, s.detector.detect_every, s.tracking.delay, s.events.cooldown) == (
        "retinaface-masked", 14, 2, 3, 60.0)
    assert s.cameras[0].name == "camera" and s.cameras[0].source == "0"
    assert s.classifier_threads() == 1 and s.detector_threads() >= 1


def test_yaml_file_with_cameras_and_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEMASK_TEST_PASSWORD", "s3cret")
    path = tmp_path / "site.yaml"
    path.write_text(SITE_YAML)
    s = load_file(path)
    assert s.source.source == "rtsp://admin:s3cret@10.0.0.5/live" and s.source.stall_timeout == 2.0
    assert s.detector.confidence == 0.6 and s.tracking.vote_window == 9
    assert s.classifier.violation_labels == ("no_mask",)
    door, hall = s.cameras
    assert door.detector == dataclasses.replace(s.detector, confidence=0.8)  # merged over the site's section
    assert hall.detector is None and hall.loop and s.for_camera(hall).source.source == "clip.mp4"
    assert s.for_camera(door).detector.confidence == 0.8 and s.for_camera(door).detector.detect_every == 1


def test_toml_file(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text('threads = 2\n[detector]\nname = "ssd"\nsize = 400\n[gui]\nheadless = true\n')
    s = load_file(path)
    assert (s.threads, s.detector.name, s.detector.size, s.gui.headless) == (2, "ssd", 400, True)
    assert s.detector_threads() == 2 and s.classifier_threads() == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("detector:\n  confidnce: 0.5\n", "unknown setting 'detector.confidnce' (did you mean 'confidence'?)"),
        ("trackng:\n  delay: 2\n", "unknown setting 'trackng' (did you mean 'tracking'?)"),
        ("cameras:\n  - name: a\n    sorce: x\n", "unknown setting 'cameras[0].sorce' (did you mean 'source'?)"),
        ("detector:\n  confidence: 2\n", "detector.confidence must be in (0, 1], got 2"),
        ("detector:\n  min_face: big\n", "detector.min_face: expected a whole number, got 'big'"),
        ("source:\n  source: 'rtsp://a:{FACEMASK_UNSET_VAR}@h/x'\n", "environment variable FACEMASK_UNSET_VAR is not set"),
        ("cameras:\n  - name: a\n  - name: a\n", "the name 'a' is used twice"),
        ("retention:\n  keep_dayz: 3\n", "unknown setting 'retention.keep_dayz' (did you mean 'keep_days'?)"),
        ("people_log:\n  interval: 0\n", "people_log.interval must be > 0 seconds"),
        ("privacy:\n  window: true\n", "privacy.window and privacy.no_compliant_images need privacy.enabled"),
        ("mqtt:\n  hots: broker\n", "unknown setting 'mqtt.hots' (did you mean 'host'?)"),
        ("mqtt:\n  port: 1884\n", "mqtt.host is required"),
        ("mqtt:\n  host: b\n  snapshot: gif\n", "mqtt.snapshot must be one of topic, base64, path, got 'gif'"),
        ("quality:\n  min_sise: 20\n", "unknown setting 'quality.min_sise' (did you mean 'min_size'?)"),
        ("quality:\n  alert_frames: 16\n", "quality.alert_frames must be a whole number from 1 to 15, got 16"),
        ("reid:\n  max_age: -1\n", "reid.max_age must be >= 0, got -1"),
        ("reid:\n  min_similarty: 0.9\n", "unknown setting 'reid.min_similarty' (did you mean 'min_similarity'?)"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, monkeypatch, text, message):
    monkeypatch.delenv("FACEMASK_UNSET_VAR", raising=False)
    path = tmp_path / "site.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_file(path)
    assert message in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value) and err.value.exit_code == 2


def test_sections_validate_themselves():
    with pytest.raises(ValueError, match="detector.name must be one of retinaface-masked, retinaface, ssd"):
        DetectorSettings(name="yolo")
    with pytest.raises(ValueError, match="violation_threshold must be between 0 and 1"):
        ClassifierSettings(violation_threshold=1.0)


def test_options_given_override_the_file_and_others_keep_it(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("detector:\n  confidence: 0.6\n  min_face: 30\ntracking:\n  enabled: false\nsource:\n  source: a.mp4\n")
    s = load_settings(["--config", str(path), "--confidence", "0.9"])
    assert s.detector.confidence == 0.9  # given: overrides
    assert s.detector.min_face == 30 and not s.tracking.enabled  # not given: the file's, not the option defaults
    assert s.source.source == "a.mp4" and s.cameras[0].source == "a.mp4"
    s = load_settings(["--config", str(path), "--source", "b.mp4", "--track-delay", "5"])
    assert s.cameras[0].source == "b.mp4" and s.tracking.delay == 5


def test_violation_labels_option_is_a_classifier_setting(tmp_path):
    assert load_settings(["--violation-labels", "no_mask, incorrect_mask"]).classifier.violation_labels == ("no_mask", "incorrect_mask")
    path = tmp_path / "site.yaml"
    path.write_text("classifier:\n  violation_labels: [no_mask, incorrect_mask]\n")
    assert load_settings(["--config", str(path), "--violation-labels", "no_mask"]).classifier.violation_labels == ("no_mask",)
    assert load_settings(["--config", str(path)]).classifier.violation_labels == ("no_mask", "incorrect_mask")


def test_people_log_retention_privacy_sections_from_a_file_and_options(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("people_log:\n  path: people.jsonl\n  interval: 30\nretention:\n  keep_days: 14\nprivacy:\n  enabled: true\n")
    s = load_file(path)
    assert s.people_log == PeopleLogSettings("people.jsonl", 30.0)
    assert s.retention.keep_days == 14.0 and s.retention.max_snapshot_mb is None and s.retention.active
    assert s.privacy == PrivacySettings(enabled=True)
    s = load_settings(["--config", str(path), "--people-interval", "5", "--max-snapshot-mb", "200", "--no-compliant-images"])
    assert s.people_log == PeopleLogSettings("people.jsonl", 5.0)  # the file's path, the option's interval
    assert (s.retention.keep_days, s.retention.max_snapshot_mb) == (14.0, 200.0)
    assert s.privacy == PrivacySettings(enabled=True, no_compliant_images=True)
    res = run_cli("--privacy-window", "--print-config", timeout=60)  # needs --privacy: one error line, exit 2
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and res.stderr.startswith("error: privacy:"), res.stderr


def test_quality_and_reid_sections_from_a_file_options_and_into_the_pipeline(tmp_path):
    from facemask_live.engine.build import build_pipeline

    path = tmp_path / "site.toml"
    path.write_text("[quality]\nmin_size = 40\nalert_frames = 4\n[reid]\nmax_age = 20\n")
    s = load_settings(["--config", str(path), "--judge-min-sharpness", "5", "--no-reid", "--headless", "--no-auto-snapshots"])
    assert (s.quality.min_size, s.quality.alert_frames, s.quality.min_sharpness, s.quality.min_score) == (40, 4, 5.0, 0.7)
    assert not s.reid.enabled and s.reid.max_age == 20.0
    pipe = build_pipeline(s)  # the settings go in as constructor arguments
    assert pipe.quality is s.quality and pipe.tracker.reid is None
    assert pipe.monitor.alert_frames == 4 and pipe.monitor.remember == max(20.0, s.events.cooldown)
    off = build_pipeline(load_settings(["--no-quality-gate", "--headless", "--no-auto-snapshots"]))
    assert off.quality is None and off.monitor.alert_frames == 1 and off.tracker.reid is not None
    res = run_cli("--alert-frames", "16", "--print-config", timeout=60)
    assert res.returncode == 2 and "--alert-frames: must be a whole number from 1 to 15" in res.stderr, res.stderr


def test_print_config_round_trips_and_typo_exits_2(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("detector:\n  min_face: 30\nevents:\n  cooldown: 5\n")
    res = run_cli("--config", str(path), "--vote-window", "7", "--print-config", timeout=60)
    assert res.returncode == 0, res.stderr
    printed = yaml.safe_load(res.stdout)
    assert printed["detector"]["min_face"] == 30 and printed["events"]["cooldown"] == 5 and printed["tracking"]["vote_window"] == 7
    again = tmp_path / "again.yaml"
    again.write_text(res.stdout)
    assert load_file(again) == load_settings(["--config", str(path), "--vote-window", "7"])
    assert settings_to_dict(load_file(again)) == printed

    path.write_text("detector:\n  min_fase: 30\n")
    res = run_cli("--config", str(path), "--headless", timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip() == f"error: config {path}: unknown setting 'detector.min_fase' (did you mean 'min_face'?)"


def test_print_config_hides_passwords(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("source:\n  source: 'rtsp://admin:{FACEMASK_TEST_PASSWORD}@10.0.0.5/live'\n")
    import os

    res = run_cli("--config", str(path), "--print-config", timeout=60, env={**os.environ, "FACEMASK_TEST_PASSWORD": "s3cret"})
    assert res.returncode == 0, res.stderr
    assert "s3cret" not in res.stdout and "rtsp://admin:***@10.0.0.5/live" in res.stdout


def test_mqtt_section_from_a_file_and_the_options(tmp_path, monkeypatch):
    from facemask_live.outputs.mqtt import mqtt_camera_name

    monkeypatch.delenv("FACEMASK_MQTT_PASSWORD", raising=False)
    monkeypatch.setenv("FACEMASK_TEST_MQTT_PW", "s3cret")
    path = tmp_path / "site.yaml"
    path.write_text("mqtt:\n  host: broker.local\n  username: desk\n  password: '{FACEMASK_TEST_MQTT_PW}'\n"
                    "  topic_prefix: site/a\n  snapshot: path\ncameras:\n  - name: door\n    source: clip.mp4\n")
    s = load_file(path)
    assert s.mqtt == MqttSettings(host="broker.local", username="desk", password="s3cret", topic_prefix="site/a", snapshot="path")
    assert "s3cret" not in to_yaml(s) and "s3cret" not in repr(s)
    assert mqtt_camera_name(s.for_camera(s.camera("door"))) == "door"  # a named camera keeps its name

    # --mqtt replaces the broker (address, user, password, TLS, CA) and keeps the section's other keys
    s = load_settings(["--config", str(path), "--mqtt", "mqtts://10.0.0.9:8884?ca_file=ca.pem", "--mqtt-camera", "gate"])
    m = s.mqtt
    assert (m.host, m.port, m.tls, m.username, m.password, m.ca_file) == ("10.0.0.9", 8884, True, None, None, "ca.pem")
    assert (m.topic_prefix, m.snapshot, m.camera) == ("site/a", "path", "gate") and mqtt_camera_name(s) == "gate"

    s = load_settings(["--mqtt", "mqtt://b?prefix=x", "--source", "/v/street_nomask.mp4"])
    assert s.mqtt.topic_prefix == "x" and mqtt_camera_name(s) == "street_nomask"  # one made from the source
    assert load_settings([]).mqtt is None
    with pytest.raises(ConfigError, match="--mqtt-camera needs --mqtt URL"):
        load_settings(["--mqtt-camera", "gate"])
    with pytest.raises(ConfigError, match="mqtt.topic_prefix must be a topic"):
        load_settings(["--mqtt", "mqtt://b?prefix=a/%23"])

    res = run_cli("--headless", "--mqtt", "http://u:pw-123@b", timeout=60)
    assert res.returncode == 2 and res.stderr.strip() == "error: MQTT URL must start with mqtt:// or mqtts://, got 'http://u:***@b'"


def test_detector_names_match_the_detectors():
    """config repeats detect.DETECTORS so that it imports no OpenCV; the two lists and defaults must agree."""
    from facemask_live.core import config
    from facemask_live.detection import detect

    assert config.DETECTOR_NAMES == detect.DETECTORS
    assert config.DetectorSettings().name == detect.DEFAULT_DETECTOR
    assert config.DEFAULT_MIN_FACE == detect.DEFAULT_MIN_FACE == config.DetectorSettings().min_face
