"""
`/api/v1/imports/`: a file of figures in, previewed row by row with the API's own
rules and messages, applied all or nothing, imported again without change, undone.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from tests import factories
from tests.api import api
from tracker.models import CivilianCount, ImportBatch

pytestmark = pytest.mark.django_db
UTC = dt.UTC
URL = "/api/v1/imports/"
NOW = dt.datetime(2022, 5, 6, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def azovstal(db):
    return factories.SiteFactory(name="Azovstal", kind="shelter")


@pytest.fixture
def mariupol(db):
    return factories.SiteFactory(name="Mariupol", kind="city")


@pytest.fixture
def mayor(db):
    return factories.SourceFactory(name="Mayor of Mariupol", kind="official")


def counts_csv(azovstal, mariupol, mayor, *, delimiter: str = ",") -> str:
    rows = [
        ["site", "as_of", "count", "qualifier", "source"],
        [azovstal.pk, "2022-05-04T12:00:00+03:00", 200, "approximately", mayor.pk],
        [mariupol.pk, "2022-05-04T12:00:00+03:00", 100000, "approximately", mayor.pk],
    ]
    return "\r\n".join(delimiter.join(str(cell) for cell in row) for row in rows) + "\r\n"


def upload(client, content, *, resource="counts", name="counts.csv", capture=None, **fields):
    """POST a file; the preview (or the application) runs after the commit, as a worker would run it."""
    data = content.encode() if isinstance(content, str) else content
    body = {"file": SimpleUploadedFile(name, data), "resource": resource, **fields}
    with capture(execute=True):
        response = client.post(URL, body, format="multipart")
    return response


def batch_of(client, response):
    assert response.status_code == 202, response.content
    return client.get(f"{URL}{response.json()['id']}/").json()


class TestPreview:
    def test_it_previews_every_row_and_writes_nothing(
        self, alice, azovstal, mariupol, mayor, django_capture_on_commit_callbacks
    ):
        client = api(alice)
        batch = batch_of(
            client, upload(client, counts_csv(azovstal, mariupol, mayor), capture=django_capture_on_commit_callbacks)
        )
        assert batch["status"] == "previewed"
        assert (batch["rows_total"], batch["created"], batch["updated"], batch["unchanged"]) == (2, 2, 0, 0)
        assert batch["errors"] == []
        assert CivilianCount.objects.count() == 0

    def test_a_bad_row_gets_the_apis_own_message_naming_row_and_column(
        self, alice, azovstal, mariupol, mayor, django_capture_on_commit_callbacks
    ):
        client = api(alice)
        text = (
            "Site,as_of,count,qualifier,source\r\n"
            f"{azovstal.pk},2022-05-04T12:00:00+03:00,-5,approximately,{mayor.pk}\r\n"
            f"{azovstal.pk},2030-05-04T12:00:00+03:00,5,approximately,{mayor.pk}\r\n"
            f"{azovstal.pk},2022-05-04T12:00:00,5,roughly,{mayor.pk}\r\n"
        )
        batch = batch_of(client, upload(client, text, capture=django_capture_on_commit_callbacks))
        by_row = {}
        for error in batch["errors"]:
            by_row.setdefault(error["row"], {})[error["column"]] = error["message"]
        # The same payloads sent to the API on their own, for the messages it gives.
        single = {
            2: {"count": -5, "as_of": "2022-05-04T12:00:00+03:00", "qualifier": "approximately"},
            3: {"count": 5, "as_of": "2030-05-04T12:00:00+03:00", "qualifier": "approximately"},
            4: {"count": 5, "as_of": "2022-05-04T12:00:00", "qualifier": "roughly"},
        }
        for row, payload in single.items():
            response = client.post("/api/v1/counts/", {"site": azovstal.pk, "source": mayor.pk, **payload})
            assert response.status_code == 400
            expected = {field: messages[0] for field, messages in response.json().items()}
            assert by_row[row] == {"site" if f == "site" else f: m for f, m in expected.items()}, row
        assert batch["status"] == "previewed"
        assert CivilianCount.objects.count() == 0

    def test_the_column_is_named_as_the_file_titles_it(
        self, alice, azovstal, mayor, django_capture_on_commit_callbacks
    ):
        client = api(alice)
        text = f"SITE,As Of,Count,source\r\n{azovstal.pk},2022-05-04T12:00:00Z,many,{mayor.pk}\r\n"
        batch = batch_of(client, upload(client, text, capture=django_capture_on_commit_callbacks))
        assert batch["errors"] == [
            {"row": 2, "column": "Count", "field": "count", "message": "A valid integer is required."}
        ]

    def test_columns_it_cannot_write_are_listed_not_dropped_silently(
        self, alice, azovstal, mayor, django_capture_on_commit_callbacks
    ):
        client = api(alice)
        text = f"site,as_of,count,source,notes,organisation\r\n{azovstal.pk},2022-05-04T12:00:00Z,5,{mayor.pk},hi,3\r\n"
        batch = batch_of(client, upload(client, text, capture=django_capture_on_commit_callbacks))
        assert batch["ignored_columns"] == ["notes", "organisation"]
        assert batch["errors"] == []


class TestApply:
    def test_it_applies_a_clean_preview_through_the_services(
        self, alice, azovstal, mariupol, mayor, django_capture_on_commit_callbacks
    ):
        client = api(alice)
        batch = batch_of(
            client, upload(client, counts_csv(azovstal, mariupol, mayor), capture=django_capture_on_commit_callbacks)
        )
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"{URL}{batch['id']}/apply/", {})
        assert response.status_code == 202, response.content
        batch = client.get(f"{URL}{batch['id']}/").json()
        assert batch["status"] == "applied"
        assert batch["created"] == 2
        counts = CivilianCount.objects.order_by("count")
        assert [c.count for c in counts] == [200, 100000]
        assert {(c.organisation, c.created_by) for c in counts} == {(alice.organisation, alice)}
        history = counts[0].history.get()
        assert history.history_user == alice
        assert history.history_change_reason == f"Import #{batch['id']}, row 2"
        assert azovstal.latest_count.count == 200

    def test_a_preview_with_errors_is_applied_only_when_told_valid_rows_only(
        self, alice, azovstal, mayor, django_capture_on_commit_callbacks
    ):
        client = api(alice)
        text = (
            "site,as_of,count,source\r\n"
            f"{azovstal.pk},2022-05-04T12:00:00Z,5,{mayor.pk}\r\n"
            f"{azovstal.pk},2022-05-04T13:00:00Z,-1,{mayor.pk}\r\n"
        )
        batch = batch_of(client, upload(client, text, capture=django_capture_on_commit_callbacks))
        refused = client.post(f"{URL}{batch['id']}/apply/", {})
        assert refused.status_code == 400
        assert "valid_only" in refused.json()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"{URL}{batch['id']}/apply/", {"valid_only": True})
        assert response.status_code == 202
        batch = client.get(f"{URL}{batch['id']}/").json()
        assert (batch["status"], batch["created"], len(batch["errors"])) == ("applied", 1, 1)
        assert list(CivilianCount.objects.values_list("count", flat=True)) == [5]

    def test_applying_at_once_is_all_or_nothing(self, alice, azovstal, mayor, django_capture_on_commit_callbacks):
        client = api(alice)
        text = (
            "site,as_of,count,source\r\n"
            f"{azovstal.pk},2022-05-04T12:00:00Z,5,{mayor.pk}\r\n"
            f"{azovstal.pk},2022-05-04T13:00:00Z,5,999999\r\n"
        )
        batch = batch_of(client, upload(client, text, dry_run="false", capture=django_capture_on_commit_callbacks))
        assert batch["status"] == "failed"
        assert batch["errors"][0]["row"] == 3 and batch["errors"][0]["column"] == "source"
        assert batch["created"] == 0
        assert CivilianCount.objects.count() == 0

    def test_importing_the_same_file_again_changes_nothing(
        self, alice, azovstal, mariupol, mayor, django_capture_on_commit_callbacks
    ):
        client = api(alice)
        text = counts_csv(azovstal, mariupol, mayor)
        upload(client, text, dry_run="false", capture=django_capture_on_commit_callbacks)
        again = batch_of(client, upload(client, text, dry_run="false", capture=django_capture_on_commit_callbacks))
        assert (again["status"], again["created"], again["updated"], again["unchanged"]) == ("applied", 0, 0, 2)
        assert CivilianCount.objects.count() == 2
        assert all(count.history.count() == 1 for count in CivilianCount.objects.all())

    def test_an_export_edited_in_a_spreadsheet_comes_back(
        self, alice, azovstal, mariupol, mayor, django_capture_on_commit_callbacks
    ):
        client = api(alice)
        upload(
            client, counts_csv(azovstal, mariupol, mayor), dry_run="false", capture=django_capture_on_commit_callbacks
        )
        exported = client.get("/api/v1/counts/?format=csv").content.decode()
        edited = exported.replace(",200,", ",210,")
        assert edited != exported
        batch = batch_of(client, upload(client, edited, dry_run="false", capture=django_capture_on_commit_callbacks))
        assert (batch["status"], batch["created"], batch["updated"], batch["unchanged"]) == ("applied", 0, 1, 1), batch[
            "errors"
        ]
        assert sorted(CivilianCount.objects.values_list("count", flat=True)) == [210, 100000]
        assert "organisation" in batch["ignored_columns"]

    def test_another_organisations_figure_is_refused_as_the_api_refuses_it(
        self, alice, bob, azovstal, mayor, django_capture_on_commit_callbacks
    ):
        theirs = factories.CivilianCountFactory(
            site=azovstal, source=mayor, organisation=bob.organisation, created_by=bob
        )
        client = api(alice)
        text = f"id,count\r\n{theirs.pk},1\r\n"
        batch = batch_of(client, upload(client, text, dry_run="false", capture=django_capture_on_commit_callbacks))
        assert batch["status"] == "failed"
        assert batch["errors"] == [
            {"row": 2, "column": None, "field": None, "message": "You can change only your own organisation's figures."}
        ]


class TestUndo:
    def test_undo_deletes_what_it_created_and_restores_what_it_changed(
        self, alice, azovstal, mariupol, mayor, django_capture_on_commit_callbacks
    ):
        client = api(alice)
        kept = factories.CivilianCountFactory(
            site=mariupol, source=mayor, count=7, organisation=alice.organisation, created_by=alice
        )
        text = f"id,site,as_of,count,source\r\n{kept.pk},,,8,\r\n,{azovstal.pk},2022-05-04T12:00:00Z,5,{mayor.pk}\r\n"
        batch = batch_of(client, upload(client, text, dry_run="false", capture=django_capture_on_commit_callbacks))
        assert (batch["status"], batch["created"], batch["updated"]) == ("applied", 1, 1), batch["errors"]
        response = client.post(f"{URL}{batch['id']}/undo/")
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "undone"
        assert list(CivilianCount.objects.values_list("pk", "count")) == [(kept.pk, 7)]
        assert client.post(f"{URL}{batch['id']}/undo/").status_code == 400


class TestFiles:
    @pytest.mark.parametrize(
        ("encoding", "delimiter"),
        [("utf-8", ","), ("utf-8-sig", ";"), ("cp1251", ";"), ("utf-16", "\t")],
    )
    def test_it_reads_common_encodings_and_delimiters(
        self, alice, mayor, encoding, delimiter, django_capture_on_commit_callbacks
    ):
        site = factories.SiteFactory(name="Запоріжжя", kind="city")
        rows = [["site", "as_of", "count", "source"], [site.pk, "2022-05-04T12:00:00Z", 5, mayor.pk]]
        text = "".join(delimiter.join(str(cell) for cell in row) + "\r\n" for row in rows)
        client = api(alice)
        batch = batch_of(client, upload(client, text.encode(encoding), capture=django_capture_on_commit_callbacks))
        assert (batch["status"], batch["created"], batch["errors"]) == ("previewed", 1, [])

    def test_cyrillic_text_in_windows_1251_is_read_as_such(self, alice, django_capture_on_commit_callbacks):
        client = api(alice)
        text = "name;kind;url\r\nМіська рада Маріуполя;official;https://mariupolrada.gov.ua\r\n"
        batch = batch_of(
            client,
            upload(
                client,
                text.encode("cp1251"),
                resource="sources",
                dry_run="false",
                capture=django_capture_on_commit_callbacks,
            ),
        )
        assert batch["status"] == "applied", batch["errors"]
        from tracker.models import Source

        assert Source.objects.get().name == "Міська рада Маріуполя"

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b"\x00\x01\x02binary\x00" * 20, "binary"),
            (b"PK\x03\x04not really a zip", "ZIP"),
            (b"site,as_of\r\n" + b"1,2\r\n" * 11, "more than 10 rows"),
            (b"site,Site\r\n1,2\r\n", "both give site"),
            (b"colour,taste\r\nred,sweet\r\n", "No column"),
        ],
    )
    def test_a_file_that_cannot_be_read_is_refused_whole_with_a_reason(
        self, alice, settings, content, message, django_capture_on_commit_callbacks
    ):
        settings.IMPORT_MAX_ROWS = 10
        client = api(alice)
        batch = batch_of(client, upload(client, content, dry_run="false", capture=django_capture_on_commit_callbacks))
        assert batch["status"] == "failed"
        assert len(batch["errors"]) == 1 and batch["errors"][0]["row"] is None
        assert message in batch["errors"][0]["message"]
        assert CivilianCount.objects.count() == 0

    def test_an_empty_file_is_a_400_naming_the_field(self, alice, django_capture_on_commit_callbacks):
        response = upload(api(alice), b"", capture=django_capture_on_commit_callbacks)
        assert response.status_code == 400
        assert "file" in response.json()
        assert ImportBatch.objects.count() == 0

    def test_a_file_over_the_limit_is_a_413_and_kept_nowhere(self, alice, settings, django_capture_on_commit_callbacks):
        settings.IMPORT_MAX_BYTES = 100
        response = upload(api(alice), b"site,count\r\n" + b"1,2\r\n" * 100, capture=django_capture_on_commit_callbacks)
        assert response.status_code == 413
        assert ImportBatch.objects.count() == 0

    def test_an_exported_formula_escape_is_read_back_as_the_text_it_stood_for(
        self, alice, azovstal, mayor, django_capture_on_commit_callbacks
    ):
        client = api(alice)
        text = (
            "site,kind,started_at,source,description\r\n"
            f'{azovstal.pk},shelling,2022-05-04T12:00:00Z,{mayor.pk},\'=HYPERLINK("x")\r\n'
        )
        batch = batch_of(
            client,
            upload(client, text, resource="hostilities", dry_run="false", capture=django_capture_on_commit_callbacks),
        )
        assert batch["status"] == "applied", batch["errors"]
        exported = client.get("/api/v1/hostilities/?format=csv").content.decode()
        assert "'=HYPERLINK" in exported


class TestWho:
    def test_the_public_cannot_import_or_read_imports(self, azovstal):
        assert api().post(URL, {}, format="multipart").status_code == 401
        assert api().get(URL).status_code == 401

    def test_a_reporter_cannot_import_sites(self, alice, django_capture_on_commit_callbacks):
        response = upload(
            api(alice), b"name,kind\r\nX,city\r\n", resource="sites", capture=django_capture_on_commit_callbacks
        )
        assert response.status_code == 403
        assert ImportBatch.objects.count() == 0

    def test_a_reporter_sees_only_their_organisations_imports(
        self, alice, bob, azovstal, mariupol, mayor, django_capture_on_commit_callbacks
    ):
        client = api(alice)
        batch = batch_of(
            client, upload(client, counts_csv(azovstal, mariupol, mayor), capture=django_capture_on_commit_callbacks)
        )
        assert api(bob).get(f"{URL}{batch['id']}/").status_code == 404
        assert api(bob).get(URL).json()["count"] == 0
        assert api(bob).post(f"{URL}{batch['id']}/apply/", {}).status_code == 404


class TestSpreadsheets:
    def test_an_xlsx_with_a_bad_row_is_previewed_with_that_rows_error(
        self, alice, azovstal, mayor, django_capture_on_commit_callbacks
    ):
        import io

        import openpyxl

        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(["Site", "As of", "Count", "Qualifier", "Source", "Notes"])
        sheet.append([azovstal.pk, "2022-05-04T12:00:00+03:00", 200, "approximately", mayor.pk, "=1+1"])
        sheet.append([azovstal.pk, dt.datetime(2022, 5, 4, 12, 0), 250, "approximately", mayor.pk, None])  # noqa: DTZ001 - what a spreadsheet holds
        sheet.append([azovstal.pk, "2022-05-04T14:00:00+03:00", 210.0, "at_least", mayor.pk, None])
        out = io.BytesIO()
        book.save(out)
        client = api(alice)
        batch = batch_of(
            client, upload(client, out.getvalue(), name="counts.xlsx", capture=django_capture_on_commit_callbacks)
        )
        assert (batch["status"], batch["rows_total"], batch["created"]) == ("previewed", 3, 2)
        assert [(e["row"], e["column"]) for e in batch["errors"]] == [(3, "As of")]
        assert "UTC offset" in batch["errors"][0]["message"]
        assert batch["ignored_columns"] == ["Notes"]


class TestHxl:
    def test_columns_are_matched_by_their_hashtags_whatever_their_titles(
        self, alice, azovstal, mayor, django_capture_on_commit_callbacks
    ):
        text = (
            "Скільки людей,Where?,Стан на,Хто сказав,Up to,Comment\r\n"
            "#affected +num +f, #loc+id ,#date,#meta+id+source,#affected+num+max,#description\r\n"
            f"200,{azovstal.pk},2022-05-04T12:00:00+03:00,{mayor.pk},250,under the plant\r\n"
        )
        client = api(alice)
        batch = batch_of(
            client,
            upload(
                client,
                text,
                name="counts.hxl.csv",
                format="hxl",
                dry_run="false",
                capture=django_capture_on_commit_callbacks,
            ),
        )
        assert (batch["status"], batch["created"]) == ("applied", 1), batch["errors"]
        count = CivilianCount.objects.get()
        assert (count.count, count.count_high, count.site, count.source) == (200, 250, azovstal, mayor)
        assert batch["ignored_columns"] == ["Comment"]

    def test_a_file_imported_as_hxl_must_have_hashtags(
        self, alice, azovstal, mayor, django_capture_on_commit_callbacks
    ):
        client = api(alice)
        text = f"site,as_of,count,source\r\n{azovstal.pk},2022-05-04T12:00:00Z,5,{mayor.pk}\r\n"
        batch = batch_of(client, upload(client, text, format="hxl", capture=django_capture_on_commit_callbacks))
        assert batch["status"] == "failed"
        assert "HXL" in batch["errors"][0]["message"]


def ods(rows) -> bytes:
    """A minimal OpenDocument spreadsheet, as LibreOffice writes one: one sheet, strings and numbers."""
    import io
    import zipfile
    from xml.sax.saxutils import escape

    def cell(value):
        if isinstance(value, int | float):
            attributes = f'office:value-type="float" office:value="{value}"'
            return f"<table:table-cell {attributes}><text:p>{value}</text:p></table:table-cell>"
        return f'<table:table-cell office:value-type="string"><text:p>{escape(str(value))}</text:p></table:table-cell>'

    body = "".join("<table:table-row>" + "".join(cell(v) for v in row) + "</table:table-row>" for row in rows)
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="Counts">{body}</table:table>'
        "</office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", manifest)
        archive.writestr("content.xml", content)
    return out.getvalue()


def test_an_ods_spreadsheet_is_read_as_the_others(alice, azovstal, mayor, django_capture_on_commit_callbacks):
    content = ods(
        [
            ["site", "as_of", "count", "source"],
            [azovstal.pk, "2022-05-04T12:00:00+03:00", 200, mayor.pk],
            [azovstal.pk, "2022-05-04T13:00:00+03:00", "about 50", mayor.pk],
        ]
    )
    client = api(alice)
    batch = batch_of(client, upload(client, content, name="counts.ods", capture=django_capture_on_commit_callbacks))
    assert (batch["status"], batch["rows_total"], batch["created"]) == ("previewed", 2, 1)
    assert [(e["row"], e["column"]) for e in batch["errors"]] == [(3, "count")]


def test_what_a_file_names_cannot_become_a_formula_in_an_export_of_the_imports(
    alice, azovstal, mayor, django_capture_on_commit_callbacks
):
    client = api(alice)
    text = f'site,as_of,count,source,"=2+3"\r\n{azovstal.pk},2022-05-04T12:00:00Z,5,{mayor.pk},x\r\n'
    upload(client, text, name="=HYPERLINK(1).csv", capture=django_capture_on_commit_callbacks)
    rows = list(csv.reader(io.StringIO(client.get(f"{URL}?format=csv").content.decode())))
    record = dict(zip(rows[0], rows[2], strict=True))
    assert record["file_name"] == "'=HYPERLINK(1).csv"
    assert record["ignored_columns"] == "'=2+3"
