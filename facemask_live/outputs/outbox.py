"""An on-disk outbox: messages that must reach the broker, kept until the broker confirms them.

One SQLite file per client in a folder. A message is added before it is handed to the MQTT client and
removed only when the broker's PUBACK for it arrives, so events raised while the broker is down, or
while the process is down, are sent later, in order. The outbox is bounded (messages and bytes): when
full, the oldest messages are dropped and counted, never an exception into the monitoring loop.

SQLite because it survives a killed process without a torn last line, and removing one confirmed
message is one statement; the file is small (events are a few hundred bytes, snapshots go on their
own retained topic).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    seq: int  # order of arrival, also the key
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Outbox:
    """A bounded FIFO of messages on disk, safe to use from several threads."""

    def __init__(self, path: str | Path, max_messages: int = 10000, max_bytes: int = 64 * 1024 * 1024):
        if max_messages < 1 or max_bytes < 1:
            raise ValueError(f"outbox limits must be >= 1, got {max_messages} messages, {max_bytes} bytes")
        self.path = Path(path)
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.dropped = 0  # messages dropped because the outbox was full, this process
        self._lock = threading.Lock()
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # check_same_thread=False: the runner thread adds, the MQTT network thread removes; the lock
        # serialises them. isolation_level=None: every statement commits at once (autocommit).
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=5.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable against a killed process
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, "
            "payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL)"
        )

    def add(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Store a message; returns its sequence number. Drops the oldest messages when full."""
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO outbox (topic, payload, qos, retain) VALUES (?, ?, ?, ?)", (topic, payload, qos, int(retain))
            )
            seq = cur.lastrowid
            self._trim(keep=seq)
            return seq

    def _trim(self, keep: int) -> None:
        count, size = self._db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox").fetchone()
        dropped = 0
        while (count > self.max_messages or size > self.max_bytes) and count > 1:
            seq, n = self._db.execute("SELECT seq, LENGTH(payload) FROM outbox ORDER BY seq LIMIT 1").fetchone()
            if seq == keep:
                break
            self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
            count, size, dropped = count - 1, size - n, dropped + 1
        if dropped:
            self.dropped += dropped
            log.warning(
                "MQTT outbox full (%d messages, %d bytes max): dropped the %d oldest unsent, %d dropped so far",
                self.max_messages, self.max_bytes, dropped, self.dropped,
            )

    def pending(self, after: int = 0, limit: int = 100) -> list[OutboxMessage]:
        """Messages with a sequence number above ``after``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload, qos, retain FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
            ).fetchall()
        return [OutboxMessage(s, t, bytes(p), q, bool(r)) for s, t, p, q, r in rows]

    def remove(self, seq: int) -> None:
        with self._lock:
            if not self._closed:  # a late PUBACK after close(): the message is sent again at the next start
                self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()
