"""Stage 2, locate and judge: face detectors, the mask classifier, the quality gate, where the model files are."""
