"""Helpers for the assist tests (no tests here): a judge-answering fake backend and loopback
server, built on the shared ones through subclassing (their answers stay the fake's own for
anything that is not a judge / rewrite prompt), and campaigns with human votes."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from evalhub.generation.base import Completion, GenerationRequest, GenerationResult
from evalhub.generation.fake import FakeBackend
from evalhub.generation.testing_server import LoopbackOpenAIServer
from evalhub.models import Comparison
from evalhub.services.campaigns import campaign_create, campaign_open
from evalhub.services.rating import assignment_next, vote_record
from tests.factories import ModelVersionFactory, OutputFactory, PromptFactory

Responder = Callable[[str], str | None]

_A = re.compile(r"\[ANSWER A\]\n(.*?)\n\[/ANSWER A\]", re.S)
_B = re.compile(r"\[ANSWER B\]\n(.*?)\n\[/ANSWER B\]", re.S)
_ONE = re.compile(r"\[ANSWER\]\n(.*?)\n\[/ANSWER\]", re.S)


def merit(text: str) -> int:
    """What the scripted judge values: the number of words (a longer answer is better)."""
    return len(text.split())


def judge_responder(*, bias_margin: int = -1, wrap: str = "{}") -> Responder:
    """A judge that prefers the longer answer; "tie" when equally long. Within ``bias_margin``
    words it answers "A" whatever the order (a first-slot bias), so such pairs come out
    inconsistent across orders. ``wrap`` dresses the verdict ("**Verdict: {}**")."""

    def answer(prompt: str) -> str | None:
        a, b = _A.search(prompt), _B.search(prompt)
        if a and b:
            diff = merit(a.group(1)) - merit(b.group(1))
            if abs(diff) <= bias_margin:
                return wrap.format("A")
            return wrap.format("tie" if diff == 0 else "A" if diff > 0 else "B")
        one = _ONE.search(prompt)
        if one:
            return f"Score: {min(5, 1 + merit(one.group(1)) // 4)}"
        return None

    return answer


class ScriptedFakeBackend(FakeBackend):
    """FakeBackend whose answer is ``responder(last user message)`` when that is not None."""

    def __init__(self, models: list[str], responder: Responder, **kwargs: Any) -> None:
        super().__init__(models, **kwargs)
        self.responder = responder

    def _one(self, request: GenerationRequest) -> GenerationResult:
        result = super()._one(request)
        text = self.responder(request.messages[-1]["content"])
        if not result.ok or text is None:
            return result
        completion = Completion(
            text, "stop", result.completions[0].prompt_tokens, len(text.split())
        )
        return GenerationResult(result.request_id, (completion,), result.latency_ms)


class ScriptedLoopbackServer(LoopbackOpenAIServer):
    """The loopback OpenAI-compatible server answering through ``responder`` when it has one."""

    def __init__(self, models: list[str], responder: Responder, **kwargs: Any) -> None:
        super().__init__(models, **kwargs)
        self.responder = responder

    def completion_body(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, answer = super().completion_body(body)
        if status == 200:
            text = self.responder(body["messages"][-1]["content"])
            if text is not None:
                for choice in answer["choices"]:
                    choice["message"]["content"] = text
        return status, answer


def vote_as(campaign: Any, raters: list[Any], decide: Callable[[Any], str]) -> int:
    """Each rater votes on every comparison served to them; ``decide(comparison)`` gives the
    outcome wanted (candidate, baseline, tie). Returns the number of votes."""
    votes = 0
    for rater in raters:
        while (assignment := assignment_next(campaign=campaign, rater=rater)) is not None:
            outcome = decide(assignment.comparison)
            side = assignment.candidate_side
            other = "right" if side == "left" else "left"
            choice = {"candidate": side, "baseline": other}.get(outcome, outcome)
            vote_record(rater=rater, token=assignment.token, choice=choice)
            votes += 1
    return votes


def judged_campaign(n: int, *, name: str = "jc", votes_per_prompt: int = 1) -> Any:
    """An open campaign of n comparisons whose answers differ in length (what the scripted
    judge values)."""
    base = ModelVersionFactory(name=f"{name}-base")
    cand = ModelVersionFactory(name=f"{name}-cand", parent=base)
    prompts = [PromptFactory() for _ in range(n)]
    for i, prompt in enumerate(prompts):
        # 3 of 5 prompts: the candidate is longer; 1 of 5 the baseline; 1 of 5 equally long.
        extra = {0: 6, 1: 4, 2: 3, 3: -5, 4: 0}[i % 5]
        OutputFactory(prompt=prompt, model_version=base, text=" ".join(["word"] * 10))
        OutputFactory(prompt=prompt, model_version=cand, text=" ".join(["word"] * (10 + extra)))
    campaign = campaign_create(
        name=f"{name} campaign", baseline=base, candidate=cand, prompts=prompts,
        votes_per_prompt=votes_per_prompt,
    )  # fmt: skip
    campaign_open(campaign=campaign)
    return campaign


def longer(comparison: Comparison) -> str:
    diff = merit(comparison.candidate_output.text) - merit(comparison.baseline_output.text)
    return "tie" if diff == 0 else "candidate" if diff > 0 else "baseline"
