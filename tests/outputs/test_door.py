"""The door signal (issue 29): allow / deny / idle per camera on ``facemask/<camera>/door``, from the same judged,
evidence-gated label as events; the shared clips played live into a real mosquitto (tests/outputs/test_mqtt.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from test_mqtt import MOSQUITTO, Broker, Listener, ha_problems, wait_for

from facemask_live.core.results import DoorView
from facemask_live.outputs.door import ALLOW, DENY, IDLE, DoorSignal

needs_broker = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto not installed (apt-get install mosquitto)")
CLIPS = {"street_nomask": "street_nomask.mp4", "office_mask": "office_mask.mp4", "putting_on": "putting_on_mask_720p.mp4"}


def test_door_signal_holds_through_a_moment_without_a_judged_face_then_idles():
    sig = DoorSignal(idle_after=1.0)
    seen = []
    views = [DoorView(clock=0.0), DoorView(1, "no_mask", True, (0, 0, 9, 9), clock=0.1),
             DoorView(1, None, False, (0, 0, 9, 9), clock=0.5),  # not judged for a moment: still deny
             DoorView(clock=1.0),  # nobody, 0.9 s after the last judged frame: still deny
             DoorView(1, "mask", False, (0, 0, 9, 9), clock=1.2),
             DoorView(clock=2.3),  # 1.1 s without anyone judged: idle
             DoorView(2, "mask", False, (0, 0, 9, 9), off_hours=True, clock=2.4)]
    for v in views:
        new = sig.update(v)
        seen.append(None if new is None else (new.state, new.reason))
    assert seen == [(IDLE, "nobody judged in view"), (DENY, "no mask"), None, None, (ALLOW, "mask"),
                    (IDLE, "nobody judged in view"), (IDLE, "off hours")]


@pytest.fixture(scope="module")
def door_run(shared_dir, tmp_path_factory):
    """The three clips as three live cameras of one site publishing to a real broker; what a subscriber to
    ``facemask/+/door`` and Home Assistant's discovery topics received, and each camera's first judged frame."""
    from facemask_live.core.config import CameraSettings, GuiSettings, MqttSettings, Settings
    from facemask_live.engine.build import build_site

    tmp = tmp_path_factory.mktemp("door")
    broker = Broker(tmp / "broker")
    listener = Listener(broker.port, topics=("facemask/+/door", "homeassistant/sensor/+/door/config"))
    videos = shared_dir / "media" / "videos"
    base = Settings()
    settings = Settings(
        cameras=tuple(CameraSettings(name, str(videos / clip)) for name, clip in CLIPS.items()),
        gui=GuiSettings(headless=True),
        events=dataclasses.replace(base.events, auto_snapshots=False),
        mqtt=MqttSettings(host="127.0.0.1", port=broker.port, outbox_dir=str(tmp / "outbox"), snapshot="path"),
    )
    first_judged: dict[str, tuple[int, float]] = {}  # camera -> (frame index, fps from the frame times)

    def on_result(name, result, annotated):
        if name not in first_judged and any(f.quality is not None and f.quality.judged for f in result.faces):
            first_judged[name] = (result.frame.index, result.frame.timestamp)

    site = build_site(settings, on_result=on_result)
    try:
        assert wait_for(lambda: len(listener.messages) >= 3, 15)  # the discovery entries: connected
        site.start()
        site.wait(60)
    finally:
        site.close()
    assert wait_for(lambda: all(any(json.loads(p)["reason"] == "stopped" for p in listener.on(f"facemask/{n}/door"))
                                for n in CLIPS), 10)
    states = {n: [json.loads(p) for p in listener.on(f"facemask/{n}/door")] for n in CLIPS}
    discovery = {t: json.loads(p) for t, p, _ in listener.messages if t.startswith("homeassistant/")}
    late = Listener(broker.port, topics=("facemask/+/door",))  # what a relay that starts now reads: retained
    assert wait_for(lambda: len(late.messages) >= 3, 10)
    retained = {t: (json.loads(p), r) for t, p, r in late.messages}
    late.close()
    listener.close()
    broker.stop()
    return states, first_judged, discovery, retained


def _sequence(payloads: list[dict]) -> list[str]:
    """The states while the camera ran (the last one, "stopped", is the close)."""
    assert payloads and payloads[-1]["reason"] == "stopped" and payloads[-1]["state"] == IDLE, payloads
    return [p["state"] for p in payloads[:-1]]


@needs_broker
def test_street_nomask_goes_deny_within_half_a_second_of_the_first_judged_frame_and_stays(door_run):
    states, first_judged, _, _ = door_run
    payloads = states["street_nomask"]
    seq = _sequence(payloads)
    denied = [p for p in payloads if p["state"] == DENY]
    assert denied and seq[seq.index(DENY):] == [DENY] * len(seq[seq.index(DENY):]), seq
    assert ALLOW not in seq, seq
    frame, t_first = first_judged["street_nomask"]
    fps = 25.0  # street_nomask.mp4
    assert (denied[0]["frame"] - frame) / fps <= 0.5, (denied[0], frame, t_first)
    assert denied[0]["reason"] == "no mask" and denied[0]["label"] == "no_mask"
    assert denied[0]["iso_time"].endswith("+00:00") and denied[0]["camera"] == "street_nomask"


@needs_broker
def test_office_mask_goes_allow_and_never_deny(door_run):
    seq = _sequence(door_run[0]["office_mask"])
    assert ALLOW in seq and DENY not in seq, seq


@needs_broker
def test_putting_on_a_mask_goes_deny_then_allow(door_run):
    seq = _sequence(door_run[0]["putting_on"])
    assert DENY in seq and ALLOW in seq[seq.index(DENY):], seq
    assert seq[-1] == ALLOW, seq  # the mask stays on to the end of the clip


@needs_broker
def test_door_state_is_retained_and_announced_to_home_assistant(door_run):
    _, _, discovery, retained = door_run
    for name in CLIPS:
        payload, was_retained = retained[f"facemask/{name}/door"]
        assert was_retained and payload["state"] == IDLE and payload["reason"] == "stopped"
        topic = f"homeassistant/sensor/facemask_{name}/door/config"
        config = discovery[topic]
        assert ha_problems(topic, config) == []
        assert config["state_topic"] == f"facemask/{name}/door"
        assert config["options"] == ["allow", "deny", "idle"] and config["value_template"] == "{{ value_json.state }}"
