"""
The README's screenshots and what they show. `docs/screenshots/SOURCES` lists every file
the pictured pages are made of (the templates rendered, the stylesheets and scripts they
load, the demo scenario), each with its SHA-256, as they were when the screenshots were
taken. (Not the translations: locale/uk/.../django.po changes with nearly every change
anywhere in the app, most of them not on these pages.) A change to any of them makes the screenshots stale:
tests/tracker/test_screenshots.py then fails until they are taken again with

    TRACKER_SCREENSHOTS=docs/screenshots scripts/test -m browser -k screenshots

which also writes SOURCES (tests/browser/test_dashboard.py).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path
from unittest import mock

from django.contrib.staticfiles import finders
from django.core.cache.backends.locmem import LocMemCache
from django.template import engines
from django.test.signals import template_rendered

from tests.live import ROOT
from tracker import pagecache

FOLDER = ROOT / "docs" / "screenshots"
MANIFEST = FOLDER / "SOURCES"
# The pages pictured, in both languages (the desktop and phone pictures are the same pages).
PAGES = ("/en/", "/uk/")
ALWAYS = ("tracker/management/commands/load_demo.py",)
REGENERATE = "TRACKER_SCREENSHOTS=docs/screenshots scripts/test -m browser -k screenshots"


def _template_path(name: str) -> Path:
    template = engines["django"].get_template(name)
    return Path(template.origin.name)


def sources(client) -> list[Path]:
    """Every file the pictured pages are made of, as the test client renders them now (demo data loaded)."""
    rendered: list[str] = []

    def record(sender, template, **kwargs):
        if template.name:
            rendered.append(template.name)

    template_rendered.connect(record)
    # Rendered afresh, not taken from the pages kept for the public.
    try:
        with (
            mock.patch.object(pagecache, "cache", LocMemCache(f"screenshots-{uuid.uuid4()}", {})),
            mock.patch.object(pagecache, "local", pagecache.Local()),
        ):
            pages = [client.get(page, HTTP_HOST="127.0.0.1") for page in PAGES]
    finally:
        template_rendered.disconnect(record)
    files = {_template_path(name) for name in rendered}
    for response in pages:
        assert response.status_code == 200, response.status_code
        html = response.content.decode()
        for url in re.findall(r'<(?:link rel="stylesheet"|script)[^>]*? (?:href|src)="/static/([^"?]+)', html):
            found = finders.find(url)
            assert found, url
            files.add(Path(found))
    files.update(ROOT / name for name in ALWAYS)
    return sorted(files)


def manifest(files: list[Path]) -> str:
    """`sha256sum` style: one `<hash>  <path from the repository root>` line per file."""
    lines = [f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.resolve().relative_to(ROOT)}" for path in files]
    return "\n".join(lines) + "\n"
