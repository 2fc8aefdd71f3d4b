"""Report exports: CSV (one row per slice, written by pandas) and a release-note paragraph."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from evalhub.stats.bands import BAND_LABELS

CSV_COLUMNS = (
    "slice_type", "slice", "n_votes", "wins", "losses", "ties", "both_bad", "n_decisive",
    "support_rate", "ci_low", "ci_high", "ci_method", "confidence", "p_value", "band", "verdict",
    "anytime_ci_low", "anytime_ci_high", "tie_rate", "both_bad_rate", "design_effect", "n_eff",
)  # fmt: skip
EXTRA_COLUMNS = {
    "label": ("parent",),
    "channel": (),
    "rater": (
        "p_value_holm", "outlier", "left_pick_share", "agreement_with_majority", "n_pairable",
        "median_time_s",
    ),
    "day": (
        "cum_n_votes", "cum_wins", "cum_losses", "cum_support_rate", "cum_ci_low", "cum_ci_high",
        "anytime_running_low", "anytime_running_high", "anytime_p_value",
    ),
}  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_slices(report: dict[str, Any], by: tuple[str, ...]) -> list[tuple[str, dict[str, Any]]]:
    """(slice type, row) pairs: the overall row first, then the asked-for breakdowns.

    With no breakdown asked for, the labels and channels the report always carries follow.
    """
    rows: list[tuple[str, dict[str, Any]]] = [("overall", {**report, "slice": "overall"})]
    before = (report.get("quality") or {}).get("before_exclusion")
    if before:  # the same votes with the excluded raters' votes still in
        rows.append(("before_exclusion", {**before, "slice": "before excluding raters"}))
    for kind in by or ("label", "channel"):
        rows += [(kind, row) for row in report.get(f"by_{kind}", [])]
    return rows


def report_csv(report: dict[str, Any], by: tuple[str, ...] = ()) -> str:
    """The report as CSV text. Cells that a spreadsheet would run as a formula are quoted with '."""
    records = []
    for kind, row in csv_slices(report, by):
        record = {"slice_type": kind, **{c: row.get(c) for c in CSV_COLUMNS[1:]}}
        record.update({c: row.get(c) for c in EXTRA_COLUMNS.get(kind, ())})
        record["slice"] = _cell(str(record["slice"]))
        if "parent" in record and record["parent"] is not None:
            record["parent"] = _cell(str(record["parent"]))
        records.append(record)
    extra = [c for kind in by for c in EXTRA_COLUMNS.get(kind, ()) if c not in CSV_COLUMNS]
    frame = pd.DataFrame.from_records(records, columns=[*CSV_COLUMNS, *dict.fromkeys(extra)])
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def percent(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "n/a"
    return f"{x * 100:.{digits}f}%"


def _range(low: float | None, high: float | None) -> str:
    """ "68.1–76.3%"."""
    if low is None or high is None:
        return "n/a"
    return f"{low * 100:.1f}–{high * 100:.1f}%"


def p_value_phrase(p_value: float | None, log10_p: float | None) -> str:
    """ "p = 0.021", "p = 3.1e-07", or "p < 1e-30" past that."""
    if p_value is None:
        return "p = n/a"
    if p_value < 1e-30 or (p_value == 0 and log10_p is not None):
        return "p < 1e-30"
    if p_value >= 1e-4:
        return f"p = {p_value:.2g}"
    return f"p = {p_value:.1e}"


def verdict_sentence(report: dict[str, Any]) -> str:
    verdict = report["verdict"]
    if verdict == "insufficient_data":
        return "Verdict: not enough decisive votes yet."
    if not verdict.startswith("between:"):
        return f"Verdict: {BAND_LABELS[verdict].lower()}."
    low, high = verdict.removeprefix("between:").split("..")
    text = f"Verdict: between {BAND_LABELS[low].lower()} and {BAND_LABELS[high].lower()}"
    more, decisive = report.get("additional_votes"), report.get("additional_decisive_votes")
    if more is None:
        return text + " (the estimate sits on a band edge: more votes may not settle it)."
    return f"{text}; about {more:,} more votes ({decisive:,} decisive) would settle it at the current rate."


def report_text(report: dict[str, Any]) -> str:
    """A paragraph a PM can paste into a release note."""
    campaign = report["campaign"]
    head = f"{campaign['candidate']} vs {campaign['baseline']}"
    who = "the fine-tune" if campaign.get("candidate_parent") else "the candidate"
    n_votes = report["n_votes"]
    raters = f" from {report['n_raters']:,} raters" if report.get("n_raters") else ""
    context = (
        f"{n_votes:,} votes{raters} over {report['n_prompts']:,} prompts; "
        f"{percent(report['tie_rate'], 0)} ties, {percent(report['both_bad_rate'], 0)} both bad"
    )
    if report["n_decisive"] == 0:
        sentences = [f"{head}: no decisive votes yet ({context})."]
    else:
        sentences = [
            f"{head}: {who} is preferred in {percent(report['support_rate'])} of decisive votes "
            f"({report['confidence'] * 100:g}% CI {_range(report['ci_low'], report['ci_high'])}, "
            f"{context})."
        ]
    sentences.append(verdict_sentence(report))
    if report["n_decisive"]:
        sentences.append(
            "The exact test against 50% gives "
            + p_value_phrase(report["p_value"], report.get("log10_p"))
            + "."
        )
        if report["ci_method"] == "wilson_neff":
            sentences.append(
                f"The interval allows for several votes per prompt (design effect "
                f"{report['design_effect']:.2f})."
            )
        if campaign["status"] != "closed":
            sentences.append(
                "While votes are still coming in, the interval that stays valid however often "
                f"it is checked is {_range(report['anytime_ci_low'], report['anytime_ci_high'])}."
            )
    if report.get("n_simulated"):
        sentences.append(f"Includes {report['n_simulated']:,} simulated votes.")
    sentences += quality_sentences(report.get("quality"))
    return " ".join(sentences)


def quality_sentences(quality: dict[str, Any] | None) -> list[str]:
    """Checks left out of the rate, and excluded raters with the rate before the exclusion."""
    if not quality:
        return []
    sentences = []
    if quality["check_answers"]:
        sentences.append(
            f"{quality['check_answers']:,} answers to gold items and attention checks are left "
            f"out of the rate ({percent(quality['check_accuracy'], 0)} correct)."
        )
    before = quality.get("before_exclusion")
    if before:
        n_raters = len(quality["excluded_raters"])
        sentences.append(
            f"{quality['n_excluded_votes']:,} votes of {n_raters:,} excluded "
            f"rater{'s' if n_raters != 1 else ''} are left out; with them the rate was "
            f"{percent(before['support_rate'])} (95% CI {_range(before['ci_low'], before['ci_high'])})."
        )
    return sentences


def breakdown_lines(report: dict[str, Any], by: tuple[str, ...]) -> list[str]:
    """One line per slice of the asked-for breakdowns, for the text format."""
    lines = []
    for kind in by:
        rows = report.get(f"by_{kind}", [])
        if rows:
            lines.append(f"By {kind}:")
        for row in rows:
            rate = row.get("support_rate") if kind != "day" else row.get("cum_support_rate")
            if kind == "day":
                lines.append(
                    f"  {row['day']}: {row['n_votes']:,} votes, cumulative {percent(rate)} "
                    f"(anytime-valid {_range(row['anytime_ci_low'], row['anytime_ci_high'])})"
                )
                continue
            ci = _range(row.get("ci_low"), row.get("ci_high"))
            tail = (
                f", agrees with the majority {percent(row['agreement_with_majority'], 0)}"
                if kind == "rater" and row.get("agreement_with_majority") is not None
                else ""
            )
            flag = " [outlier]" if row.get("outlier") else ""
            verdict = row.get("verdict")
            verdict_text = f": {_verdict_words(verdict)}" if verdict else ""
            lines.append(
                f"  {row['slice']}: {percent(rate)} (95% CI {ci}, {row['n_votes']:,} votes)"
                f"{verdict_text}{tail}{flag}"
            )
    return lines


def _verdict_words(verdict: str) -> str:
    if verdict.startswith("between:"):
        low, high = verdict.removeprefix("between:").split("..")
        return f"between {BAND_LABELS[low].lower()} and {BAND_LABELS[high].lower()}"
    return BAND_LABELS.get(verdict, verdict).lower()
