from django.urls import path

from . import views

app_name = "training"
urlpatterns = [
    path("", views.CatalogView.as_view(), name="catalog"),
    path("certifications/", views.CertificationListView.as_view(), name="certifications"),
]
