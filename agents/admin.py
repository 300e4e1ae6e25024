from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest

from agents.models import AgentProfile, AgentSkill, PresenceChange, Team
from core.admin import ReadOnlyAdmin


class AgentProfileInline(admin.StackedInline):
    model = AgentProfile
    can_delete = False
    fields = ["team", "capacity", "is_trainee", "email_signature", "presence", "presence_reason", "presence_since"]
    readonly_fields = ["presence", "presence_reason", "presence_since"]
    show_change_link = True


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class AgentUserAdmin(UserAdmin):
    inlines = [AgentProfileInline]
    list_display = ["username", "first_name", "last_name", "email", "is_staff", "team", "presence"]
    list_filter = ["groups", "is_staff", "agent_profile__team", "agent_profile__presence"]
    list_select_related = ["agent_profile__team"]

    @admin.display(description="Team")
    def team(self, user: object) -> str:
        profile = getattr(user, "agent_profile", None)
        return str(profile.team) if profile and profile.team else "—"

    @admin.display(description="Presence")
    def presence(self, user: object) -> str:
        profile = getattr(user, "agent_profile", None)
        return profile.get_presence_display() if profile else "—"


class AgentSkillInline(admin.TabularInline):
    model = AgentSkill
    extra = 1


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    """The agent: team, capacity and skills (edited inline, levels 1 to 10)."""

    list_display = ["__str__", "team", "capacity", "presence", "skill_levels", "last_heartbeat_at"]
    list_filter = ["team", "presence", "is_trainee"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    list_select_related = ["user", "team"]
    fields = [
        "user",
        "team",
        "capacity",
        "is_trainee",
        "email_signature",
        "presence",
        "presence_reason",
        "presence_since",
        "last_heartbeat_at",
        "last_assigned_at",
    ]
    readonly_fields = ["user", "presence", "presence_reason", "presence_since", "last_heartbeat_at", "last_assigned_at"]
    inlines = [AgentSkillInline]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("skills__skill")

    @admin.display(description="Skills")
    def skill_levels(self, profile: AgentProfile) -> str:
        return ", ".join(f"{s.skill.name} {s.level}" for s in profile.skills.all()) or "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # agents are created with their user


@admin.register(PresenceChange)
class PresenceChangeAdmin(ReadOnlyAdmin):
    list_display = ["at", "agent", "previous", "presence", "reason", "previous_seconds", "cause"]
    list_filter = ["presence", "cause", "agent__team"]
    date_hierarchy = "at"
    list_select_related = ["agent__user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]
