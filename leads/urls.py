from django.urls import path

from .views import deals

app_name = "leads"
urlpatterns = [
    path("", deals.DealListView.as_view(), name="deal_list"),
    path("<int:pk>/", deals.DealDetailView.as_view(), name="deal_detail"),
]
