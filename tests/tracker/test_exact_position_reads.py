"""
A response with a restricted site's exact position (tracker/secrecy.py): no shared
cache may keep it (`Cache-Control: private, no-store`, `Vary: Authorization, Cookie`),
the public page cache never does, and each read is in the access log (who, which site,
when, through what), which admins read and export.

The endpoints are enumerated, not listed: every API list and object (in each format),
every page of the two apps, every admin changelist, change form and history, so a new
one that shows an exact position is held to the same rule.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils.cache import get_max_age

from tests import factories
from tests.api import api
from tracker import geo, pagecache
from tracker.api import urls as api_urls
from tracker.models import ExactPositionRead, Site

pytestmark = pytest.mark.django_db
UTC = dt.UTC

EXACT = (47.123404, 37.567891)
NEEDLES = ("47.1234", "47,1234")  # with the decimal comma of the Ukrainian pages too


@pytest.fixture
def shelter(alice):
    city = factories.SiteFactory(name="Mariupol", latitude=47.0971, longitude=37.5434)
    shelter = factories.SiteFactory(
        name="Azovstal", kind=Site.Kind.SHELTER, parent=city, latitude=47.1234, longitude=37.5678, restricted=True
    )
    factories.CivilianCountFactory(site=shelter, organisation=alice.organisation, created_by=alice)
    corridor = factories.CorridorFactory(origin=shelter, name="Azovstal out")
    window = factories.WindowFactory(corridor=corridor)
    factories.FlagFactory(window=window, hostility=factories.HostilityReportFactory(site=shelter))
    shelter.latitude, shelter.longitude = EXACT
    shelter.save()  # moved a few metres: a second history row, its diff showing both positions
    return shelter


def carries(response: Any) -> bool:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode(errors="replace")
    return any(needle in text for needle in NEEDLES)


def kwargs_for(pattern: URLPattern, shelter: Site) -> dict[str, Any]:
    """Arguments that point each page at the shelter (or at something about it)."""
    from corridors.models import Corridor, Flag

    x, y = geo.tile_xy(*EXACT, 12)
    known = {"zoom": 12, "x": int(x), "y": int(y)}
    pk = {"site": shelter.pk, "corridor": Corridor.objects.get().pk, "flag_review": Flag.objects.get().pk}
    values: dict[str, Any] = {}
    for name in pattern.pattern.converters:
        if name == "pk":
            values[name] = pk.get(pattern.name or "", shelter.pk)
        elif name in known:
            values[name] = known[name]
        else:
            values[name] = "x"
    return values


def pages(shelter: Site) -> Iterator[str]:
    """Every page of the tracker and corridors apps, in English and in Ukrainian."""

    def walk(patterns: list[Any], namespace: str) -> Iterator[tuple[str, URLPattern]]:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, entry.namespace or namespace)
            elif namespace in ("tracker", "corridors") and entry.name:
                yield namespace, entry

    for namespace, pattern in walk(get_resolver().url_patterns, ""):
        for language in ("en", "uk"):
            from django.utils import translation

            with translation.override(language):
                yield reverse(f"{namespace}:{pattern.name}", kwargs=kwargs_for(pattern, shelter))


def api_endpoints(shelter: Site) -> Iterator[str]:
    for _prefix, viewset, basename in api_urls.router.registry:
        queryset = getattr(viewset, "queryset", None)
        formats = ["json", "csv", *(["geojson"] if basename in ("site", "corridor", "hostility") else [])]
        urls = [reverse(f"api:{basename}-list")]
        if queryset is not None:
            obj = shelter if queryset.model is Site else queryset.model.objects.first()
            if obj is not None:
                urls.append(reverse(f"api:{basename}-detail", args=[obj.pk]))
        for url in urls:
            for format in formats:
                yield f"{url}?format={format}"


def admin_endpoints(shelter: Site) -> Iterator[str]:
    for model in admin.site._registry:
        info = model._meta.app_label, model._meta.model_name
        yield reverse("admin:{}_{}_changelist".format(*info))
        obj = shelter if model is Site else model._default_manager.first()
        if obj is not None:
            yield reverse("admin:{}_{}_change".format(*info), args=[obj.pk])
            yield reverse("admin:{}_{}_history".format(*info), args=[obj.pk])
    version = shelter.history.order_by("history_id").first()
    yield reverse("admin:tracker_site_simple_history", args=[shelter.pk, version.history_id])


def assert_private(url: str, response: Any) -> None:
    control = {part.strip().split("=")[0] for part in response.get("Cache-Control", "").split(",")}
    assert {"private", "no-store"} <= control, (url, response.get("Cache-Control"))
    assert "public" not in control
    assert get_max_age(response) in (None, 0), url
    vary = {part.strip().lower() for part in response.get("Vary", "").split(",")}
    assert {"authorization", "cookie"} <= vary, (url, response.get("Vary"))


def test_every_response_with_an_exact_position_is_private_and_logged(login, carol, shelter):
    browser = login(carol)
    client = api(carol)
    carrying = set()
    endpoints = [(browser, url) for url in [*pages(shelter), *admin_endpoints(shelter)]]
    endpoints += [(client, url) for url in api_endpoints(shelter)]
    for who, url in endpoints:
        before = ExactPositionRead.objects.count()
        response = who.get(url)
        if not carries(response):
            continue
        carrying.add(url.split("?format=")[0] + (f" {url.split('=')[1]}" if "?format=" in url else ""))
        assert_private(url, response)
        reads = ExactPositionRead.objects.order_by("id")[before:]
        assert [(r.user, r.site, r.site_name) for r in reads] == [(carol, shelter, "Azovstal")], url

    site_api = reverse("api:site-detail", args=[shelter.pk])
    expected = {
        f"{reverse('api:site-list')} json",
        f"{reverse('api:site-list')} csv",
        f"{reverse('api:site-list')} geojson",
        f"{site_api} json",
        f"{site_api} csv",
        f"{site_api} geojson",
        f"/en/sites/{shelter.pk}/",
        f"/uk/sites/{shelter.pk}/",
        "/en/map/",
        "/en/map/corridors/",
        reverse("admin:tracker_site_changelist"),
        reverse("admin:tracker_site_change", args=[shelter.pk]),
        reverse("admin:tracker_site_history", args=[shelter.pk]),
    }
    assert expected <= carrying, expected - carrying


def test_nobody_else_gets_an_exact_position_or_a_line_in_the_log(login, alice, shelter):
    for who, urls in ((login(alice), [*pages(shelter), *admin_endpoints(shelter)]), (api(), api_endpoints(shelter))):
        for url in urls:
            assert not carries(who.get(url)), url
    assert not ExactPositionRead.objects.exists()


def test_the_log_says_through_what(login, carol, shelter):
    login(carol).get(reverse("tracker:site", args=[shelter.pk]))
    login(carol).get(reverse("admin:tracker_site_change", args=[shelter.pk]))
    api(carol).get(reverse("api:site-detail", args=[shelter.pk]))
    api(carol).get(reverse("api:site-list"), {"format": "csv"})
    reads = ExactPositionRead.objects.order_by("id")
    assert [r.through for r in reads] == ["page", "admin", "api", "export"]
    assert reads[0].path == reverse("tracker:site", args=[shelter.pk])
    assert reads[3].path == reverse("api:site-list") + "?format=csv"
    assert all(r.username == "carol" and r.ip_address == "127.0.0.1" for r in reads)


def test_an_ordinary_site_is_not_logged_and_stays_cacheable(carol, login):
    site = factories.SiteFactory(name="Zaporizhzhia", latitude=47.8388, longitude=35.1396)
    response = login(carol).get(reverse("tracker:site", args=[site.pk]))
    assert "47.8388" in response.content.decode()
    assert not ExactPositionRead.objects.exists()
    response = Client().get(reverse("tracker:site", args=[site.pk]))  # the public
    assert "no-store" not in response["Cache-Control"]


def test_the_public_page_cache_never_keeps_a_page_with_an_exact_position(public, shelter, monkeypatch):
    # Whatever decides who sees what, a page that came out with an exact position is not kept.
    monkeypatch.setattr("tracker.permissions.can_view_exact_location", lambda user: True)
    for name in ("tracker:map", "tracker:map_corridors"):
        response = public.get(reverse(name))
        assert carries(response), name
        assert_private(name, response)
    assert not pagecache.local.pages
    monkeypatch.undo()
    response = public.get(reverse("tracker:map"))
    assert not carries(response)
    assert list(pagecache.local.pages)  # kept: the public's own page


def test_an_admin_reads_and_exports_the_log_and_nobody_else_does(login, carol, dave, shelter):
    api(carol).get(reverse("api:site-detail", args=[shelter.pk]))
    shelter_pk = shelter.pk
    url = reverse("admin:tracker_exactpositionread_changelist")
    assert login(carol).get(url).status_code == 403
    client = login(dave)
    page = client.get(url)
    assert page.status_code == 200 and "Azovstal" in page.content.decode()
    chosen = list(ExactPositionRead.objects.values_list("pk", flat=True))
    response = client.post(url, {"action": "export_csv", "_selected_action": chosen})
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["at", "username", "user_id", "site_id", "site_name", "through", "path", "ip_address"]
    assert rows[1][1:7] == ["carol", str(carol.pk), str(shelter_pk), "Azovstal", "api", f"/api/v1/sites/{shelter_pk}/"]
    # Nobody changes or deletes a line.
    read = ExactPositionRead.objects.get()
    assert (
        client.post(reverse("admin:tracker_exactpositionread_delete", args=[read.pk]), {"post": "yes"}).status_code
        == 403
    )
