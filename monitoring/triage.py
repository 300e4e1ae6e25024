"""Filter, classify and prioritise posts before they are stored: pure decisions, no writes.

:class:`TriageRules` loads everything a batch needs in a few queries (accounts,
rules, blocked authors, what we know of the authors) and then decides each
post in memory, recording *why* alongside *what*.

Priority score (0-100), the sum of:
- base 30;
- negative sentiment: up to +25 (25 times minus a negative VADER compound);
- urgent words (outage, refund, lawyer...): +15;
- author influence: +3 per power of ten followers, at most +15; verified +5;
- VIP contact: +20;
- repeat contact (another conversation in the last 7 days): +10;
- every matching classification rule's boost.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Exists, OuterRef
from django.utils import timezone
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from core.models import Contact, Conversation, Identity, Sentiment
from core.posts import InboundPost, Triage
from monitoring.language import detect_language
from monitoring.models import BlockedAuthor, ClassificationRule, FilterRule, SocialAccount

BASE_PRIORITY = 30
URGENT_WORDS = re.compile(
    r"\b(outage|down|offline|urgent|asap|emergency|refund|cancel\w*|lawyer|legal|ombudsman|fraud|scam|"
    r"charged twice|never again|sin internet|urgente|reembolso|panne|remboursement|störung|dringend)\b",
    re.IGNORECASE,
)
REPEAT_WINDOW = timedelta(days=7)

_vader: SentimentIntensityAnalyzer | None = None


def _analyzer() -> SentimentIntensityAnalyzer:
    global _vader
    if _vader is None:
        _vader = SentimentIntensityAnalyzer()  # loads its lexicon once per process
    return _vader


@dataclass
class _Rule:
    name: str
    keywords: list[str]
    regex: re.Pattern[str] | None
    account_id: int | None
    language: str
    author_handle: str
    category: str
    skill_ids: tuple[int, ...]
    skill_names: tuple[str, ...]
    boost: int

    def matches(self, post: InboundPost, language: str, lowered: str) -> bool:
        if self.account_id is not None and post.account_id != self.account_id:
            return False
        if self.language and self.language != language:
            return False
        if self.author_handle and self.author_handle.lstrip("@").lower() != post.author.handle.lower():
            return False
        if self.keywords and not any(keyword in lowered for keyword in self.keywords):
            return False
        return not (self.regex is not None and not self.regex.search(post.full_text))


@dataclass
class _AuthorFacts:
    is_vip: bool = False
    recent_conversations: int = 0


@dataclass
class TriageRules:
    own_accounts: set[tuple[str, str]] = field(default_factory=set)
    blocked: set[tuple[str, str]] = field(default_factory=set)
    filters: list[tuple[str, str, re.Pattern[str]]] = field(default_factory=list)
    rules: list[_Rule] = field(default_factory=list)

    @classmethod
    def load(cls) -> TriageRules:
        filters = []
        for filter_rule in FilterRule.objects.filter(enabled=True):
            pattern = filter_rule.pattern if filter_rule.is_regex else r"\b" + re.escape(filter_rule.pattern) + r"\b"
            try:
                filters.append((filter_rule.name, filter_rule.platform, re.compile(pattern, re.IGNORECASE)))
            except re.error:
                continue  # refused by the admin form; an old bad row must not stop capture
        rules = []
        for rule in ClassificationRule.objects.filter(enabled=True).prefetch_related("skills"):
            try:
                regex = re.compile(rule.regex, re.IGNORECASE) if rule.regex else None
            except re.error:
                continue
            skills = list(rule.skills.all())
            rules.append(
                _Rule(
                    name=rule.name,
                    keywords=[str(k).lower() for k in rule.keywords if isinstance(k, str) and k.strip()],
                    regex=regex,
                    account_id=rule.account_id,
                    language=rule.language,
                    author_handle=rule.author_handle,
                    category=rule.category,
                    skill_ids=tuple(s.pk for s in skills),  # classification asks for level 1
                    skill_names=tuple(s.name for s in skills),
                    boost=rule.priority_boost,
                )
            )
        return cls(
            own_accounts=set(SocialAccount.objects.values_list("platform", "external_id")),
            blocked=set(BlockedAuthor.objects.values_list("platform", "external_id")),
            filters=filters,
            rules=rules,
        )

    def triage_all(self, posts: Sequence[InboundPost]) -> list[Triage]:
        facts = _author_facts(posts)
        return [self.triage(post, facts.get((post.author.platform, post.author.external_id))) for post in posts]

    def triage(self, post: InboundPost, facts: _AuthorFacts | None = None) -> Triage:
        reason = self._filtered_reason(post)
        if reason:
            return Triage(filtered_reason=reason, why={"filtered": reason})
        facts = facts or _AuthorFacts()
        language, language_source = (
            (post.language, "platform") if post.language else (detect_language(post.full_text), "detected")
        )
        compound = _analyzer().polarity_scores(post.full_text)["compound"]
        sentiment = (
            Sentiment.NEGATIVE if compound <= -0.05 else Sentiment.POSITIVE if compound >= 0.05 else Sentiment.NEUTRAL
        )

        lowered = post.full_text.lower()
        category, category_rule, skill_ids, skill_names, matched = "", "", [], [], []
        factors: list[dict[str, object]] = [{"factor": "base", "points": BASE_PRIORITY}]
        for rule in self.rules:
            if not rule.matches(post, language, lowered):
                continue
            matched.append(rule.name)
            if rule.category and not category:
                category, category_rule = rule.category, rule.name
            skill_ids += [s for s in rule.skill_ids if s not in skill_ids]
            skill_names += [s for s in rule.skill_names if s not in skill_names]
            if rule.boost:
                factors.append({"factor": f"rule: {rule.name}", "points": rule.boost})
        if compound < 0:
            factors.append({"factor": "negative sentiment", "points": round(-25 * compound), "detail": compound})
        urgent = URGENT_WORDS.search(post.full_text)
        if urgent:
            factors.append({"factor": "urgent words", "points": 15, "detail": urgent.group(0)})
        influence = min(15, round(3 * math.log10(post.author.followers_count + 1)))
        if influence:
            factors.append({"factor": "followers", "points": influence, "detail": post.author.followers_count})
        if post.author.verified:
            factors.append({"factor": "verified author", "points": 5})
        if facts.is_vip:
            factors.append({"factor": "VIP contact", "points": 20})
        if facts.recent_conversations:
            factors.append({"factor": "repeat contact", "points": 10, "detail": "wrote within 7 days"})
        priority = max(0, min(100, sum(int(f["points"]) for f in factors)))  # type: ignore[call-overload]
        return Triage(
            language=language,
            sentiment=sentiment,
            sentiment_score=compound,
            category=category,
            skills=tuple((skill_id, 1) for skill_id in skill_ids),
            priority=priority,
            why={
                "language": {"value": language, "source": language_source if language else "unknown"},
                "sentiment": {"value": sentiment, "compound": compound},
                "category": {"value": category, "rule": category_rule} if category else None,
                "rules": matched,
                "skills": skill_names,
                "priority": {"score": priority, "factors": factors},
            },
        )

    def _filtered_reason(self, post: InboundPost) -> str:
        if (post.author.platform, post.author.external_id) in self.own_accounts:
            return "written by our own account"
        if (post.author.platform, post.author.external_id) in self.blocked:
            return "blocked author"
        for name, platform, pattern in self.filters:
            if (not platform or platform == post.platform) and pattern.search(post.full_text):
                return f"filter rule: {name}"
        return ""


def _author_facts(posts: Sequence[InboundPost]) -> dict[tuple[str, str], _AuthorFacts]:
    """VIP flag and recent conversations of each known author, in two queries."""
    keys = {(p.author.platform, p.author.external_id) for p in posts}
    by_platform: dict[str, list[str]] = {}
    for platform, external_id in keys:
        by_platform.setdefault(platform, []).append(external_id)
    contact_of: dict[tuple[str, str], int] = {}
    vip: dict[int, bool] = {}
    for platform, external_ids in by_platform.items():
        for external_id, contact_id, is_vip in Identity.objects.filter(
            platform=platform, external_id__in=external_ids
        ).values_list("external_id", "contact_id", "contact__is_vip"):
            contact_of[(platform, external_id)] = contact_id
            vip[contact_id] = is_vip
    if not contact_of:
        return {}
    # One index probe per contact, however many conversations a regular has had.
    since = timezone.now() - REPEAT_WINDOW
    recent = set(
        Contact.objects.filter(pk__in=set(contact_of.values()))
        .filter(Exists(Conversation.objects.filter(contact=OuterRef("pk"), created_at__gte=since)))
        .values_list("pk", flat=True)
    )
    return {key: _AuthorFacts(vip[contact], int(contact in recent)) for key, contact in contact_of.items()}
