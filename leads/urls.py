from django.urls import path

from . import views

app_name = "leads"
urlpatterns = [
    path("", views.DealListView.as_view(), name="deal_list"),
    path("<int:pk>/", views.DealDetailView.as_view(), name="deal_detail"),
]
