"""Where a source's conversations go: one routing rule per mailbox or chat channel, on its capture account.

The admin's mailbox and chat channel forms and ``seed_demo`` set it here. The rule matches the source's account
only, so rules placed before it (an outage category, VIPs) still win, and others can refine it in Routing rules.
"""

from __future__ import annotations

from monitoring.models import SocialAccount
from routing.models import Queue, RoutingRule

RULE_ORDER = 50


def queue_rule_name(address: str) -> str:
    return f"Mailbox {address}"[:100]


def account_queue_id(account: SocialAccount, rule_name: str) -> int | None:
    """The queue the account's rule named ``rule_name`` sends its conversations to; None without one."""
    rule = RoutingRule.objects.filter(account=account, name=rule_name).first()
    return rule.queue_id if rule else None


def do_set_account_queue(
    account: SocialAccount, rule_name: str, queue: Queue | None, *, old_rule_name: str = ""
) -> None:
    """Send the account's conversations to ``queue`` by the rule ``rule_name`` (None: no rule of its own).

    ``old_rule_name``: the name the rule had, when what it is named after just changed.
    """
    rules = RoutingRule.objects.filter(account=account, name__in={old_rule_name or rule_name, rule_name})
    if queue is None:
        rules.delete()
    elif not rules.update(queue=queue, name=rule_name):
        RoutingRule.objects.create(name=rule_name, account=account, queue=queue, order=RULE_ORDER)


def mailbox_queue_id(account: SocialAccount, address: str) -> int | None:
    """The queue the mailbox's rule sends its mail to; None without one."""
    return account_queue_id(account, queue_rule_name(address))


def do_set_mailbox_queue(account: SocialAccount, address: str, queue: Queue | None, *, old_address: str = "") -> None:
    """Send the mailbox's mail to ``queue`` (None: no rule of its own; the rules on channel email decide).

    ``old_address``: the address the rule was named after, when the mailbox's address just changed.
    """
    do_set_account_queue(
        account, queue_rule_name(address), queue, old_rule_name=queue_rule_name(old_address) if old_address else ""
    )
