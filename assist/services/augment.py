"""Prompt augmentation: paraphrase or back-translate prompts through a model, keep what is new.

- A **paraphrase** is one call; a **back-translation** two (into the pivot language, then back
  into the source language). ``per_prompt`` samples per source prompt, sample ``k`` seeded
  ``seed + k``.
- **Near-duplicates are dropped**: a new text is compared (MinHash over character shingles, the
  parameters of ``training.services.dedup``) with its source, with the texts this run already
  kept, and with every existing prompt; at ``near_duplicate_threshold`` or above it is dropped,
  with the prompt it duplicates and the similarity. The text compared is the whole prompt
  (system, history, instruction, input), as dataset freezing compares them.
- A kept text becomes a new ``Prompt``: the source's system, history, input and labels, the new
  instruction, ``origin`` paraphrase / back_translation, ``derived_from`` the source, and the
  data source "AI augmentation (<model>)" (kind synthetic).
- **Splits never leak**: an augmented prompt takes its source's split. A source without one is
  pinned first (both it and its copies), stratified by label with ``training.services.splits``
  (80/10/10, the run's seed), so a later dataset freeze keeps a prompt and its copies together.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from assist.judging import PARAPHRASE_TEMPLATE, TRANSLATE_TEMPLATE, render
from assist.models import AugmentationRecord, AugmentationRun
from assist.services.backend import Caller, Log, Progress, batch_size, caller_for, first_text
from evalhub.generation.base import Backend, SamplingParams
from evalhub.models import DataSource, ModelVersion, Prompt
from evalhub.models.prompts import normalize_text
from evalhub.services.audit import audit_record, audit_snapshot
from evalhub.services.errors import InvalidInput
from evalhub.services.jobs import JobCancelled, job_create
from training.services.dedup import DEFAULT_NUM_PERM, DEFAULT_SHINGLE, shingles
from training.services.splits import SplitGroup, assign_splits

TASK_PATH = "assist.tasks.augmentation_run_task"
MAX_PER_PROMPT = 10


def augmentation_run_create(
    *,
    prompts: Iterable[Prompt],
    method: str,
    model_version: ModelVersion,
    per_prompt: int = 1,
    pivot_language: str = "French",
    near_duplicate_threshold: float = 0.8,
    seed: int = 0,
    prompt_filter: dict[str, Any] | None = None,
    created_by: AbstractBaseUser | None = None,
) -> AugmentationRun:
    """Record an augmentation run over ``prompts`` and queue its job."""
    if method not in AugmentationRun.Method.values:
        raise InvalidInput(
            f"method must be one of {AugmentationRun.Method.values}.", details={"field": "method"}
        )
    if model_version.backend == ModelVersion.Backend.IMPORTED:
        raise InvalidInput(
            f"{model_version.name!r} is an imported model and cannot write prompts.",
            code="imported_model",
            details={"field": "model"},
        )
    if not 1 <= per_prompt <= MAX_PER_PROMPT:
        raise InvalidInput(
            f"per_prompt must be 1-{MAX_PER_PROMPT}.", details={"field": "per_prompt"}
        )
    if not 0 < near_duplicate_threshold <= 1:
        raise InvalidInput(
            "near_duplicate_threshold must be within (0, 1].",
            details={"field": "near_duplicate_threshold"},
        )
    if method == AugmentationRun.Method.BACK_TRANSLATION and not pivot_language.strip():
        raise InvalidInput("Back-translation needs a pivot language.", details={"field": "pivot"})
    ids = sorted({p.pk for p in prompts})
    if not ids:
        raise InvalidInput("No prompts match: nothing to augment.", details={"field": "prompts"})
    with transaction.atomic():
        run = AugmentationRun.objects.create(
            method=method,
            model_version=model_version,
            prompt_filter=prompt_filter or {"ids": ids},
            source_prompt_ids=ids,
            per_prompt=per_prompt,
            pivot_language=pivot_language.strip() if method == "back_translation" else "",
            near_duplicate_threshold=near_duplicate_threshold,
            seed=seed,
            created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
        )
        run.job = job_create(
            kind="augment",
            title=f"Augment {len(ids)} prompts ({method}) with {model_version.name}",
            task_path=TASK_PATH,
            created_by=created_by,
            params={"augmentation_run_id": run.pk},
        )
        run.save(update_fields=["job"])
        audit_record(action="augmentation_run.create", obj=run, after=audit_snapshot(run))
    return run


def _full_text(system: str, history: list[Any], instruction: str, input_text: str) -> str:
    turns = " ".join(" ".join(map(str, turn)) for turn in history or [])
    return " ".join(p for p in (system, turns, instruction, input_text) if p)


class _NearDuplicates:
    """An LSH index of prompt texts: the closest indexed prompt at or above the threshold."""

    def __init__(self, threshold: float, seed: int = 1) -> None:
        from datasketch import MinHashLSH

        self.threshold = threshold
        self.seed = seed
        self.exact: dict[str, int] = {}
        self.hashes: dict[int, Any] = {}
        self.lsh = (
            MinHashLSH(threshold=threshold, num_perm=DEFAULT_NUM_PERM) if threshold < 1 else None
        )

    def _minhash(self, text: str) -> Any:
        from datasketch import MinHash

        minhash = MinHash(num_perm=DEFAULT_NUM_PERM, seed=self.seed)
        minhash.update_batch(shingles(text, DEFAULT_SHINGLE))
        return minhash

    def add(self, key: int, text: str) -> None:
        self.add_many([(key, text)])

    def add_many(self, rows: list[tuple[int, str]]) -> None:
        """Index many texts at once (``MinHash.bulk``: about 2.5 times faster than one by one)."""
        from datasketch import MinHash

        fresh = []
        for key, text in rows:
            norm = normalize_text(text)
            self.exact.setdefault(norm, key)
            if self.lsh is not None and key not in self.hashes:
                fresh.append((key, norm))
        if not fresh:
            return
        hashes = MinHash.bulk(
            (shingles(norm, DEFAULT_SHINGLE) for _, norm in fresh),
            num_perm=DEFAULT_NUM_PERM,
            seed=self.seed,
        )
        for (key, _), minhash in zip(fresh, hashes, strict=True):
            self.hashes[key] = minhash
            self.lsh.insert(key, minhash)  # type: ignore[union-attr]

    def closest(self, text: str) -> tuple[int, float] | None:
        norm = normalize_text(text)
        if norm in self.exact:
            return self.exact[norm], 1.0
        if self.lsh is None:
            return None
        minhash = self._minhash(norm)
        found = [(key, minhash.jaccard(self.hashes[key])) for key in self.lsh.query(minhash)]
        found = [(key, sim) for key, sim in found if sim >= self.threshold]
        return max(found, key=lambda f: (f[1], -f[0])) if found else None


def ai_data_source(name: str, description: str) -> DataSource:
    """The synthetic data source that AI-made records point to (created on first use)."""
    name = name[:200]
    source = DataSource.objects.filter(name__iexact=name).first()
    if source is None:
        from evalhub.services.sources import data_source_create

        source = data_source_create(
            name=name, kind=DataSource.Kind.SYNTHETIC, owner="assist", description=description
        )
    return source


def _ai_source(model_version: ModelVersion) -> DataSource:
    return ai_data_source(
        f"AI augmentation ({model_version.name})",
        "Prompts written by a model (paraphrase / back-translation); AI-made.",
    )


def _params(run: AugmentationRun, sample: int) -> SamplingParams:
    defaults = run.model_version.generation_defaults
    return SamplingParams(
        temperature=float(defaults["temperature"]),
        top_p=float(defaults["top_p"]),
        max_tokens=int(defaults["max_tokens"]),
        seed=run.seed + sample,
    )


def _rewrite(
    run: AugmentationRun, caller: Caller, work: list[tuple[Prompt, int]]
) -> dict[tuple[int, int], tuple[str, str, float, str]]:
    """(prompt id, sample) -> (text, pivot text, latency ms, error)."""
    out: dict[tuple[int, int], tuple[str, str, float, str]] = {}
    by_sample: dict[int, list[Prompt]] = {}
    for prompt, sample in work:
        by_sample.setdefault(sample, []).append(prompt)
    for sample, prompts in by_sample.items():
        params = _params(run, sample)
        if run.method == AugmentationRun.Method.PARAPHRASE:
            asks = [
                (f"p{p.pk}", render(PARAPHRASE_TEMPLATE, ("text",), {"text": p.instruction}))
                for p in prompts
            ]
            results = caller.ask(asks, params)
            for p in prompts:
                r = results[f"p{p.pk}"]
                out[(p.pk, sample)] = (first_text(r).strip(), "", r.latency_ms, r.error or "")
            continue
        there = caller.ask(
            [(f"t{p.pk}", render(TRANSLATE_TEMPLATE, ("language", "text"),
                                 {"language": run.pivot_language, "text": p.instruction}))
             for p in prompts],
            params,
        )  # fmt: skip
        pivots = {p.pk: first_text(there[f"t{p.pk}"]).strip() for p in prompts}
        back = caller.ask(
            [(f"b{p.pk}", render(TRANSLATE_TEMPLATE, ("language", "text"),
                                 {"language": "English", "text": pivots[p.pk]}))
             for p in prompts if pivots[p.pk]],
            params,
        )  # fmt: skip
        for p in prompts:
            first, second = there[f"t{p.pk}"], back.get(f"b{p.pk}")
            error = first.error or (second.error if second is not None else "") or ""
            latency = first.latency_ms + (second.latency_ms if second is not None else 0.0)
            out[(p.pk, sample)] = (first_text(second).strip(), pivots[p.pk], latency, error)
    return out


def _pin_splits(run: AugmentationRun, sources: list[Prompt]) -> list[int]:
    """Give sources without a split one (stratified by first label), so copies can follow."""
    free = [p for p in sources if p.split == Prompt.Split.UNASSIGNED]
    if not free:
        return []
    groups = [
        SplitGroup(
            key=p.pk, stratum=min((label.name for label in p.labels.all()), default=""), weight=1
        )
        for p in free
    ]
    split_of = assign_splits(groups, seed=run.seed)
    for prompt in free:
        prompt.split = split_of[prompt.pk]
        Prompt.objects.filter(pk=prompt.pk, split=Prompt.Split.UNASSIGNED).update(
            split=prompt.split
        )
    return [p.pk for p in free]


def _index(run: AugmentationRun) -> _NearDuplicates:
    """Every existing prompt's text, indexed in chunks."""
    index = _NearDuplicates(run.near_duplicate_threshold)
    rows = Prompt.objects.values_list("pk", "system", "history", "instruction", "input")
    chunk: list[tuple[int, str]] = []
    for pk, system, history, instruction, input_text in rows.iterator(chunk_size=2000):
        chunk.append((pk, _full_text(system, history, instruction, input_text)))
        if len(chunk) == 2000:
            index.add_many(chunk)
            chunk = []
    index.add_many(chunk)
    return index


