from django.urls import path

from . import views

app_name = "funds"
urlpatterns = [
    path("", views.FundsHomeView.as_view(), name="home"),
    path("budgets/new/", views.BudgetCreateView.as_view(), name="budget_create"),
    path("budgets/<int:pk>/", views.BudgetDetailView.as_view(), name="budget_detail"),
    path("requests/new/", views.RequestCreateView.as_view(), name="request_create"),
    path("requests/<int:pk>/", views.RequestDetailView.as_view(), name="request_detail"),
    path("claims/<int:pk>/proof/", views.ClaimProofView.as_view(), name="claim_proof"),
]
