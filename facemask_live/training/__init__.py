"""Training of the face-mask classifier (TensorFlow is imported only inside this package, and only lazily)."""
