"""Project middleware: domain errors as readable pages, and the Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Callable

from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render

from core.errors import ContactCenterError


class DomainErrorMiddleware:
    """Domain errors raised in HTML views become a readable error page with the right status."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, ContactCenterError):
            return None
        return render(request, "error.html", {"error": exception}, status=exception.http_status)


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's policy from settings, with one exception for pages other packages render.

    Django's admin (a style attribute on some widgets) and Swagger UI (a ``<style>``
    block in drf-spectacular's page) need inline *styles*; those pages alone get
    ``style-src 'unsafe-inline'``. Scripts stay ``'self'`` everywhere: no page of
    ours, theirs included, may run inline script.
    """

    INLINE_STYLE_PAGES = ("/admin/", "/api/docs/")

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if parts.update is None and request.path.startswith(self.INLINE_STYLE_PAGES):
            parts.update = {"style-src": ["'unsafe-inline'"]}
        return parts
