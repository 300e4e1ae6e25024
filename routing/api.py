"""Routing configuration over REST: queues, skills and routing rules (mounted under /api/v1/).

Every role reads queues and skills (agents transfer to queues); only admins
change them. Routing rules are admin-only, read and write. Writes go through
``routing.actions`` (the admin's forms), so a queue nobody could serve or a
rule that can never match is refused with a 400 naming the field, and a
queue or skill still in use is a 409, never a silent cascade.
"""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import extend_schema_serializer, extend_schema_view
from rest_framework import serializers

from core.models import Channel, Sentiment
from core.rest.config_views import INT16_MAX, UINT32_MAX, ConfigDetailView, ConfigListView, config_schema
from core.rest.ids import IdField
from core.rest.permissions import AgentReadsAdminWrites, IsAdmin
from core.rest.schema import RefSerializer
from routing.actions import (
    check_delete_queue,
    check_delete_routing_rule,
    check_delete_skill,
    check_save_queue,
    check_save_routing_rule,
    check_save_skill,
)
from routing.forms import QUEUE_FIELDS, RoutingRuleForm
from routing.models import BreachAction, Queue, RouteMode, RoutingMode, RoutingRule, Skill
from routing.queries import queues_with_skills

# --- Skills -------------------------------------------------------------------------------------------


class SkillSerializer(serializers.ModelSerializer):
    class Meta:
        model = Skill
        fields = ["id", "name", "description"]
        read_only_fields = fields


@extend_schema_serializer(component_name="SkillRequest")
class SkillInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)


SKILL_WHO = "Every role reads; only admins create, change and delete."
_skill_list, _skill_detail = config_schema(
    tag="skills", noun="skill", output=SkillSerializer, input=SkillInputSerializer, who=SKILL_WHO
)


@extend_schema_view(**_skill_list)
class SkillListView(ConfigListView):
    permission_classes = [AgentReadsAdminWrites]
    serializer_class = SkillSerializer
    input_serializer = SkillInputSerializer
    queryset = Skill.objects.all()

    def create(self, data: dict[str, Any]) -> Skill:
        return check_save_skill(data)


@extend_schema_view(**_skill_detail)
class SkillDetailView(ConfigDetailView):
    permission_classes = [AgentReadsAdminWrites]
    serializer_class = SkillSerializer
    input_serializer = SkillInputSerializer
    queryset = Skill.objects.all()
    lookup_url_kwarg = "skill_id"

    def update(self, instance: Skill, data: dict[str, Any]) -> Skill:
        return check_save_skill(data, skill=instance)

    def destroy(self, instance: Skill) -> None:
        check_delete_skill(instance)


# --- Queues -------------------------------------------------------------------------------------------


class QueueSkillSerializer(serializers.Serializer):
    skill = RefSerializer()
    min_level = serializers.IntegerField()


class QueueSerializer(serializers.ModelSerializer):
    sla_policy = RefSerializer(allow_null=True)
    breach_queue = RefSerializer(allow_null=True)
    skills = QueueSkillSerializer(many=True, source="skill_requirements.all", help_text="Required skills.")

    class Meta:
        model = Queue
        fields = ["id", *QUEUE_FIELDS, "skills"]  # what the admin's form edits, the id and the skills
        read_only_fields = fields


class QueueSkillInputSerializer(serializers.Serializer):
    skill = serializers.PrimaryKeyRelatedField(queryset=Skill.objects.all())
    min_level = serializers.IntegerField(min_value=1, max_value=10, default=1)


@extend_schema_serializer(component_name="QueueRequest")
class QueueInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)
    priority = serializers.IntegerField(min_value=-INT16_MAX - 1, max_value=INT16_MAX, required=False)
    sla_policy = IdField(required=False, allow_null=True, help_text="An SLA policy's id.")
    is_default = serializers.BooleanField(required=False)
    mode = serializers.ChoiceField(choices=RoutingMode.choices, required=False)
    route_mode = serializers.ChoiceField(
        choices=RouteMode.choices, required=False, help_text="Push queues: assign at once, or offer to the agent."
    )
    offer_seconds = serializers.IntegerField(
        min_value=5, max_value=600, required=False, help_text="Offer mode: seconds an offer rings."
    )
    offer_timeouts_before_away = serializers.IntegerField(
        min_value=1, max_value=20, required=False, help_text="Offer mode: offers missed in a row before away."
    )
    sticky_window_hours = serializers.IntegerField(min_value=0, max_value=UINT32_MAX, required=False)
    sticky_wait_seconds = serializers.IntegerField(min_value=0, max_value=UINT32_MAX, required=False)
    breach_action = serializers.ChoiceField(choices=BreachAction.choices, required=False)
    breach_queue = IdField(required=False, allow_null=True, help_text="A queue's id, for 'move'.")
    requeue_on_agent_timeout = serializers.BooleanField(required=False)
    email_signature = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="Ends email replies to the queue's conversations when the agent has no signature of their own.",
    )
    skills = QueueSkillInputSerializer(
        many=True,
        required=False,
        help_text="Replaces the required skills; refused when no agent has them all (nobody could serve the queue).",
    )


