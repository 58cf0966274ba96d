"""The engine that drives the stages for one camera or many, and the one place that builds it from Settings."""
