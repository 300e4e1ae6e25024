"""The forms of the QA pages: a period, a new sample, training. Scoring reads its fields by criterion."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from agents.models import Team
from core.models import Channel
from quality.actions import MAX_SAMPLE, SampleFilter
from quality.models import QaForm
from routing.models import Queue

DEFAULT_DAYS = 30
MAX_DAYS = 366


def midnight(day: date) -> datetime:
    """The start of ``day`` in ``TIME_ZONE``."""
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


class _Named(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.get_full_name() or obj.get_username()


def _date_field(label: str) -> forms.DateField:
    return forms.DateField(label=label, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))


class PeriodForm(forms.Form):
    """Whole days in ``TIME_ZONE``, ``end`` included; default the last 30 days."""

    start = _date_field("From")
    end = _date_field("To (included)")

    @classmethod
    def from_query(cls, query: Mapping[str, Any], days: int = DEFAULT_DAYS) -> PeriodForm:
        today = timezone.localdate()
        data = {key: query.get(key) for key in ("start", "end") if query.get(key)}
        data.setdefault("start", (today - timedelta(days=days - 1)).isoformat())
        data.setdefault("end", today.isoformat())
        return cls(data)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        if isinstance(start, date) and isinstance(end, date):
            if end < start:
                self.add_error("end", "The end date must not be before the start date.")
            elif (end - start).days + 1 > MAX_DAYS:
                self.add_error("end", f"At most {MAX_DAYS} days.")
        return cleaned

    def bounds(self) -> tuple[datetime, datetime]:
        """``[start, end)`` as aware datetimes; call once ``is_valid()`` is True."""
        return midnight(self.cleaned_data["start"]), midnight(self.cleaned_data["end"] + timedelta(days=1))


class SampleForm(PeriodForm):
    """A new sample: random (size and filters over conversations resolved in the period) or targeted (ids)."""

    form = forms.ModelChoiceField(QaForm.objects.filter(active=True), label="QA form", empty_label=None)
    mode = forms.ChoiceField(choices=[("random", "Random"), ("targeted", "Targeted (these ids)")], initial="random")
    size = forms.IntegerField(min_value=1, max_value=MAX_SAMPLE, initial=10, required=False, label="How many")
    conversations = forms.CharField(
        required=False, label="Conversation ids", help_text="Targeted: ids separated by commas or spaces."
    )
    queue = forms.ModelChoiceField(Queue.objects.order_by("name"), required=False, empty_label="All queues")
    agent = _Named(
        get_user_model().objects.filter(agent_profile__isnull=False).order_by("first_name", "username"),
        required=False,
        empty_label="All agents",
    )
    team = forms.ModelChoiceField(Team.objects.order_by("name"), required=False, empty_label="All teams")
    channel = forms.ChoiceField(choices=[("", "All channels"), *Channel.choices], required=False)
    category = forms.CharField(max_length=64, required=False)
    min_csat = forms.IntegerField(min_value=1, max_value=5, required=False, label="CSAT at least")
    max_csat = forms.IntegerField(min_value=1, max_value=5, required=False, label="CSAT at most")
    escalated = forms.ChoiceField(
        choices=[("", "Escalated or not"), ("yes", "Escalated only"), ("no", "Not escalated")], required=False
    )

    @classmethod
    def initial_form(cls) -> SampleForm:
        today = timezone.localdate()
        return cls(initial={"start": today - timedelta(days=6), "end": today, "size": 10, "mode": "random"})

    def clean_conversations(self) -> list[int]:
        text = self.cleaned_data.get("conversations") or ""
        parts = [part for part in text.replace(",", " ").split() if part]
        bad = [part for part in parts if not part.lstrip("#").isdigit()]
        if bad:
            raise forms.ValidationError(f"Not a conversation id: {', '.join(bad)}.")
        return [int(part.lstrip("#")) for part in parts]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("mode") == "random" and not cleaned.get("size"):
            self.add_error("size", "How many conversations to draw.")
        if cleaned.get("mode") == "targeted" and not cleaned.get("conversations") and "conversations" in cleaned:
            self.add_error("conversations", "Give the ids of the conversations to review.")
        return cleaned

    def sample_filter(self) -> SampleFilter:
        data = self.cleaned_data
        start, end = self.bounds()
        return SampleFilter(
            start=start,
            end=end,
            queue_id=data["queue"].pk if data["queue"] else None,
            agent_id=data["agent"].pk if data["agent"] else None,
            team_id=data["team"].pk if data["team"] else None,
            channel=data["channel"] or None,
            category=data["category"].strip() or None,
            min_csat=data["min_csat"],
            max_csat=data["max_csat"],
            escalated={"yes": True, "no": False}.get(data["escalated"]),
        )


class TrainingForm(forms.Form):
    topic = forms.CharField(max_length=200, label="Topic or course")
    due_on = forms.DateField(required=False, label="Due", widget=forms.DateInput(attrs={"type": "date"}))
    review = forms.IntegerField(required=False, widget=forms.HiddenInput)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
