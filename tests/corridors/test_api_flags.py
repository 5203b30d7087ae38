"""
`/api/v1/flags/` and `flags/{id}/review/` (docs/api.md): a flag says a window and a
hostility report overlap in time and place. The system raises, updates and
withdraws them; everything is read only to everyone, except that coordinators and
admins review them: acknowledge, or dismiss with a reason.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from corridors import flagging
from corridors.models import Flag
from tests import factories
from tests.api import api, ids, persona, url
from tracker.models import HostilityReport

pytestmark = pytest.mark.django_db
UTC = dt.UTC
NOW = dt.datetime(2022, 5, 6, 9, 0, tzinfo=UTC)


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def window(corridor):
    return factories.WindowFactory(corridor=corridor, starts_at=utc(2022, 5, 5, 5), ends_at=utc(2022, 5, 5, 15))


def report(site, **fields):
    """A hostility report, and the flags the engine raises for it."""
    hostility = factories.HostilityReportFactory(site=site, **fields)
    flagging.flags_check_reports(report_ids=[hostility.pk], now=NOW)
    return hostility


@pytest.fixture
def flag(window, azovstal):
    """The seed case: a ground assault at Azovstal, 10:00–12:00 local, during the 08:00–18:00 window."""
    report(
        azovstal,
        kind=HostilityReport.Kind.GROUND_ASSAULT,
        started_at=utc(2022, 5, 5, 7),
        ended_at=utc(2022, 5, 5, 9),
    )
    return Flag.objects.get()


def review(client, flag, **body):
    return client.post(url("flag-review", flag.pk), body, format="json")


class TestWhoMayDoWhat:
    @pytest.mark.parametrize("who", ["public", "alice", "bob", "carol", "dave"])
    def test_anyone_reads_flags(self, request, who, flag):
        client = api(persona(request, who))
        assert ids(client.get(url("flag-list"))) == [flag.pk]
        assert client.get(url("flag-detail", flag.pk)).json()["window"] == flag.window_id

    @pytest.mark.parametrize("who", ["alice", "bob", "carol", "dave"])
    def test_nobody_creates_a_flag(self, request, who, window, azovstal):
        hostility = factories.HostilityReportFactory(site=azovstal)
        body = {
            "window": window.pk,
            "hostility": hostility.pk,
            "overlap_start": "2022-05-05T07:00:00Z",
            "overlap_end": "2022-05-05T07:00:00Z",
            "certainty": "confirmed",
        }
        response = api(persona(request, who)).post(url("flag-list"), body, format="json")
        assert response.status_code in (403, 405)
        assert not Flag.objects.exists()

    @pytest.mark.parametrize("who", ["public", "alice", "dave"])
    def test_nobody_creates_a_flag_by_hand(self, request, who, window):
        response = api(persona(request, who)).post(url("flag-list"), {}, format="json")
        assert response.status_code == 405
        assert not Flag.objects.exists()

    @pytest.mark.parametrize("method", ["put", "patch", "delete"])
    @pytest.mark.parametrize("who", ["public", "alice", "carol", "dave"])
    def test_nobody_changes_or_deletes_a_flag(self, request, who, method, flag):
        response = getattr(api(persona(request, who)), method)(
            url("flag-detail", flag.pk), {"status": "dismissed", "review_note": "no"}, format="json"
        )
        assert response.status_code == 405
        flag.refresh_from_db()
        assert flag.status == "open"

    @pytest.mark.parametrize(
        ("who", "expected"), [("public", 401), ("alice", 403), ("bob", 403), ("carol", 200), ("dave", 200)]
    )
    def test_only_coordinators_and_admins_review_flags(self, request, who, expected, flag):
        response = review(api(persona(request, who)), flag, status="acknowledged")
        assert response.status_code == expected
        flag.refresh_from_db()
        assert flag.status == ("acknowledged" if expected == 200 else "open")


class TestFields:
    def test_a_flag_says_which_window_and_report_overlap_and_how(self, flag):
        body = api().get(url("flag-detail", flag.pk)).json()
        assert body["window"] == flag.window_id
        assert body["corridor"] == flag.window.corridor_id
        assert body["hostility"] == flag.hostility_id
        assert (body["overlap_start"], body["overlap_end"]) == ("2022-05-05T07:00:00Z", "2022-05-05T09:00:00Z")
        assert (body["certainty"], body["status"]) == ("confirmed", "open")
        assert body["raised_at"] == "2022-05-06T09:00:00Z"
        assert (body["reviewed_by"], body["reviewed_at"], body["review_note"]) == (None, None, "")

    def test_a_report_known_to_the_hour_raises_a_possible_flag(self, window, azovstal):
        report(azovstal, started_at=utc(2022, 5, 5, 5, 30), time_precision="hour")
        [body] = api().get(url("flag-list")).json()["results"]
        # Some time between 08:00 and 09:00 in Kyiv.
        assert (body["certainty"], body["overlap_start"], body["overlap_end"]) == (
            "possible",
            "2022-05-05T05:00:00Z",
            "2022-05-05T06:00:00Z",
        )

    def test_the_hour_before_the_window_opens_raises_none(self, window, azovstal):
        # 07:00–08:00 in Kyiv touches the 08:00 window: touching is not overlapping.
        report(azovstal, started_at=utc(2022, 5, 5, 4, 30), time_precision="hour")
        assert ids(api().get(url("flag-list"))) == []


class TestReview:
    @time_machine.travel(NOW + dt.timedelta(hours=1), tick=False)
    def test_a_coordinator_acknowledges_a_flag(self, carol, flag):
        response = review(api(carol), flag, status="acknowledged", note="Team informed.")
        assert response.status_code == 200
        body = response.json()
        assert (body["status"], body["reviewed_by"], body["review_note"]) == (
            "acknowledged",
            carol.pk,
            "Team informed.",
        )
        assert body["reviewed_at"] == "2022-05-06T10:00:00Z"
        assert response["ETag"] == api(carol).get(url("flag-detail", flag.pk))["ETag"]  # as she reads it

    def test_an_acknowledged_flag_still_flags_its_window(self, carol, flag):
        review(api(carol), flag, status="acknowledged")
        window = api().get(url("window-detail", flag.window_id)).json()
        assert (window["flagged"], window["open_flags"]) == (True, 1)

    def test_a_coordinator_dismisses_a_flag_with_a_reason(self, carol, flag):
        response = review(api(carol), flag, status="dismissed", note="  The report is about another road.  ")
        assert response.status_code == 200
        assert (response.json()["status"], response.json()["review_note"]) == (
            "dismissed",
            "The report is about another road.",
        )
        window = api().get(url("window-detail", flag.window_id)).json()
        assert (window["flagged"], window["open_flags"]) == (False, 0)

    @pytest.mark.parametrize("note", [None, "", "   \n"])
    def test_dismissing_needs_a_reason(self, carol, flag, note):
        body = {"status": "dismissed"} | ({} if note is None else {"note": note})
        response = api(carol).post(url("flag-review", flag.pk), body, format="json")
        assert response.status_code == 400
        assert response.json()["note"] == ["Say why the flag is dismissed."]
        flag.refresh_from_db()
        assert (flag.status, flag.reviewed_by) == ("open", None)

    @pytest.mark.parametrize("status", ["open", "withdrawn", "closed", "", None, 1])
    def test_a_review_only_acknowledges_or_dismisses(self, carol, flag, status):
        response = review(api(carol), flag, status=status, note="because")
        assert response.status_code == 400
        assert "status" in response.json()
        flag.refresh_from_db()
        assert flag.status == "open"

    def test_a_note_is_text(self, carol, flag):
        response = review(api(carol), flag, status="dismissed", note=42)
        assert response.status_code == 400
        assert "note" in response.json()

    def test_a_withdrawn_flag_cannot_be_reviewed(self, carol, flag):
        Flag.objects.filter(pk=flag.pk).update(status="withdrawn")
        response = review(api(carol), flag, status="acknowledged")
        assert response.status_code == 400
        assert "withdrawn" in response.json()["status"][0]
        flag.refresh_from_db()
        assert (flag.status, flag.reviewed_by) == ("withdrawn", None)

    def test_a_dismissed_flag_can_be_acknowledged_after_all(self, carol, dave, flag):
        review(api(carol), flag, status="dismissed", note="Another road.")
        response = review(api(dave), flag, status="acknowledged", note="It was this road.")
        assert (response.status_code, response.json()["reviewed_by"]) == (200, dave.pk)

    def test_the_history_records_the_reviewer_and_what_was_before(self, carol, flag):
        review(api(carol), flag, status="dismissed", note="Another road.")
        latest, earlier = flag.history.all()[:2]
        assert (latest.history_user, latest.status, latest.review_note) == (carol, "dismissed", "Another road.")
        assert earlier.status == "open"

    def test_reviewing_an_unknown_flag_is_404(self, carol):
        assert review(api(carol), Flag(pk=999_999), status="acknowledged").status_code == 404

    def test_a_refused_review_writes_no_history(self, alice, carol, flag):
        before = flag.history.count()
        review(api(alice), flag, status="acknowledged")
        review(api(carol), flag, status="dismissed")
        assert flag.history.count() == before


class TestFilters:
    @pytest.fixture
    def flags(self, corridor, window, azovstal):
        """
        Four flags: exact and hour-precision reports on the first window, one on the
        next day's window, one on another corridor.
        """
        second = factories.WindowFactory(corridor=corridor, starts_at=utc(2022, 5, 6, 5), ends_at=utc(2022, 5, 6, 15))
        elsewhere = factories.WindowFactory(starts_at=utc(2022, 5, 5, 5), ends_at=utc(2022, 5, 5, 15))
        exact = report(azovstal, started_at=utc(2022, 5, 5, 7))
        hourly = report(azovstal, started_at=utc(2022, 5, 5, 8), time_precision="hour")
        next_day = report(azovstal, started_at=utc(2022, 5, 6, 7))
        far = report(elsewhere.corridor.origin, started_at=utc(2022, 5, 5, 7))
        return {
            "exact": Flag.objects.get(hostility=exact),
            "hourly": Flag.objects.get(hostility=hourly),
            "next_day": Flag.objects.get(hostility=next_day, window=second),
            "elsewhere": Flag.objects.get(hostility=far),
        }

    def pks(self, flags, *names):
        return sorted(flags[name].pk for name in names)

    def listed(self, **query):
        return sorted(ids(api().get(url("flag-list", **query))))

    def test_it_filters_on_the_window(self, flags, window):
        assert self.listed(window=window.pk) == self.pks(flags, "exact", "hourly")

    def test_it_filters_on_the_corridor(self, flags, corridor):
        assert self.listed(corridor=corridor.pk) == self.pks(flags, "exact", "hourly", "next_day")

    def test_it_filters_on_the_hostility_report(self, flags):
        assert self.listed(hostility=flags["hourly"].hostility_id) == self.pks(flags, "hourly")

    def test_it_filters_on_the_certainty(self, flags):
        assert self.listed(certainty="possible") == self.pks(flags, "hourly")
        assert self.listed(certainty="confirmed") == self.pks(flags, "exact", "next_day", "elsewhere")

    def test_it_filters_on_the_status(self, flags, carol):
        review(api(carol), flags["exact"], status="acknowledged")
        review(api(carol), flags["hourly"], status="dismissed", note="Too vague.")
        Flag.objects.filter(pk=flags["elsewhere"].pk).update(status="withdrawn")
        assert self.listed(status="open") == self.pks(flags, "next_day")
        assert self.listed(status="acknowledged") == self.pks(flags, "exact")
        assert self.listed(status="dismissed") == self.pks(flags, "hourly")
        assert self.listed(status="withdrawn") == self.pks(flags, "elsewhere")

    def test_filters_combine(self, flags, corridor):
        assert self.listed(corridor=corridor.pk, certainty="confirmed", window=flags["exact"].window_id) == self.pks(
            flags, "exact"
        )

    def test_it_filters_on_updated_since(self, flags, carol):
        Flag.objects.update(updated_at=utc(2022, 5, 6))
        with time_machine.travel(utc(2022, 5, 7), tick=False):
            review(api(carol), flags["next_day"], status="acknowledged")
        assert self.listed(updated_since="2022-05-06T12:00:00Z") == self.pks(flags, "next_day")

    @pytest.mark.parametrize(
        "query",
        [
            {"window": "999999"},
            {"corridor": "999999"},
            {"hostility": "x"},
            {"status": "closed"},
            {"certainty": "likely"},
            {"updated_since": "2022-05-06T12:00:00"},
        ],
    )
    def test_a_bad_filter_is_a_400(self, flags, query):
        response = api().get(url("flag-list", **query))
        assert response.status_code == 400
        assert set(query) <= set(response.json())
