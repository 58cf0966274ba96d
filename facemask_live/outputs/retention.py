"""Retention: delete the app's old snapshots and recordings (``--keep-days N``, ``--max-snapshot-mb M``).

What may be deleted, and nothing else:

* snapshots in the snapshot folder whose names follow the app's own pattern
  (``violation_t<id>_<YYYYmmdd-HHMMSS-mmm>_f<frame>[_<n>][_crop].png`` and the window's
  ``snapshot_<...>_f<frame>[_raw].png``); a violation snapshot and its face crop go together;
* recordings (``--output``) listed in the manifest ``.facemask-live-recordings.jsonl`` in the snapshot
  folder, which the app appends to whenever it starts a recording; the recording being written is kept.

Oldest first (file modification time): everything older than ``keep_days``, then, while the total size of
those files is above ``max_snapshot_mb``, the oldest. It runs at start, after every frame that wrote a
snapshot when a size cap is set, every ``interval`` seconds and at the end.

Event logs keep every line. Before a snapshot is deleted, its path in the ``--events`` log and the people log
is overwritten in place by ``"pruned"`` padded with spaces to the same length (JSON allows the spaces, CSV
readers strip them): the line stays valid, no other byte of the file moves, and the running app can keep
appending to it. A reader sees ``"snapshot": "pruned"`` / ``"crop": "pruned"``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from facemask_live.core.config import RetentionSettings
from facemask_live.core.results import FrameResult

log = logging.getLogger(__name__)

PRUNED = "pruned"
SNAPSHOT_NAME = re.compile(r"^(?:violation_t\d+|snapshot)_\d{8}-\d{6}-\d{3}_f\d{6,}(?:_\d+)?(?:_crop|_raw)?\.png$")
MANIFEST = ".facemask-live-recordings.jsonl"
DAY = 86400.0


@dataclass
class Group:
    """Files deleted together (a snapshot and its crop, or one recording)."""

    files: list[Path]
    mtime: float
    size: int


def snapshot_groups(folder: Path) -> list[Group]:
    """The app's snapshots in ``folder`` (not its subfolders), grouped by snapshot."""
    groups: dict[str, Group] = {}
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        if not SNAPSHOT_NAME.match(entry.name) or not entry.is_file(follow_symlinks=False):
            continue
        st = entry.stat(follow_symlinks=False)
        key = re.sub(r"_(crop|raw)\.png$", ".png", entry.name)
        g = groups.setdefault(key, Group([], st.st_mtime, 0))
        g.files.append(Path(entry.path))
        g.mtime = min(g.mtime, st.st_mtime)
        g.size += st.st_size
    return list(groups.values())


def read_manifest(folder: Path) -> list[Path]:
    path = folder / MANIFEST
    out: list[Path] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            p = Path(json.loads(line)["path"])
        except (ValueError, KeyError, TypeError):
            continue
        if p not in out:
            out.append(p)
    return out


