from django.urls import path

from . import views

# The program's own pages. The `partners:` namespace is composed in portal.partner_urls, which adds the partner
# pages showing cross-app figures (partner page, locator); include that module, not this one.
urlpatterns = [
    path("", views.DirectoryView.as_view(), name="directory"),
    path("mine/", views.MyCompanyView.as_view(), name="my_company"),
    path("onboarding/", views.OnboardingView.as_view(), name="onboarding"),
    path("tiers/", views.TiersView.as_view(), name="tiers"),
    path("team/", views.TeamView.as_view(), name="team"),
    path("team/<int:pk>/role/", views.TeamRoleView.as_view(), name="team_role"),
    path("team/<int:pk>/deactivate/", views.TeamDeactivateView.as_view(), name="team_deactivate"),
    path("team/<int:pk>/reactivate/", views.TeamReactivateView.as_view(), name="team_reactivate"),
    path("<int:pk>/profile/", views.ProfileEditView.as_view(), name="profile_edit"),
    path("reviews/", views.ReviewQueueView.as_view(), name="review_queue"),
    path("reviews/<int:pk>/moderate/", views.ReviewModerateView.as_view(), name="review_moderate"),
    # Public pages: no login.
    path("apply/", views.ApplyView.as_view(), name="apply"),
    path("apply/thanks/", views.ApplyThanksView.as_view(), name="apply_thanks"),
    path("review/<str:token>/", views.ReviewSubmitView.as_view(), name="review_submit"),
]
