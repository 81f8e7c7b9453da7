from django.urls import path

from . import views

app_name = "payouts"
urlpatterns = [
    path("", views.StatementListView.as_view(), name="statements"),
    path("close/", views.StatementCloseView.as_view(), name="close"),
    path("open/", views.OpenPeriodView.as_view(), name="open_period"),
    path("<int:pk>/", views.StatementDetailView.as_view(), name="statement_detail"),
    path("<int:pk>/approve/", views.StatementApproveView.as_view(), name="statement_approve"),
    path("<int:pk>/pay/", views.StatementPayView.as_view(), name="statement_pay"),
    path("export/", views.PayoutExportView.as_view(), name="export"),
    path("adjust/", views.AdjustmentView.as_view(), name="adjust"),
]
