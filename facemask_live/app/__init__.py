"""The front ends built on the engine: the command line and the PyQt5 windows."""
