"""What Switchboard listens to, and the rules that sort what it hears.

Admins configure all of it in the admin: the organisation's social accounts
(with credentials stored encrypted), listening queries, filter rules, blocked
authors and classification rules.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.models import Platform


class SocialPlatform(models.TextChoices):
    X = Platform.X.value, Platform.X.label
    FACEBOOK = Platform.FACEBOOK.value, Platform.FACEBOOK.label
    SANDBOX = Platform.SANDBOX.value, Platform.SANDBOX.label
    EMAIL = Platform.EMAIL.value, Platform.EMAIL.label
    CHAT = Platform.CHAT.value, Platform.CHAT.label


class PollState(models.Model):
    """When a source is polled next, who holds it, and where it got to.

    ``cursor`` is written only after the posts it covers are stored, so a
    crash re-reads instead of skipping. ``poll_lease_until`` lets one worker
    claim a poll with a conditional update; a crashed worker's lease expires.
    """

    enabled = models.BooleanField(default=True)
    poll_interval_seconds = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(5), MaxValueValidator(86_400)]
    )
    next_poll_at = models.DateTimeField(default=timezone.now)
    poll_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    cursor = models.JSONField(default=dict, blank=True, editable=False)
    last_polled_at = models.DateTimeField(null=True, blank=True, editable=False, help_text="Last successful poll.")
    last_error = models.TextField(blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        abstract = True


class SocialAccount(PollState):
    platform = models.CharField(max_length=16, choices=SocialPlatform.choices)
    external_id = models.CharField(
        "platform id", max_length=64, help_text="The X user id or the Facebook Page id (digits, not the name)."
    )
    name = models.CharField(max_length=100)
    handle = models.CharField(max_length=100, blank=True, help_text="@handle or Page name, for display.")
    credentials_encrypted = models.TextField(blank=True, editable=False)
    disabled_reason = models.CharField(max_length=300, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["platform", "name"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "external_id"], name="social_account_unique"),
        ]
        indexes = [
            # The poll scheduler: enabled sources that are due.
            models.Index(fields=["next_poll_at"], condition=Q(enabled=True), name="account_due"),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()}: {self.name}"

    def connection_settings(self) -> dict[str, object]:
        """What a connector needs besides credentials: a mailbox's servers; nothing for the social platforms."""
        mailbox = Mailbox.objects.filter(account=self).first() if self.platform == SocialPlatform.EMAIL else None
        return mailbox.connection_settings() if mailbox is not None else {}


class Security(models.TextChoices):
    SSL = "ssl", "TLS from the start (IMAPS 993, SMTPS 465)"
    STARTTLS = "starttls", "STARTTLS (IMAP 143, submission 587)"
    NONE = "none", "None (a server on this host only)"


class Mailbox(models.Model):
    """An email address Switchboard answers: where its mail is read (IMAP) and sent from (SMTP).

    Its :class:`SocialAccount` (platform ``email``) is the capture source like any other: the poll schedule,
    lease, cursor (UIDVALIDITY and UID), back-off and the encrypted passwords (``imap_password``,
    ``smtp_password``) live there. A mailbox with no IMAP host is not polled: its mail arrives through the
    ``receive_email`` pipe command.
    """

    account = models.OneToOneField(SocialAccount, on_delete=models.CASCADE, primary_key=True, related_name="mailbox")
    address = models.EmailField(unique=True, help_text="The address customers write to, e.g. help@agency.example.")
    from_name = models.CharField(max_length=100, blank=True, help_text="Shown as the sender's name on our replies.")
    imap_host = models.CharField(max_length=253, blank=True, help_text="Empty: mail comes only by the pipe command.")
    imap_port = models.PositiveIntegerField(default=993, validators=[MinValueValidator(1), MaxValueValidator(65535)])
    imap_security = models.CharField(max_length=8, choices=Security.choices, default=Security.SSL)
    imap_user = models.CharField(max_length=200, blank=True)
    imap_folder = models.CharField(max_length=200, default="INBOX")
    sent_folder = models.CharField(
        max_length=200,
        blank=True,
        help_text="Where a copy of each reply is filed (e.g. Sent), and looked for before a retry, so a reply whose "
        "outcome is unknown is never sent twice. Empty: no copy is kept.",
    )
    smtp_host = models.CharField(
        max_length=253, blank=True, help_text="Empty: replies go through the site's mail settings (EMAIL_BACKEND)."
    )
    smtp_port = models.PositiveIntegerField(default=587, validators=[MinValueValidator(1), MaxValueValidator(65535)])
    smtp_security = models.CharField(max_length=8, choices=Security.choices, default=Security.STARTTLS)
    smtp_user = models.CharField(max_length=200, blank=True)
    message_id_domain = models.CharField(
        max_length=253, blank=True, help_text="The domain of our Message-IDs; empty: the address's domain."
    )
    signature = models.TextField(
        blank=True,
        help_text="Prefilled below the reply in the composer when neither the agent nor the queue has a signature.",
    )

    class Meta:
        ordering = ["address"]
        verbose_name_plural = "mailboxes"

    def __str__(self) -> str:
        return self.address

    def connection_settings(self) -> dict[str, object]:
        return {
            "address": self.address,
            "from_name": self.from_name,
            "imap_host": self.imap_host,
            "imap_port": self.imap_port,
            "imap_security": self.imap_security,
            "imap_user": self.imap_user or self.address,
            "imap_folder": self.imap_folder,
            "sent_folder": self.sent_folder,
            "smtp_host": self.smtp_host,
            "smtp_port": self.smtp_port,
            "smtp_security": self.smtp_security,
            "smtp_user": self.smtp_user,
            "message_id_domain": self.message_id_domain or self.address.rpartition("@")[2],
            "signature": self.signature,
        }


