"""Routing configuration: skills, SLA policies, queues with overflow, routing rules, channel weights.

Everything here is edited in the admin and validated there: a queue no agent
could ever serve, a rule that can never match, or a skill level outside 1-10
is refused with a message that says why.
"""

from __future__ import annotations

import re
from datetime import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.models import Channel, NotificationEvent, Sentiment

LEVEL_VALIDATORS = [MinValueValidator(1), MaxValueValidator(10)]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class Skill(models.Model):
    name = models.CharField(max_length=64, unique=True)
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def validate_business_hours(value: object) -> None:
    """``{"mon": [["09:00", "17:30"]], ...}``; days left out are closed; ``{}`` means always open."""
    if not isinstance(value, dict):
        raise ValidationError('Give business hours as {"mon": [["09:00", "17:00"]], ...}, or {} for 24/7.')
    for day, spans in value.items():
        if day not in WEEKDAYS:
            raise ValidationError(f"{day!r} is not a weekday; use {', '.join(WEEKDAYS)}.")
        if not isinstance(spans, list):
            raise ValidationError(f"{day}: give a list of [start, end] pairs.")
        for span in spans:
            if not (
                isinstance(span, list) and len(span) == 2 and all(isinstance(t, str) and _HOURS.match(t) for t in span)
            ):
                raise ValidationError(f'{day}: {span!r} is not a ["HH:MM", "HH:MM"] pair.')
            if time.fromisoformat(span[0]) >= time.fromisoformat(span[1]):
                raise ValidationError(f"{day}: {span[0]} to {span[1]} ends before it starts.")


class SLAPolicy(models.Model):
    """How fast a queue promises to answer: the first reply, and each reply after the customer writes again.

    Targets count business time only when business hours are set (in
    ``TIME_ZONE``), skipping holidays.
    """

    name = models.CharField(max_length=100, unique=True)
    first_response_seconds = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    next_response_seconds = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    warning_percent = models.PositiveSmallIntegerField(
        default=75,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="An item is 'at risk' once this share of its target has passed.",
    )
    business_hours = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_business_hours],
        help_text='{"mon": [["09:00", "17:00"]], ...}; empty: targets run around the clock.',
    )

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(warning_percent__gte=1, warning_percent__lte=100), name="sla_warning_percent_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Holiday(models.Model):
    policy = models.ForeignKey(SLAPolicy, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["policy", "date"], name="holiday_once_per_policy")]

    def __str__(self) -> str:
        return f"{self.date} {self.name}".strip()


class RoutingMode(models.TextChoices):
    PUSH = "push", "Push: the router assigns"
    PULL = "pull", "Pull: agents take the next item"


class RouteMode(models.TextChoices):
    """How a push queue hands an item to the agent the router chose."""

    ASSIGN = "assign", "Assign: the item is the agent's at once"
    OFFER = "offer", "Offer: the agent accepts or declines within the offer time"


class BreachAction(models.TextChoices):
    NONE = "none", "Raise priority only"
    ESCALATE = "escalate", "Escalate to supervisors"
    MOVE = "move", "Move to the breach queue"


class Queue(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    priority = models.SmallIntegerField(default=0, help_text="Higher is served first when agents serve several queues.")
    sla_policy = models.ForeignKey(SLAPolicy, null=True, blank=True, on_delete=models.PROTECT, related_name="queues")
    is_default = models.BooleanField(
        default=False, help_text="Where captured conversations go when no routing rule picks a queue."
    )
    mode = models.CharField(max_length=8, choices=RoutingMode.choices, default=RoutingMode.PUSH)
    sticky_window_hours = models.PositiveIntegerField(
        default=72, help_text="A contact who writes again within this many hours goes to their previous agent."
    )
    sticky_wait_seconds = models.PositiveIntegerField(
        default=120, help_text="How long an item waits for its previous agent before anyone may take it."
    )
    route_mode = models.CharField(
        max_length=8,
        choices=RouteMode.choices,
        default=RouteMode.ASSIGN,
        help_text="Push queues only: assign at once, or offer to the agent, who accepts or declines.",
    )
    offer_seconds = models.PositiveIntegerField(
        default=20,
        validators=[MinValueValidator(5), MaxValueValidator(600)],
        help_text="Offer mode: how long an offer rings before it goes to the next agent (5 to 600 s).",
    )
    offer_timeouts_before_away = models.PositiveSmallIntegerField(
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text="Offer mode: an agent who lets this many offers in a row ring out is set away.",
    )
    breach_action = models.CharField(max_length=16, choices=BreachAction.choices, default=BreachAction.ESCALATE)
    breach_queue = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="For 'move'."
    )
    requeue_on_agent_timeout = models.BooleanField(
        default=True,
        help_text="When an agent's browser goes silent, put their assigned items back in the queue.",
    )
    email_signature = models.TextField(
        blank=True,
        max_length=2000,
        help_text="Put at the end of email replies to this queue's conversations when the agent has no signature "
        "of their own.",
    )

    class Meta:
        ordering = ["-priority", "name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_queue"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.breach_action == BreachAction.MOVE and self.breach_queue_id is None:
            raise ValidationError({"breach_queue": "Choose the queue breached items move to."})
        if self.breach_queue_id is not None and self.breach_queue_id == self.pk:
            raise ValidationError({"breach_queue": "A queue cannot move breached items to itself."})


class QueueSkill(models.Model):
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="skill_requirements")
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="+")
    min_level = models.PositiveSmallIntegerField(default=1, validators=LEVEL_VALIDATORS)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["queue", "skill"], name="queue_skill_once"),
            models.CheckConstraint(condition=Q(min_level__gte=1, min_level__lte=10), name="queue_skill_level_range"),
        ]

    def __str__(self) -> str:
        return f"{self.skill} ≥ {self.min_level}"


