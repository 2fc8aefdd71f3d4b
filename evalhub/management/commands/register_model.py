"""python manage.py register_model NAME [--parent BASE] [--backend openai|local|imported] ..."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser
from django.db import transaction

from evalhub.management.commands._base import ServiceCommand
from evalhub.models import ModelVersion
from evalhub.selectors.campaigns import model_version_get_by_name
from evalhub.services.audit import audit_record, audit_snapshot


class Command(ServiceCommand):
    help = "Register a model version (a base model, or an adapter with --parent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--parent", help="Name of the base this version derives from.")
        parser.add_argument("--backend", choices=ModelVersion.Backend.values, default="imported")
        parser.add_argument("--endpoint", default="", help="OpenAI-compatible base URL (vLLM).")
        parser.add_argument(
            "--served-name", default="", help="The `model` field sent to the server."
        )
        parser.add_argument("--path", default="", help="Local weights or adapter folder.")
        parser.add_argument("--method", choices=ModelVersion.Method.values, default=None)
        parser.add_argument("--temperature", type=float, default=0.7)
        parser.add_argument("--top-p", type=float, default=1.0)
        parser.add_argument("--max-tokens", type=int, default=256)
        parser.add_argument("--seed", type=int, default=None)

    def run(self, *args: Any, **o: Any) -> None:
        if ModelVersion.objects.filter(name=o["name"]).exists():
            raise CommandError(f"A model version named {o['name']!r} already exists.")
        parent = model_version_get_by_name(o["parent"]) if o["parent"] else None
        model = ModelVersion(
            name=o["name"],
            parent=parent,
            backend=o["backend"],
            endpoint=o["endpoint"],
            served_name=o["served_name"] or o["name"],
            path=o["path"],
            method=o["method"] or ("lora" if parent else "base"),
            temperature=o["temperature"],
            top_p=o["top_p"],
            max_tokens=o["max_tokens"],
            seed=o["seed"],
        )
        try:
            model.full_clean()
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from exc
        with transaction.atomic():
            model.save()
            audit_record(action="modelversion.create", obj=model, after=audit_snapshot(model))
        self.stdout.write(f"registered model version {model.name} (id {model.pk})")