def _queue_fields(data: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[Skill, int]] | None]:
    skills = data.pop("skills", None)
    return data, None if skills is None else [(row["skill"], row["min_level"]) for row in skills]


QUEUE_WHO = "Every role reads; only admins create, change and delete."
_queue_list, _queue_detail = config_schema(
    tag="queues", noun="queue", output=QueueSerializer, input=QueueInputSerializer, who=QUEUE_WHO
)


@extend_schema_view(**_queue_list)
class QueueListView(ConfigListView):
    permission_classes = [AgentReadsAdminWrites]
    serializer_class = QueueSerializer
    input_serializer = QueueInputSerializer

    def get_queryset(self) -> Any:
        return queues_with_skills()

    def create(self, data: dict[str, Any]) -> Queue:
        fields, skills = _queue_fields(data)
        return check_save_queue(fields, skills=skills)


@extend_schema_view(**_queue_detail)
class QueueDetailView(ConfigDetailView):
    permission_classes = [AgentReadsAdminWrites]
    serializer_class = QueueSerializer
    input_serializer = QueueInputSerializer
    lookup_url_kwarg = "queue_id"

    def get_queryset(self) -> Any:
        return queues_with_skills()

    def update(self, instance: Queue, data: dict[str, Any]) -> Queue:
        fields, skills = _queue_fields(data)
        return check_save_queue(fields, queue=instance, skills=skills)

    def destroy(self, instance: Queue) -> None:
        check_delete_queue(instance)


# --- Routing rules ------------------------------------------------------------------------------------


class RoutingRuleSerializer(serializers.ModelSerializer):
    queue = RefSerializer()
    extra_skills = RefSerializer(many=True, source="extra_skills.all")
    channel = serializers.ChoiceField(choices=Channel.choices, allow_blank=True, help_text="Empty: any.")
    sentiment = serializers.ChoiceField(choices=Sentiment.choices, allow_blank=True, help_text="Empty: any.")

    class Meta:
        model = RoutingRule
        fields = ["id", *RoutingRuleForm.Meta.fields]  # what the admin's form edits, and the id
        read_only_fields = fields


def _blank_choices(choices: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [("", "any"), *choices]


@extend_schema_serializer(component_name="RoutingRuleRequest")
class RoutingRuleInputSerializer(serializers.Serializer):
    order = serializers.IntegerField(min_value=0, max_value=UINT32_MAX, required=False)
    name = serializers.CharField(max_length=100)
    enabled = serializers.BooleanField(required=False)
    channel = serializers.ChoiceField(choices=_blank_choices(Channel.choices), required=False, allow_blank=True)
    account = IdField(required=False, allow_null=True, help_text="A social account's id.")
    listening_query = IdField(required=False, allow_null=True, help_text="A listening query's id.")
    category = serializers.CharField(max_length=64, required=False, allow_blank=True)
    language = serializers.CharField(max_length=16, required=False, allow_blank=True)
    sentiment = serializers.ChoiceField(choices=_blank_choices(Sentiment.choices), required=False, allow_blank=True)
    min_priority = serializers.IntegerField(min_value=0, max_value=100, required=False, allow_null=True)
    max_priority = serializers.IntegerField(min_value=0, max_value=100, required=False, allow_null=True)
    contact_vip = serializers.BooleanField(required=False, allow_null=True, help_text="null: either.")
    contact_tag = serializers.CharField(max_length=64, required=False, allow_blank=True)
    queue = IdField(help_text="The queue's id.")
    extra_skills = serializers.ListField(child=IdField(), required=False, help_text="Skill ids.")
    extra_skill_level = serializers.IntegerField(min_value=1, max_value=10, required=False)
    priority_boost = serializers.IntegerField(min_value=-100, max_value=100, required=False)


RULE_WHO = "Admins only. A rule that can never match is refused with a 400 naming the field."
_rule_list, _rule_detail = config_schema(
    tag="routing rules",
    noun="routing rule",
    output=RoutingRuleSerializer,
    input=RoutingRuleInputSerializer,
    who=RULE_WHO,
)


def _rules() -> Any:
    return RoutingRule.objects.select_related("queue").prefetch_related("extra_skills")


@extend_schema_view(**_rule_list)
class RoutingRuleListView(ConfigListView):
    permission_classes = [IsAdmin]
    serializer_class = RoutingRuleSerializer
    input_serializer = RoutingRuleInputSerializer

    def get_queryset(self) -> Any:
        return _rules()

    def create(self, data: dict[str, Any]) -> RoutingRule:
        return check_save_routing_rule(data)


@extend_schema_view(**_rule_detail)
class RoutingRuleDetailView(ConfigDetailView):
    permission_classes = [IsAdmin]
    serializer_class = RoutingRuleSerializer
    input_serializer = RoutingRuleInputSerializer
    lookup_url_kwarg = "rule_id"

    def get_queryset(self) -> Any:
        return _rules()

    def update(self, instance: RoutingRule, data: dict[str, Any]) -> RoutingRule:
        return check_save_routing_rule(data, rule=cast(RoutingRule, instance))

    def destroy(self, instance: RoutingRule) -> None:
        check_delete_routing_rule(instance)
