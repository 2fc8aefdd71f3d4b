"""The core domain of evalhub (DESIGN.md section 4)."""

from evalhub.models.api import IdempotencyRecord
from evalhub.models.audit import AuditEvent
from evalhub.models.campaigns import Assignment, Campaign, Comparison, Vote
from evalhub.models.jobs import Job
from evalhub.models.prompts import Label, Output, Prompt
from evalhub.models.registry import ModelVersion

__all__ = [
    "Assignment",
    "AuditEvent",
    "Campaign",
    "Comparison",
    "IdempotencyRecord",
    "Job",
    "Label",
    "ModelVersion",
    "Output",
    "Prompt",
    "Vote",
]
