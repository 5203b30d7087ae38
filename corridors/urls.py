"""Corridor pages and the corridor staff pages, under a language prefix: see tracker/urls.py."""

from django.urls import path

from corridors import views

app_name = "corridors"

urlpatterns = [
    path("corridors/<int:pk>/", views.corridor_detail, name="corridor"),
    path("staff/departures/new/", views.departure_new, name="departure_new"),
    path("staff/arrivals/new/", views.arrival_new, name="arrival_new"),
    path("staff/flags/", views.flag_queue, name="flag_queue"),
    path("staff/flags/<int:pk>/review/", views.flag_review, name="flag_review"),
]
