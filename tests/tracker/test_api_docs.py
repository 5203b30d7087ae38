"""The API's browsable docs at /api/v1/docs/: Swagger UI from this site alone, within its Content Security Policy."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.django_db


class Page(HTMLParser):
    """The scripts, stylesheets and icons a page loads, and whatever it has inline."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if "style" in attributes:
            self.inline.append(f"style attribute on <{tag}>")
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script":
            self._in_script = True
            self.assets.append(attributes.get("src") or "")
        if tag == "link" and attributes.get("rel") in ("stylesheet", "icon"):
            self.assets.append(attributes.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(f"<script> body: {data.strip()[:40]}")


@pytest.fixture
def docs(client, settings):
    # Tests run with DEBUG off and no collectstatic: let WhiteNoise find the static files in the apps.
    settings.WHITENOISE_USE_FINDERS = True
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    page = Page()
    page.feed(response.content.decode())
    return response, page


def test_the_docs_page_loads_only_files_from_this_site_and_nothing_inline(docs):
    _, page = docs
    assert page.inline == []
    assert len(page.assets) == 6  # Swagger UI's two scripts and stylesheet, our stylesheet, the icon, the page's script
    for url in page.assets:
        parts = urlsplit(url)
        assert url.startswith("/") and not parts.scheme and not parts.netloc, url


def test_every_file_the_docs_page_loads_is_served(client, docs):
    _, page = docs
    for url in page.assets:
        response = client.get(url)
        assert response.status_code == 200, url
        response.close()  # WhiteNoise streams the file: let it go
    script = client.get("/api/v1/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript")
    assert b"/api/v1/schema/" in script.content
    # No badge from validator.swagger.io, which would send it the schema's address.
    assert b'"validatorUrl": null' in script.content


def test_the_docs_page_has_the_app_content_security_policy(docs):
    response, _ = docs
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
