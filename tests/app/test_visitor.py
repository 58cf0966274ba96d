"""The visitor display (issue 29): which message for which person (a plain function), and the window's text and
colour on the shared clips played live (offscreen Qt)."""

from __future__ import annotations

import dataclasses

import pytest

from facemask_live.app.window.visitor_message import MessageTable, visitor_message
from facemask_live.core.config import ConfigError, VisitorSettings
from facemask_live.core.results import DoorView

GREEN, RED, ORANGE = "#2e7d32", "#c62828", "#ef6c00"
THANKS, PUT_ON, OVER_NOSE = "Thank you", "Please put on your mask", "Please pull your mask over your nose"


def test_message_for_each_judged_label_and_none_otherwise():
    table = MessageTable(VisitorSettings())
    said = {lab: visitor_message(DoorView(1, lab, lab != "mask", (0, 0, 9, 9)), table) for lab in ("mask", "no_mask", "incorrect_mask")}
    assert {k: (m.text, m.color) for k, m in said.items()} == {"mask": (THANKS, GREEN), "no_mask": (PUT_ON, RED),
                                                                "incorrect_mask": (OVER_NOSE, ORANGE)}
    assert visitor_message(None, table) is None  # no tracking
    assert visitor_message(DoorView(), table) is None  # nobody there
    assert visitor_message(DoorView(1, None, False, (0, 0, 9, 9)), table) is None  # not judged yet
    assert visitor_message(DoorView(1, "no_mask", True, (0, 0, 9, 9), off_hours=True), table) is None


def test_the_languages_the_settings_accept_are_the_shipped_files():
    from importlib import resources

    from facemask_live.core.config import VISITOR_LANGUAGES

    shipped = [p.name[:-5] for p in resources.files("facemask_live.app").joinpath("messages").iterdir() if p.name.endswith(".yaml")]
    assert sorted(shipped) == sorted(VISITOR_LANGUAGES)
    for language in shipped:  # each has a message for each label of the shipped model
        assert set(MessageTable(VisitorSettings(language=language)).messages) >= {"mask", "no_mask", "incorrect_mask"}


def test_german_messages_settings_override_them_and_bad_files_are_one_line_errors(tmp_path):
    table = MessageTable(VisitorSettings(language="de", messages={"mask": "Danke!"}, colors={"no_mask": "#ff0000"},
                                         sounds={"no_mask": "/x/bitte.wav"}))
    assert table.get("mask").text == "Danke!" and table.get("mask").color == GREEN
    m = table.get("no_mask")
    assert (m.text, m.color, m.sound) == ("Bitte setzen Sie Ihre Maske auf", "#ff0000", "/x/bitte.wav")
    bad = tmp_path / "fr.yaml"
    bad.write_text("messages: [merci]\n")
    with pytest.raises(ConfigError, match="must hold 'messages' and 'colors'"):
        MessageTable(VisitorSettings(language=str(bad)))
    with pytest.raises(ConfigError, match="cannot read messages file"):
        MessageTable(VisitorSettings(language=str(tmp_path / "missing.yaml")))


CLIPS = {"street_nomask": "street_nomask.mp4", "office_mask": "office_mask.mp4", "putting_on": "putting_on_mask_720p.mp4"}


@pytest.fixture(scope="module")
def shown(shared_dir):
    """Each clip as a live camera of one site with its own visitor display (offscreen): the (text, colour) the
    window showed after each result it got."""
    from PyQt5 import QtWidgets

    from facemask_live.app.window.visitor import VisitorFeed
    from facemask_live.core.config import CameraSettings, GuiSettings, Settings
    from facemask_live.engine.build import build_site

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    videos = shared_dir / "media" / "videos"
    settings = Settings(cameras=tuple(CameraSettings(n, str(videos / c)) for n, c in CLIPS.items()),
                        gui=GuiSettings(headless=True), events=dataclasses.replace(Settings().events, auto_snapshots=False))
    feeds = {n: VisitorFeed(n) for n in CLIPS}
    seen: dict[str, list[tuple[str, str | None]]] = {n: [] for n in CLIPS}
    for name, feed in feeds.items():
        window = feed.open(VisitorSettings(camera=name))
        # connected after the window's own slot: reads what the window shows for each result
        feed.ready.connect(lambda n=name, w=window: seen[n].append((w.shown_text, w.shown_color)))
    site = build_site(settings, on_result=lambda n, r, a: feeds[n].on_result(n, r, a))
    try:
        site.start()
        while any(c.alive for c in site.cameras.values()):
            app.processEvents()
            site.wait(0.05)
        app.processEvents()
    finally:
        site.close()
        for feed in feeds.values():
            feed.window.close()
    return seen


