from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("widget.js", views.widget_js, name="widget-js"),
    path("widget.css", views.widget_css, name="widget-css"),
    path("demo/", views.demo, name="demo"),
    path("<slug:key>/config/", views.config, name="config"),
]
