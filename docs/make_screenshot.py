"""Make docs/screenshot.png (one camera) and docs/site.png (four): the real window on generated scenes (no
third-party footage in the repo).

    xvfb-run -s "-screen 0 1400x860x24" python docs/make_screenshot.py [--seconds 15] [--out docs/screenshot.png]
    xvfb-run -s "-screen 0 1400x860x24" python docs/make_screenshot.py --cameras 4 [--out docs/site.png]

Draws cartoon people (some with a surgical mask) that the face detector finds, writes each camera's scene as a
short looping video, opens the window on them with the default models (four cameras: one with an entrance zone)
and saves the window as PNG.
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


# (x, y, size, skin, shirt, mask) of the people each camera sees
PEOPLE = [
    [(330, 330, 200, (150, 185, 225), (60, 60, 160), False), (920, 340, 190, (110, 150, 200), (140, 90, 40), True)],
    [(640, 320, 230, (120, 160, 210), (50, 120, 60), True)],
    [(420, 340, 190, (90, 130, 180), (40, 40, 40), False), (900, 350, 170, (160, 190, 230), (150, 150, 60), True)],
    [(640, 330, 220, (140, 175, 215), (120, 60, 120), False)],
]
WALLS = [((205, 140), (90, 110, 120)), ((220, 200), (70, 90, 110)), ((190, 150), (110, 100, 90)), ((230, 170), (80, 80, 80))]


def scene(t: int, camera: int = 0, w: int = 1280, h: int = 720) -> np.ndarray:
    img = np.empty((h, w, 3), np.uint8)
    (top, bottom), floor = WALLS[camera % len(WALLS)]
    img[:] = np.linspace(top, bottom, h, dtype=np.uint8)[:, None, None]
    img[int(h * 0.6) :] = floor
    for k, (x, y, size, skin, shirt, mask) in enumerate(PEOPLE[camera % len(PEOPLE)]):
        draw_person(img, x + int(22 * np.sin(t / (9 + 2 * k) + k)), y, size, skin, shirt, mask=mask)
    return img


def write_scene_video(path: Path, camera: int = 0, frames: int = 100, fps: float = 25.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (1280, 720))
    for t in range(frames):
        writer.write(scene(t, camera))
    writer.release()
    return path


CAMERA_NAMES = ["entrance", "lobby", "corridor", "lab"]


def site_config(folder: Path, cameras: int) -> Path:
    """A site of ``cameras`` generated scenes; the second has an entrance zone around its door."""
    import yaml

    cams = []
    for i in range(cameras):
        name = CAMERA_NAMES[i] if i < len(CAMERA_NAMES) else f"camera{i + 1}"
        cam = {"name": name, "source": str(write_scene_video(folder / f"{name}.avi", i)), "loop": True}
        if i == 1:
            cam["zones"] = [{"name": "door", "kind": "entrance", "points": [[0.25, 0.08], [0.75, 0.08], [0.75, 0.98], [0.25, 0.98]]}]
        cams.append(cam)
    path = folder / "site.yaml"
    path.write_text(yaml.safe_dump({"cameras": cams}, sort_keys=False))
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15.0, help="how long the window runs before the grab")
    ap.add_argument("--cameras", type=int, default=1, help="1: docs/screenshot.png; more: a site (docs/site.png)")
    ap.add_argument("--out", default=None, help="the PNG (default: docs/screenshot.png, or docs/site.png for a site)")
    opts = ap.parse_args()
    out = opts.out or str(Path(__file__).with_name("screenshot.png" if opts.cameras == 1 else "site.png"))

    from facemask_live.app.options import load_settings
    from facemask_live.app.window.display import display_problem

    problem = display_problem(probe=True)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from facemask_live.app.window.qt import QtWidgets
    from facemask_live.app.window.run import build_window

    with tempfile.TemporaryDirectory() as tmp:
        snaps = ["--snapshots", str(Path(tmp) / "snaps")]
        if opts.cameras == 1:
            video = write_scene_video(Path(tmp) / "demo-scene.avi")
            config, settings = None, load_settings(["--source", str(video), "--loop", *snaps])
        else:
            config = str(site_config(Path(tmp), opts.cameras))
            settings = load_settings(["--config", config, *snaps])
        app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["facemask-live"])
        window = build_window(settings, config)
        window.show()
        window.site.start()
        deadline = time.monotonic() + opts.seconds
        while time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
        window.grab().save(out)
        window.close()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
