"""Saving and deleting configuration (queues, skills, rules, templates...) with the admin's own validation.

The admin validates configuration with ModelForms (the model's ``clean`` and
field validators, plus form-level checks such as "no classification rule
sets this category"). The API's configuration actions pass their input
through the very same forms, so the two doors can never disagree about what
is valid; this module turns a form's verdict into the domain's ``Invalid``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TypeVar

from django import forms
from django.db import models, transaction
from django.forms.models import model_to_dict

from core.errors import Conflict, Invalid
from core.rest.ids import ID_MAX, ID_MIN

M = TypeVar("M", bound=models.Model)

NON_FIELD = "__all__"


def bound_form(form_class: type[forms.ModelForm], instance: models.Model | None, data: dict[str, Any]) -> Any:
    """``form_class`` bound to ``data`` on top of the instance's current values (a partial update).

    Values are given as the form's widgets expect them from a POST: ids for
    foreign keys, lists of ids for many-to-many, ``""`` for an empty choice.
    """
    fields = list(form_class.base_fields)
    if instance is not None:
        current: dict[str, Any] = model_to_dict(instance, fields=fields)
    else:
        # A new record starts from the model's defaults: an omitted boolean means its
        # default (``enabled=True``...), not "unticked" as a missing checkbox would.
        model = form_class._meta.model
        current = {
            field.name: field.get_default()
            for field in model._meta.concrete_fields
            if field.name in fields and field.has_default()
        }
    for name, value in list(current.items()):
        if isinstance(value, list) and value and isinstance(value[0], models.Model):
            current[name] = [item.pk for item in value]
    merged = {**current, **data}
    form_data: dict[str, Any] = {}
    for name, value in merged.items():
        if name not in fields:
            continue
        field = form_class.base_fields[name]
        if isinstance(field, forms.JSONField) and not isinstance(value, str):
            value = json.dumps(value)  # the form parses JSON text, as posted from a textarea
        if isinstance(field, forms.ModelChoiceField):
            _check_ids(name, value)
        form_data[name] = "" if value is None else value
    return form_class(data=form_data, instance=instance)


def _check_ids(name: str, value: Any) -> None:
    """Ids beyond 64 bits can name no row, and SQLite cannot even compare them: refuse them as unknown choices."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, bool) or not isinstance(item, int | str):
            continue
        text = str(item).strip()
        if text.lstrip("-").isdigit() and not ID_MIN <= int(text) <= ID_MAX:
            message = "Select a valid choice. That choice is not one of the available choices."
            raise Invalid(f"{name}: {message}", fields={name: [message]})


def invalid_from_form(form: forms.BaseForm) -> Invalid:
    """The form's errors as one ``Invalid``: field errors by field, the rest in the message."""
    fields = {name: [str(message) for message in messages] for name, messages in form.errors.items()}
    general = fields.pop(NON_FIELD, [])
    parts = general + [f"{name}: {' '.join(messages)}" for name, messages in fields.items()]
    return Invalid(" ".join(parts) or "Invalid input.", fields=fields)


def check_save_form(form: Any) -> Any:
    """Validate ``form`` as the admin would and save it; ``Invalid`` naming each field otherwise."""
    if not form.is_valid():
        raise invalid_from_form(form)
    with transaction.atomic():
        return form.save()


def check_delete(instance: models.Model, references: Iterable[tuple[str, models.QuerySet[Any]]]) -> None:
    """Delete ``instance`` unless something still refers to it: then a ``Conflict`` saying what.

    ``references`` pairs a plural noun with the rows that would be lost or
    silently changed (cascaded away, set to null) by the delete.
    """
    with transaction.atomic():
        used = [(noun, count) for noun, rows in references if (count := rows.count())]
        if used:
            what = ", ".join(f"{count} {noun}" for noun, count in used)
            raise Conflict(f"{instance} is still used by {what}; change or remove those first.")
        instance.delete()
