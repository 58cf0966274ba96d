"""Drawing: plain functions of (frame image, result) -> annotated image. No Qt here."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from facemask_live.core.geometry import scale_faces
from facemask_live.core.results import UNKNOWN_LABEL, Face, FrameResult

# BGR colours per label; labels not listed get a stable colour from PALETTE.
COLORS: dict[str, tuple[int, int, int]] = {
    "mask": (60, 180, 60),
    "no_mask": (40, 40, 230),
    "incorrect_mask": (0, 165, 255),
}
PALETTE = [(200, 120, 0), (180, 0, 180), (0, 200, 200), (120, 120, 120)]
UNKNOWN = (200, 200, 200)
NOT_JUDGED = (150, 150, 150)  # grey: a face the quality gate found too poor to judge
COLORS[UNKNOWN_LABEL] = NOT_JUDGED
DISPLAY_NAMES = {"mask": "Mask", "no_mask": "No mask", "incorrect_mask": "Mask below nose", UNKNOWN_LABEL: "Not judged"}


def color_for(label: str) -> tuple[int, int, int]:
    if not label:
        return UNKNOWN
    if label in COLORS:
        return COLORS[label]
    return PALETTE[sum(label.encode()) % len(PALETTE)]


def display_name(label: str) -> str:
    return DISPLAY_NAMES.get(label, label.replace("_", " ").capitalize())


def face_text(face: Face, label: str, prob: float) -> str:
    """'Mask 97%', or for a face the quality gate did not judge '? too small'."""
    if label == UNKNOWN_LABEL:
        return "? " + (face.quality.reason if face.quality is not None and face.quality.reason else "")
    return f"{display_name(label)} {prob * 100:.0f}%" if label else "face"


def draw_faces(image: np.ndarray, result: FrameResult, copy: bool = True) -> np.ndarray:
    """Boxes and labels ('Mask 97% #3') for every face of ``result`` on ``image``."""
    out = image.copy() if copy else image
    h, w = out.shape[:2]
    scale = max(0.45, min(1.2, h / 900))
    thick = max(1, int(round(h / 400)))
    for face in result.faces:
        label = face.shown_label
        prob = face.track_prob if face.track_label else face.prob
        color = color_for(label)
        x1, y1, x2, y2 = face.box
        cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), color, thick + 1)
        text = face_text(face, label, prob)
        if face.track_id is not None:
            text += f" #{face.track_id}"
        draw_label(out, text, x1, y1, y2, color, scale, thick)
    return out


def _wrap(text: str, scale: float, thick: int, width: int) -> list[str]:
    """``text`` in as few lines as fit ``width`` pixels at ``scale`` (a word wider than that gets a line of its own)."""
    lines: list[str] = []
    for word in text.split():
        line = f"{lines[-1]} {word}" if lines else word
        if lines and cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)[0][0] <= width:
            lines[-1] = line
        else:
            lines.append(word)
    return lines or [text]


def draw_label(out: np.ndarray, text: str, x1: int, y1: int, y2: int, color, scale: float, thick: int) -> None:
    """A filled label above the box (below it at the top edge), inside the picture: in a narrow picture (a portrait
    camera in a grid tile, ~70 px wide) it is drawn smaller, then on two lines, instead of being cut at the edge."""
    h, w = out.shape[:2]
    font, room = cv2.FONT_HERSHEY_SIMPLEX, w - 3
    fit = scale
    (tw, th), base = cv2.getTextSize(text, font, fit, thick)
    while tw > room and fit > 0.4:
        fit *= 0.85
        (tw, th), base = cv2.getTextSize(text, font, fit, thick)
    lines = [text] if tw <= room else _wrap(text, fit, thick, room)
    step = th + base + 3  # one line of label, background included
    last = y1 - 4  # the baseline of the last line: just above the box ...
    if last - th - base - (len(lines) - 1) * step < 0:  # ... or, at the top edge, below it
        last = min(y2 + th + 4 + (len(lines) - 1) * step, h - base)
    for i, line in enumerate(lines):
        ty = last - (len(lines) - 1 - i) * step
        if len(lines) > 1:
            tw = cv2.getTextSize(line, font, fit, thick)[0][0]
        tx = min(max(x1, 0), max(w - tw - 2, 0))
        cv2.rectangle(out, (tx - 1, ty - th - 3), (tx + tw + 2, ty + base), color, cv2.FILLED)
        cv2.putText(out, line, (tx, ty - 1), font, fit, (255, 255, 255), thick, cv2.LINE_AA)


def draw_banner(image: np.ndarray, text: str, color=(0, 0, 200)) -> np.ndarray:
    """A banner across the top (e.g. 'reconnecting (attempt 2)') drawn in place."""
    h, w = image.shape[:2]
    scale = max(0.5, min(1.5, h / 600))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.rectangle(image, (0, 0), (w, th + base + 16), color, cv2.FILLED)
    cv2.putText(image, text, (max((w - tw) // 2, 4), th + 8), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2, cv2.LINE_AA)
    return image


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` resized down to ``size`` = (w, h) for the screen: halved (2x2 averages) while it stays at least twice
    the size, then area averaging where the factor left is whole, else bilinear. Why: OpenCV's area averaging is fast
    at 2x only (0.16 ms at 720p) and costs 0.84 ms at 4x (720p -> a 320x180 tile of a 4x4 grid, 25 times a second
    per camera) and 3.3 ms at a factor like 3.005; two halvings give the same 4x4 averages in 0.2 ms, and bilinear
    after the halvings samples a picture at most twice the size, so it no longer skips pixels (no aliasing)."""
    w, h = size
    source = image
    while image.shape[1] >= 2 * w and image.shape[0] >= 2 * h:
        ih, iw = image.shape[:2]
        # an odd side loses its last pixel row or column: halving is then a whole factor (bilinear at 359 -> 179
        # drifts off the pixel pairs and shows a fine pattern as stripes again)
        image = cv2.resize(image[: ih - ih % 2, : iw - iw % 2], (iw // 2, ih // 2), interpolation=cv2.INTER_AREA)
    ih, iw = image.shape[:2]
    if (iw, ih) == (w, h):
        return image.copy() if image is source else image  # always a new array: callers draw on it
    whole = iw % w == 0 and ih % h == 0
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if whole else cv2.INTER_LINEAR)


def tile_picture(result: FrameResult, annotated: np.ndarray | None, size: tuple[int, int] | None) -> np.ndarray:
    """What a tile shows, at the size it is shown: the frame drawn at that size, or a drawing a sink made
    (``--privacy`` in the window, a recording) shrunk to it. Why: a 4x4 grid shows 320x180 of a 1280x720 frame;
    drawing, converting and scaling the full frame for it cost more than the tile is worth."""
    if annotated is None:
        return annotate_fit(result.frame.image, result, size)
    h, w = annotated.shape[:2]
    fw, fh = fit_size(w, h, size)
    return annotated if (fw, fh) == (w, h) else shrink(annotated, (fw, fh))


class TilePainter:
    """One camera's tile pictures (:func:`tile_picture`), with the last one kept: a frame whose picture did not
    move and whose faces are those of the frame before (``result.still``) shows the last picture again, drawn at
    most ``hold_s`` seconds ago at the same size. A still entrance then costs no drawing at all."""

    def __init__(self, hold_s: float = 1.0):
        self.hold_s = hold_s
        self.drawn = 0  # pictures drawn
        self.kept = 0  # frames shown with the last picture
        self._last: tuple[np.ndarray, tuple[int, int] | None, float] | None = None

    def picture(self, result: FrameResult, annotated: np.ndarray | None, size: tuple[int, int] | None,
                now: float) -> np.ndarray:
        last = self._last
        if result.still and annotated is None and last is not None and last[1] == size and now - last[2] < self.hold_s:
            self.kept += 1
            return last[0]
        image = tile_picture(result, annotated, size)
        self._last = (image, size, now)
        self.drawn += 1
        return image


OFF_HOURS = "off hours"  # the banner outside the alert hours (core/schedule.py): no events, sounds or flashes


def annotate(image: np.ndarray, result: FrameResult) -> np.ndarray:
    """The annotated frame as the window, the video sink and snapshots show it (outside the alert hours with an
    "off hours" banner, which is how a site tile says so)."""
    return _banners(draw_faces(image, result), result)


def _banners(out: np.ndarray, result: FrameResult) -> np.ndarray:
    if result.door is not None and result.door.off_hours:
        draw_banner(out, OFF_HOURS, (90, 90, 90))
    return out


def fit_size(width: int, height: int, box: tuple[int, int] | None) -> tuple[int, int]:
    """(w, h) of a ``width`` x ``height`` picture shown inside ``box`` = (w, h) keeping its aspect ratio, never
    larger than the picture itself; the picture's own size when ``box`` is None or empty."""
    if not box or box[0] <= 0 or box[1] <= 0:
        return width, height
    scale = min(box[0] / width, box[1] / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def annotate_fit(image: np.ndarray, result: FrameResult, box: tuple[int, int] | None) -> np.ndarray:
    """:func:`annotate` drawn at the size the picture is shown (fitted into ``box``, e.g. a 320x180 tile of a 4x4
    grid), not drawn full size and shrunk: a quarter of the pixels to copy and draw at 640x360, and labels that
    stay readable on a small tile. The full-size drawing when ``box`` is None or not smaller than the frame."""
    h, w = image.shape[:2]
    fw, fh = fit_size(w, h, box)
    if (fw, fh) == (w, h):
        return annotate(image, result)
    small = shrink(image, (fw, fh))  # a new array: drawn in place
    faces = scale_faces(result.faces, fw / w, fh / h, fw, fh)
    return _banners(draw_faces(small, dataclasses.replace(result, faces=faces), copy=False), result)
