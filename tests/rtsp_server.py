"""A tiny RTSP server on 127.0.0.1 for the stream tests (GStreamer's gst-rtsp-server, H.264 over RTP).

Run with Debian's /usr/bin/python3 (python3-gi lives there, not in the project's Python):

    /usr/bin/python3 tests/rtsp_server.py PORT [IMAGE]

Serves rtsp://127.0.0.1:PORT/live as 320x240 at 10 fps: IMAGE frozen into a live stream, or a moving
test pattern; or, when IMAGE is a folder of numbered JPEG frames (000.jpg, 001.jpg ...), those frames at their
own size at 25 fps, looped (real moving pixels). Prints "READY" on stdout once it listens; runs until killed.
"""

import os
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    Gst.init(None)
    port = int(sys.argv[1])
    caps = "video/x-raw,width=320,height=240,framerate=10/1"
    if len(sys.argv) > 2 and os.path.isdir(sys.argv[2]):
        src = (f'multifilesrc location="{sys.argv[2]}/%03d.jpg" loop=true caps="image/jpeg,framerate=25/1" ! jpegdec '
               "! videoconvert ! identity sync=true")  # identity sync: played at 25 fps, like a camera
    elif len(sys.argv) > 2:
        src = f'filesrc location="{sys.argv[2]}" ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=320,height=240 ! imagefreeze is-live=true ! {caps}'
    else:
        src = f"videotestsrc is-live=true pattern=ball ! {caps}"
    enc = "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 ! rtph264pay name=pay0 pt=96 config-interval=1"
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( {src} ! videoconvert ! {enc} )")
    factory.set_shared(True)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    server.get_mount_points().add_factory("/live", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{port}", file=sys.stderr)
        sys.exit(1)
    print("READY", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
