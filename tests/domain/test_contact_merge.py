"""Merging contacts moves every identity and conversation and leaves an audit entry."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from core.actions import do_merge_contacts
from core.capture import do_capture_post
from core.errors import Invalid
from core.models import Channel, Contact, ContactMerge, Identity


@pytest.mark.django_db
def test_merge_moves_identities_and_conversations_and_records_it(make_post: Any, supervisor: Any) -> None:
    on_x = do_capture_post(make_post(author_id="x-1", name="Dana W")).conversation
    on_fb = do_capture_post(
        make_post(author_id="fb-9", name="Dana White", channel=Channel.FACEBOOK_MESSENGER)
    ).conversation
    into, other = on_x.contact, on_fb.contact
    Contact.objects.filter(pk=other.pk).update(is_vip=True, tags=["fibre"])
    other.refresh_from_db()
    other_id = other.pk

    audit = do_merge_contacts(into, other, actor=supervisor, reason="same person")

    assert not Contact.objects.filter(pk=other_id).exists()
    assert set(Identity.objects.values_list("contact_id", flat=True)) == {into.pk}
    assert set(into.conversations.values_list("pk", flat=True)) == {on_x.pk, on_fb.pk}
    into.refresh_from_db()
    assert into.is_vip and into.tags == ["fibre"]
    assert audit.merged_contact_id == other_id and audit.merged_contact_name == "Dana White"
    assert audit.actor == supervisor and audit.reason == "same person"
    assert sorted(audit.moved["conversations"]) == [on_fb.pk]
    assert len(audit.moved["identities"]) == 1


@pytest.mark.django_db
def test_a_contact_cannot_be_merged_into_itself(make_post: Any) -> None:
    contact = do_capture_post(make_post()).conversation.contact
    with pytest.raises(Invalid):
        do_merge_contacts(contact, contact, actor=None)
    assert ContactMerge.objects.count() == 0


@pytest.mark.django_db
def test_admins_merge_contacts_from_the_contact_list(make_post: Any, admin_user: Any) -> None:
    first = do_capture_post(make_post(author_id="a")).conversation.contact
    second = do_capture_post(make_post(author_id="b", channel=Channel.FACEBOOK_PUBLIC)).conversation.contact
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        "/admin/core/contact/",
        {"action": "merge_contacts", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert list(Contact.objects.values_list("pk", flat=True)) == [first.pk]
    assert ContactMerge.objects.get().actor == admin_user