def write_manifest(folder: Path, paths: list[Path]) -> None:
    """Replace the manifest atomically (a crash leaves the old or the new one, never half of one)."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".manifest-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for p in paths:
            fh.write(json.dumps({"path": str(p)}) + "\n")
    os.replace(tmp, folder / MANIFEST)


def register_recording(folder: str | Path, recording: str | Path) -> None:
    """Note in the manifest that the app writes ``recording``, so that retention may delete it later."""
    folder = Path(folder)
    rec = Path(recording).expanduser().absolute()
    if rec in read_manifest(folder):
        return
    with open(folder / MANIFEST, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"path": str(rec)}) + "\n")


def _tokens(path: Path, csv_log: bool) -> list[bytes]:
    """How ``path`` appears as one value in a JSONL or CSV log line."""
    if csv_log:
        return [str(path).encode()]
    return list(dict.fromkeys([json.dumps(str(path)).encode(), json.dumps(str(path), ensure_ascii=False).encode()]))


def mark_pruned(log_path: str | Path, paths: list[Path]) -> int:
    """Overwrite every value naming one of ``paths`` in ``log_path`` with "pruned" + spaces; returns how many."""
    log_path = Path(log_path)
    csv_log = log_path.suffix.lower() == ".csv"
    try:
        data = log_path.read_bytes()
    except OSError:
        return 0
    edits: list[tuple[int, bytes]] = []
    for p in paths:
        for token in _tokens(p, csv_log):
            start = data.find(token)
            while start >= 0:
                end = start + len(token)
                whole = not csv_log or (data[start - 1 : start] in (b",", b'"') and data[end : end + 1] in (b",", b'"', b"\r", b"\n", b""))
                if whole:
                    new = (PRUNED if csv_log else f'"{PRUNED}"').encode()
                    edits.append((start, new.ljust(len(token), b" ")))
                start = data.find(token, end)
    if not edits:
        return 0
    with open(log_path, "r+b") as fh:  # not O_APPEND: writes land where we seek, appends by the app go on
        for offset, new in edits:
            fh.seek(offset)
            fh.write(new)
        fh.flush()
        os.fsync(fh.fileno())
    return len(edits)


@dataclass
class PruneResult:
    files: int = 0
    bytes: int = 0
    marked: int = 0


class Retention:
    """Sink that prunes the snapshot folder (see the module docstring)."""

    needs_annotated = False
    stopped_reason = None  # pruning problems are logged; the run goes on

    def __init__(
        self,
        snapshot_dir: str | Path,
        settings: RetentionSettings,
        logs: list[str | Path] = (),
        recording: str | Path | None = None,
        clock=time.time,
    ):
        self.folder = Path(snapshot_dir).expanduser().absolute()
        self.settings = settings
        self.logs = [Path(p) for p in logs if p]
        self.clock = clock
        self.recording = Path(recording).expanduser().absolute() if recording else None
        self.total = PruneResult()
        self._last = clock()
        if self.recording is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            register_recording(self.folder, self.recording)

    def _groups(self) -> tuple[list[Group], list[Path]]:
        groups = snapshot_groups(self.folder)
        recordings = read_manifest(self.folder)
        for rec in recordings:
            if rec == self.recording:
                continue
            try:
                st = rec.stat()
            except OSError:
                continue
            groups.append(Group([rec], st.st_mtime, st.st_size))
        groups.sort(key=lambda g: g.mtime)
        return groups, recordings

    def prune(self) -> PruneResult:
        """Delete what is too old, then the oldest while over the size cap. Never raises."""
        s, res = self.settings, PruneResult()
        try:
            groups, recordings = self._groups()
            doomed: list[Group] = []
            if s.keep_days is not None:
                cutoff = self.clock() - s.keep_days * DAY
                doomed = [g for g in groups if g.mtime < cutoff]
            if s.max_snapshot_mb is not None:
                left = [g for g in groups if g not in doomed]
                total, cap = sum(g.size for g in left), s.max_snapshot_mb * 1024 * 1024
                for g in left:  # oldest first
                    if total <= cap:
                        break
                    doomed.append(g)
                    total -= g.size
            if not doomed:
                return res
            files = [f for g in doomed for f in g.files]
            for lg in self.logs:  # mark the lines first: a crash in between leaves a file, never a dangling path
                res.marked += mark_pruned(lg, files)
            for f in files:
                try:
                    size = f.stat().st_size
                    f.unlink()
                    res.files += 1
                    res.bytes += size
                except FileNotFoundError:
                    pass
            gone = {f for f in files}
            if any(r in gone for r in recordings):
                write_manifest(self.folder, [r for r in recordings if r not in gone])
        except OSError as exc:  # a read-only folder, a vanished disk ...: say so, never stop the monitor
            log.error("retention: pruning %s failed: %s", self.folder, exc)
        self.total.files += res.files
        self.total.bytes += res.bytes
        self.total.marked += res.marked
        if res.files:
            log.info("retention: deleted %d files (%.1f MB) from %s", res.files, res.bytes / 1e6, self.folder)
        return res

    def write(self, result: FrameResult, annotated=None) -> None:
        now = self.clock()
        if (result.events and self.settings.max_snapshot_mb is not None) or now - self._last >= self.settings.interval:
            self._last = now
            self.prune()

    def close(self) -> None:
        self.prune()
