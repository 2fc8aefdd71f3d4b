"""The core domain of evalhub (DESIGN.md section 4)."""

from evalhub.models.api import IdempotencyRecord
from evalhub.models.audit import AuditEvent
from evalhub.models.campaigns import Assignment, Campaign, Comparison, RaterExclusion, Vote
from evalhub.models.jobs import Job
from evalhub.models.prompts import Label, LabelEvent, Output, Prompt
from evalhub.models.registry import ModelVersion
from evalhub.models.sources import DataSource

__all__ = [
    "Assignment",
    "AuditEvent",
    "Campaign",
    "Comparison",
    "DataSource",
    "IdempotencyRecord",
    "Job",
    "Label",
    "LabelEvent",
    "ModelVersion",
    "Output",
    "Prompt",
    "RaterExclusion",
    "Vote",
]
