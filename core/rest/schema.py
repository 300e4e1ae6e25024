"""OpenAPI pieces every endpoint shares: the error shape and its documented responses."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers

_ERROR_DESCRIPTIONS = {
    400: "Invalid input; `fields` names each offending parameter.",
    401: "Not authenticated (send a session cookie or `Authorization: Token <key>`).",
    403: "Authenticated, but your role does not allow this.",
    404: "No such resource, or not one you may see.",
    409: "The resource is no longer in a state that allows this.",
    429: "Too many requests; retry after the `Retry-After` header's seconds.",
}


class ErrorSerializer(serializers.Serializer):
    """The one shape of every API error."""

    code = serializers.CharField(help_text="Stable machine-readable code, e.g. `invalid`, `permission_denied`.")
    message = serializers.CharField(help_text="What went wrong, for people.")

    def get_fields(self) -> dict[str, serializers.Field]:
        # Added here, not declared: a class attribute named "fields" would shadow Serializer.fields.
        fields = super().get_fields()
        fields["fields"] = serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            help_text="Problems by input name; empty when the error is not about one input.",
        )
        return fields


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """Documented error responses for ``extend_schema(responses={200: ..., **error_responses(400, 401, 403)})``."""
    return {
        status: OpenApiResponse(
            response=ErrorSerializer,
            description=_ERROR_DESCRIPTIONS[status],
            examples=[_example(status)] if status == 400 else [],
        )
        for status in statuses
    }


def _example(status: int) -> OpenApiExample:
    return OpenApiExample(
        "Invalid input",
        value={
            "code": "invalid",
            "message": "interval_seconds must be greater than 0.",
            "fields": {"interval_seconds": ["interval_seconds must be greater than 0."]},
        },
        status_codes=[str(status)],
        response_only=True,
    )


class RefSerializer(serializers.Serializer):
    """A reference to another record by id, with its name for people (a queue, a skill, a team...)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