class HeldDelivery(models.Model):
    """A signed webhook delivery for an account that was disabled when it arrived: kept whole, never dropped.

    The platform is answered 200 (it would retry for days, then give up and lose the posts); an admin processes
    the delivery once the account is enabled again, and its posts then go through capture as if just delivered.
    ``body`` is the delivery as the platform signed it; a delivery naming several accounts is held once for each
    disabled one, and processing takes only that account's part.
    """

    account = models.ForeignKey(SocialAccount, on_delete=models.CASCADE, related_name="held_deliveries")
    body = models.TextField(editable=False, help_text="The delivery as the platform signed it (JSON).")
    posts = models.PositiveIntegerField(default=0, editable=False, help_text="Its posts for the account.")
    deletions = models.PositiveIntegerField(default=0, editable=False, help_text="Its deletions for the account.")
    received_at = models.DateTimeField(default=timezone.now, editable=False)
    processed_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["received_at", "id"]
        verbose_name_plural = "held deliveries"
        indexes = [
            # The admin's list of what still waits, per account.
            models.Index(fields=["account", "received_at"], condition=Q(processed_at=None), name="held_waiting"),
        ]

    def __str__(self) -> str:
        return f"Delivery for {self.account} received {self.received_at:%Y-%m-%d %H:%M:%S}"


def _string_list(value: object, field: str) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ValidationError({field: 'Give a list of non-empty words, e.g. ["refund", "outage"].'})


class ListeningQuery(PollState):
    """Social listening beyond mentions: posts matching these terms are captured too."""

    account = models.ForeignKey(SocialAccount, on_delete=models.CASCADE, related_name="listening_queries")
    name = models.CharField(max_length=100)
    keywords = models.JSONField(default=list, blank=True)
    hashtags = models.JSONField(default=list, blank=True)
    phrases = models.JSONField(default=list, blank=True)
    exclusions = models.JSONField(default=list, blank=True)
    languages = models.JSONField(default=list, blank=True, help_text='ISO codes, e.g. ["en", "es"]; empty: any.')

    class Meta:
        verbose_name_plural = "listening queries"
        ordering = ["account", "name"]
        indexes = [
            models.Index(fields=["next_poll_at"], condition=Q(enabled=True), name="query_due"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        for field in ("keywords", "hashtags", "phrases", "exclusions", "languages"):
            _string_list(getattr(self, field), field)
        if not (self.keywords or self.hashtags or self.phrases):
            raise ValidationError("A listening query needs at least one keyword, hashtag or phrase.")
        if self.account_id and self.account.platform in (SocialPlatform.FACEBOOK, SocialPlatform.EMAIL):
            raise ValidationError(
                {"account": f"{self.account.get_platform_display()} offers no keyword search; listen on an X account."}
            )


class FilterRule(models.Model):
    """Noise to keep out of the queues. Filtered posts are stored and counted, never routed."""

    name = models.CharField(max_length=100)
    pattern = models.CharField(max_length=500, help_text="A word or phrase, or a regular expression.")
    is_regex = models.BooleanField(default=False)
    platform = models.CharField(max_length=16, choices=SocialPlatform.choices, blank=True, help_text="Empty: all.")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.is_regex:
            try:
                re.compile(self.pattern)
            except re.error as error:
                raise ValidationError({"pattern": f"Not a valid regular expression: {error}."}) from None


class BlockedAuthor(models.Model):
    platform = models.CharField(max_length=16, choices=SocialPlatform.choices)
    external_id = models.CharField(max_length=128, help_text="The author's platform user id.")
    handle = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["platform", "external_id"], name="blocked_author_unique")]

    def __str__(self) -> str:
        return f"{self.platform}: {self.handle or self.external_id}"


class ClassificationRule(models.Model):
    """Sets a post's category and required skills when all its conditions match.

    Every matching rule adds its skills and priority boost; the first
    matching rule (by ``order``) that names a category sets the category.
    """

    order = models.PositiveIntegerField(default=100)
    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    keywords = models.JSONField(default=list, blank=True, help_text="Any of these words or phrases.")
    regex = models.CharField(max_length=500, blank=True)
    account = models.ForeignKey(SocialAccount, null=True, blank=True, on_delete=models.CASCADE)
    language = models.CharField(max_length=16, blank=True)
    author_handle = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=64, blank=True)
    skills = models.ManyToManyField("routing.Skill", blank=True)
    priority_boost = models.SmallIntegerField(default=0, validators=[MinValueValidator(-50), MaxValueValidator(50)])

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.keywords:
            _string_list(self.keywords, "keywords")
        if self.regex:
            try:
                re.compile(self.regex)
            except re.error as error:
                raise ValidationError({"regex": f"Not a valid regular expression: {error}."}) from None
        if not (self.keywords or self.regex or self.account_id or self.language or self.author_handle):
            raise ValidationError("A rule needs at least one condition, or it would match every post.")


class TrackedKeyword(models.Model):
    """A word or phrase the keyword trends report counts in customers' posts (beside the listening
    queries' and classification rules' keywords, which it counts by default too)."""

    keyword = models.CharField(max_length=100, unique=True, help_text="Matched case-insensitively anywhere in a post.")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["keyword"]

    def __str__(self) -> str:
        return self.keyword

    def clean(self) -> None:
        self.keyword = " ".join(self.keyword.split()).lower()
        if not self.keyword:
            raise ValidationError({"keyword": "A keyword cannot be blank."})
