from celery import shared_task

from chat.actions import do_abandon_gone_visitors
from chat.sandbox import do_produce_sandbox_chats


@shared_task
def abandon_gone_visitors() -> int:
    """Chats whose visitor left before any answer are abandons in the ledger."""
    return do_abandon_gone_visitors()


@shared_task
def produce_sandbox_chats() -> int:
    """The sandbox's visitors write on the demo chat channel (only while the sandbox is on)."""
    return do_produce_sandbox_chats()
