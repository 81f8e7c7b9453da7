from django.urls import path

from . import views

app_name = "kpi"
urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("scorecard/", views.ScorecardView.as_view(), name="scorecard"),
]
