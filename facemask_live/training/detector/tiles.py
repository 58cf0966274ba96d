"""Random square training tiles cut from scene photos, with their faces' boxes moved along.

Half the tiles are at the scale the app sees (the photo's longer side scaled to about 700 px, x0.6-1.4), half
are centred near one face scaled to 12-64 px high, so that small faces (the 20-40 px band, where recall is
lowest) are common; photos are scaled up for that (at most 2.5x the app's scale), and down only while the
photo still covers most of the tile (its longer side >= 0.8 tile). Then a horizontal flip and colour jitter
(brightness, contrast, saturation, hue, sometimes a slight blur). A face whose centre leaves the tile is
dropped; one cut to under half its area, or under ``min_face`` px, becomes an ignore region.

With ``mosaic`` > 0 that share of tiles is instead a 2x2 grid of whole photos, each shrunk into its cell (the grid
laid out small, then scaled up): the photos' many large masked faces become small ones with their real context
(few photos have small masked faces, and a face-centred tile cannot shrink a photo below the tile without leaving
it mostly grey). Measured, it did not help (docs/accuracy.md), so it is off by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facemask_live.detection.detect import RETINAFACE_MEAN_BGR, retinaface_anchors

from .anchors import MatchSettings, match
from .scenes import Scene


@dataclass(frozen=True)
class TileSettings:
    size: int = 480
    app_side: int = 700  # the app's input size: the "as the app sees it" scale
    app_share: float = 0.5  # share of tiles at the app's scale (the rest centred on a face)
    face_min: float = 12.0  # face-centred tiles: face height drawn log-uniformly in [face_min, face_max] px
    face_max: float = 64.0
    min_face: float = 6.0  # faces smaller than this in the tile are ignore regions, not positives
    colour: bool = True
    mosaic: float = 0.0  # share of tiles that are a grid of whole shrunk photos (0: none, the shipped run)
    mosaic_upscale: tuple[float, float] = (1.4, 2.2)  # the grid is laid out at 1/u of the tile, then scaled up
    mosaic_jpeg: bool = True  # half the grids JPEG-compressed before scaling up (as web photos are)
    mosaic_min_face: float = 12.0  # smaller mosaic faces are ignore regions: under the smallest anchor (16 px),
    # far below what the app looks for (20 px on photos of ~400 px scaled up to 700)


@dataclass
class Tile:
    image: np.ndarray  # (S, S, 3) uint8 BGR
    faces: np.ndarray  # (M, 4) corner boxes in tile pixels
    ignore: np.ndarray  # (K, 4)


def _scale_and_origin(scene: Scene, shape: tuple[int, int], st: TileSettings, rng: np.random.Generator):
    """(scale, x0, y0): tile pixel (u, v) is photo pixel (x0 + u / scale, y0 + v / scale)."""
    h, w = shape
    span_px = st.size
    if len(scene.faces) and rng.random() >= st.app_share:
        f = scene.faces[rng.integers(len(scene.faces))]
        target = float(np.exp(rng.uniform(np.log(st.face_min), np.log(st.face_max))))
        # not so small that the photo leaves most of the tile grey, nor blown up past 2.5x the app's scale
        scale = float(np.clip(target / max(f[3] - f[1], 1.0), 0.8 * st.size / max(h, w), 2.5 * st.app_side / max(h, w)))
        span = span_px / scale
        cx, cy = (f[0] + f[2]) / 2, (f[1] + f[3]) / 2
        return scale, cx - rng.uniform(0.15, 0.85) * span, cy - rng.uniform(0.15, 0.85) * span
    scale = st.app_side / max(h, w) * float(np.exp(rng.uniform(np.log(0.6), np.log(1.4))))
    span = span_px / scale
    x0 = rng.uniform(min(0.0, w - span), max(0.0, w - span))
    y0 = rng.uniform(min(0.0, h - span), max(0.0, h - span))
    return scale, x0, y0


def _move_boxes(scene: Scene, scale: float, x0: float, y0: float, st: TileSettings):
    """(faces, ignore) in tile pixels, clipped; faces cut too much or too small join the ignore regions."""
    s = st.size
    shift = np.array([x0, y0, x0, y0], np.float32)
    faces = (scene.faces - shift) * scale
    ignore = [np.clip((scene.ignore - shift) * scale, 0, s)]
    centre = (faces[:, :2] + faces[:, 2:]) / 2
    inside = np.all((centre >= 0) & (centre < s), axis=1)
    faces = faces[inside]
    clipped = np.clip(faces, 0, s)
    area = np.prod(faces[:, 2:] - faces[:, :2], axis=1)
    kept_area = np.prod(clipped[:, 2:] - clipped[:, :2], axis=1)
    small = np.min(clipped[:, 2:] - clipped[:, :2], axis=1) < st.min_face
    bad = small | (kept_area < 0.5 * np.maximum(area, 1e-6))
    ignore.append(clipped[bad])
    ignore = np.concatenate(ignore).reshape(-1, 4)
    ignore = ignore[np.all(ignore[:, 2:] - ignore[:, :2] >= 1, axis=1)]
    return clipped[~bad].astype(np.float32), ignore.astype(np.float32)


def _colour(tile: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    hsv = cv2.cvtColor(tile, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-6, 6)) % 180
    hsv[..., 1] *= rng.uniform(0.6, 1.4)
    out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.float32)
    out = (out - 128.0) * rng.uniform(0.65, 1.35) + 128.0 + rng.uniform(-32, 32)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.2:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.2))
    return out


def make_tile(scene: Scene, image: np.ndarray, st: TileSettings, rng: np.random.Generator) -> Tile:
    """One random tile of ``image`` (the scene's photo, BGR)."""
    scale, x0, y0 = _scale_and_origin(scene, image.shape[:2], st, rng)
    src = image
    if scale < 0.7:  # shrink first with area averaging: warpAffine alone would alias
        src = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        m = np.array([[1, 0, -x0 * scale], [0, 1, -y0 * scale]], np.float32)
    else:
        m = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], np.float32)
    tile = cv2.warpAffine(src, m, (st.size, st.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=RETINAFACE_MEAN_BGR)
    faces, ignore = _move_boxes(scene, scale, x0, y0, st)
    return _flip_and_colour(tile, faces, ignore, st, rng)


def _flip_and_colour(tile: np.ndarray, faces: np.ndarray, ignore: np.ndarray, st: TileSettings,
                     rng: np.random.Generator) -> Tile:
    if rng.random() < 0.5:
        tile = tile[:, ::-1].copy()
        faces = np.stack([st.size - faces[:, 2], faces[:, 1], st.size - faces[:, 0], faces[:, 3]], axis=1).reshape(-1, 4)
        ignore = np.stack([st.size - ignore[:, 2], ignore[:, 1], st.size - ignore[:, 0], ignore[:, 3]], axis=1).reshape(-1, 4)
    if st.colour:
        tile = _colour(tile, rng)
    return Tile(tile, faces.astype(np.float32), ignore.astype(np.float32))


def make_mosaic(photos: list[tuple[Scene, np.ndarray]], st: TileSettings, rng: np.random.Generator) -> Tile:
    """A k x k grid (k*k = len(photos)) of whole photos, each shrunk to 75-100 % of its cell and placed at a
    random spot in it; faces under ``mosaic_min_face`` px become ignore regions.

    The grid is laid out at 1/u of the tile (u drawn from ``mosaic_upscale``), sometimes JPEG-compressed there,
    then scaled up to the tile: like a small photo the app scales up to its input, its small faces are soft.
    (Laid out at the tile's own size, shrinking alone gave sharp small faces, and fewer small masked faces were
    found: docs/accuracy.md.)"""
    k = int(round(np.sqrt(len(photos))))
    if k * k != len(photos):
        raise ValueError(f"a mosaic needs a square number of photos, got {len(photos)}")
    side = max(k, round(st.size / float(rng.uniform(*st.mosaic_upscale))))
    cell = side // k
    canvas = np.empty((side, side, 3), np.uint8)
    canvas[:] = RETINAFACE_MEAN_BGR
    faces, ignore = [], []
    for n, (scene, image) in enumerate(photos):
        h, w = image.shape[:2]
        scale = cell / max(h, w) * float(rng.uniform(0.75, 1.0))
        small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        sh, sw = small.shape[:2]
        x = (n % k) * cell + int(rng.integers(0, cell - sw + 1))
        y = (n // k) * cell + int(rng.integers(0, cell - sh + 1))
        canvas[y:y + sh, x:x + sw] = small
        shift = np.array([x, y, x, y], np.float32)
        faces.append(np.clip(scene.faces * scale + shift, [x, y, x, y], [x + sw, y + sh, x + sw, y + sh]))
        ignore.append(np.clip(scene.ignore * scale + shift, 0, side))
    if st.mosaic_jpeg and rng.random() < 0.5:
        ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 91))])
        canvas = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else canvas
    up = st.size / side
    tile = cv2.resize(canvas, (st.size, st.size), interpolation=cv2.INTER_LINEAR) if side != st.size else canvas
    faces_t, ignore_t = np.concatenate(faces).reshape(-1, 4) * up, np.concatenate(ignore).reshape(-1, 4) * up
    tiny = np.min(faces_t[:, 2:] - faces_t[:, :2], axis=1) < st.mosaic_min_face
    return _flip_and_colour(tile, faces_t[~tiny], np.concatenate([ignore_t, faces_t[tiny]]), st, rng)


