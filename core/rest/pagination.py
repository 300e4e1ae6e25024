"""Cursor pagination for list endpoints: stable under inserts, and no COUNT(*) over big tables."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class NewestFirstCursorPagination(CursorPagination):
    """Newest first by id (every model has one; DRF's default ordering needs a ``created`` field).

    The default for generic list views (settings.REST_FRAMEWORK); a view with
    another natural order sets its own ``ordering`` or pagination class.
    """

    ordering: str | tuple[str, ...] = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
