"""The pages of the dashboard and the staff area, under a language prefix (/en/, /uk/): see tracker/urls.py."""

from django.contrib.auth import views as auth_views
from django.urls import path

from tracker import staff_views, views

app_name = "tracker"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("overview/data/", views.overview_data, name="overview_data"),
    path("sites/<int:pk>/", views.site_detail, name="site"),
    path("map/", views.map_page, name="map"),
    path("map/tiles/<int:zoom>/<int:x>/<int:y>/", views.map_tile, name="map_tile"),
    path("map/corridors/", views.map_corridors, name="map_corridors"),
    path(
        "staff/login/",
        auth_views.LoginView.as_view(template_name="tracker/staff/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("staff/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("staff/", staff_views.my_figures, name="my_figures"),
    path("staff/counts/new/", staff_views.count_new, name="count_new"),
    path("staff/hostilities/new/", staff_views.hostility_new, name="hostility_new"),
]
