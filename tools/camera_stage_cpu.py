"""CPU per frame of a live camera thread's own stages, on one thread, on real frames (no other threads competing).

The site benchmark (``bench --cameras N``) shares each thread's CPU out over its stages by wall time, which on two
busy cores also counts waits; this times each stage with ``time.thread_time`` instead, one call at a time: the motion
gate, optical flow (on the frames between detector runs), the tracker and the event monitor. The detector runs on
every ``--detect-every``-th frame (12: about two runs a second at 25 fps, the site's default cadence).

    python tools/camera_stage_cpu.py ../shared/media/videos/man_nomask.mp4 --size 640x360
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facemask_live.app.options import load_settings  # noqa: E402
from facemask_live.core.results import Frame, FrameResult  # noqa: E402
from facemask_live.engine import build  # noqa: E402
from facemask_live.engine.pipeline import BoxFlow  # noqa: E402
from facemask_live.engine.site import carry_face  # noqa: E402
from facemask_live.sources.motion import MotionGate  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("clip", type=Path, help="a video file")
    p.add_argument("--size", metavar="WxH", help="resize the frames first (e.g. 640x360, a camera's substream)")
    p.add_argument("--frames", type=int, default=250, help="frames to time (default: 250)")
    p.add_argument("--detect-every", type=int, default=12, metavar="N", help="the detector on every Nth frame (default: 12)")
    args = p.parse_args(argv)
    if not args.clip.is_file():
        p.error(f"no such video: {args.clip}")
    size = tuple(int(v) for v in args.size.lower().split("x")) if args.size else None
    cap, frames = cv2.VideoCapture(str(args.clip)), []
    while len(frames) < args.frames:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(img, size, interpolation=cv2.INTER_AREA) if size else img)
    cap.release()
    if not frames:
        p.error(f"no decodable frame in {args.clip}")
    settings = load_settings(["--headless", "--no-progress"])
    classifier = build.build_classifier(settings)
    pipeline = build.build_pipeline(settings, classifier)
    tracker, monitor = build.build_tracking(settings, classifier.violation_labels, snapshot_dir=None)
    gate, flow = MotionGate(settings.motion), BoxFlow()
    cpu = dict.fromkeys(("motion", "flow", "track", "events"), 0.0)
    flow_frames, faces, clock = 0, [], time.thread_time
    for i, img in enumerate(frames):
        frame = Frame(img, i, i / 25, time.monotonic())
        t0 = clock()
        gate.update(img, i / 25)
        cpu["motion"] += clock() - t0
        if i % args.detect_every == 0:
            faces = pipeline.detector.detect(img)
            pipeline.classify(img, faces)
            flow.remember(img)
        else:
            t0 = clock()
            faces = [carry_face(m, f) for m, f in zip(flow.move(img, faces), faces) if m is not None]
            cpu["flow"] += clock() - t0
            flow_frames += 1
        shown = [carry_face(f, f) for f in faces]
        t0 = clock()
        tracker.update(shown, frame)
        t1 = clock()
        monitor.update(FrameResult(frame, shown))
        cpu["track"] += t1 - t0
        cpu["events"] += clock() - t1
    n = len(frames)
    print(f"{args.clip.name} {frames[0].shape[1]}x{frames[0].shape[0]}, {n} frames, {len(faces)} face(s) at the end; "
          "CPU ms per frame (flow: per frame it ran on):")
    for stage, seconds in cpu.items():
        count = flow_frames if stage == "flow" else n
        print(f"  {stage:7s} {seconds / max(count, 1) * 1000:6.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