def _store(
    run: AugmentationRun,
    parent: Prompt,
    sample: int,
    written: tuple[str, str, float, str],
    index: _NearDuplicates,
    source: DataSource,
) -> AugmentationRecord:
    text, pivot, latency, error = written
    record = AugmentationRecord(
        run=run, source_prompt=parent, sample_index=sample, text=text[:20000], pivot_text=pivot[:20000],
        latency_ms=latency, error=error[:2000],
    )  # fmt: skip
    if not text:
        record.status = AugmentationRecord.Status.FAILED
        record.error = record.error or "the model returned no text"
        record.save()
        return record
    full = _full_text(parent.system, parent.history, text, parent.input)
    near = index.closest(full)
    if near is not None:
        other, similarity = near
        record.status = AugmentationRecord.Status.DUPLICATE
        record.duplicate_of_id, record.similarity = other, round(similarity, 4)
        record.duplicate_kind = "source" if other == parent.pk else (
            "sibling" if Prompt.objects.filter(pk=other, derived_from=parent).exists() else "existing"
        )  # fmt: skip
        record.save()
        return record
    with transaction.atomic():
        prompt = Prompt.objects.create(
            instruction=text,
            input=parent.input,
            system=parent.system,
            history=parent.history,
            source=f"assist augmentation run {run.pk}",
            data_source=source,
            origin=run.method,
            derived_from=parent,
            split=parent.split,
            external_id=(
                f"{parent.external_id}~{run.method[:2]}{run.pk}.{sample}"[:200]
                if parent.external_id
                else None
            ),
        )
        prompt.labels.set(parent.labels.all())
        record.status, record.new_prompt = AugmentationRecord.Status.KEPT, prompt
        record.save()
    index.add(prompt.pk, full)
    return record


