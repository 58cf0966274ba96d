"""The people log: what a shift report needs, as JSON lines (``--people-log FILE``).

Two kinds of record, one per line, told apart by ``"type"``:

* ``"people"``: cumulative counts per camera since this run started, written when a camera's first frame
  arrives, every ``interval`` seconds (wall clock) and once more at the end (``"final": true``)::

    {"type": "people", "time": 1718000000.123, "iso_time": "2024-06-10T08:13:20.123", "run": "20240610-081300-4242",
     "camera": "front-door", "source": "rtsp://door-1/stream", "people_seen": 12, "masked": 9, "violations": 2,
     "not_judged": 1, "in_view": 2, "by_label": {"mask": 9, "no_mask": 2}, "final": false}

  ``camera`` is the camera's name (``"camera"`` for a plain ``--source``): the counts are kept per name, so two
  cameras of a site are two cameras even when they show the same source.

* ``"event"``: one per violation event, the same fields as the ``--events`` log plus ``"type"`` and ``"run"``.

How people are counted (each person = one tracker id of one camera, counted once):
``people_seen`` every person the tracker confirmed; ``by_label`` / ``masked``: people under the FIRST label
the event monitor counted them under (``masked`` = ``by_label["mask"]``): a stable label voted from judged
frames only, a violation label only once the person had the evidence for it (see events.py), so a person who
takes the mask off later is still one masked person and their violation shows in ``violations``;
``not_judged``: people who left (or were in view at the end) without such a label (too small, blurred, too
brief, or a violation label without the evidence); ``violations``: violation events; ``in_view``: tracked
people in the camera's latest frame.
All counts but ``in_view`` only grow within a run, so a report takes differences between records; a new
``run`` id starts the counts from zero again.
"""

from __future__ import annotations

import json
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import numpy as np

from facemask_live.core.config import PeopleLogSettings
from facemask_live.core.results import UNKNOWN_LABEL, FrameResult
from facemask_live.outputs.sinks import event_record, open_for_append

# stable labels that are not a judgement. A track's label comes from judged frames only (faces the quality gate
# leaves "unknown" never vote, see track.py), so "unknown" is listed for safety, not because it is expected.
UNDECIDED = frozenset({"", UNKNOWN_LABEL, "not_judged"})
GONE_FRAMES = 50  # a person not seen for this many frames of their camera has left (more than any track's max_missing)
MASK_LABEL = "mask"


@dataclass
class CameraCounts:
    """Counts of one camera within one run."""

    people_seen: int = 0
    violations: int = 0
    not_judged: int = 0
    in_view: int = 0
    by_label: dict[str, int] = field(default_factory=dict)
    frames: int = 0
    live: dict[int, list] = field(default_factory=dict)  # track id -> [last frame seen, first decided label or None]
    # the track ids counted lately, newest last (ids never repeat in a run); a person re-identified under their
    # old id comes back within seconds, long before this many others were counted: bounded for an all-day run
    counted: OrderedDict[int, None] = field(default_factory=OrderedDict)
    MAX_COUNTED: ClassVar[int] = 10000

    def update(self, result: FrameResult, counted_label: Callable[[int], str | None] | None = None) -> None:
        self.frames += 1
        in_view = set()
        for face in result.faces:
            tid = face.track_id
            if tid is None:
                continue
            in_view.add(tid)
            person = self.live.get(tid)
            if person is None:
                if tid in self.counted:  # came back after we thought they had left: same person
                    person = self.live[tid] = [self.frames, "?"]
                else:
                    self.counted[tid] = None
                    if len(self.counted) > self.MAX_COUNTED:
                        self.counted.popitem(last=False)
                    self.people_seen += 1
                    person = self.live[tid] = [self.frames, None]
            person[0] = self.frames
            label = face.track_label if counted_label is None else counted_label(tid)
            if person[1] is None and label not in UNDECIDED and label is not None:
                person[1] = label
                self.by_label[label] = self.by_label.get(label, 0) + 1
        self.in_view = len(in_view)
        self.violations += len(result.events)
        for tid in [t for t, p in self.live.items() if self.frames - p[0] > GONE_FRAMES]:
            self._leave(tid)

    def _leave(self, tid: int) -> None:
        person = self.live.pop(tid)
        if person[1] is None:
            self.not_judged += 1

    def finish(self) -> None:
        for tid in list(self.live):
            self._leave(tid)
        self.in_view = 0


def run_id() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"


class PeopleLog:
    """Sink writing the people log (see the module docstring). Flushed per record; never stops the run."""

    needs_annotated = False
    counts_people = True  # a site hands it each camera's counted_label (engine/build.py add_site_camera)

    def __init__(self, path: str | Path, interval: float = 10.0, clock=time.time,
                 counted_label: Callable[[int], str | None] | None = None):
        PeopleLogSettings(str(path), interval)  # validation
        # the event monitor's label for a person (ViolationMonitor.counted_label), so that this log counts people
        # as the window and the summary do; None: the track's stable label
        self.counted_label = counted_label
        self.path = Path(path)
        self.interval = float(interval)
        self.clock = clock
        self.run = run_id()
        self.cameras: dict[str, CameraCounts] = {}  # by the camera's name (its source where a frame has none)
        self._sources: dict[str, str] = {}
        self._last_write: dict[str, float] = {}
        self._fh = open_for_append(path, "people log")
        self.stopped_reason: str | None = None

    def _emit(self, rec: dict) -> None:
        if self.stopped_reason:
            return
        try:
            self._fh.write(json.dumps(rec) + "\n")
            self._fh.flush()
        except OSError as exc:  # e.g. a full disk: stop this log, keep running
            self.stopped_reason = f"writing the people log {self.path} stopped: {exc.strerror or exc}"

    def people_record(self, camera: str, final: bool = False) -> dict:
        c = self.cameras[camera]
        now = self.clock()
        return {
            "type": "people",
            "time": round(now, 3),
            "iso_time": datetime.fromtimestamp(now).isoformat(timespec="milliseconds"),
            "run": self.run,
            "camera": camera,
            "source": self._sources[camera],
            "people_seen": c.people_seen,
            "masked": c.by_label.get(MASK_LABEL, 0),
            "violations": c.violations,
            "not_judged": c.not_judged,
            "in_view": c.in_view,
            "by_label": dict(sorted(c.by_label.items())),
            "final": final,
        }

    def write(self, result: FrameResult, annotated: np.ndarray | None = None,
              counted_label: Callable[[int], str | None] | None = None) -> None:
        """``counted_label``: the label of a person as the camera's own event monitor counts them (a site shares
        this log among cameras, each with its monitor); default: the one given at construction."""
        camera = result.camera or result.frame.source
        first = camera not in self.cameras
        counts = self.cameras.setdefault(camera, CameraCounts())
        if first:  # the period covered starts at the first frame
            self._sources[camera] = result.frame.source
            self._last_write[camera] = self.clock()
            self._emit(self.people_record(camera))
        counts.update(result, counted_label or self.counted_label)
        for ev in result.events:
            self._emit({"type": "event", "run": self.run, **event_record(ev)})
        now = self.clock()
        if now - self._last_write[camera] >= self.interval:
            self._last_write[camera] = now
            self._emit(self.people_record(camera))

    def close(self) -> None:
        if self._fh.closed:
            return
        for camera, counts in self.cameras.items():
            counts.finish()
            self._emit(self.people_record(camera, final=True))
        self._fh.close()
