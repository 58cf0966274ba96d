"""facemask-live: real-time face-mask monitoring for live cameras, videos and images."""

__version__ = "0.1.0"
