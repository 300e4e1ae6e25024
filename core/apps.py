from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    """The contact center's shared domain: contacts, conversations, messages, the ledger, roles."""

    name = "core"
    label = "core"
    verbose_name = "Contact center"

    def ready(self) -> None:
        from core.roles import sync_roles_after_migrate
        from core.socket_sessions import connect_receivers

        # Permissions exist only after migrate has run, so the role groups are
        # (re)built then: every deployment gets them without a manual step.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="core.sync_roles")
        # Logout, a role changed, a user deactivated or deleted: their open sockets close.
        connect_receivers()
