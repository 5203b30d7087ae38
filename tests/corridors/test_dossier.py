"""The evidence dossier of a corridor: its page (A4, both languages), its PDF, its digest and the check of a copy."""

from __future__ import annotations

import io
import re

import pytest
from django.urls import reverse
from django.utils import translation
from pypdf import PdfReader

from corridors import dossier as evidence
from corridors.models import Departure, DossierSnapshot
from tests.corridors import ceasefire_data

pytestmark = pytest.mark.django_db


def url(language, name, *args):
    with translation.override(language):
        return reverse(name, args=args)


def text_of(content: bytes | str) -> str:
    content = content.decode() if isinstance(content, bytes) else content
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", content))


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() or "" for page in reader.pages))


@pytest.fixture
def case(carol):
    return ceasefire_data.build(carol)


class TestThePage:
    def test_it_states_every_flag_in_words_with_its_report_and_review(self, public, case, carol):
        text = text_of(public.get(url("en", "corridors:dossier", case.corridor.pk)).content)
        assert (
            "Ground assault at Azovstal reported by Azov regiment, 10:00–12:00 on 5 May 2022, during window "
            "08:00–18:00 on 5 May 2022: overlap certain (both times exact) ." in text
        )
        assert "Time precision: Hour known." in text
        assert "Time precision: Day known." in text
        assert "Dismissed by Helping Hands" in text and "The strike hit a village 40 km away" in text
        assert carol.username not in text
        assert "47.0987" not in text

    def test_it_gives_the_timeline_in_local_time_and_the_gap(self, public, case):
        text = text_of(public.get(url("en", "corridors:dossier", case.corridor.pk)).content)
        assert "08:00–18:00 on 9 May 2022" in text
        assert "UTC+3" in text
        assert "at least 100 people left Mariupol" in text
        assert "101 people arrived in Zaporizhzhia" in text
        assert "1 person more arrived than were counted leaving" in text or "more arrived than" in text

    def test_it_gives_the_audit_trail_of_each_figure(self, public, case):
        text = text_of(public.get(url("en", "corridors:dossier", case.corridor.pk)).content)
        assert "Verification: Verified (verified since" in text
        assert "Entered by Helping Hands." in text

    def test_it_states_when_it_was_generated_and_its_digest_which_is_kept(self, public, case):
        body = public.get(url("en", "corridors:dossier", case.corridor.pk)).content.decode()
        digest = re.search(r"<code>([0-9a-f]{64})</code>", body).group(1)
        assert "Generated on" in body
        snapshot = DossierSnapshot.objects.get(digest=digest)
        assert snapshot.corridor_id == case.corridor.pk
        assert digest == evidence.digest_of(snapshot.data)

    def test_the_digest_is_the_same_in_both_languages(self, public, case):
        digests = [
            re.search(
                r"<code>([0-9a-f]{64})</code>",
                public.get(url(lang, "corridors:dossier", case.corridor.pk)).content.decode(),
            ).group(1)
            for lang in ("en", "uk")
        ]
        assert digests[0] == digests[1]

    def test_it_reads_in_ukrainian(self, public, case):
        text = text_of(public.get(url("uk", "corridors:dossier", case.corridor.pk)).content)
        assert "Досьє" in text
        assert "Ground assault" not in text

    def test_the_corridor_page_links_to_it(self, public, case):
        body = public.get(url("en", "corridors:corridor", case.corridor.pk)).content.decode()
        assert url("en", "corridors:dossier", case.corridor.pk) in body

    def test_its_queries_do_not_grow_with_the_corridor(self, case):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from tests import factories

        with CaptureQueriesContext(connection) as before:
            evidence.corridor_dossier(case.corridor.pk, now=ceasefire_data.day(20))
        for d in range(11, 16):
            window = factories.WindowFactory(corridor=case.corridor, starts_at=ceasefire_data.day(d))
            factories.FlagFactory(window=window, hostility=factories.HostilityReportFactory(site=case.corridor.origin))
            factories.DepartureFactory(origin=case.corridor.origin, corridor=case.corridor, window=window)
            factories.ArrivalFactory(origin=case.corridor.origin, corridor=case.corridor, window=window)
        with CaptureQueriesContext(connection) as after:
            dossier = evidence.corridor_dossier(case.corridor.pk, now=ceasefire_data.day(20))
        assert len(dossier.windows) == 10
        assert len(after) == len(before)


