"""
Security: nobody without the exact-position permission learns where a restricted site
is by asking questions about it (docs/design.md, "Space"; tracker/secrecy.py).

The attack (issue 10, High #1): every account is staff, and a changelist answers
"1 site" or "0 sites" to `?id=7&latitude__gte=47.12`, so about seventy requests of a
binary search give a shelter's coordinates to six decimals. These tests run that
search, and then ask every admin changelist and every API list a reporter can reach
every lookup, ordering and search on an exact position, with the shelter at two places
of the same 10 km cell: no answer may differ between the two.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.urls import NoReverseMatch, reverse
from rest_framework.throttling import SimpleRateThrottle

from tests import factories
from tests.api import api
from tracker import secrecy
from tracker.api import urls as api_urls
from tracker.api.base import FilterSet, ReadViewSet
from tracker.models import Site

pytestmark = pytest.mark.django_db
UTC = dt.UTC

# Two exact positions in the same 0.1° cell (both coarsen to 47.1, 37.6), and an
# ordinary site between them: a filter, an ordering or a search that reads the exact
# position answers differently for the two.
HERE = (47.123456, 37.567891)
THERE = (47.104321, 37.554321)
BETWEEN = (47.115, 37.56)


def binary_search(ask: Callable[[float], bool], low: float, high: float, *, digits: int = 6) -> tuple[float, int]:
    """The x with ask(y) == (y <= x) to `digits` decimals, if `ask` tells the truth; and the requests made."""
    requests = 0
    while high - low > 10**-digits:
        middle = (low + high) / 2
        requests += 1
        if ask(middle):
            low = middle
        else:
            high = middle
    return round(low, digits), requests


def recover_position(client: Any, site: Site) -> tuple[tuple[float, float], int, set[Any]]:
    """The attack: a binary search on the site changelist's count of one site, for each coordinate."""
    answers: set[Any] = set()

    def ask(field: str) -> Callable[[float], bool]:
        def at_least(value: float) -> bool:
            response = client.get(reverse("admin:tracker_site_changelist"), {"id": site.pk, f"{field}__gte": value})
            cl = response.context["cl"] if response.status_code == 200 and response.context else None
            answer = (response.status_code, cl.result_count if cl is not None else None)
            answers.add(answer)
            return answer == (200, 1)

        return at_least

    latitude, asked_latitude = binary_search(ask("latitude"), -90, 90)
    longitude, asked_longitude = binary_search(ask("longitude"), -180, 180)
    return (latitude, longitude), asked_latitude + asked_longitude, answers


def test_a_reporters_binary_search_on_the_site_admin_learns_nothing(login, alice, carol):
    shelter = factories.SiteFactory(name="Azovstal", latitude=HERE[0], longitude=HERE[1], restricted=True)

    # The attack works where it is allowed: a coordinator, who may see the position, gets it in ~57 requests.
    found, requests, _answers = recover_position(login(carol), shelter)
    assert found == pytest.approx(HERE, abs=2e-6)
    assert 50 <= requests <= 70

    # A reporter gets the same answer to every question, so the search ends at an edge of the world.
    found, requests, answers = recover_position(login(alice), shelter)
    assert len(answers) == 1, answers
    assert answers.pop()[0] == 403
    assert found != pytest.approx(HERE, abs=1)


def test_a_reporter_does_not_see_the_site_admin_but_picks_a_sites_name(login, alice):
    factories.SiteFactory(name="Azovstal", latitude=HERE[0], longitude=HERE[1], restricted=True)
    client = login(alice)
    assert client.get(reverse("admin:tracker_site_changelist")).status_code == 403
    assert "tracker/site/" not in client.get(reverse("admin:index")).content.decode()
    # The search box of a count's site: names only (they are public).
    params = {"app_label": "tracker", "model_name": "civiliancount", "field_name": "site", "term": "Azov"}
    response = client.get(reverse("admin:autocomplete"), params)
    assert response.status_code == 200
    assert [row["text"] for row in response.json()["results"]] == ["Azovstal"]
    assert "47.12" not in response.content.decode()


# --- Every changelist and every API list, every lookup, ordering and search ----------

LOOKUPS = {
    "": "47.123456",
    "__gte": "47.115",
    "__startswith": "47.12",
    "__regex": r"^47\.12",
}


def exact_paths(model: type[models.Model], depth: int = 2, prefix: str = "", seen: tuple = ()) -> Iterator[str]:
    """
    Every lookup path from `model` that ends on a field carrying an exact position,
    through up to `depth` relations, never back through a model already passed (but
    from a site to its parent or children).
    """
    for field in model._meta.get_fields():
        if secrecy.carries_exact_position(field):
            yield prefix + field.name
        elif field.is_relation and field.related_model is not None and depth > 0:
            related = field.related_model
            if related in seen and not (related is Site and model is Site):
                continue
            yield from exact_paths(related, depth - 1, f"{prefix}{field.name}__", (*seen, model))


