from django.urls import path

from . import views

app_name = "partners"
urlpatterns = [
    path("", views.DirectoryView.as_view(), name="directory"),
    path("mine/", views.MyCompanyView.as_view(), name="my_company"),
    path("<int:pk>/", views.PartnerDetailView.as_view(), name="detail"),
]
