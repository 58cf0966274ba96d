"""MQTT publishing, outbox, Home Assistant discovery and the site console, against a real mosquitto broker.

Each test starts its own ``mosquitto`` on a free loopback port (Debian package ``mosquitto``) and listens
with a real paho client. The app runs as a subprocess on the shared clips; the broker-outage test drives
the sink directly with real FrameResults so that the outage can be timed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest

from facemask_live.core.results import Event, Face, Frame, FrameResult
from facemask_live.outputs.mqtt import MqttSettings, MqttSink, camera_name_from_source, event_id
from facemask_live.outputs.outbox import Outbox

REPO = Path(__file__).resolve().parents[2]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto not installed (apt-get install mosquitto)")


# -- a real broker ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """mosquitto on 127.0.0.1:<free port>; stop() and start() again on the same port."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None, persistent: bool = False, port: int | None = None):
        self.port = port or free_port()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        lines = [f"listener {self.port} 127.0.0.1"]
        if os.geteuid() == 0:  # as root mosquitto drops to user "mosquitto", which cannot read pytest's tmp folders
            lines.append("user root")
        if users:
            pwfile = folder / "passwd"
            pwfile.touch()
            for user, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(pwfile), user, password], check=True, capture_output=True)
            pwfile.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines.append("allow_anonymous true")
        if persistent:  # keeps a subscriber's session (and its queued QoS 1 messages) across a restart
            lines += ["persistence true", f"persistence_location {folder}/"]
        else:
            lines.append("persistence false")
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path / "broker")
    yield b
    b.stop()


class Listener:
    """A real paho client subscribed to ``topics``, recording every message."""

    def __init__(self, port: int, topics=("facemask/#",), client_id: str | None = None, clean: bool = True):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"test-{uuid.uuid4().hex[:8]}",
                                  clean_session=clean)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = lambda c, u, f, rc, p: [c.subscribe(t, qos=1) for t in topics]
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def on(self, topic: str) -> list[bytes]:
        with self.lock:
            return [p for t, p, _ in self.messages if t == topic]

    def wait(self, predicate, timeout: float = 10.0) -> bool:
        return wait_for(predicate, timeout)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def events_on(listener: Listener, camera: str) -> list[dict]:
    return [json.loads(p) for p in listener.on(f"facemask/{camera}/events")]


def app(*args: str) -> list[str]:
    return [sys.executable, "-m", "facemask_live", *args]


def clip(shared_dir: Path, name: str) -> str:
    return str(shared_dir / "media" / "videos" / name)


# -- real results for the sink ----------------------------------------------------------------------
def violation_result(n: int, t0: float) -> FrameResult:
    """A real frame with one unmasked, tracked person and one violation event (person n)."""
    img = np.full((240, 320, 3), 90, np.uint8)
    cv2.circle(img, (160, 120), 50, (180, 200, 230), -1)
    box = (110, 70, 210, 170)
    face = Face(box, 0.98, "no_mask", 0.95, {"mask": 0.05, "no_mask": 0.95}, track_id=n, track_label="no_mask", track_prob=0.95)
    frame = Frame(img, n * 10, n * 0.4, time.monotonic(), source="gate-cam")
    ev = Event(t0 + n, "gate-cam", n, "no_mask", 0.95, n * 10, box)
    return FrameResult(frame, [face], events=[ev])