def _messages(seq):
    """The messages in the order they appeared (repeats and the empty screen dropped)."""
    out = []
    for text, color in seq:
        if text and (not out or out[-1] != (text, color)):
            out.append((text, color))
    return out


def test_street_nomask_shows_red_please_put_on_your_mask(shown):
    assert _messages(shown["street_nomask"]) == [(PUT_ON, RED)]
    assert shown["street_nomask"][-1] == (PUT_ON, RED)


def test_office_mask_shows_green_thank_you(shown):
    assert _messages(shown["office_mask"]) == [(THANKS, GREEN)]


def test_putting_on_a_mask_shows_a_mask_request_then_thank_you(shown):
    said = _messages(shown["putting_on"])
    assert said[0] in ((PUT_ON, RED), (OVER_NOSE, ORANGE)) and said[-1] == (THANKS, GREEN), said
    assert shown["putting_on"][0] == ("", None)  # nothing before her face is judged


def test_view_menu_opens_the_display_of_the_chosen_camera(qtbot, monkeypatch, tmp_path):
    from PyQt5 import QtWidgets

    from facemask_live.app.options import load_settings
    from facemask_live.app.window.main import MainWindow

    cfg = tmp_path / "site.yaml"
    cfg.write_text("cameras:\n  - {name: street, source: a.mp4}\n  - {name: office, source: b.mp4}\n"
                   "visitor: {language: de}\n")
    win = MainWindow(load_settings(["--config", str(cfg)]))
    qtbot.addWidget(win)
    monkeypatch.setattr(QtWidgets.QInputDialog, "getItem", lambda *a, **k: ("office", True))
    view = next(a.menu() for a in win.menuBar().actions() if a.text() == "&View")
    next(a for a in view.actions() if a.text() == "&Visitor display...").trigger()
    feed = win.bridge.visitor
    assert feed.camera == "office" and feed.window is not None and feed.window.isVisible()
    assert feed.window.table.get("mask").text == "Vielen Dank"
    feed.window.close()


def test_visitor_display_of_one_camera_of_a_site_from_the_command_line(qtbot, tmp_path):
    """``--visitor-display office`` on a site of two cameras: each camera's own settings kept the site's visitor
    camera, and building the other camera stopped the window with "internal error: visitor.camera: no camera named
    'office' (cameras: street)"; past that, the display showed every camera's people (it took the camera only from
    the View menu). Now the window is built with both cameras and the display follows the office camera alone."""
    import time

    import numpy as np

    from facemask_live.app.options import load_settings
    from facemask_live.app.window.run import build_window
    from facemask_live.core.results import Frame, FrameResult

    cfg = tmp_path / "site.yaml"
    cfg.write_text("cameras:\n  - {name: street, source: a.mp4}\n  - {name: office, source: b.mp4}\n")
    settings = load_settings(["--config", str(cfg), "--visitor-display", "office"])
    win = build_window(settings, str(cfg))
    qtbot.addWidget(win)
    try:
        assert list(win.site.cameras) == ["street", "office"] and settings.visitor.camera == "office"
        win.bridge.visitor.open(settings.visitor)  # as run_window does once the window is shown
        feed = win.bridge.visitor
        assert feed.camera == "office" and feed.window is not None and feed.window.isVisible()
        # it shows the office camera's people only (it showed every camera's, one after the other)
        frame = Frame(np.zeros((36, 64, 3), np.uint8), 0, 0.0, time.monotonic(), None, "a.mp4")
        result = FrameResult(frame, [])
        feed.on_result("street", result)
        assert feed.take() is None
        feed.on_result("office", result)
        assert feed.take() is result
    finally:
        if win.bridge.visitor.window is not None:
            win.bridge.visitor.window.close()
        win.site.close()
