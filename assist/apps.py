from django.apps import AppConfig


class AssistConfig(AppConfig):
    name = "assist"
    verbose_name = "assist"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from evalhub.roles import ensure_roles

        # Refresh the role groups once this app's permissions exist (pm: view_*, admin: all).
        post_migrate.connect(ensure_roles, sender=self, dispatch_uid="assist.ensure_roles")

        from django.db.models.signals import post_save

        from assist.signals import run_follows_job
        from evalhub.models import Job

        post_save.connect(run_follows_job, sender=Job, dispatch_uid="assist.run_follows_job")
