"""
Figures that cannot contradict themselves, and input that cannot hurt (docs/api.md,
"Validation"): each rule refuses the same input on the same field through the API,
the staff quick forms and the admin, and writes nothing; the forms keep what was typed.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from tests import factories
from tests.api import api, url
from tests.paths import PATHS, enter
from tracker import validators
from tracker.models import CivilianCount, HostilityReport

pytestmark = pytest.mark.django_db
UTC = dt.UTC
FUTURE = "This time is in the future: a figure reports what has happened. Check the year and the date."
RANGE = "Give a time between the years 1900 and 2199."


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def site(db):
    return factories.SiteFactory(name="Azovstal", kind="shelter", timezone="Europe/Kyiv")


@pytest.fixture
def source(db):
    return factories.SourceFactory(name="Mayor of Mariupol")


def count(site, source, **values):
    return {
        "site": site,
        "as_of": utc(2022, 5, 4, 9),
        "count": 200,
        "qualifier": "approximately",
        "source": source,
        **values,
    }


def report(site, source, **values):
    return {
        "site": site,
        "kind": "ground_assault",
        "started_at": utc(2022, 5, 5, 7),
        "time_precision": "exact",
        "source": source,
        **values,
    }


def en(name: str, *args: object) -> str:
    with translation.override("en"):
        return reverse(name, args=args)


def staff(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", PATHS)
class TestNotInTheFuture:
    def test_a_count_dated_2030_is_refused(self, path, alice, site, source):
        # The typo that made Azovstal's headline "12 people as of 1 January 2030".
        outcome = enter(path, alice, "count", **count(site, source, as_of=utc(2030, 1, 1), count=12))
        assert outcome.errors["as_of"] == [FUTURE]

    def test_a_report_that_starts_or_ends_in_the_future_is_refused(self, path, alice, site, source):
        later = timezone.now() + dt.timedelta(hours=2)
        outcome = enter(path, alice, "hostility", **report(site, source, started_at=later))
        assert outcome.errors["started_at"] == [FUTURE]
        outcome = enter(path, alice, "hostility", **report(site, source, ended_at=later))
        assert outcome.errors["ended_at"] == [FUTURE]

    def test_a_few_minutes_of_clock_skew_are_allowed(self, path, alice, site, source):
        assert enter(path, alice, "count", **count(site, source, as_of=timezone.now() + dt.timedelta(minutes=4))).ok

    def test_the_skew_is_a_setting(self, path, alice, site, source, settings):
        settings.FIGURE_CLOCK_SKEW = 0
        outcome = enter(path, alice, "count", **count(site, source, as_of=timezone.now() + dt.timedelta(minutes=4)))
        assert outcome.errors["as_of"] == [FUTURE]


@pytest.mark.parametrize("path", ["api", "admin"])
def test_a_source_cannot_have_said_it_in_the_future(path, alice, site, source):
    outcome = enter(path, alice, "count", **count(site, source, reported_at=utc(2031, 1, 1)))
    assert outcome.errors["reported_at"] == [FUTURE]


def test_a_corridor_cannot_be_announced_in_the_future(carol, site):
    body = {"name": "Azovstal → Zaporizhzhia", "origin": site.pk, "destination": factories.SiteFactory().pk}
    response = api(carol).post(url("corridor-list"), {**body, "announced_at": "2031-05-04T12:00:00Z"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"announced_at": [FUTURE]}
    assert (
        api(carol)
        .post(url("corridor-list"), {**body, "announced_at": "2022-05-04T12:00:00Z"}, format="json")
        .status_code
        == 201
    )


class TestYears:
    """One range, 1900 to 2199, for every instant a figure holds, however it is entered."""

    @pytest.mark.parametrize("typed", ["9999-12-31T10:00", "1899-05-05T10:00", "0001-01-01T10:00", "2200-01-01T00:00"])
    @pytest.mark.parametrize("precision", ["exact", "hour", "day"])
    def test_the_quick_form_refuses_a_year_out_of_range_and_keeps_it(self, alice, site, source, typed, precision):
        data = {
            "site": site.pk,
            "kind": "shelling",
            "started_at": typed,
            "time_precision": precision,
            "source": source.pk,
        }
        response = staff(alice).post(en("tracker:hostility_new"), data)
        assert response.status_code == 400
        assert response.context["form"].errors["started_at"] == [RANGE]
        assert f'value="{typed}"' in response.content.decode()
        assert not HostilityReport.objects.exists()

    @pytest.mark.parametrize("day", ["9999-12-31", "1899-12-31", "0001-01-01"])
    @pytest.mark.parametrize("precision", ["exact", "day"])
    def test_the_admin_refuses_a_year_out_of_range(self, alice, site, source, day, precision):
        outcome = enter(
            "admin", alice, "hostility", **report(site, source, started_at=(day, "10:00:00"), time_precision=precision)
        )
        assert outcome.errors["started_at"] == [RANGE]

    @pytest.mark.parametrize("value", ["9999-12-31T10:00:00Z", "1899-05-05T10:00:00Z", "0001-01-01T00:00:00Z"])
    def test_the_api_refuses_a_year_out_of_range(self, alice, site, source, value):
        outcome = enter("api", alice, "hostility", **report(site, source, started_at=value, time_precision="day"))
        assert outcome.errors["started_at"] == [RANGE]

    def test_the_edges_are_taken(self, alice, site, source):
        assert enter("staff", alice, "count", **count(site, source, as_of=utc(1900, 1, 1, 12))).ok

    def test_the_database_holds_the_range_too(self, site, source):
        figure = factories.CivilianCountFactory(site=site, source=source)
        with pytest.raises(IntegrityError), transaction.atomic():
            CivilianCount.objects.filter(pk=figure.pk).update(as_of=utc(2300, 1, 1))

    def test_a_schedule_outside_the_years_is_refused_in_the_admin(self, login, carol, site):
        corridor = factories.CorridorFactory(origin=site)
        data = {"local_start": "08:00", "local_end": "18:00", "first_date": "9999-12-31", "days": "3"}
        response = login(carol).post(reverse("admin:corridors_corridor_schedule", args=[corridor.pk]), data)
        assert response.status_code == 200
        assert "Give a date between the years 1900 and 2199." in response.content.decode()


class TestText:
    @pytest.mark.parametrize("path", PATHS)
    def test_a_description_longer_than_the_maximum_is_refused(self, path, alice, site, source):
        outcome = enter(path, alice, "hostility", **report(site, source, description="x" * 2001))
        assert outcome.errors["description"] == ["Ensure this value has at most 2000 characters (it has 2001)."]
        if path == "staff":
            assert "x" * 2001 in outcome.html  # kept as typed
        assert enter(path, alice, "hostility", **report(site, source, description="x" * 2000)).ok

    @pytest.mark.parametrize("path", PATHS)
    def test_direction_controls_in_a_description_are_refused(self, path, alice, site, source):
        outcome = enter(path, alice, "hostility", **report(site, source, description="Shelling \u202eevah"))
        assert outcome.errors["description"] == [
            "Remove the invisible direction controls (U+202E): they make text display differently from what it says."
        ]

    def test_the_database_holds_the_maximum_too(self, site, source):
        figure = factories.HostilityReportFactory(site=site, source=source)
        with pytest.raises(IntegrityError), transaction.atomic():
            HostilityReport.objects.filter(pk=figure.pk).update(description="x" * 2001)


class TestNames:
    @pytest.mark.parametrize(
        ("name", "message"),
        [
            (
                "\u202e\u200b",
                "Remove the invisible direction controls (U+202E): "
                "they make text display differently from what it says.",
            ),
            ("\u200b \u200b\ufeff", "Give a name with at least one visible letter or digit."),
            ("\u0301", "Give a name with at least one visible letter or digit."),  # a combining accent on nothing
            ("Mayor\x00", "Remove the control characters (U+0000)."),
        ],
    )
    @pytest.mark.parametrize("resource", ["source", "site", "corridor"])
    def test_an_invisible_or_reversed_name_is_refused(self, carol, resource, name, message):
        here, there = factories.SiteFactory(), factories.SiteFactory()
        body = {
            "source": {"kind": "ngo"},
            "site": {"kind": "city", "latitude": 47.1, "longitude": 37.5},
            "corridor": {"origin": here.pk, "destination": there.pk},
        }[resource]
        response = api(carol).post(url(f"{resource}-list"), {**body, "name": name}, format="json")
        assert response.status_code == 400
        assert message in response.json()["name"]

    def test_a_name_is_stored_normalised(self, carol):
        response = api(carol).post(
            url("source-list"), {"name": " \u200bMayor of   Marinka\u200b ", "kind": "official"}, format="json"
        )
        assert response.json()["name"] == "Mayor of Marinka"

    def test_the_admin_refuses_an_invisible_name(self, login, alice):
        response = login(alice).post(
            reverse("admin:tracker_source_add"), {"name": "\u202e\u200b", "kind": "ngo", "url": ""}
        )
        assert response.status_code == 200
        assert "direction controls" in str(response.context["adminform"].form.errors["name"])

    @pytest.mark.parametrize(
        "link", ["javascript:alert(1)", "data:text/html,hi", "ftp://example.org/report", "file:///etc/passwd"]
    )
    def test_a_link_is_http_or_https_and_says_so(self, login, alice, link):
        message = "Give a web address that starts with http:// or https://."
        response = api(alice).post(
            url("source-list"), {"name": "Mayor", "kind": "official", "url": link}, format="json"
        )
        assert response.json() == {"url": [message]}
        response = login(alice).post(
            reverse("admin:tracker_source_add"), {"name": "Mayor", "kind": "official", "url": link}
        )
        assert response.context["adminform"].form.errors["url"] == [message]

    @pytest.mark.parametrize(
        ("typed", "stored"),
        [("  Azovstal   plant ", "Azovstal plant"), ("\ufeffMariupol\u200b", "Mariupol"), ("Cafe\u0301", "Café")],
    )
    def test_normalise_name(self, typed, stored):
        assert validators.normalise_name(typed) == stored


class TestInUkrainian:
    def test_the_api_says_it_in_the_language_asked_for(self, alice, site, source):
        body = {"site": site.pk, "as_of": "2030-01-01T00:00:00Z", "count": 12, "source": source.pk}
        response = api(alice).post(url("count-list"), body, format="json", HTTP_ACCEPT_LANGUAGE="uk")
        assert response.json() == {
            "as_of": ["Цей час у майбутньому, а дані повідомляють про те, що вже сталося. Перевірте рік і дату."]
        }

    def test_the_quick_form_names_the_choices_in_ukrainian(self, alice, site, source):
        with translation.override("uk"):
            address = reverse("tracker:count_new")
        data = {"site": site.pk, "count": "7", "qualifier": "exact", "source": source.pk, "as_of": "2022-10-30T03:30"}
        response = staff(alice).post(address, data)
        assert response.context["form"].errors["as_of"] == [
            "2022-10-30 03:30 у зоні Europe/Kyiv було двічі, коли годинники перевели назад: "
            "вкажіть 03:30 +03:00 (перший раз) або 03:30 +02:00 (другий)."
        ]
