"""The staff import page: upload for a preview, apply, undo; only one's own organisation's imports."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from tests import factories
from tracker.imports import services as imports
from tracker.models import CivilianCount, ImportBatch

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2022, 5, 6, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def counts_file(db):
    site = factories.SiteFactory(name="Azovstal")
    source = factories.SourceFactory(name="Mayor of Mariupol")
    return (
        "site,as_of,count,source\r\n"
        f"{site.pk},2022-05-04T12:00:00Z,200,{source.pk}\r\n"
        f"{site.pk},2022-05-04T13:00:00Z,-1,{source.pk}\r\n"
    ).encode()


def test_an_upload_is_previewed_then_its_valid_rows_saved_and_undone(
    login, alice, counts_file, django_capture_on_commit_callbacks
):
    client = login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/en/staff/imports/",
            {"file": SimpleUploadedFile("counts.csv", counts_file), "resource": "counts", "format": "auto"},
        )
    batch = ImportBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/en/staff/imports/{batch.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "Would be created" in page
    assert "Ensure this value is greater than or equal to 0." in page
    assert not CivilianCount.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/en/staff/imports/{batch.pk}/apply/", {"valid_only": "1"})
    assert list(CivilianCount.objects.values_list("count", flat=True)) == [200]
    assert "Undo this import" in client.get(f"/en/staff/imports/{batch.pk}/").content.decode()
    client.post(f"/en/staff/imports/{batch.pk}/undo/")
    assert not CivilianCount.objects.exists()


def test_the_page_speaks_ukrainian(login, alice, counts_file, django_capture_on_commit_callbacks):
    client = login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/uk/staff/imports/",
            {"file": SimpleUploadedFile("counts.csv", counts_file), "resource": "counts", "format": "auto"},
        )
    page = client.get(response["Location"]).content.decode()
    assert "Помилки" in page and "Зберегти рядки без помилок" in page


def test_a_bad_upload_keeps_the_form_with_the_reason(login, alice):
    response = login(alice).post(
        "/en/staff/imports/", {"file": SimpleUploadedFile("x.csv", b"a\r\n1\r\n"), "resource": "x", "format": "auto"}
    )
    assert response.status_code == 400
    assert not ImportBatch.objects.exists()


def test_another_organisations_import_is_not_found(login, alice, bob, counts_file, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        login(alice).post(
            "/en/staff/imports/",
            {"file": SimpleUploadedFile("counts.csv", counts_file), "resource": "counts", "format": "auto"},
        )
    batch = ImportBatch.objects.get()
    client = login(bob)
    assert client.get(f"/en/staff/imports/{batch.pk}/").status_code == 404
    assert client.post(f"/en/staff/imports/{batch.pk}/apply/", {"valid_only": "1"}).status_code == 404
    assert "counts.csv" not in client.get("/en/staff/imports/").content.decode()


class _Table(HTMLParser):
    """The cells of each body row of the table with the given id, as text."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.rows, self.cell = table_id, False, [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag == "td":
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif self.inside and tag == "td" and self.cell is not None:
            self.rows[-1].append(" ".join(self.cell.split()))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def table_rows(page: str, table_id: str) -> list[list[str]]:
    parser = _Table(table_id)
    parser.feed(page)
    return [row for row in parser.rows if row]


@pytest.fixture
def mixed_file(alice):
    """A row that is new, one that changes a stored count, one the same as stored, and a bad one."""
    site = factories.SiteFactory(name="Azovstal")
    source = factories.SourceFactory(name="Mayor of Mariupol")
    stored = {"site": site, "source": source, "organisation": alice.organisation, "created_by": alice}
    factories.CivilianCountFactory(as_of=dt.datetime(2022, 5, 4, 12, tzinfo=dt.UTC), count=200, **stored)
    factories.CivilianCountFactory(as_of=dt.datetime(2022, 5, 4, 13, tzinfo=dt.UTC), count=150, **stored)
    return (
        "site,as_of,count,source\r\n"
        f"{site.pk},2022-05-04T11:00:00Z,210,{source.pk}\r\n"
        f"{site.pk},2022-05-04T12:00:00Z,200,{source.pk}\r\n"
        f"{site.pk},2022-05-04T13:00:00Z,180,{source.pk}\r\n"
        f"{site.pk},2022-05-04T14:00:00Z,-1,{source.pk}\r\n"
    ).encode()


def preview_page(client, language, content, capture):
    with capture(execute=True):
        response = client.post(
            f"/{language}/staff/imports/",
            {"file": SimpleUploadedFile("counts.csv", content), "resource": "counts", "format": "auto"},
        )
    return client.get(response["Location"]).content.decode()


def test_the_preview_says_row_by_row_what_would_be_created_updated_left_alone_or_refused(
    login, alice, mixed_file, django_capture_on_commit_callbacks
):
    page = preview_page(login(alice), "en", mixed_file, django_capture_on_commit_callbacks)
    rows = table_rows(page, "import-rows")
    assert [row[:2] for row in rows] == [
        ["2", "Would be created"],
        ["3", "Left alone (unchanged)"],
        ["4", "Would be updated"],
        ["5", "Error"],
    ]
    assert rows[0][2].startswith("site: Azovstal; as of: ") and "source: Mayor of Mariupol" in rows[0][2]
    assert rows[2][3] == "count"  # the one field the update changes
    assert rows[3][3] == "count: Ensure this value is greater than or equal to 0."
    assert sorted(CivilianCount.objects.values_list("count", flat=True)) == [150, 200]


def test_the_row_by_row_preview_is_in_the_importers_language(
    login, alice, mixed_file, django_capture_on_commit_callbacks
):
    page = preview_page(login(alice), "uk", mixed_file, django_capture_on_commit_callbacks)
    rows = table_rows(page, "import-rows")
    assert [row[1] for row in rows] == ["Буде створено", "Залишено як є (без змін)", "Буде оновлено", "Помилка"]
    assert rows[0][2].startswith("місце: Azovstal; станом на: ")
    assert rows[2][3] == "кількість"
    assert "Що зробить кожен рядок" in page


def test_after_applying_the_valid_rows_the_table_says_what_each_row_did(
    login, alice, mixed_file, django_capture_on_commit_callbacks
):
    client = login(alice)
    preview_page(client, "en", mixed_file, django_capture_on_commit_callbacks)
    batch = ImportBatch.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/en/staff/imports/{batch.pk}/apply/", {"valid_only": "1"})
    rows = table_rows(client.get(f"/en/staff/imports/{batch.pk}/").content.decode(), "import-rows")
    assert [row[1] for row in rows] == ["Created", "Left alone (unchanged)", "Updated", "Error"]
    assert sorted(CivilianCount.objects.values_list("count", flat=True)) == [180, 200, 210]


def test_the_table_keeps_the_first_rows_of_a_long_file_and_says_so(
    login, alice, counts_file, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(imports, "ROWS_SHOWN", 1)
    page = preview_page(login(alice), "en", counts_file, django_capture_on_commit_callbacks)
    assert [row[:2] for row in table_rows(page, "import-rows")] == [["2", "Would be created"]]
    assert "the first 1 of 2 rows" in page
    assert len(table_rows(page, "import-errors")) == 1  # every error is still listed
