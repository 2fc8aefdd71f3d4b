"""The sampling parameters of a generation run (see :mod:`evalhub.services.generation`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from evalhub.generation.base import SamplingParams
from evalhub.models import Campaign, ModelVersion
from evalhub.services.errors import InvalidInput

SAMPLING_CHOICES = ("shared", "own")
OVERRIDABLE = ("temperature", "top_p", "max_tokens", "seed")
SIDES = ("baseline", "candidate")


def generation_params(
    *,
    campaign: Campaign,
    sampling: str = "shared",
    params_override: dict[str, Any] | None = None,
    sample_index: int = 0,
) -> dict[str, dict[str, Any]]:
    """side -> the sampling parameters sent (and stored with each output) for this run."""
    if sampling not in SAMPLING_CHOICES:
        raise InvalidInput(f"sampling must be one of {SAMPLING_CHOICES}, got {sampling!r}.")
    if sample_index < 0:
        raise InvalidInput("sample_index must be >= 0.")
    override = dict(params_override or {})
    unknown = sorted(set(override) - set(OVERRIDABLE))
    if unknown:
        raise InvalidInput(f"Unknown sampling parameters {unknown}; use {list(OVERRIDABLE)}.")
    shared = campaign.baseline.generation_defaults
    result = {}
    for side in SIDES:
        params = dict(
            shared if sampling == "shared" else getattr(campaign, side).generation_defaults
        )
        params.update({k: v for k, v in override.items() if v is not None})
        if params["seed"] is not None:
            params["seed"] = int(params["seed"]) + sample_index
        try:
            sampling_params(params)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"Invalid sampling parameters: {exc}") from exc
        result[side] = params
    return result


def sampling_params(params: dict[str, Any]) -> SamplingParams:
    return SamplingParams(
        temperature=float(params["temperature"]),
        top_p=float(params["top_p"]),
        max_tokens=int(params["max_tokens"]),
        seed=None if params["seed"] is None else int(params["seed"]),
    )


def refuse_imported(campaign: Campaign, missing: Iterable[tuple[dict[str, Any], str]]) -> None:
    sides = {side for _, side in missing}
    for side in SIDES:
        version = getattr(campaign, side)
        if side in sides and version.backend == ModelVersion.Backend.IMPORTED:
            count = sum(1 for _, s in missing if s == side)
            raise InvalidInput(
                f"The {side} {version.name!r} is an imported model and {count} prompt(s) lack its "
                "outputs: outputs of imported models must be imported "
                "(python manage.py import_outputs), not generated.",
                code="imported_model",
            )
