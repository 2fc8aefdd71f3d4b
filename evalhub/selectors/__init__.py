"""Reads for pages and APIs. Rater- and agent-facing reads strip every hint of a model's identity."""
