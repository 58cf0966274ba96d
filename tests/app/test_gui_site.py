"""The site window (facemask_live.app.gui_site) offscreen on real clips: tiles with names and states, enlarging a
tile, freezing the pictures while events go on, events with their camera's name, File -> Open adding a camera,
the zone editor saving a polygon."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt is imported

import pytest
import yaml
from helpers import SHARED
from PyQt5.QtCore import QPoint, Qt

from facemask_live.app.options import load_settings

VIDEOS = SHARED / "media" / "videos"
pytestmark = pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/media/videos is not there")


def site_config(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEMASK_CAM1_PASSWORD", "pa55word")
    cfg = tmp_path / "site.yaml"
    cfg.write_text(
        "cameras:\n"
        f"  - name: street\n    source: {VIDEOS / 'street_nomask.mp4'}\n    loop: true\n"
        f"  - name: office\n    source: {VIDEOS / 'office_mask.mp4'}\n    loop: true\n"
        "  - name: front\n    source: rtsp://admin:{FACEMASK_CAM1_PASSWORD}@127.0.0.1:9/stream\n")
    return cfg


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    from facemask_live.app.gui_site import build_site_window

    monkeypatch.setenv("HOME", str(tmp_path))  # QSettings (recent sources) in a throwaway home
    cfg = site_config(tmp_path, monkeypatch)
    settings = load_settings(["--config", str(cfg), "--snapshots", str(tmp_path / "snaps"), "--detector-size", "320"])
    win = build_site_window(settings, str(cfg))
    qtbot.addWidget(win)
    win.show()
    win.site.start()
    yield win
    win.close()


def test_grid_states_enlarge_events_open_and_zone(window, qtbot, tmp_path):
    win = window
    assert list(win.tiles) == ["street", "office", "front"]
    # frames and states arrive from the camera threads through the Qt signal
    qtbot.waitUntil(lambda: all(n in win.current for n in ("street", "office")), timeout=20000)
    qtbot.waitUntil(lambda: win.tiles["street"].state == "live" and win.tiles["front"].state in ("failed", "reconnecting"),
                    timeout=10000)
    assert "street" in win.tiles["street"].title.text() and "live" in win.tiles["street"].title.text()
    assert "fps" in win.tiles["office"].title.text()
    assert win.table.item(3, 0).text() == "site"

    # Space freezes the pictures: the tiles keep their frame while the cameras are still processed
    qtbot.keyClick(win, Qt.Key_Space)
    assert win.frozen and win.freeze_action.isChecked() and "frozen" in win.statusBar().currentMessage()
    assert all("picture frozen" in t.title.text() for t in win.tiles.values())
    shown = {n: win.current[n][0].frame.index for n in ("street", "office")}

    # the unmasked man of the street clip raises an event, listed with its camera's name (while frozen)
    qtbot.waitUntil(lambda: win.event_list.count() > 0, timeout=30000)
    assert win.event_list.item(0).text().startswith("street · ")
    assert win.counts["street"]["violations"] >= 1 and win.counts["office"]["violations"] == 0
    qtbot.waitUntil(lambda: win._held.get("street", (None,))[0] is not None, timeout=5000)
    assert {n: win.current[n][0].frame.index for n in shown} == shown  # the pictures did not move
    qtbot.keyClick(win, Qt.Key_Space)  # live again: the newest frame of each camera at once
    assert not win.frozen and not win.freeze_action.isChecked()
    assert not any("frozen" in t.title.text() for t in win.tiles.values())
    assert win.current["street"][0].frame.index > shown["street"]

    # a click enlarges a tile (the others are hidden); another click goes back to the grid
    street = win.tiles["street"]
    qtbot.mouseClick(street, Qt.LeftButton, pos=QPoint(10, 10))
    assert win.enlarged == "street" and not win.tiles["office"].isVisible() and street.isVisible()

    # the zone editor: clicks on the enlarged picture become the polygon's points; the camera restarts with it
    win.start_zone()
    qtbot.wait(300)
    rect = street.picture_rect()
    left, top, pw, ph = rect.x(), rect.y(), rect.width(), rect.height()
    for fx, fy in ((0.1, 0.1), (0.6, 0.1), (0.6, 0.8), (0.1, 0.8)):  # a click's position in the view -> the tile's slot
        # (QTest clicks while the site runs crashed the offscreen platform in this test; the click itself is above)
        win.tile_clicked("street", street.relative_point(QPoint(round(left + fx * pw), round(top + fy * ph))))
    assert len(win.drawing) == 4 and all(abs(a - b) < 0.02 for p, q in zip(win.drawing, ((0.1, 0.1), (0.6, 0.1), (0.6, 0.8), (0.1, 0.8)))
                                             for a, b in zip(p, q))
    zone = win.finish_zone("door", "entrance")
    assert zone is not None and win.settings.camera("street").zones == (zone,)
    assert win.site.cameras["street"].zones.active  # the running camera filters by it
    qtbot.waitUntil(lambda: win.site.cameras["street"].state.public == "live", timeout=10000)
    saved = tmp_path / "saved.yaml"
    win.save_config(saved)
    data = yaml.safe_load(saved.read_text())
    street_cfg = next(c for c in data["cameras"] if c["name"] == "street")
    assert street_cfg["zones"][0]["name"] == "door" and street_cfg["zones"][0]["kind"] == "entrance"
    assert len(street_cfg["zones"][0]["points"]) == 4
    front = next(c for c in data["cameras"] if c["name"] == "front")
    assert front["source"] == "rtsp://admin:{FACEMASK_CAM1_PASSWORD}@127.0.0.1:9/stream"  # the placeholder, not the password
    assert "pa55word" not in saved.read_text()
    win.tile_clicked("street", None)
    assert win.enlarged is None and win.tiles["office"].isVisible()

    # File -> Open (here without its file dialog): a fourth camera, playing at once; recent sources remember it.
    # Opened while the pictures are frozen, it still shows its first picture (then holds it)
    win.set_frozen(True)
    name = win.add_source(str(VIDEOS / "man_nomask.mp4"))
    assert name == "man_nomask" and list(win.tiles)[-1] == "man_nomask" and win.table.rowCount() == 5
    assert "picture frozen" in win.tiles["man_nomask"].title.text()
    qtbot.waitUntil(lambda: "man_nomask" in win.current, timeout=15000)
    win.set_frozen(False)
    assert win.site.cameras["man_nomask"].spec.realtime  # a file opened in the window plays at its own rate
    assert str(VIDEOS / "man_nomask.mp4") in win.recent_sources()

    # snapshots: a subfolder per camera
    paths = win.snapshot()
    assert {p.parent.name for p in paths} >= {"street", "office", "man_nomask"}


def test_add_camera_dialog_masks_the_password_and_tests_the_connection(qtbot):
    from PyQt5.QtWidgets import QLineEdit

    from facemask_live.app.gui_site import AddCameraDialog, password_placeholder, with_credentials

    dlg = AddCameraDialog({"camera"})
    qtbot.addWidget(dlg)
    assert dlg.name.text() == "camera-2" and dlg.password.echoMode() == QLineEdit.Password
    dlg.source.setText("rtsp://127.0.0.1:9/stream")
    dlg.user.setText("admin")
    dlg.password.setText("pa55word")
    assert dlg.url() == "rtsp://admin:pa55word@127.0.0.1:9/stream"
    assert not dlg.test_connection() and dlg.result_label.text().startswith("failed")
    assert "pa55word" not in dlg.result_label.text()
    dlg.source.setText(str(VIDEOS / "office_mask.mp4"))
    dlg.user.setText("")
    assert dlg.test_connection() and dlg.result_label.text().startswith("ok: ")
    assert with_credentials("rtsp://old:x@h/s", "u", "p") == "rtsp://u:p@h/s"
    assert password_placeholder("rtsp://u:secret@h/s", "front door") == ("rtsp://u:{FACEMASK_FRONT_DOOR_PASSWORD}@h/s",
                                                                          "FACEMASK_FRONT_DOOR_PASSWORD")
