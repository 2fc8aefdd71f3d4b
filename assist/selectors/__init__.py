"""Reads of the assist app."""