# -- settings -------------------------------------------------------------------------------------
def test_settings_from_url_reads_the_password_from_the_environment_and_never_shows_it():
    s = MqttSettings.from_url("mqtts://desk:{PW_VAR}@broker.local?ca_file=/etc/ca.pem&prefix=site/a&snapshot=base64",
                              env={"PW_VAR": "s3cret"})
    assert (s.host, s.port, s.tls, s.username, s.password, s.ca_file) == ("broker.local", 8883, True, "desk", "s3cret", "/etc/ca.pem")
    assert (s.topic_prefix, s.snapshot) == ("site/a", "base64")
    assert "s3cret" not in repr(s) and "s3cret" not in s.display_url and ":***@" in s.display_url
    s = MqttSettings.from_url("mqtt://desk@10.0.0.5:1884", env={"FACEMASK_MQTT_PASSWORD": "pw2"})
    assert (s.port, s.tls, s.password) == (1884, False, "pw2")
    for bad, why in [("http://x", "mqtt://"), ("mqtt://u:{NOPE}@x", "NOPE"), ("mqtt://x:99999", "port"),
                     ("mqtt://x?snapshot=gif", "snapshot"), ("mqtt://x?prefix=a/%23", "topic_prefix"),
                     ("mqtt://x?colour=red", "colour"), ("mqtt://x?ca_file=ca.pem", "TLS")]:
        with pytest.raises(ValueError, match=why):
            MqttSettings.from_url(bad, env={})
    assert camera_name_from_source("/v/street_nomask.mp4") == "street_nomask"
    assert camera_name_from_source("0") == "camera0"
    assert camera_name_from_source("rtsp://u:p@10.1.2.3:554/s") == "10_1_2_3_554"


# -- Home Assistant discovery schema --------------------------------------------------------------
# Keys from Home Assistant's MQTT documentation (integrations/binary_sensor.mqtt, sensor.mqtt, image.mqtt,
# mqtt#discovery) and homeassistant/components/mqtt/{schemas,config,image}.py: the common entity keys,
# the device and origin maps, and each platform's own keys. HA silently drops unknown keys, so any key not
# listed here is a typo that HA would ignore: rejected.
HA_COMMON = {
    "availability", "availability_mode", "availability_template", "availability_topic", "payload_available",
    "payload_not_available", "device", "origin", "enabled_by_default", "entity_category", "entity_picture", "icon",
    "json_attributes_template", "json_attributes_topic", "name", "object_id", "default_entity_id", "unique_id",
    "qos", "encoding",
}
HA_PLATFORMS = {
    "binary_sensor": {"required": {"state_topic"}, "keys": {
        "state_topic", "value_template", "device_class", "expire_after", "force_update", "off_delay", "payload_on",
        "payload_off"}},
    "sensor": {"required": {"state_topic"}, "keys": {
        "state_topic", "value_template", "device_class", "expire_after", "force_update", "last_reset_value_template",
        "state_class", "unit_of_measurement", "suggested_display_precision", "options"}},
    "image": {"required": set(), "keys": {"image_topic", "url_topic", "content_type", "image_encoding", "url_template"}},
}
HA_DEVICE = {"identifiers", "connections", "manufacturer", "model", "model_id", "name", "hw_version", "serial_number",
             "sw_version", "via_device", "suggested_area", "configuration_url"}
HA_ORIGIN = {"name", "sw_version", "support_url"}
HA_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


def ha_problems(topic: str, cfg: dict) -> list[str]:
    """Why Home Assistant would reject or misread this discovery message (empty: valid)."""
    p = []
    parts = topic.split("/")
    if len(parts) != 5 or parts[-1] != "config" or not all(HA_ID.match(x) for x in parts[2:4]):
        return [f"bad discovery topic {topic}"]
    component = parts[1]
    if component not in HA_PLATFORMS:
        return [f"unsupported component {component}"]
    spec = HA_PLATFORMS[component]
    p += [f"unknown key {k}" for k in sorted(set(cfg) - HA_COMMON - spec["keys"])]
    p += [f"missing {k}" for k in sorted(spec["required"] - set(cfg))]
    if "availability" in cfg and "availability_topic" in cfg:
        p.append("availability and availability_topic are exclusive")
    for k, v in cfg.items():
        if k.endswith("_topic") and (not isinstance(v, str) or not v or "#" in v or "+" in v):
            p.append(f"{k} must be a plain topic")
    if cfg.get("qos", 0) not in (0, 1, 2):
        p.append("qos must be 0, 1 or 2")
    for k in ("off_delay", "expire_after"):
        if k in cfg and not (isinstance(cfg[k], int) and cfg[k] >= 0):
            p.append(f"{k} must be a positive integer")
    if component == "image":
        if ("image_topic" in cfg) == ("url_topic" in cfg):
            p.append("image needs exactly one of image_topic, url_topic")
        if "content_type" in cfg and "url_topic" in cfg:
            p.append("content_type cannot go with url_topic")
        if cfg.get("image_encoding") not in (None, "b64"):
            p.append("image_encoding must be b64")
    if component == "sensor" and cfg.get("state_class") not in (None, "measurement", "total", "total_increasing", "measurement_angle"):
        p.append("bad state_class")
    dev = cfg.get("device")
    if dev is not None:
        if "unique_id" not in cfg:
            p.append("device needs unique_id")
        p += [f"unknown device key {k}" for k in sorted(set(dev) - HA_DEVICE)]
        if not (dev.get("identifiers") or dev.get("connections")):
            p.append("device needs identifiers or connections")
    org = cfg.get("origin")
    if org is not None:
        p += [f"unknown origin key {k}" for k in sorted(set(org) - HA_ORIGIN)]
        if not isinstance(org.get("name"), str):
            p.append("origin needs a name")
    return p


