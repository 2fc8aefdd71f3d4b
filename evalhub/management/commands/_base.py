"""Shared bits for evalhub's management commands: service errors become clear CLI errors."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from evalhub.services.errors import ServiceError


class ServiceCommand(BaseCommand):
    """Run ``run()``; a ServiceError is shown as a one-line error with a non-zero exit."""

    def handle(self, *args: Any, **options: Any) -> Any:
        try:
            return self.run(*args, **options)
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc

    def run(self, *args: Any, **options: Any) -> Any:
        raise NotImplementedError
