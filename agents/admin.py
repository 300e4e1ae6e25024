from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from agents.models import AgentProfile, Team


class AgentProfileInline(admin.StackedInline):
    model = AgentProfile
    can_delete = False
    fields = ["team", "capacity", "is_trainee", "presence", "presence_reason", "presence_since"]
    readonly_fields = ["presence", "presence_reason", "presence_since"]


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


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]
