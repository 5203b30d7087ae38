"""
`/api/v1/hostilities/`: hostilities reported at a site. Public to read; written like
every figure (own organisation; coordinators verify); saving one raises, moves or
withdraws the flags of the corridor windows it overlaps, through the services.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from corridors.models import Flag, FlagCheck
from tests import factories
from tests.api import csv_rows, hxl_data, ids, list_queries, persona
from tracker.models import HostilityReport, Site

pytestmark = pytest.mark.django_db
UTC = dt.UTC
URL = "/api/v1/hostilities/"
NOW = dt.datetime(2022, 5, 6, 9, 0, tzinfo=UTC)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def detail(report) -> str:
    return f"{URL}{report.pk}/"


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what the request queued with on_commit, as its commit would: `with committed(): ...`."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def azovstal(db):
    return factories.SiteFactory(name="Azovstal", kind=Site.Kind.SHELTER)


@pytest.fixture
def defenders(db):
    return factories.SourceFactory(name="Azov regiment", kind="military")


@pytest.fixture
def window(azovstal):
    """A corridor out of Azovstal, open 08:00–18:00 Kyiv time on 5 May 2022 (05:00–15:00 UTC)."""
    corridor = factories.CorridorFactory(name="Azovstal → Zaporizhzhia", origin=azovstal)
    return factories.WindowFactory(corridor=corridor, starts_at=utc(2022, 5, 5, 5), ends_at=utc(2022, 5, 5, 15))


@pytest.fixture
def payload(azovstal, defenders):
    """The plant stormed from 10:00 to 11:00 Kyiv time on 5 May, say its defenders."""
    return {
        "site": azovstal.pk,
        "kind": "ground_assault",
        "started_at": "2022-05-05T10:00:00+03:00",
        "ended_at": "2022-05-05T11:00:00+03:00",
        "ongoing": False,
        "time_precision": "exact",
        "description": "Storming of the plant",
        "source": defenders.pk,
    }


def report_of(user, **fields) -> HostilityReport:
    return factories.HostilityReportFactory(organisation=user.organisation, created_by=user, **fields)


class TestReading:
    def test_the_public_reads_reports_with_times_in_utc(self, api, alice, azovstal, defenders):
        report = report_of(
            alice, site=azovstal, source=defenders, started_at=utc(2022, 5, 5, 7), ended_at=utc(2022, 5, 5, 8)
        )
        response = api().get(detail(report))
        assert response.status_code == 200
        assert response.json() == {
            "id": report.pk,
            "created_at": "2022-05-06T09:00:00Z",
            "updated_at": "2022-05-06T09:00:00Z",
            "site": azovstal.pk,
            "kind": "shelling",
            "started_at": "2022-05-05T07:00:00Z",
            "ended_at": "2022-05-05T08:00:00Z",
            "ongoing": False,
            "time_precision": "exact",
            "description": "",
            "source": defenders.pk,
            "reported_at": None,
            "verification": "unverified",
            "organisation": alice.organisation_id,
            "created_by": None,  # the public sees the organisation, never the person
        }
        assert ids(api().get(URL)) == [report.pk]

    @pytest.mark.parametrize("who", ["public", "alice", "bob", "carol", "dave"])
    def test_everyone_reads_reports_logged_in_or_not(self, api, request, alice, who):
        report = report_of(alice)
        client = api(persona(request, who))
        assert ids(client.get(URL)) == [report.pk]
        assert client.get(detail(report)).status_code == 200

    def test_the_csv_tags_every_column_and_escapes_a_description_like_a_formula(self, api, alice):
        report_of(alice, description='=HYPERLINK("https://example.com","details")')
        response = api().get(URL, {"format": "csv"})
        rows = csv_rows(response)
        row = dict(zip(rows[0], rows[2], strict=True))
        assert row["description"] == '\'=HYPERLINK("https://example.com","details")'
        assert row["started_at"] == "2022-05-05T07:00:00Z"
        dataset = hxl_data(response)
        assert [column.display_tag for column in dataset.columns] == rows[1]
        assert None not in [column.tag for column in dataset.columns]
        assert [row.get("#event+type") for row in dataset] == ["shelling"]

    def test_the_list_costs_the_same_queries_whatever_the_page_size(self, api):
        for i in range(30):
            organisation = factories.OrganisationFactory()
            factories.HostilityReportFactory(
                organisation=organisation,
                created_by=factories.UserFactory(organisation=organisation),
                started_at=utc(2022, 5, 5) + dt.timedelta(hours=i),
            )
        assert list_queries(api(), URL, 3) == list_queries(api(), URL, 30)


class TestFilters:
    @pytest.fixture
    def reports(self, azovstal):
        """Five reports at Kyiv-time sites, each covering a different stretch of time."""
        odesa = factories.SiteFactory(name="Odesa")
        return {
            # [07:00, 07:00] on 5 May: an instant
            "instant": factories.HostilityReportFactory(site=azovstal, started_at=utc(2022, 5, 5, 7)),
            # [05:00, 06:00) on 5 May
            "interval": factories.HostilityReportFactory(
                site=azovstal, kind="air_strike", started_at=utc(2022, 5, 5, 5), ended_at=utc(2022, 5, 5, 6)
            ),
            # from 12:00 on 4 May, with no end yet
            "ongoing": factories.HostilityReportFactory(
                site=odesa, kind="small_arms", started_at=utc(2022, 5, 4, 12), ongoing=True, verification="verified"
            ),
            # "on 3 May": the whole Kyiv day, [2 May 21:00, 3 May 21:00) UTC
            "day": factories.HostilityReportFactory(
                site=azovstal, started_at=utc(2022, 5, 3, 10), time_precision="day", verification="disputed"
            ),
            # "around 12:30 on 5 May": the Kyiv hour 12:00–13:00, [09:00, 10:00) UTC
            "hour": factories.HostilityReportFactory(
                site=odesa, started_at=utc(2022, 5, 5, 9, 30), time_precision="hour"
            ),
        }

    def found(self, api, reports, **query) -> set[str]:
        by_id = {report.pk: name for name, report in reports.items()}
        return {by_id[pk] for pk in ids(api().get(URL, query))}

    def test_reports_filter_by_site_kind_and_verification(self, api, reports, azovstal):
        assert self.found(api, reports, site=azovstal.pk) == {"instant", "interval", "day"}
        assert self.found(api, reports, kind="small_arms") == {"ongoing"}
        assert self.found(api, reports, verification="disputed") == {"day"}
        assert self.found(api, reports, verification="unverified", site=azovstal.pk) == {"instant", "interval"}

    def test_the_list_is_latest_start_first(self, api, reports):
        assert ids(api().get(URL)) == [reports[name].pk for name in ("hour", "instant", "interval", "ongoing", "day")]

    @pytest.mark.parametrize(
        ("since", "until", "expected"),
        [
            # A report that ends where the range starts does not reach into it (half-open).
            ("2022-05-05T06:00:00Z", None, {"instant", "ongoing", "hour"}),
            # One that starts where the range ends is not in it either.
            (None, "2022-05-05T05:00:00Z", {"ongoing", "day"}),
            # An instant on the start of the range is in it; one on its end is not.
            ("2022-05-05T07:00:00Z", "2022-05-05T09:00:00Z", {"instant", "ongoing"}),
            ("2022-05-05T06:30:00Z", "2022-05-05T07:00:00Z", {"ongoing"}),
            # An hour known: the whole hour is covered.
            ("2022-05-05T09:59:00Z", "2022-05-05T10:00:00Z", {"ongoing", "hour"}),
            # A day known: the whole local day, in the site's zone (UTC+3 in May).
            ("2022-05-03T20:59:00Z", "2022-05-03T21:00:00Z", {"day"}),
            ("2022-05-03T21:00:00Z", "2022-05-04T12:00:00Z", set()),
            ("2022-05-02T21:00:00+00:00", "2022-05-03T03:00:00+03:00", {"day"}),
            ("2022-05-03T00:00:00+03:00", "2022-05-03T00:00:00+03:00", set()),  # empty
            # An ongoing report reaches every later range.
            ("2030-01-01T00:00:00Z", None, {"ongoing"}),
        ],
    )
    def test_since_and_until_give_the_reports_whose_covered_time_overlaps_the_range(
        self, api, reports, since, until, expected
    ):
        query = {key: value for key, value in (("since", since), ("until", until)) if value}
        assert self.found(api, reports, **query) == expected

    def test_an_offset_whose_plus_was_not_escaped_in_the_query_string_is_still_read(self, api, reports):
        response = api().get(f"{URL}?since=2022-05-05T09:00:00+03:00&until=2022-05-05T10:30:00+03:00")
        assert set(ids(response)) == {reports["instant"].pk, reports["ongoing"].pk}

    def test_updated_since_gives_only_the_reports_changed_at_or_after_it(self, api, reports):
        with time_machine.travel(NOW + dt.timedelta(minutes=5), tick=False):
            reports["day"].verification = "verified"
            reports["day"].save()
        assert self.found(api, reports, updated_since="2022-05-06T09:05:00Z") == {"day"}

    @pytest.mark.parametrize(
        "query",
        [
            {"since": "2022-05-05T06:00:00"},
            {"until": "5 May"},
            {"kind": "bombing"},
            {"verification": "confirmed"},
            {"site": "999999"},
            {"updated_since": "2022-05-05"},
        ],
    )
    def test_a_naive_or_unknown_filter_value_is_a_400(self, api, reports, query):
        response = api().get(URL, query)
        assert response.status_code == 400
        assert set(response.json()) == set(query)


class TestWhoMayWrite:
    @pytest.mark.parametrize(
        ("who", "status"), [("public", 401), ("alice", 201), ("bob", 201), ("carol", 201), ("dave", 201)]
    )
    def test_every_member_of_staff_reports_hostilities(self, api, request, payload, who, status):
        user = persona(request, who)
        response = api(user).post(URL, payload)
        assert response.status_code == status
        if status == 201:
            report = HostilityReport.objects.get()
            assert (report.organisation, report.created_by) == (user.organisation, user)
            assert report.history.get().history_user == user
        else:
            assert not HostilityReport.objects.exists()

    def test_the_client_cannot_choose_the_organisation_or_author(self, api, alice, bob, payload):
        response = api(alice).post(URL, {**payload, "organisation": bob.organisation_id, "created_by": bob.pk})
        assert (response.json()["organisation"], response.json()["created_by"]) == (alice.organisation_id, alice.pk)

    def test_an_admin_without_organisation_reports_with_none(self, api, dave, payload):
        response = api(dave).post(URL, payload)
        assert (response.status_code, response.json()["organisation"]) == (201, None)

    @pytest.mark.parametrize(
        ("who", "status"), [("public", 401), ("alice", 200), ("bob", 403), ("carol", 200), ("dave", 200)]
    )
    def test_only_the_reports_organisation_and_admins_edit_it(self, api, request, alice, who, status):
        report = report_of(alice)
        response = api(persona(request, who)).patch(detail(report), {"description": "Shelling of the port"})
        assert response.status_code == status
        report.refresh_from_db()
        assert report.description == ("Shelling of the port" if status == 200 else "")

    @pytest.mark.parametrize(
        ("who", "status"), [("public", 401), ("alice", 204), ("bob", 403), ("carol", 204), ("dave", 204)]
    )
    def test_only_the_reports_organisation_and_admins_delete_it(self, api, request, alice, who, status):
        report = report_of(alice)
        response = api(persona(request, who)).delete(detail(report))
        assert response.status_code == status
        assert HostilityReport.objects.filter(pk=report.pk).exists() is (status != 204)

    def test_a_coordinator_disputes_another_organisations_report_but_changes_nothing_else(self, api, bob, carol):
        report = report_of(bob)
        assert api(carol).patch(detail(report), {"kind": "missile_strike"}).status_code == 403
        assert api(carol).patch(detail(report), {"verification": "disputed"}).status_code == 200
        report.refresh_from_db()
        assert (report.kind, report.verification) == ("shelling", "disputed")
        assert report.history.latest().history_user == carol

    @pytest.mark.parametrize(("value", "status"), [("verified", 403), ("disputed", 403), ("retracted", 200)])
    def test_a_reporter_retracts_her_report_but_may_not_verify_it(self, api, alice, value, status):
        report = report_of(alice)
        assert api(alice).patch(detail(report), {"verification": value}).status_code == status


class TestValidation:
    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"started_at": "2022-05-05T10:00:00"}, "started_at"),
            ({"ended_at": "2022-05-05T11:00:00"}, "ended_at"),
            ({"ended_at": "2022-05-05T10:00:00+03:00"}, "ended_at"),  # ends as it starts
            ({"ended_at": "2022-05-05T06:59:59Z"}, "ended_at"),  # ends before it starts
            ({"ongoing": True}, "ongoing"),  # ongoing, yet with an end
            ({"ongoing": "true"}, "ongoing"),
            ({"site": 999_999}, "site"),
            ({"source": 999_999}, "source"),
            ({"source": None}, "source"),
            ({"kind": "bombing"}, "kind"),
            ({"time_precision": "minute"}, "time_precision"),
            ({"verification": "confirmed"}, "verification"),
            ({"description": 7}, "description"),
            ({"started_at": None}, "started_at"),
        ],
    )
    def test_an_invalid_report_is_a_400_and_nothing_is_written(self, api, alice, window, payload, change, field):
        response = api(alice).post(URL, {**payload, **change})
        assert response.status_code == 400
        assert field in response.json(), response.json()
        assert not HostilityReport.objects.exists()
        assert not HostilityReport.history.exists()
        assert not FlagCheck.objects.exists()
        assert not Flag.objects.exists()

    def test_an_ongoing_report_has_no_end(self, api, alice, payload):
        response = api(alice).post(URL, {**payload, "ongoing": True, "ended_at": None})
        assert response.status_code == 201
        assert (response.json()["ongoing"], response.json()["ended_at"]) == (True, None)

    def test_an_edit_that_ends_a_report_before_it_starts_is_refused(self, api, alice):
        report = report_of(alice, started_at=utc(2022, 5, 5, 7), ended_at=utc(2022, 5, 5, 8))
        response = api(alice).patch(detail(report), {"ended_at": "2022-05-05T06:00:00Z"})
        assert response.status_code == 400
        assert "after the start" in response.json()["ended_at"][0]
        report.refresh_from_db()
        assert report.ended_at == utc(2022, 5, 5, 8)

    def test_giving_an_ongoing_report_an_end_needs_ongoing_cleared(self, api, alice):
        report = report_of(alice, started_at=utc(2022, 5, 5, 7), ongoing=True)
        assert api(alice).patch(detail(report), {"ended_at": "2022-05-05T09:00:00Z"}).status_code == 400
        response = api(alice).patch(detail(report), {"ended_at": "2022-05-05T09:00:00Z", "ongoing": False})
        assert response.status_code == 200

    def test_malformed_json_is_a_400(self, api, alice):
        response = api(alice).post(URL, b"[{", content_type="application/json")
        assert response.status_code == 400
        assert not HostilityReport.objects.exists()


class TestFlags:
    def test_a_report_posted_through_the_api_has_raised_its_flag_by_the_time_the_response_returns(
        self, api, alice, window, payload, committed
    ):
        with committed():
            response = api(alice).post(URL, payload)
        assert response.status_code == 201
        flag = Flag.objects.get()
        assert (flag.window, flag.hostility_id) == (window, response.json()["id"])
        assert (flag.status, flag.certainty) == ("open", "confirmed")
        assert (flag.overlap_start, flag.overlap_end) == (utc(2022, 5, 5, 7), utc(2022, 5, 5, 8))
        shown = api().get(f"/api/v1/windows/{window.pk}/").json()
        assert (shown["flagged"], shown["open_flags"]) == (True, 1)

    def test_retracting_a_report_through_the_api_withdraws_its_flag(self, api, alice, window, payload, committed):
        with committed():
            report_id = api(alice).post(URL, payload).json()["id"]
        with committed():
            response = api(alice).patch(f"{URL}{report_id}/", {"verification": "retracted"})
        assert response.status_code == 200
        assert Flag.objects.get().status == "withdrawn"

    def test_moving_a_report_out_of_the_window_withdraws_its_flag(self, api, alice, window, payload, committed):
        with committed():
            report_id = api(alice).post(URL, payload).json()["id"]
        with committed():
            api(alice).patch(
                f"{URL}{report_id}/",
                {"started_at": "2022-05-05T19:00:00+03:00", "ended_at": "2022-05-05T20:00:00+03:00"},
            )
        assert Flag.objects.get().status == "withdrawn"

    def test_a_report_refused_by_the_services_queues_no_flag_check(self, api, alice, window, payload, committed):
        with committed() as callbacks:
            response = api(alice).post(URL, {**payload, "verification": "verified"})
        assert response.status_code == 403
        assert callbacks == []
        assert not FlagCheck.objects.exists()
        assert not Flag.objects.exists()

    def test_a_report_that_raised_a_flag_cannot_be_deleted_only_retracted(self, api, alice, window, payload, committed):
        with committed():
            report_id = api(alice).post(URL, payload).json()["id"]
        response = api(alice).delete(f"{URL}{report_id}/")
        assert response.status_code == 409
        assert "cannot be deleted" in response.json()["detail"]
        assert HostilityReport.objects.filter(pk=report_id).exists()

    def test_the_history_records_who_wrote_each_version(self, api, alice, carol, payload, committed):
        with committed():
            report_id = api(alice).post(URL, payload).json()["id"]
        with committed():
            api(carol).patch(f"{URL}{report_id}/", {"verification": "verified"})
        history = HostilityReport.objects.get(pk=report_id).history.order_by("history_date", "history_id")
        assert [(record.history_user, record.verification) for record in history] == [
            (alice, "unverified"),
            (carol, "verified"),
        ]
