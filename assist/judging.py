"""The judge's prompts and the reading of its answers (pure: no Django).

The judge must answer with one token: ``A``, ``B`` or ``tie`` for a pair, a digit 1-5 for a
single output. Real models wrap that in words ("**Verdict: B**", "Answer A is better."), so the
parsers look for the verdict in a few fixed shapes and give up (``invalid``) rather than guess:
an answer naming both slots, or none, is invalid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PAIR_TEMPLATE = """You are an impartial judge of answers written by AI assistants.

Compare the two answers to the user's request below. Judge helpfulness, correctness and \
clarity; ignore the length of the answers and the order they are shown in.

Reply with exactly one word: "A" if answer A is better, "B" if answer B is better, or "tie" if \
they are equally good.

[REQUEST]
{prompt}
[/REQUEST]

[ANSWER A]
{answer_a}
[/ANSWER A]

[ANSWER B]
{answer_b}
[/ANSWER B]

Verdict (A, B or tie):"""

QUALITY_TEMPLATE = """You are a strict reviewer of answers written by an AI assistant.

Rate the answer to the user's request below on this rubric:
5 excellent, 4 good, 3 acceptable, 2 poor, 1 unusable (wrong, harmful or off-topic).

Reply with exactly one digit from 1 to 5.

[REQUEST]
{prompt}
[/REQUEST]

[ANSWER]
{answer}
[/ANSWER]

Score (1-5):"""

PARAPHRASE_TEMPLATE = """Rewrite the following request so that it asks for exactly the same \
thing in different words. Keep every fact, name and number. Reply with the rewritten request \
only.

{text}"""

TRANSLATE_TEMPLATE = """Translate the following text into {language}. Keep every fact, name and \
number. Reply with the translation only.

{text}"""

LABELS_TEMPLATE = """You are a careful annotator.

Choose the one label from this list that fits the item below best:
{labels}

Reply with the label's name only.

[ITEM]
{item}
[/ITEM]

Label:"""

PAIR_FIELDS = ("prompt", "answer_a", "answer_b")
QUALITY_FIELDS = ("prompt", "answer")

_A_OR_B = r"(?P<v>A|B|tie|TIE|Tie)"
_VERDICT_SHAPES = (
    re.compile(rf"^\W*{_A_OR_B}\W*$"),  # the whole answer is the verdict
    re.compile(rf"(?:verdict|answer|winner|choice)\s*(?:is)?\s*[:=]?\s*\W*{_A_OR_B}\b", re.I),
    re.compile(rf"\[\[\s*{_A_OR_B}\s*\]\]"),  # MT-Bench style [[A]]
    re.compile(r"\b(?:answer|response)\s+(?P<v>A|B)\s+is\s+better\b", re.I),
)
_TIE_WORDS = re.compile(r"^\W*(?:tie|equal|equally good|both (?:are )?equal)\W*$", re.I)
_SCORE_SHAPES = (
    re.compile(r"^\W*(?P<v>[1-5])\W*$"),
    re.compile(r"(?:score|rating)\s*(?:is)?\s*[:=]?\s*\W*(?P<v>[1-5])\b", re.I),
    re.compile(r"^\W*(?P<v>[1-5])\s*(?:/|out of)\s*5\b", re.I),
)


def render(template: str, fields: Sequence[str], values: Mapping[str, str]) -> str:
    """Fill ``{name}`` placeholders in one pass over the template: model text may hold braces,
    even a placeholder's name, and is never scanned again."""
    pattern = re.compile("|".join(re.escape("{" + name + "}") for name in fields))
    return pattern.sub(lambda found: values[found.group(0)[1:-1]], template)


def template_missing(template: str, fields: Sequence[str]) -> list[str]:
    return [name for name in fields if "{" + name + "}" not in template]


def parse_verdict(text: str) -> str:
    """ "A", "B", "tie" or "invalid"."""
    answer = (text or "").strip()
    if _TIE_WORDS.match(answer):
        return "tie"
    for shape in _VERDICT_SHAPES:
        found = {m.group("v").lower() for m in shape.finditer(answer)}
        if len(found) == 1:
            value = found.pop()
            return "tie" if value == "tie" else value.upper()
        if len(found) > 1:
            return "invalid"
    return "invalid"


