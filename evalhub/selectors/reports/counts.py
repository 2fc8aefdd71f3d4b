"""Database aggregation of live votes into numpy arrays for evalhub.stats.

Every function runs one grouped query (``values_list().annotate(Count(..., filter=...))``) and
hands back arrays of per-group counts: the database does the counting, Python only sees one row
per prompt (or label, rater, day), never one row per vote. Live votes are those no correction has
superseded; simulated votes are kept unless the caller leaves them out (reports count them).
Votes on gold items and attention checks are quality checks, not judgements of the models, and
votes of raters excluded from a campaign (``RaterExclusion``) are left out too; both filters run
in the database (``quality_filtered``), and ``quality=False`` gives the votes before exclusion.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Least, Substr, TruncDate
from django.utils import timezone

from evalhub.models import Comparison, Prompt, RaterExclusion, Vote
from evalhub.models.campaigns import Choice, Outcome, Side
from evalhub.stats._arrays import IntArray

DECISIVE = (Outcome.CANDIDATE, Outcome.BASELINE)
#: Columns of every counts matrix: W (candidate better), L (baseline better), T, B.
OUTCOME_COLUMNS = ("wins", "losses", "ties", "both_bad")
TIME_BUCKET_MS = 1000  # resolution of the per-rater time histogram (median time)
TIME_CAP_S = 3600  # longer times (a tab left open) fall into the last bucket


def superseded_vote_ids() -> QuerySet[Vote]:
    return Vote.objects.filter(supersedes__isnull=False).values("supersedes_id")


def quality_filtered(
    votes: QuerySet[Vote], campaign_ids: Sequence[int] | None, *, exclusions: bool = True
) -> QuerySet[Vote]:
    """Leave out votes on gold comparisons and (with ``exclusions``) votes of excluded raters.

    Both are uncorrelated ``NOT IN`` lists when one campaign is asked for (read once through
    their indexes and hashed, like the superseded ids); over several campaigns the exclusion
    must match the vote's own campaign, so it is a ``NOT EXISTS`` on (campaign, rater).
    """
    gold = Comparison.objects.filter(is_gold=True)
    if campaign_ids is not None:
        gold = gold.filter(campaign_id__in=list(campaign_ids))
    votes = votes.exclude(comparison_id__in=gold.values("pk"))
    if not exclusions:
        return votes
    if campaign_ids is not None and len(campaign_ids) == 1:
        excluded = RaterExclusion.objects.filter(campaign_id=campaign_ids[0]).values("rater_id")
        return votes.exclude(rater_id__in=excluded)
    same_campaign = RaterExclusion.objects.filter(
        campaign_id=OuterRef("campaign_id"), rater_id=OuterRef("rater_id")
    )
    return votes.filter(~Exists(same_campaign))


def live_votes(
    campaign_ids: Sequence[int], *, include_simulated: bool = True, quality: bool = True
) -> QuerySet[Vote]:
    """Votes that count: not superseded by a correction (and not simulated, when asked), not on
    a gold item, not from an excluded rater (``quality=False``: excluded raters' votes stay).

    The same rows as ``superseded_by__isnull=True``, written as ``NOT IN (ids that a correction
    supersedes)``: Django compiles the reverse one-to-one test to ``LEFT JOIN ... WHERE id IS
    NULL``, which PostgreSQL neither turns into an anti-join nor estimates (it assumes 1 row), so
    joins over it became nested loops (minutes on 100k votes). The NOT IN list comes from the
    unique index on ``supersedes_id`` and is hashed once.
    """
    votes = Vote.objects.filter(campaign_id__in=list(campaign_ids)).exclude(
        pk__in=superseded_vote_ids()
    )
    if not include_simulated:
        votes = votes.filter(is_simulated=False)
    return quality_filtered(votes, list(campaign_ids), exclusions=quality).order_by()


def _outcome_counts() -> dict[str, Count]:
    return {
        name: Count("pk", filter=Q(outcome=outcome))
        for name, outcome in zip(OUTCOME_COLUMNS, Outcome.values, strict=True)
    }


def _rows(queryset: QuerySet[Any]) -> list[tuple[Any, ...]]:
    """Rows of a ``values_list().annotate()`` query without Django's per-cell converters.

    Both drivers return the ids and counts as ints already; the converters only cost time
    (about 1 s per 100,000 groups of nine counts). The query itself is still built by the ORM.
    """
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _int_matrix(rows: list[tuple[Any, ...]], start: int, width: int) -> IntArray:
    """Columns start..start+width of the rows as an int64 (rows, width) array."""
    flat = itertools.chain.from_iterable(row[start : start + width] for row in rows)
    return np.fromiter(flat, dtype=np.int64, count=len(rows) * width).reshape(len(rows), width)


@dataclass(frozen=True)
class VoteGroups:
    """Live votes grouped by (campaign, prompt, item, channel): the campaign's sufficient statistics.

    An item is what several raters judged: the comparison, or the prompt for imported votes that
    have none (stored as −prompt id so the two never collide).
    """

    campaign_id: IntArray
    prompt_id: IntArray
    item_id: IntArray
    channel: IntArray  # index into ``channels``
    channels: tuple[str, ...]  # distinct channel names, sorted
    counts: IntArray  # (groups, 4): W, L, T, B
    ft_left: IntArray  # (groups, 2): W, L among pairwise votes with the candidate shown left
    ft_right: IntArray  # (groups, 2): the same with the candidate shown right
    simulated: IntArray  # simulated votes per group

    @property
    def size(self) -> int:
        return int(self.prompt_id.size)


def vote_groups(campaign_ids: Sequence[int], *, include_simulated: bool = True) -> VoteGroups:
    """One query: per (campaign, prompt, comparison, channel) outcome and position counts."""
    sided = {
        f"{outcome}_{side}": Count(
            "pk", filter=Q(kind=Vote.Kind.PAIRWISE, outcome=outcome, candidate_side=side)
        )
        for side in (Side.LEFT, Side.RIGHT)
        for outcome in DECISIVE
    }
    rows = _rows(
        live_votes(campaign_ids, include_simulated=include_simulated)
        .values_list("campaign_id", "prompt_id", "comparison_id", "channel")
        .annotate(**_outcome_counts(), **sided, simulated=Count("pk", filter=Q(is_simulated=True)))
    )
    ids = _int_matrix([(c, p, -p if i is None else i) for c, p, i, *_ in rows], 0, 3)
    numbers = _int_matrix(rows, 4, 9)
    channels = sorted({row[3] for row in rows})
    code = {name: i for i, name in enumerate(channels)}
    return VoteGroups(
        campaign_id=ids[:, 0],
        prompt_id=ids[:, 1],
        item_id=ids[:, 2],
        channel=np.fromiter((code[row[3]] for row in rows), dtype=np.int64, count=len(rows)),
        channels=tuple(channels),
        counts=numbers[:, 0:4],
        ft_left=numbers[:, 4:6],
        ft_right=numbers[:, 6:8],
        simulated=numbers[:, 8],
    )


def prompt_counts(
    campaign_ids: Sequence[int], *, include_simulated: bool = True, quality: bool = True
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Per (campaign, prompt): W, L, T, B and simulated votes (the dashboard list's one query;
    with ``quality=False`` the report's support rate before exclusions)."""
    rows = _rows(
        live_votes(campaign_ids, include_simulated=include_simulated, quality=quality)
        .values_list("campaign_id", "prompt_id")
        .annotate(**_outcome_counts(), simulated=Count("pk", filter=Q(is_simulated=True)))
    )
    numbers = _int_matrix(rows, 0, 7)
    return numbers[:, 0], numbers[:, 1], numbers[:, 2:6], numbers[:, 6]


@dataclass(frozen=True)
class LabelGroups:
    """Live votes per (label, prompt). A vote counts toward every label of its prompt."""

    label_id: IntArray
    prompt_id: IntArray
    counts: IntArray  # (groups, 4)


def prompt_label_links(campaign_id: int) -> tuple[IntArray, IntArray]:
    """(prompt id, label id) for each label of each prompt voted on in the campaign.

    Not filtered for superseded votes: a prompt left without live votes finds no counts in
    ``label_groups`` and drops out, and the semi-join then reads only the (campaign, prompt,
    outcome) index of the votes.
    """
    voted = Vote.objects.filter(campaign_id=campaign_id).values("prompt_id")
    through = Prompt.labels.through
    rows = _rows(
        through.objects.filter(prompt_id__in=voted).order_by().values_list("prompt_id", "label_id")
    )
    links = _int_matrix(rows, 0, 2)
    return links[:, 0], links[:, 1]


def label_groups(
    prompt_ids: IntArray, per_prompt: IntArray, links: tuple[IntArray, IntArray]
) -> LabelGroups:
    """Per (label, prompt) counts: each label gets the database's per-prompt counts of its prompts.

    The votes were counted per prompt in the database (``vote_groups``); a label is a property of
    a prompt, so its counts are a gather over those rows (the same numbers as grouping the votes
    by label in SQL, without a second pass over the votes: 2-3x faster at a million votes).
    ``prompt_ids`` must be sorted (as ``group_sums`` returns them).
    """
    link_prompt, link_label = links
    if prompt_ids.size == 0 or link_prompt.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return LabelGroups(empty, empty, np.zeros((0, 4), dtype=np.int64))
    position = np.minimum(np.searchsorted(prompt_ids, link_prompt), prompt_ids.size - 1)
    voted = prompt_ids[position] == link_prompt
    return LabelGroups(link_label[voted], link_prompt[voted], per_prompt[position[voted]])


@dataclass(frozen=True)
class RaterGroups:
    """Live votes per rater (a user, or an external judge for imported votes)."""

    rater_id: tuple[int | None, ...]
    judge: tuple[str, ...]
    counts: IntArray  # (raters, 4)
    left_picks: IntArray  # decisive pairwise votes for the answer shown on the left
    sided: IntArray  # decisive pairwise votes (left or right picked)
    time_histogram: list[tuple[int | None, str, int, int]]  # (rater, judge, whole seconds, votes)


def rater_groups(campaign_id: int, *, include_simulated: bool = True) -> RaterGroups:
    """One query per (rater, whole seconds taken): the rater totals and their time histograms.

    Splitting by the time bucket costs a few thousand rows more than grouping by rater alone and
    saves a second pass over the votes for the median times.
    """
    pairwise_pick = Q(kind=Vote.Kind.PAIRWISE, choice__in=[Choice.LEFT, Choice.RIGHT])
    bucket = Least(F("time_taken_ms") / TIME_BUCKET_MS, Value(TIME_CAP_S))
    rows = _rows(
        live_votes([campaign_id], include_simulated=include_simulated)
        .values_list("rater_id", "judge", bucket)
        .annotate(
            **_outcome_counts(),
            left_picks=Count("pk", filter=pairwise_pick & Q(choice=Choice.LEFT)),
            sided=Count("pk", filter=pairwise_pick),
        )
    )
    keys = sorted({(r[0], r[1]) for r in rows}, key=lambda k: (k[0] is None, k[0] or 0, k[1]))
    code = {key: i for i, key in enumerate(keys)}
    index = np.fromiter((code[(r[0], r[1])] for r in rows), dtype=np.int64, count=len(rows))
    numbers = np.zeros((len(keys), 6), dtype=np.int64)
    np.add.at(numbers, index, _int_matrix(rows, 3, 6))
    return RaterGroups(
        rater_id=tuple(k[0] for k in keys),
        judge=tuple(k[1] for k in keys),
        counts=numbers[:, 0:4],
        left_picks=numbers[:, 4],
        sided=numbers[:, 5],
        time_histogram=[(r[0], r[1], int(r[2]), sum(r[3:7])) for r in rows if r[2] is not None],
    )


def rater_majority_agreement(
    campaign_id: int, *, include_simulated: bool = True
) -> list[tuple[int | None, str, int, int]]:
    """(rater id, judge, votes on items with another vote, votes agreeing with the others).

    A vote agrees when its outcome is among the most frequent outcomes of the *other* votes on
    the same item. This joins each vote to its item's totals, which the ORM cannot express as a
    grouped join, so it is one SQL statement over the ORM's own live-vote query (the superseded
    and simulated filters stay in one place). Still one row per rater comes back.
    """
    live = live_votes([campaign_id], include_simulated=include_simulated).values(
        "rater_id", "judge", "outcome", "comparison_id", "prompt_id"
    )
    live_sql, live_params = live.query.sql_with_params()
    outcome_cols = ("n_w", "n_l", "n_t", "n_b")
    sums = ", ".join(
        f"SUM(CASE WHEN outcome = %s THEN 1 ELSE 0 END) AS {col}" for col in outcome_cols
    )
    agree_cases = " ".join(
        f"WHEN v.outcome = %s AND i.{col} >= 2 AND "
        + " AND ".join(f"i.{col} - 1 >= i.{other}" for other in outcome_cols if other != col)
        + " THEN 1"
        for col in outcome_cols
    )
    sql = f"""
        WITH live AS ({live_sql}),
        items AS (
            SELECT COALESCE(comparison_id, -prompt_id) AS item, {sums}
            FROM live GROUP BY COALESCE(comparison_id, -prompt_id)
        )
        SELECT v.rater_id, v.judge,
            SUM(CASE WHEN i.n_w + i.n_l + i.n_t + i.n_b >= 2 THEN 1 ELSE 0 END),
            SUM(CASE {agree_cases} ELSE 0 END)
        FROM live v JOIN items i ON i.item = COALESCE(v.comparison_id, -v.prompt_id)
        GROUP BY v.rater_id, v.judge
    """  # noqa: S608 - only our own column names are interpolated; values are parameters
    params = [*live_params, *Outcome.values, *Outcome.values]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(r[0], r[1], int(r[2] or 0), int(r[3] or 0)) for r in cursor.fetchall()]


