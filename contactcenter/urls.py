from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from agents import views as agent_views
from contactcenter import health
from monitoring import webhooks
from reporting import views as reporting_views

admin.site.site_header = "Switchboard administration"
admin.site.site_title = "Switchboard"
admin.site.index_title = "Configuration and records"

urlpatterns = [
    path("", reporting_views.overview, name="home"),
    path("live/", reporting_views.overview_live, name="overview-live"),
    path("conversations/<int:conversation_id>/", agent_views.conversation_detail, name="conversation"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", health.healthz, name="healthz"),
    path("webhooks/facebook/", webhooks.facebook_webhook, name="webhook-facebook"),
    path("webhooks/x/", webhooks.x_webhook, name="webhook-x"),
    path("admin/", admin.site.urls),
]