def test_ha_schema_check_rejects_what_home_assistant_rejects():
    ok = {"state_topic": "a/b", "unique_id": "x", "device": {"identifiers": ["x"]}, "origin": {"name": "o"}}
    assert ha_problems("homeassistant/sensor/n/o/config", ok) == []
    assert ha_problems("homeassistant/sensor/n/o/config", {**ok, "stat_topic": "a"})  # typo
    assert ha_problems("homeassistant/sensor/n/o/config", {"unique_id": "x"})  # no state_topic
    assert ha_problems("homeassistant/image/n/o/config", {"image_topic": "a", "url_topic": "b"})
    assert ha_problems("homeassistant/image/n/o/config", {"name": "no topic"})
    assert ha_problems("homeassistant/sensor/n/o/config", {**ok, "device": {"name": "no id"}})
    assert ha_problems("homeassistant/sensor/n/o/config", {**ok, "origin": {"sw_version": "1"}})


# -- outbox ---------------------------------------------------------------------------------------
def test_outbox_is_bounded_drops_the_oldest_with_a_count_and_survives_reopening(tmp_path, caplog):
    ob = Outbox(tmp_path / "o.sqlite", max_messages=3)
    for i in range(5):
        ob.add("t", f"m{i}".encode())
    assert [m.payload for m in ob.pending()] == [b"m2", b"m3", b"m4"] and ob.dropped == 2
    assert "dropped the 1 oldest unsent, 2 dropped so far" in caplog.text
    ob.remove(ob.pending()[0].seq)
    ob.close()
    ob = Outbox(tmp_path / "o.sqlite", max_messages=3)
    assert [m.payload for m in ob.pending()] == [b"m3", b"m4"]
    ob.close()


