"""Where a mailbox's mail goes: one routing rule per mailbox, named after its address, on its capture account.

The admin's mailbox form and ``seed_demo`` both set it here. The rule matches the mailbox's account only, so
rules placed before it (an outage category, VIPs) still win, and others can refine it in Routing rules.
"""

from __future__ import annotations

from monitoring.models import SocialAccount
from routing.models import Queue, RoutingRule

RULE_ORDER = 50


def queue_rule_name(address: str) -> str:
    return f"Mailbox {address}"[:100]


def mailbox_queue_id(account: SocialAccount, address: str) -> int | None:
    """The queue the mailbox's rule sends its mail to; None without one."""
    rule = RoutingRule.objects.filter(account=account, name=queue_rule_name(address)).first()
    return rule.queue_id if rule else None


def do_set_mailbox_queue(account: SocialAccount, address: str, queue: Queue | None, *, old_address: str = "") -> None:
    """Send the mailbox's mail to ``queue`` (None: no rule of its own; the rules on channel email decide).

    ``old_address``: the address the rule was named after, when the mailbox's address just changed.
    """
    rules = RoutingRule.objects.filter(
        account=account, name__in={queue_rule_name(old_address or address), queue_rule_name(address)}
    )
    if queue is None:
        rules.delete()
    elif not rules.update(queue=queue, name=queue_rule_name(address)):
        RoutingRule.objects.create(name=queue_rule_name(address), account=account, queue=queue, order=RULE_ORDER)
