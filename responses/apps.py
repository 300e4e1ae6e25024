from django.apps import AppConfig


class ResponsesConfig(AppConfig):
    """What agents answer with: response templates and knowledge articles."""

    name = "responses"
