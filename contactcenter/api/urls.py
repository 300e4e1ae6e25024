"""Every /api/v1/ endpoint, mounted by contactcenter.urls (which also serves the schema and docs).

tests/api/test_api_permissions.py walks this list: an endpoint added here without
a row in its role matrix fails that test. Ids in paths use the ``id`` converter
(core.rest.ids): a number beyond 64 bits matches no route and answers 404.
"""

from __future__ import annotations

from django.urls import path, register_converter

from agents import api_agents
from console import api as console_api
from core import api as core_api
from core.rest.ids import IdConverter
from reporting import api as reporting_api
from responses import api as responses_api
from responses import api_approvals
from routing import api as routing_api
from routing import api_offers

register_converter(IdConverter, "id")

urlpatterns = [
    path("staffing/erlang-c", reporting_api.ErlangCView.as_view(), name="api-staffing-erlang-c"),
    path("staffing/plan", reporting_api.StaffingPlanView.as_view(), name="api-staffing-plan"),
    path("reports/<slug:name>/", reporting_api.ReportView.as_view(), name="api-report"),
]

urlpatterns += [
    path("conversations/", console_api.ConversationListView.as_view(), name="api-conversations"),
    path(
        "conversations/<id:conversation_id>/",
        console_api.ConversationDetailView.as_view(),
        name="api-conversation",
    ),
    path(
        "conversations/<id:conversation_id>/messages/",
        console_api.ConversationMessagesView.as_view(),
        name="api-conversation-messages",
    ),
    path(
        "conversations/<id:conversation_id>/templates/",
        responses_api.ConversationTemplatesView.as_view(),
        name="api-conversation-templates",
    ),
    path(
        "conversations/<id:conversation_id>/replies/",
        console_api.ReplyCreateView.as_view(),
        name="api-conversation-replies",
    ),
    path(
        "conversations/<id:conversation_id>/transfer/",
        console_api.TransferView.as_view(),
        name="api-conversation-transfer",
    ),
    path(
        "conversations/<id:conversation_id>/escalate/",
        console_api.EscalateView.as_view(),
        name="api-conversation-escalate",
    ),
    path(
        "conversations/<id:conversation_id>/resolve/",
        console_api.ResolveView.as_view(),
        name="api-conversation-resolve",
    ),
    path(
        "conversations/<id:conversation_id>/reopen/",
        console_api.ReopenView.as_view(),
        name="api-conversation-reopen",
    ),
    path("contacts/", core_api.ContactListView.as_view(), name="api-contacts"),
    path("contacts/<id:contact_id>/", core_api.ContactDetailView.as_view(), name="api-contact"),
    path("contacts/<id:contact_id>/merge/", console_api.ContactMergeView.as_view(), name="api-contact-merge"),
    path("agents/", api_agents.AgentListView.as_view(), name="api-agents"),
    path("agents/me/", api_agents.AgentMeView.as_view(), name="api-agent-me"),
    path("agents/me/presence/", console_api.PresenceView.as_view(), name="api-agent-presence"),
    path("agents/<id:user_id>/", api_agents.AgentDetailView.as_view(), name="api-agent"),
    path("offers/", api_offers.OfferListView.as_view(), name="api-offers"),
    path("offers/<id:offer_id>/accept/", api_offers.OfferAcceptView.as_view(), name="api-offer-accept"),
    path("offers/<id:offer_id>/decline/", api_offers.OfferDeclineView.as_view(), name="api-offer-decline"),
]

urlpatterns += [
    path("queues/", routing_api.QueueListView.as_view(), name="api-queues"),
    path("queues/<id:queue_id>/", routing_api.QueueDetailView.as_view(), name="api-queue"),
    path("skills/", routing_api.SkillListView.as_view(), name="api-skills"),
    path("skills/<id:skill_id>/", routing_api.SkillDetailView.as_view(), name="api-skill"),
    path("routing-rules/", routing_api.RoutingRuleListView.as_view(), name="api-routing-rules"),
    path("routing-rules/<id:rule_id>/", routing_api.RoutingRuleDetailView.as_view(), name="api-routing-rule"),
    path("replies/held/", api_approvals.HeldReplyListView.as_view(), name="api-replies-held"),
    path("replies/<id:message_id>/approve/", api_approvals.ApproveReplyView.as_view(), name="api-reply-approve"),
    path("replies/<id:message_id>/reject/", api_approvals.RejectReplyView.as_view(), name="api-reply-reject"),
    path("templates/", responses_api.TemplateListView.as_view(), name="api-templates"),
    path("templates/<id:template_id>/", responses_api.TemplateDetailView.as_view(), name="api-template"),
    path("knowledge/", responses_api.KnowledgeListView.as_view(), name="api-knowledge"),
    path("knowledge/<id:article_id>/", responses_api.KnowledgeDetailView.as_view(), name="api-knowledge-article"),
]
