"""The whole loop, once, through the public interfaces only: the CLI, the REST API and the pages
in a real browser.

import prompts -> build and register the tiny models -> create a campaign -> generate (the job run
by `manage.py worker`) -> rate (in Chromium and through the rater API) -> report (CLI and API)
-> preference pairs -> dataset version (frozen, exported) -> DPO on the tiny model -> the new
model version -> its follow-up campaign generated and rated -> the leaderboard shows the versions.

Every step checks real behaviour against what the test itself did: the votes it cast (tallied
here from the texts it was shown, not from the database's outcome column) give the report's
counts and support rate, and the pairs it should yield; the export holds the train split; the new
version's parent, method and files; the follow-up's prompts are the dataset's test split. The
pages it passes through are saved as the README's screenshots.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import zlib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from evalhub.generation.corpus import demo_prompts_path
from evalhub.models import Assignment, Campaign, Job, ModelVersion, Output, Vote
from evalhub.services.generation import backends_close_all
from tests.browser import SCREENSHOTS, log_in, screenshot
from training.models import DatasetItem, DatasetVersion, PreferencePair, TrainingRun

pytestmark = [
    pytest.mark.ml,
    pytest.mark.browser,
    pytest.mark.skipif(importlib.util.find_spec("trl") is None, reason="needs the ml extra"),
    pytest.mark.django_db(transaction=True),
]

PASSWORD = "e2e-password-1"
N_PROMPTS = 42
# A shortened build of the demo models (about 25 s): the base answers curtly in words, the
# adapter warmly and at more length (the raters below prefer fuller answers).
SHORT_BUILD = ["base_steps=100", "adapter_steps=30"]
DPO_CONFIG = Path(__file__).resolve().parent.parent / "scripts" / "demo_dpo.json"
KEYS = {"left": "1", "right": "2", "tie": "3", "both_bad": "4"}


def cli(*argv: str) -> str:
    """Run a manage.py command; its stdout (progress bars go to a discarded stderr)."""
    out = io.StringIO()
    call_command(*argv, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def judge(left: str, right: str, rater: int) -> str:
    """A rater's taste: the fuller answer, with some ties, some both-bad and some contrarian
    votes. It depends on the two texts only (not on their order or the side they are on), so
    the same outputs always get the same votes and the screenshots stay the same."""
    key = zlib.crc32("\n".join(sorted((left, right))).encode()) + rater
    if key % 7 == 0 or len(left) == len(right):
        return "tie"
    if rater == 2 and key % 11 == 5:
        return "both_bad"
    longer = "left" if len(left) > len(right) else "right"
    if rater == 3 and key % 4 == 1:
        return "right" if longer == "left" else "left"
    return longer


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text)[:10]


class Ballot:
    """The votes this test cast, with the outcomes it worked out from what it was shown."""

    def __init__(self) -> None:
        self.outcomes: dict[str, str] = {}  # assignment token -> outcome
        self.per_comparison: dict[int, Counter[str]] = defaultdict(Counter)

    def add(self, token: str, choice: str, candidate_side: str) -> None:
        """``candidate_side``: where this test saw the candidate's answer (left or right)."""
        if choice in ("tie", "both_bad"):
            outcome = choice
        else:
            outcome = "candidate" if choice == candidate_side else "baseline"
        self.outcomes[token] = outcome
        comparison_id = Assignment.objects.get(token=token).comparison_id
        self.per_comparison[comparison_id][outcome] += 1

    def tally(self) -> Counter[str]:
        return Counter(self.outcomes.values())

    def expected_pairs(self) -> int:
        """Comparisons whose single most frequent outcome is a win for one side."""
        pairs = 0
        for counts in self.per_comparison.values():
            top = max(counts.values())
            leaders = [o for o, n in counts.items() if n == top]
            pairs += len(leaders) == 1 and leaders[0] in ("candidate", "baseline")
        return pairs


