from django.apps import AppConfig


class AssistConfig(AppConfig):
    name = "assist"
    verbose_name = "assist"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from evalhub.roles import ensure_roles

        # Refresh the role groups once this app's permissions exist (pm: view_*, admin: all).
        post_migrate.connect(ensure_roles, sender=self, dispatch_uid="assist.ensure_roles")