@dataclass(frozen=True)
class DayGroups:
    day: tuple[date, ...]
    counts: IntArray  # (days, 4), in date order


def _day() -> Any:
    """The vote's calendar day in the current time zone.

    SQLite evaluates ``TruncDate`` with a Python function per row (about 10 s per million
    votes); it stores UTC datetimes as ISO text, so in UTC the day is the first ten characters.
    """
    if connection.vendor == "sqlite" and timezone.get_current_timezone_name() == "UTC":
        return Substr("created_at", 1, 10)
    return TruncDate("created_at")


def day_groups(campaign_id: int, *, include_simulated: bool = True) -> DayGroups:
    rows = _rows(
        live_votes([campaign_id], include_simulated=include_simulated)
        .annotate(day=_day())
        .values_list("day")
        .annotate(**_outcome_counts())
        .order_by("day")
    )
    days = tuple(d if isinstance(d, date) else date.fromisoformat(str(d)[:10]) for d, *_ in rows)
    return DayGroups(days, _int_matrix(rows, 1, 4))


@dataclass(frozen=True)
class PairCells:
    """Live votes per (candidate model, baseline model) over campaigns, for Bradley–Terry."""

    candidate_id: IntArray
    baseline_id: IntArray
    counts: IntArray  # (pairs, 4)


