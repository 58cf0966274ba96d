"""A TLS mosquitto with a password file and an ACL, certificates made with openssl here: the app and the console
publish / subscribe over ``mqtts://``, and each wrong setup is refused with one line while monitoring goes on.

The broker allows each camera's user its own topics only; a publish its ACL refuses is acknowledged with
reason code 0x87 under MQTT 5 (under 3.1.1 it would be dropped in silence), which the app reports.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, free_port, wait_until

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
pytestmark = [
    pytest.mark.skipif(not Path(MOSQUITTO).exists() or not shutil.which("mosquitto_passwd") or not shutil.which("openssl"),
                       reason="needs mosquitto, mosquitto_passwd (apt-get install mosquitto) and openssl"),
    pytest.mark.slow,
]
USERS = {"door1": "door1-secret", "desk": "desk-secret"}
ACL = """user door1
topic readwrite facemask/door1/#
topic write homeassistant/+/facemask_door1/#
topic read homeassistant/status

user desk
topic read facemask/#
"""


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(folder: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=folder)


def make_server_cert(folder: Path) -> None:
    """server.pem for the host name ``localhost`` only (not 127.0.0.1), signed by ca.pem."""
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr", cwd=folder)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
            "-extfile", "san.ext", "-out", "server.pem", cwd=folder)


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls-broker")
    make_ca(folder, "ca")
    make_ca(folder, "other-ca")  # a CA the broker's certificate is not signed by
    make_server_cert(folder)
    pwfile = folder / "passwd"
    pwfile.touch()
    for user, password in USERS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(pwfile), user, password], check=True, capture_output=True)
    pwfile.chmod(0o600)
    (folder / "acl").write_text(ACL)
    port = free_port()
    lines = [f"listener {port} 127.0.0.1", f"cafile {folder / 'ca.pem'}", f"certfile {folder / 'server.pem'}",
             f"keyfile {folder / 'server.key'}", "allow_anonymous false", f"password_file {pwfile}",
             f"acl_file {folder / 'acl'}", "persistence false"]
    if os.geteuid() == 0:  # as root mosquitto drops to user "mosquitto", which cannot read pytest's tmp folders
        lines.append("user root")
    (folder / "mosquitto.conf").write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(folder / "mosquitto.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    assert wait_until(up, 10), "mosquitto did not start"
    yield folder, port
    proc.terminate()
    proc.wait(5)


def url(user: str, password: str, port: int, ca: Path, host: str = "localhost", **query: str) -> str:
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    return f"mqtts://{user}:{password}@{host}:{port}?ca_file={ca}{extra}"


def test_tls_password_acl_publishes_and_each_wrong_setup_is_one_line(tmp_path, tls_broker, shared_dir):
    folder, port = tls_broker
    ca, other = folder / "ca.pem", folder / "other-ca.pem"
    pw = USERS["door1"]
    cases = {  # name: (URL, camera, the one line expected, or None: no problem at all)
        "good": (url("door1", pw, port, ca), "door1", None),
        "password": (url("door1", "wrong-pw-123", port, ca), "door1", "refused: Not authorized (check the user name and the password"),
        "untrusted": (url("door1", pw, port, other), "door1", "refused: TLS: "),
        "host": (url("door1", pw, port, ca, host="127.0.0.1"), "door1", "refused: TLS: IP address mismatch"),
        "acl": (url("door1", pw, port, ca), "door2", "refused: Not authorized to publish on facemask/door2/"),
    }
    desk = url("desk", USERS["desk"], port, ca)
    console = subprocess.Popen([sys.executable, "-m", "facemask_live", "console", "--mqtt", desk, "--headless", "--count", "1",
                                "--jsonl", str(tmp_path / "console.jsonl")],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)  # let the console subscribe before the event
    procs = {}
    for name, (u, camera, _) in cases.items():
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "facemask_live", "--headless", "--no-progress", "--max-frames", "30",
             "--source", str(shared_dir / "media" / "videos" / "street_nomask.mp4"),
             "--mqtt", f"{u}&outbox={tmp_path / ('ob-' + name)}", "--mqtt-camera", camera,
             "--events", str(tmp_path / f"ev-{name}.jsonl"), "--snapshots", str(tmp_path / f"snaps-{name}")],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for name, (_u, _camera, reason) in cases.items():
            _out, err = procs[name].communicate(timeout=180)
            assert procs[name].returncode == 0, err
            assert "Traceback" not in err and "wrong-pw-123" not in err and pw not in err
            assert "frames processed: 30" in err, err  # monitoring went on
            events = (tmp_path / f"ev-{name}.jsonl").read_text().splitlines()
            assert len(events) == 1 and json.loads(events[0])["label"] == "no_mask"
            problems = [x for x in err.splitlines() if "refused" in x or "unreachable" in x or "error" in x]
            if reason is None:
                assert problems == [], err
            else:
                assert len(problems) == 1 and reason in problems[0], err
        out, err = console.communicate(timeout=30)  # --count 1: ends with the good camera's event
        assert console.returncode == 0 and "Traceback" not in err, err
        rec = json.loads((tmp_path / "console.jsonl").read_text())
        assert rec["camera"] == "door1" and rec["label"] == "no_mask"
        # the refused events stay in the outbox: nothing the broker would not deliver counts as sent
        import sqlite3

        db = next((tmp_path / "ob-acl").glob("*.sqlite"))
        assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1
    finally:
        for p in (*procs.values(), console):
            if p.poll() is None:
                p.kill()


def test_console_wrong_setups_are_one_line_each_and_it_keeps_running(tmp_path, tls_broker):
    # no ACL case: mosquitto grants every subscription (SUBACK "Granted QoS 1" even for topics the ACL denies) and
    # only filters what it delivers, so a console with a narrow user just sees fewer cameras, nothing to refuse
    folder, port = tls_broker
    ca, other = folder / "ca.pem", folder / "other-ca.pem"
    pw = USERS["desk"]
    cases = {
        "password": (url("desk", "wrong-pw-123", port, ca), "refused: Not authorized (check the user name and the password"),
        "untrusted": (url("desk", pw, port, other), "refused: TLS: "),
        "host": (url("desk", pw, port, ca, host="127.0.0.1"), "refused: TLS: IP address mismatch"),
    }
    procs, logs = {}, {}
    for name, (u, _) in cases.items():
        logs[name] = tmp_path / f"console-{name}.err"
        with open(logs[name], "w") as err:
            procs[name] = subprocess.Popen([sys.executable, "-m", "facemask_live", "console", "--mqtt", u, "--headless"],
                                           cwd=REPO, stdout=subprocess.DEVNULL, stderr=err, text=True)
    try:
        for name, (_u, reason) in cases.items():
            assert wait_until(lambda n=name, r=reason: r in logs[n].read_text(), 30), logs[name].read_text()
        time.sleep(3)  # several reconnection attempts: still one line
        for name, (_u, reason) in cases.items():
            assert procs[name].poll() is None, f"{name}: the console stopped"
            procs[name].send_signal(signal.SIGTERM)
            procs[name].wait(10)
            err = logs[name].read_text()
            assert "Traceback" not in err and "wrong-pw-123" not in err
            problems = [x for x in err.splitlines() if "refused" in x or "unreachable" in x or "error" in x]
            assert len(problems) == 1 and reason in problems[0], err
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
