"""The Celery app, and the one place every periodic schedule is declared.

In production ``celery beat`` (with django-celery-beat's database scheduler,
so admins can see and pause entries) sends these; in the embedded default the
ASGI server's embedded scheduler runs the same entries in-process.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contactcenter.settings")

app = Celery("contactcenter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "schedule-due-polls": {"task": "monitoring.tasks.schedule_due_polls", "schedule": 5.0},
    "route-queued": {"task": "routing.tasks.route_queued", "schedule": 10.0},
    "expire-offers": {"task": "routing.tasks.expire_offers", "schedule": 2.0},
    "watch-sla": {"task": "routing.tasks.watch_sla", "schedule": 15.0},
    "time-out-silent-agents": {"task": "routing.tasks.time_out_silent_agents", "schedule": 15.0},
    "reconcile-outbox": {"task": "responses.tasks.reconcile_outbox", "schedule": 30.0},
    "retry-outbox": {"task": "responses.tasks.retry_queued_replies", "schedule": 30.0},
    "abandon-gone-chat-visitors": {"task": "chat.tasks.abandon_gone_visitors", "schedule": 30.0},
    "sandbox-chats": {"task": "chat.tasks.produce_sandbox_chats", "schedule": 10.0},
    "retry-webhooks": {"task": "core.tasks.retry_webhooks", "schedule": 30.0},
    "announce-spikes": {"task": "reporting.tasks.announce_spikes", "schedule": 60.0},
    "roll-up-ledger": {"task": "reporting.tasks.roll_up_ledger", "schedule": 300.0},
}
app.conf.beat_schedule = BEAT_SCHEDULE
