from django.apps import AppConfig


class QualityConfig(AppConfig):
    """Quality assurance: QA forms, reviews of agents' conversations, scorecards and training."""

    name = "quality"
    label = "quality"
    verbose_name = "Quality assurance"
