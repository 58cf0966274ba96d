"""Drawing at the size a picture is shown (a grid tile): boxes where the faces are, labels drawn, no upscaling."""

import cv2
import numpy as np
import pytest

from facemask_live.core.results import Face, Frame, FrameResult
from facemask_live.outputs.annotate import annotate, annotate_fit, color_for, fit_size, shrink


def scene() -> FrameResult:
    rng = np.random.default_rng(0)
    image = rng.integers(60, 120, (720, 1280, 3), dtype=np.uint8)  # a textured grey frame
    faces = [Face((400, 200, 560, 400), 0.99, label="no_mask", prob=0.97, track_id=3),
             Face((900, 300, 980, 400), 0.95, label="mask", prob=0.99)]
    return FrameResult(Frame(image, 7, 0.0, 0.0), faces)


def edge_color(image: np.ndarray, x: int, y: int) -> np.ndarray:
    return image[y, max(x - 1, 0): x + 2].astype(int)


def test_fit_size_keeps_the_aspect_ratio_and_never_enlarges():
    assert fit_size(1280, 720, (320, 180)) == (320, 180)
    assert fit_size(1280, 720, (400, 400)) == (400, 225)
    assert fit_size(640, 360, (1920, 1080)) == (640, 360)
    assert fit_size(640, 360, None) == (640, 360) and fit_size(640, 360, (0, 0)) == (640, 360)


def test_a_tile_is_drawn_at_its_size_with_each_box_where_its_face_is():
    result = scene()
    tile = annotate_fit(result.frame.image, result, (320, 180))
    assert tile.shape == (180, 320, 3)
    for face in result.faces:  # the left edge of each box, a quarter of the frame's coordinates, in its colour
        x1, y1, _x2, y2 = (v // 4 for v in face.box)
        near = edge_color(tile, x1, (y1 + y2) // 2)
        assert (np.abs(near - color_for(face.label)).sum(axis=1) < 60).any(), face.label
    # the label text is drawn in white above the unmasked face (readable: not shrunk from the full-size drawing)
    label_band = tile[max(50 - 16, 0):50, 100:170]
    assert (label_band.min(axis=2) > 200).sum() > 20
    assert not (result.frame.image.min(axis=2) > 200).any()  # the frame itself is untouched


@pytest.mark.parametrize("size, shape", [((320, 180), (720, 1280)), ((320, 180), (404, 720)), ((426, 240), (720, 1280)),
                                         ((70, 125), (641, 359))])
def test_a_picture_shrunk_for_a_tile_averages_every_pixel(size, shape):
    """shrink: fine detail (one-pixel stripes, as in a striped shirt or a fence) comes out as its average grey, not
    as the stripes a resize that skips pixels would show; at a whole factor it is OpenCV's area average."""
    stripes = np.zeros((*shape, 3), np.uint8)
    stripes[:, ::2] = 200  # columns alternate 200 / 0
    stripes[::2] = 255 - stripes[::2]  # every other row inverted (55 / 255): a pattern of one-pixel squares
    small = shrink(stripes, size)
    assert small.shape == (size[1], size[0], 3)
    inner = small[2:-2, 2:-2].astype(int)
    assert abs(inner.mean() - stripes.mean()) < 6 and inner.std() < 20
    if shape[1] % size[0] or shape[0] % size[1]:
        # what bilinear alone does at that factor: it reads a few pixels per output pixel and keeps a pattern
        assert cv2.resize(stripes, size, interpolation=cv2.INTER_LINEAR)[2:-2, 2:-2].std() > 30
    else:
        frame = scene().frame.image
        area = cv2.resize(frame, size, interpolation=cv2.INTER_AREA).astype(int)
        assert np.abs(shrink(frame, size).astype(int) - area).max() <= 1


def test_no_room_given_or_more_room_than_pixels_draws_the_full_frame():
    result = scene()
    full = annotate(result.frame.image, result)
    assert np.array_equal(annotate_fit(result.frame.image, result, None), full)
    assert np.array_equal(annotate_fit(result.frame.image, result, (1920, 1080)), full)


def test_a_still_picture_is_drawn_once_and_shown_again():
    """TilePainter: frames the engine marks ``still`` show the last picture (no drawing) for up to ``hold_s``;
    a moving frame, a new tile size or the hold running out draws afresh."""
    import dataclasses

    from facemask_live.outputs.annotate import TilePainter

    first = scene()
    still = dataclasses.replace(first, still=True)
    painter = TilePainter(hold_s=1.0)
    a = painter.picture(first, None, (320, 180), now=0.0)
    assert painter.picture(still, None, (320, 180), now=0.5) is a and painter.kept == 1
    moved = dataclasses.replace(first, faces=[dataclasses.replace(first.faces[0], box=(600, 200, 760, 400))])
    b = painter.picture(moved, None, (320, 180), now=0.6)
    assert b is not a and not np.array_equal(a, b)  # the box moved on the picture
    big = painter.picture(still, None, (640, 360), now=0.7)
    assert big.shape == (360, 640, 3)  # the tile was enlarged: drawn afresh at its new size
    assert painter.picture(still, None, (640, 360), now=1.2) is big
    assert painter.picture(still, None, (640, 360), now=2.0) is not big  # held at most hold_s after it was drawn
    assert (painter.drawn, painter.kept) == (4, 2)


def test_a_label_wider_than_a_narrow_picture_is_drawn_smaller_not_cut():
    """A portrait camera in a grid tile is about 70 px wide: 'Mask below nose 95% #1' is drawn smaller and on more
    lines, all of its text inside the picture, instead of running past the right edge."""
    from facemask_live.outputs.annotate import draw_faces

    image = np.full((130, 72, 3), 90, np.uint8)
    face = Face((20, 60, 52, 100), 0.99, label="incorrect_mask", prob=0.95, track_id=1)
    out = draw_faces(image, FrameResult(Frame(image, 0, 0.0, 0.0), [face]))
    band = out[:60]  # the label sits above the box
    coloured = (np.abs(band.astype(int) - color_for("incorrect_mask")).sum(axis=2) < 30)
    white = band.min(axis=2) > 200
    assert white.sum() > 40  # the label is there, with its text
    assert np.flatnonzero(white.any(axis=0)).max() < image.shape[1] - 2  # its text ends inside the picture
    rows = np.flatnonzero(coloured.any(axis=1))
    assert rows.max() - rows.min() > 20  # on more than one line
    # a wide picture keeps the one-line label as before: the same face 10x as wide
    wide = np.full((130, 720, 3), 90, np.uint8)
    out = draw_faces(wide, FrameResult(Frame(wide, 0, 0.0, 0.0), [face]))
    rows = np.flatnonzero((np.abs(out[:60].astype(int) - color_for("incorrect_mask")).sum(axis=2) < 30).any(axis=1))
    assert rows.max() - rows.min() < 20
