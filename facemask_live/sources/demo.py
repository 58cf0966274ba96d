"""The built-in demo: a few CC0 photos shipped with the package, played as a folder source.

``--demo`` (``source.demo`` in the settings) needs no camera, so the two quick-start commands show the
product on any machine. In the window each photo stays up for :data:`PHOTO_SECONDS` and the set loops;
headless processes each photo once and prints the summary (``--loop`` keeps replaying). ``engine.build.camera_spec``
turns :func:`demo_source` into the capture. Origin of the photos: ``facemask_live/demo/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from facemask_live.core.errors import FacemaskError

PHOTO_SECONDS = 1.5  # long enough to read the labels, short enough to feel live


@dataclass(frozen=True)
class DemoSource:
    """How the demo is played: the photo folder, whether it loops, how long each photo is held."""

    folder: Path
    loop: bool
    image_period: float


def photos_dir() -> Path:
    """The folder of demo photos inside the installed package."""
    folder = resources.files("facemask_live").joinpath("demo", "photos")
    if not isinstance(folder, Path) or not folder.is_dir():
        raise FacemaskError(f"the demo photos are missing from the installed package ({folder}); reinstall facemask-live")
    return folder


def demo_source(headless: bool) -> DemoSource:
    """The window shows a looping slide show; headless goes through the photos once, as fast as it can."""
    if headless:
        return DemoSource(photos_dir(), loop=False, image_period=0.0)
    return DemoSource(photos_dir(), loop=True, image_period=PHOTO_SECONDS)


def demo_playback(headless: bool, loop: bool = False) -> tuple[str, bool, float]:
    """(source, loop, image_period) of the built-in photos as the window or headless plays them."""
    demo = demo_source(headless)
    return str(demo.folder), loop or demo.loop, demo.image_period
