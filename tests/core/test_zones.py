"""Zones: geometry and validation, drawing on real pixels, and the site engine on a real clip: a person in an
ignore zone never raises an event, a person outside the entrance zone is not counted."""

from __future__ import annotations

import numpy as np
import pytest

from facemask_live.core.results import Face
from facemask_live.core.zones import Zone, ZoneFilter, ZoneSettings, anchor_point, draw_zones, parse_zone

SQUARE = ((0.2, 0.2), (0.6, 0.2), (0.6, 0.6), (0.2, 0.6))


def test_contains_convex_and_concave():
    z = Zone("door", "entrance", SQUARE)
    assert z.contains(0.4, 0.4) and z.contains(0.2, 0.3)  # inside, and on an edge
    assert not z.contains(0.7, 0.4) and not z.contains(0.1, 0.1)
    u = Zone("u", "ignore", ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.7, 1.0), (0.7, 0.3), (0.3, 0.3), (0.3, 1.0), (0.0, 1.0)))
    assert u.contains(0.1, 0.9) and u.contains(0.9, 0.9) and u.contains(0.5, 0.1)
    assert not u.contains(0.5, 0.8)  # inside the notch of the U


@pytest.mark.parametrize(
    "kind, points, message",
    [
        ("door", SQUARE, "kind must be one of"),
        ("entrance", SQUARE[:2], "at least 3 points"),
        ("entrance", ((0.1, 0.1), (1.2, 0.1), (0.5, 0.5)), "outside 0..1"),
        ("entrance", ((0.1, 0.1), (0.2, 0.2), (0.3, 0.3)), "no area"),
        ("entrance", ((0.1, "a"), (0.2, 0.2), (0.3, 0.1)), "pairs of numbers"),
    ],
)
def test_zone_validation(kind, points, message):
    with pytest.raises(ValueError, match=message):
        Zone("z", kind, points)


def test_parse_and_mapping():
    z = parse_zone("door:entrance:0.2,0.2 0.6,0.2 0.6,0.6 0.2,0.6")
    assert z == Zone("door", "entrance", SQUARE)
    assert Zone.from_mapping(z.to_mapping()) == z
    with pytest.raises(ValueError, match="unknown key"):
        Zone.from_mapping({"name": "a", "kind": "ignore", "points": SQUARE, "colour": 1})
    with pytest.raises(ValueError, match="NAME:KIND"):
        parse_zone("door 0.1,0.1")
    with pytest.raises(ValueError, match="unique"):
        ZoneSettings((z, z))
    with pytest.raises(ValueError, match="anchor"):
        ZoneSettings((z,), anchor="feet")


def test_anchor_and_filter():
    face = Face((100, 100, 200, 200), 0.9)  # in a 1000 x 1000 frame: centre (0.15, 0.15)
    assert anchor_point(face.box, 1000, 1000) == (0.15, 0.15)
    assert anchor_point(face.box, 1000, 1000, "shoulders") == (0.15, 0.275)  # 0.75 face heights below the chin
    entrance = Zone("door", "entrance", ((0.0, 0.2), (0.5, 0.2), (0.5, 0.5), (0.0, 0.5)))
    poster = Zone("poster", "ignore", ((0.0, 0.0), (0.3, 0.0), (0.3, 0.18), (0.0, 0.18)))
    assert ZoneFilter([entrance]).verdict(face, 1000, 1000) == "outside"
    assert ZoneFilter(ZoneSettings((entrance,), "shoulders")).verdict(face, 1000, 1000) == "count"
    flt = ZoneFilter(ZoneSettings((entrance, poster), "shoulders"))
    inside_poster = Face((10, 10, 60, 40), 0.9)  # shoulders at y 0.0625: still on the poster
    kept, left = flt.split([face, inside_poster], 1000, 1000)
    assert kept == [face] and left == [inside_poster] and flt.ignored == 1
    assert ZoneFilter().split([face], 10, 10) == ([face], [])  # no zones: everyone counts


def test_draw_zones_tints_inside_only():
    img = np.full((200, 300, 3), 100, np.uint8)
    out = draw_zones(img, [Zone("door", "entrance", SQUARE), Zone("tv", "ignore", ((0.7, 0.7), (0.9, 0.7), (0.8, 0.9)))])
    assert (img == 100).all()  # a copy
    inside, outside = out[80, 80].astype(int), out[190, 10].astype(int)
    assert (outside == 100).all()
    assert inside[1] > inside[0] + 20  # entrance zones are tinted green
    tv = out[160, 240].astype(int)
    assert abs(tv[0] - tv[1]) < 10 and tv[0] > 100  # ignore zones grey


@pytest.mark.slow
def test_site_zones_on_real_clip(shared_dir, tmp_path):
    """One site from a config file, the same clip (one unmasked man, face centre at about x 0.48-0.52,
    y 0.34-0.38) as four cameras with different zones."""
    from facemask_live.app.options import load_settings
    from facemask_live.engine.build import build_site

    clip = str(shared_dir / "media" / "videos" / "street_nomask.mp4")
    around_face = "[[0.3, 0.1], [0.7, 0.1], [0.7, 0.6], [0.3, 0.6]]"
    elsewhere = "[[0.0, 0.5], [0.3, 0.5], [0.3, 1.0], [0.0, 1.0]]"
    cams = {
        "plain": "[]",
        "ignored": f"[{{name: tv, kind: ignore, points: {around_face}}}]",
        "outside": f"[{{name: door, kind: entrance, points: {elsewhere}}}]",
        "inside": f"[{{name: door, kind: entrance, points: {around_face}}}, {{name: poster, kind: ignore, points: {elsewhere}}}]",
    }
    cfg = tmp_path / "site.yaml"
    cfg.write_text("cameras:\n" + "".join(f"  - {{name: {n}, source: '{clip}', zones: {z}}}\n" for n, z in cams.items()))
    site = build_site(load_settings(["--config", str(cfg), "--headless", "--no-auto-snapshots"]))
    with site:
        site.wait(30)
        stats = site.stats()["cameras"]
    assert all(s["state"] == "ended" for s in stats.values()), stats
    assert stats["plain"]["events"] == 1 and stats["plain"]["people"] == 1
    assert stats["inside"]["events"] == 1 and stats["inside"]["people"] == 1
    assert stats["ignored"]["events"] == 0 and stats["ignored"]["people"] == 0 and stats["ignored"]["faces_ignored"] > 100
    assert stats["outside"]["events"] == 0 and stats["outside"]["people"] == 0 and stats["outside"]["faces_outside"] > 100
