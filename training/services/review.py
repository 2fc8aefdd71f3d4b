"""Expert review of preference pairs (written by the labeling app through this service):
set a pair's ``review_status`` and add labels. Rejected pairs never enter a dataset
(``training.services.datasets``)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from evalhub.models import Label
from evalhub.services.audit import audit_record
from evalhub.services.errors import InvalidInput
from training.models import PreferencePair

REVIEW_STATUSES = ("unreviewed", "accepted", "corrected", "rejected")


def pair_review_set(*, pair: PreferencePair, review_status: str, note: str = "") -> PreferencePair:
    """Set the pair's review status (audited; a no-op when it already has it)."""
    if review_status not in REVIEW_STATUSES:
        raise InvalidInput(f"review_status must be one of {', '.join(REVIEW_STATUSES)}.")
    with transaction.atomic():
        pair = PreferencePair.objects.select_for_update().get(pk=pair.pk)
        if pair.review_status == review_status:
            return pair
        before = {"review_status": pair.review_status}
        pair.review_status = review_status
        pair.save(update_fields=["review_status", "updated_at"])
        audit_record(
            action="pair.review",
            obj=pair,
            before=before,
            after={"review_status": review_status},
            note=note,
        )
    return pair


def pair_labels_add(*, pair: PreferencePair, labels: Iterable[Label], note: str = "") -> int:
    """Add labels to the pair (existing ones are kept); returns how many were new."""
    wanted = {label.pk for label in labels}
    with transaction.atomic():
        have = set(pair.labels.values_list("pk", flat=True))
        new = sorted(wanted - have)
        if new:
            pair.labels.add(*new)
            audit_record(action="pair.labels_add", obj=pair, after={"labels": new}, note=note)
    return len(new)