# -- the sink against a real broker ---------------------------------------------------------------
def test_broker_outage_every_event_arrives_afterwards_in_order_once(tmp_path, caplog):
    broker = Broker(tmp_path / "broker", persistent=True)
    listener = Listener(broker.port, topics=("facemask/#", "homeassistant/#"), client_id="outage-listener", clean=False)
    settings = MqttSettings.from_url(f"{broker.url}?outbox={tmp_path / 'outbox'}", reconnect_max_delay=1)
    sink = MqttSink(settings, "gate")
    try:
        t0 = time.time()
        assert sink.publisher.conn.wait_connected(5)
        for n in range(1, 4):
            sink.write(violation_result(n, t0), None)
        assert listener.wait(lambda: len(events_on(listener, "gate")) == 3), "events before the outage"

        # Home Assistant discovery: retained configs that validate, sent again when HA announces itself
        configs = {t: json.loads(p) for t, p, _ in listener.messages if t.startswith("homeassistant/")}
        assert {t.split("/")[1] for t in configs} == {"binary_sensor", "sensor", "image"}
        assert {t: ha_problems(t, c) for t, c in configs.items() if ha_problems(t, c)} == {}
        img = configs["homeassistant/image/facemask_gate/snapshot/config"]
        assert img["image_topic"] == "facemask/gate/snapshot" and img["availability_topic"] == "facemask/gate/available"
        n_before = len(listener.on("homeassistant/binary_sensor/facemask_gate/violation/config"))
        listener.client.publish("homeassistant/status", "online", qos=1)
        assert listener.wait(lambda: len(listener.on("homeassistant/binary_sensor/facemask_gate/violation/config")) > n_before)

        broker.stop()  # --- outage: 5 s, events keep coming, the monitor is never held up
        assert listener.wait(lambda: sink.state == "connection lost", 5), sink.state
        slowest = 0.0
        for n in range(4, 9):
            t = time.perf_counter()
            sink.write(violation_result(n, t0), None)
            slowest = max(slowest, time.perf_counter() - t)
            time.sleep(1.0)
        assert slowest < 0.2, f"write() blocked {slowest:.2f} s while the broker was down"
        assert sink.publisher.unsent() == 5
        broker.start()

        assert listener.wait(lambda: len(events_on(listener, "gate")) >= 8, 20), len(events_on(listener, "gate"))
        time.sleep(1.0)  # anything sent twice would arrive now
        got = events_on(listener, "gate")
        expected = [event_id("gate", violation_result(n, t0).events[0]) for n in range(1, 9)]
        assert [e["id"] for e in got] == expected, "every event once, in order"
        assert [e["track_id"] for e in got] == list(range(1, 9))
        assert sink.publisher.unsent() == 0
        e = got[-1]
        assert e["schema"] == 1 and e["camera"] == "gate" and e["label"] == "no_mask" and e["box"] == [110, 70, 210, 170]
        jpeg = listener.on("facemask/gate/snapshot")[-1]
        assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (240, 320, 3)
        people = json.loads(listener.on("facemask/gate/people")[-1])
        assert (people["in_view"], people["masked"], people["unmasked"], people["not_judged"]) == (1, 0, 1, 0)
        lines = [r.getMessage() for r in caplog.records if "MQTT" in r.getMessage()]
        assert sum("connection lost" in x for x in lines) == 1 and sum(x.endswith(": connected") for x in lines) == 2, lines
    finally:
        sink.close()
        listener.close()
        broker.stop()


def test_events_raised_while_the_broker_is_unreachable_are_sent_at_the_next_start(tmp_path, caplog):
    port = free_port()  # nothing listens here yet
    settings = MqttSettings.from_url(f"mqtt://127.0.0.1:{port}?outbox={tmp_path / 'ob'}&client_id=gate-1", flush_timeout=0.5)
    sink = MqttSink(settings, "gate")
    t0 = time.time()
    for n in (1, 2):
        sink.write(violation_result(n, t0), None)
    assert wait_for(lambda: sink.state == "unreachable", 5)
    sink.close()
    assert [r.getMessage() for r in caplog.records].count(f"MQTT mqtt://127.0.0.1:{port}: unreachable (retrying; events are kept on disk until sent)") == 1
    assert "2 events not confirmed by the broker, kept in" in caplog.text

    b = Broker(tmp_path / "b", port=port)  # the broker comes up where the app was told to look
    listener = Listener(port)
    sink = MqttSink(settings, "gate")  # the next start: same client id, same outbox
    try:
        assert listener.wait(lambda: len(events_on(listener, "gate")) == 2)
        assert [e["track_id"] for e in events_on(listener, "gate")] == [1, 2]
    finally:
        sink.close()
        listener.close()
        b.stop()