class OverflowKind(models.TextChoices):
    LOWER_LEVEL = "lower_level", "Lower every minimum level by"
    ADD_SKILL = "add_skill", "Also accept agents with another skill"
    MOVE_QUEUE = "move_queue", "Move to another queue"


class OverflowStep(models.Model):
    """What to relax once an item has waited ``after_seconds`` in its queue."""

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="overflow_steps")
    after_seconds = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=OverflowKind.choices)
    level_drop = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(9)])
    skill = models.ForeignKey(Skill, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    skill_level = models.PositiveSmallIntegerField(default=1, validators=LEVEL_VALIDATORS)
    target_queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["queue", "after_seconds"]

    def __str__(self) -> str:
        return f"after {self.after_seconds}s: {self.get_kind_display()}"

    def clean(self) -> None:
        if self.kind == OverflowKind.ADD_SKILL and self.skill_id is None:
            raise ValidationError({"skill": "Choose the skill that may also serve."})
        if self.kind == OverflowKind.MOVE_QUEUE:
            if self.target_queue_id is None:
                raise ValidationError({"target_queue": "Choose the queue to move to."})
            if self.target_queue_id == self.queue_id:
                raise ValidationError({"target_queue": "An item cannot overflow into its own queue."})


class RoutingRule(models.Model):
    """Ordered conditions on a new conversation → its queue, extra skills and a priority boost.

    Empty conditions match anything; the first enabled rule whose every set
    condition matches wins.
    """

    order = models.PositiveIntegerField(default=100)
    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    channel = models.CharField(max_length=32, choices=Channel.choices, blank=True)
    account = models.ForeignKey("monitoring.SocialAccount", null=True, blank=True, on_delete=models.CASCADE)
    listening_query = models.ForeignKey("monitoring.ListeningQuery", null=True, blank=True, on_delete=models.CASCADE)
    category = models.CharField(max_length=64, blank=True)
    language = models.CharField(max_length=16, blank=True)
    sentiment = models.CharField(max_length=16, choices=Sentiment.choices, blank=True)
    min_priority = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(100)])
    max_priority = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(100)])
    contact_vip = models.BooleanField(null=True, blank=True, help_text="Yes/No to require; empty: either.")
    contact_tag = models.CharField(max_length=64, blank=True)
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="rules")
    extra_skills = models.ManyToManyField(Skill, blank=True, related_name="+")
    extra_skill_level = models.PositiveSmallIntegerField(default=1, validators=LEVEL_VALIDATORS)
    priority_boost = models.SmallIntegerField(default=0, validators=[MinValueValidator(-100), MaxValueValidator(100)])

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # Each error names the field to change, so the admin and the API point at it.
        if self.min_priority is not None and self.max_priority is not None and self.min_priority > self.max_priority:
            raise ValidationError(
                {"min_priority": "This rule can never match: its minimum priority is above its maximum."}
            )
        query, account = self.listening_query, self.account
        if query is not None and account is not None and query.account_id != account.pk:
            raise ValidationError(
                {"listening_query": "This rule can never match: its listening query belongs to another account."}
            )
        if self.channel and account is not None and Channel.platform_of(self.channel) != account.platform:
            raise ValidationError(
                {"channel": "This rule can never match: its channel is not on its account's platform."}
            )


class ChannelWeight(models.Model):
    """How much of an agent's capacity one conversation on a channel takes (default 1)."""

    channel = models.CharField(max_length=32, choices=Channel.choices, unique=True)
    weight = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(100)])

    class Meta:
        ordering = ["channel"]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {self.weight}"


CONVERSATION_NOTIFICATION_EVENTS = (
    NotificationEvent.ESCALATED,
    NotificationEvent.SLA_BREACHED,
    NotificationEvent.SLA_AT_RISK,
)


