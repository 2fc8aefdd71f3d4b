"""Where pairs come from: one function per signal, each returning candidate rows and counts.

- pairwise votes (evalhub ``Vote`` kind pairwise, current ones only): per comparison the
  plurality outcome wins; a candidate or baseline plurality gives one pair (the winner chosen)
  with strength = the votes for it and agreement = strength / all votes on the comparison; a
  tie or both-bad plurality, or a split decision, gives none.
- workbench turns (feedback): the picked suggestion against each suggestion from the other
  model; an edited reply (the agent's final text) against the picked original, plus an SFT
  example; a reply the agent wrote because none was usable against each of the four
  suggestions, plus an SFT example.
- n-way choices (feedback): the picked option against each option not picked.
- thumbs (feedback, current thumbs): per prompt, each thumbed-up answer against each thumbed-down
  answer; an answer whose prompt has no opposite thumb becomes a KTO row.

Workbench and choice picks are also evalhub votes (kind workbench / choice); those votes are
not read here, the feedback records are (they know which suggestion was picked).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from evalhub.models import Comparison, Output, Prompt, Vote
from evalhub.models.prompts import normalize_text
from evalhub.selectors.reports.counts import quality_filtered
from feedback.models import ChoiceOption, ChoiceTask, Thumb, WorkbenchSuggestion, WorkbenchTurn

OUTCOMES = ("candidate", "baseline", "tie", "both_bad")


@dataclass(slots=True)
class PairRow:
    campaign_id: int | None
    prompt_id: int
    prompt_hash: str
    chosen_text: str
    rejected_text: str
    chosen_output_id: int | None
    rejected_output_id: int | None
    source_key: str
    strength: int = 1
    n_signals: int = 1
    chosen_norm: str = ""
    rejected_norm: str = ""


@dataclass(slots=True)
class ExampleRow:
    kind: str  # sft | kto
    campaign_id: int | None
    prompt_id: int
    prompt_hash: str
    completion: str
    output_id: int | None
    label: bool | None
    source_key: str
    strength: int = 1


@dataclass
class SourceRows:
    pairs: list[PairRow] = field(default_factory=list)
    examples: list[ExampleRow] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def add_pair(self, row: PairRow) -> None:
        row.chosen_norm = normalize_text(row.chosen_text)
        row.rejected_norm = normalize_text(row.rejected_text)
        if row.chosen_norm == row.rejected_norm:
            self.counts["same_text"] += 1  # nothing to learn from identical answers
            return
        self.pairs.append(row)


def _raw_rows(queryset: QuerySet[Any], chunk: int = 20_000) -> Iterator[tuple[Any, ...]]:
    """The queryset's rows as the database returns them: the ORM's SQL, without its per-value
    converters (half the time of reading a million votes went to them). Only for queries
    whose columns are plain integers and text."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(chunk):
            yield from batch


def pairwise_rows(campaign_ids: Collection[int], *, include_simulated: bool) -> SourceRows:
    rows = SourceRows()
    votes = Vote.objects.filter(
        kind=Vote.Kind.PAIRWISE, comparison__isnull=False, superseded_by__isnull=True
    )
    if campaign_ids:
        votes = votes.filter(campaign_id__in=campaign_ids)
    if not include_simulated:
        votes = votes.filter(is_simulated=False)
    # Votes on gold items and attention checks are rater tests (an attention check pairs an
    # answer with one to another prompt: junk for training), and excluded raters' votes are out
    # of the reports: neither becomes a pair.
    votes = quality_filtered(votes, sorted(campaign_ids) if campaign_ids else None)
    tallies = (
        votes.values("comparison_id")
        .annotate(**{o: Count("id", filter=Q(outcome=o)) for o in OUTCOMES})
        .values_list("comparison_id", *OUTCOMES)
        .order_by()
    )
    winners: dict[int, tuple[str, int, int]] = {}
    for comparison_id, *counts in _raw_rows(tallies):
        total = sum(counts)
        rows.counts["votes"] += total
        rows.counts["comparisons"] += 1
        top = max(counts)
        leaders = [o for o, n in zip(OUTCOMES, counts, strict=True) if n == top]
        if len(leaders) > 1:
            rows.counts["no_pair_split_decision"] += 1
        elif leaders[0] in ("tie", "both_bad"):
            rows.counts[f"no_pair_{leaders[0]}"] += 1
        else:
            winners[comparison_id] = (leaders[0], top, total)
    # One pass over the scope's comparisons (a join per vote, or an IN list of winners, would be
    # slower at a million votes than reading the few hundred thousand comparisons once).
    comparisons = (
        Comparison.objects.filter(campaign_id__in=campaign_ids)
        if campaign_ids
        else (Comparison.objects.all())
    )
    fields = (
        "pk", "campaign_id", "prompt_id", "prompt__content_hash", "baseline_output_id",
        "baseline_output__text", "candidate_output_id", "candidate_output__text",
    )  # fmt: skip
    for pk, campaign_id, prompt_id, prompt_hash, b_id, b_text, c_id, c_text in _raw_rows(
        comparisons.order_by().values_list(*fields)
    ):
        if pk not in winners:
            continue
        winner, strength, total = winners[pk]
        chosen, rejected = ((c_id, c_text), (b_id, b_text))
        if winner == "baseline":
            chosen, rejected = rejected, chosen
        rows.add_pair(
            PairRow(
                campaign_id,
                prompt_id,
                prompt_hash,
                chosen[1],
                rejected[1],
                chosen[0],
                rejected[0],
                f"comparison:{pk}",
                strength,
                total,
            )
        )
    return rows


