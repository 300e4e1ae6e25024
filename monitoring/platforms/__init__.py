"""Platforms behind one interface, registered by name: ``connector_for(account)``."""

from __future__ import annotations

from monitoring.platforms.base import (
    AccountRef,
    Connector,
    MalformedPayload,
    Page,
    PlatformError,
    QuerySpec,
    ReplyRequest,
    WebhookEvents,
)

__all__ = [
    "AccountRef",
    "Connector",
    "MalformedPayload",
    "Page",
    "PlatformError",
    "QuerySpec",
    "ReplyRequest",
    "WebhookEvents",
    "connector_class",
    "register",
]

_REGISTRY: dict[str, type[Connector]] = {}


def register(cls: type[Connector]) -> type[Connector]:
    _REGISTRY[cls.platform] = cls
    return cls


def connector_class(platform: str) -> type[Connector]:
    # Importing the modules registers their connectors.
    from monitoring.platforms import facebook, sandbox, x  # noqa: F401
    from monitoring.platforms.email import connector as email  # noqa: F401

    try:
        return _REGISTRY[platform]
    except KeyError:
        raise PlatformError(f"No connector for platform {platform!r}.", permanent=True) from None
