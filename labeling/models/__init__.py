"""Models of the labeling app."""

from labeling.models.tasks import (
    Annotation,
    AnnotationStatus,
    Audience,
    Claim,
    ItemKind,
    ItemState,
    LabelerExclusion,
    LabelingTask,
    QuestionKind,
    Review,
    ReviewKind,
    SpotCheckBatch,
    SpotCheckEntry,
    TaskItem,
    TaskStatus,
    Verdict,
)

__all__ = [
    "Annotation",
    "AnnotationStatus",
    "Audience",
    "Claim",
    "ItemKind",
    "ItemState",
    "LabelerExclusion",
    "LabelingTask",
    "QuestionKind",
    "Review",
    "ReviewKind",
    "SpotCheckBatch",
    "SpotCheckEntry",
    "TaskItem",
    "TaskStatus",
    "Verdict",
]
