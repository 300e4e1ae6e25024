"""Paging X's newest-first listings (mentions, search results, DM events) across polls without losing a post."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitoring.platforms.base import PlatformError
from monitoring.platforms.payloads import int_or_none, max_known


@dataclass(frozen=True)
class Sweep:
    """Where a newest-first listing stands between polls.

    X lists mentions, search results and DM events newest first, so one
    "sweep" pages from the top down to ``boundary``, the newest id the
    previous finished sweep returned. Only a finished sweep may move the
    boundary: until then the posts between it and the page we stopped at are
    still unfetched. An unfinished sweep keeps ``next_token`` (where to
    resume) and ``newest_id`` (the newest id it has seen, the next boundary).
    """

    boundary: int | None = None
    next_token: str | None = None
    newest_id: int | None = None

    @classmethod
    def load(cls, cursor: Mapping[str, Any], prefix: str) -> Sweep:
        token = cursor.get(f"{prefix}next_token")
        return cls(
            boundary=int_or_none(cursor.get(f"{prefix}since_id")),
            next_token=token if isinstance(token, str) and token else None,
            newest_id=int_or_none(cursor.get(f"{prefix}sweep_newest_id")),
        )

    def dump(self, prefix: str) -> dict[str, str]:
        # Ids are stored as strings: they exceed what JSON consumers in JavaScript hold exactly.
        state = {
            f"{prefix}since_id": self.boundary,
            f"{prefix}next_token": self.next_token,
            f"{prefix}sweep_newest_id": self.newest_id,
        }
        return {key: str(value) for key, value in state.items() if value is not None}


@dataclass
class FetchedPage:
    """The items of one page newer than the boundary, with that page's expanded users."""

    items: list[Any] = field(default_factory=list)
    users: dict[int, Any] = field(default_factory=dict)


Fetch = Callable[[int | None, str | None], Any]
"""Fetches one page given (since_id, pagination token); returns a ``tweepy.Response``."""


def sweep(state: Sweep, fetch: Fetch, *, max_pages: int, since_is_sent: bool = True) -> tuple[list[FetchedPage], Sweep]:
    """Page down from the top (or where the last poll stopped) to the boundary, at most ``max_pages`` pages.

    Returns the pages and the sweep state to save once their posts are stored.
    """
    pages: list[FetchedPage] = []
    boundary, token, newest_id = state.boundary, state.next_token, state.newest_id
    for page_number in range(max_pages):
        if page_number == 0:
            response, boundary, token = _fetch_saved_position(fetch, boundary, token, since_is_sent=since_is_sent)
        else:
            response = fetch(boundary if since_is_sent else None, token)
        listed = list(response.data or [])
        items = [item for item in listed if boundary is None or item.id > boundary]
        newest_id = max_known(newest_id, max((item.id for item in items), default=None))
        pages.append(FetchedPage(items=items, users={user.id: user for user in response.includes.get("users", [])}))
        token = response.meta.get("next_token") or None
        if token is None or len(items) < len(listed):
            return pages, Sweep(boundary=max_known(boundary, newest_id))
    return pages, Sweep(boundary=boundary, next_token=token, newest_id=newest_id)


def _fetch_saved_position(
    fetch: Fetch, boundary: int | None, token: str | None, *, since_is_sent: bool
) -> tuple[Any, int | None, str | None]:
    """A poll's first page, from the position saved in the cursor; returns it and the position used.

    That position may have gone stale while the cursor sat in storage, and X answers a stale
    one with a 400: retry once from a position X accepts. (Tokens from this poll's own pages
    are fresh, so a 400 for them is a real error.)
    """
    try:
        return fetch(boundary if since_is_sent else None, token), boundary, token
    except PlatformError as error:
        if error.status != 400:
            raise
        if token is not None:
            # Restart the sweep from the top. The boundary is unchanged, so this repeats
            # posts but skips none.
            token = None
        elif since_is_sent and boundary is not None:
            # Recent search refuses a since_id older than its seven-day window; nothing between
            # that id and the window is retrievable any more.
            boundary = None
        else:
            raise
    return fetch(boundary if since_is_sent else None, token), boundary, token
