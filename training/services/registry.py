"""Closing the loop: register a finished run's adapter and open its follow-up evaluation.

``training_run_register`` checks the run folder (``result.json`` present, ``adapter/`` whose files
match the fingerprints training.ml recorded after reloading it), then in one transaction registers
the adapter as a ``ModelVersion`` (parent = the base, backend local, method = the run's) and, for
DPO and SFT, creates the follow-up campaign: the new version (candidate) against the current best
(baseline) on the dataset's test prompts, with generation queued. A reward model scores answers
and writes none, so it gets no campaign. Registering twice does nothing the second time.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from django.db import transaction

from evalhub.models import Campaign, ModelVersion, Prompt
from evalhub.services.campaigns import campaign_create
from evalhub.services.errors import InvalidInput
from training.models import DatasetItem, TrainingRun
from training.selectors.lineage import model_version_current_best

FOLLOW_UP_VOTES_PER_PROMPT = 3


class AdapterNotReady(Exception):
    """The run folder does not hold a complete, verified adapter."""


def _verified_result(run: TrainingRun) -> dict[str, Any]:
    out = Path(run.output_dir)
    result_path = out / "result.json"
    if not result_path.is_file():
        raise AdapterNotReady(f"{result_path} is missing: training did not finish.")
    result: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
    adapter = Path(result["adapter"]["path"])
    expected = result["adapter"]["files"]
    if not (adapter / "adapter_config.json").is_file():
        raise AdapterNotReady(f"{adapter} holds no adapter_config.json.")
    for name, digest in expected.items():
        path = adapter / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise AdapterNotReady(f"{path} is missing or differs from what training verified.")
    return result


def training_run_register(*, run: TrainingRun) -> TrainingRun:
    result = _verified_result(run)
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.produced_model_id is not None:
            return run
        start = run.start_model
        model = ModelVersion.objects.create(
            name=_free_model_name(run.name),
            parent=run.base_model,
            backend=ModelVersion.Backend.LOCAL,
            path=result["adapter"]["path"],
            method=run.method,
            temperature=start.temperature,
            top_p=start.top_p,
            max_tokens=start.max_tokens,
            seed=start.seed,
            description=(
                f"{run.get_method_display()} adapter from training run {run.name!r} "
                f"(dataset {run.dataset.name}, started from {start.name})."
            ),
        )
        model.served_name = model.name
        model.save(update_fields=["served_name"])
        run.produced_model = model
        run.result = result
        follow_up: dict[str, Any] = {}
        if run.method == TrainingRun.Method.REWARD:
            follow_up["skipped"] = "a reward model scores answers; it writes none to compare"
        else:
            follow_up = _follow_up_campaign(run, model)
        run.result = {**result, "follow_up": follow_up}
        run.save(update_fields=["produced_model", "result", "follow_up_campaign"])
    return run


def _free_model_name(stem: str) -> str:
    name, n = stem, 1
    while ModelVersion.objects.filter(name=name).exists():
        n += 1
        name = f"{stem}-{n}"
    return name


def _follow_up_campaign(run: TrainingRun, model: ModelVersion) -> dict[str, Any]:
    baseline = run.compare_against or model_version_current_best(base=run.base_model, exclude=model)
    test_prompts = Prompt.objects.filter(
        pk__in=DatasetItem.objects.filter(dataset=run.dataset, split="test").values("prompt_id")
    ).order_by("id")
    if not test_prompts.exists():
        return {"skipped": f"dataset {run.dataset.name} has no test prompts"}
    name, n = f"{model.name} vs {baseline.name}", 1
    while Campaign.objects.filter(name=name).exists():
        n += 1
        name = f"{model.name} vs {baseline.name} ({n})"
    campaign = campaign_create(
        name=name,
        baseline=baseline,
        candidate=model,
        prompts=test_prompts,
        votes_per_prompt=FOLLOW_UP_VOTES_PER_PROMPT,
        guidelines=(f"Follow-up of training run {run.name}: which answer helps the customer more?"),
        created_by=run.created_by,
    )
    run.follow_up_campaign = campaign
    summary: dict[str, Any] = {
        "campaign_id": campaign.pk,
        "campaign": campaign.name,
        "baseline": baseline.name,
        "prompts": test_prompts.count(),
    }
    summary.update(_start_generation(campaign, run))
    return summary


def _start_generation(campaign: Campaign, run: TrainingRun) -> dict[str, Any]:
    """Queue generation of the campaign's outputs (evalhub's generation job)."""
    from evalhub.services.generation import campaign_generate_enqueue

    try:
        job = campaign_generate_enqueue(campaign=campaign, created_by=run.created_by)
    except InvalidInput as exc:  # e.g. an imported baseline without outputs on these prompts
        return {"generation": f"not started: {exc}"}
    return {"generation_job_id": job.pk}
