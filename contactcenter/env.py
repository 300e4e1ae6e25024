"""Strict readers for configuration from the environment.

Settings are the only module that reads ``os.environ``, and it does so through
these helpers. Each one either returns a well-typed value or raises
``ImproperlyConfigured`` naming the variable, the bad value and what would have
been accepted, so a typo stops start-up instead of quietly changing behaviour.

Secrets may also be given as ``NAME_FILE`` (a path whose contents are the
value), the convention Docker and Kubernetes secrets use.
"""

from __future__ import annotations

import ipaddress
import os
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


class Env:
    """Typed access to one environment mapping (``os.environ`` by default)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def raw(self, name: str) -> str | None:
        """The variable's text, from ``NAME`` or the file named by ``NAME_FILE``.

        An empty value counts as unset, so ``FOO=`` in a compose file means
        "use the default" rather than "the empty string".
        """
        value = self.environ.get(name)
        file_name = self.environ.get(f"{name}_FILE")
        if value and file_name:
            raise ImproperlyConfigured(f"Set {name} or {name}_FILE, not both.")
        if file_name:
            try:
                value = Path(file_name).read_text(encoding="utf-8").strip()
            except OSError as error:
                raise ImproperlyConfigured(f"{name}_FILE={file_name!r} cannot be read: {error.strerror}.") from error
        return value if value else None

    def text(self, name: str, default: str) -> str:
        value = self.raw(name)
        return default if value is None else value

    def optional_text(self, name: str) -> str | None:
        return self.raw(name)

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a boolean; use one of "
            f"{', '.join(sorted(TRUE_WORDS))} or {', '.join(sorted(FALSE_WORDS))}."
        )

    def integer(self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value.strip())
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
        if maximum is not None and number > maximum:
            raise ImproperlyConfigured(f"{name}={number} is above the maximum of {maximum}.")
        return number

    def number(self, name: str, default: float, *, minimum: float | None = None) -> float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = float(value.strip())
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} is not a number.") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ImproperlyConfigured(f"{name}={value!r} is not a finite number.")
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
        return number

    def items(self, name: str, default: list[str]) -> list[str]:
        """A comma-separated list; blank items are refused (they are always typos)."""
        value = self.raw(name)
        if value is None:
            return list(default)
        items = [item.strip() for item in value.split(",")]
        if any(not item for item in items):
            raise ImproperlyConfigured(f"{name}={value!r} has an empty item; separate values with single commas.")
        return items

    def networks(self, name: str) -> list[str]:
        """A comma-separated list of IP addresses or networks (``10.0.0.0/8``); unset: empty.

        Each item must parse; ``*`` (every address) is refused, since trusting every
        client's forwarding headers is the same as trusting none of them to be true.
        """
        networks = []
        for item in self.items(name, []):
            if item == "*":
                raise ImproperlyConfigured(f"{name}='*' would trust every client; list the proxies' addresses.")
            try:
                networks.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise ImproperlyConfigured(
                    f"{name} has {item!r}, which is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/24)."
                ) from None
        return networks

    def url(self, name: str, schemes: tuple[str, ...]) -> str | None:
        """An optional URL whose scheme must be one of ``schemes``."""
        value = self.raw(name)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in schemes:
            raise ImproperlyConfigured(
                f"{name} must start with {' or '.join(s + '://' for s in schemes)}; got {_redact_url(value)!r}."
            )
        try:
            parts.port  # noqa: B018 - accessing .port validates it
        except ValueError:
            raise ImproperlyConfigured(f"{name} has an invalid port: {_redact_url(value)!r}.") from None
        if not parts.hostname and not (parts.scheme == "sqlite"):
            raise ImproperlyConfigured(f"{name} has no host: {_redact_url(value)!r}.")
        return value

    def time_zone(self, name: str, default: str) -> str:
        value = self.text(name, default)
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ImproperlyConfigured(
                f"{name}={value!r} is not an IANA time zone (for example UTC or Europe/London)."
            ) from None
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name, default)
        if value not in choices:
            raise ImproperlyConfigured(f"{name}={value!r} must be one of {', '.join(choices)}.")
        return value


def _redact_url(url: str) -> str:
    """The URL with any password replaced, for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def describe(value: Any) -> str:
    """Text of a setting that is safe to print (URLs lose their passwords)."""
    return _redact_url(value) if isinstance(value, str) and "://" in value else repr(value)
