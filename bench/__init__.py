"""Benchmarks and the load driver: a development tool, not part of the product.

``python manage.py bench NAME`` runs one benchmark on a scratch database and
``python manage.py bench_table`` runs them all into one table
(``benchmarks.md`` and ``benchmarks.json`` in this folder). Each benchmark is a
module here named after what it measures (``inbox``, ``ingest``, ``reports``,
``routing``, ``load``), with a ``run(options)`` that returns its figures and the
``TARGETS`` they must meet.

The package imports the product; the product never imports it. It stays out
of the production image (``.dockerignore``), and settings install the app only
where the package is present, so a checkout with the dev requirements
(``requests``, ``websockets``) has the commands and the image has neither.
"""