# -- the app, end to end ----------------------------------------------------------------------------
def test_app_builds_the_sink_from_settings_and_the_engine_tells_it_the_source_state(tmp_path, broker):
    from helpers import make_video

    from facemask_live import Monitor
    from facemask_live.app.options import load_settings

    video = make_video(tmp_path / "gate_clip.avi", n=20, fps=10.0)
    listener = Listener(broker.port, topics=("facemask/#", "homeassistant/#"))
    settings = load_settings(["--headless", "--no-progress", "--realtime", "--source", str(video), "--max-frames", "15",
                              "--mqtt", f"{broker.url}?outbox={tmp_path / 'ob'}&discovery=off"])
    monitor = Monitor(settings=settings)
    try:
        (sink,) = [s for s in monitor.site.cameras["camera"].sinks if isinstance(s, MqttSink)]
        assert sink.camera == "gate_clip"  # named after the source
        assert sink.publisher.conn.wait_connected(5), sink.state
        monitor.wait()
        assert monitor.stats().frames_processed == 15
        monitor.close()
        assert listener.wait(lambda: listener.on("facemask/gate_clip/available")[-1:] == [b"offline"])
        statuses = listener.on("facemask/gate_clip/status")
        assert b"live" in statuses and statuses[-1] == b"ended", statuses  # SourceState.RUNNING is published as live
        people = json.loads(listener.on("facemask/gate_clip/people")[-1])
        assert (people["in_view"], people["camera"]) == (0, "gate_clip")  # a test pattern: no face
        assert listener.on("homeassistant/binary_sensor/facemask_gate_clip/violation/config") == []  # discovery=off
    finally:
        monitor.close()
        listener.close()


