from django.apps import AppConfig


class EvalhubConfig(AppConfig):
    name = "evalhub"
    verbose_name = "evalhub"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from evalhub.roles import connect_cache_invalidation, ensure_roles

        # Roles are setup data, not business rules: (re)create the groups after every migrate,
        # when all permissions exist.
        post_migrate.connect(ensure_roles, sender=self, dispatch_uid="evalhub.ensure_roles")
        connect_cache_invalidation()
