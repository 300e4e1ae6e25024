from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The agent's doors: the inbox and conversation pages, and the conversations REST API."""

    name = "console"
