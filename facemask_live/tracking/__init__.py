"""Stage 3, people across frames: the tracker with its voted labels and re-identification."""
