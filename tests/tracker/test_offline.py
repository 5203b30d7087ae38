"""
The installable staff forms on the server's side (tracker/offline.py): the manifest and
the worker at the root, the outbox's session check, and a quick form that answers the
device's outbox in JSON and saves one entry once per Idempotency-Key, however often
it is sent.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import translation

from tests import factories
from tracker.models import CivilianCount, HostilityReport, IdempotencyRecord, Role

pytestmark = pytest.mark.django_db
UTC = dt.UTC
NOW = dt.datetime(2022, 5, 6, 9, 0, tzinfo=UTC)
OUTBOX = {"HTTP_X_TRACKER_OUTBOX": "1", "HTTP_ACCEPT": "application/json"}


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=False):
        yield


def url(name, language="en"):
    with translation.override(language):
        return reverse(name)


@pytest.fixture
def azovstal(db):
    return factories.SiteFactory(name="Azovstal steel plant", timezone="Europe/Kyiv")


@pytest.fixture
def count(azovstal):
    """A count as the outbox sends it: 10:00 typed for the plant means 10:00 Kyiv time."""
    source = factories.SourceFactory()
    return {
        "site": azovstal.pk,
        "count": "150",
        "qualifier": "approximately",
        "as_of": "2022-05-06T10:00",
        "source": source.pk,
    }


def send(client, data, key, **extra):
    return client.post(url("tracker:count_new"), data, HTTP_IDEMPOTENCY_KEY=key, **OUTBOX, **extra)


class TestManifestAndWorker:
    def test_the_manifest_starts_the_app_at_the_staff_pages_in_the_language_asked(self, client):
        response = client.get("/manifest.webmanifest?lang=uk")
        assert response["Content-Type"] == "application/manifest+json"
        manifest = json.loads(response.content)
        assert (manifest["start_url"], manifest["display"], manifest["lang"]) == ("/uk/staff/", "standalone", "uk")
        assert manifest["name"] == "Трекер евакуації: введення в полі"
        assert {"192x192", "512x512"} <= {icon["sizes"] for icon in manifest["icons"]}
        for icon in manifest["icons"]:
            assert finders.find(icon["src"].removeprefix("/static/"))

    def test_the_worker_is_served_at_the_root_never_kept_stale_and_under_the_policy(self, client):
        response = client.get("/sw.js")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/javascript")
        assert response["Service-Worker-Allowed"] == "/"
        assert response["Cache-Control"] == "no-cache"
        assert "script-src 'self'" in response["Content-Security-Policy"]
        body = response.content.decode()
        assert '"/en/staff/counts/new/"' in body and '"/uk/staff/arrivals/new/"' in body
        # It keeps staff pages and static files only: never the API, the admin or a public page.
        config = json.loads(body.split("var CONFIG = ", 1)[1].split(";\n", 1)[0])
        kept = config["static"] + [page for pages in config["pages"].values() for page in pages]
        assert all(path.startswith(("/static/", "/en/staff/", "/uk/staff/")) for path in kept)

    def test_the_staff_pages_link_the_manifest_and_load_no_inline_script(self, login, alice):
        html = login(alice).get(url("tracker:count_new")).content.decode()
        assert '<link rel="manifest" href="/manifest.webmanifest?lang=en">' in html
        assert "<script>" not in html
        assert '<script id="offline-strings" type="application/json">' in html


def test_logging_out_tells_the_browser_to_clear_what_the_device_kept(login, alice):
    response = login(alice).post(url("tracker:logout"))
    assert response.status_code == 302
    assert response["Clear-Site-Data"] == '"storage"'


class TestSession:
    def test_it_gives_the_person_and_a_csrf_token(self, login, alice):
        response = login(alice).get(url("tracker:outbox_session"))
        body = response.json()
        assert body["user"] == alice.pk and len(body["csrf"]) >= 32
        assert "no-store" in response["Cache-Control"]

    def test_without_a_login_it_answers_401_not_a_login_page(self, client):
        response = client.get(url("tracker:outbox_session"))
        assert response.status_code == 401
        assert response.json()["status"] == "login"


class TestOutboxEntry:
    def test_a_saved_entry_is_answered_with_a_link_and_its_time_is_local_at_the_site(self, login, alice, count):
        response = send(login(alice), count, "key-1")
        assert response.status_code == 201
        body = response.json()
        saved = CivilianCount.objects.get()
        assert body["status"] == "saved"
        assert body["url"] == f"/admin/tracker/civiliancount/{saved.pk}/change/"
        assert saved.as_of == dt.datetime(2022, 5, 6, 7, 0, tzinfo=UTC)  # 10:00 in Kyiv (UTC+3)

    def test_the_same_key_again_saves_nothing_more_and_gets_the_same_answer(self, login, alice, count):
        client = login(alice)
        first = send(client, count, "key-1")
        again = send(client, count, "key-1")
        assert CivilianCount.objects.count() == 1
        assert again.status_code == 201
        assert again["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()

    def test_a_refused_entry_keeps_no_record_so_its_key_can_be_sent_corrected(self, login, alice, count):
        client = login(alice)
        refused = send(client, {**count, "count": ""}, "key-1")
        assert refused.status_code == 400
        assert refused.json()["errors"] == {"count": ["This field is required."]}
        assert refused.json()["labels"]["count"] == "Count"
        assert not IdempotencyRecord.objects.exists()
        assert send(client, count, "key-1").status_code == 201
        assert CivilianCount.objects.count() == 1

    def test_a_key_used_for_another_entry_is_refused(self, login, alice, count):
        client = login(alice)
        send(client, count, "key-1")
        response = send(client, {**count, "count": "151"}, "key-1")
        assert response.status_code == 400
        assert "already used for another entry" in response.json()["errors"]["__all__"][0]
        assert CivilianCount.objects.count() == 1

    def test_one_persons_key_is_not_anothers(self, login, client, alice, carol, count):
        send(login(alice), count, "key-1")
        assert send(login(carol), count, "key-1").status_code == 201
        assert CivilianCount.objects.count() == 2

    def test_without_a_login_it_answers_401_and_saves_nothing(self, client, count):
        response = send(client, count, "key-1")
        assert response.status_code == 401
        assert response.json()["status"] == "login"
        assert not CivilianCount.objects.exists()

    def test_someone_outside_any_organisation_is_refused_in_json(self, login, count):
        loner = factories.UserFactory(username="loner", organisation=None, role=Role.REPORTER)
        response = send(login(loner), count, "key-1")
        assert response.status_code == 403
        assert response.json()["status"] == "refused"

    def test_the_page_posted_twice_with_one_key_saves_once(self, login, alice, count):
        client = login(alice)
        for _ in range(2):
            response = client.post(url("tracker:count_new"), {**count, "idempotency_key": "tap-1"})
            assert response.status_code == 302
        assert CivilianCount.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_report_sent_again_says_what_it_flags_after_its_commit(login, alice, azovstal):
    corridor = factories.CorridorFactory(name="Azovstal → Zaporizhzhia", origin=azovstal)
    factories.WindowFactory(corridor=corridor, starts_at=dt.datetime(2022, 5, 6, 5, tzinfo=UTC))
    data = {
        "site": azovstal.pk,
        "kind": "shelling",
        "started_at": "2022-05-06T10:00",
        "time_precision": "exact",
        "source": factories.SourceFactory().pk,
    }
    client = login(alice)
    answers = [
        client.post(url("tracker:hostility_new"), data, HTTP_IDEMPOTENCY_KEY="r-1", **OUTBOX).json() for _ in range(2)
    ]
    assert HostilityReport.objects.count() == 1
    assert answers[0] == answers[1]
    assert answers[0]["message"].startswith("Hostility report saved. It flags 1 corridor window")
