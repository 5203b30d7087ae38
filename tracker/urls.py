from django.contrib import admin
from django.urls import path

from tracker import views

urlpatterns = [
    path("", views.overview, name="overview"),
    path("admin/", admin.site.urls),
]
