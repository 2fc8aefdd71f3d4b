"""python manage.py adduser USERNAME --role rater|agent|pm|admin [--password P]: prints an API token."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evalhub.roles import ROLES
from evalhub.services.errors import ServiceError
from evalhub.services.users import user_create_with_role


class Command(BaseCommand):
    help = (
        "Create a user with a role (or add the role to an existing user) and print their API token."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument("--password", help="Without it the user can only use the API token.")
        parser.add_argument("--email", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = user_create_with_role(
                username=options["username"],
                role=options["role"],
                password=options["password"],
                email=options["email"],
            )
        except ServiceError as exc:
            raise CommandError(str(exc)) from exc
        verb = "created" if result.created else "updated"
        self.stderr.write(f"{verb} user {result.user.username} with role {options['role']}")
        self.stdout.write(result.token)