def candidate_side(token: str, left: str, right: str, *, rendered: bool) -> str:
    """Which side shows the candidate's output, found by comparing the shown texts with the two
    outputs of the comparison (raw texts from the API; the rendered page's words)."""
    comparison = (
        Assignment.objects.select_related(
            "comparison__candidate_output", "comparison__baseline_output"
        )
        .get(token=token)
        .comparison
    )
    same = (lambda a, b: _words(a) == _words(b)) if rendered else (lambda a, b: a == b)
    candidate, baseline = comparison.candidate_output.text, comparison.baseline_output.text
    if same(candidate, baseline):  # two models wrote the same words: only the server knows
        return Assignment.objects.get(token=token).candidate_side
    if same(left, candidate) and same(right, baseline):
        return "left"
    assert same(left, baseline) and same(right, candidate), (left, right)
    return "right"


def rate_in_browser(page: Any, base_url: str, campaign: Campaign, ballot: Ballot, *,
                    rater: int, votes: int) -> None:  # fmt: skip
    page.goto(f"{base_url}/rate/{campaign.pk}/")
    for _ in range(votes):
        token = page.locator('input[name="token"]').input_value()
        left = page.locator(".answer-left .md").inner_text().strip()
        right = page.locator(".answer-right .md").inner_text().strip()
        side = candidate_side(token, left, right, rendered=True)
        # The rater's taste reads the answers' own text (the page shows it rendered).
        comparison = Assignment.objects.get(token=token).comparison
        texts = {"candidate": comparison.candidate_output.text,
                 "baseline": comparison.baseline_output.text}  # fmt: skip
        other = "right" if side == "left" else "left"
        raw = {side: texts["candidate"], other: texts["baseline"]}
        choice = judge(raw["left"], raw["right"], rater)
        with page.expect_navigation():
            page.keyboard.press(KEYS[choice])
        assert page.locator(".message.success").inner_text() == "Vote recorded."
        ballot.add(token, choice, side)


def rate_by_api(token: str, campaign: Campaign, ballot: Ballot, *, rater: int) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    cast = 0
    while True:
        response = client.get(f"/api/v1/campaigns/{campaign.pk}/next")
        if response.status_code == 204:
            return cast
        assert response.status_code == 200, response.content
        item = response.json()
        left, right = item["left"]["text"], item["right"]["text"]
        choice = judge(left, right, rater)
        vote = client.post(
            "/api/v1/votes", {"token": item["token"], "choice": choice}, format="json"
        )
        assert vote.status_code == 201, vote.content
        ballot.add(
            item["token"], choice, candidate_side(item["token"], left, right, rendered=False)
        )
        cast += 1


