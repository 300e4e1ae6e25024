"""Reporting's REST endpoints (mounted under /api/v1/ by contactcenter.api.urls)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound
from core.rest.permissions import IsSupervisor
from core.rest.schema import error_responses
from reporting import staffing
from reporting.forms import NO_GROUPING, REPORTS, ReportForm, StaffingPlanForm
from reporting.kpis import ABANDON_TREATMENTS, TIME_GRAINS
from reporting.planning import staffing_plan

DEFAULT_ANSWER_SECONDS = 20.0


class RoundedFloatField(serializers.FloatField):
    """A float shown to 4 decimal places: more would suggest a precision Erlang C does not have."""

    def to_representation(self, value: Any) -> Any:
        return round(float(value), 4)


class ErlangCView(APIView):
    """Erlang C staffing for one interval: agents required for a target, or how a given staffing performs."""

    permission_classes = [IsSupervisor]

    class InputSerializer(serializers.Serializer):
        # Only types are checked here; ranges are checked once, by reporting.staffing.
        volume = serializers.FloatField(help_text="Contacts expected in the interval (≥ 0).")
        interval_seconds = serializers.FloatField(help_text="Length of the interval in seconds (> 0), e.g. 1800.")
        aht_seconds = serializers.FloatField(help_text="Average handle time in seconds, wrap-up included (> 0).")
        target_service_level = serializers.FloatField(
            required=False,
            help_text="Share of contacts to answer within answer_seconds, in (0, 1), e.g. 0.8.",
        )
        answer_seconds = serializers.FloatField(
            required=False,
            help_text=(
                "Answer-time threshold of the service level in seconds (≥ 0). Required with "
                f"target_service_level; otherwise defaults to {DEFAULT_ANSWER_SECONDS:g} for the reported level."
            ),
        )
        target_asa_seconds = serializers.FloatField(
            required=False, help_text="Target average speed of answer in seconds (> 0); may replace or add to the SL."
        )
        agents = serializers.IntegerField(
            required=False, help_text="Evaluate this many agents instead of finding the number required."
        )
        shrinkage = serializers.FloatField(
            default=0.0, help_text="Share of paid time agents are unavailable, in [0, 1), e.g. 0.3."
        )
        concurrency = serializers.FloatField(
            default=1.0,
            help_text="Conversations an agent handles at once (1 to 100); effective AHT is aht_seconds / concurrency.",
        )

        def validate(self, data: dict[str, Any]) -> dict[str, Any]:
            has_target = "target_service_level" in data or "target_asa_seconds" in data
            if "agents" in data and has_target:
                raise serializers.ValidationError({"agents": ["Give agents or a target, not both."]})
            if "target_service_level" in data and "answer_seconds" not in data:
                raise serializers.ValidationError(
                    {"answer_seconds": ["answer_seconds is required with target_service_level."]}
                )
            data.setdefault("answer_seconds", DEFAULT_ANSWER_SECONDS)
            return data

    @extend_schema_serializer(component_name="ErlangCStaffing")
    class OutputSerializer(serializers.Serializer):
        agents = serializers.IntegerField(help_text="Agents needed on the floor (or the number evaluated).")
        scheduled_agents = serializers.IntegerField(
            help_text="Agents to schedule: agents / (1 - shrinkage), rounded up."
        )
        service_level = RoundedFloatField(help_text="Expected share answered within answer_seconds.")
        asa_seconds = RoundedFloatField(
            allow_null=True, help_text="Expected average speed of answer; null when agents ≤ traffic (unbounded)."
        )
        occupancy = RoundedFloatField(help_text="Traffic / agents, at most 1.")
        p_wait = RoundedFloatField(help_text="Probability a contact waits (Erlang C).")
        traffic_erlangs = RoundedFloatField(help_text="volume * (aht_seconds / concurrency) / interval_seconds.")

    @extend_schema(
        operation_id="staffing_erlang_c",
        tags=["staffing"],
        summary="Erlang C staffing for one interval",
        description=(
            "With `target_service_level` (and `answer_seconds`) and/or `target_asa_seconds`: the fewest agents "
            "meeting every target. With `agents`: how that staffing performs. Supervisors and admins only."
        ),
        parameters=[InputSerializer],
        responses={200: OutputSerializer, **error_responses(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = dict(params.validated_data)
        workload = {key: data[key] for key in ("volume", "interval_seconds", "aht_seconds", "answer_seconds")}
        options = {"shrinkage": data["shrinkage"], "concurrency": data["concurrency"]}
        if "agents" in data:
            result = staffing.evaluate(agents=data["agents"], **workload, **options)
        else:
            result = staffing.required_agents(
                target_service_level=data.get("target_service_level"),
                target_asa_seconds=data.get("target_asa_seconds"),
                **workload,
                **options,
            )
        return Response(self.OutputSerializer(result).data)


def _report_parameters() -> list[OpenApiParameter]:
    """The query parameters, read off :class:`ReportForm` (which validates them) so the two never drift apart."""
    path = OpenApiParameter(
        "name", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(REPORTS), description="The report."
    )
    return [path, *_form_parameters(ReportForm)]


def _form_parameters(form: type[forms.Form]) -> list[OpenApiParameter]:
    types = {
        forms.DateField: OpenApiTypes.DATE,
        forms.BooleanField: OpenApiTypes.BOOL,
        forms.FloatField: OpenApiTypes.NUMBER,
        forms.IntegerField: OpenApiTypes.INT,
        forms.TypedChoiceField: OpenApiTypes.INT,
    }
    parameters = []
    for name, field in form.base_fields.items():
        kind = next((schema for cls, schema in types.items() if isinstance(field, cls)), OpenApiTypes.STR)
        if isinstance(field, forms.ModelChoiceField):
            kind = OpenApiTypes.INT
        choices = None
        if isinstance(field, forms.ChoiceField) and not isinstance(field, forms.ModelChoiceField):
            choices = [value for value, _ in cast(list[tuple[Any, str]], field.choices) if value]
        parameters.append(
            OpenApiParameter(name, kind, OpenApiParameter.QUERY, description=str(field.help_text), enum=choices)
        )
    return parameters


@extend_schema_serializer(component_name="ReportFilters")
class ReportFiltersSerializer(serializers.Serializer):
    """The filters a report applied (module level: a nested class cannot see its sibling)."""

    start = serializers.DateField(help_text="First day of the period.")
    end = serializers.DateField(help_text="Last day of the period (included).")
    group_by = serializers.ChoiceField(
        choices=[NO_GROUPING, *TIME_GRAINS],
        help_text="The time grain applied (always none for the backlog, a snapshot of now).",
    )
    by_channel = serializers.BooleanField()
    channel = serializers.CharField(allow_null=True)
    queue = serializers.IntegerField(allow_null=True)
    agent = serializers.IntegerField(allow_null=True, help_text="The agent's user id.")
    team = serializers.IntegerField(allow_null=True)
    category = serializers.CharField(allow_null=True)
    account = serializers.IntegerField(allow_null=True, help_text="The social account's id.")
    # The options, present only for the reports that take them (the value applied: given, or the setting's).
    short_abandon_seconds = serializers.FloatField(required=False, help_text="abandonment only.")
    abandon_treatment = serializers.ChoiceField(
        choices=list(ABANDON_TREATMENTS), required=False, help_text="service-level only."
    )
    fcr_window_hours = serializers.FloatField(required=False, help_text="resolution only.")
    keywords = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="keywords only: the keywords counted."
    )


class ReportView(APIView):
    """One historical report (``reporting.forms.REPORTS``) as JSON, with the parameters of the report pages."""

    permission_classes = [IsSupervisor]

    @extend_schema_serializer(component_name="Report")
    class OutputSerializer(serializers.Serializer):
        report = serializers.ChoiceField(choices=list(REPORTS))
        filters = ReportFiltersSerializer()
        rows = serializers.ListField(
            child=serializers.DictField(),
            help_text=(
                "One object per group (one in all without grouping): the group keys `period` (start of the bucket) "
                "and `channel`, then the report's figures as defined in README, 'KPI definitions'. "
                "Times in seconds, rates as fractions, null when there is nothing to divide by."
            ),
        )

    @extend_schema(
        operation_id="reports_retrieve",
        tags=["reports"],
        summary="A historical report",
        description=(
            "`volumes`, `speed`, `handle`, `abandonment`, `service-level`, `resolution`, `backlog`, `csat`, "
            "`quality`, `offers`, `offers-by-agent`, `trends`, `listening`, `keywords` or `cost` over a period "
            "of whole days (default: the last 7, today included; at most 366), grouped by a time grain and/or "
            "channel, filtered by channel, social account, queue, agent, team and category. Options "
            "(`short_abandon_seconds`, `abandon_treatment`, "
            "`fcr_window_hours`, `keywords`) apply to the reports named in their description and are echoed in "
            "`filters`. Supervisors and admins only."
        ),
        parameters=_report_parameters(),
        responses={200: OutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, name: str) -> Response:
        report = REPORTS.get(name)
        if report is None:
            raise NotFound(f"There is no report named {name!r}.")
        form = ReportForm.from_query(request.query_params)
        if not form.is_valid():
            raise serializers.ValidationError(
                {field: [str(error) for error in errors] for field, errors in form.errors.items()}
            )
        body = {"report": name, "filters": form.applied(report), "rows": form.run(report)}
        return Response(self.OutputSerializer(body).data)


@extend_schema_serializer(component_name="StaffingPlanInterval")
class StaffingPlanIntervalSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    volume = RoundedFloatField(help_text="Forecast conversations in the interval.")
    volume_source = serializers.ChoiceField(
        choices=["forecast", "history"], help_text="forecast: entered by hand; history: the weeks' mean."
    )
    traffic_erlangs = RoundedFloatField()
    agents = serializers.IntegerField(help_text="Agents required on the floor.")
    scheduled_agents = serializers.IntegerField(help_text="Agents to schedule: agents / (1 - shrinkage), rounded up.")
    service_level = RoundedFloatField(help_text="Expected share answered within answer_seconds.")
    asa_seconds = RoundedFloatField(allow_null=True, help_text="Expected average speed of answer; null if unbounded.")
    occupancy = RoundedFloatField()
    logged_in = serializers.IntegerField(
        allow_null=True, help_text="Agents not offline at some moment of the interval; null for the future."
    )


@extend_schema_serializer(component_name="StaffingPlanInputs")
class StaffingPlanInputsSerializer(serializers.Serializer):
    """The parameters as applied (defaults filled in)."""

    day = serializers.DateField()
    interval_minutes = serializers.IntegerField()
    target_service_level = serializers.FloatField(allow_null=True)
    answer_seconds = serializers.FloatField()
    target_asa_seconds = serializers.FloatField(allow_null=True)
    shrinkage = serializers.FloatField()
    concurrency = serializers.FloatField()
    aht_seconds = serializers.FloatField(allow_null=True, help_text="The override given, or null.")
    weeks = serializers.IntegerField()


class StaffingPlanView(APIView):
    """The staffing plan of a day: Erlang C per interval from the forecast, beside the agents logged in."""

    permission_classes = [IsSupervisor]

    @extend_schema_serializer(component_name="StaffingPlan")
    class OutputSerializer(serializers.Serializer):
        inputs = StaffingPlanInputsSerializer()
        aht_seconds = RoundedFloatField(help_text="The AHT used.")
        aht_source = serializers.ChoiceField(choices=["given", "history"])
        history_days = serializers.ListField(
            child=serializers.DateField(), help_text="The days averaged, latest first."
        )
        intervals = StaffingPlanIntervalSerializer(many=True)

    @extend_schema(
        operation_id="staffing_plan",
        tags=["staffing"],
        summary="The staffing plan of a day",
        description=(
            "Per interval of `date`: forecast volume (hand-entered, or the mean of the same weekday and interval "
            "over the last `weeks` weeks), AHT (from history unless `aht_seconds`), Erlang C agents required and "
            "to schedule, expected service level, ASA and occupancy, and the agents logged in. Without a target "
            "the plan aims at 80 % within 20 s. Supervisors and admins only."
        ),
        parameters=_form_parameters(StaffingPlanForm),
        responses={200: OutputSerializer, **error_responses(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        form = StaffingPlanForm.from_query(request.query_params)
        if not form.is_valid():
            raise serializers.ValidationError(
                {field: [str(error) for error in errors] for field, errors in form.errors.items()}
            )
        return Response(self.OutputSerializer(staffing_plan(form.inputs())).data)