def augmentation_run_execute(
    *,
    run: AugmentationRun,
    progress: Progress | None = None,
    log: Log | None = None,
    backend: Backend | None = None,
) -> AugmentationRun:
    """Write, filter and store the new prompts (resumable: samples already recorded are skipped)."""
    run = AugmentationRun.objects.select_related("model_version").get(pk=run.pk)
    report = progress or (lambda done, total, message: None)
    say = log or (lambda line: None)
    caller = caller_for(run.model_version, backend)
    started = time.perf_counter()
    sources = list(
        Prompt.objects.filter(pk__in=run.source_prompt_ids)
        .prefetch_related("labels")
        .order_by("pk")
    )
    AugmentationRun.objects.filter(pk=run.pk).update(status=AugmentationRun.Status.RUNNING)
    pinned = _pin_splits(run, sources)
    recorded = set(run.records.values_list("source_prompt_id", "sample_index"))
    work = [(p, k) for p in sources for k in range(run.per_prompt) if (p.pk, k) not in recorded]
    total = len(sources) * run.per_prompt
    done = total - len(work)
    say(f"{len(work)} rewrites to ask ({done} recorded); {len(pinned)} source splits pinned")
    report(done, total, f"{len(work)} to write")
    index = _index(run)
    source = _ai_source(run.model_version)
    try:
        batch = batch_size()
        for start in range(0, len(work), batch):
            chunk = work[start : start + batch]
            written = _rewrite(run, caller, chunk)
            for parent, sample in chunk:
                _store(run, parent, sample, written[(parent.pk, sample)], index, source)
            done += len(chunk)
            report(done, total, f"{done} of {total} written")
    except BaseException as exc:
        cancelled = isinstance(exc, JobCancelled | KeyboardInterrupt)
        ended = AugmentationRun.Status.CANCELLED if cancelled else AugmentationRun.Status.FAILED
        AugmentationRun.objects.filter(pk=run.pk).update(
            status=ended, counts=augmentation_counts(run)
        )
        raise
    counts = augmentation_counts(run)
    counts.update(
        sources=len(sources),
        pinned_splits=len(pinned),
        seconds=round(time.perf_counter() - started, 3),
    )
    with transaction.atomic():
        AugmentationRun.objects.filter(pk=run.pk).update(
            status=AugmentationRun.Status.SUCCEEDED, counts=counts, finished_at=timezone.now()
        )
        run.refresh_from_db()
        audit_record(
            action="augmentation_run.finish",
            obj=run,
            after={"counts": counts},
            note=f"splits pinned for source prompts {pinned[:50]}" if pinned else "",
        )
    say(f"done: {counts}")
    return run


def augmentation_counts(run: AugmentationRun) -> dict[str, Any]:
    statuses = dict.fromkeys(AugmentationRecord.Status.values, 0)
    for status in run.records.values_list("status", flat=True):
        statuses[status] += 1
    return statuses
