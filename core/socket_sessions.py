"""Open sockets end with the access that opened them.

A socket is authenticated once, when it connects, and then hears its groups'
events for as long as it stays open. So whatever ends or changes a user's
access closes that user's open sockets, in every web process (through the
channel layer, :func:`core.realtime.end_sockets`):

* logging out, the user deactivated (``is_active`` turned off), deleted, or
  their password changed (which ends their other sessions): closed with
  :data:`~core.realtime.SESSION_ENDED`; a reconnect with the old session is
  refused;
* a role given or taken (group membership, from either side, ``clear()``
  included, or the group deleted) or superuser status changed: closed with
  :data:`~core.realtime.ACCESS_CHANGED`; the browser reconnects and joins the
  groups its role now allows.

These are signal receivers, not actions, on purpose: users, their groups and
their flags are changed through Django's own doors (the admin, ``logout``,
``createsuperuser``, the shell), which call no action of ours. They are
connected in :meth:`core.apps.CoreConfig.ready`.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model, user_logged_out
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save

from core.realtime import ACCESS_CHANGED, SESSION_ENDED, end_sockets

_BEFORE = "_switchboard_access_before_save"
"""Attribute on a user being saved: its stored (is_active, is_superuser, password) before the save."""
_ACCESS_FIELDS = ("is_active", "is_superuser", "password")


def connect_receivers() -> None:
    user_model = get_user_model()
    user_logged_out.connect(on_logged_out, dispatch_uid="core.socket_sessions.logged_out")
    m2m_changed.connect(on_groups_changed, sender=user_model.groups.through, dispatch_uid="core.socket_sessions.groups")
    pre_save.connect(on_user_saving, sender=user_model, dispatch_uid="core.socket_sessions.saving")
    post_save.connect(on_user_saved, sender=user_model, dispatch_uid="core.socket_sessions.saved")
    post_delete.connect(on_user_deleted, sender=user_model, dispatch_uid="core.socket_sessions.deleted")
    pre_delete.connect(on_group_deleting, sender=Group, dispatch_uid="core.socket_sessions.group_deleting")


def on_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        end_sockets([user.pk], SESSION_ENDED)


def on_groups_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **kwargs: Any
) -> None:
    """A role given or taken: ``instance`` is the user (``user.groups``) or, ``reverse``, the group (``user_set``)."""
    if not reverse:
        if action == "post_clear" or (action in ("post_add", "post_remove") and pk_set):
            end_sockets([instance.pk], ACCESS_CHANGED)
        return
    if action == "pre_clear":
        # post_clear says nothing of whom the group held: remember them now.
        instance._switchboard_cleared_users = list(instance.user_set.values_list("pk", flat=True))
    elif action == "post_clear":
        end_sockets(getattr(instance, "_switchboard_cleared_users", []), ACCESS_CHANGED)
    elif action in ("post_add", "post_remove"):
        end_sockets(pk_set or (), ACCESS_CHANGED)


def _touches_access(update_fields: Any) -> bool:
    return update_fields is None or bool(set(update_fields) & set(_ACCESS_FIELDS))


def on_user_saving(sender: Any, instance: Any, raw: bool, update_fields: Any, **kwargs: Any) -> None:
    if not raw and instance.pk is not None and _touches_access(update_fields):
        before = sender.objects.filter(pk=instance.pk).values_list(*_ACCESS_FIELDS).first()
        setattr(instance, _BEFORE, before)


def on_user_saved(sender: Any, instance: Any, created: bool, raw: bool, update_fields: Any, **kwargs: Any) -> None:
    before = instance.__dict__.pop(_BEFORE, None)
    if created or raw or not _touches_access(update_fields):
        return  # a new user, a fixture load, or a save that leaves access alone (the last_login stamp)
    if not instance.is_active:
        end_sockets([instance.pk], SESSION_ENDED)
    elif before is not None:
        _, was_superuser, password = before
        if password != instance.password:
            end_sockets([instance.pk], SESSION_ENDED)
        elif was_superuser != instance.is_superuser:
            end_sockets([instance.pk], ACCESS_CHANGED)


def on_user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    end_sockets([instance.pk], SESSION_ENDED)


def on_group_deleting(sender: Any, instance: Any, **kwargs: Any) -> None:
    # Deleting a group drops its memberships without an m2m_changed signal.
    end_sockets(list(instance.user_set.values_list("pk", flat=True)), ACCESS_CHANGED)
