"""kill -9 at random moments of a busy site run: nothing that was recorded is lost.

Runs a site of looping shared clips (event log, snapshots, people log, MQTT with its on-disk outbox) against a
real mosquitto, kills it with SIGKILL at a random moment (after the run's first event) ``--kills`` times (the broker stopped for about half of
the kills, while the app runs), restarts it each time, lets a last run end normally with the broker up, and
checks:

* every line of the event and people logs parses, except at most a torn last line;
* ``report`` reads the logs (exit 0);
* every snapshot and face crop an event names exists and is a readable picture;
* every logged event reached the broker (a subscriber with a persistent session), and an event delivered twice
  (its acknowledgement cut off by a kill) has the same id: at most one redelivery per kill.

    python tools/kill_soak.py --cameras 4 --kills 10              # the issue's check (about 5 minutes)
    python tools/kill_soak.py --cameras 2 --kills 3 --json        # what the test runs

Exit code 0 when every check passes. Needs mosquitto (apt-get install mosquitto) and shared/media/videos.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soak import REPO, SHARED, free_port, in_workdir, log_err, site_config, wait_port  # noqa: E402  (the soak's site and helpers)

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class Broker:
    """mosquitto on 127.0.0.1 with persistence, so that a subscriber's queued messages survive a restart."""

    def __init__(self, folder: Path):
        self.port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence true",
                 f"persistence_location {folder}/", "max_queued_messages 100000"]
        if os.geteuid() == 0:  # as root mosquitto drops to user "mosquitto", which may not read the folder
            lines.append("user root")
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None

    @property
    def up(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.port, 10, self.proc):
            raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.up:
            self.proc.terminate()  # SIGTERM: mosquitto saves its persistence file (the queued messages)
            self.proc.wait(10)


class Subscriber:
    """Every event on ``facemask/+/events``, QoS 1, with a persistent session: nothing missed while the broker restarts."""

    def __init__(self, port: int):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.events: list[dict] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"kill-soak-{uuid.uuid4().hex[:8]}", clean_session=False)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("facemask/+/events", qos=1)
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _message(self, client, userdata, msg) -> None:
        with self.lock:
            self.events.append(json.loads(msg.payload))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def kill_site_config(workdir: Path, cameras: int, port: int) -> Path:
    """The soak's site (looping clips, event log, snapshots, people log) made busy, with MQTT and its outbox."""
    return site_config(workdir, cameras, people_interval=1, extra=(
        "events: {cooldown: 2}",  # a person in violation raises an event every 2 s: a busy event log
        f"mqtt: {{host: 127.0.0.1, port: {port}, outbox_dir: {json.dumps(str(workdir / 'outbox'))}, flush_timeout: 10}}",
    ))


@dataclass
class KillReport:
    kills: int = 0
    kills_broker_down: int = 0
    events_logged: int = 0
    events_at_broker: int = 0  # distinct ids
    redeliveries: int = 0
    lost: list[dict] = field(default_factory=list)  # logged events the broker never delivered
    ids_per_event_max: int = 0  # distinct ids one event was delivered under (must be 1)
    bad_lines: dict[str, int] = field(default_factory=dict)  # unreadable lines other than a torn last one
    torn_last: list[str] = field(default_factory=list)
    missing_snapshots: list[str] = field(default_factory=list)
    report_ok: bool = False
    outbox_left: int = 0
    problems: list[str] = field(default_factory=list)
    ok: bool = False


def read_lines(path: Path) -> tuple[list[dict], int, bool]:
    """(records, unreadable lines other than the last, whether the last line is torn)."""
    if not path.exists():
        return [], 0, False
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    recs, bad, torn = [], 0, False
    for i, line in enumerate(lines):
        try:
            recs.append(json.loads(line))
        except ValueError:
            if i == len(lines) - 1 and not line.endswith("\n"):
                torn = True
            else:
                bad += 1
    return recs, bad, torn


def outbox_count(folder: Path) -> int:
    n = 0
    for db in folder.glob("*.sqlite"):
        con = sqlite3.connect(db)
        try:
            n += con.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        finally:
            con.close()
    return n


def event_key(rec: dict) -> tuple:
    return (str(rec.get("camera")), int(rec["track_id"]), int(rec["frame"]), round(float(rec["time"]), 3))


def run(cameras: int, kills: int, workdir: Path, seed: int, run_s: tuple[float, float], log=print,
        workers: int | None = None) -> KillReport:
    rng = random.Random(seed)
    broker = Broker(workdir / "broker")
    broker.start()
    sub = Subscriber(broker.port)
    config = kill_site_config(workdir, cameras, broker.port)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "facemask_live", "--config", str(config), "--headless"]
    if workers is not None:  # the cameras in worker processes: the kill hits the parent, the workers stop by themselves
        cmd += ["--workers", str(workers)]
    rep = KillReport()
    down = set(rng.sample(range(kills), kills // 2))  # the kills for which the broker is stopped meanwhile
    app_log = open(workdir / "app.log", "a")  # noqa: SIM115 (closed at the end)
    try:
        for k in range(kills):
            if not broker.up:
                broker.start()
            before = len(read_lines(workdir / "events.jsonl")[0])
            proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=app_log)
            # the random moment counts from this run's first event: busy whatever the machine's load
            deadline = time.monotonic() + 120
            while len(read_lines(workdir / "events.jsonl")[0]) <= before and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.2)
            wait = rng.uniform(*run_s)
            if k in down:  # stop the broker at a random moment of this run, kill the app while it is down
                time.sleep(wait * rng.uniform(0.3, 0.7))
                broker.stop()
                rep.kills_broker_down += 1
                time.sleep(wait * rng.uniform(0.2, 0.3))
            else:
                time.sleep(wait)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            rep.kills += 1
            logged = len(read_lines(workdir / "events.jsonl")[0])
            log(f"kill {k + 1}/{kills} {wait:.1f} s after the run's first event, broker {'down' if k in down else 'up'}: "
                f"{logged} events logged, {len(sub.events)} received, {outbox_count(workdir / 'outbox')} in the outboxes")
        if not broker.up:
            broker.start()
        # a last run that ends normally: it sends what the outboxes hold and its own events
        proc = subprocess.run([*cmd, "--duration", "8"], cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=app_log, timeout=300)
        if proc.returncode != 0:
            rep.problems.append(f"the last run exited with {proc.returncode}")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len({e["id"] for e in sub.events}) < len(read_lines(workdir / "events.jsonl")[0]):
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        app_log.close()
        sub.close()
        broker.stop()
    check(rep, workdir, sub.events)
    return rep


