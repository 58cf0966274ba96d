"""A real Home Assistant reads what the app announces: entities exist, the violation sensor goes on and off, the
camera goes unavailable after kill -9.

Starts a local mosquitto and Home Assistant core (``hass`` from its own venv, ``--ha-venv``) with a fresh config
folder: the MQTT integration as a config entry pointed at the broker and an owner with a long-lived access token,
both written to ``.storage`` before the start (what onboarding and the integration dialog would store). Then runs
the app headless on a clip made of an unmasked person (``street_nomask.mp4``) followed by masked people
(``office_mask.mp4``, looped), reads Home Assistant's REST API and checks:

1. every entity of our discovery (:mod:`facemask_live.outputs.ha_discovery`) exists in Home Assistant;
2. the violation binary sensor turns ``on`` for the unmasked person (label ``no_mask`` in its attributes) and
   ``off`` again ``violation_hold_s`` seconds later while the masked people go on;
3. after ``kill -9`` of the app every entity becomes ``unavailable`` (the broker's last will).

    python -m venv ../ha-venv && ../ha-venv/bin/pip install homeassistant==2024.3.3 "josepy<2"
    python tools/ha_check.py                        # --ha-venv DIR, or $FACEMASK_HA_VENV; default ../ha-venv

Home Assistant installs its integrations' requirements into its venv at the first start (MQTT's paho-mqtt 1.6.1,
the frontend, ...: a few minutes, with network); ``josepy<2`` because the cloud integration's ``acme`` breaks on
josepy 2. Exit code 0 when every check passes; each step is printed with its time (about 30 s once installed).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soak import REPO, SHARED, free_port, in_workdir, wait_port  # noqa: E402  (soak.py puts the repository on sys.path)

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
CAMERA = "hacheck"
HOLD_S = 5  # violation_hold_s: how long the violation sensor stays on after an event


class CheckFailed(Exception):
    pass


def default_ha_venv() -> Path:
    return Path(os.environ.get("FACEMASK_HA_VENV") or REPO.parent / "ha-venv").expanduser()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_jwt(payload: dict, key: str) -> str:
    """The access token Home Assistant issues for a refresh token: HS256 with the token's jwt_key."""
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64(json.dumps(payload, separators=(",", ":")).encode())
    sig = hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def write_ha_config(folder: Path, http_port: int, mqtt_port: int) -> str:
    """A Home Assistant config folder with the MQTT integration and an owner; returns a long-lived access token."""
    storage = folder / ".storage"
    storage.mkdir(parents=True, exist_ok=True)
    (folder / "configuration.yaml").write_text(
        "homeassistant:\n  name: facemask check\n  latitude: 52.5\n  longitude: 13.4\n  elevation: 30\n"
        "  unit_system: metric\n  time_zone: UTC\n"
        f"http:\n  server_host: 127.0.0.1\n  server_port: {http_port}\n"
        "api:\n"
        "logger:\n  default: warning\n"
    )
    user, token_id, jwt_key = uuid.uuid4().hex, uuid.uuid4().hex, secrets.token_hex(64)
    now = time.time()
    auth = {"users": [{"id": user, "group_ids": ["system-admin"], "is_owner": True, "is_active": True, "name": "check",
                       "system_generated": False, "local_only": False}],
            "groups": [{"id": "system-admin", "name": "Administrators"}],
            "credentials": [],
            "refresh_tokens": [{"id": token_id, "user_id": user, "client_id": None, "client_name": "ha_check",
                                "client_icon": None, "token_type": "long_lived_access_token",
                                "created_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now)),
                                "access_token_expiration": 86400.0, "token": secrets.token_hex(64), "jwt_key": jwt_key,
                                "last_used_at": None, "last_used_ip": None, "expire_at": None, "credential_id": None,
                                "version": "2024.3.3"}]}
    mqtt_entry = {"entry_id": uuid.uuid4().hex, "version": 1, "minor_version": 1, "domain": "mqtt", "title": "127.0.0.1",
                  "data": {"broker": "127.0.0.1", "port": mqtt_port, "discovery": True, "discovery_prefix": "homeassistant"},
                  "options": {}, "pref_disable_new_entities": False, "pref_disable_polling": False, "source": "user",
                  "unique_id": None, "disabled_by": None}
    for key, data in (("auth", auth), ("core.config_entries", {"entries": [mqtt_entry]}),
                      ("onboarding", {"done": ["user", "core_config", "analytics", "integration"]})):
        (storage / key).write_text(json.dumps({"version": 1, "minor_version": 1, "key": key, "data": data}))
    return hs256_jwt({"iss": token_id, "iat": int(now), "exp": int(now) + 86400}, jwt_key)