class TestThePdf:
    @pytest.mark.parametrize(
        ("language", "sentence"),
        [
            ("en", "Ground assault at Azovstal reported by Azov regiment"),
            ("uk", "Наземний штурм: Azovstal, за повідомленням джерела «Azov regiment»"),
        ],
    )
    def test_it_carries_the_flag_sentences(self, public, case, language, sentence):
        response = public.get(url(language, "corridors:dossier", case.corridor.pk) + "?format=pdf")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        reader = PdfReader(io.BytesIO(response.content))
        width, height = float(reader.pages[0].mediabox.width), float(reader.pages[0].mediabox.height)
        assert (round(width), round(height)) == (595, 842)  # A4 in points
        text = pdf_text(response.content)
        assert sentence in text
        assert "Back to the corridor" not in text  # screen only

    def test_without_weasyprint_it_answers_a_clear_error(self, public, case, monkeypatch):
        from corridors import views

        def missing(html):
            raise views.PdfUnavailable("cannot load library 'libpango-1.0-0'")

        monkeypatch.setattr(views, "render_pdf", missing)
        response = public.get(url("en", "corridors:dossier", case.corridor.pk) + "?format=pdf")
        assert response.status_code == 503
        assert "WeasyPrint" in response.content.decode() and "Pango" in response.content.decode()
        assert public.get(url("en", "corridors:dossier", case.corridor.pk)).status_code == 200


class TestTheCheck:
    def digest(self, public, case):
        body = public.get(url("en", "corridors:dossier", case.corridor.pk)).content.decode()
        return re.search(r"<code>([0-9a-f]{64})</code>", body).group(1)

    def test_unchanged_data_says_the_same(self, public, case):
        digest = self.digest(public, case)
        text = text_of(public.get(url("en", "corridors:dossier_verify") + f"?digest={digest}").content)
        assert "The live data still says the same as the dossier." in text

    def test_a_changed_figure_is_reported(self, public, case, carol, django_capture_on_commit_callbacks):
        digest = self.digest(public, case)
        departure = Departure.objects.get(pk=case.departure.pk)
        departure.count = 120
        departure.save()
        text = text_of(public.get(url("en", "corridors:dossier_verify") + f"?digest={digest}").content)
        assert "The live data has changed since: 1 difference." in text
        assert f"Departure {departure.pk} › count 100 120" in text
        uk = text_of(public.get(url("uk", "corridors:dossier_verify") + f"?digest={digest}").content)
        assert "змінилися" in uk

    def test_a_new_flag_is_reported_as_added(self, public, case):
        digest = self.digest(public, case)
        from tests import factories

        factories.FlagFactory(
            window=case.windows[3], hostility=factories.HostilityReportFactory(site=case.corridor.origin)
        )
        text = text_of(public.get(url("en", "corridors:dossier_verify") + f"?digest={digest}").content)
        assert "(added since)" in text

    def test_the_pdf_can_be_uploaded(self, public, case):
        pdf = public.get(url("en", "corridors:dossier", case.corridor.pk) + "?format=pdf").content
        upload = io.BytesIO(pdf)
        upload.name = "dossier.pdf"
        text = text_of(public.post(url("en", "corridors:dossier_verify"), {"pdf": upload}).content)
        assert "The live data still says the same as the dossier." in text

    def test_an_unknown_digest_is_said_so(self, public, db):
        text = text_of(public.get(url("en", "corridors:dossier_verify") + "?digest=" + "a" * 64).content)
        assert "No dossier with this digest was ever generated here." in text

    def test_a_file_without_a_digest_is_said_so(self, public, db):
        upload = io.BytesIO(b"not a pdf")
        upload.name = "x.pdf"
        response = public.post(url("en", "corridors:dossier_verify"), {"pdf": upload})
        assert response.status_code == 400
        assert "No dossier digest was found in this file." in text_of(response.content)
