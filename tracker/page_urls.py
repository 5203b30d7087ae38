"""The pages of the dashboard and the staff area, under a language prefix (/en/, /uk/): see tracker/urls.py."""

from django.urls import path

from tracker import account_views, feeds, offline, staff_views, views

app_name = "tracker"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("overview/data/", views.overview_data, name="overview_data"),
    path("sites/<int:pk>/", views.site_detail, name="site"),
    path("sites/<int:pk>/feed/", feeds.SiteHostilityFeed(), name="site_feed"),
    path("map/", views.map_page, name="map"),
    path("map/tiles/<int:zoom>/<int:x>/<int:y>/", views.map_tile, name="map_tile"),
    path("map/corridors/", views.map_corridors, name="map_corridors"),
    path("staff/login/", account_views.StaffLoginView.as_view(), name="login"),
    path("staff/login/code/", account_views.two_factor_verify, name="two_factor_verify"),
    path("staff/logout/", offline.StaffLogoutView.as_view(), name="logout"),
    path("staff/two-factor/", account_views.two_factor, name="two_factor"),
    path("staff/password/", account_views.StaffPasswordChangeView.as_view(), name="password_change"),
    path("staff/password-reset/", account_views.StaffPasswordResetView.as_view(), name="password_reset"),
    path("staff/password-reset/sent/", account_views.StaffPasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "staff/password-reset/<uidb64>/<token>/",
        account_views.StaffPasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "staff/password-reset/done/",
        account_views.StaffPasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("staff/", staff_views.my_figures, name="my_figures"),
    path("staff/session/", offline.outbox_session, name="outbox_session"),
    path("staff/counts/new/", staff_views.count_new, name="count_new"),
    path("staff/hostilities/new/", staff_views.hostility_new, name="hostility_new"),
    path("staff/imports/", staff_views.imports_page, name="imports"),
    path("staff/imports/<int:pk>/", staff_views.import_detail, name="import"),
    path("staff/imports/<int:pk>/apply/", staff_views.import_apply, name="import_apply"),
    path("staff/imports/<int:pk>/undo/", staff_views.import_undo, name="import_undo"),
]
