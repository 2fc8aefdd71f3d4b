"""Writes of the labeling app (tasks, serving, annotations, reviews, spot-checks, effects)."""
