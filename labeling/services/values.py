"""Answer values: one JSON shape per question kind, validated against the task.

- labels:     {"labels": [label_id, ...]}  (one id unless the task is multi-select)
- score:      {"score": 1..5}
- text:       {"text": "..."}               (non-empty, at most 5,000 characters)
- preference: {"preference": "a" | "b" | "tie"}
"""

from __future__ import annotations

from typing import Any

from evalhub.models import Label
from evalhub.services.errors import InvalidInput
from labeling.models import LabelingTask, QuestionKind

PREFERENCES = ("a", "b", "tie")
MAX_TEXT = 5000


def label_resolve(label: Label) -> Label:
    """A merged label stands for the label it was merged into (following chains)."""
    seen: set[int] = set()
    while label.merged_into_id is not None and label.pk not in seen:
        seen.add(label.pk)
        label = label.merged_into  # type: ignore[assignment]
    return label


def task_allowed_label_ids(task: LabelingTask) -> set[int]:
    """The task's answer labels, merged ones resolved to their survivor, inactive ones left out."""
    allowed = {label_resolve(label) for label in task.labels.select_related("merged_into")}
    return {label.pk for label in allowed if label.is_active}


def value_validate(*, task: LabelingTask, value: Any) -> dict[str, Any]:
    """The value in its canonical form, or ``InvalidInput`` saying what is wrong."""
    if not isinstance(value, dict):
        raise InvalidInput('value must be an object, e.g. {"labels": [3]}.')
    kind = task.question_kind
    if kind == QuestionKind.LABELS:
        raw = value.get("labels")
        if not isinstance(raw, list) or not raw:
            raise InvalidInput("value.labels must be a non-empty list of label ids.")
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in raw):
            raise InvalidInput("value.labels must hold label ids (integers).")
        ids = sorted(set(raw))
        if len(ids) > 1 and not task.multi_select:
            raise InvalidInput("This task takes one label per item.")
        allowed = task_allowed_label_ids(task)
        unknown = [x for x in ids if x not in allowed]
        if unknown:
            raise InvalidInput(f"Labels not allowed in this task: {unknown}.")
        return {"labels": ids}
    if kind == QuestionKind.SCORE:
        score = value.get("score")
        if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
            raise InvalidInput("value.score must be an integer from 1 to 5.")
        return {"score": score}
    if kind == QuestionKind.TEXT:
        text = value.get("text")
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("value.text must be a non-empty string.")
        if len(text) > MAX_TEXT or "\x00" in text:
            raise InvalidInput(f"value.text must be at most {MAX_TEXT} characters, without NUL.")
        return {"text": text.strip()}
    preference = value.get("preference")
    if preference not in PREFERENCES:
        raise InvalidInput("value.preference must be one of a, b, tie.")
    return {"preference": preference}


def value_key(value: dict[str, Any]) -> str:
    """A hashable key of a canonical value (what agreement counts as 'the same answer')."""
    if "labels" in value:
        return ",".join(str(x) for x in value["labels"])
    if "score" in value:
        return str(value["score"])
    if "preference" in value:
        return str(value["preference"])
    return " ".join(str(value.get("text", "")).casefold().split())
