from django.urls import path

from . import views

app_name = "enablement"

urlpatterns = [
    path("library/", views.LibraryView.as_view(), name="library"),
    path("library/new/", views.ResourceCreateView.as_view(), name="resource_create"),
    path("library/<int:pk>/", views.ResourceDetailView.as_view(), name="resource_detail"),
    path("library/<int:pk>/edit/", views.ResourceEditView.as_view(), name="resource_edit"),
    path("library/<int:pk>/version/", views.ResourceVersionView.as_view(), name="resource_version"),
    path("library/<int:pk>/download/", views.ResourceDownloadView.as_view(), name="resource_download"),
    path("announcements/", views.AnnouncementListView.as_view(), name="announcements"),
    path("announcements/new/", views.AnnouncementEditView.as_view(), name="announcement_create"),
    path("announcements/<int:pk>/", views.AnnouncementDetailView.as_view(), name="announcement_detail"),
    path("announcements/<int:pk>/edit/", views.AnnouncementEditView.as_view(), name="announcement_edit"),
    path("announcements/<int:pk>/read/", views.AnnouncementReadView.as_view(), name="announcement_read"),
    path("requests/", views.RequestListView.as_view(), name="requests"),
    path("requests/new/", views.RequestCreateView.as_view(), name="request_create"),
    path("requests/<int:pk>/", views.RequestDetailView.as_view(), name="request_detail"),
    path(
        "requests/<int:pk>/files/<int:message_pk>/",
        views.RequestAttachmentView.as_view(),
        name="request_attachment",
    ),
    path("requests/<int:pk>/status/", views.RequestTransitionView.as_view(), name="request_transition"),
    path("requests/<int:pk>/assign/", views.RequestAssignView.as_view(), name="request_assign"),
    path("vendor-sla/", views.VendorSlaReportView.as_view(), name="vendor_sla"),
]
