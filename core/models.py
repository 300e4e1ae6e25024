"""The shared domain every app builds on.

A *contact* is one customer, known on each platform by an *identity*. A
*conversation* is one thread with that customer on one channel; it holds the
state the router and the inbox need on the row itself. A *message* is one post
in or out. The *event ledger* is append-only: one row per state change, from
which every KPI is computed.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Platform(models.TextChoices):
    X = "x", "X"
    FACEBOOK = "facebook", "Facebook"
    SANDBOX = "sandbox", "Sandbox"
    EMAIL = "email", "Email"
    CHAT = "chat", "Web chat"


class Channel(models.TextChoices):
    """Where a conversation happens: a platform and whether it is public."""

    X_PUBLIC = "x_public", "X public reply"
    X_DM = "x_dm", "X direct message"
    FACEBOOK_PUBLIC = "facebook_public", "Facebook comment"
    FACEBOOK_MESSENGER = "facebook_messenger", "Facebook Messenger"
    SANDBOX_PUBLIC = "sandbox_public", "Sandbox public post"
    SANDBOX_PRIVATE = "sandbox_private", "Sandbox private message"
    EMAIL = "email", "Email"
    CHAT = "chat", "Web chat"

    @classmethod
    def platform_of(cls, channel: str) -> str:
        return channel.split("_", 1)[0]

    @classmethod
    def is_public(cls, channel: str) -> bool:
        return channel in PUBLIC_CHANNELS


PUBLIC_CHANNELS = frozenset({Channel.X_PUBLIC, Channel.FACEBOOK_PUBLIC, Channel.SANDBOX_PUBLIC})


class Contact(models.Model):
    """One customer, however many platform identities they write from."""

    display_name = models.CharField(max_length=200)
    is_vip = models.BooleanField("VIP", default=False)
    tags = models.JSONField(default=list, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        help_text="Who last worked with this customer: a returning customer goes back to them.",
    )
    last_agent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["display_name", "id"]

    def __str__(self) -> str:
        return self.display_name


class Identity(models.Model):
    """A contact's handle on one platform (an X user, a Facebook user, an email address)."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    platform = models.CharField(max_length=16, choices=Platform.choices)
    external_id = models.CharField(max_length=128, help_text="The platform's stable user id.")
    handle = models.CharField(max_length=200, blank=True, help_text="Screen name or address.")
    display_name = models.CharField(max_length=200, blank=True)
    followers_count = models.PositiveIntegerField(default=0)
    verified = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [
            # Captured posts find their author by (platform, user id).
            models.UniqueConstraint(fields=["platform", "external_id"], name="identity_unique_per_platform"),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()}: {self.handle or self.external_id}"


class ContactMerge(models.Model):
    """Audit entry: one contact folded into another, with what moved."""

    into = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="merges")
    merged_contact_id = models.BigIntegerField(help_text="Id of the contact that no longer exists.")
    merged_contact_name = models.CharField(max_length=200)
    moved = models.JSONField(default=dict, help_text="Ids of the identities and conversations moved.")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.merged_contact_name} → {self.into}"


class ConversationState(models.TextChoices):
    NEW = "new", "New"
    QUEUED = "queued", "Queued"
    ASSIGNED = "assigned", "Assigned"
    WAITING = "waiting", "Waiting on customer"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


OPEN_STATES = (
    ConversationState.NEW,
    ConversationState.QUEUED,
    ConversationState.ASSIGNED,
    ConversationState.WAITING,
)

HOLDING_STATES = (ConversationState.ASSIGNED, ConversationState.WAITING)
"""States in which a conversation takes up its agent's capacity."""

SLA_WATCHED_STATES = (ConversationState.QUEUED, ConversationState.ASSIGNED)
"""States in which the customer waits on us, so the SLA watch looks at the conversation."""


class Disposition(models.TextChoices):
    """How a conversation ended, chosen when it is resolved."""

    ANSWERED = "answered", "Answered"
    RESOLVED_FIRST_CONTACT = "resolved_first_contact", "Resolved on first contact"
    DISPATCHED = "dispatched", "Dispatched to the field or another team"
    NO_ACTION = "no_action", "No action needed"
    SPAM = "spam", "Spam"


