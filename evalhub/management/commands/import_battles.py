"""python manage.py import_battles FILE --campaign NAME --baseline MODEL --candidate MODEL
[--source NAME]: new prompts, outputs and the votes point to that registered data source."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from evalhub.management.commands.import_prompts import ImportCommand
from evalhub.services.imports import battles_import


class Command(ImportCommand):
    help = (
        "Record Chatbot Arena style battles (model_a, model_b, winner: model_a | model_b | tie "
        "| tie (bothbad); optional question_id, judge, tstamp, conversation_a/_b or "
        "prompt + answer_a/_b) between BASELINE and CANDIDATE as imported votes of CAMPAIGN, "
        "creating the models, prompts, outputs, campaign and comparisons that are missing. "
        "Other pairs are skipped; importing the same file again records nothing new."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--campaign", required=True, help="Campaign name (created if new).")
        parser.add_argument("--baseline", required=True, help="Baseline model version name.")
        parser.add_argument("--candidate", required=True, help="Candidate model version name.")

    def handle(self, *args: Any, **options: Any) -> None:
        data_source = self.data_source(options)
        self.run_import(
            options,
            lambda table, progress: battles_import(
                table=table,
                campaign_name=options["campaign"],
                baseline_name=options["baseline"],
                candidate_name=options["candidate"],
                skip_bad=options["skip_bad"],
                source=data_source.name if data_source is not None else table.filename,
                data_source=data_source,
                progress=progress,
            ),
        )
