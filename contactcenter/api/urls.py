"""Every /api/v1/ endpoint, mounted by contactcenter.urls (which also serves the schema and docs)."""

from __future__ import annotations

from django.urls import path

from agents import api as agents_api
from reporting import api as reporting_api

urlpatterns = [
    path("staffing/erlang-c", reporting_api.ErlangCView.as_view(), name="api-staffing-erlang-c"),
    path("staffing/plan", reporting_api.StaffingPlanView.as_view(), name="api-staffing-plan"),
    path("reports/<slug:name>/", reporting_api.ReportView.as_view(), name="api-report"),
]

urlpatterns += [
    path("conversations/", agents_api.ConversationListView.as_view(), name="api-conversations"),
    path(
        "conversations/<int:conversation_id>/",
        agents_api.ConversationDetailView.as_view(),
        name="api-conversation",
    ),
    path(
        "conversations/<int:conversation_id>/replies/",
        agents_api.ReplyCreateView.as_view(),
        name="api-conversation-replies",
    ),
    path(
        "conversations/<int:conversation_id>/transfer/",
        agents_api.TransferView.as_view(),
        name="api-conversation-transfer",
    ),
    path(
        "conversations/<int:conversation_id>/escalate/",
        agents_api.EscalateView.as_view(),
        name="api-conversation-escalate",
    ),
    path(
        "conversations/<int:conversation_id>/resolve/",
        agents_api.ResolveView.as_view(),
        name="api-conversation-resolve",
    ),
    path("contacts/<int:contact_id>/merge/", agents_api.ContactMergeView.as_view(), name="api-contact-merge"),
    path("agents/me/presence/", agents_api.PresenceView.as_view(), name="api-agent-presence"),
]