class Sentiment(models.TextChoices):
    NEGATIVE = "negative", "Negative"
    NEUTRAL = "neutral", "Neutral"
    POSITIVE = "positive", "Positive"


class SLAStatus(models.TextChoices):
    OK = "ok", "On time"
    AT_RISK = "at_risk", "At risk"
    BREACHED = "breached", "Breached"


class Conversation(models.Model):
    """One thread with one customer on one channel: the unit of work that is routed.

    ``waiting_since`` and ``first_response_at`` live on the row so the live
    queue and the SLA watch never need to read the ledger.
    """

    contact = models.ForeignKey(
        Contact, on_delete=models.PROTECT, related_name="conversations", db_index=False
    )  # served by conversation_contact_recent
    channel = models.CharField(max_length=32, choices=Channel.choices)
    thread_key = models.CharField(
        max_length=200,
        help_text="The platform's id for this thread: root post id, comment id or DM thread id.",
    )
    subject = models.CharField(max_length=200, blank=True, help_text="The opening words, for lists.")
    state = models.CharField(max_length=16, choices=ConversationState.choices, default=ConversationState.NEW)
    priority = models.PositiveSmallIntegerField(default=50, help_text="0 (lowest) to 100 (most urgent).")
    category = models.CharField(max_length=64, blank=True)
    sentiment = models.CharField(max_length=16, choices=Sentiment.choices, blank=True)
    sentiment_score = models.FloatField(null=True, blank=True, help_text="-1 (negative) to 1 (positive).")
    language = models.CharField(max_length=16, blank=True)
    required_skills = models.ManyToManyField(
        "routing.Skill", blank=True, related_name="conversations", through="ConversationSkill"
    )
    queue = models.ForeignKey(
        "routing.Queue",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
        db_index=False,  # queue pages filter the small queued set; deleting a queue is rare
    )
    assigned_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
        db_index=False,  # served by conversation_agent_state
    )
    last_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        help_text="The agent who last held it, for sticky routing after a reopen.",
    )
    preferred_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        help_text="Sticky routing: the agent this item waits for (a returning customer's or a reopened item's).",
    )
    weight = models.PositiveSmallIntegerField(
        default=1, help_text="The share of its agent's capacity it takes (the channel's weight when assigned)."
    )
    sla_status = models.CharField(max_length=16, choices=SLAStatus.choices, default=SLAStatus.OK)
    escalated = models.BooleanField(default=False)
    first_response_due = models.DateTimeField(null=True, blank=True)
    next_response_due = models.DateTimeField(null=True, blank=True)
    waiting_since = models.DateTimeField(
        null=True, blank=True, help_text="Since when the customer has waited for us; empty when they have not."
    )
    first_response_at = models.DateTimeField(null=True, blank=True)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    disposition = models.CharField(max_length=32, blank=True)

    class Meta:
        constraints = [
            # Threading looks up the open conversation for a thread; at most one may exist.
            models.UniqueConstraint(
                fields=["channel", "thread_key"],
                condition=~Q(state="closed"),
                name="one_live_conversation_per_thread",
            ),
            models.CheckConstraint(condition=Q(priority__lte=100), name="priority_at_most_100"),
            models.CheckConstraint(
                condition=~Q(state="assigned") | Q(assigned_agent__isnull=False),
                name="assigned_conversation_has_agent",
            ),
        ]
        indexes = [
            # The router's next-items query: queued items by priority, then SLA due,
            # then age. Partial, so it holds only the (small) live queue.
            models.Index(
                models.F("priority").desc(),
                "first_response_due",
                "created_at",
                name="queued_by_urgency",
                condition=Q(state="queued"),
            ),
            # A customer's journey, newest first, and "did they write lately?".
            models.Index(fields=["contact", "-created_at"], name="conversation_contact_recent"),
            # An agent's inbox: their conversations by state.
            models.Index(fields=["assigned_agent", "state"], name="conversation_agent_state"),
            # Open conversations only (a few thousand of millions): the live dashboard's
            # queue and channel depths and longest waits (state new or queued), and the
            # backlog aging report (by channel and age); both index-only.
            models.Index(
                fields=["state", "queue", "channel", "waiting_since", "created_at"],
                name="conversation_open",
                condition=Q(state__in=["new", "queued", "assigned", "waiting"]),
            ),
            # The live dashboard's SLA panel: open items at risk or in breach (a handful).
            models.Index(
                fields=["sla_status"],
                name="conversation_open_late",
                condition=Q(state__in=["new", "queued", "assigned", "waiting"], sla_status__in=["at_risk", "breached"]),
            ),
            # The live dashboard's service level today: conversations by first-response due
            # time, with when they were answered (index-only).
            models.Index(fields=["first_response_due", "first_response_at"], name="conversation_due"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_channel_display()} ({self.get_state_display()})"

    @property
    def platform(self) -> str:
        return Channel.platform_of(self.channel)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class ConversationSkill(models.Model):
    """A skill the conversation needs, and the minimum level an agent must have in it."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE)
    skill = models.ForeignKey("routing.Skill", on_delete=models.CASCADE)
    min_level = models.PositiveSmallIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "skill"], name="conversation_skill_once"),
        ]

    def __str__(self) -> str:
        return f"{self.skill_id} ≥ {self.min_level}"


class NotificationEvent(models.TextChoices):
    """What notification rules (routing) can email people about."""

    ESCALATED = "escalated", "Conversation escalated"
    SLA_BREACHED = "sla_breached", "SLA breached"
    SLA_AT_RISK = "sla_at_risk", "SLA at risk"
    SPIKE = "spike", "Spike alert"


class Direction(models.TextChoices):
    INBOUND = "in", "Inbound"
    OUTBOUND = "out", "Outbound"


class Delivery(models.TextChoices):
    """Where an outbound reply is on its way to the platform (the outbox)."""

    PENDING_APPROVAL = "pending_approval", "Waiting for a supervisor"
    REJECTED = "rejected", "Rejected by a supervisor"
    QUEUED = "queued", "Queued to post"
    SENDING = "sending", "Posting"
    SENT = "sent", "Posted"
    FAILED = "failed", "Failed"


class Message(models.Model):
    """One post, comment or direct message, from the customer or from us."""

    conversation = models.ForeignKey(
        Conversation,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="messages",
        db_index=False,  # served by message_thread_order
        help_text="Empty for filtered posts: kept and counted, never routed.",
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    platform = models.CharField(max_length=16, choices=Platform.choices)
    external_id = models.CharField(
        max_length=128,
        null=True,
        blank=True,
        help_text="The platform's id: the idempotency key for capture; empty until a reply is posted.",
    )
    in_reply_to_external_id = models.CharField(max_length=128, blank=True)
    # Capture inserts thousands of messages a second: every index costs on each
    # insert, so foreign keys no query filters on alone carry none.
    author_identity = models.ForeignKey(
        Identity, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages", db_index=False
    )
    author_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    text = models.TextField()
    is_public = models.BooleanField()
    sent_at = models.DateTimeField(help_text="When it was written, by the platform's clock.")
    received_at = models.DateTimeField(default=timezone.now)
    raw = models.JSONField(default=dict, blank=True, help_text="The payload as the platform sent it.")
    # Which account and query captured it is provenance, kept for reports; no
    # database constraint, so capture pays no per-row check for it.
    account = models.ForeignKey(
        "monitoring.SocialAccount",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    listening_query = models.ForeignKey(
        "monitoring.ListeningQuery",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    filtered_reason = models.CharField(max_length=200, blank=True)
    triage = models.JSONField(default=dict, blank=True, help_text="Why this post got its category and priority.")
    edit_history = models.JSONField(default=list, blank=True, help_text="Earlier versions: [{text, replaced_at}].")
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="When the author deleted or hid it.")
    # The outbox (outbound replies only).
    delivery = models.CharField(max_length=20, choices=Delivery.choices, blank=True)
    delivery_error = models.TextField(blank=True)
    delivery_attempts = models.PositiveSmallIntegerField(default=0)
    idempotency_key = models.UUIDField(null=True, blank=True, unique=True)
    sending_since = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True, help_text="A queued reply is not posted before this.")
    posted_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    class Meta:
        ordering = ["sent_at", "id"]
        constraints = [
            # Re-deliveries of the same post (poll + webhook, retries) are no-ops.
            models.UniqueConstraint(fields=["platform", "external_id"], name="message_unique_per_platform"),
        ]
        indexes = [
            # The conversation view reads a thread in order.
            models.Index(fields=["conversation", "sent_at"], name="message_thread_order"),
            # The outbox sweeper and the approval list: replies not yet posted.
            models.Index(
                fields=["delivery", "sending_since"],
                name="message_outbox",
                condition=Q(delivery__in=["pending_approval", "queued", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.platform}:{self.external_id or 'pending'}"


class Attachment(models.Model):
    """A file that came with a message, or that an agent sent with a reply.

    The bytes live in the database with the message, so a backup, an export and an erasure each cover them in
    one place. Files are only ever offered as downloads (``Content-Disposition: attachment``), never shown
    inline, so a file cannot run script in the console's origin. ``data`` is empty when the file was larger
    than the limit: the row still records that it existed (``dropped_reason``).
    """

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="files")
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=200)
    size = models.PositiveBigIntegerField(default=0, help_text="Bytes, as received (also for a dropped file).")
    content_id = models.CharField(max_length=200, blank=True, help_text="Inline images: the cid: that names it.")
    inline = models.BooleanField(default=False)
    data = models.BinaryField(editable=False, blank=True)
    dropped_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["message", "id"]

    def __str__(self) -> str:
        return self.filename


class EventKind(models.TextChoices):
    CAPTURED = "captured", "Captured"
    FILTERED = "filtered", "Filtered"
    QUEUED = "queued", "Queued"
    ASSIGNED = "assigned", "Assigned"
    TRANSFERRED = "transferred", "Transferred"
    FIRST_RESPONSE = "first_response", "First response"
    REPLY = "reply", "Reply"
    CUSTOMER_REPLY = "customer_reply", "Customer replied"
    WAITING = "waiting", "Waiting on customer"
    ESCALATED = "escalated", "Escalated"
    RESOLVED = "resolved", "Resolved"
    REOPENED = "reopened", "Reopened"
    CLOSED = "closed", "Closed"
    ABANDONED = "abandoned", "Abandoned"
    CSAT = "csat", "CSAT response"
    QA = "qa", "QA review"
    WORK = "work", "Handled (work time)"
    WRAP_UP = "wrap_up", "Wrap-up"
    REPLY_HELD = "reply_held", "Reply held for approval"
    REPLY_FAILED = "reply_failed", "Reply failed"
    SLA_AT_RISK = "sla_at_risk", "SLA at risk"
    SLA_BREACHED = "sla_breached", "SLA breached"
    OFFERED = "offered", "Offered to an agent"
    OFFER_ACCEPTED = "offer_accepted", "Offer accepted"
    OFFER_DECLINED = "offer_declined", "Offer declined"
    OFFER_TIMED_OUT = "offer_timed_out", "Offer timed out"


class Event(models.Model):
    """Append-only ledger row; KPIs are computed from these.

    ``value_seconds`` carries the duration the event closes (for ``assigned``
    the wait in queue, for ``first_response`` the time to first response, for
    ``resolved`` the time open); ``value`` carries a score (CSAT, QA).
    ``channel`` and ``queue`` are copied from the conversation at the time, so
    reports group without joins and history is not rewritten by later moves.
    """

    kind = models.CharField(max_length=32, choices=EventKind.choices)
    at = models.DateTimeField()
    conversation = models.ForeignKey(  # served by event_conversation_kind
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    # The ledger copies who and where; rows are append-only history, so the
    # references carry no database constraint (Django still nulls them on delete).
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    channel = models.CharField(max_length=32, choices=Channel.choices, blank=True)
    queue = models.ForeignKey(
        "routing.Queue",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    value_seconds = models.FloatField(null=True, blank=True)
    value = models.FloatField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    # Durations the actions also write in ``data`` (see DURATIONS), as columns: the speed
    # report reads them from an index instead of parsing every row's JSON.
    since_post_seconds = models.FloatField(null=True, blank=True)
    since_assignment_seconds = models.FloatField(null=True, blank=True)
    since_post_business_seconds = models.FloatField(null=True, blank=True)
    since_assignment_business_seconds = models.FloatField(null=True, blank=True)
    business_seconds = models.FloatField(null=True, blank=True)

    DURATIONS: ClassVar[dict[str, tuple[str, ...]]] = {
        EventKind.FIRST_RESPONSE: (
            "since_post_seconds",
            "since_assignment_seconds",
            "since_post_business_seconds",
            "since_assignment_business_seconds",
        ),
        EventKind.ASSIGNED: ("business_seconds",),
    }
    """The ``data`` keys each kind's rows also carry as columns of the same name."""

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            # KPI reports (reporting/kpis.py) and the dashboard's volumes: some kinds over
            # a period, grouped by time and channel. The columns the reports aggregate and
            # filter on are in the key too, so those reads are index-only scans that never
            # visit the table (``data``, read by speed and resolution, is the exception).
            models.Index(
                fields=["kind", "at", "channel", "conversation", "value_seconds", "queue", "agent", "value"],
                name="event_kind_time_covering",
            ),
            # A conversation's timeline, and the reports' "does this conversation have a
            # row of kind K (before T)?" probes (closed unanswered, first-contact
            # resolution's reopens, service level's unanswered abandons): index-only.
            models.Index(fields=["conversation", "kind", "at"], name="event_conversation_kind"),
            # The speed report: its two kinds over a period with every duration it aggregates,
            # index-only (PostgreSQL; SQLite has no covering indexes and skips it).
            models.Index(
                fields=["kind", "at"],
                include=[
                    "channel",
                    "queue",
                    "agent",
                    "conversation",
                    "value_seconds",
                    "since_post_seconds",
                    "since_assignment_seconds",
                    "since_post_business_seconds",
                    "since_assignment_business_seconds",
                    "business_seconds",
                ],
                condition=Q(kind__in=[EventKind.FIRST_RESPONSE, EventKind.ASSIGNED]),
                name="event_speed_covering",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # One row at a time (record_event, tests, the admin): the columns follow ``data``.
        for key, seconds in self.durations(self.kind, self.data).items():
            if getattr(self, key) is None:
                setattr(self, key, seconds)
        super().save(*args, **kwargs)

    @classmethod
    def durations(cls, kind: str, data: dict[str, Any] | None) -> dict[str, float]:
        """The duration columns of a ``kind`` row, from its ``data`` (bulk writers add them to their rows)."""
        if not isinstance(data, dict):
            return {}
        return {
            key: float(data[key])
            for key in cls.DURATIONS.get(kind, ())
            if isinstance(data.get(key), int | float) and not isinstance(data.get(key), bool)
        }


class Note(models.Model):
    """An internal note on a conversation: seen by the team, never by the customer."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.text[:60]


class WorkSession(models.Model):
    """An agent with a conversation open in the console: the raw material of handle time."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="work_sessions")
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    wrap_started_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "agent"], condition=Q(closed_at__isnull=True), name="one_open_work_session"
            )
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} on {self.conversation_id} from {self.opened_at:%H:%M:%S}"


