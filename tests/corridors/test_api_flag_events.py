"""
`/api/v1/flag-events/` (docs/api.md, "Flag events"): one flat row per flag, with the
names a journalist needs and no ids to join, in JSON and in CSV with HXL. The public
sees the organisation and the source, never the staff account that reviewed it, and
no position at all.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from corridors import flagging
from corridors.models import Flag
from tests import factories
from tests.api import api, csv_rows, hxl_dataset, list_queries, url
from tracker.models import HostilityReport, Verification

pytestmark = pytest.mark.django_db
UTC = dt.UTC
NOW = dt.datetime(2022, 5, 6, 9, 0, tzinfo=UTC)


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def assault(corridor, azovstal, ngo_a, carol):
    """The seed case: a ground assault at Azovstal, 10:00–12:00 local, during the 08:00–18:00 window; acknowledged."""
    factories.WindowFactory(corridor=corridor, starts_at=utc(2022, 5, 5, 5), ends_at=utc(2022, 5, 5, 15))
    source = factories.SourceFactory(name="Mariupol city council")
    report = factories.HostilityReportFactory(
        site=azovstal,
        kind=HostilityReport.Kind.GROUND_ASSAULT,
        started_at=utc(2022, 5, 5, 7),
        ended_at=utc(2022, 5, 5, 9),
        source=source,
        organisation=ngo_a,
        verification=Verification.VERIFIED,
    )
    flagging.flags_check_reports(report_ids=[report.pk], now=NOW)
    flag = Flag.objects.get(hostility=report)
    Flag.objects.filter(pk=flag.pk).update(
        status=Flag.Status.ACKNOWLEDGED, reviewed_by=carol, reviewed_at=NOW, review_note="Seen by our team."
    )
    return Flag.objects.get(pk=flag.pk)


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=False):
        yield


class TestFlagEvents:
    def test_it_gives_one_flat_row_per_flag_with_names_and_local_times(self, assault):
        (row,) = api().get(url("flag-event-list")).json()["results"]
        assert row == {
            "id": assault.pk,
            "corridor": assault.window.corridor_id,
            "corridor_name": "Azovstal → Zaporizhzhia",
            "window": assault.window_id,
            # Kyiv is UTC+3 in May: the window as the corridor's people read it.
            "window_local_start": "2022-05-05T08:00:00+03:00",
            "window_local_end": "2022-05-05T18:00:00+03:00",
            "timezone": "Europe/Kyiv",
            "hostility": assault.hostility_id,
            "report_kind": "ground_assault",
            "report_started_at": "2022-05-05T07:00:00Z",
            "report_ended_at": "2022-05-05T09:00:00Z",
            "report_precision": "exact",
            "report_verification": "verified",
            "site": assault.hostility.site_id,
            "site_name": "Azovstal",
            "source_name": "Mariupol city council",
            "organisation": "Helping Hands",
            "overlap_start": "2022-05-05T07:00:00Z",
            "overlap_end": "2022-05-05T09:00:00Z",
            "certainty": "confirmed",
            "status": "acknowledged",
            "review_note": "Seen by our team.",
            "raised_at": "2022-05-06T09:00:00Z",
            "reviewed_at": "2022-05-06T09:00:00Z",
            "reviewed_by": None,  # the public never sees a staff account
            "updated_at": row["updated_at"],
        }

    def test_local_times_follow_the_offset_of_their_own_date(self, corridor):
        # Kyiv moved to summer time on 27 March 2022: 08:00 local is 06:00 UTC the day before, 05:00 UTC on it.
        winter = factories.WindowFactory(corridor=corridor, starts_at=utc(2022, 3, 26, 6), ends_at=utc(2022, 3, 26, 16))
        factories.FlagFactory(window=winter)
        (row,) = api().get(url("flag-event-list")).json()["results"]
        assert row["window_local_start"] == "2022-03-26T08:00:00+02:00"

    def test_who_reviewed_it_is_for_coordinators_and_admins(self, assault, alice, carol, dave):
        def reviewer(client):
            return client.get(url("flag-event-list")).json()["results"][0]["reviewed_by"]

        assert reviewer(api()) is None
        assert reviewer(api(alice)) is None
        assert reviewer(api(carol)) == "carol"
        assert reviewer(api(dave)) == "carol"
        table = csv_rows(api().get(url("flag-event-list", format="csv")))
        assert table[2][table[0].index("reviewed_by")] == ""

    def test_it_carries_no_position(self, assault):
        row = api().get(url("flag-event-list")).json()["results"][0]
        assert not {"latitude", "longitude"} & set(row)

    def test_the_csv_has_hxl_tags_that_libhxl_reads(self, assault):
        response = api().get(url("flag-event-list", format="csv"))
        table = csv_rows(response)
        assert table[0][:3] == ["id", "corridor", "corridor_name"]
        dataset = hxl_dataset(response.content)
        assert [row.get("#access+name") for row in dataset] == ["Azovstal → Zaporizhzhia"]
        assert [row.get("#date+start+local") for row in hxl_dataset(response.content)] == ["2022-05-05T08:00:00+03:00"]

    def test_hxl_0_leaves_the_hashtag_row_out(self, assault):
        table = csv_rows(api().get(url("flag-event-list", format="csv", hxl="0")))
        assert len(table) == 2
        assert table[1][table[0].index("site_name")] == "Azovstal"

    def test_it_filters_as_flags_does(self, assault, corridor):
        other = factories.FlagFactory()
        assert [r["id"] for r in api().get(url("flag-event-list", corridor=corridor.pk)).json()["results"]] == [
            assault.pk
        ]
        assert [r["id"] for r in api().get(url("flag-event-list", status="open")).json()["results"]] == [other.pk]

    def test_a_page_costs_the_same_queries_whatever_its_size(self, assault):
        for _ in range(3):
            factories.FlagFactory()
        assert list_queries(api(), url("flag-event-list"), 1) == list_queries(api(), url("flag-event-list"), 4)
