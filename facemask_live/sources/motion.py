"""Motion gating: is anything moving in a camera's picture? A still camera runs no face detector.

Per measured frame (at most every ``MEASURE_EVERY_S``: every second frame at 25-30 fps; every ``QUIET_MEASURE_EVERY_S``,
every fourth frame, once nothing moved for ``QUIET_AFTER_S``): a grey copy ``width``
pixels wide taken by nearest-neighbour resizing (~0.02 ms for 720p), blurred a little, compared with a slowly
adapting background (running average). A pixel changed when it differs from the background by more than
``pixel_threshold`` grey levels; the picture moves when more than ``min_area`` of its pixels changed. Sensor noise
and compression flicker change pixels by a few levels only, and the background absorbs slow light changes. After
motion stops the gate stays open for ``hold_s`` seconds, so the detector sees a person who just stopped.

Defaults measured on the six shared clips (``python -m facemask_live.sources.motion CLIP...`` prints the
figures): a still frame encoded as a video, and a still frame with sensor noise of sigma 4 grey levels
added to every frame, change 0 % of the pixels by more than 15 levels in every frame; the quietest
real clip (office_mask, one person sitting) changes a median 1.3 % (94 % of its frames over
``min_area`` = 0.2 %, the rest bridged by ``hold_s``), the others 4.6-39 %.

Between two looks of a quiet gate the camera needs no pixels: it asks its capture not to convert those frames
(:meth:`MotionGate.next_look`, ``Capture.skip_pixels_until``), and :meth:`MotionGate.update` keeps its verdict on them.
"""

from __future__ import annotations

import cv2
import numpy as np

from facemask_live.core.config import MotionSettings  # the settings live with the others; imported from here too

# A picture is measured at most every MEASURE_EVERY_S (at 25-30 fps every second frame): the verdict is a hold of
# ``hold_s`` anyway, and a site of 16 cameras spent a quarter of its camera threads' CPU here. ``background_alpha`` is
# the weight of one FRAME_S frame; a measurement after a longer gap weighs as the frames it stands for.
MEASURE_EVERY_S = 0.07
# a picture in which nothing moved for QUIET_AFTER_S (an empty entrance, a camera nobody passes) is measured half as
# often: on a still camera the gate was about half of the CPU spent beyond decoding; someone walking in is noticed
# within four frames (0.16 s at 25 fps) instead of two
QUIET_AFTER_S = 2.0
QUIET_MEASURE_EVERY_S = 0.14
FRAME_S = 0.04
MAX_FRAMES_PER_STEP = 4  # after a pause the background moves at most as much as over four frames


