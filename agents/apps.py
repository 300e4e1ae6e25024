from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AgentsConfig(AppConfig):
    """The people of the contact center: agents, teams, roles and presence."""

    name = "agents"

    def ready(self) -> None:
        from agents.roles import sync_roles_after_migrate

        # Permissions exist only after migrate has run, so the role groups are
        # (re)built then: every deployment gets them without a manual step.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="agents.sync_roles")
