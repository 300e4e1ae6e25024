from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The contact center's shared domain: contacts, conversations, messages, the ledger."""

    name = "contactcenter.core"
    label = "core"
    verbose_name = "Contact center"
