from django.contrib import admin

from routing.models import Queue, Skill, SLAPolicy


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    list_display = ["name", "description"]
    search_fields = ["name"]


@admin.register(SLAPolicy)
class SLAPolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "first_response_seconds", "next_response_seconds", "warning_percent"]
    search_fields = ["name"]


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["name", "priority", "sla_policy", "is_default"]
    list_filter = ["is_default", "sla_policy"]
    search_fields = ["name"]
    list_select_related = ["sla_policy"]
