"""The window over a site whose cameras run in worker processes (issue 26), offscreen, on the shared clips: each
worker draws its cameras' tiles at the tile's size and sends them with the counts and every event's face; pause,
the enlarged camera's main stream, Camera -> Add, a zone drawn (its camera restarts with it), a camera removed,
a snapshot, and no worker left after the window closes."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt is imported

import pytest
import yaml
from helpers import SHARED
from PyQt5.QtCore import QPoint, Qt

from facemask_live.app.options import load_settings
from facemask_live.app.window.run import build_window
from facemask_live.engine.workers import ProcessSite
from facemask_live.outputs.annotate import color_for

VIDEOS = SHARED / "media" / "videos"
STREET, OFFICE, MAN = VIDEOS / "street_nomask.mp4", VIDEOS / "office_mask.mp4", VIDEOS / "man_nomask.mp4"
pytestmark = pytest.mark.skipif(not STREET.is_file(), reason="../shared/media/videos is not there")


def box_drawn(image, box, bgr, frame_shape) -> bool:
    """Whether the left edge of ``box`` (in a frame of ``frame_shape``) is drawn in ``bgr`` on the tile ``image``."""
    sx, sy = image.shape[1] / frame_shape[1], image.shape[0] / frame_shape[0]
    x1, y1, y2 = round(box[0] * sx), round(box[1] * sy), round(box[3] * sy)
    strip = image[(y1 + y2) // 2, max(x1 - 3, 0): x1 + 4].astype(int)
    return bool((abs(strip - bgr).sum(axis=1) < 40).any())


def test_window_over_worker_processes(qtbot, tmp_path, monkeypatch):
    from facemask_live.measure.substreams import substream_clip

    monkeypatch.setenv("HOME", str(tmp_path))  # QSettings (recent sources) in a throwaway home
    sub = substream_clip(STREET, tmp_path)  # street's 640x360 copy: a camera with two streams
    config = tmp_path / "site.yaml"
    config.write_text(yaml.safe_dump({"cameras": [
        {"name": "door", "source": str(STREET), "detect_source": str(sub), "loop": True},
        {"name": "office", "source": str(OFFICE), "loop": True},
        {"name": "street", "source": str(STREET), "loop": True}],
        "events": {"auto_snapshots": False}}))
    w = build_window(load_settings(["--config", str(config), "--workers", "2", "--detector-size", "320",
                                    "--snapshots", str(tmp_path / "snaps")]), str(config))
    qtbot.addWidget(w)
    w.show()
    site = w.site
    assert isinstance(site, ProcessSite) and w.bridge.remote and len(site.workers) == 2
    try:
        site.start()
        # each tile gets its pictures from its worker, drawn at the tile's size with the faces' boxes
        qtbot.waitUntil(lambda: all(n in w.current and w.current[n].result.faces for n in ("door", "office", "street")),
                        timeout=60000)
        qtbot.waitUntil(lambda: w.current["street"].image.shape[1] <= w.tiles["street"].view_size()[0] + 1, timeout=10000)
        shown = w.current["street"]
        assert shown.result.frame.image.shape == (720, 1280, 0)  # the result crossed the pipe without its frame
        face = shown.result.faces[0]
        assert box_drawn(shown.image, face.box, color_for(face.shown_label), shown.result.frame.image.shape)
        assert w.current["door"].result.frame.image.shape == (360, 640, 0)  # the grid tile: the substream
        # the violation listed with its camera's name and face, the counts from the workers' monitors
        qtbot.waitUntil(lambda: w.event_list.count() >= 2, timeout=30000)
        items = [w.event_list.item(i) for i in range(w.event_list.count())]
        assert {i.text().split(" · ")[0] for i in items} == {"door", "street"}
        assert not any(i.icon().isNull() for i in items)
        qtbot.waitUntil(lambda: all(w.counts[n]["violations"] >= 1 for n in ("door", "street")), timeout=5000)
        assert w.counts["office"]["violations"] == 0 and w.counts["office"]["masked"] >= 1
        qtbot.waitUntil(lambda: w.panel.table.item(2, 4).text() not in ("", "0"), timeout=5000)

        # pause: every worker's cameras stop; Space again and they go on
        w.toggle_pause()
        qtbot.wait(800)  # what was in the pipes arrives
        held = {n: w.current[n].result.frame.index for n in ("office", "street")}
        qtbot.wait(1500)
        assert {n: w.current[n].result.frame.index for n in held} == held
        w.toggle_pause()
        qtbot.waitUntil(lambda: w.current["office"].result.frame.index > held["office"], timeout=10000)

        # the enlarged two-stream camera shows its main stream, sent by its worker
        qtbot.mouseClick(w.tiles["door"], Qt.LeftButton, pos=QPoint(10, 10))
        assert w.enlarged == "door"
        qtbot.waitUntil(lambda: w.current["door"].result.frame.image.shape == (720, 1280, 0), timeout=20000)
        w.tile_clicked("door", None)

        # Camera -> Add: a worker of its own; a zone drawn on street: its worker starts again without it, and a
        # new worker runs it with its zone
        starts = site.stats()["site"]["worker_starts"]
        assert w.add_source(str(MAN)) == "man_nomask"
        qtbot.waitUntil(lambda: "man_nomask" in w.current, timeout=30000)
        w.tile_clicked("street", None)
        w.start_zone()
        w.drawing = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
        zone = w.finish_zone("hall", "entrance")
        assert zone is not None and w.settings.camera("street").zones == (zone,)
        before = w.current["street"].result.frame.captured_at
        qtbot.waitUntil(lambda: w.current["street"].result.frame.captured_at > before + 1.0
                        and w.site.stats()["cameras"]["street"]["state"] == "live", timeout=30000)
        assert site.stats()["site"]["worker_starts"] >= starts + 3  # man_nomask's, street's new one, one restarted

        # a camera removed: its tile and its figures go
        w.tile_clicked("street", None)
        w.tile_clicked("office", None)
        assert w.enlarged == "office"
        w.remove_enlarged()
        assert "office" not in w.tiles and "office" not in site.stats()["cameras"]
        paths = w.snapshot()
        assert {p[0].parent.name for p in paths} >= {"door", "street"} and all(p[1] is None for p in paths)
    finally:
        w.close()
    assert not any(c.alive for c in site.cameras.values())
    assert not any(x.process.is_alive() for x in site.workers)  # every worker, the restarted ones too, stopped
