"""The README's screenshots are of the pages as they are now (tests/screenshots.py)."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from tests.live import ROOT
from tests.screenshots import MANIFEST, REGENERATE, manifest, sources

pytestmark = pytest.mark.django_db


def test_the_readme_shows_screenshots_that_exist():
    readme = (ROOT / "README.md").read_text()
    pictures = re.findall(r"\]\((docs/screenshots/[^)]+\.png)\)", readme)
    assert len(pictures) == 4
    assert all((ROOT / picture).stat().st_size > 10_000 for picture in pictures)


def test_the_screenshots_are_not_older_than_what_they_show(client):
    call_command("load_demo", stdout=io.StringIO())
    files = sources(client)
    assert any(path.name == "overview.html" for path in files)
    assert any(path.suffix == ".css" for path in files)
    assert MANIFEST.exists(), f"docs/screenshots/SOURCES is missing: take the screenshots with {REGENERATE}"
    current, committed = set(manifest(files).splitlines()), set(MANIFEST.read_text().splitlines())
    changed = sorted({line.split("  ", 1)[1] for line in current ^ committed})
    assert not changed, (
        f"The README's screenshots are older than {', '.join(changed)}: take them again with {REGENERATE}"
    )
