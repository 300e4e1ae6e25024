"""The shape of every configuration endpoint: a list that creates, and a detail that reads, changes and deletes.

Subclasses name the queryset, the output serializer, the input serializer and
the actions that write (``check_save_*`` / ``check_delete_*``, which validate
exactly as the admin does); the views only parse, call and render.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from core.rest.schema import error_responses

UINT32_MAX = 2_147_483_647
"""The largest value a PositiveIntegerField takes on every database."""
INT16_MAX = 32_767


class ConfigListView(generics.ListAPIView):
    """GET lists (cursor-paginated); POST validates with :attr:`input_serializer` and calls :meth:`create`."""

    input_serializer: type[serializers.Serializer]

    def create(self, data: dict[str, Any]) -> models.Model:
        raise NotImplementedError

    def post(self, request: Request) -> Response:
        data = self.input_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        instance = self.create(dict(data.validated_data))
        fresh = self.get_queryset().get(pk=instance.pk)  # with the list's select/prefetch
        return Response(self.get_serializer(fresh).data, status=status.HTTP_201_CREATED)


class ConfigDetailView(generics.GenericAPIView):
    """GET reads; PATCH changes the given fields only; DELETE deletes (409 while something uses it)."""

    input_serializer: type[serializers.Serializer]

    def update(self, instance: Any, data: dict[str, Any]) -> models.Model:
        raise NotImplementedError

    def destroy(self, instance: Any) -> None:
        raise NotImplementedError

    def get(self, request: Request, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    def patch(self, request: Request, **kwargs: Any) -> Response:
        instance = self.get_object()
        data = self.input_serializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        self.update(instance, dict(data.validated_data))
        return Response(self.get_serializer(self.get_queryset().get(pk=instance.pk)).data)

    def delete(self, request: Request, **kwargs: Any) -> Response:
        self.destroy(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


def config_schema(
    *,
    tag: str,
    noun: str,
    output: type[serializers.Serializer],
    input: type[serializers.Serializer],
    who: str,
    list_parameters: list[Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``extend_schema_view`` arguments (by method) for a :class:`ConfigListView` and a :class:`ConfigDetailView`."""
    listing = {
        "get": extend_schema(
            tags=[tag],
            summary=f"List {noun}s",
            description=f"Cursor-paginated. {who}",
            parameters=list_parameters or [],
            responses={200: output(many=True), **error_responses(400, 401, 403)},
        ),
        "post": extend_schema(
            tags=[tag],
            summary=f"Create a {noun}",
            description=f"Validated as the admin validates it. {who}",
            request=input,
            responses={201: output, **error_responses(400, 401, 403)},
        ),
    }
    detail = {
        "get": extend_schema(
            tags=[tag], summary=f"A {noun}", responses={200: output, **error_responses(401, 403, 404)}
        ),
        "patch": extend_schema(
            tags=[tag],
            summary=f"Change a {noun}",
            description=f"Only the fields given change; validated as the admin validates it. {who}",
            request=input,
            responses={200: output, **error_responses(400, 401, 403, 404)},
        ),
        "delete": extend_schema(
            tags=[tag],
            summary=f"Delete a {noun}",
            description=f"409 while something still uses it. {who}",
            responses={204: None, **error_responses(401, 403, 404, 409)},
        ),
    }
    return listing, detail
