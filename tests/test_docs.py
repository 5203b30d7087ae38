"""
The project explains itself from its own repository: every relative link of the README
and docs/*.md leads to a file of the repository (and, for `#anchor`, to a heading of
it), and the README's examples work when pasted.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from pathlib import Path

import pytest

from tests import factories
from tests.api import api, url

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# [text](target "title"), ![alt](target), and reference definitions `[label]: target`.
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
HTML_LINK = re.compile(r"<(?:a|img)\s[^>]*?(?:href|src)=\"([^\"]+)\"", re.IGNORECASE)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:, ...


def _prose(text: str, *, inline_code: bool = False) -> str:
    """The text without its code blocks (fenced, indented) and, unless kept, its `inline code`: no links there."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.MULTILINE | re.DOTALL)
    text = re.sub(r"^(?: {4}|\t).*$", "", text, flags=re.MULTILINE)
    return text if inline_code else re.sub(r"`[^`\n]*`", "", text)


def _links(text: str) -> list[str]:
    prose = _prose(text)
    return [*INLINE_LINK.findall(prose), *REFERENCE.findall(prose), *HTML_LINK.findall(prose)]


def _anchors(text: str) -> set[str]:
    """GitHub's anchors of a file's headings: lower case, punctuation dropped, spaces as hyphens, repeats numbered."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", _prose(text, inline_code=True), flags=re.MULTILINE):
        plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
        slug = "".join(c for c in plain if c in " -_" or unicodedata.category(c)[0] in "LN").replace(" ", "-")
        anchors.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    anchors.update(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", text))
    return anchors


def _relative_links() -> list[tuple[str, str]]:
    return [
        (str(document.relative_to(ROOT)), target)
        for document in DOCUMENTS
        for target in _links(document.read_text(encoding="utf-8"))
        if not EXTERNAL.match(target)
    ]


def test_the_documents_have_relative_links_to_check():
    assert len(DOCUMENTS) >= 3
    assert any(target == "docs/api.md" for _, target in _relative_links())


@pytest.mark.parametrize(("document", "target"), _relative_links())
def test_every_relative_link_leads_to_a_file_and_heading_of_the_repository(document, target):
    source = ROOT / document
    path, _, anchor = target.partition("#")
    linked = (source.parent / path).resolve() if path else source
    assert linked.is_relative_to(ROOT), f"{document}: {target} leads outside the repository"
    assert linked.exists(), f"{document}: {target} does not exist"
    if anchor and linked.suffix == ".md":
        assert anchor in _anchors(linked.read_text(encoding="utf-8")), f"{document}: {target}: no such heading"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[a](docs/api.md) and ![b](docs/x.png)", ["docs/api.md", "docs/x.png"]),
        ('[a](../shared/API.md "The API")', ["../shared/API.md"]),
        ("[a](https://example.org) [b](#here) [c]: docs/design.md", ["https://example.org", "#here"]),
        ("[c]: docs/design.md", ["docs/design.md"]),
        ("`[a](no.md)`\n\n    [b](no.md)\n\n```\n[c](no.md)\n```\n", []),
        ('<a href="docs/operations.md">ops</a>', ["docs/operations.md"]),
    ],
)
def test_links_are_found_in_prose_and_not_in_code(text, expected):
    assert _links(text) == expected


def test_anchors_are_those_github_gives_headings():
    text = "# The REST API\n## Tokens and logins (additions to the contract)\n## `cursor`\n## Notes\n## Notes\n"
    assert _anchors(text) == {
        "the-rest-api",
        "tokens-and-logins-additions-to-the-contract",
        "cursor",
        "notes",
        "notes-1",
    }


@pytest.mark.django_db
def test_the_readme_idempotency_key_is_a_uuid_the_api_accepts_as_pasted(alice):
    key = re.search(r"Idempotency-Key: ([^'\"\s]+)", (ROOT / "README.md").read_text(encoding="utf-8")).group(1)
    assert uuid.UUID(key)
    # As a server reads it from curl: the header's bytes, as Latin-1.
    pasted = key.encode().decode("latin-1")
    response = api(alice).post(
        url("source-list"), {"name": "Ukrinform", "kind": "media"}, format="json", HTTP_IDEMPOTENCY_KEY=pasted
    )
    assert response.status_code == 201, response.content
    assert factories.SourceFactory._meta.model.objects.filter(name="Ukrinform").exists()
