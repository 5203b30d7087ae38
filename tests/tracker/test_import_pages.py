"""The staff import page: upload for a preview, apply, undo; only one's own organisation's imports."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from tests import factories
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
