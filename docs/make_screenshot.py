"""Make docs/screenshot.png: the real window on a generated scene (no third-party footage in the repo).

    xvfb-run -s "-screen 0 1280x800x24" python docs/make_screenshot.py [--seconds 15] [--out docs/screenshot.png]

Draws two cartoon people (one with a surgical mask) that the face detector finds, writes them as
a short looping video, opens the window on it with the default models and saves the window as PNG.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def draw_person(img: np.ndarray, cx: int, cy: int, s: int, skin, shirt, mask: bool) -> None:
    h = img.shape[0]
    cv2.ellipse(img, (cx, h + 20), (int(0.85 * s), int(1.2 * s)), 0, 180, 360, shirt, -1)
    cv2.ellipse(img, (cx, cy - int(0.25 * s)), (int(0.62 * s), int(0.55 * s)), 0, 180, 360, (40, 50, 70), -1)  # hair
    for ex in (-1, 1):  # ears
        cv2.ellipse(img, (cx + ex * int(0.5 * s), cy), (int(0.07 * s), int(0.14 * s)), 0, 0, 360, skin, -1)
    cv2.ellipse(img, (cx, cy), (int(0.5 * s), int(0.66 * s)), 0, 0, 360, skin, -1)
    for ex in (-1, 1):  # eyes and brows
        x, y = cx + ex * int(0.2 * s), cy - int(0.12 * s)
        cv2.ellipse(img, (x, y), (int(0.1 * s), int(0.05 * s)), 0, 0, 360, (245, 245, 245), -1)
        cv2.circle(img, (x, y), int(0.045 * s), (50, 40, 30), -1)
        cv2.line(
            img, (x - int(0.11 * s), y - int(0.13 * s)), (x + int(0.11 * s), y - int(0.15 * s)), (40, 50, 70), max(2, s // 20)
        )
    if mask:
        top, bottom = cy + int(0.02 * s), cy + int(0.45 * s)
        pts = np.array(
            [
                [cx - int(0.45 * s), top],
                [cx + int(0.45 * s), top],
                [cx + int(0.38 * s), bottom],
                [cx, cy + int(0.6 * s)],
                [cx - int(0.38 * s), bottom],
            ]
        )
        cv2.fillPoly(img, [pts], (235, 215, 170))
        for k in (1, 2, 3):
            y = top + k * int(0.12 * s)
            cv2.line(img, (cx - int(0.4 * s), y), (cx + int(0.4 * s), y), (205, 185, 140), 2)
        for ex in (-1, 1):  # ear loops
            cv2.line(img, (cx + ex * int(0.45 * s), top + 3), (cx + ex * int(0.55 * s), cy - int(0.02 * s)), (235, 235, 235), 3)
    else:
        cv2.line(img, (cx, cy - int(0.05 * s)), (cx - int(0.05 * s), cy + int(0.15 * s)), (110, 140, 190), 3)
        cv2.ellipse(img, (cx, cy + int(0.3 * s)), (int(0.18 * s), int(0.08 * s)), 0, 0, 180, (80, 80, 170), 4)


def scene(t: int, w: int = 1280, h: int = 720) -> np.ndarray:
    img = np.empty((h, w, 3), np.uint8)
    img[:] = np.linspace(205, 140, h, dtype=np.uint8)[:, None, None]
    img[int(h * 0.6) :] = (90, 110, 120)
    draw_person(img, 330 + int(25 * np.sin(t / 9)), 330, 200, (150, 185, 225), (60, 60, 160), mask=False)
    draw_person(img, 920 + int(20 * np.sin(t / 11 + 1)), 340, 190, (110, 150, 200), (140, 90, 40), mask=True)
    return img


def write_scene_video(path: Path, frames: int = 100, fps: float = 25.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (1280, 720))
    for t in range(frames):
        writer.write(scene(t))
    writer.release()
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15.0, help="how long the window runs before the grab")
    ap.add_argument("--out", default=str(Path(__file__).with_name("screenshot.png")))
    opts = ap.parse_args()

    from PyQt5 import QtWidgets

    from facemask_live.app import gui
    from facemask_live.app.options import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        video = write_scene_video(Path(tmp) / "demo-scene.avi")
        settings = load_settings(["--source", str(video), "--loop", "--realtime", "--snapshots", str(Path(tmp) / "snaps")])
        problem = gui.display_problem(probe=True)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
        app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["facemask-live"])
        window = gui.build_window(settings)
        window.setWindowTitle("facemask-live — demo-scene.avi")
        window.source_name = "demo-scene.avi"
        window._update_source_label()
        window.show()
        window.start()
        deadline = time.monotonic() + opts.seconds
        while time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
        window.grab().save(opts.out)
        window.close()
    print(f"wrote {opts.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