# --- Outbound webhooks -------------------------------------------------------------------


class WebhookEvent(models.TextChoices):
    CONVERSATION_CREATED = "conversation.created", "Conversation created"
    CONVERSATION_ASSIGNED = "conversation.assigned", "Conversation assigned"
    CONVERSATION_ESCALATED = "conversation.escalated", "Conversation escalated"
    CONVERSATION_RESOLVED = "conversation.resolved", "Conversation resolved"
    SLA_BREACHED = "sla.breached", "SLA breached"
    # Not about one conversation: emitted by ``reporting.alerts`` once per (category, hour).
    SPIKE_ALERT = "spike.alert", "Spike alert"


SPIKE_ALERT = WebhookEvent.SPIKE_ALERT.value
WEBHOOK_EVENT_CHOICES = WebhookEvent.choices
"""Every event an endpoint may subscribe to (the admin's checkboxes)."""


def new_webhook_secret() -> str:
    import secrets

    return secrets.token_hex(32)


class WebhookEndpoint(models.Model):
    """A URL an admin registered to hear about some events; each delivery is signed with ``secret``."""

    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text="The events this URL receives (see WebhookEvent).")
    secret = models.CharField(max_length=128, default=new_webhook_secret, editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.url


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event for one endpoint, retried with back-off until it is sent or gives up."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=64, choices=WebhookEvent.choices)
    payload = models.JSONField()
    status = models.CharField(
        max_length=16, choices=WebhookDeliveryStatus.choices, default=WebhookDeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    log = models.JSONField(default=list, help_text="Every attempt: when, status code, error.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # retry_webhooks: pending deliveries whose next attempt is due.
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event} #{self.pk} to {self.endpoint_id}"
