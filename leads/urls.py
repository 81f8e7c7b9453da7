from django.urls import path

from .views import deals, registration

app_name = "leads"
urlpatterns = [
    path("", deals.DealListView.as_view(), name="deal_list"),
    path("<int:pk>/", deals.DealDetailView.as_view(), name="deal_detail"),
    # Deal registration and pipeline
    path("register/", registration.DealRegisterView.as_view(), name="deal_register"),
    path("registrations/", registration.RegistrationListView.as_view(), name="registration_list"),
    path("registrations/review/", registration.ReviewQueueView.as_view(), name="registration_review"),
    path("registrations/<int:pk>/decide/", registration.RegistrationDecideView.as_view(), name="registration_decide"),
    path("<int:pk>/stage/", deals.DealStageView.as_view(), name="deal_stage"),
    path("<int:pk>/activity/", deals.DealActivityView.as_view(), name="deal_activity"),
    path("<int:pk>/cosell/", deals.DealCoSellView.as_view(), name="deal_cosell"),
    path("<int:pk>/extend/", deals.RegistrationExtendView.as_view(), name="registration_extend"),
]
