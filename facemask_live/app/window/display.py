"""Why no window can be opened here, said in one line before Qt starts (Qt aborts the process without a display).

No Qt in this module: it runs before PyQt5 is imported.
"""

from __future__ import annotations

import ctypes
import os
import socket
import sys

# libraries Qt's xcb platform plugin loads, and the Debian/Ubuntu packages that have them
XCB_LIBS = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}
NO_WINDOW_HINT = "use --headless, or set QT_QPA_PLATFORM=offscreen to run the window without showing it"


def x_server_reachable(display: str, timeout: float = 1.0) -> bool:
    """Whether an X server answers at ``display`` (``[host]:N[.S]``); True when the form is not understood."""
    host, sep, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not sep or not number.isdigit() or host.startswith("/"):  # e.g. macOS launchd paths: let Qt try
        return True
    n = int(number)
    try:
        if host in ("", "unix"):
            paths = [f"/tmp/.X11-unix/X{n}"]
            if sys.platform.startswith("linux"):
                paths.insert(0, f"\0/tmp/.X11-unix/X{n}")  # abstract socket
            for path in paths:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.settimeout(timeout)
                    try:
                        sock.connect(path)
                        return True
                    except OSError:
                        continue
            return False
        with socket.create_connection((host, 6000 + n), timeout=timeout):
            return True
    except OSError:
        return False


def missing_xcb_packages() -> list[str]:
    """Packages of the libraries Qt's xcb plugin needs that cannot be loaded here."""
    missing = []
    for lib, package in XCB_LIBS.items():
        try:
            ctypes.CDLL(lib)
        except OSError:
            missing.append(package)
    return missing


def display_problem(environ=None, platform: str | None = None, probe: bool = False) -> str | None:
    """Why no window can be opened here (one line), or None.

    Checked before Qt starts, because Qt aborts the process when it has no display. ``probe``: also
    check that the X server answers and that the xcb plugin's libraries are installed."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    qpa = environ.get("QT_QPA_PLATFORM", "")
    if qpa and not qpa.startswith("xcb"):
        return None
    if not platform.startswith("linux") and "bsd" not in platform:
        return None  # Windows and macOS always have their native platform plugin
    display = environ.get("DISPLAY", "")
    if not display:
        if environ.get("WAYLAND_DISPLAY") and not qpa:
            return None
        return f"no display to open the window on (DISPLAY is not set): {NO_WINDOW_HINT}"
    if probe and not x_server_reachable(display):
        return f"cannot connect to the X display {display} (no X server there?): {NO_WINDOW_HINT}"
    if probe and platform.startswith("linux"):
        missing = missing_xcb_packages()
        if missing:
            return f"Qt's xcb plugin needs libraries that are not installed; install them (apt-get install {' '.join(missing)}) or {NO_WINDOW_HINT}"
    return None
