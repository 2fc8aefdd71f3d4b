"""python manage.py import_outputs FILE [--format csv|jsonl|json] [--skip-bad] [--create-models]
[--source NAME]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from evalhub.management.commands.import_prompts import ImportCommand
from evalhub.services.imports import outputs_import


class Command(ImportCommand):
    help = (
        "Import model outputs from CSV or JSON Lines. Columns: prompt_external_id (or "
        "external_id / question_id), model (a model version name), text; optional "
        "sample_index, params (JSON object), latency_ms, prompt_tokens, completion_tokens."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--create-models",
            action="store_true",
            help="Register unknown model versions (backend imported) instead of failing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        data_source = self.data_source(options)
        self.run_import(
            options,
            lambda table, progress: outputs_import(
                table=table,
                skip_bad=options["skip_bad"],
                create_models=options["create_models"],
                data_source=data_source,
                progress=progress,
            ),
        )
