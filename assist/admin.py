"""Admin pages of the assist app."""
