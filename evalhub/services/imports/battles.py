"""Import Chatbot Arena style battle records as pairwise votes of one campaign.

Each record has ``model_a``, ``model_b`` and ``winner`` (model_a | model_b | tie |
tie (bothbad)); optional ``question_id``, ``judge``, ``tstamp``; and, when present, the texts:
FastChat-like ``conversation_a`` / ``conversation_b`` (lists of {role, content}) or flat
``answer_a`` / ``answer_b`` with ``prompt`` (or ``question``). Model A is shown on the left.

Records between other model pairs are skipped and counted. Each recorded battle gets a
``source_key`` (a hash of the record), so importing the same file again records nothing new.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from evalhub.models import Campaign, DataSource, Vote
from evalhub.models.campaigns import Choice, Side
from evalhub.services.errors import Conflict, InvalidInput
from evalhub.services.imports.battles_write import battles_write
from evalhub.services.imports.rows import (
    Duplicate,
    ImportReport,
    Progress,
    RowReader,
    chunked,
    with_progress,
)
from evalhub.services.imports.table import ImportTable, Row

WINNERS = {
    "model_a": Choice.LEFT,
    "model_b": Choice.RIGHT,
    "tie": Choice.TIE,
    "tie (bothbad)": Choice.BOTH_BAD,
}
KNOWN_COLUMNS = (
    "model_a", "model_b", "winner", "question_id", "judge", "tstamp", "conversation_a",
    "conversation_b", "answer_a", "answer_b", "prompt", "question",
)  # fmt: skip


@dataclass
class BattleImportReport(ImportReport):
    campaign_id: int | None = None
    campaign_created: bool = False
    skipped_other_pairs: int = 0
    models_created: list[str] = field(default_factory=list)
    prompts_created: int = 0
    outputs_created: int = 0
    comparisons_created: int = 0

    def extra(self) -> dict[str, Any]:
        return {
            "recorded": self.created,
            "skipped_other_pairs": self.skipped_other_pairs,
            "campaign_id": self.campaign_id,
            "campaign_created": self.campaign_created,
            "models_created": self.models_created,
            "prompts_created": self.prompts_created,
            "outputs_created": self.outputs_created,
            "comparisons_created": self.comparisons_created,
        }


@dataclass
class Battle:
    """One checked record, before it is tied to stored rows (see battles_write)."""

    row: Row
    question_id: str  # "" when the record has none
    system: str
    instruction: str  # "" when the record carries no prompt text
    answers: dict[str, str | None]  # model name -> the answer text, None when not in the record
    choice: str
    candidate_side: str
    judge: str
    source_key: str


def battles_import(
    *,
    table: ImportTable,
    campaign_name: str,
    baseline_name: str,
    candidate_name: str,
    skip_bad: bool = False,
    source: str = "",
    data_source: DataSource | None = None,
    created_by: AbstractBaseUser | None = None,
    progress: Progress | None = None,
) -> BattleImportReport:
    """Record the battles between ``baseline_name`` and ``candidate_name`` as imported votes.

    Creates what is missing: both model versions (backend imported), prompts (by question id),
    outputs (placeholders when the record has no texts), the campaign (pairwise, then opened)
    and its comparisons. All or nothing unless ``skip_bad``.
    """
    campaign_name, baseline_name, candidate_name = (
        (campaign_name or "").strip(),
        (baseline_name or "").strip(),
        (candidate_name or "").strip(),
    )
    _check_names(campaign_name, baseline_name, candidate_name)
    table.require("model_a", "model_b", "winner")
    existing = (
        Campaign.objects.select_related("baseline", "candidate").filter(name=campaign_name).first()
    )
    if existing is not None:
        _check_campaign(existing, baseline_name, candidate_name)
    report = BattleImportReport(
        kind="battles",
        format=table.format,
        rows=len(table.rows),
        ignored_columns=table.ignored_columns(KNOWN_COLUMNS),
    )
    battles = []
    for row in with_progress(table.rows, progress):
        reader = RowReader(row)
        pair = {
            reader.text("model_a", required=True, max_length=200),
            reader.text("model_b", required=True, max_length=200),
        }
        if reader.ok and pair != {baseline_name, candidate_name}:
            report.skipped_other_pairs += 1
            continue
        battle = _read_battle(reader, candidate_name=candidate_name)
        if reader.ok:
            battles.append(battle)
        report.errors += reader.errors
    _number_repeats(battles)
    fresh = _drop_duplicates(battles, existing, report)
    report.settle_errors(skip_bad=skip_bad)
    if not fresh:  # nothing to record: create no models or campaign for it either
        return report
    try:
        with transaction.atomic():
            battles_write(
                battles=fresh,
                campaign=existing,
                campaign_name=campaign_name,
                baseline_name=baseline_name,
                candidate_name=candidate_name,
                source=source,
                data_source=data_source,
                created_by=created_by,
                report=report,
                progress=progress,
            )
    except IntegrityError as exc:
        raise Conflict(
            "Rows were stored by someone else during this import; run it again (battles "
            "recorded meanwhile will then be reported as duplicates)."
        ) from exc
    report.created = len(fresh)
    return report


def _check_names(campaign_name: str, baseline_name: str, candidate_name: str) -> None:
    for field_name, value in (
        ("campaign", campaign_name),
        ("baseline", baseline_name),
        ("candidate", candidate_name),
    ):
        if not value:
            raise InvalidInput(f"A {field_name} name is required.", details={"field": field_name})
        if len(value) > 200:
            raise InvalidInput(
                f"The {field_name} name is too long (200 characters at most).",
                details={"field": field_name},
            )
    if baseline_name == candidate_name:
        raise InvalidInput(
            "Baseline and candidate must be different models.", details={"field": "candidate"}
        )


def _check_campaign(campaign: Campaign, baseline_name: str, candidate_name: str) -> None:
    if campaign.kind != Campaign.Kind.PAIRWISE:
        raise Conflict(
            f"Campaign {campaign.name!r} is a {campaign.kind} campaign; battles need a pairwise one.",
            details={"field": "campaign"},
        )
    if (campaign.baseline.name, campaign.candidate.name) != (baseline_name, candidate_name):
        raise Conflict(
            f"Campaign {campaign.name!r} compares candidate {campaign.candidate.name!r} with "
            f"baseline {campaign.baseline.name!r}, not {candidate_name!r} with {baseline_name!r}.",
            details={"field": "campaign"},
        )


def _read_battle(reader: RowReader, *, candidate_name: str) -> Battle:
    model_a = reader.text("model_a")
    model_b = reader.text("model_b")
    winner = reader.text("winner", required=True).lower()
    choice = WINNERS.get(winner, "")
    if winner and not choice:
        reader.fail("winner", f"must be one of {', '.join(WINNERS)}, not {winner!r}")
    reader.number("tstamp", minimum=None)  # checked only: it is part of the source key
    system, first_user, conversation_a = _conversation(reader, "conversation_a")
    _, _, conversation_b = _conversation(reader, "conversation_b")
    question_id = reader.text("question_id", max_length=200)
    instruction = reader.text("prompt", "question") or first_user
    if not question_id and not instruction:
        reader.fail(
            "question_id", "is needed when the record has no prompt text (prompt or conversation_a)"
        )
    return Battle(
        row=reader.row,
        question_id=question_id,
        system=system,
        instruction=instruction,
        answers={
            model_a: reader.text("answer_a", strip=False) or conversation_a,
            model_b: reader.text("answer_b", strip=False) or conversation_b,
        },
        choice=choice,
        candidate_side=Side.LEFT if model_a == candidate_name else Side.RIGHT,
        judge=reader.text("judge", max_length=200),
        source_key=_source_key(
            model_a=model_a,
            model_b=model_b,
            winner=winner,
            question_id=question_id,
            judge=reader.text("judge", max_length=200),
            tstamp=reader.row.values.get("tstamp"),
            instruction=instruction,
            answers=(
                reader.text("answer_a", strip=False) or conversation_a or "",
                reader.text("answer_b", strip=False) or conversation_b or "",
            ),
        ),
    )


def _conversation(reader: RowReader, name: str) -> tuple[str, str, str | None]:
    """(system, first user message, the answer) from a list of {role, content} messages.

    The answer is the assistant's reply; for a longer conversation it is every message after
    the first user message, each headed by its role, so nothing that was judged is lost.
    """
    turns = reader.json_value(name, list)
    if not turns:
        return "", "", None
    if not all(
        isinstance(turn, dict)
        and isinstance(turn.get("role"), str)
        and isinstance(turn.get("content"), str)
        for turn in turns
    ):
        reader.fail(name, "must be a list of {role, content} messages with text content")
        return "", "", None
    messages = [(turn["role"].strip().lower(), turn["content"]) for turn in turns]
    first = next((i for i, (role, _) in enumerate(messages) if role == "user"), None)
    if first is None:
        reader.fail(name, "has no user message")
        return "", "", None
    system = "\n\n".join(content for role, content in messages[:first] if role == "system")
    rest = messages[first + 1 :]
    if not rest:
        answer = None
    elif len(rest) == 1 and rest[0][0] == "assistant":
        answer = rest[0][1]
    else:
        answer = "\n\n".join(f"**{role}:** {content}" for role, content in rest)
    return system.strip(), messages[first][1].strip(), answer


def _normal_tstamp(value: Any) -> str:
    """1700000000, "1700000000" and 1.7e9 are one time stamp (CSV gives strings, JSON numbers)."""
    if value is None or value == "":
        return ""
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return str(value).strip()


def _source_key(
    *,
    model_a: str,
    model_b: str,
    winner: str,
    question_id: str,
    judge: str,
    tstamp: Any,
    instruction: str,
    answers: tuple[str, str],
) -> str:
    """The identity of a battle record from its normalized fields, the same whatever the file
    format. Identical records in one file are distinct votes: ``_number_repeats`` adds ``:k``."""
    canonical = json.dumps(
        [
            model_a,
            model_b,
            winner,
            question_id,
            judge,
            _normal_tstamp(tstamp),
            instruction,
            *answers,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return "battle:" + hashlib.sha256(canonical.encode()).hexdigest()[:48]


def _number_repeats(battles: list[Battle]) -> None:
    """The k-th identical record of a file gets key ``<hash>:k``: three identical rows are three
    votes, and importing the same file again still records nothing new."""
    seen: Counter[str] = Counter()
    for battle in battles:
        seen[battle.source_key] += 1
        battle.source_key = f"{battle.source_key}:{seen[battle.source_key]}"


def _drop_duplicates(
    battles: list[Battle], campaign: Campaign | None, report: BattleImportReport
) -> list[Battle]:
    stored: set[str] = set()
    if campaign is not None:
        for batch in chunked(sorted({battle.source_key for battle in battles})):
            stored.update(
                Vote.objects.filter(campaign=campaign, source_key__in=batch).values_list(
                    "source_key", flat=True
                )
            )
    seen: dict[str, Row] = {}
    fresh = []
    for battle in battles:
        row = battle.row
        if battle.source_key in stored:
            reason = "this battle is already recorded in the campaign"
        elif battle.source_key in seen:
            reason = f"the same battle record as {seen[battle.source_key].where}"
        else:
            seen[battle.source_key] = row
            fresh.append(battle)
            continue
        report.duplicates.append(Duplicate(row.line, row.where, reason))
    return fresh