def validate_notification_events(value: object) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError("Choose at least one event.")
    unknown = [item for item in value if item not in NotificationEvent.values]
    if unknown:
        raise ValidationError(f"Unknown event(s) {unknown!r}; use {', '.join(NotificationEvent.values)}.")


def parse_email_list(text: str) -> list[str]:
    """Addresses separated by commas, semicolons, spaces or new lines."""
    return [part for part in re.split(r"[\s,;]+", text or "") if part]


def validate_email_list(text: str) -> None:
    from django.core.validators import validate_email

    bad = []
    for address in parse_email_list(text):
        try:
            validate_email(address)
        except ValidationError:
            bad.append(address)
    if bad:
        raise ValidationError(f"Not an email address: {', '.join(bad)}.")


class NotificationRule(models.Model):
    """Who is emailed when something needs a supervisor: escalations, SLA breaches and risks, spikes.

    Filters narrow which conversations a rule hears about (all set filters must
    match; empty ones match anything): its queue, the team of its agent, a
    minimum priority. Recipients are users, every member of some groups (e.g.
    the ``supervisor`` role), the supervisors of a team, and extra addresses.
    Each recipient gets one email per event, however many rules name them.
    """

    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    events = models.JSONField(
        default=list, validators=[validate_notification_events], help_text="The events this rule emails about."
    )
    queue = models.ForeignKey(
        Queue, null=True, blank=True, on_delete=models.CASCADE, related_name="+", help_text="Only this queue's."
    )
    team = models.ForeignKey(
        "agents.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Only conversations held by (or last held by) an agent of this team.",
    )
    min_priority = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(100)], help_text="Only conversations at least this urgent."
    )
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    groups = models.ManyToManyField("auth.Group", blank=True, related_name="+", help_text="Every active member.")
    supervisors_of = models.ForeignKey(
        "agents.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="The supervisors (and admins) of this team.",
    )
    extra_emails = models.TextField(
        blank=True, validators=[validate_email_list], help_text="More addresses, separated by commas or new lines."
    )

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        has_filter = self.queue_id is not None or self.team_id is not None or self.min_priority is not None
        if isinstance(self.events, list) and NotificationEvent.SPIKE in self.events and has_filter:
            raise ValidationError(
                {
                    "events": "A spike is about a category, not a conversation: it has no queue, team or priority. "
                    "Put spike alerts in a rule without those filters."
                }
            )


class SpikeAlert(models.Model):
    """A spike already announced: one row per (category, hour), so each spike is announced once."""

    category = models.CharField(max_length=64, blank=True)
    hour = models.DateTimeField(help_text="The start of the hour (UTC) the spike was seen in.")
    figures = models.JSONField(default=dict, help_text="The counts and baselines when it was first seen.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-hour", "category"]
        constraints = [models.UniqueConstraint(fields=["category", "hour"], name="spike_alert_once_per_hour")]

    def __str__(self) -> str:
        return f"{self.category or 'uncategorised'} at {self.hour:%Y-%m-%d %H:00}"


class OfferOutcome(models.TextChoices):
    PENDING = "pending", "Ringing"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    TIMED_OUT = "timed_out", "Timed out"
    WITHDRAWN = "withdrawn", "Withdrawn"
    """The conversation left the queue (taken by hand, closed, moved) while the offer rang."""


REFUSED = (OfferOutcome.DECLINED, OfferOutcome.TIMED_OUT)


class Offer(models.Model):
    """A queued conversation offered to one agent of an offer-mode queue, ringing until answered or expired.

    While it rings the conversation stays queued and ``weight`` of the agent's
    capacity is reserved for it. At most one offer rings per conversation and
    per agent (the two partial unique constraints make it so even with
    routers racing). Written only by ``routing.offers``.
    """

    conversation = models.ForeignKey("core.Conversation", on_delete=models.CASCADE, related_name="offers")
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    weight = models.PositiveSmallIntegerField(default=1, help_text="The capacity it reserves while it rings.")
    offered_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True, help_text="When it was accepted or declined.")
    outcome = models.CharField(max_length=16, choices=OfferOutcome.choices, default=OfferOutcome.PENDING)

    class Meta:
        ordering = ["-offered_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"], condition=Q(outcome="pending"), name="one_ringing_offer_per_conversation"
            ),
            models.UniqueConstraint(
                fields=["agent"], condition=Q(outcome="pending"), name="one_ringing_offer_per_agent"
            ),
        ]
        indexes = [
            # The sweep looks for ringing offers past their time; the router for who refused an item.
            models.Index(fields=["outcome", "expires_at"], name="offer_outcome_expiry"),
            models.Index(fields=["conversation", "outcome"], name="offer_conversation_outcome"),
            models.Index(fields=["agent", "offered_at"], name="offer_agent_time"),
        ]

    def __str__(self) -> str:
        return f"#{self.conversation_id} to {self.agent_id}: {self.get_outcome_display()}"
