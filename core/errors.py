"""The domain's errors: actions raise these; each door maps them to its own shape once."""

from __future__ import annotations

from typing import Any


class ContactCenterError(Exception):
    """Base of every error an action raises on purpose; ``http_status`` is its HTTP mapping."""

    http_status = 400
    code = "invalid"

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.data = data

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "fields": self.fields}


class Invalid(ContactCenterError):
    http_status = 400
    code = "invalid"


class PermissionDenied(ContactCenterError):
    http_status = 403
    code = "permission_denied"


class NotFound(ContactCenterError):
    http_status = 404
    code = "not_found"


class Conflict(ContactCenterError):
    """The request was valid but the thing it acts on is no longer in a state that allows it."""

    http_status = 409
    code = "conflict"
