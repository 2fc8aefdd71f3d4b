"""Reads for training pages, API and CLI."""
