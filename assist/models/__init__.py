"""Models of the assist app."""