class HomeAssistant:
    def __init__(self, port: int, token: str):
        self.base = f"http://127.0.0.1:{port}"
        self.token = token

    def get(self, path: str):
        req = urllib.request.Request(self.base + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def states(self) -> dict[str, dict]:
        return {s["entity_id"]: s for s in self.get("/api/states")}


def ha_slug(text: str) -> str:
    """Home Assistant's entity id from a name: lower case, runs of other characters as one ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def expected_entities(mqtt_url: str) -> dict[str, str]:
    """entity_id -> object of every entity our discovery announces for CAMERA."""
    from facemask_live import __version__
    from facemask_live.core.config import MqttSettings
    from facemask_live.outputs.ha_discovery import discovery_messages

    out = {}
    for topic, config in discovery_messages(MqttSettings.from_url(mqtt_url, violation_hold_s=HOLD_S), CAMERA, __version__):
        component, obj = topic.split("/")[1], topic.split("/")[3]
        out[f"{component}.{ha_slug(config['device']['name'] + ' ' + config['name'])}"] = obj
    return out


def make_clip(path: Path, masked_loops: int = 4) -> Path:
    """street_nomask.mp4 (one unmasked person) then office_mask.mp4 ``masked_loops`` times, at street's size."""
    import cv2

    videos = SHARED / "media" / "videos"
    first = cv2.VideoCapture(str(videos / "street_nomask.mp4"))
    fps = first.get(cv2.CAP_PROP_FPS) or 25.0
    size = (int(first.get(cv2.CAP_PROP_FRAME_WIDTH)), int(first.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for name, loops in (("street_nomask.mp4", 1), ("office_mask.mp4", masked_loops)):
        for _ in range(loops):
            cap = cv2.VideoCapture(str(videos / name))
            while True:
                ok, img = cap.read()
                if not ok:
                    break
                if (img.shape[1], img.shape[0]) != size:  # letterbox: the masked faces keep their proportions
                    s = min(size[0] / img.shape[1], size[1] / img.shape[0])
                    small = cv2.resize(img, (int(img.shape[1] * s), int(img.shape[0] * s)))
                    img = cv2.copyMakeBorder(small, 0, size[1] - small.shape[0], 0, size[0] - small.shape[1], cv2.BORDER_CONSTANT)
                writer.write(img)
            cap.release()
    first.release()
    writer.release()
    return path


def until(what: str, pred, timeout: float, t0: float, log) -> None:
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            if pred():
                log(f"{time.monotonic() - t0:6.1f} s  {what}")
                return
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last_error = exc
        time.sleep(0.5)
    raise CheckFailed(f"{what}: not within {timeout:.0f} s" + (f" (last error: {last_error})" if last_error else ""))


def check(ha_venv: Path, workdir: Path, log=print) -> None:
    hass = ha_venv / "bin" / "hass"
    if not hass.exists():
        raise CheckFailed(f"no Home Assistant in {ha_venv} (python -m venv {ha_venv} && {ha_venv}/bin/pip install "
                          'homeassistant==2024.3.3 "josepy<2")')
    t0 = time.monotonic()
    mqtt_port, http_port = free_port(), free_port()
    (workdir / "mosquitto.conf").write_text(f"listener {mqtt_port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                                            + ("user root\n" if os.geteuid() == 0 else ""))
    procs: list[subprocess.Popen] = []
    try:
        broker = subprocess.Popen([MOSQUITTO, "-c", str(workdir / "mosquitto.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(broker)
        if not wait_port(mqtt_port, 10, broker):
            raise CheckFailed("mosquitto did not start")
        token = write_ha_config(workdir / "ha", http_port, mqtt_port)
        ha_log = open(workdir / "hass.log", "w")  # noqa: SIM115 (closed with the process)
        procs.append(subprocess.Popen([str(hass), "-c", str(workdir / "ha"), "--log-no-color"],
                                      stdout=ha_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        log(f"{time.monotonic() - t0:6.1f} s  Home Assistant starting (log: {workdir / 'hass.log'})")
        ha = HomeAssistant(http_port, token)
        # the first start installs the integrations' requirements: minutes
        until("Home Assistant API running", lambda: ha.get("/api/").get("message") == "API running.", 600, t0, log)
        until("MQTT integration loaded", lambda: "mqtt" in ha.get("/api/config").get("components", []), 120, t0, log)
        url = f"mqtt://127.0.0.1:{mqtt_port}"
        expected = expected_entities(url)
        clip = make_clip(workdir / "unmasked_then_masked.mp4")
        (workdir / "app.yaml").write_text(
            f"source: {{source: {json.dumps(str(clip))}, realtime: true}}\n"
            f"mqtt: {{host: 127.0.0.1, port: {mqtt_port}, camera: {CAMERA}, violation_hold_s: {HOLD_S}, "
            f"outbox_dir: {json.dumps(str(workdir / 'outbox'))}}}\n")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        app = subprocess.Popen([sys.executable, "-m", "facemask_live", "--config", str(workdir / "app.yaml"), "--headless",
                                "--no-progress"], cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                               stderr=open(workdir / "app.log", "w"), stdin=subprocess.DEVNULL)  # noqa: SIM115
        procs.append(app)
        log(f"{time.monotonic() - t0:6.1f} s  the app runs on {clip.name}")

        def all_exist() -> bool:
            states = ha.states()
            return all(e in states for e in expected)

        until(f"all {len(expected)} entities exist: {', '.join(sorted(expected))}", all_exist, 60, t0, log)
        violation = next(e for e, obj in expected.items() if obj == "violation")

        def state(entity: str) -> dict:
            return ha.get(f"/api/states/{entity}")

        until(f"{violation} is on", lambda: state(violation)["state"] == "on", 90, t0, log)
        attrs = state(violation)["attributes"]
        if attrs.get("label") != "no_mask":
            raise CheckFailed(f"{violation}: attributes {attrs} do not name the label no_mask")
        log(f"{time.monotonic() - t0:6.1f} s  its attributes: label {attrs.get('label')}, confidence {attrs.get('confidence')}")
        until(f"{violation} is off again ({HOLD_S} s hold) while the masked people go on",
              lambda: state(violation)["state"] == "off" and app.poll() is None, 60, t0, log)
        status = next(e for e, obj in expected.items() if obj == "status")
        if state(status)["state"] != "live":
            raise CheckFailed(f"{status} is {state(status)['state']!r}, expected 'live' while the app runs")
        app.send_signal(signal.SIGKILL)
        app.wait()
        log(f"{time.monotonic() - t0:6.1f} s  kill -9 of the app")
        until("every entity is unavailable", lambda: all(state(e)["state"] == "unavailable" for e in expected), 30, t0, log)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ha-venv", default=str(default_ha_venv()),
                   help="the venv with homeassistant (default: $FACEMASK_HA_VENV, else ha-venv next to the repository)")
    p.add_argument("--workdir", help="keep the config, logs and clip here (default: a temporary folder)")
    a = p.parse_args(argv)
    if not Path(MOSQUITTO).exists():
        print("error: mosquitto is not installed (apt-get install mosquitto)", file=sys.stderr)
        return 2
    if not (SHARED / "media" / "videos" / "street_nomask.mp4").is_file():
        print(f"error: the shared clips are not in {SHARED / 'media' / 'videos'}", file=sys.stderr)
        return 2
    def work(workdir: Path) -> int:
        try:
            check(Path(a.ha_venv).expanduser(), workdir, log=lambda s: print(s, flush=True))
        except CheckFailed as exc:
            print(f"FAIL: {exc}", flush=True)
            return 1
        print("PASS")
        return 0

    return in_workdir(a.workdir, "facemask-ha-", work)


if __name__ == "__main__":
    sys.exit(main())
