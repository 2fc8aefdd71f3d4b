"""python manage.py feedback_client NAME [--support-system]

Creates (or updates) an account for a product and prints its API token. The account holds only
``feedback.send_feedback`` (thumbs and n-way choices), or with ``--support-system`` also
``feedback.push_conversations`` (queue conversations, read replies): a token that can be put in
a web page can do nothing else.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import CommandParser
from django.db import transaction
from rest_framework.authtoken.models import Token

from evalhub.management.commands._base import ServiceCommand
from evalhub.roles import forget_cached_perms
from evalhub.services.errors import InvalidInput


class Command(ServiceCommand):
    help = "Create a product account that can only send feedback, and print its API token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Username of the product account, e.g. web-shop.")
        parser.add_argument(
            "--support-system",
            action="store_true",
            help="Also allow pushing workbench conversations and reading replies.",
        )

    def run(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        if not name:
            raise InvalidInput("A name is required.")
        codenames = ["send_feedback"] + (
            ["push_conversations"] if options["support_system"] else []
        )
        with transaction.atomic():
            user, created = get_user_model().objects.get_or_create(username=name)
            if created:
                user.set_unusable_password()
                user.save()
            user.user_permissions.add(
                *Permission.objects.filter(
                    content_type__app_label="feedback", codename__in=codenames
                )
            )
            token, _ = Token.objects.get_or_create(user=user)
        forget_cached_perms(user.pk)
        self.stderr.write(
            f"{'created' if created else 'updated'} {name!r}: may {' and '.join(codenames)}"
        )
        self.stdout.write(token.key)
