from django.apps import AppConfig


class AgentsConfig(AppConfig):
    """The people of the contact center: agents, teams, skills and presence."""

    name = "agents"
