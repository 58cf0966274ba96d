"""Cameras the window adds and the config file it saves, as plain functions (no Qt): names for new sources,
credentials put into and kept out of URLs, the cameras written back to YAML."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from urllib.parse import quote

from facemask_live.core.config import DEFAULT_CAMERA, CameraSettings, Settings, read_file, settings_to_dict
from facemask_live.core.errors import FacemaskError
from facemask_live.sources.capture import mask_credentials

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def unique_name(base: str, taken: set[str]) -> str:
    base = re.sub(r"\s+", "-", base.strip()) or "camera"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def source_camera_name(source: str, taken: set[str]) -> str:
    """A name for a camera opened from ``source``: a file's stem, ``webcam-N``, or the URL's host and path."""
    if source.isdigit():
        stem = f"webcam-{source}"
    elif "://" in source:
        stem = re.sub(r"[^A-Za-z0-9]+", "-", source.split("://", 1)[1].split("@")[-1])[:24]
    else:
        stem = Path(source).stem
    return unique_name(stem or "camera", taken)


def camera_for_source(name: str, source: str) -> CameraSettings:
    """The camera of a source opened in the window: a video file or folder loops (an image does not)."""
    is_file = "://" not in source and not source.isdigit()
    return CameraSettings(name, source, loop=is_file and Path(source).suffix.lower() not in IMAGE_SUFFIXES)


def with_credentials(source: str, user: str, password: str) -> str:
    """``rtsp://host/x`` + user/password -> ``rtsp://user:password@host/x`` (unchanged without a user or a URL)."""
    if not user or "://" not in source:
        return source
    scheme, rest = source.split("://", 1)
    rest = rest.split("@", 1)[-1]
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    return f"{scheme}://{auth}@{rest}"


def password_placeholder(source: str, camera: str) -> tuple[str, str | None]:
    """A URL's password replaced by ``{FACEMASK_<CAMERA>_PASSWORD}`` for a config file; (source, variable or None)."""
    m = re.match(r"^([a-z][a-z0-9+.-]*://[^:/@]+):([^@]+)@(.*)$", source, re.I)
    if not m or re.fullmatch(r"\{[A-Z_][A-Z0-9_]*\}", m.group(2)):
        return source, None
    var = "FACEMASK_" + re.sub(r"[^A-Z0-9]+", "_", camera.upper()).strip("_") + "_PASSWORD"
    return f"{m.group(1)}:{{{var}}}@{m.group(3)}", var


def raw_camera_sources(config_path: str | None) -> dict[str, str]:
    """Camera name -> the source as written in the config file (``{ENV}`` placeholders not substituted)."""
    if not config_path:
        return {}
    try:
        cams = read_file(config_path).get("cameras") or []
    except FacemaskError:
        return {}
    return {str(c["name"]): str(c["source"]) for c in cams if isinstance(c, dict) and "name" in c and "source" in c}


def config_data(settings: Settings, config_path: str | None) -> tuple[dict, list[str]]:
    """What File -> Save config writes: the file the settings came from with its ``cameras`` replaced by the
    window's cameras (zones included). A password becomes ``{FACEMASK_<CAMERA>_PASSWORD}`` unless the file had a
    placeholder there already; returns (data, the variables to set)."""
    data = read_file(config_path) if config_path and Path(config_path).is_file() else {}
    raw_sources = raw_camera_sources(config_path)
    cams, variables = [], []
    for cam in settings.cameras:
        d = {k: v for k, v in settings_to_dict(cam).items() if v not in (None, [], (), False)}  # only what is set
        raw = raw_sources.get(cam.name)
        if raw is not None:
            d["source"] = raw
        else:
            d["source"], var = password_placeholder(cam.source, cam.name)
            if var:
                variables.append(var)
        cams.append(d)
    data["cameras"] = cams
    return data, variables


def source_label(settings: Settings, camera: CameraSettings) -> str:
    """A camera's source as the window names it: passwords masked, ``demo photos`` for ``--demo``."""
    if settings.source.demo and camera.source == settings.source.source:
        return "demo photos"
    return mask_credentials(camera.source)


def without_demo(settings: Settings) -> Settings:
    """``--demo`` is one camera by rule: before another camera joins it, the demo becomes a camera of its photo
    folder (looping), like any other."""
    if not settings.source.demo:
        return settings
    from facemask_live.sources.demo import demo_source

    camera = dataclasses.replace(settings.cameras[0], source=str(demo_source(headless=False).folder), loop=True)
    return dataclasses.replace(settings, source=dataclasses.replace(settings.source, demo=False), cameras=(camera,))


def window_settings(settings: Settings) -> Settings:
    """The cameras as the window runs them: a video file of the ``source`` section (a plain ``--source``) plays at
    its own frame rate like a camera (headless processes every frame; a camera's own ``realtime: false`` in a
    settings file is kept)."""
    s = settings.source
    if settings.cameras == (CameraSettings(DEFAULT_CAMERA, s.source, s.loop, s.realtime),) and not s.realtime:
        return dataclasses.replace(settings, cameras=(dataclasses.replace(settings.cameras[0], realtime=None),))
    return settings
