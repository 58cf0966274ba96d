"""facemask-live: real-time face-mask monitoring for live cameras, videos and images.

The public API (see the README's "Use it from Python")::

    from facemask_live import Monitor

    with Monitor("entrance.mp4") as monitor:
        for camera, result in monitor.results():
            for face in result.faces:
                print(camera, result.frame.index, face.track_id, face.shown_label)
"""

__version__ = "0.1.0"

# what a script needs, imported on first use: `import facemask_live` stays light (the CLI's --help, training)
_API = {
    "Monitor": "facemask_live.engine.api",
    "Stats": "facemask_live.engine.api",
    "CameraStats": "facemask_live.engine.api",
    "Settings": "facemask_live.core.config",
    "CameraSettings": "facemask_live.core.config",
    "load_settings": "facemask_live.app.options",
    "FrameResult": "facemask_live.core.results",
    "Face": "facemask_live.core.results",
    "Event": "facemask_live.core.results",
    "Frame": "facemask_live.core.results",
    "FacemaskError": "facemask_live.core.errors",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'facemask_live' has no attribute {name!r}")
