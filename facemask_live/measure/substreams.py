"""Substreams for the site benchmark (``bench --cameras N --substreams``): each clip's copy at 640x360.

A camera of the benchmark then reads its clip like an IP camera's two streams (``detect_source``, see
:mod:`facemask_live.sources.dual`): detection and everything per frame on the small copy, the full clip as the
main stream, which nothing in the benchmark asks for (no window, no recording), so it is never decoded.
"""

from __future__ import annotations

from pathlib import Path

import cv2

SUBSTREAM_SIZE = (640, 360)


def _write(path: Path, frames, fps: float, size: tuple[int, int]) -> Path:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not w.isOpened():
        raise RuntimeError(f"cannot write {path} (no mp4v encoder in this OpenCV)")
    for img in frames:
        w.write(img)
    w.release()
    return path


def substream_clip(src: Path, folder: Path, size: tuple[int, int] = SUBSTREAM_SIZE) -> Path:
    """A copy of ``src`` at ``size`` (same frames and frame rate), made once in ``folder``."""
    out = folder / f"{src.stem}_{size[0]}x{size[1]}.mp4"
    if not out.exists():
        cap = cv2.VideoCapture(str(src))
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        frames = (cv2.resize(img, size, interpolation=cv2.INTER_AREA) for ok, img in iter(cap.read, (False, None)) if ok)
        _write(out, frames, fps, size)
        cap.release()
    return out
