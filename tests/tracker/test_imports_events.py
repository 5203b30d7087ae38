"""
Conflict-event data sets in: ACLED and UCDP GED exports, with their real column sets,
become hostility reports at our sites, with the precision their dates have; imported
again, a changed event updates its report; the reports raise their flags.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.urls import reverse

from corridors.models import Flag
from tests import factories
from tests.api import api
from tests.conflict_data import ACLED_COLUMNS
from tests.tracker.test_imports import URL, batch_of, upload
from tracker.models import HostilityReport, SiteAlias, Source

pytestmark = pytest.mark.django_db
UTC = dt.UTC
NOW = dt.datetime(2022, 5, 20, 9, 0, tzinfo=UTC)

UCDP_COLUMNS = [
    "id",
    "relid",
    "year",
    "active_year",
    "code_status",
    "type_of_violence",
    "conflict_dset_id",
    "conflict_new_id",
    "conflict_name",
    "dyad_dset_id",
    "dyad_new_id",
    "dyad_name",
    "side_a_dset_id",
    "side_a_new_id",
    "side_a",
    "side_b_dset_id",
    "side_b_new_id",
    "side_b",
    "number_of_sources",
    "source_article",
    "source_office",
    "source_date",
    "source_headline",
    "source_original",
    "where_prec",
    "gwnoa",
    "gwnob",
    "where_coordinates",
    "where_description",
    "adm_1",
    "adm_2",
    "latitude",
    "longitude",
    "geom_wkt",
    "priogrid_gid",
    "country",
    "country_id",
    "region",
    "event_clarity",
    "date_prec",
    "date_start",
    "date_end",
    "deaths_a",
    "deaths_b",
    "deaths_civilians",
    "deaths_unknown",
    "best",
    "high",
    "low",
]


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def mariupol(db):
    return factories.SiteFactory(name="Mariupol", kind="city", latitude=47.0971, longitude=37.5434)


@pytest.fixture
def azovstal(mariupol):
    return factories.SiteFactory(name="Azovstal", kind="facility", parent=mariupol, latitude=47.1006, longitude=37.6128)


def acled_row(**values) -> dict[str, str]:
    row = dict.fromkeys(ACLED_COLUMNS, "")
    row.update(
        year="2022",
        time_precision="1",
        disorder_type="Political violence",
        event_type="Explosions/Remote violence",
        sub_event_type="Shelling/artillery/missile attack",
        actor1="Military Forces of Russia (2000-)",
        iso="804",
        region="Europe",
        country="Ukraine",
        admin1="Donetsk",
        admin2="Mariupolskyi",
        admin3="Mariupolska",
        geo_precision="1",
        source="Ukrinform; Mariupol City Council",
        source_scale="National",
        fatalities="0",
        timestamp="1652745600",
    )
    row.update(values)
    return row


def table(columns, rows) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def acled_sample(mariupol, azovstal):
    return [
        # Named after a site: that site.
        acled_row(
            event_id_cnty="UKR1001",
            event_date="2022-05-04",
            location="Mariupol",
            latitude="47.0971",
            longitude="37.5434",
            notes="Shelling of the city centre.",
        ),
        # Known to the week; at a place named otherwise, a kilometre from the plant.
        acled_row(
            event_id_cnty="UKR1002",
            event_date="2022-05-05",
            time_precision="2",
            location="Azovstal Iron and Steel Works",
            latitude="47.1050",
            longitude="37.6200",
            sub_event_type="Armed clash",
            event_type="Battles",
            notes="Storming of the plant.",
        ),
        # Not a hostility.
        acled_row(
            event_id_cnty="UKR1003",
            event_date="2022-05-05",
            location="Mariupol",
            latitude="47.0971",
            longitude="37.5434",
            event_type="Protests",
            sub_event_type="Peaceful protest",
        ),
        # Nowhere near any site.
        acled_row(
            event_id_cnty="UKR1004",
            event_date="2022-05-05",
            location="Kherson",
            latitude="46.6354",
            longitude="32.6169",
            notes="Shelling.",
        ),
    ]


def acled_upload(client, content, capture, **fields):
    return batch_of(
        client,
        upload(client, content, resource="hostilities", name="acled.csv", format="acled", capture=capture, **fields),
    )


class TestAcled:
    def test_a_sample_is_previewed_with_each_event_at_its_site_and_the_rest_refused(
        self, alice, mariupol, azovstal, django_capture_on_commit_callbacks
    ):
        client = api(alice)
        batch = acled_upload(
            client, table(ACLED_COLUMNS, acled_sample(mariupol, azovstal)), django_capture_on_commit_callbacks
        )
        assert (batch["status"], batch["rows_total"], batch["created"]) == ("previewed", 4, 2)
        errors = {e["row"]: e for e in batch["errors"]}
        assert set(errors) == {4, 5}
        assert errors[4]["column"] == "sub_event_type" and "Peaceful protest" in errors[4]["message"]
        assert errors[5]["column"] == "location"
        assert "Kherson" in errors[5]["message"] and "Mariupol (id" in errors[5]["message"]
        assert HostilityReport.objects.count() == 0

    def test_applied_events_keep_the_precision_of_their_dates(
        self, alice, mariupol, azovstal, django_capture_on_commit_callbacks
    ):
        client = api(alice)
        batch = acled_upload(
            client, table(ACLED_COLUMNS, acled_sample(mariupol, azovstal)), django_capture_on_commit_callbacks
        )
        with django_capture_on_commit_callbacks(execute=True):
            client.post(f"{URL}{batch['id']}/apply/", {"valid_only": True})
        city, plant = HostilityReport.objects.get(site=mariupol), HostilityReport.objects.get(site=azovstal)
        # A day in Kyiv's summer time (UTC+3), no end: the whole local day.
        assert (city.time_precision, city.started_at, city.ended_at) == (
            "day",
            dt.datetime(2022, 5, 3, 21, 0, tzinfo=UTC),
            None,
        )
        assert (city.kind, city.source.name) == ("shelling", "ACLED")
        assert "UKR1001" in city.description and "Shelling of the city centre." in city.description
        # Known to the week around 5 May: 2 to 8 May, day by day.
        assert (plant.time_precision, plant.kind) == ("day", "ground_assault")
        assert (plant.started_at, plant.ended_at) == (
            dt.datetime(2022, 5, 1, 21, 0, tzinfo=UTC),
            dt.datetime(2022, 5, 8, 21, 0, tzinfo=UTC),
        )
        assert (city.organisation, city.created_by) == (alice.organisation, alice)

    def test_a_changed_event_updates_its_report_and_the_same_file_changes_nothing(
        self, alice, mariupol, azovstal, django_capture_on_commit_callbacks
    ):
        client = api(alice)
        rows = acled_sample(mariupol, azovstal)[:2]
        first = acled_upload(client, table(ACLED_COLUMNS, rows), django_capture_on_commit_callbacks, dry_run="false")
        assert (first["status"], first["created"]) == ("applied", 2)
        same = acled_upload(client, table(ACLED_COLUMNS, rows), django_capture_on_commit_callbacks, dry_run="false")
        assert (same["created"], same["updated"], same["unchanged"]) == (0, 0, 2)
        rows[0]["notes"] = "Shelling of the city centre; a school hit."
        rows[0]["event_date"] = "2022-05-03"
        changed = acled_upload(client, table(ACLED_COLUMNS, rows), django_capture_on_commit_callbacks, dry_run="false")
        assert (changed["created"], changed["updated"], changed["unchanged"]) == (0, 1, 1)
        report = HostilityReport.objects.get(site=mariupol)
        assert "a school hit" in report.description
        assert report.started_at == dt.datetime(2022, 5, 2, 21, 0, tzinfo=UTC)
        assert HostilityReport.objects.count() == 2
        assert Source.objects.filter(name="ACLED").count() == 1

    def test_imported_events_raise_flags_on_the_windows_they_overlap_and_undo_retracts_them(
        self, alice, mariupol, azovstal, django_capture_on_commit_callbacks
    ):
        window = factories.WindowFactory(
            corridor=factories.CorridorFactory(origin=azovstal),
            starts_at=dt.datetime(2022, 5, 4, 5, 0, tzinfo=UTC),
            ends_at=dt.datetime(2022, 5, 4, 15, 0, tzinfo=UTC),
        )
        client = api(alice)
        rows = acled_sample(mariupol, azovstal)[:1]
        batch = acled_upload(client, table(ACLED_COLUMNS, rows), django_capture_on_commit_callbacks, dry_run="false")
        flag = Flag.objects.get(window=window)
        assert (flag.certainty, flag.status) == ("possible", "open")
        assert client.get(f"{URL}{batch['id']}/").json()["flagged_windows"] == 1
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"{URL}{batch['id']}/undo/")
        assert response.status_code == 200, response.content
        report = HostilityReport.objects.get()
        assert report.verification == "retracted"
        flag.refresh_from_db()
        assert flag.status == "withdrawn"

    def test_a_file_that_is_not_an_acled_export_is_refused_naming_the_missing_columns(
        self, alice, django_capture_on_commit_callbacks
    ):
        client = api(alice)
        batch = acled_upload(client, b"site,kind\r\n1,shelling\r\n", django_capture_on_commit_callbacks)
        assert batch["status"] == "failed"
        assert "event_id_cnty" in batch["errors"][0]["message"]

    def test_acled_data_must_be_imported_as_hostilities(self, alice, django_capture_on_commit_callbacks):
        response = upload(api(alice), b"x\r\n1\r\n", format="acled", capture=django_capture_on_commit_callbacks)
        assert response.status_code == 400
        assert "resource" in response.json()

    def test_a_restricted_shelters_distance_is_measured_from_where_the_public_sees_it(
        self, alice, mariupol, settings, django_capture_on_commit_callbacks
    ):
        settings.IMPORT_SITE_RADIUS_KM = 0
        shelter = factories.SiteFactory(
            name="Shelter 7", kind="shelter", restricted=True, latitude=46.9312, longitude=37.2871
        )
        client = api(alice)
        row = acled_row(
            event_id_cnty="UKR2001",
            event_date="2022-05-04",
            location="Somewhere",
            latitude=str(shelter.latitude),
            longitude=str(shelter.longitude),
        )
        batch = acled_upload(client, table(ACLED_COLUMNS, [row]), django_capture_on_commit_callbacks)
        message = batch["errors"][0]["message"]
        assert "Shelter 7" in message
        assert f"Shelter 7 (id {shelter.pk}, 0.0 km)" not in message


def ucdp_row(**values) -> dict[str, str]:
    row = dict.fromkeys(UCDP_COLUMNS, "")
    row.update(
        relid="UKR-2022-1-1",
        year="2022",
        active_year="1",
        code_status="Clear",
        type_of_violence="1",
        conflict_name="Russia - Ukraine",
        dyad_name="Government of Russia (Soviet Union) - Government of Ukraine",
        side_a="Government of Russia (Soviet Union)",
        side_b="Government of Ukraine",
        number_of_sources="2",
        country="Ukraine",
        country_id="369",
        region="Europe",
        event_clarity="1",
        date_prec="1",
        deaths_a="0",
        deaths_b="0",
        deaths_civilians="3",
        deaths_unknown="0",
        best="3",
        high="3",
        low="3",
    )
    row.update(values)
    return row


class TestUcdp:
    def test_a_sample_becomes_reports_and_an_event_placed_only_by_its_region_must_name_a_site(
        self, alice, mariupol, azovstal, django_capture_on_commit_callbacks
    ):
        rows = [
            ucdp_row(
                id="400001",
                where_prec="1",
                where_coordinates="Mariupol town",
                adm_1="Donetsk oblast",
                latitude="47.0971",
                longitude="37.5434",
                date_start="2022-05-04 00:00:00.000",
                date_end="2022-05-06 00:00:00.000",
                date_prec="2",
                where_description="Mariupol city",
            ),
            ucdp_row(
                id="400002",
                where_prec="4",
                where_coordinates="Donetsk oblast",
                adm_1="Donetsk oblast",
                latitude="48.0",
                longitude="37.8",
                date_start="2022-05-04 00:00:00.000",
                date_end="2022-05-04 00:00:00.000",
            ),
        ]
        client = api(alice)
        batch = batch_of(
            client,
            upload(
                client,
                table(UCDP_COLUMNS, rows),
                resource="hostilities",
                name="ged.csv",
                format="ucdp",
                dry_run="false",
                capture=django_capture_on_commit_callbacks,
            ),
        )
        assert batch["status"] == "failed"
        assert [(e["row"], e["column"]) for e in batch["errors"]] == [(3, "location")]
        batch = batch_of(
            client,
            upload(
                client,
                table(UCDP_COLUMNS, rows[:1]),
                resource="hostilities",
                name="ged.csv",
                format="ucdp",
                dry_run="false",
                capture=django_capture_on_commit_callbacks,
            ),
        )
        assert batch["status"] == "applied", batch["errors"]
        report = HostilityReport.objects.get()
        assert (report.site, report.time_precision, report.kind) == (mariupol, "day", "other")
        assert (report.started_at, report.ended_at) == (
            dt.datetime(2022, 5, 3, 21, 0, tzinfo=UTC),
            dt.datetime(2022, 5, 6, 21, 0, tzinfo=UTC),
        )
        assert "UCDP GED 400001" in report.description


def test_the_reports_of_an_import_are_checked_together_not_a_task_each(
    alice, mariupol, azovstal, monkeypatch, django_capture_on_commit_callbacks
):
    from corridors import tasks
    from corridors.models import FlagCheck

    batches = []
    monkeypatch.setattr(tasks.check_reports, "delay_on_commit", batches.append)
    monkeypatch.setattr(tasks.check_report, "delay_on_commit", lambda report_id: pytest.fail("a task per report"))
    client = api(alice)
    rows = acled_sample(mariupol, azovstal)[:2]
    batch = acled_upload(client, table(ACLED_COLUMNS, rows), django_capture_on_commit_callbacks, dry_run="false")
    assert batch["status"] == "applied"
    reports = sorted(HostilityReport.objects.values_list("pk", flat=True))
    assert batches == [reports]
    assert sorted(FlagCheck.objects.values_list("target_id", flat=True)) == reports


def test_an_event_missing_from_a_full_reimport_of_its_period_is_retracted_on_request_and_undo_restores_it(
    alice, mariupol, azovstal, django_capture_on_commit_callbacks
):
    client = api(alice)
    first, second = acled_sample(mariupol, azovstal)[:2]
    acled_upload(client, table(ACLED_COLUMNS, [first, second]), django_capture_on_commit_callbacks, dry_run="false")
    earlier = acled_row(
        event_id_cnty="UKR1005", event_date="2022-04-30", location="Mariupol", latitude="47.0971", longitude="37.5434"
    )
    rows = [earlier, first]  # UKR1002, of the same period, is gone from the data set
    kept = acled_upload(client, table(ACLED_COLUMNS, rows), django_capture_on_commit_callbacks, dry_run="false")
    assert (kept["created"], kept["unchanged"], kept["retracted"]) == (1, 1, 0)  # not asked to
    batch = acled_upload(
        client, table(ACLED_COLUMNS, rows), django_capture_on_commit_callbacks, dry_run="false", retract_missing="true"
    )
    assert (batch["status"], batch["unchanged"], batch["retracted"]) == ("applied", 2, 1)
    gone = HostilityReport.objects.get(site=azovstal)
    assert gone.verification == "retracted"
    assert HostilityReport.objects.exclude(verification="retracted").count() == 2
    assert client.post(f"{URL}{batch['id']}/undo/").status_code == 200
    gone.refresh_from_db()
    assert gone.verification == "unverified"


def test_only_a_data_set_retracts_what_it_no_longer_holds(alice, django_capture_on_commit_callbacks):
    response = upload(api(alice), b"site\r\n1\r\n", retract_missing="true", capture=django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert "retract_missing" in response.json()


class TestSiteAliases:
    """A site is found by a stored external code, then by a stored alias (or its name), then by distance."""

    def test_an_event_at_a_place_stored_as_another_name_of_a_site_is_at_that_site(
        self, alice, mariupol, azovstal, django_capture_on_commit_callbacks
    ):
        SiteAlias.objects.create(site=azovstal, value="Azovstal Iron and Steel Works")
        # 40 km from any site: only the alias places it.
        row = acled_row(
            event_id_cnty="UKR3001",
            event_date="2022-05-04",
            location="AZOVSTAL IRON AND STEEL WORKS",
            latitude="47.40",
            longitude="37.90",
        )
        batch = acled_upload(client := api(alice), table(ACLED_COLUMNS, [row]), django_capture_on_commit_callbacks)
        assert (batch["created"], batch["errors"]) == (1, [])
        with django_capture_on_commit_callbacks(execute=True):
            client.post(f"{URL}{batch['id']}/apply/")
        assert HostilityReport.objects.get().site == azovstal

    def test_an_external_code_comes_before_the_name_the_row_gives(
        self, alice, mariupol, azovstal, django_capture_on_commit_callbacks
    ):
        SiteAlias.objects.create(site=azovstal, kind=SiteAlias.Kind.CODE, value="UA1412001", data_set="acled")
        columns = [*ACLED_COLUMNS, "admin3_pcode"]
        row = acled_row(
            event_id_cnty="UKR3002",
            event_date="2022-05-04",
            location="Mariupol",
            admin3_pcode="ua1412001",
            latitude="47.0971",
            longitude="37.5434",
        )
        batch = acled_upload(api(alice), table(columns, [row]), django_capture_on_commit_callbacks, dry_run="false")
        assert batch["status"] == "applied", batch["errors"]
        assert HostilityReport.objects.get().site == azovstal

    def test_a_code_kept_for_one_data_set_does_not_place_anothers_events(
        self, alice, mariupol, azovstal, django_capture_on_commit_callbacks
    ):
        SiteAlias.objects.create(site=azovstal, kind=SiteAlias.Kind.CODE, value="178456", data_set="acled")
        row = ucdp_row(
            id="400010",
            where_prec="3",
            where_coordinates="Somewhere in Donetsk oblast",
            priogrid_gid="178456",
            latitude="48.0",
            longitude="37.8",
            date_start="2022-05-04 00:00:00.000",
            date_end="2022-05-04 00:00:00.000",
        )
        client = api(alice)
        ucdp = {"resource": "hostilities", "name": "ged.csv", "format": "ucdp"}
        refused = batch_of(
            client, upload(client, table(UCDP_COLUMNS, [row]), capture=django_capture_on_commit_callbacks, **ucdp)
        )
        assert [(e["row"], e["column"]) for e in refused["errors"]] == [(2, "location")]
        SiteAlias.objects.create(site=azovstal, kind=SiteAlias.Kind.CODE, value="178456", data_set="ucdp")
        placed = batch_of(
            client,
            upload(
                client,
                table(UCDP_COLUMNS, [row]),
                capture=django_capture_on_commit_callbacks,
                dry_run="false",
                **ucdp,
            ),
        )
        assert placed["status"] == "applied", placed["errors"]
        assert HostilityReport.objects.get().site == azovstal

    def test_an_unknown_place_far_from_every_site_is_refused_proposing_the_nearest(
        self, alice, mariupol, azovstal, django_capture_on_commit_callbacks
    ):
        row = acled_row(
            event_id_cnty="UKR3003", event_date="2022-05-04", location="Nikolske", latitude="47.20", longitude="37.30"
        )
        batch = acled_upload(api(alice), table(ACLED_COLUMNS, [row]), django_capture_on_commit_callbacks)
        (error,) = batch["errors"]
        assert (error["row"], error["column"]) == (2, "location")
        assert f"Mariupol (id {mariupol.pk}," in error["message"]
        assert f"Azovstal (id {azovstal.pk}," in error["message"]


class TestSiteAliasAdmin:
    def test_a_coordinator_stores_another_name_of_a_site(self, login, carol, mariupol):
        response = login(carol).post(
            reverse("admin:tracker_sitealias_add"),
            {"site": mariupol.pk, "kind": "name", "value": "Маріуполь", "data_set": ""},
        )
        assert response.status_code == 302, response.context["adminform"].form.errors
        alias = SiteAlias.objects.get()
        assert (alias.site, alias.value) == (mariupol, "Маріуполь")
        assert alias.history.count() == 1

    def test_a_value_names_one_site_per_kind_and_data_set(self, login, carol, mariupol, azovstal):
        SiteAlias.objects.create(site=mariupol, kind="code", value="UA1412", data_set="acled")
        client = login(carol)
        add = reverse("admin:tracker_sitealias_add")
        response = client.post(add, {"site": azovstal.pk, "kind": "code", "value": "ua1412", "data_set": "acled"})
        assert response.status_code == 200
        assert "already belongs to a site" in str(response.context["adminform"].form.errors)
        response = client.post(add, {"site": azovstal.pk, "kind": "code", "value": "UA1412", "data_set": "ucdp"})
        assert response.status_code == 302
        assert SiteAlias.objects.count() == 2

    def test_a_reporter_may_read_but_not_store_them(self, login, alice, mariupol):
        client = login(alice)
        assert client.get(reverse("admin:tracker_sitealias_changelist")).status_code == 200
        response = client.post(
            reverse("admin:tracker_sitealias_add"), {"site": mariupol.pk, "kind": "name", "value": "X", "data_set": ""}
        )
        assert response.status_code == 403
        assert not SiteAlias.objects.exists()
