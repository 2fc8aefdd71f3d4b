from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "training"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from evalhub.roles import ensure_roles

        # evalhub refreshes the role groups after its own migrations, before training's
        # permissions exist; refresh them again once they do (pm: view_*, admin: all).
        post_migrate.connect(ensure_roles, sender=self, dispatch_uid="training.ensure_roles")