def model_pair_cells(model_ids: Iterable[int]) -> PairCells:
    ids = list(model_ids)
    votes = Vote.objects.filter(
        campaign__candidate_id__in=ids, campaign__baseline_id__in=ids
    ).exclude(pk__in=superseded_vote_ids())
    rows = _rows(
        quality_filtered(votes, None)
        .order_by()
        .values_list("campaign__candidate_id", "campaign__baseline_id")
        .annotate(**_outcome_counts())
    )
    pairs = _int_matrix(rows, 0, 2)
    return PairCells(pairs[:, 0], pairs[:, 1], _int_matrix(rows, 2, 4))


def group_sums(keys: Sequence[IntArray], values: IntArray) -> tuple[list[IntArray], IntArray]:
    """Sum the rows of ``values`` (n, k) over equal key tuples: (unique key columns, sums).

    Key columns are encoded into one int64 code (mixed radix over each column's distinct
    values), so this is a 1-D ``np.unique`` plus ``np.add.at``: linear-log in the rows.
    """
    width = values.shape[1]
    if not keys or keys[0].size == 0:
        return [np.zeros(0, dtype=np.int64) for _ in keys], np.zeros((0, width), dtype=np.int64)
    code = np.zeros(keys[0].size, dtype=np.int64)
    levels = []
    for column in keys:
        distinct, inverse = np.unique(column, return_inverse=True)
        code = code * distinct.size + inverse.ravel()
        levels.append(distinct)
    unique_code, inverse = np.unique(code, return_inverse=True)
    sums = np.zeros((unique_code.size, width), dtype=np.int64)
    np.add.at(sums, inverse.ravel(), values)
    columns = []
    for distinct in reversed(levels):
        columns.append(distinct[unique_code % distinct.size])
        unique_code = unique_code // distinct.size
    return columns[::-1], sums
