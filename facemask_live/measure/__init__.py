"""Measuring the engine: speed benchmark, accuracy on annotated scenes, event truth of clips."""