class MotionGate:
    """Frame-difference motion detector with a running-average background, one per camera."""

    def __init__(self, settings: MotionSettings | None = None):
        self.settings = settings or MotionSettings()
        self._bg: np.ndarray | None = None
        self._last_motion: float | None = None
        self._measured_at: float | None = None  # the time of the last measured picture
        self._quiet_from: float | None = None  # since when nothing moved (the last motion, or the first picture)
        self._moving = False  # its verdict
        self.score = 0.0  # fraction of changed pixels in the last frame
        self.frames = 0
        self.moving_frames = 0

    def small_gray(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        if w > self.settings.width:  # nearest-neighbour: reads only the pixels it keeps (~0.02 ms for 720p)
            size = (self.settings.width, max(1, round(h * self.settings.width / w)))
            small = cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)
        else:
            small = image
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        return cv2.GaussianBlur(gray, (3, 3), 0)

    def measure(self, image: np.ndarray, frames: float = 1.0) -> float:
        """Fraction of pixels that differ from the background; updates the background as ``frames`` frames would.
        1.0 on the first frame."""
        gray = self.small_gray(image)
        if self._bg is None or self._bg.shape != gray.shape:
            self._bg = gray.astype(np.float32)
            return 1.0
        diff = cv2.absdiff(gray, cv2.convertScaleAbs(self._bg))
        changed = int(np.count_nonzero(diff > self.settings.pixel_threshold))
        alpha = self.settings.background_alpha
        cv2.accumulateWeighted(gray, self._bg, alpha if frames == 1.0 else 1.0 - (1.0 - alpha) ** frames)
        return changed / diff.size

    def quiet(self, now: float) -> bool:
        """Nothing moved for ``QUIET_AFTER_S`` (measured every ``QUIET_MEASURE_EVERY_S`` now), gating on."""
        return self.settings.enabled and self._quiet_from is not None and now - self._quiet_from >= QUIET_AFTER_S

    def next_look(self) -> float:
        """When a quiet gate measures next (``time.monotonic()``): the frames before it need no pixels. Half a
        frame early, so that the frame due then is converted even when it was decoded a moment before it is due."""
        return (self._measured_at or 0.0) + QUIET_MEASURE_EVERY_S - FRAME_S / 2

    def update(self, image: np.ndarray, now: float, repeat: bool = False, sparse: bool = False) -> bool:
        """True while the picture moves (or moved within ``hold_s``); always True when gating is off. ``repeat``:
        the frame was not converted (``Frame.repeat``, ``image`` is the last picture): the last verdict stands.
        ``sparse``: the capture converts only the frames from :meth:`next_look` on, so a converted frame is due."""
        self.frames += 1
        if not self.settings.enabled:
            self.moving_frames += 1
            return True
        first = self._bg is None
        since = None if self._measured_at is None else now - self._measured_at
        quiet = self.quiet(now)
        period = (QUIET_MEASURE_EVERY_S - (FRAME_S / 2 if sparse else 0.0)) if quiet else MEASURE_EVERY_S
        if not first and (repeat or since is not None and 0 <= since < period):
            moving = self._moving  # the frame after a measured one: its verdict stands
        else:
            frames = 1.0 if since is None or since < 0 else min(max(since / FRAME_S, 1.0), MAX_FRAMES_PER_STEP)
            self.score = self.measure(image, frames)
            if first:  # nothing known yet: look once (one detector run), but do not hold the gate open for it
                self.moving_frames += 1
                return True  # (and measure the next frame: the first one only made the background)
            self._measured_at = now
            if self._quiet_from is None:
                self._quiet_from = now  # the first measured picture
            if self.score >= self.settings.min_area:
                self._last_motion = self._quiet_from = now
            moving = self._moving = self._last_motion is not None and now - self._last_motion <= self.settings.hold_s
        self.moving_frames += moving
        return moving

    def reset(self) -> None:
        """Forget the background (after a reconnection): the next frame counts as motion."""
        self._bg = None
        self._last_motion = self._measured_at = self._quiet_from = None
        self._moving = False


def _report(paths: list[str], frames: int = 150) -> None:
    """Print the changed-pixel fractions of each clip and of a still frame of it encoded as a video."""
    import tempfile
    from pathlib import Path

    s = MotionSettings()
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            cap = cv2.VideoCapture(path)
            imgs = []
            while len(imgs) < frames:
                ok, img = cap.read()
                if not ok:
                    break
                imgs.append(img)
            fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
            cap.release()
            if not imgs:
                continue
            still = Path(tmp) / "still.mp4"
            w = cv2.VideoWriter(str(still), cv2.VideoWriter_fourcc(*"mp4v"), fps, imgs[0].shape[1::-1])
            for _ in range(len(imgs)):
                w.write(imgs[0])
            w.release()
            cap = cv2.VideoCapture(str(still))
            stills = [img for ok, img in iter(lambda c=cap: c.read(), (False, None)) if ok]
            cap.release()
            rng = np.random.default_rng(0)  # a still frame with sensor noise (sigma 4 grey levels) in every frame
            noisy = [cv2.add(imgs[0], rng.normal(0, 4, imgs[0].shape).astype(np.int16), dtype=cv2.CV_8U) for _ in range(40)]
            for name, seq in (("clip", imgs), ("still", stills), ("noisy", noisy)):
                gate = MotionGate(s)
                scores = np.array([gate.measure(im) for im in seq][1:])
                print(f"{Path(path).name:28s} {name:5s} changed pixels: median {np.median(scores) * 100:6.3f} % "
                      f"p5 {np.percentile(scores, 5) * 100:6.3f} % max {scores.max() * 100:6.3f} %; "
                      f"frames over min_area {np.mean(scores >= s.min_area) * 100:5.1f} %")


if __name__ == "__main__":
    import sys

    _report(sys.argv[1:])