def check(rep: KillReport, workdir: Path, received: list[dict]) -> None:
    events, bad, torn = read_lines(workdir / "events.jsonl")
    for name in ("events.jsonl", "people.jsonl"):
        recs, bad, torn = read_lines(workdir / name)
        if bad:
            rep.bad_lines[name] = bad
            rep.problems.append(f"{bad} unreadable lines in {name} (not a torn last line)")
        if torn:
            rep.torn_last.append(name)
    rep.events_logged = len(events)
    for ev in events:
        for key in ("snapshot", "crop"):
            path = ev.get(key)
            if not path or not Path(path).is_file() or Path(path).stat().st_size == 0:
                rep.missing_snapshots.append(str(path))
    if rep.missing_snapshots:
        rep.problems.append(f"{len(rep.missing_snapshots)} snapshots named by events are missing")
    ids: dict[tuple, set[str]] = {}
    per_id: dict[str, int] = {}
    for p in received:
        ids.setdefault(event_key(p), set()).add(p["id"])
        per_id[p["id"]] = per_id.get(p["id"], 0) + 1
    rep.events_at_broker = len(per_id)
    rep.redeliveries = sum(n - 1 for n in per_id.values())
    rep.ids_per_event_max = max((len(v) for v in ids.values()), default=0)
    rep.lost = [ev for ev in events if event_key(ev) not in ids]
    rep.outbox_left = outbox_count(workdir / "outbox")
    if rep.lost:
        rep.problems.append(f"{len(rep.lost)} logged events never reached the broker")
    if rep.redeliveries > rep.kills:
        rep.problems.append(f"{rep.redeliveries} redeliveries for {rep.kills} kills")
    if rep.ids_per_event_max > 1:
        rep.problems.append("an event was delivered under two ids")
    if rep.events_logged == 0:
        rep.problems.append("no event was logged: nothing was tested")
    r = subprocess.run([sys.executable, "-m", "facemask_live", "report", "events.jsonl", "people.jsonl", "--out", "report",
                        "--no-progress"], cwd=workdir, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONPATH=str(REPO)))
    rep.report_ok = r.returncode == 0
    if not rep.report_ok:
        rep.problems.append(f"report failed: {r.stderr.strip()[-300:]}")
    rep.ok = not rep.problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cameras", type=int, default=4, help="looping clips in the site (default: 4)")
    p.add_argument("--kills", type=int, default=10, help="kill -9 and restart this many times (default: 10)")
    p.add_argument("--min-run", type=float, default=2.0, help="shortest time from a run's first event to its kill, s (default: 2)")
    p.add_argument("--max-run", type=float, default=15.0, help="longest time from a run's first event to its kill, s (default: 15)")
    p.add_argument("--workers", type=int, help="run the site's cameras in this many worker processes (default: the app's rule)")
    p.add_argument("--seed", type=int, help="random seed (default: from the clock, printed)")
    p.add_argument("--workdir", help="where the logs, snapshots and outboxes go (default: a temporary folder)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON line on stdout")
    a = p.parse_args(argv)
    if not Path(MOSQUITTO).exists():
        print("error: mosquitto is not installed (apt-get install mosquitto)", file=sys.stderr)
        return 2
    if not (SHARED / "media" / "videos").is_dir():
        print(f"error: the shared clips are not in {SHARED / 'media' / 'videos'}", file=sys.stderr)
        return 2
    if a.cameras < 1 or a.kills < 1 or (a.workers is not None and a.workers < 1) or not 0 < a.min_run <= a.max_run:
        print("error: --cameras, --kills and --workers must be >= 1, 0 < --min-run <= --max-run", file=sys.stderr)
        return 2
    seed = a.seed if a.seed is not None else int(time.time())
    print(f"seed {seed}", file=sys.stderr)
    rep = in_workdir(a.workdir, "facemask-kill-", lambda workdir: run(a.cameras, a.kills, workdir, seed, (a.min_run, a.max_run), log=log_err,
                                                                      workers=a.workers))
    if a.json:
        print(json.dumps(asdict(rep)))
    else:
        print(f"{rep.kills} kills ({rep.kills_broker_down} with the broker down): {rep.events_logged} events logged, "
              f"{rep.events_at_broker} at the broker, {len(rep.lost)} lost, {rep.redeliveries} redelivered, torn last lines: "
              f"{', '.join(rep.torn_last) or 'none'}, snapshots missing: {len(rep.missing_snapshots)}, report "
              f"{'ok' if rep.report_ok else 'FAILED'}")
        print("PASS" if rep.ok else "FAIL: " + "; ".join(rep.problems))
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
