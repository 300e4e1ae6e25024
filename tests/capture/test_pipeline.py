"""The capture pipeline: filter, classify, prioritise, thread; edits and deletions."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from django.utils import timezone

from core.actions import do_record_reply
from core.models import Contact, Conversation, Event, EventKind, Message
from core.models import ConversationState as S
from core.posts import Deletion
from monitoring.models import BlockedAuthor, ClassificationRule, FilterRule, SocialAccount
from monitoring.pipeline import ingest
from routing.models import Queue, Skill
from tests.states import conversation_in_state


@pytest.fixture
def account(db: None) -> SocialAccount:
    return SocialAccount.objects.create(platform="x", external_id="4400100", name="Northwind Help")


@pytest.mark.django_db
def test_posts_by_our_own_account_are_kept_but_filtered(make_post: Any, account: SocialAccount, queue: Queue) -> None:
    stats = ingest([make_post(author_id="4400100", text="We're looking into it")])
    assert stats.filtered == 1 and stats.new_conversations == 0
    message = Message.objects.get()
    assert message.conversation is None and message.filtered_reason == "written by our own account"
    assert Event.objects.get().kind == EventKind.FILTERED


@pytest.mark.django_db
def test_blocked_authors_and_filter_rules_keep_noise_out_of_the_queue(make_post: Any, queue: Queue) -> None:
    BlockedAuthor.objects.create(platform="x", external_id="666", reason="troll")
    FilterRule.objects.create(name="crypto", pattern=r"crypto|airdrop", is_regex=True)
    FilterRule.objects.create(name="giveaway word", pattern="giveaway")
    stats = ingest(
        [
            make_post(author_id="666", text="you are all useless"),
            make_post(text="Free CRYPTO airdrop"),
            make_post(text="Join the giveaway now"),
            make_post(text="Is a giveaways page real?"),  # whole words only
        ]
    )
    assert stats.filtered == 3 and stats.new_conversations == 1
    reasons = set(Message.objects.exclude(filtered_reason="").values_list("filtered_reason", flat=True))
    assert reasons == {"blocked author", "filter rule: crypto", "filter rule: giveaway word"}
    assert Conversation.objects.get().subject == "Is a giveaways page real?"


@pytest.mark.django_db
def test_rules_set_category_skills_and_boost_and_say_why(make_post: Any, queue: Queue) -> None:
    billing, spanish = Skill.objects.create(name="billing"), Skill.objects.create(name="spanish")
    rule = ClassificationRule.objects.create(
        order=1, name="Billing", keywords=["factura"], category="billing", priority_boost=7
    )
    rule.skills.set([billing])
    later = ClassificationRule.objects.create(order=2, name="Refunds", regex=r"reembolso", category="refund")
    assert later.category == "refund"
    language_rule = ClassificationRule.objects.create(order=3, name="Spanish", language="es")
    language_rule.skills.set([spanish])

    ingest([make_post(text="¿Cómo cambio el plan de mi factura? Quiero un reembolso")])

    conversation = Conversation.objects.get()
    assert conversation.category == "billing", "the first matching rule with a category wins"
    assert set(conversation.required_skills.values_list("name", flat=True)) == {"billing", "spanish"}
    assert conversation.language == "es"
    why = Message.objects.get().triage
    assert why["category"] == {"value": "billing", "rule": "Billing"}
    assert why["rules"] == ["Billing", "Refunds", "Spanish"]
    assert {"factor": "rule: Billing", "points": 7} in why["priority"]["factors"]
    assert why["language"] == {"value": "es", "source": "detected"}
    assert why["sentiment"]["value"] == conversation.sentiment


@pytest.mark.django_db
def test_the_platform_language_tag_wins_over_detection(make_post: Any, queue: Queue) -> None:
    ingest([replace(make_post(text="ok ok ok"), language="pt")])
    assert Message.objects.get().triage["language"] == {"value": "pt", "source": "platform"}
    assert Conversation.objects.get().language == "pt"


@pytest.mark.django_db
def test_priority_rises_with_anger_urgency_influence_vip_and_repeat_contact(make_post: Any, queue: Queue) -> None:
    ingest([make_post(text="Thanks, all good", followers=0, author_id="calm")])
    calm = Conversation.objects.get()
    assert calm.sentiment == "positive"

    angry = make_post(text="Outage AGAIN. This is terrible, I want a refund!!", followers=250_000, author_id="loud")
    ingest([replace(angry, author=replace(angry.author, verified=True))])
    loud = Conversation.objects.exclude(pk=calm.pk).get()
    factors = {f["factor"]: f["points"] for f in loud.messages.get().triage["priority"]["factors"]}
    assert loud.sentiment == "negative" and factors["negative sentiment"] > 10
    assert factors["urgent words"] == 15 and factors["followers"] == 15 and factors["verified author"] == 5
    assert loud.priority > calm.priority + 40

    Contact.objects.filter(pk=loud.contact_id).update(is_vip=True)
    ingest([make_post(text="Another question", author_id="loud", followers=250_000)])
    again = Conversation.objects.order_by("-pk").first()
    assert again is not None
    factors = {f["factor"]: f["points"] for f in again.messages.get().triage["priority"]["factors"]}
    assert factors["VIP contact"] == 20 and factors["repeat contact"] == 10


@pytest.mark.django_db
def test_a_reply_joins_the_conversation_of_the_post_it_answers(make_post: Any, queue: Queue) -> None:
    ingest([make_post(external_id="900", thread_key="900")])
    # X v1.1 webhooks carry no conversation id: the thread is found through the parent.
    ingest([replace(make_post(external_id="901", thread_key="901"), in_reply_to_external_id="900")])
    assert Conversation.objects.count() == 1 and Message.objects.count() == 2


@pytest.mark.django_db
def test_a_batch_opening_and_continuing_a_thread_makes_one_conversation(make_post: Any, queue: Queue) -> None:
    now = timezone.now()
    first = make_post(external_id="1", thread_key="1", sent_at=now - timezone.timedelta(seconds=20))
    second = replace(make_post(external_id="2", thread_key="1", sent_at=now - timezone.timedelta(seconds=10)))
    stats = ingest([second, first, first])  # out of order, and a duplicate inside the batch
    assert stats.stored == 2 and stats.duplicates == 1 and stats.new_conversations == 1
    conversation = Conversation.objects.get()
    assert conversation.subject == first.text and conversation.state == S.QUEUED
    kinds = list(conversation.events.order_by("id").values_list("kind", flat=True))
    assert kinds == [EventKind.CAPTURED, EventKind.QUEUED, EventKind.CUSTOMER_REPLY]


@pytest.mark.django_db
def test_an_edit_updates_the_text_and_keeps_the_old_version(make_post: Any, queue: Queue) -> None:
    post = make_post(external_id="77", text="Please call me back")
    ingest([post])
    stats = ingest([replace(post, text="Please call me back, today if possible", edited=True)])
    assert stats.edited == 1 and Message.objects.count() == 1
    message = Message.objects.get()
    assert message.text == "Please call me back, today if possible"
    assert [version["text"] for version in message.edit_history] == ["Please call me back"]


@pytest.mark.django_db
def test_an_edit_of_a_post_never_seen_is_captured_as_new(make_post: Any, queue: Queue) -> None:
    ingest([replace(make_post(external_id="78"), edited=True)])
    assert Conversation.objects.filter(state=S.QUEUED).count() == 1


@pytest.mark.django_db
def test_a_post_deleted_before_any_answer_abandons_its_conversation(make_post: Any, queue: Queue) -> None:
    ingest([make_post(external_id="88")])
    stats = ingest([], [Deletion(platform="x", external_id="88", at=timezone.now())])
    assert stats.deleted == 1
    conversation = Conversation.objects.get()
    assert conversation.state == S.CLOSED
    assert conversation.events.filter(kind=EventKind.ABANDONED).count() == 1
    assert Message.objects.get().deleted_at is not None


@pytest.mark.django_db
def test_a_post_deleted_after_we_answered_is_only_marked(make_post: Any, queue: Queue, agent: Any) -> None:
    conversation = conversation_in_state(S.ASSIGNED, make_post(external_id="89"), queue=queue, agent=agent)
    do_record_reply(conversation, agent, "Sorry to hear that")
    ingest([], [Deletion(platform="x", external_id="89", at=timezone.now())])
    conversation.refresh_from_db()
    assert conversation.state == S.WAITING
    assert not conversation.events.filter(kind=EventKind.ABANDONED).exists()


@pytest.mark.django_db
def test_deletions_of_unknown_posts_are_ignored(queue: Queue) -> None:
    assert ingest([], [Deletion(platform="x", external_id="nope", at=timezone.now())]).deleted == 0