def workbench_rows(campaign_ids: Collection[int]) -> tuple[SourceRows, SourceRows]:
    """(pick pairs, edit pairs + SFT examples)."""
    rows, edits = SourceRows(), SourceRows()
    turns = WorkbenchTurn.objects.filter(status=WorkbenchTurn.Status.SENT)
    if campaign_ids:
        turns = turns.filter(conversation__campaign_id__in=campaign_ids)
    turn_info = {
        pk: info
        for pk, *info in turns.values_list(
            "pk", "conversation__campaign_id", "conversation__prompt_id",
            "conversation__prompt__content_hash", "picked_slot", "final_text",
        ).iterator(chunk_size=5000)
    }  # fmt: skip
    suggestions: dict[int, list[tuple[int, str, int, str]]] = defaultdict(list)
    for turn_id, slot, source, output_id, text in (
        WorkbenchSuggestion.objects.filter(turn__in=turns)
        .values_list("turn_id", "slot", "source", "output_id", "output__text")
        .iterator(chunk_size=5000)
    ):
        suggestions[turn_id].append((slot, source, output_id, text))
    for pk, (campaign_id, prompt_id, prompt_hash, picked_slot, final_text) in turn_info.items():
        shown = sorted(suggestions.get(pk, []))
        rows.counts["turns"] += 1
        picked = next((s for s in shown if s[0] == picked_slot), None)
        key = f"workbench-turn:{pk}"
        if picked is not None:
            for other in shown:
                if other[1] != picked[1]:
                    rows.add_pair(
                        PairRow(
                            campaign_id,
                            prompt_id,
                            prompt_hash,
                            picked[3],
                            other[3],
                            picked[2],
                            other[2],
                            f"{key}:{picked[0]}>{other[0]}",
                        )
                    )
            against = [picked]
        else:
            against = shown  # the agent wrote their own reply: it beats all four
            rows.counts["none_usable"] += 1
        text = (final_text or "").strip()
        if not text or (picked is not None and normalize_text(text) == normalize_text(picked[3])):
            continue
        edits.counts["edited" if picked is not None else "own_reply"] += 1
        for original in against:
            edits.add_pair(
                PairRow(
                    campaign_id,
                    prompt_id,
                    prompt_hash,
                    text,
                    original[3],
                    None,
                    original[2],
                    f"{key}:edit>{original[0]}",
                )
            )
        edits.examples.append(
            ExampleRow("sft", campaign_id, prompt_id, prompt_hash, text, None, None, f"{key}:final")
        )
    return rows, edits