def check_report(campaign: Campaign, ballot: Ballot, pm_token: str) -> dict[str, Any]:
    """The report (CLI JSON and API) counts exactly the votes cast, and rates them right."""
    report = json.loads(cli("report", str(campaign.pk), "--format", "json"))
    tally = ballot.tally()
    assert report["n_votes"] == sum(tally.values()) == len(ballot.outcomes)
    assert (report["wins"], report["losses"], report["ties"], report["both_bad"]) == (
        tally["candidate"], tally["baseline"], tally["tie"], tally["both_bad"]
    )  # fmt: skip
    decisive = tally["candidate"] + tally["baseline"]
    assert report["support_rate"] == pytest.approx(tally["candidate"] / decisive, abs=1e-12)
    assert report["ci_low"] <= report["support_rate"] <= report["ci_high"]
    assert report["verdict"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {pm_token}")
    from_api = api.get(f"/api/v1/campaigns/{campaign.pk}/report?by=label").json()
    for key in ("n_votes", "wins", "losses", "ties", "both_bad", "support_rate", "verdict"):
        assert from_api[key] == report[key], key
    return report


def test_the_whole_loop_through_cli_api_and_browser(live_server, new_browser_context, tmp_path,
                                                    settings):  # fmt: skip
    settings.DATA_DIR = tmp_path / "var"
    url = live_server.url

    # -- People: one per role, through the CLI (it prints their API tokens). -----------------
    tokens = {}
    for username, role in (("pm", "pm"), ("rater1", "rater"), ("rater2", "rater"),
                           ("rater3", "rater")):  # fmt: skip
        tokens[username] = cli("adduser", username, "--role", role, "--password", PASSWORD).strip()
        assert re.fullmatch(r"[0-9a-f]{40}", tokens[username])

    # -- Prompts: a slice of the bundled customer-service set, every label. ------------------
    rows = [json.loads(line) for line in demo_prompts_path().read_text().splitlines() if line]
    chosen = [rows[i * len(rows) // N_PROMPTS] for i in range(N_PROMPTS)]
    prompts_file = tmp_path / "prompts.jsonl"
    prompts_file.write_text("".join(json.dumps(row) + "\n" for row in chosen))
    imported = json.loads(cli("import_prompts", str(prompts_file), "--json", "--no-progress"))
    assert imported["created"] == N_PROMPTS, imported

    # -- Models: the tiny base and its LoRA adapter, built here and registered. -------------
    argv = ["build_demo_models", "--out", str(tmp_path / "models")]
    for pair in SHORT_BUILD:
        argv += ["--set", pair]
    assert "registered tiny-cs-base" in cli(*argv)
    base = ModelVersion.objects.get(name="tiny-cs-base")
    warm = ModelVersion.objects.get(name="tiny-cs-warm")
    assert (warm.parent, warm.backend, warm.method) == (base, "local", "lora")

    # -- Campaign and generation: queued by the CLI, run by the worker. ----------------------
    cli("create_campaign", "warm vs base", "--baseline", base.name, "--candidate", warm.name,
        "--all-prompts", "--votes-per-prompt", "3", "--rater-title", "Support replies")  # fmt: skip
    campaign = Campaign.objects.get(name="warm vs base")
    assert campaign.status == "draft"
    assert "queued job" in cli("generate", campaign.name)
    cli("worker", "--batch")
    campaign.refresh_from_db()
    job = Job.objects.get(kind="generate", campaign=campaign)
    assert (job.state, job.result["generated"], job.result["failed"]) == ("succeeded", 84, 0)
    assert campaign.status == "open" and campaign.comparisons.count() == N_PROMPTS
    outputs = Output.objects.filter(prompt__campaigns=campaign, origin="generated")
    assert outputs.filter(model_version=base).count() == outputs.filter(model_version=warm).count()
    assert all(o.text.strip() and o.params.get("temperature") == 0.0 for o in outputs)

    # -- Rating: some votes in Chromium with the keyboard, the rest through the rater API. --
    ballot = Ballot()
    page = new_browser_context().new_page()
    log_in(page, url, "rater1", PASSWORD, next_path="/rate/")
    assert "Support replies" in page.content() and "tiny-cs" not in page.content()
    rate_in_browser(page, url, campaign, ballot, rater=1, votes=4)
    for n, name in enumerate(("rater1", "rater2", "rater3"), start=1):
        rate_by_api(tokens[name], campaign, ballot, rater=n)
    assert len(ballot.outcomes) == 3 * N_PROMPTS == Vote.objects.filter(campaign=campaign).count()
    for token, outcome in ballot.outcomes.items():  # stored as the test worked it out
        assert Vote.objects.get(assignment__token=token).outcome == outcome
    assert not Vote.objects.filter(is_simulated=True).exists()

    # -- Report: CLI JSON and API agree with the ballot. ------------------------------------
    report = check_report(campaign, ballot, tokens["pm"])
    assert report["support_rate"] > 0.5  # the fuller (warm) answers won
    assert {row["label"] for row in report["by_label"]} >= {"refund", "shipping", "billing"}

    # -- Pairs and a dataset version, frozen and exported. ----------------------------------
    built = cli("build_pairs", "--source", "pairwise")
    expected_pairs = ballot.expected_pairs()
    assert f"pairwise: {expected_pairs} pairs" in built
    pairs = PreferencePair.objects.filter(source="pairwise", campaign=campaign)
    assert pairs.count() == expected_pairs > 20
    for pair in pairs.select_related("chosen_output"):
        comparison = campaign.comparisons.get(prompt=pair.prompt)
        counts = ballot.per_comparison[comparison.pk]
        winner = "candidate" if counts["candidate"] > counts["baseline"] else "baseline"
        assert pair.chosen_output_id == getattr(comparison, f"{winner}_output_id")
    cli("dataset_freeze", "prefs-v1", "--split", "70/15/15", "--seed", "1")
    dataset = DatasetVersion.objects.get(name="prefs-v1")
    split = Counter(DatasetItem.objects.filter(dataset=dataset, pair__isnull=False)
                    .values_list("split", flat=True))  # fmt: skip
    assert sum(split.values()) == expected_pairs and min(split.values()) >= 1
    export = tmp_path / "train.jsonl"
    cli("dataset_export", dataset.name, "--format", "trl", "--split", "train", "--out", str(export))
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    assert len(lines) == split["train"]
    assert all({"prompt", "chosen", "rejected"} <= set(line) for line in lines)

    # -- DPO on the tiny model: the new version is registered with its follow-up campaign. ---
    trained = cli("train", "--dataset", dataset.name, "--from", warm.name, "--method", "dpo",
                  "--config", str(DPO_CONFIG), "--set", "max_steps=12", "--inline")  # fmt: skip
    run = TrainingRun.objects.get()
    assert run.status == "succeeded", run.job.error
    assert "registered model version" in trained and "follow-up campaign" in trained
    assert run.metrics[-1]["loss"] < run.metrics[0]["loss"]
    new = run.produced_model
    assert (new.parent, new.method, new.backend) == (base, "dpo", "local")
    assert (Path(new.path) / "adapter_config.json").is_file()
    lineage = APIClient()
    lineage.credentials(HTTP_AUTHORIZATION=f"Token {tokens['pm']}")
    info = lineage.get(f"/api/v1/training/models/{new.name}/lineage").json()
    assert (info["parent"], info["dataset"]) == (base.name, dataset.name)
    follow_up = run.follow_up_campaign
    assert (follow_up.candidate, follow_up.baseline) == (new, warm)  # against the current best
    test_prompts = set(DatasetItem.objects.filter(dataset=dataset, split="test")
                       .values_list("prompt_id", flat=True))  # fmt: skip
    assert set(follow_up.prompts.values_list("pk", flat=True)) == test_prompts

    # -- The follow-up: generated by the worker, then rated (browser and API). ---------------
    cli("worker", "--batch")
    follow_up.refresh_from_db()
    assert follow_up.status == "open" and follow_up.comparisons.count() == len(test_prompts)
    assert Output.objects.filter(model_version=new, origin="generated").count() == len(test_prompts)
    second = Ballot()
    page2 = new_browser_context().new_page()
    log_in(page2, url, "rater2", PASSWORD, next_path="/rate/")
    rate_in_browser(page2, url, follow_up, second, rater=2, votes=1)
    for n, name in enumerate(("rater1", "rater2", "rater3"), start=1):
        rate_by_api(tokens[name], follow_up, second, rater=n)
    assert len(second.outcomes) == 3 * len(test_prompts)
    check_report(follow_up, second, tokens["pm"])

    # -- The leaderboard: every version of the lineage, the new one among them. -------------
    pm_page = new_browser_context().new_page()
    log_in(pm_page, url, "pm", PASSWORD, next_path=f"/dashboard/{follow_up.pk}/")
    board = pm_page.locator("section", has=pm_page.get_by_role("heading", name="Model versions"))
    names = board.locator("tbody th").all_inner_texts()
    assert {re.sub(r"\s*\(anchor\)$", "", n.strip()) for n in names} == {
        base.name, warm.name, new.name
    }  # fmt: skip
    assert "(anchor)" in board.inner_text() and base.name in board.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    board.screenshot(path=str(SCREENSHOTS / "leaderboard.png"), animations="disabled")
    screenshot(pm_page, "dashboard-follow-up.png")

    # The run's page and the jobs page, as a PM sees them (README screenshots).
    pm_page.goto(f"{url}/training/runs/{run.pk}/")
    assert new.name in pm_page.content() and "succeeded" in pm_page.content()
    screenshot(pm_page, "training-run.png")
    pm_page.goto(f"{url}/jobs/")
    assert pm_page.locator("text=succeeded").count() >= 3  # 2 generations and the training
    screenshot(pm_page, "jobs.png")
    backends_close_all()
