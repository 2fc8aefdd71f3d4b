"""Preference pairs from an approved LLM judge (source ``ai_judge``), written by the assist app.

They sit beside human pairs but never mix in silently: dataset freezing leaves ``ai_judge`` pairs
out unless a dataset names that source (``training.services.datasets``). A pair's identity is the
usual content hash (source, campaign, prompt, both texts), so publishing the same run twice
writes nothing new; pairs of the scope that the run no longer supports are retired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from evalhub.models import Output, Prompt
from training.models import PreferencePair
from training.models.pairs import PairSource, pair_content_hash


@dataclass(frozen=True)
class AiPair:
    prompt_id: int
    campaign_id: int | None
    chosen: Output
    rejected: Output
    source_key: str
    strength: int = 1
    n_signals: int = 1
    data_source_id: int | None = None


def ai_judge_pairs_sync(*, scope_key: str, pairs: Sequence[AiPair]) -> dict[str, int]:
    """Make the active ``ai_judge`` pairs whose ``source_key`` starts with ``scope_key`` equal
    ``pairs``: insert the new, reactivate or update the changed, retire the rest."""
    if not scope_key or any(not p.source_key.startswith(scope_key) for p in pairs):
        raise ValueError("every pair's source_key must start with the (non-empty) scope_key")
    prompts = Prompt.objects.in_bulk({p.prompt_id for p in pairs})
    wanted = {}
    for pair in pairs:
        digest = pair_content_hash(
            source=PairSource.AI_JUDGE,
            campaign_id=pair.campaign_id,
            prompt_hash=prompts[pair.prompt_id].content_hash,
            chosen=pair.chosen.text,
            rejected=pair.rejected.text,
        )
        wanted[digest] = pair
    new = changed = 0
    with transaction.atomic():
        existing = {
            row.content_hash: row
            for row in PreferencePair.objects.select_for_update().filter(content_hash__in=wanted)
        }
        for digest, pair in wanted.items():
            row = existing.get(digest)
            values = {
                "strength": pair.strength,
                "n_signals": pair.n_signals,
                "agreement": pair.strength / pair.n_signals,
                "is_active": True,
            }
            if row is None:
                row = PreferencePair.objects.create(
                    prompt_id=pair.prompt_id,
                    chosen_text=pair.chosen.text,
                    rejected_text=pair.rejected.text,
                    chosen_output=pair.chosen,
                    rejected_output=pair.rejected,
                    source=PairSource.AI_JUDGE,
                    source_key=pair.source_key[:200],
                    campaign_id=pair.campaign_id,
                    data_source_id=pair.data_source_id,
                    content_hash=digest,
                    **values,
                )
                row.labels.set(prompts[pair.prompt_id].labels.all())
                new += 1
            elif any(getattr(row, k) != v for k, v in values.items()):
                PreferencePair.objects.filter(pk=row.pk).update(**values)
                changed += 1
        retired = (
            PreferencePair.objects.filter(
                source=PairSource.AI_JUDGE, source_key__startswith=scope_key, is_active=True
            )
            .exclude(content_hash__in=list(wanted))
            .update(is_active=False)
        )
    return {"new": new, "changed": changed, "retired": retired, "pairs": len(wanted)}
