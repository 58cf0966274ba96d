"""What the window shows and writes, as plain functions: no Qt is imported here."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import yaml
from helpers import REPO

from facemask_live.app.options import load_settings
from facemask_live.app.window import display, sources, view
from facemask_live.core.results import Event, Face, Frame, FrameResult
from facemask_live.core.zones import Zone
from facemask_live.outputs.annotate import color_for


def result_for(image: np.ndarray, faces=(), events=()) -> FrameResult:
    return FrameResult(Frame(image, 0, 0.0, time.monotonic(), None, "test"), list(faces), list(events))


def test_no_qt_in_the_plain_modules():
    code = ("import sys; import facemask_live.app.window.view, facemask_live.app.window.sources, "
            "facemask_live.app.window.display; print([m for m in sys.modules if m.startswith('PyQt5')])")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert res.returncode == 0 and res.stdout.strip() == "[]", res.stderr


def test_display_problem_names_the_fixes():
    msg = display.display_problem({}, "linux")
    assert msg and "--headless" in msg and "QT_QPA_PLATFORM=offscreen" in msg and "\n" not in msg
    assert display.display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display.display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display.display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display.display_problem({}, "win32") is None


def test_status_line_and_title_for_one_camera_and_for_several():
    src = "/videos/door.mp4"
    assert view.window_title([src]) == "facemask-live — /videos/door.mp4"
    assert view.window_title(["a", "b", "c"]) == "facemask-live — site of 3 cameras"
    assert view.window_status({"camera": "live"}, {}, src) == "door.mp4  ·  live"
    assert view.window_status({"camera": "live"}, {}, src, paused=True) == "door.mp4  ·  paused"
    assert view.window_status({"camera": "reconnecting"}, {"camera": 2}, src) == "door.mp4  ·  reconnecting (attempt 2)"
    assert view.window_status({"camera": "ended"}, {}, src) == "end of door.mp4"
    assert view.window_status({"a": "live", "b": "failed", "c": "live"}, {}, "") == "3 cameras  ·  2 live"
    title = view.tile_title("door", "reconnecting", 0.0, 3)
    assert "<b>door</b>" in title and "reconnecting (attempt 3)" in title and view.STATE_COLORS["reconnecting"] in title
    assert "paused" in view.tile_title("door", "live", 12.0, paused=True)
    assert "picture frozen" in view.tile_title("door", "live", 12.0, frozen=True)
    assert view.short_name("rtsp://" + "x" * 80).count("…") == 1


def test_reconnecting_banner_is_drawn_on_a_copy():
    image = np.full((240, 320, 3), 90, np.uint8)
    assert view.status_banner(image, "live") is None
    banner = view.status_banner(image, "reconnecting", 2)
    b, g, r = banner[2, 2]
    assert r > 150 and g < 60 and b < 60  # red across the top (BGR 0,0,200)
    assert banner[200, 2].tolist() == [90, 90, 90] and image[2, 2].tolist() == [90, 90, 90]


def test_panel_texts_come_from_the_engine_numbers():
    face = Face((10, 10, 50, 50), 0.9, "no_mask", 0.95, track_id=7, track_label="no_mask", track_prob=0.95)
    html = view.frame_counts_html([result_for(np.zeros((60, 60, 3), np.uint8), [face])], ["mask", "no_mask"])
    assert html.startswith("faces: 1<br>") and "No mask</span>: 1" in html and "Mask</span>: 0" in html
    assert view.hex_color(color_for("no_mask")) in html
    counts = [{"people": 3, "masked": 1, "not_judged": 1, "violations": 1}, None,
              {"people": 2, "masked": 2, "not_judged": 0, "violations": 0}]
    assert view.session_values(counts) == {"people": "5", "masked": "3", "not_judged": "1", "violations": "1"}
    assert set(view.session_values(counts, tracking=False).values()) == {"tracking off"}
    stats = [{"state": "live", "fps": 12.5, "dropped": 3}, {"state": "ended", "fps": 30.0, "dropped": 1}]
    assert view.perf_values(stats, 24.96, 41.4, 2) == {"capture": "25.0 fps", "processed": "12.5 fps",
                                                        "dropped": "4 (+2 not shown)", "age": "41 ms"}
    assert view.perf_values(stats, None, None, 0, paused=True)["processed"] == "0.0 fps"
    rates = view.CaptureRates()  # timed by the figures' own clock; a second at least between two readings
    assert rates.update("a", {"stats_at": None, "frames_captured": 0}) is None  # no figures yet
    assert rates.update("a", {"stats_at": 1.0, "frames_captured": 10}) is None
    assert rates.update("a", {"stats_at": 1.5, "frames_captured": 20}) is None
    assert rates.update("a", {"stats_at": 3.0, "frames_captured": 60}) == 25.0
    assert rates.update("a", {"stats_at": 3.5, "frames_captured": 75}) == 25.0  # the last rate, until a second passed
    assert rates.update("a", {"stats_at": 4.5, "frames_captured": 5}) == 25.0  # counted afresh: a new first reading
    assert rates.update("a", {"stats_at": 5.5, "frames_captured": 35}) == 30.0
    rows = view.table_rows({"a": {"state": "live", "fps": 10.0, "people": 2, "violations": 1},
                            "b": {"state": "failed", "fps": 0.0, "people": None, "violations": None}})
    assert rows == [("a", "live", "10.0", "2", "1"), ("b", "failed", "0.0", "0", "0"), ("site", "1/2", "10.0", "2", "1")]


def test_event_entries_and_thumbnails(tmp_path):
    ev = Event(time.time(), "test", 3, "no_mask", 0.9, 5, (30, 20, 70, 60))
    assert view.event_text(ev).split("\n")[1] == "No mask 90%" and "  #3" in view.event_text(ev)
    assert view.event_text(ev, "door").startswith("door · ")
    frame = np.zeros((100, 100, 3), np.uint8)
    frame[20:60, 30:70] = (255, 0, 0)
    assert view.event_thumbnail(ev, frame).shape == (40, 40, 3)
    assert (view.event_thumbnail(ev, frame) == (255, 0, 0)).all()
    crop = np.full((30, 24, 3), (0, 255, 0), np.uint8)
    cv2.imwrite(str(tmp_path / "crop.png"), crop)
    ev.crop = str(tmp_path / "crop.png")
    assert np.array_equal(view.event_thumbnail(ev, frame), crop)  # the saved crop wins over the frame
    assert np.array_equal(view.event_thumbnail(ev, None), crop)
    ev.crop = str(tmp_path / "gone.png")
    assert view.event_thumbnail(ev, None) is None


def test_zone_overlay_and_snapshot_folders(tmp_path):
    image = np.full((100, 200, 3), 40, np.uint8)
    zone = Zone("door", "entrance", ((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)))
    shown = view.zone_overlay(image, [zone], None)
    assert not np.array_equal(shown[50, 50], image[50, 50]) and np.array_equal(shown[50, 180], image[50, 180])
    assert image[50, 50].tolist() == [40, 40, 40]  # drawn on a copy
    dots = view.zone_overlay(image, [], [(0.9, 0.5)])
    assert dots[50, 179].tolist() == [0, 255, 255]  # a corner being drawn: a yellow dot
    assert view.zone_overlay(image, [], None) is image
    assert view.snapshot_folder(tmp_path, "front door", 1) == tmp_path
    assert view.snapshot_folder(tmp_path, "front door", 2) == tmp_path / "front_door"


def test_sources_names_credentials_and_saved_config(tmp_path, monkeypatch):
    assert sources.source_camera_name("/v/street.mp4", {"street"}) == "street-2"
    assert sources.source_camera_name("0", set()) == "webcam-0"
    assert sources.source_camera_name("rtsp://u:p@10.0.0.5/live", set()) == "10-0-0-5-live"
    assert sources.camera_for_source("a", "/v/a.mp4").loop and not sources.camera_for_source("b", "/v/b.jpg").loop
    assert not sources.camera_for_source("c", "rtsp://h/s").loop
    assert sources.with_credentials("rtsp://old:x@h/s", "u", "p") == "rtsp://u:p@h/s"
    assert sources.with_credentials("rtsp://h/s", "", "p") == "rtsp://h/s"
    assert sources.password_placeholder("rtsp://u:secret@h/s", "front door") == (
        "rtsp://u:{FACEMASK_FRONT_DOOR_PASSWORD}@h/s", "FACEMASK_FRONT_DOOR_PASSWORD")

    monkeypatch.setenv("CAM_PW", "pa55word")
    cfg = tmp_path / "site.yaml"
    cfg.write_text("tracking: {vote_window: 9}\ncameras:\n  - name: front\n    source: rtsp://admin:{CAM_PW}@127.0.0.1:9/s\n")
    settings = load_settings(["--config", str(cfg)])
    added = sources.camera_for_source("back", "rtsp://user:typed@10.0.0.6/s")
    settings = dataclasses.replace(settings, cameras=(*settings.cameras, added))
    data, variables = sources.config_data(settings, str(cfg))
    text = yaml.safe_dump(data)
    assert data["tracking"] == {"vote_window": 9}  # the file's other sections are kept
    assert [c["source"] for c in data["cameras"]] == ["rtsp://admin:{CAM_PW}@127.0.0.1:9/s",
                                                      "rtsp://user:{FACEMASK_BACK_PASSWORD}@10.0.0.6/s"]
    assert variables == ["FACEMASK_BACK_PASSWORD"] and "pa55word" not in text and "typed" not in text


@pytest.mark.parametrize("bad", ["", "   "])
def test_unique_name_of_nothing_is_camera(bad):
    assert sources.unique_name(bad, set()) == "camera"


def test_window_plays_a_plain_source_file_at_its_own_rate(tmp_path):
    one = sources.window_settings(load_settings(["--source", "clip.mp4"]))
    assert one.cameras[0].realtime is None  # the site plays it like a camera (headless: every frame)
    assert sources.window_settings(load_settings(["--source", "clip.mp4", "--realtime"])).cameras[0].realtime
    cfg = tmp_path / "site.yaml"
    cfg.write_text("cameras:\n  - {name: a, source: a.mp4, realtime: false}\n")
    assert sources.window_settings(load_settings(["--config", str(cfg)])).cameras[0].realtime is False  # its own say
    demo = load_settings(["--demo"])
    assert sources.source_label(demo, demo.cameras[0]) == "demo photos"
    url = load_settings(["--source", "rtsp://u:secret@h/s"])
    assert sources.source_label(url, url.cameras[0]) == "rtsp://u:***@h/s"


def test_a_frame_the_window_has_not_taken_yet_is_drawn_only_if_it_is_taken():
    """TileFeed: a camera faster than the window; the frames it replaces are never drawn, the newest one is drawn
    (at the tile's size) when the window takes it, and every event reaches the window."""
    from facemask_live.app.window.feed import TileFeed
    from facemask_live.core.results import Event, Face, Frame, FrameResult

    feed = TileFeed()
    feed.view_sizes["door"] = (160, 90)
    event = Event(time.time(), "door", 7, "no_mask", 0.9, 0, (10, 10, 50, 50))

    def result(i: int, events=()):
        image = np.full((360, 640, 3), 40 * i, np.uint8)
        return FrameResult(Frame(image, i, i / 25, 0.0), [Face((100 + i, 50, 200 + i, 150), 0.9, label="mask")],
                           events=list(events))

    assert feed.put("door", result(0), None, None) is True  # drawn now: the window was not behind; tell it
    for i in range(1, 4):  # the window is busy: three more frames, one with an event
        assert feed.put("door", result(i, [event] if i == 2 else []), None, None) is False
    assert feed.painters["door"].drawn == 1  # none of them drawn yet
    latest, events = feed.take()
    shown = latest["door"]
    assert shown.result.frame.index == 3 and shown.image.shape == (90, 160, 3) and shown.image[0, 0, 0] == 120
    assert feed.painters["door"].drawn == 2 and feed.replaced["door"] == 3  # frames 1 and 2 never drawn
    assert [e.track_id for _c, e, _img in events] == [7]
    assert feed.take() == ({}, [])
