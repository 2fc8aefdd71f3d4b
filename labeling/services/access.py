"""Who may label, review and manage: roles (Django groups) mapped onto a task's audience."""

from __future__ import annotations

from typing import Any

from evalhub.roles import has_perm_cached, user_roles
from labeling.models import Audience, LabelingTask

AUDIENCE_ROLES: dict[str, frozenset[str]] = {
    Audience.USER: frozenset({"rater"}),
    Audience.STAFF: frozenset({"agent", "pm"}),
    Audience.EXPERT: frozenset({"expert"}),
}
MANAGE = "evalhub.manage_data"
REVIEW = "evalhub.review_labels"
LABEL = "evalhub.label_items"


def can_manage(user: Any) -> bool:
    return has_perm_cached(user, MANAGE)


def can_spot_check(user: Any) -> bool:
    return has_perm_cached(user, REVIEW)


def can_use_labeling(user: Any) -> bool:
    """Any labeling page at all: labelers, reviewers, managers."""
    return any(has_perm_cached(user, perm) for perm in (LABEL, REVIEW, MANAGE))


def audiences_for(user: Any) -> list[str]:
    roles = user_roles(user)
    if "admin" in roles:
        return list(AUDIENCE_ROLES)
    return [audience for audience, allowed in AUDIENCE_ROLES.items() if roles & allowed]


def can_label(user: Any, task: LabelingTask) -> bool:
    return task.audience in audiences_for(user)


def can_cross_review(user: Any, task: LabelingTask) -> bool:
    """Peers of the task's audience and experts review other people's labels."""
    return can_label(user, task) or can_spot_check(user)
