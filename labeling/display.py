"""What a labeler or reviewer sees of an item: the prompt and answers as sanitized markdown,
never a model name or an output id. For a preference, the two answers appear in a per-item
random order (``sides``) so position never hints at which is the pair's chosen answer."""

from __future__ import annotations

import hashlib
from typing import Any

from evalhub.markdown import render_markdown
from labeling.models import LabelingTask, TaskItem


def _prompt_block(prompt: Any) -> dict[str, Any]:
    return {
        "system": prompt.system,
        "instruction": prompt.instruction,
        "input": prompt.input,
        "instruction_html": render_markdown(prompt.instruction),
        "input_html": render_markdown(prompt.input) if prompt.input else "",
        "system_html": render_markdown(prompt.system) if prompt.system else "",
    }


def _answer(side: str, text: str) -> dict[str, str]:
    return {"side": side, "text": text, "html": render_markdown(text)}


def item_sides(item: TaskItem, task: LabelingTask) -> tuple[str, str]:
    """("a", "b") or ("b", "a"): a stable per-item order from the task's seed."""
    digest = hashlib.sha256(f"{task.seed}:{item.pk}".encode()).digest()
    return ("a", "b") if digest[0] % 2 == 0 else ("b", "a")


def item_view(item: TaskItem, task: LabelingTask) -> dict[str, Any]:
    """The item as shown: ``prompt`` and ``answers`` (0, 1 or 2 of them, in display order)."""
    answers: list[dict[str, str]] = []
    if item.prompt_id:
        prompt = item.prompt
    elif item.pair_id:
        prompt = item.pair.prompt
        texts = {"a": item.pair.chosen_text, "b": item.pair.rejected_text}
        if task.question_kind == "preference":
            order = item_sides(item, task)
            answers = [_answer("left", texts[order[0]]), _answer("right", texts[order[1]])]
        else:
            answers = [_answer("chosen", texts["a"]), _answer("rejected", texts["b"])]
    else:
        prompt = item.output.prompt
        if item.output_b_id:
            texts = {"a": item.output.text, "b": item.output_b.text}
            order = item_sides(item, task)
            answers = [_answer("left", texts[order[0]]), _answer("right", texts[order[1]])]
        else:
            answers = [_answer("answer", item.output.text)]
    return {"item": item.pk, "prompt": _prompt_block(prompt), "answers": answers}


def value_from_display(item: TaskItem, task: LabelingTask, value: Any) -> Any:
    """A preference given as shown (left | right | tie) in stored terms (a | b | tie)."""
    if isinstance(value, dict) and value.get("preference") in ("left", "right"):
        order = item_sides(item, task)
        return {**value, "preference": order[0] if value["preference"] == "left" else order[1]}
    return value


def value_for_display(item: TaskItem, task: LabelingTask, value: Any) -> Any:
    """The stored a | b back as the side it was shown on."""
    if isinstance(value, dict) and value.get("preference") in ("a", "b"):
        order = item_sides(item, task)
        return {**value, "preference": "left" if order[0] == value["preference"] else "right"}
    return value


def question_view(task: LabelingTask) -> dict[str, Any]:
    from labeling.services.values import task_allowed_label_ids

    allowed = task_allowed_label_ids(task)
    labels = [
        {"id": label.pk, "name": label.name}
        for label in task.labels.model.objects.filter(pk__in=allowed).order_by("name")
    ]
    return {
        "task": task.pk,
        "name": task.name,
        "kind": task.question_kind,
        "multi_select": task.multi_select,
        "labels": labels,
        "rubric_html": render_markdown(task.rubric) if task.rubric else "",
    }


def value_text(value: dict[str, Any] | None, names: dict[int, str]) -> str:
    """A short human reading of an answer value."""
    if not value:
        return "-"
    if "labels" in value:
        return ", ".join(names.get(x, f"#{x}") for x in value["labels"])
    if "score" in value:
        return f"score {value['score']}"
    if "preference" in value:
        return {"a": "first answer (A)", "b": "second answer (B)", "tie": "tie"}.get(
            value["preference"], str(value["preference"])
        )
    return str(value.get("text", ""))
