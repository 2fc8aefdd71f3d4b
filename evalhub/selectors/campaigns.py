"""Reads of campaigns for managers (CLI, API, dashboard)."""

from __future__ import annotations

from evalhub.models import Campaign, ModelVersion
from evalhub.services.errors import NotFound


def campaign_get_by_ref(ref: str | int) -> Campaign:
    """A campaign by id or by exact name (the CLI accepts either)."""
    text = str(ref).strip()
    campaign = Campaign.objects.filter(name=text).select_related("baseline", "candidate").first()
    if campaign is None and (text.isascii() and text.isdigit()):
        campaign = (
            Campaign.objects.filter(pk=int(text)).select_related("baseline", "candidate").first()
        )
    if campaign is None:
        raise NotFound(f"No campaign with id or name {text!r}.")
    return campaign


def model_version_get_by_name(name: str) -> ModelVersion:
    model = ModelVersion.objects.filter(name=name).first()
    if model is None:
        known = ", ".join(ModelVersion.objects.order_by("name").values_list("name", flat=True)[:10])
        raise NotFound(f"No model version named {name!r}. Known: {known or 'none yet'}.")
    return model
