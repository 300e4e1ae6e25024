"""Capturing customer posts: stored exactly once, threaded, in batches.

:func:`do_capture_posts` is the one code path for every source (polls,
webhooks, the sandbox); a single post is a batch of one. A batch is one
transaction and a handful of statements whatever its size, which is what
lets capture keep up with a surge. The unique constraints on messages and
live conversations are the final word on duplicates: if another worker stored
the same post or opened the same thread first, the batch rolls back and its
posts are captured one by one, where each loser finds the winner's rows.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import Any

from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from core import hooks
from core.actions import (
    announce_conversations,
    do_abandon_conversation,
    do_transition,
    reopen_conversation,
)
from core.bulk import insert_dicts, insert_rows, storable_json, update_rows
from core.errors import Conflict, Invalid
from core.models import (
    Attachment,
    Channel,
    Contact,
    Conversation,
    Direction,
    Event,
    EventKind,
    Identity,
    Message,
    WebhookEvent,
)
from core.models import (
    ConversationState as S,
)
from core.posts import UNTRIAGED, Deletion, InboundPost, Triage
from core.webhooks import emit_conversations

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptureResult:
    """What became of one post. ``message`` and ``conversation`` are loaded on first use."""

    message_id: int
    conversation_id: int | None
    duplicate: bool = False
    new_conversation: bool = False
    reopened: bool = False
    queued: bool = False
    """A new conversation that capture already placed in its queue."""

    @property
    def filtered(self) -> bool:
        return self.conversation_id is None

    @property
    def needs_routing(self) -> bool:
        """A new conversation no queue has taken yet."""
        return self.new_conversation and not self.queued

    @cached_property
    def message(self) -> Message:
        return Message.objects.get(pk=self.message_id)

    @cached_property
    def conversation(self) -> Conversation | None:
        if self.conversation_id is None:
            return None
        return Conversation.objects.get(pk=self.conversation_id)


def do_capture_post(post: InboundPost, triage: Triage = UNTRIAGED, *, at: datetime | None = None) -> CaptureResult:
    return do_capture_posts([(post, triage)], at=at)[0]


def do_capture_posts(items: Sequence[tuple[InboundPost, Triage]], *, at: datetime | None = None) -> list[CaptureResult]:
    """Store each post once and thread it; results come back in the order given.

    A post already stored is a no-op (``duplicate=True``, pointing at the
    stored message). Filtered posts are stored without a conversation. Other
    posts join the live conversation of their thread — found through the post
    they reply to when it is stored, else by channel and thread key — or open
    a new one in state ``new``. A post in a resolved thread reopens it; one
    that arrives while we wait on the customer hands it back to its agent.
    A new conversation goes straight to the queue its triage names
    (``triage.queue_id``), else stays ``new`` for the caller to route
    (``needs_routing``).
    """
    for post, _ in items:
        if post.channel not in Channel.values:
            raise Invalid(f"Unknown channel {post.channel!r} for post {post.external_id}.")
    items = [(_storable_post(post), t) for post, t in items]
    if not items:
        return []
    now = at or timezone.now()
    try:
        with transaction.atomic():
            return _Batch(list(items), now).run()
    except OperationalError as error:
        if not _is_deadlock(error):
            raise
        # PostgreSQL broke a lock cycle with another writer by failing us;
        # the other transaction has gone ahead, so the same batch now succeeds.
        logger.info("capture batch of %d was a deadlock victim; retrying", len(items))
        with transaction.atomic():
            return _Batch(list(items), now).run()
    except IntegrityError:
        if len(items) == 1:
            # Lost a race for this very post or thread: the winner's rows are
            # committed now, and the retry finds them.
            with transaction.atomic():
                return _Batch(list(items), now).run()
        logger.info("capture batch of %d met a concurrent writer; capturing one by one", len(items))
        return [result for item in items for result in do_capture_posts([item], at=now)]


AUTOMATIC_REASON = "automatic message (out-of-office, bounce) outside any open conversation"


def _store_attachments(items: list[tuple[int, InboundPost]]) -> None:
    # Rare, and binary: Django's bulk insert, not the COPY path the messages take.
    Attachment.objects.bulk_create(
        Attachment(
            message_id=message_id,
            filename=_storable(item.filename)[:200],
            content_type=_storable(item.content_type)[:200],
            size=item.size,
            content_id=_storable(item.content_id)[:200],
            inline=item.inline,
            data=item.data,
            dropped_reason=item.dropped_reason[:200],
        )
        for message_id, post in items
        for item in post.attachments
    )


def _is_deadlock(error: OperationalError) -> bool:
    return getattr(error.__cause__, "pgcode", None) in ("40P01", "40001")


class _Batch:
    def __init__(self, items: list[tuple[InboundPost, Triage]], now: datetime) -> None:
        self.items = items
        self.now = now
        self.results: list[CaptureResult | None] = [None] * len(items)
        self.events: list[dict[str, Any]] = []
        self.clock = hooks.new_sla_clock()
        self.changed: dict[int, int | None] = {}
        """Conversations to announce: id → assigned agent id."""

    def run(self) -> list[CaptureResult]:
        fresh = self._drop_duplicates()
        if fresh:
            accepted = [i for i in fresh if not self.items[i][1].filtered_reason]
            identities = self._identities(accepted)
            self._store(fresh, accepted, identities)
        insert_dicts(Event, self.events, returning_ids=False)
        announce_conversations(list(self.changed.items()))
        created = [r.conversation_id for r in self.results if r is not None and r.new_conversation]
        emit_conversations(WebhookEvent.CONVERSATION_CREATED, [pk for pk in created if pk is not None], at=self.now)
        return [result for result in self.results if result is not None]

    def _drop_duplicates(self) -> list[int]:
        """Indexes of posts not stored before (first occurrence only); stored ones resolve to duplicates."""
        by_platform: dict[str, set[str]] = defaultdict(set)
        for post, _ in self.items:
            by_platform[post.platform].add(post.external_id)
        stored: dict[tuple[str, str], tuple[int, int | None]] = {}
        for platform, external_ids in by_platform.items():
            rows = Message.objects.filter(platform=platform, external_id__in=external_ids).values_list(
                "external_id", "pk", "conversation_id"
            )
            for external_id, pk, conversation_id in rows:
                stored[(platform, str(external_id))] = (pk, conversation_id)
        fresh, seen = [], set()
        for index, (post, _) in enumerate(self.items):
            key = (post.platform, post.external_id)
            if key in stored:
                self.results[index] = CaptureResult(*stored[key], duplicate=True)
            elif key not in seen:
                seen.add(key)
                fresh.append(index)
            # A second copy within the batch resolves, after storing, to the first.
        return fresh

    def _identities(self, indexes: list[int]) -> dict[tuple[str, str], tuple[int, int]]:
        """(identity id, contact id) of each author, creating newcomers' contacts and identities in bulk."""
        authors = {}
        for index in indexes:
            author = self.items[index][0].author
            authors[(author.platform, author.external_id)] = author  # the latest profile wins
        by_platform: dict[str, list[str]] = defaultdict(list)
        for platform, external_id in authors:
            by_platform[platform].append(external_id)
        found: dict[tuple[str, str], tuple[int, int]] = {}
        changed = []
        for platform, external_ids in by_platform.items():
            for identity in Identity.objects.filter(platform=platform, external_id__in=external_ids):
                key = (platform, identity.external_id)
                found[key] = (identity.pk, identity.contact_id)
                author = authors[key]
                profile = {
                    "handle": author.handle[:200] or identity.handle,
                    "display_name": author.display_name[:200] or identity.display_name,
                    "followers_count": max(0, author.followers_count),
                    "verified": author.verified,
                }
                if any(getattr(identity, field) != value for field, value in profile.items()):
                    for field, value in profile.items():
                        setattr(identity, field, value)
                    changed.append(identity)
        if changed:
            changed.sort(key=lambda identity: identity.pk)
            Identity.objects.bulk_update(changed, ["handle", "display_name", "followers_count", "verified"])
        # Sorted, so two workers creating the same new authors take their
        # row locks in the same order and one simply waits for the other.
        missing = sorted(key for key in authors if key not in found)
        if missing:
            self._create_identities(missing, authors, found)
        return found

    def _create_identities(
        self,
        missing: list[tuple[str, str]],
        authors: dict[tuple[str, str], Any],
        found: dict[tuple[str, str], tuple[int, int]],
    ) -> None:
        """New authors: a contact and an identity each.

        Another worker may be creating the same author right now. Identities
        are inserted with ``ON CONFLICT DO NOTHING`` (which waits for that
        worker to commit), the winner's rows are read back, and the contacts
        made for the authors we lost are dropped: no retry of the whole batch.
        """
        contact_ids = insert_dicts(
            Contact,
            [
                {"display_name": (authors[k].display_name or authors[k].handle or k[1])[:200], "created_at": self.now}
                for k in missing
            ],
        )
        contact_of = dict(zip(missing, contact_ids, strict=True))
        inserted = insert_rows(
            Identity,
            [
                "contact",
                "platform",
                "external_id",
                "handle",
                "display_name",
                "followers_count",
                "verified",
                "created_at",
            ],
            [
                (
                    contact_of[key],
                    key[0],
                    key[1],
                    authors[key].handle[:200],
                    authors[key].display_name[:200],
                    max(0, authors[key].followers_count),
                    authors[key].verified,
                    self.now,
                )
                for key in missing
            ],
            skip_conflicts_on=["platform", "external_id"],
        )
        for identity_id, platform, external_id in inserted:
            found[(platform, external_id)] = (identity_id, contact_of[(platform, external_id)])
        lost = [key for key in missing if key not in found]
        if lost:
            Contact.objects.filter(pk__in=[contact_of[key] for key in lost]).delete()
            for platform in {key[0] for key in lost}:
                for identity_id, external_id, contact_id in Identity.objects.filter(
                    platform=platform, external_id__in=[key[1] for key in lost if key[0] == platform]
                ).values_list("pk", "external_id", "contact_id"):
                    found[(platform, external_id)] = (identity_id, contact_id)

    def _thread_keys(self, indexes: list[int]) -> dict[int, tuple[str, str]]:
        """(channel, thread key) per post: a reply joins the thread of the stored post it answers."""
        reply_to: dict[str, set[str]] = defaultdict(set)
        for index in indexes:
            post = self.items[index][0]
            if post.in_reply_to_external_id:
                reply_to[post.platform].add(post.in_reply_to_external_id)
        parents: dict[tuple[str, str], tuple[str, str]] = {}
        for platform, external_ids in reply_to.items():
            rows = Message.objects.filter(
                platform=platform, external_id__in=external_ids, conversation__isnull=False
            ).values_list("external_id", "conversation__channel", "conversation__thread_key")
            for external_id, channel, thread_key in rows:
                parents[(platform, str(external_id))] = (channel, thread_key)
        keys: dict[int, tuple[str, str]] = {}
        for index in indexes:
            post = self.items[index][0]
            parent = None if post.thread_resolved else parents.get((post.platform, post.in_reply_to_external_id))
            key = parent if parent and parent[0] == post.channel else (post.channel, post.thread_key[:200])
            keys[index] = key
            parents[(post.platform, post.external_id)] = key  # a later post in this batch may answer this one
        return keys

    def _live_conversations(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The open conversations of these threads, locked until the batch commits."""
        by_channel: dict[str, list[str]] = defaultdict(list)
        for channel, thread_key in keys:
            by_channel[channel].append(thread_key)
        live: dict[tuple[str, str], dict[str, Any]] = {}
        for channel, thread_keys in by_channel.items():
            rows = (
                Conversation.objects.select_for_update(of=("self",))
                .filter(channel=channel, thread_key__in=thread_keys)
                .exclude(state=S.CLOSED)
                .values(
                    "pk",
                    "thread_key",
                    "state",
                    "priority",
                    "waiting_since",
                    "last_inbound_at",
                    "first_response_at",
                    "queue_id",
                    "assigned_agent_id",
                    "queue__sla_policy__next_response_seconds",
                )
            )
            for row in rows:
                live[(channel, row["thread_key"])] = dict(row)
        return live

    def _store(self, fresh: list[int], accepted: list[int], identities: dict[tuple[str, str], tuple[int, int]]) -> None:
        accepted.sort(key=lambda i: self.items[i][0].sent_at)
        keys = self._thread_keys(accepted)
        live = self._live_conversations(set(keys.values()))

        # A machine's message (an out-of-office, a bounce) joins the conversation it answers, if one is live, and
        # changes nothing there; with none it is kept like a filtered post. It never opens a conversation.
        automatic = {i for i in accepted if self.items[i][0].automatic}
        for index in [i for i in automatic if keys[i] not in live]:
            keys.pop(index)
            accepted.remove(index)
        opened_by: dict[tuple[str, str], int] = {}
        for index in accepted:
            if index not in automatic and keys[index] not in live and keys[index] not in opened_by:
                opened_by[keys[index]] = index
        new_rows = []
        for key, index in opened_by.items():
            post, triage = self.items[index]
            sent_at = min(post.sent_at, self.now)
            row = {
                "contact_id": identities[(post.author.platform, post.author.external_id)][1],
                "channel": key[0],
                "thread_key": key[1],
                "subject": " ".join((post.subject or post.text).split())[:200],
                "state": S.NEW,
                "priority": triage.priority,
                "category": triage.category[:64],
                "sentiment": triage.sentiment,
                "sentiment_score": triage.sentiment_score,
                "language": triage.language[:16],
                "waiting_since": sent_at,
                "last_inbound_at": sent_at,
                "created_at": self.now,
                "updated_at": self.now,
            }
            if triage.queue_id is not None:
                # Routing placed it before it was stored: new → queued happens
                # in this same transaction, with both ledger rows written below.
                row |= {
                    "state": S.QUEUED,
                    "queue_id": triage.queue_id,
                    "queued_at": self.now,
                    "first_response_due": triage.first_response_due,
                    "preferred_agent_id": triage.preferred_agent_id,
                }
            new_rows.append(row)
        new_ids = dict(zip(opened_by, insert_dicts(Conversation, new_rows), strict=True))
        insert_dicts(
            Conversation.required_skills.through,
            [
                {"conversation_id": new_ids[key], "skill_id": skill_id, "min_level": level}
                for key, index in opened_by.items()
                for skill_id, level in self.items[index][1].skills
            ],
            returning_ids=False,
        )
        conversation_of = {key: row["pk"] for key, row in live.items()} | new_ids

        message_rows: list[dict[str, Any]] = []
        for index in fresh:
            post, triage = self.items[index]
            identity = identities.get((post.author.platform, post.author.external_id))
            message_rows.append(
                {
                    "conversation_id": conversation_of[keys[index]] if index in keys else None,
                    "direction": Direction.INBOUND,
                    "platform": post.platform,
                    "external_id": post.external_id,
                    "in_reply_to_external_id": post.in_reply_to_external_id[:128],
                    "author_identity_id": identity[0] if identity else None,
                    "text": post.text,
                    "is_public": Channel.is_public(post.channel),
                    "sent_at": post.sent_at,
                    "received_at": self.now,
                    "raw": post.raw,
                    "account_id": post.account_id,
                    "listening_query_id": post.query_id,
                    "filtered_reason": (triage.filtered_reason or ("" if index in keys else AUTOMATIC_REASON))[:200],
                    "triage": triage.why,
                    "edit_history": [],
                }
            )
        message_ids = dict(zip(fresh, insert_dicts(Message, message_rows), strict=True))
        _store_attachments([(message_ids[i], self.items[i][0]) for i in fresh if self.items[i][0].attachments])
        first_copy = {(self.items[i][0].platform, self.items[i][0].external_id): i for i in fresh}
        for index, (post, _) in enumerate(self.items):
            if self.results[index] is None and index not in message_ids:
                original = first_copy[(post.platform, post.external_id)]
                conversation_id = conversation_of[keys[original]] if original in keys else None
                self.results[index] = CaptureResult(message_ids[original], conversation_id, duplicate=True)

        follow_ups: dict[int, list[int]] = defaultdict(list)
        for index in accepted:
            post = self.items[index][0]
            key = keys[index]
            data = {"message_id": message_ids[index], "external_id": post.external_id}
            if index in automatic:
                self.results[index] = CaptureResult(message_ids[index], live[key]["pk"])
                self.changed[live[key]["pk"]] = live[key]["assigned_agent_id"]
            elif opened_by.get(key) == index:
                conversation_id = new_ids[key]
                delay = (self.now - min(post.sent_at, self.now)).total_seconds()
                self._event(EventKind.CAPTURED, key[0], conversation_id, None, delay, data)
                queue_id = self.items[index][1].queue_id
                if queue_id is not None:
                    self._event(
                        EventKind.QUEUED, key[0], conversation_id, queue_id, 0.0, self.items[index][1].placement
                    )
                self.changed[conversation_id] = None
                self.results[index] = CaptureResult(
                    message_ids[index], conversation_id, new_conversation=True, queued=queue_id is not None
                )
            elif key in live:
                follow_ups[live[key]["pk"]].append(index)
            else:
                conversation_id = new_ids[key]
                self._event(EventKind.CUSTOMER_REPLY, key[0], conversation_id, None, None, data)
                self.results[index] = CaptureResult(message_ids[index], conversation_id)
        for index in fresh:
            if index not in keys:
                post, triage = self.items[index]
                data = {
                    "message_id": message_ids[index],
                    "external_id": post.external_id,
                    "reason": triage.filtered_reason or AUTOMATIC_REASON,
                }
                self._event(EventKind.FILTERED, post.channel, None, None, None, data)
                self.results[index] = CaptureResult(message_ids[index], None)
        self._follow_ups(live, keys, follow_ups, message_ids)

    def _follow_ups(
        self,
        live: dict[tuple[str, str], dict[str, Any]],
        keys: dict[int, tuple[str, str]],
        follow_ups: dict[int, list[int]],
        message_ids: dict[int, int],
    ) -> None:
        """Customers writing again in threads we already hold.

        A resolved thread reopens and a thread waiting on the customer goes
        back to its agent, each through its transition; the rest (new,
        queued, assigned) only take the new message's times and priority,
        all in one UPDATE.
        """
        rows_by_id = {row["pk"]: (key, row) for key, row in live.items()}
        updates = []
        for conversation_id, indexes in follow_ups.items():
            key, row = rows_by_id[conversation_id]
            first_post = self.items[indexes[0]][0]
            sent_at = min(first_post.sent_at, self.now)
            results = {}
            for index in indexes:
                post = self.items[index][0]
                data = {"message_id": message_ids[index], "external_id": post.external_id}
                results[index] = data
            if row["state"] in (S.RESOLVED, S.WAITING):
                conversation = Conversation.objects.select_related("queue__sla_policy").get(pk=conversation_id)
                if row["state"] == S.RESOLVED:
                    reopen_conversation(conversation, at=self.now, waiting_since=sent_at, reason="customer wrote again")
                else:
                    waiting_since = sent_at
                    changes = {
                        "last_inbound_at": sent_at,
                        "waiting_since": waiting_since,
                        "next_response_due": self.clock.next_response_due(row["queue_id"], waiting_since),
                    }
                    do_transition(
                        conversation, "customer_reply", at=self.now, changes=changes, data=results[indexes[0]]
                    )
                for index in indexes:
                    self.results[index] = CaptureResult(
                        message_ids[index], conversation_id, reopened=row["state"] == S.RESOLVED and index == indexes[0]
                    )
                for index in indexes[1:]:
                    self._event(
                        EventKind.CUSTOMER_REPLY, key[0], conversation_id, row["queue_id"], None, results[index]
                    )
                continue
            last_sent = min(self.items[indexes[-1]][0].sent_at, self.now)
            waiting_since = row["waiting_since"] or sent_at
            next_due = (
                self.clock.next_response_due(row["queue_id"], waiting_since)
                if row["first_response_at"] is not None
                else None
            )
            priority = max([row["priority"], *(self.items[i][1].priority for i in indexes)])
            updates.append(
                (
                    conversation_id,
                    max(row["last_inbound_at"] or last_sent, last_sent),
                    waiting_since,
                    priority,
                    next_due,
                    self.now,
                )
            )
            for index in indexes:
                self._event(EventKind.CUSTOMER_REPLY, key[0], conversation_id, row["queue_id"], None, results[index])
                self.results[index] = CaptureResult(message_ids[index], conversation_id)
            self.changed[conversation_id] = row["assigned_agent_id"]
        update_rows(
            Conversation, ["last_inbound_at", "waiting_since", "priority", "next_response_due", "updated_at"], updates
        )

    def _event(
        self,
        kind: str,
        channel: str,
        conversation_id: int | None,
        queue_id: int | None,
        value_seconds: float | None,
        data: dict[str, Any],
    ) -> None:
        self.events.append(
            {
                "kind": kind,
                "at": self.now,
                "conversation_id": conversation_id,
                "channel": channel,
                "queue_id": queue_id,
                "value_seconds": value_seconds,
                "data": data,
            }
        )


# --- Edits and deletions -------------------------------------------------------------------


def do_record_edit(post: InboundPost, triage: Triage = UNTRIAGED) -> CaptureResult:
    """A new version of a stored post: the text changes, the old text is kept in ``edit_history``.

    An edit of a post never captured is captured as a new post.
    """
    post = _storable_post(post)
    with transaction.atomic():
        message = (
            Message.objects.select_for_update().filter(platform=post.platform, external_id=post.external_id).first()
        )
        if message is None:
            return do_capture_post(post, triage)
        if message.text != post.text:
            history = [*message.edit_history, {"text": message.text, "replaced_at": timezone.now().isoformat()}]
            # The raw payload as insert_dicts stores it on every database (no NaN, no NUL, no lone surrogate).
            raw = storable_json(post.raw)
            Message.objects.filter(pk=message.pk).update(text=post.text, raw=raw, edit_history=history)
            if message.conversation_id is not None:
                agent_id = (
                    Conversation.objects.filter(pk=message.conversation_id)
                    .values_list("assigned_agent_id", flat=True)
                    .first()
                )
                announce_conversations([(message.conversation_id, agent_id)])
    return CaptureResult(message.pk, message.conversation_id, duplicate=True)


def do_record_deletion(deletion: Deletion) -> Message | None:
    """Mark a post deleted; if the customer withdrew every post before we answered, the conversation is abandoned."""
    with transaction.atomic():
        message = (
            Message.objects.select_for_update()
            .filter(platform=deletion.platform, external_id=deletion.external_id)
            .first()
        )
        if message is None or message.deleted_at is not None:
            return message
        Message.objects.filter(pk=message.pk).update(deleted_at=deletion.at)
        message.deleted_at = deletion.at
        conversation = message.conversation
        if conversation is None or message.direction != Direction.INBOUND or conversation.first_response_at:
            return message
        still_there = conversation.messages.filter(direction=Direction.INBOUND, deleted_at__isnull=True).exists()
        if not still_there and conversation.state in (S.NEW, S.QUEUED, S.ASSIGNED):
            try:
                do_abandon_conversation(
                    conversation, reason="customer deleted the post", at=min(deletion.at, timezone.now())
                )
            except Conflict:
                logger.info("conversation %s moved on before the deletion arrived", conversation.pk)
    return message


def _storable(text: str) -> str:
    """``text`` as every database can store it.

    A NUL character means nothing in a post, and PostgreSQL text cannot hold
    one: it is dropped. A lone surrogate (JSON's ``"\\ud800"`` decodes to one)
    has no UTF-8 form at all: it becomes U+FFFD, the replacement character.
    """
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text)
    return text


def _storable_post(post: InboundPost) -> InboundPost:
    """The post with its text and its author's names made storable (the common case: itself, unchanged)."""
    author = post.author
    text, handle, display_name = _storable(post.text), _storable(author.handle), _storable(author.display_name)
    if (text, handle, display_name) == (post.text, author.handle, author.display_name):
        return post
    return replace(post, text=text, author=replace(author, handle=handle, display_name=display_name))