def parse_score(text: str) -> int | None:
    answer = (text or "").strip()
    for shape in _SCORE_SHAPES:
        found = {int(m.group("v")) for m in shape.finditer(answer)}
        if len(found) == 1:
            return found.pop()
        if len(found) > 1:
            return None
    return None


def parse_label(text: str, names: Sequence[str]) -> str | None:
    """The one label name the answer gives (exactly, or as the only name it mentions)."""
    answer = (text or "").strip().strip("\"'`*.").casefold()
    by_fold = {name.casefold(): name for name in names}
    if answer in by_fold:
        return by_fold[answer]
    mentioned = {
        name
        for folded, name in by_fold.items()
        if re.search(rf"(?<!\w){re.escape(folded)}(?!\w)", answer)
    }
    if len(mentioned) > 1:  # "billing/refund" also mentions "billing": keep the longest
        longest = max(mentioned, key=len)
        if all(other.casefold() in longest.casefold() for other in mentioned):
            return longest
        return None
    return mentioned.pop() if mentioned else None


def slot_to_side(slot: str, candidate_slot: str) -> str:
    """A slot verdict as an outcome: candidate, baseline, tie (or invalid)."""
    if slot in ("A", "B"):
        return "candidate" if slot == candidate_slot else "baseline"
    return slot


def combine_orders(first: str, second: str | None) -> str:
    """The outcome of a pair from its two orders' outcomes (``second`` None: asked once).

    Agreeing orders give their outcome; an order that could not be read makes the pair
    invalid; any disagreement (including a side in one order and a tie in the other) is
    inconsistent, which reports count as a tie.
    """
    if second is None:
        return first
    if "invalid" in (first, second):
        return "invalid"
    return first if first == second else "inconsistent"


@dataclass(frozen=True)
class Agreement:
    """The judge against the human majority on the comparisons both have an answer for."""

    n: int
    agree: int
    rate: float | None
    rate_low: float | None
    rate_high: float | None
    kappa: float | None
    kappa_low: float | None
    kappa_high: float | None
    table: list[list[int]]
    categories: tuple[str, ...] = ("candidate", "baseline", "tie")

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "agree": self.agree,
            "rate": self.rate,
            "rate_low": self.rate_low,
            "rate_high": self.rate_high,
            "kappa": self.kappa,
            "kappa_low": self.kappa_low,
            "kappa_high": self.kappa_high,
            "table": self.table,
            "categories": list(self.categories),
        }


def agreement(pairs: Sequence[tuple[str, str]], *, confidence: float = 0.95) -> Agreement:
    """Raw agreement (Wilson interval) and Cohen's kappa (asymptotic interval, statsmodels) of
    (judge, human) outcomes in candidate / baseline / tie (inconsistent counts as tie)."""
    import numpy as np
    from scipy.stats import norm
    from statsmodels.stats.inter_rater import cohens_kappa

    from evalhub.stats.intervals import wilson_interval

    categories = ("candidate", "baseline", "tie")
    index = {name: i for i, name in enumerate(categories)}
    table = np.zeros((3, 3), dtype=int)
    for judge, human in pairs:
        judge = "tie" if judge == "inconsistent" else judge
        table[index[judge], index[human]] += 1
    n = int(table.sum())
    agree = int(np.trace(table))
    if n == 0:
        return Agreement(0, 0, None, None, None, None, None, None, table.tolist())
    low, high = wilson_interval(agree, n, confidence=confidence)
    kappa = kappa_low = kappa_high = None
    expected = (table.sum(axis=1) @ table.sum(axis=0)) / n**2
    if expected < 1:  # kappa is undefined when both raters put everything in one category
        with np.errstate(invalid="ignore"):  # perfect agreement: a variance of -0.0
            result = cohens_kappa(table, return_results=True)
        z = float(norm.ppf(0.5 + confidence / 2))
        std = float(np.nan_to_num(result.std_kappa, nan=0.0))
        kappa = float(result.kappa)
        kappa_low = max(-1.0, kappa - z * std)
        kappa_high = min(1.0, kappa + z * std)
    return Agreement(
        n, agree, agree / n, float(low), float(high), kappa, kappa_low, kappa_high, table.tolist()
    )
