"""The public dashboard."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from corridors.models import Corridor
from tracker.models import Site


def overview(request: HttpRequest) -> HttpResponse:
    """The dashboard's front page (the full overview comes with the dashboard issue)."""
    context = {
        "now": timezone.now(),
        "corridor_count": Corridor.objects.count(),
        "site_count": Site.objects.count(),
    }
    return render(request, "tracker/overview.html", context)
