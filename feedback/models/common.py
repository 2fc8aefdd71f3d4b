"""Small pieces shared by the feedback models."""

from __future__ import annotations

import secrets

from django.db import models


def new_token() -> str:
    """An opaque, unguessable public handle (never a sequential id)."""
    return secrets.token_urlsafe(18)


def new_option_key() -> str:
    return secrets.token_urlsafe(9)


class Source(models.TextChoices):
    """Which model wrote a shown text. Kept on the server; never sent to a rater or an agent."""

    BASELINE = "baseline"
    CANDIDATE = "candidate"
    OTHER = "other"
