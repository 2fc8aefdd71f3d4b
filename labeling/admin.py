"""Admin pages of the labeling app."""
