from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from console import chat_views
from console import conversation_views as conversation
from console import views as console_views
from contactcenter import health
from contactcenter.api.views import NoSuchEndpointView
from monitoring import webhooks
from reporting import views as reporting_views
from responses import views as response_views

admin.site.site_header = "Switchboard administration"
admin.site.site_title = "Switchboard"
admin.site.index_title = "Configuration and records"

urlpatterns = [
    path("", reporting_views.overview, name="home"),
    path("live/", reporting_views.overview_live, name="overview-live"),
    path("reports/", reporting_views.reports_index, name="reports"),
    path("reports/<slug:name>/", reporting_views.report_page, name="report"),
    path("staffing/", reporting_views.staffing_page, name="staffing"),
    path("inbox/", console_views.inbox, name="inbox"),
    path("inbox/live/", console_views.inbox_live, name="inbox-live"),
    path("presence/", console_views.set_presence, name="presence"),
    path("inbox/next/", console_views.get_next, name="get-next"),
    path("inbox/offers/", console_views.offers_live, name="offers-live"),
    path("offers/<int:offer_id>/accept/", console_views.accept_offer, name="offer-accept"),
    path("offers/<int:offer_id>/decline/", console_views.decline_offer, name="offer-decline"),
    path("conversations/<int:conversation_id>/", conversation.conversation_detail, name="conversation"),
    path("conversations/<int:conversation_id>/live/", conversation.conversation_live, name="conversation-live"),
    path("conversations/<int:conversation_id>/reply/", conversation.reply, name="reply"),
    path("conversations/<int:conversation_id>/reply/check/", conversation.reply_check, name="reply-check"),
    path("conversations/<int:conversation_id>/resolve/", conversation.resolve, name="resolve"),
    path("conversations/<int:conversation_id>/reopen/", conversation.reopen, name="reopen"),
    path("conversations/<int:conversation_id>/wrap-up/", conversation.start_wrap_up, name="wrap-up"),
    path("conversations/<int:conversation_id>/work/close/", conversation.close_work, name="close-work"),
    path("conversations/<int:conversation_id>/transfer/", conversation.transfer, name="transfer"),
    path("conversations/<int:conversation_id>/escalate/", conversation.escalate, name="escalate"),
    path("conversations/<int:conversation_id>/chat/typing/", chat_views.chat_typing, name="chat-typing"),
    path("conversations/<int:conversation_id>/chat/read/", chat_views.chat_read, name="chat-read"),
    path("conversations/<int:conversation_id>/notes/", conversation.add_note, name="add-note"),
    path("conversations/<int:conversation_id>/templates/", conversation.template_search, name="template-search"),
    path(
        "conversations/<int:conversation_id>/attachments/<int:attachment_id>/",
        conversation.attachment,
        name="attachment",
    ),
    path("knowledge/", conversation.knowledge_search, name="knowledge-search"),
    path("approvals/", response_views.approvals, name="approvals"),
    path("approvals/<int:message_id>/approve/", response_views.approve, name="approve"),
    path("approvals/<int:message_id>/reject/", response_views.reject, name="reject"),
    path("qa/", include("quality.urls")),
    path("csat/<str:token>/", response_views.csat_survey, name="csat-survey"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("chat/", include("chat.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("webhooks/facebook/", webhooks.facebook_webhook, name="webhook-facebook"),
    path("webhooks/x/", webhooks.x_webhook, name="webhook-x"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("contactcenter.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # Last: any other /api/ path answers 404 in the API's error shape.
    re_path(r"^api/", NoSuchEndpointView.as_view()),
]
