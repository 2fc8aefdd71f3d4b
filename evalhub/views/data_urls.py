"""/data/ pages: the source registry, per-source figures, the label taxonomy (pm and admin)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