class TileBatches:
    """Endless batches (images NHWC float32 minus the mean, labels (B, N) int8, loc targets (B, N, 4)) over
    ``scenes``, one tile per photo per epoch in a shuffled order. Photos are kept decoded in memory."""

    def __init__(self, scenes: list[Scene], st: TileSettings, match_st: MatchSettings, seed: int):
        self.scenes, self.st, self.match_st = scenes, st, match_st
        self.rng = np.random.default_rng(seed)
        self.anchors = retinaface_anchors(st.size, st.size)  # the app's own anchors, in the network's order
        self._images: dict[int, np.ndarray] = {}

    def image(self, i: int) -> np.ndarray:
        if i not in self._images:
            img = cv2.imread(str(self.scenes[i].image), cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f"cannot read image {self.scenes[i].image}")
            self._images[i] = img
        return self._images[i]

    def tile(self, i: int) -> Tile:
        """A tile of photo ``i``: a mosaic of it and random others (share ``mosaic``) or a cut of it alone."""
        # draw nothing extra when mosaic is off: the shipped run's tiles stay the same for the same seed
        if self.st.mosaic > 0 and self.rng.random() < self.st.mosaic:
            # 2x2: a 480-px tile's cells of 240 px make faces of about 10-70 px; 3x3 made most under 16 px, the
            # smallest anchor
            picks = [i, *self.rng.integers(len(self.scenes), size=3)]
            return make_mosaic([(self.scenes[j], self.image(j)) for j in picks], self.st, self.rng)
        return make_tile(self.scenes[i], self.image(i), self.st, self.rng)

    def epoch(self, batch_size: int):
        """One pass: yields (images, labels, targets, positives in the batch)."""
        order = self.rng.permutation(len(self.scenes))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            imgs, labels, targets = [], [], []
            for i in order[start:start + batch_size]:
                tile = self.tile(i)
                lab, tgt = match(self.anchors, tile.faces, tile.ignore, self.match_st)
                imgs.append(tile.image.astype(np.float32) - np.array(RETINAFACE_MEAN_BGR, np.float32))
                labels.append(lab)
                targets.append(tgt)
            yield np.stack(imgs), np.stack(labels), np.stack(targets)

    def steps(self, batch_size: int) -> int:
        return len(self.scenes) // batch_size
