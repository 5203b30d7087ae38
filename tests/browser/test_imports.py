"""
The staff import page in a browser: a reporter uploads a spreadsheet, watches its
progress while it is checked, sees the preview (what would be created, every error by
row and column), saves the rows without errors, and sees what was saved.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache

from tests import factories
from tests.browser.conftest import log_in
from tests.browser.test_accessibility import violations
from tracker.imports import services as imports
from tracker.models import CivilianCount, ImportBatch

pytestmark = pytest.mark.browser


def test_a_reporter_uploads_a_file_sees_its_progress_and_preview_and_saves_the_valid_rows(
    page, live_server, reporter, monkeypatch, tmp_path, csp
):
    site = factories.SiteFactory(name="Azovstal steel plant")
    source = factories.SourceFactory(name="Mayor of Mariupol")
    file = tmp_path / "counts.csv"
    file.write_text(
        "site,as_of,count,qualifier,source\r\n"
        f"{site.pk},2022-05-04T12:00:00+03:00,200,approximately,{source.pk}\r\n"
        f"{site.pk},2022-05-04T13:00:00+03:00,many,approximately,{source.pk}\r\n"
        f"{site.pk},2022-05-04T14:00:00+03:00,180,at_least,{source.pk}\r\n"
    )
    # The worker, played by the test: what the upload queues, the test runs when it chooses.
    queued: list[tuple[int, bool]] = []
    monkeypatch.setattr(imports, "_queue", lambda batch, *, apply: queued.append((batch.pk, apply)))

    log_in(page, live_server, reporter)
    page.get_by_role("link", name="Import a file").click()
    page.locator("#id_file").set_input_files(str(file))
    page.get_by_label("What it holds").select_option("counts")
    page.get_by_role("button", name="Upload and preview").click()
    page.get_by_role("heading", name="Import of counts.csv").wait_for()
    ((batch_id, apply),) = queued
    assert not apply

    # Running: the page follows its progress without being reloaded.
    ImportBatch.objects.filter(pk=batch_id).update(status=ImportBatch.Status.RUNNING, rows_total=3)
    cache.set(imports.progress_key(batch_id), 2)
    page.get_by_text("Checking row 2 of 3…").wait_for()
    assert page.locator("#import-progress").evaluate("bar => [bar.value, bar.max]") == [2, 3]

    # Done: the page shows the preview.
    ImportBatch.objects.filter(pk=batch_id).update(status=ImportBatch.Status.QUEUED)
    imports.import_run(batch_id=batch_id, apply=False)
    page.locator("#import-created").wait_for()
    assert page.locator("#import-created").inner_text() == "2"
    errors = page.locator("#import-errors tbody tr")
    assert errors.count() == 1
    assert errors.first.inner_text().split("\t") == ["3", "count", "A valid integer is required."]
    outcomes = page.locator("#import-rows tbody tr td:nth-child(2)")
    assert outcomes.all_inner_texts() == ["Would be created", "Error", "Would be created"]
    assert violations(page) == []
    assert not CivilianCount.objects.exists()

    page.get_by_role("button", name="Save the rows without errors").click()
    assert queued[-1] == (batch_id, True)
    imports.import_run(batch_id=batch_id, apply=True)
    page.reload()
    page.get_by_role("button", name="Undo this import").wait_for()
    assert page.locator("#import-created").inner_text() == "2"
    assert sorted(CivilianCount.objects.values_list("count", flat=True)) == [180, 200]
    assert csp.violations == []