@pytest.mark.slow
def test_two_apps_and_a_console_street_once_office_never(tmp_path, broker, shared_dir):
    listener = Listener(broker.port)
    console = subprocess.Popen(app("console", "--mqtt", broker.url, "--headless", "--jsonl", str(tmp_path / "console.jsonl")),
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # let the console subscribe
    procs = {
        cam: subprocess.Popen(app("--headless", "--no-progress", "--source", clip(shared_dir, f"{name}.mp4"), "--mqtt",
                                  f"{broker.url}?outbox={tmp_path / cam}", "--mqtt-camera", cam,
                                  "--snapshots", str(tmp_path / f"snaps-{cam}")),
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for cam, name in (("street", "street_nomask"), ("office", "office_mask"))
    }
    try:
        for p in procs.values():
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            assert "Traceback" not in err
        assert listener.wait(lambda: listener.on("facemask/office/available")[-1:] == [b"offline"]
                             and listener.on("facemask/street/available")[-1:] == [b"offline"], 5)
        time.sleep(0.5)
        street, office = events_on(listener, "street"), events_on(listener, "office")
        assert len(street) == 1 and len(office) == 0, (street, office)
        ev = street[0]
        assert ev["label"] == "no_mask" and ev["confidence"] > 0.5 and ev["camera"] == "street"
        assert Path(ev["snapshot"]).is_file() and ev["snapshot_topic"] == "facemask/street/snapshot"
        jpeg = listener.on("facemask/street/snapshot")[-1]
        assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape[:2] == (720, 1280)
        assert listener.on("facemask/office/snapshot") == []
        for cam in procs:
            assert listener.on(f"facemask/{cam}/status")[-1] == b"ended"
            assert b"live" in listener.on(f"facemask/{cam}/status")
        office_people = [json.loads(p) for p in listener.on("facemask/office/people")]
        assert max(p["masked"] for p in office_people) == 1 and max(p["unmasked"] for p in office_people) == 0

        assert listener.wait(lambda: (tmp_path / "console.jsonl").is_file() and (tmp_path / "console.jsonl").read_text().count("\n") == 1, 5)
        console.send_signal(signal.SIGTERM)
        out, err = console.communicate(timeout=10)
        assert console.returncode == 0 and "Traceback" not in err
        lines = out.strip().splitlines()
        assert len(lines) == 1 and "  street  no_mask  " in lines[0] and ev["snapshot"] in lines[0], out
        assert json.loads((tmp_path / "console.jsonl").read_text())["id"] == ev["id"]
    finally:
        for p in (*procs.values(), console):
            if p.poll() is None:
                p.kill()
                p.wait()
        listener.close()


@pytest.mark.slow
def test_availability_goes_offline_when_the_app_is_killed(tmp_path, broker, shared_dir):
    listener = Listener(broker.port)
    proc = subprocess.Popen(app("--headless", "--no-progress", "--loop", "--realtime", "--source", clip(shared_dir, "office_mask.mp4"),
                                "--mqtt", f"{broker.url}?outbox={tmp_path / 'ob'}", "--mqtt-camera", "door"),
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert listener.wait(lambda: b"live" in listener.on("facemask/door/status"), 40), proc.stderr and proc.poll()
        assert listener.on("facemask/door/available")[-1] == b"online"
        proc.kill()  # SIGKILL: no goodbye from the app, the broker sends its last will
        proc.wait()
        assert listener.wait(lambda: listener.on("facemask/door/available")[-1:] == [b"offline"], 5)
        late = Listener(broker.port)  # a client connecting later sees the retained state
        assert late.wait(lambda: late.on("facemask/door/available") == [b"offline"], 5)
        late.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()


@pytest.mark.slow
def test_bad_broker_settings_one_line_and_monitoring_goes_on(tmp_path, shared_dir):
    secured = Broker(tmp_path / "secured", users={"desk": "right"})
    bad_ca = tmp_path / "ca.pem"
    bad_ca.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    cases = {
        "password": (f"mqtt://desk:wrong-pw-123@127.0.0.1:{secured.port}", "refused: "),
        "unreachable": (f"mqtt://127.0.0.1:{free_port()}", "unreachable"),
        "ca": (f"mqtts://127.0.0.1:{free_port()}?ca_file={bad_ca}", f"error: cannot use CA file {bad_ca}"),
    }
    procs, errs = {}, {}
    for name, (url, _) in cases.items():
        procs[name] = subprocess.Popen(
            app("--headless", "--no-progress", "--max-frames", "30", "--source", clip(shared_dir, "street_nomask.mp4"),
                "--mqtt", f"{url}{'&' if '?' in url else '?'}outbox={tmp_path / ('ob-' + name[:2])}", "--events", str(tmp_path / f"ev-{name[:2]}.jsonl"),
                "--snapshots", str(tmp_path / f"snaps-{name[:2]}")),
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for name, (_url, reason) in cases.items():
            out, err = procs[name].communicate(timeout=120)
            errs[name] = err
            assert procs[name].returncode == 0, err
            assert "Traceback" not in err and "wrong-pw-123" not in err
            problem = [x for x in err.splitlines() if reason in x]
            assert len(problem) == 1, err
            assert "frames processed: 30" in err
            events = (tmp_path / f"ev-{name[:2]}.jsonl").read_text().splitlines()
            assert len(events) == 1 and json.loads(events[0])["label"] == "no_mask"
        assert "Bad user name or password" in errs["password"] or "Not authorized" in errs["password"]
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
        secured.stop()


def test_console_ignores_a_resent_event_and_counts_per_camera():
    from facemask_live.sitetools.console import ConsoleModel

    m = ConsoleModel()
    payload = json.dumps({"schema": 1, "id": "a1", "camera": "door", "time": 1.0, "label": "no_mask", "confidence": 0.9,
                          "track_id": 3, "snapshot": "/s.png"}).encode()
    m.handle("facemask/door/snapshot", b"\xff\xd8jpeg")
    first = m.handle("facemask/door/events", payload)
    assert first is not None and first.jpeg == b"\xff\xd8jpeg" and "door  no_mask  0.90  track 3  /s.png" in first.line
    assert m.handle("facemask/door/events", payload) is None  # the same id again: shown once
    m.handle("facemask/door/people", b'{"schema":1,"in_view":2,"masked":1,"unmasked":1,"not_judged":0}')
    m.handle("facemask/door/available", b"online")
    cam = m.cameras["door"]
    assert (cam.events, cam.available, cam.people["in_view"]) == (1, "online", 2)
    assert m.handle("other/door/events", payload) is None


def test_console_window_lists_events_with_thumbnails_and_cameras(qtbot, broker):
    from facemask_live.sitetools.console_gui import ConsoleWindow

    win = ConsoleWindow(MqttSettings.from_url(broker.url))
    qtbot.addWidget(win)
    win.start()
    qtbot.waitUntil(lambda: win.state_label.text() == "broker: connected", timeout=5000)
    pub = Listener(broker.port, topics=())
    jpeg = cv2.imencode(".jpg", violation_result(1, 0).frame.image)[1].tobytes()
    pub.client.publish("facemask/lobby/snapshot", jpeg, qos=1, retain=True)
    event = {"schema": 1, "id": "e1", "camera": "lobby", "time": time.time(), "label": "no_mask", "confidence": 0.8, "track_id": 4}
    for _ in range(2):  # sent twice (as after a lost PUBACK): listed once
        pub.client.publish("facemask/lobby/events", json.dumps(event), qos=1)
    pub.client.publish("facemask/lobby/people", '{"schema":1,"in_view":1,"masked":0,"unmasked":1,"not_judged":0}', qos=1)
    qtbot.waitUntil(lambda: win.cameras.rowCount() == 1 and win.cameras.item(0, 5) is not None
                    and win.cameras.item(0, 5).text() == "1", timeout=5000)
    qtbot.wait(300)
    assert win.events.count() == 1 and "lobby  no_mask  0.80" in win.events.item(0).text()
    assert not win.events.item(0).icon().isNull()
    pub.close()
    win.close()


def test_people_counts_never_count_an_unknown_face_as_unmasked():
    """--no-track counts frame labels: a face the quality gate left "unknown" is not judged, not unmasked."""
    from facemask_live.core.results import UNKNOWN_LABEL
    from facemask_live.outputs.mqtt import PeopleCounts, people_counts

    frame = Frame(np.zeros((120, 160, 3), np.uint8), 0, 0.0, 0.0, source="t")
    faces = [Face((0, 0, 40, 40), 0.9, "mask"), Face((50, 0, 90, 40), 0.9, "no_mask"),
             Face((100, 0, 120, 20), 0.8, UNKNOWN_LABEL)]
    assert people_counts(FrameResult(frame, faces), tracked=False) == PeopleCounts(3, 1, 1, 1)
    faces[2].track_id, faces[0].track_label = 3, "mask"  # tracked: only stable labels count
    assert people_counts(FrameResult(frame, faces), tracked=True) == PeopleCounts(3, 1, 0, 2)


@pytest.mark.slow
def test_site_publishes_each_camera_on_its_own_topics(tmp_path, broker, shared_dir):
    """A site config with two cameras: each camera has its own status, availability and events on the broker."""
    config = tmp_path / "site.yaml"
    config.write_text(
        "cameras:\n"
        f"  - name: street\n    source: {clip(shared_dir, 'street_nomask.mp4')}\n"
        f"  - name: office\n    source: {clip(shared_dir, 'office_mask.mp4')}\n"
        "mqtt:\n  host: 127.0.0.1\n"
        f"  port: {broker.port}\n  outbox_dir: {tmp_path / 'ob'}\n"
    )
    listener = Listener(broker.port)
    try:
        out = subprocess.run(app("--config", str(config), "--headless", "--no-progress", "--duration", "12",
                                 "--snapshots", str(tmp_path / "snaps")), cwd=REPO, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        for cam in ("street", "office"):
            assert listener.wait(lambda cam=cam: listener.on(f"facemask/{cam}/status")[-1:] in ([b"ended"], [b"stopped"]), 10)
            assert b"live" in listener.on(f"facemask/{cam}/status")
            assert listener.on(f"facemask/{cam}/available")[-1] == b"offline"
        assert listener.wait(lambda: len(events_on(listener, "street")) == 1, 10), listener.on("facemask/street/events")
        assert events_on(listener, "street")[0]["camera"] == "street"
        assert events_on(listener, "office") == []
    finally:
        listener.close()
