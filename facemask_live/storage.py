"""What the app stores and for how long: the options and sinks of the people log, retention and privacy.

The command line and the window call :func:`add_arguments` and :class:`Storage`; the sinks themselves
live in :mod:`peoplelog`, :mod:`retention` and :mod:`privacy`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .errors import FacemaskError
from .peoplelog import PeopleLog, PeopleLogSettings
from .privacy import PrivacySettings, PrivateVideo, WindowPrivacy, private_dir, redact
from .retention import Retention, RetentionSettings


def _positive(text: str) -> float:
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return v


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("reports, retention and privacy")
    g.add_argument("--people-log", metavar="FILE", help="append people counts per camera (every --people-interval s and at the end) and every violation event to FILE (.jsonl), the input of `python -m facemask_live report`")
    g.add_argument("--people-interval", type=_positive, default=10.0, metavar="S", help="seconds between people-count records (default: 10)")
    g.add_argument("--keep-days", type=_positive, metavar="N", help="delete the app's snapshots and recordings older than N days, at start and while running (event log lines stay, their snapshot path becomes \"pruned\")")
    g.add_argument("--max-snapshot-mb", type=_positive, metavar="M", help="keep the app's snapshots and earlier recordings under M megabytes, deleting the oldest first")
    g.add_argument("--privacy", action="store_true", help="blur every face that is not a violation in saved snapshots and the recorded video")
    g.add_argument("--privacy-window", action="store_true", help="with --privacy: blur them in the window too")
    g.add_argument("--no-compliant-images", action="store_true", help="with --privacy: store no pixel of compliant faces (filled, not blurred) and record only frames with a violation")


def settings_from_args(args) -> tuple[PeopleLogSettings, RetentionSettings, PrivacySettings]:
    """The three settings sections from parsed options (missing options: defaults); ValueError -> FacemaskError."""
    try:
        return (
            PeopleLogSettings(getattr(args, "people_log", None), getattr(args, "people_interval", 10.0)),
            RetentionSettings(getattr(args, "keep_days", None), getattr(args, "max_snapshot_mb", None)),
            PrivacySettings(
                getattr(args, "privacy", False), getattr(args, "privacy_window", False), getattr(args, "no_compliant_images", False)
            ),
        )
    except ValueError as exc:
        raise FacemaskError(str(exc)) from None


class Storage:
    """Builds the sinks for one run. Call before anything is written: it creates the snapshot folder 0700
    and prunes once."""

    def __init__(self, args, pipeline):
        from .cli import default_snapshot_dir

        self.people, self.retention, self.privacy = settings_from_args(args)
        self.args = args
        monitor = getattr(pipeline, "monitor", None)
        self.violation_labels = frozenset(
            monitor.violation_labels if monitor is not None else getattr(pipeline.classifier, "violation_labels", ())
        )
        self.snapshot_dir = Path(args.snapshots).expanduser() if args.snapshots else default_snapshot_dir()
        writes_snapshots = args.snapshots or not args.headless or (monitor is not None and monitor.snapshot_dir is not None)
        if writes_snapshots:
            try:
                private_dir(self.snapshot_dir)
            except OSError as exc:
                from .errors import OutputError

                raise OutputError(f"cannot create snapshot folder {self.snapshot_dir}: {exc.strerror or exc}") from None
        if self.privacy.enabled and monitor is not None:
            labels, solid = self.violation_labels, self.privacy.no_compliant_images
            monitor.redact = lambda image, faces: redact(image, faces, labels, solid=solid)
        self.pruner = None
        if self.retention.active:
            logs = [p for p in (getattr(args, "events", None), self.people.path) if p]
            self.pruner = Retention(self.snapshot_dir, self.retention, logs, recording=getattr(args, "output", None))
            self.pruner.prune()

    @property
    def needs_frames(self) -> bool:
        return self.privacy.enabled

    def outputs(self, video) -> tuple[object | None, list]:
        """(the video sink the runner writes itself, the extra sinks in order). Privacy takes the video over."""
        sinks: list = []
        if self.privacy.window:
            sinks.append(WindowPrivacy(self.violation_labels, self.privacy))  # first: later sinks and the window get it
        if self.privacy.enabled and video is not None:
            sinks.append(PrivateVideo(video, self.violation_labels, self.privacy))
            video = None
        if self.people.path:
            sinks.append(PeopleLog(self.people.path, self.people.interval))
        if self.pruner is not None:
            sinks.append(self.pruner)  # last: after the snapshots of this frame were logged
        return video, sinks
