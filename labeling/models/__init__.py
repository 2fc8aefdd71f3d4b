"""Models of the labeling app."""
