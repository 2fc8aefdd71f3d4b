"""The write half of the battle import: tie checked battles to stored rows, creating what is
missing in dependency order (models, campaign, prompts, outputs, comparisons, votes), each kind
in bulk. Runs inside the caller's transaction.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F

from evalhub.models import Campaign, Comparison, DataSource, ModelVersion, Output, Prompt, Vote
from evalhub.models.prompts import params_hash, prompt_content_hash
from evalhub.services.campaigns import campaign_create, campaign_open
from evalhub.services.imports.rows import Progress, bulk_create_reporting, chunked
from evalhub.services.rating import outcome_for

if TYPE_CHECKING:
    from evalhub.services.imports.battles import Battle, BattleImportReport

PLACEHOLDER_ANSWER = "(not imported)"
CHANNEL = "import"

OutputRef = int | Output  # a stored output's id, or an output this import will create


def placeholder_instruction(question_id: str) -> str:
    return f"(imported question {question_id})"


def battles_write(
    *,
    battles: list[Battle],
    campaign: Campaign | None,
    campaign_name: str,
    baseline_name: str,
    candidate_name: str,
    source: str,
    created_by: AbstractBaseUser | None,
    report: BattleImportReport,
    progress: Progress | None = None,
    data_source: DataSource | None = None,
) -> None:
    """Write the battles; new prompts, outputs and the votes point to ``data_source``."""
    models = _models_ensure(names=[baseline_name, candidate_name], report=report)
    if campaign is None:
        campaign = campaign_create(
            name=campaign_name,
            baseline=models[baseline_name],
            candidate=models[candidate_name],
            kind=Campaign.Kind.PAIRWISE,
            created_by=created_by,
        )
        report.campaign_created = True
    report.campaign_id = campaign.pk
    prompt_ids = _prompts_resolve(
        battles=battles, source=source, data_source=data_source, report=report, progress=progress
    )
    planner = _OutputPlanner(
        campaign=campaign,
        prompt_ids=prompt_ids,
        baseline=models[baseline_name],
        candidate=models[candidate_name],
        campaign_is_new=report.campaign_created,
        progress=progress,
    )
    pairs = [
        planner.pair(battle, prompt_id)
        for battle, prompt_id in zip(battles, prompt_ids, strict=True)
    ]
    for output in planner.new_outputs:
        output.data_source = data_source
    report.outputs_created = planner.create_outputs()
    comparison_ids = planner.comparison_ids(prompt_ids=prompt_ids, pairs=pairs)
    report.comparisons_created = planner.comparisons_created
    votes = [
        Vote(
            campaign=campaign,
            comparison_id=comparison_id,
            prompt_id=prompt_id,
            rater=None,
            judge=battle.judge,
            kind=Vote.Kind.PAIRWISE,
            channel=CHANNEL,
            choice=battle.choice,
            candidate_side=battle.candidate_side,
            outcome=outcome_for(choice=battle.choice, candidate_side=battle.candidate_side),
            source_key=battle.source_key,
            is_simulated=False,
            data_source=data_source,
        )
        for battle, prompt_id, comparison_id in zip(
            battles, prompt_ids, comparison_ids, strict=True
        )
    ]
    bulk_create_reporting(Vote, votes, progress=progress, stage="recording votes")
    _vote_counts_add(Counter(comparison_ids))
    _campaign_prompts_add(campaign=campaign, prompt_ids=set(prompt_ids))
    if report.campaign_created:
        campaign_open(campaign=campaign)


def _models_ensure(*, names: list[str], report: BattleImportReport) -> dict[str, ModelVersion]:
    models = {model.name: model for model in ModelVersion.objects.filter(name__in=names)}
    for name in names:
        if name not in models:
            models[name] = ModelVersion.objects.create(
                name=name, backend=ModelVersion.Backend.IMPORTED
            )
            report.models_created.append(name)
    return models


def _prompts_resolve(
    *,
    battles: list[Battle],
    source: str,
    data_source: DataSource | None,
    report: BattleImportReport,
    progress: Progress | None,
) -> list[int]:
    """The prompt id of each battle: by question id, else by content; new prompts are created.

    All battles of one question id share one prompt, whose text comes from the first of them
    that carries text (else a placeholder naming the question).
    """
    text_of_question: dict[str, tuple[str, str]] = {}
    for battle in battles:
        if battle.question_id and battle.instruction:
            text_of_question.setdefault(battle.question_id, (battle.system, battle.instruction))
    contents = []
    for battle in battles:
        own = (battle.system, battle.instruction)
        system, instruction = text_of_question.get(battle.question_id, own)
        instruction = instruction or placeholder_instruction(battle.question_id)
        content_hash = prompt_content_hash(instruction=instruction, system=system)
        contents.append((battle.question_id, system, instruction, content_hash))
    stored_by_question = _stored_prompts("external_id", [c[0] for c in contents if c[0]])
    stored_by_hash = _stored_prompts("content_hash", [c[3] for c in contents])
    new_by_question: dict[str, int | Prompt] = {}
    new_by_hash: dict[str, Prompt] = {}
    refs: list[int | Prompt] = []
    for question_id, system, instruction, content_hash in contents:
        ref = (
            (stored_by_question.get(question_id) or new_by_question.get(question_id))
            or stored_by_hash.get(content_hash)
            or new_by_hash.get(content_hash)
        )
        if ref is None:
            ref = Prompt(
                instruction=instruction,
                system=system,
                external_id=question_id or None,
                source=source[:200],
                data_source=data_source,
                content_hash=content_hash,
            )
            new_by_hash[content_hash] = ref
        if question_id and question_id not in stored_by_question:
            if isinstance(ref, Prompt) and ref.external_id is None:
                ref.external_id = question_id  # a prompt first met without an id takes this one
            new_by_question.setdefault(question_id, ref)
        refs.append(ref)
    created = list(new_by_hash.values())
    bulk_create_reporting(Prompt, created, progress=progress, stage="writing prompts")
    report.prompts_created = len(created)
    return [ref if isinstance(ref, int) else ref.pk for ref in refs]


def _stored_prompts(field_name: str, values: list[str]) -> dict[str, int]:
    stored: dict[str, int] = {}
    for batch in chunked(sorted(set(values))):
        lookup = {f"{field_name}__in": batch}
        stored.update(Prompt.objects.filter(**lookup).values_list(field_name, "id"))
    return stored


class _OutputPlanner:
    """Finds or plans each battle's baseline and candidate outputs, then their comparison.

    An answer text is matched exactly against the outputs that model already has for the
    prompt; a new text becomes a new output (next sample index). A side without text reuses the
    model's first output for the prompt, else gets a placeholder output, so the comparison (two
    distinct outputs of one prompt) can exist.
    """

    def __init__(
        self,
        *,
        campaign: Campaign,
        prompt_ids: list[int],
        baseline: ModelVersion,
        candidate: ModelVersion,
        campaign_is_new: bool,
        progress: Progress | None,
    ) -> None:
        self.campaign = campaign
        self.progress = progress
        self.baseline, self.candidate = baseline, candidate
        self.by_text: dict[tuple[int, int, str], OutputRef] = {}
        self.first: dict[tuple[int, int], OutputRef] = {}
        self.next_index: dict[tuple[int, int], int] = defaultdict(int)
        self.new_outputs: list[Output] = []
        self.comparison_by_pair: dict[tuple[int, int], int] = {}
        self.comparison_by_prompt: dict[int, tuple[int, int]] = {}
        self.comparisons_created = 0
        model_ids = [baseline.pk, candidate.pk]
        for batch in chunked(sorted(set(prompt_ids))):
            stored = (
                Output.objects.filter(prompt_id__in=batch, model_version_id__in=model_ids)
                .order_by("prompt_id", "model_version_id", "sample_index", "id")
                .values_list("id", "prompt_id", "model_version_id", "sample_index", "text")
            )
            for pk, prompt_id, model_id, sample_index, text in stored:
                self.by_text.setdefault((prompt_id, model_id, text), pk)
                self.first.setdefault((prompt_id, model_id), pk)
                key = (prompt_id, model_id)
                self.next_index[key] = max(self.next_index[key], sample_index + 1)
        if not campaign_is_new:
            comparisons = Comparison.objects.filter(campaign=campaign).order_by("id")
            for pk, prompt_id, baseline_id, candidate_id in comparisons.values_list(
                "id", "prompt_id", "baseline_output_id", "candidate_output_id"
            ):
                self.comparison_by_pair[(baseline_id, candidate_id)] = pk
                self.comparison_by_prompt.setdefault(prompt_id, (baseline_id, candidate_id))

    def pair(self, battle: Battle, prompt_id: int) -> tuple[OutputRef, OutputRef]:
        """(baseline output, candidate output) for one battle."""
        baseline_text = battle.answers.get(self.baseline.name)
        candidate_text = battle.answers.get(self.candidate.name)
        if baseline_text is None and candidate_text is None:
            existing = self.comparison_by_prompt.get(prompt_id)
            if existing is not None:
                return existing
        return (
            self._output(prompt_id, self.baseline.pk, baseline_text),
            self._output(prompt_id, self.candidate.pk, candidate_text),
        )

    def _output(self, prompt_id: int, model_id: int, text: str | None) -> OutputRef:
        if text is None:
            first = self.first.get((prompt_id, model_id))
            if first is not None:
                return first
            text = PLACEHOLDER_ANSWER
        found = self.by_text.get((prompt_id, model_id, text))
        if found is not None:
            return found
        key = (prompt_id, model_id)
        output = Output(
            prompt_id=prompt_id,
            model_version_id=model_id,
            text=text,
            sample_index=self.next_index[key],
            params={},
            params_hash=params_hash({}),
            origin=Output.Origin.IMPORTED,
        )
        self.next_index[key] += 1
        self.by_text[(prompt_id, model_id, text)] = output
        self.first.setdefault(key, output)
        self.new_outputs.append(output)
        return output

    def create_outputs(self) -> int:
        bulk_create_reporting(
            Output, self.new_outputs, progress=self.progress, stage="writing outputs"
        )
        return len(self.new_outputs)

    def comparison_ids(
        self, *, prompt_ids: list[int], pairs: list[tuple[OutputRef, OutputRef]]
    ) -> list[int]:
        """The comparison id of each battle, creating the missing comparisons."""
        keys = [(_pk(baseline), _pk(candidate)) for baseline, candidate in pairs]
        new: dict[tuple[int, int], Comparison] = {}
        for prompt_id, key in zip(prompt_ids, keys, strict=True):
            if key not in self.comparison_by_pair and key not in new:
                new[key] = Comparison(
                    campaign=self.campaign,
                    prompt_id=prompt_id,
                    baseline_output_id=key[0],
                    candidate_output_id=key[1],
                )
        bulk_create_reporting(
            Comparison, list(new.values()), progress=self.progress, stage="writing comparisons"
        )
        self.comparison_by_pair.update({key: comparison.pk for key, comparison in new.items()})
        self.comparisons_created = len(new)
        return [self.comparison_by_pair[key] for key in keys]


def _pk(ref: OutputRef) -> int:
    return ref if isinstance(ref, int) else ref.pk


def _vote_counts_add(votes_per_comparison: Counter[int]) -> None:
    """Add the recorded votes to each comparison's counters (a vote also counts in its load)."""
    by_amount: dict[int, list[int]] = defaultdict(list)
    for comparison_id, amount in votes_per_comparison.items():
        by_amount[amount].append(comparison_id)
    for amount, comparison_ids in by_amount.items():
        for batch in chunked(sorted(comparison_ids)):
            Comparison.objects.filter(pk__in=batch).update(
                vote_count=F("vote_count") + amount, load=F("load") + amount
            )


def _campaign_prompts_add(*, campaign: Campaign, prompt_ids: set[int]) -> None:
    link = Campaign.prompts.through
    linked = set(link.objects.filter(campaign_id=campaign.pk).values_list("prompt_id", flat=True))
    link.objects.bulk_create(
        [link(campaign_id=campaign.pk, prompt_id=pid) for pid in sorted(prompt_ids - linked)],
        batch_size=5000,
    )
