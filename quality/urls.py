"""The QA pages (see ``quality.views``)."""

from django.urls import path

from quality import views

urlpatterns = [
    path("", views.qa_home, name="qa"),
    path("samples/new/", views.new_sample, name="qa-sample-new"),
    path("reviews/<int:review_id>/", views.review, name="qa-review"),
    path("scorecards/", views.scorecards, name="qa-scorecards"),
    path("scorecards/<int:agent_id>/", views.scorecard, name="qa-scorecard"),
    path("scorecards/<int:agent_id>/training/", views.assign_training, name="qa-training-assign"),
    path("training/<int:record_id>/complete/", views.complete_training, name="qa-training-complete"),
]
