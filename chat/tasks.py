from celery import shared_task

from chat.actions import do_abandon_gone_visitors


@shared_task
def abandon_gone_visitors() -> int:
    """Chats whose visitor left before any answer are abandons in the ledger."""
    return do_abandon_gone_visitors()