def choice_rows(campaign_ids: Collection[int]) -> SourceRows:
    rows = SourceRows()
    tasks = ChoiceTask.objects.filter(status=ChoiceTask.Status.PICKED, picked__isnull=False)
    if campaign_ids:
        tasks = tasks.filter(campaign_id__in=campaign_ids)
    info = {
        pk: rest
        for pk, *rest in tasks.values_list(
            "pk", "campaign_id", "prompt_id", "prompt__content_hash", "picked_id"
        ).iterator(chunk_size=5000)
    }
    options: dict[int, list[tuple[int, int, int, str]]] = defaultdict(list)
    for task_id, option_id, position, output_id, text in (
        ChoiceOption.objects.filter(task__in=tasks)
        .values_list("task_id", "pk", "position", "output_id", "output__text")
        .iterator(chunk_size=5000)
    ):
        options[task_id].append((position, option_id, output_id, text))
    for pk, (campaign_id, prompt_id, prompt_hash, picked_id) in info.items():
        rows.counts["choices"] += 1
        shown = sorted(options.get(pk, []))
        picked = next((o for o in shown if o[1] == picked_id), None)
        if picked is None:
            continue
        for other in shown:
            if other[1] != picked_id:
                rows.add_pair(
                    PairRow(
                        campaign_id,
                        prompt_id,
                        prompt_hash,
                        picked[3],
                        other[3],
                        picked[2],
                        other[2],
                        f"choice-task:{pk}:{picked[0]}>{other[0]}",
                    )
                )
    return rows


def thumbs_rows(campaign_ids: Collection[int]) -> SourceRows:
    """Up vs down on the same prompt (within one campaign, or among thumbs in none)."""
    rows = SourceRows()
    thumbs = Thumb.objects.filter(is_current=True)
    if campaign_ids:
        thumbs = thumbs.filter(campaign_id__in=campaign_ids)
    per_output = thumbs.values(
        "campaign_id", "output_id", "output__prompt_id", "output__prompt__content_hash",
        "output__text",
    ).annotate(
        ups=Count("id", filter=Q(value="up")), downs=Count("id", filter=Q(value="down"))
    )  # fmt: skip
    by_prompt: dict[tuple[int | None, int], dict[str, list[dict]]] = defaultdict(
        lambda: {"up": [], "down": []}
    )
    for row in per_output.order_by().iterator(chunk_size=5000):
        rows.counts["thumbs"] += row["ups"] + row["downs"]
        if row["ups"] == row["downs"]:
            rows.counts["answers_undecided"] += 1
            continue
        side = "up" if row["ups"] > row["downs"] else "down"
        by_prompt[(row["campaign_id"], row["output__prompt_id"])][side].append(row)
    for (campaign_id, prompt_id), sides in sorted(by_prompt.items(), key=lambda kv: str(kv[0])):
        for up in sides["up"]:
            for down in sides["down"]:
                rows.add_pair(
                    PairRow(
                        campaign_id,
                        prompt_id,
                        up["output__prompt__content_hash"],
                        up["output__text"],
                        down["output__text"],
                        up["output_id"],
                        down["output_id"],
                        f"thumbs:{up['output_id']}>{down['output_id']}",
                        up["ups"] + down["downs"],
                        up["ups"] + up["downs"] + down["ups"] + down["downs"],
                    )
                )
        if sides["up"] and sides["down"]:
            continue
        for side, answers in sides.items():
            for answer in answers:
                rows.examples.append(
                    ExampleRow(
                        "kto",
                        campaign_id,
                        prompt_id,
                        answer["output__prompt__content_hash"],
                        answer["output__text"],
                        answer["output_id"],
                        side == "up",
                        f"thumbs:{answer['output_id']}",
                        abs(answer["ups"] - answer["downs"]),
                    )
                )
    return rows


def stamp_data_source(model: Any, scope: Q) -> int:
    """Point the rows in ``scope`` that have no source to their prompt's data source, else (a
    prompt with none) to their chosen answer's: imported battle logs give their outputs and votes
    a source even when the prompts were already there without one.

    Two UPDATEs after each build step, run inside its transaction (the raw inserts of
    ``pair_store`` stay as they are, so the builder's fast path is untouched). A row keeps the
    source it got first: re-pointing a prompt later does not move built pairs. A rater's vote has
    no source of its own, so votes are not consulted.
    """
    unstamped = model.objects.filter(scope, data_source__isnull=True).order_by()
    by_prompt = Prompt.objects.filter(pk=OuterRef("prompt_id")).values("data_source_id")[:1]
    stamped = unstamped.filter(prompt__data_source__isnull=False).update(
        data_source_id=Subquery(by_prompt)
    )
    fields = {field.name for field in model._meta.fields}
    answer = "chosen_output" if "chosen_output" in fields else "output"  # pair | example
    by_answer = Output.objects.filter(pk=OuterRef(f"{answer}_id")).values("data_source_id")[:1]
    stamped += unstamped.filter(**{f"{answer}__data_source__isnull": False}).update(
        data_source_id=Subquery(by_answer)
    )
    return int(stamped)
