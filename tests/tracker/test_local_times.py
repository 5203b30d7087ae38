"""
A figure's time typed as local time that the clocks skipped (spring forward) or showed
twice (fall back) is refused with the valid choices named, in the staff quick forms
and the admin alike; never moved. Schedules keep their own rule (forward / first
occurrence: tests/corridors/test_schedule.py).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from corridors.models import Departure
from tests import factories
from tests.api import api, url
from tracker.localtime import Repeated, Skipped, resolve
from tracker.models import CivilianCount, HostilityReport

UTC = dt.UTC
KYIV = "Europe/Kyiv"
GAP = (
    "2022-03-27 03:30 does not exist in Europe/Kyiv: the clocks went forward from 03:00 to 04:00. "
    "Give a time before 03:00 or from 04:00."
)
FOLD = (
    "2022-10-30 03:30 happened twice in Europe/Kyiv, when the clocks went back: "
    "give 03:30 +03:00 (the first) or 03:30 +02:00 (the second)."
)


def naive(*args: int) -> dt.datetime:
    return dt.datetime(*args)  # noqa: DTZ001 - a wall-clock time


@pytest.mark.parametrize(
    ("local", "zone", "expected"),
    [
        (naive(2022, 5, 5, 8), KYIV, dt.datetime(2022, 5, 5, 5, tzinfo=UTC)),
        (naive(2022, 3, 27, 2, 59), KYIV, dt.datetime(2022, 3, 27, 0, 59, tzinfo=UTC)),  # the last minute before
        (naive(2022, 3, 27, 3, 0), KYIV, Skipped(naive(2022, 3, 27, 3), naive(2022, 3, 27, 4))),
        (naive(2022, 3, 27, 3, 59), KYIV, Skipped(naive(2022, 3, 27, 3), naive(2022, 3, 27, 4))),
        (naive(2022, 3, 27, 4, 0), KYIV, dt.datetime(2022, 3, 27, 1, tzinfo=UTC)),  # the first that exists
        (naive(2022, 10, 30, 2, 59), KYIV, dt.datetime(2022, 10, 29, 23, 59, tzinfo=UTC)),
        (naive(2022, 10, 30, 4, 0), KYIV, dt.datetime(2022, 10, 30, 2, 0, tzinfo=UTC)),
        (naive(2022, 3, 13, 2, 30), "America/New_York", Skipped(naive(2022, 3, 13, 2), naive(2022, 3, 13, 3))),
    ],
)
def test_resolve_names_one_instant_or_what_to_choose_between(local, zone, expected):
    assert resolve(local, zone) == expected


@pytest.mark.parametrize("minute", [0, 30, 59])
def test_a_repeated_time_gives_both_instants_an_hour_apart(minute):
    found = resolve(naive(2022, 10, 30, 3, minute), KYIV)
    assert isinstance(found, Repeated)
    assert found.first.astimezone(UTC) == dt.datetime(2022, 10, 30, 0, minute, tzinfo=UTC)
    assert found.second.astimezone(UTC) == dt.datetime(2022, 10, 30, 1, minute, tzinfo=UTC)
    assert (found.first.utcoffset(), found.second.utcoffset()) == (dt.timedelta(hours=3), dt.timedelta(hours=2))


def en(name: str) -> str:
    with translation.override("en"):
        return reverse(name)


@pytest.fixture
def client(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def site(db):
    return factories.SiteFactory(name="Azovstal", timezone=KYIV)


@pytest.fixture
def source(db):
    return factories.SourceFactory()


def count_data(site, source, **values):
    return {"site": site.pk, "count": "7", "qualifier": "exact", "source": source.pk, **values}


class TestQuickForms:
    def test_a_skipped_time_is_refused_with_the_times_either_side(self, client, site, source):
        response = client.post(en("tracker:count_new"), count_data(site, source, as_of="2022-03-27T03:30"))
        assert response.status_code == 400
        assert response.context["form"].errors["as_of"] == [GAP]
        assert 'value="2022-03-27T03:30"' in response.content.decode()
        assert not CivilianCount.objects.exists()

    def test_a_repeated_time_is_refused_with_both_offsets_and_the_form_asks_which(self, client, site, source):
        response = client.post(en("tracker:count_new"), count_data(site, source, as_of="2022-10-30T03:30"))
        assert response.status_code == 400
        assert response.context["form"].errors["as_of"] == [FOLD]
        html = response.content.decode()
        assert 'type="radio" name="as_of_offset" value="+03:00"' in html
        assert 'type="radio" name="as_of_offset" value="+02:00"' in html
        assert not CivilianCount.objects.exists()

    @pytest.mark.parametrize(("offset", "stored"), [("+03:00", 0), ("+02:00", 1)])
    def test_the_chosen_one_is_saved(self, client, site, source, offset, stored):
        data = count_data(site, source, as_of="2022-10-30T03:30", as_of_offset=offset)
        assert client.post(en("tracker:count_new"), data).status_code == 302
        assert CivilianCount.objects.get().as_of == dt.datetime(2022, 10, 30, stored, 30, tzinfo=UTC)

    def test_an_offset_that_is_not_one_of_them_is_refused(self, client, site, source):
        data = count_data(site, source, as_of="2022-10-30T03:30", as_of_offset="+05:00")
        response = client.post(en("tracker:count_new"), data)
        assert response.context["form"].errors["as_of"] == [FOLD]

    def test_an_offset_left_over_from_an_earlier_try_does_not_move_an_ordinary_time(self, client, site, source):
        data = count_data(site, source, as_of="2022-10-30T10:00", as_of_offset="+03:00")
        assert client.post(en("tracker:count_new"), data).status_code == 302
        assert CivilianCount.objects.get().as_of == dt.datetime(2022, 10, 30, 8, tzinfo=UTC)

    def test_a_reports_end_is_checked_too(self, client, site, source):
        data = {
            "site": site.pk,
            "kind": "shelling",
            "started_at": "2022-10-30T01:00",
            "ended_at": "2022-10-30T03:15",
            "time_precision": "exact",
            "source": source.pk,
        }
        response = client.post(en("tracker:hostility_new"), data)
        assert "happened twice" in response.context["form"].errors["ended_at"][0]
        assert client.post(en("tracker:hostility_new"), {**data, "ended_at_offset": "+02:00"}).status_code == 302
        assert HostilityReport.objects.get().ended_at == dt.datetime(2022, 10, 30, 1, 15, tzinfo=UTC)

    def test_a_departure_reads_its_origins_zone(self, client, source):
        origin = factories.SiteFactory(name="Kharkiv", timezone=KYIV)
        data = {
            "origin": origin.pk,
            "departed_at": "2022-03-27T03:30",
            "count": "5",
            "qualifier": "exact",
            "source": source.pk,
        }
        response = client.post(en("corridors:departure_new"), data)
        assert response.context["form"].errors["departed_at"] == [GAP]
        assert not Departure.objects.exists()


class TestAdmin:
    """The admin reads times in TIME_ZONE (Europe/Kyiv here)."""

    def post(self, login, alice, site, source, time):
        data = {
            "site": site.pk,
            "as_of_0": time[0],
            "as_of_1": time[1],
            "count": "7",
            "count_high": "",
            "qualifier": "exact",
            "source": source.pk,
            "reported_at_0": "",
            "reported_at_1": "",
            "verification": "unverified",
        }
        return login(alice).post(reverse("admin:tracker_civiliancount_add"), data)

    def test_a_skipped_time_is_refused_with_the_times_either_side(self, login, alice, site, source):
        response = self.post(login, alice, site, source, ("2022-03-27", "03:30:00"))
        assert response.context["adminform"].form.errors["as_of"] == [GAP]
        assert not CivilianCount.objects.exists()

    def test_a_repeated_time_is_refused_with_both_offsets(self, login, alice, site, source):
        response = self.post(login, alice, site, source, ("2022-10-30", "03:30"))
        assert response.context["adminform"].form.errors["as_of"] == [FOLD]

    @pytest.mark.parametrize(("typed", "stored"), [("03:30 +03:00", 0), ("03:30 +02:00", 1), ("03:30+0200", 1)])
    def test_the_time_box_takes_the_offset_that_says_which(self, login, alice, site, source, typed, stored):
        assert self.post(login, alice, site, source, ("2022-10-30", typed)).status_code == 302
        assert CivilianCount.objects.get().as_of == dt.datetime(2022, 10, 30, stored, 30, tzinfo=UTC)

    def test_an_offset_the_zone_does_not_have_then_is_refused(self, login, alice, site, source):
        response = self.post(login, alice, site, source, ("2022-05-05", "10:00 +05:00"))
        assert response.context["adminform"].form.errors["as_of"] == [
            "2022-05-05 10:00 is not a time in Europe/Kyiv with the offset +05:00: give it without one, or with +03:00."
        ]
        response = self.post(login, alice, site, source, ("2022-10-30", "03:30 +05:00"))
        assert response.context["adminform"].form.errors["as_of"] == [FOLD]


class TestApi:
    """The API never reads a local time: one without its offset is refused, whatever the date; one with it is exact."""

    @pytest.mark.parametrize("typed", ["2022-03-27T03:30:00", "2022-10-30T03:30:00", "2022-05-05T08:00:00"])
    def test_a_time_without_an_offset_is_refused_naming_the_field_and_the_form_to_use(self, alice, site, source, typed):
        response = api(alice).post(url("count-list"), {**count_data(site, source, as_of=typed), "count": 7})
        assert response.status_code == 400
        assert "Give the time with its UTC offset, such as 2022-05-05T08:00:00+03:00" in response.json()["as_of"][0]
        assert not CivilianCount.objects.exists()

    @pytest.mark.parametrize(("typed", "stored"), [("2022-10-30T03:30:00+03:00", 0), ("2022-10-30T03:30:00+02:00", 1)])
    def test_the_offset_says_which_of_a_repeated_time(self, alice, site, source, typed, stored):
        response = api(alice).post(url("count-list"), {**count_data(site, source, as_of=typed), "count": 7})
        assert response.status_code == 201, response.json()
        assert CivilianCount.objects.get().as_of == dt.datetime(2022, 10, 30, stored, 30, tzinfo=UTC)
