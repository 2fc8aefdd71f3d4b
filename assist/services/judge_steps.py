"""Asking the judge: one step of pair or quality items, and which items are still to ask.

Pairs: a stable coin per (run, comparison) puts the candidate in slot A or B for the first order;
the second order swaps the answers. Quality: one request per output, a 1-5 score.
"""

from __future__ import annotations

import hashlib
from typing import Any

from assist.judging import (
    PAIR_FIELDS,
    QUALITY_FIELDS,
    combine_orders,
    parse_score,
    parse_verdict,
    render,
    slot_to_side,
)
from assist.models import JudgeRun, JudgeVerdict
from assist.services.backend import Caller, first_text
from evalhub.generation.base import SamplingParams
from evalhub.models import Comparison, ModelVersion, Output

VERDICT_MAX_TOKENS = 64


def _slot_of_candidate(run: JudgeRun, comparison_id: int) -> str:
    """The candidate's slot in the first order: a stable coin per (run, comparison)."""
    digest = hashlib.sha256(f"{run.pk}:{comparison_id}".encode()).digest()
    return "A" if digest[0] % 2 == 0 else "B"


def prompt_text(prompt: Any) -> str:
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in prompt.as_messages())


def judge_params(judge: ModelVersion) -> SamplingParams:
    seed = judge.generation_defaults.get("seed")
    return SamplingParams(temperature=0.0, max_tokens=VERDICT_MAX_TOKENS, seed=seed)


def pair_batch(run: JudgeRun, caller: Caller, comparisons: list[Comparison]) -> list[JudgeVerdict]:
    asks, plan = [], {}
    for comparison in comparisons:
        slot = _slot_of_candidate(run, comparison.pk)
        cand, base = comparison.candidate_output.text, comparison.baseline_output.text
        first = (cand, base) if slot == "A" else (base, cand)
        orders = [("ab", first)] + ([("ba", first[::-1])] if run.both_orders else [])
        prompt = prompt_text(comparison.prompt)
        for order, (a, b) in orders:
            text = render(
                run.template, PAIR_FIELDS, {"prompt": prompt, "answer_a": a, "answer_b": b}
            )
            asks.append((f"c{comparison.pk}:{order}", text))
        plan[comparison.pk] = slot
    results = caller.ask(asks, judge_params(run.judge))
    verdicts = []
    for comparison in comparisons:
        slot = plan[comparison.pk]
        ab, ba = results.get(f"c{comparison.pk}:ab"), results.get(f"c{comparison.pk}:ba")
        raw_ab, raw_ba = first_text(ab), first_text(ba)
        verdict_ab = parse_verdict(raw_ab)
        verdict_ba = parse_verdict(raw_ba) if run.both_orders else ""
        other = "B" if slot == "A" else "A"
        first = slot_to_side(verdict_ab, slot)
        second = slot_to_side(verdict_ba, other) if run.both_orders else None
        errors = [r.error for r in (ab, ba) if r is not None and r.error]
        verdicts.append(
            JudgeVerdict(
                run=run,
                comparison=comparison,
                candidate_slot=slot,
                verdict_ab=verdict_ab,
                verdict_ba=verdict_ba,
                outcome=combine_orders(first, second),
                raw_ab=raw_ab[:5000],
                raw_ba=raw_ba[:5000],
                latency_ms_ab=ab.latency_ms if ab is not None else None,
                latency_ms_ba=ba.latency_ms if ba is not None and run.both_orders else None,
                error="; ".join(errors)[:2000],
            )
        )
    return verdicts


def quality_batch(run: JudgeRun, caller: Caller, outputs: list[Output]) -> list[JudgeVerdict]:
    asks = [
        (
            f"o{output.pk}",
            render(
                run.template,
                QUALITY_FIELDS,
                {"prompt": prompt_text(output.prompt), "answer": output.text},
            ),
        )
        for output in outputs
    ]
    results = caller.ask(asks, judge_params(run.judge))
    verdicts = []
    for output in outputs:
        result = results.get(f"o{output.pk}")
        raw = first_text(result)
        verdicts.append(
            JudgeVerdict(
                run=run,
                output=output,
                score=parse_score(raw),
                raw_ab=raw[:5000],
                latency_ms_ab=result.latency_ms if result is not None else None,
                error=(result.error or "")[:2000] if result is not None else "no answer",
            )
        )
    return verdicts


def pair_work(run: JudgeRun) -> tuple[list[Comparison], int]:
    comparisons = Comparison.objects.filter(campaign=run.campaign).order_by("id")
    if run.limit:
        comparisons = comparisons[: run.limit]
    ids = list(comparisons.values_list("pk", flat=True))
    done = set(run.verdicts.filter(comparison_id__in=ids).values_list("comparison_id", flat=True))
    todo = list(
        Comparison.objects.filter(pk__in=[i for i in ids if i not in done])
        .select_related("prompt", "baseline_output", "candidate_output")
        .order_by("id")
    )
    return todo, len(ids)


def quality_work(run: JudgeRun) -> tuple[list[Output], int]:
    pairs = Comparison.objects.filter(campaign=run.campaign).order_by("id")
    ids: list[int] = []
    for base, cand in pairs.values_list("baseline_output_id", "candidate_output_id"):
        ids += [i for i in (base, cand) if i not in ids]
    if run.limit:
        ids = ids[: run.limit]
    done = set(run.verdicts.filter(output_id__in=ids).values_list("output_id", flat=True))
    todo = list(
        Output.objects.filter(pk__in=[i for i in ids if i not in done])
        .select_related("prompt")
        .order_by("id")
    )
    return todo, len(ids)


def write_pairs(run: JudgeRun, caller: Caller, chunk: list[Any]) -> None:
    JudgeVerdict.objects.bulk_create(pair_batch(run, caller, chunk))


def write_quality(run: JudgeRun, caller: Caller, chunk: list[Any]) -> None:
    JudgeVerdict.objects.bulk_create(quality_batch(run, caller, chunk))
