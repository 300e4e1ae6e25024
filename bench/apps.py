from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Dev-only: the ``bench`` and ``bench_table`` management commands; no models."""

    name = "bench"