@pytest.fixture
def world(alice, bob, carol):
    """A restricted shelter with something of every kind at it, for a reporter to ask about."""
    city = factories.SiteFactory(name="Mariupol", latitude=BETWEEN[0], longitude=BETWEEN[1])
    shelter = factories.SiteFactory(
        name="Azovstal", kind=Site.Kind.SHELTER, parent=city, latitude=HERE[0], longitude=HERE[1], restricted=True
    )
    factories.SiteFactory(name="Bunker", parent=shelter, restricted=True, latitude=47.2, longitude=37.7)
    zaporizhzhia = factories.SiteFactory(name="Zaporizhzhia", latitude=47.83, longitude=35.14)
    for organisation, person in ((alice.organisation, alice), (bob.organisation, bob)):
        for site in (city, shelter):
            factories.CivilianCountFactory(site=site, organisation=organisation, created_by=person)
        factories.HostilityReportFactory(site=shelter, organisation=organisation, created_by=person)
    corridor = factories.CorridorFactory(origin=shelter, destination=zaporizhzhia, name="Azovstal to Zaporizhzhia")
    other = factories.CorridorFactory(origin=city, destination=zaporizhzhia, name="Mariupol to Zaporizhzhia")
    window = factories.WindowFactory(corridor=corridor)
    factories.WindowFactory(corridor=other)
    factories.DepartureFactory(origin=shelter, corridor=corridor, window=window, organisation=alice.organisation)
    factories.ArrivalFactory(
        origin=shelter, destination=zaporizhzhia, corridor=corridor, window=window, organisation=alice.organisation
    )
    factories.FlagFactory(window=window, hostility=factories.HostilityReportFactory(site=shelter))
    return shelter


def questions(model: type[models.Model], *, admin_list: bool) -> Iterator[dict[str, str]]:
    """Every lookup, ordering and search on an exact position one could send to a list of `model`."""
    paths = sorted(set(exact_paths(model)))
    for path, (lookup, value) in itertools.product(paths, LOOKUPS.items()):
        if path.endswith("latitude") and path.count("__") <= 1:
            yield {path + lookup: value}
        elif lookup == "__gte":  # one lookup is enough to show a longer path or the other field is guarded
            yield {path + lookup: value if path.endswith("latitude") else "37.56"}
    if not admin_list:  # the REST framework's and django-filter's ordering parameters
        for path in paths:
            yield {"ordering": path}
            yield {"o": f"-{path}"}
    for word in ("q", "search"):
        yield {word: "47.12"}
        yield {word: "47.12345"}
    if admin_list:
        for column in range(len(admin.site._registry[model].list_display) + 2):
            yield {"o": str(column)}


def move(site: Site, position: tuple[float, float]) -> None:
    """Move the shelter within its coarse cell (an update: nothing else of it changes)."""
    Site.objects.filter(pk=site.pk).update(latitude=position[0], longitude=position[1])


def admin_answer(client: Any, url: str, params: dict[str, str]) -> Any:
    response = client.get(url, params)
    if response.status_code != 200:
        return response.status_code
    cl = response.context["cl"]
    return 200, cl.result_count, cl.full_result_count, [obj.pk for obj in cl.result_list]


def api_answer(client: Any, url: str, params: dict[str, str]) -> Any:
    response = client.get(url, params)
    return response.status_code, response.content


def leaks(answer: Callable[[dict[str, str]], Any], shelter: Site, model: type[models.Model], **kwargs: Any) -> list:
    """The questions whose answer changes when the shelter moves within its cell."""
    asked = list(questions(model, **kwargs))
    move(shelter, HERE)
    here = [answer(params) for params in asked]
    move(shelter, THERE)
    there = [answer(params) for params in asked]
    move(shelter, HERE)
    return [params for params, a, b in zip(asked, here, there, strict=True) if a != b]


def reachable_changelists(client: Any) -> Iterator[tuple[type[models.Model], str]]:
    for model in admin.site._registry:
        try:
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        except NoReverseMatch:
            continue
        if client.get(url).status_code == 200:
            yield model, url


def test_no_admin_changelist_answers_a_reporter_about_an_exact_position(login, alice, world):
    client = login(alice)
    reachable = list(reachable_changelists(client))
    assert {model._meta.model_name for model, _url in reachable} >= {"civiliancount", "hostilityreport", "corridor"}
    for model, url in reachable:
        assert not leaks(functools.partial(admin_answer, client, url), world, model, admin_list=True), url


def test_no_api_list_answers_a_reporter_or_the_public_about_an_exact_position(alice, world, monkeypatch):
    monkeypatch.setattr(SimpleRateThrottle, "allow_request", lambda *args: True)  # a 429 would differ
    lists = [
        (viewset.queryset.model, reverse(f"api:{basename}-list"))
        for _prefix, viewset, basename in api_urls.router.registry
        if getattr(viewset, "queryset", None) is not None
    ]
    assert len(lists) >= 11
    # Every list as a reporter; the sites' also as the public.
    asked = [(api(alice), model, url) for model, url in lists] + [(api(), Site, reverse("api:site-list"))]
    for client, model, url in asked:
        found = leaks(functools.partial(api_answer, client, url), world, model, admin_list=False)
        assert not found, (url, found)


def test_the_harness_sees_a_leak_where_the_position_may_be_seen(login, carol, world):
    """The same questions, asked by a coordinator (who may see the position), do tell the two places apart."""
    client = login(carol)
    url = reverse("admin:tracker_site_changelist")
    found = leaks(lambda params: admin_answer(client, url, params), world, Site, admin_list=True)
    assert {"latitude__gte": "47.115"} in found
    assert {"latitude__startswith": "47.12"} in found


def test_an_api_filter_on_an_exact_position_is_refused_at_start_up():
    with pytest.raises(ImproperlyConfigured, match="exact position"):

        class SiteByLatitude(FilterSet):
            class Meta:
                model = Site
                fields = ["latitude"]

    with pytest.raises(ImproperlyConfigured, match="exact position"):

        class SitesByLatitude(ReadViewSet):
            queryset = Site.objects.all()
            ordering_fields = ("name", "latitude")
