"""Corridor pages and the corridor staff pages, under a language prefix: see tracker/urls.py."""

from django.urls import path

from corridors import feeds, views

app_name = "corridors"

urlpatterns = [
    path("corridors/<int:pk>/", views.corridor_detail, name="corridor"),
    path("corridors/<int:pk>/dossier/", views.corridor_dossier, name="dossier"),
    path("dossiers/verify/", views.dossier_verify, name="dossier_verify"),
    path("corridors/<int:pk>/feed/", feeds.CorridorFlagFeed(), name="corridor_feed"),
    path("sources/<int:pk>/record/", views.source_record, name="source_record"),
    path("flags/feed/", feeds.FlagFeed(), name="flags_feed"),
    path("staff/departures/new/", views.departure_new, name="departure_new"),
    path("staff/arrivals/new/", views.arrival_new, name="arrival_new"),
    path("staff/flags/", views.flag_queue, name="flag_queue"),
    path("staff/flags/<int:pk>/review/", views.flag_review, name="flag_review"),
]
