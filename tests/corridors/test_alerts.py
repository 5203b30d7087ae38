"""
E-mail alerts of raised flags (issue 14, "Alerts to people"), sent through a real
SMTP server run by the test (aiosmtpd on a free port): at once or in a digest, in
the subscriber's language, only for windows that are open or to come, and never
lost when the mail server is away.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import subprocess
import sys

import pytest
from aiosmtpd.controller import Controller
from django.db import transaction

from corridors import alerts, flagging, services, tasks
from corridors.models import AlertSubscription, FlagAlert
from tests import factories
from tests.api import api, url
from tests.live import free_port

pytestmark = pytest.mark.django_db
UTC = dt.UTC
NOW = dt.datetime(2022, 5, 5, 8, 0, tzinfo=UTC)  # the window below is open


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def smtp(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.SITE_URL = "https://tracker.example.org"
    inbox.controller = controller
    yield inbox
    inbox.controller.stop()


@pytest.fixture
def window(corridor):
    return factories.WindowFactory(corridor=corridor, starts_at=utc(2022, 5, 5, 5), ends_at=utc(2022, 5, 5, 15))


@pytest.fixture
def subscribed(carol):
    carol.email = "carol@example.org"
    carol.save()
    with transaction.atomic():
        return services.alert_subscription_save(subscription=AlertSubscription(language="uk"), user=carol)


def raise_flag(site, **fields):
    report = factories.HostilityReportFactory(
        site=site, started_at=utc(2022, 5, 5, 7), ended_at=utc(2022, 5, 5, 9), time_precision="exact", **fields
    )
    with transaction.atomic():
        flagging.flags_check_reports(report_ids=[report.pk], now=NOW)
    return report


def body(message):
    return message.get_body(preferencelist=("plain",)).get_content()


class TestInstant:
    def test_a_flag_on_an_open_window_is_mailed_at_once_in_the_subscribers_language(
        self, smtp, subscribed, window, azovstal, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            raise_flag(azovstal, source=factories.SourceFactory(name="Azov regiment"))
        [message] = smtp.messages
        assert message["To"] == "carol@example.org"
        assert str(message["Subject"]).strip() == "Нова позначка: Azovstal → Zaporizhzhia"
        text = body(message)
        assert "Обстріл" in text and "Azov regiment" in text, text
        assert "https://tracker.example.org/uk/staff/flags/" in text
        assert FlagAlert.objects.get().sent_at is not None

    def test_a_flag_on_a_closed_window_is_not_mailed(self, smtp, subscribed, corridor, azovstal):
        factories.WindowFactory(corridor=corridor, starts_at=utc(2022, 5, 4, 5), ends_at=utc(2022, 5, 4, 15))
        report = factories.HostilityReportFactory(site=azovstal, started_at=utc(2022, 5, 4, 7))
        with transaction.atomic():
            flagging.flags_check_reports(report_ids=[report.pk], now=NOW)
        assert not FlagAlert.objects.exists() and smtp.messages == []

    def test_only_the_chosen_corridors_are_mailed(self, smtp, subscribed, window, azovstal):
        subscribed.corridors.set([factories.CorridorFactory()])
        raise_flag(azovstal)
        assert smtp.messages == [] and not FlagAlert.objects.exists()

    def test_nothing_is_lost_while_the_mail_server_is_away(
        self, settings, smtp, subscribed, window, azovstal, django_capture_on_commit_callbacks
    ):
        smtp.controller.stop()
        with django_capture_on_commit_callbacks(execute=True):
            raise_flag(azovstal)  # the flag is committed; the mail is not sent
        assert FlagAlert.objects.get().sent_at is None
        # Back, on another port (the old one may linger): the sweep sends what waited.
        smtp.controller = Controller(smtp, hostname="127.0.0.1", port=free_port())
        smtp.controller.start()
        settings.EMAIL_PORT = smtp.controller.port
        tasks.sweep_flag_alerts()
        assert len(smtp.messages) == 1
        tasks.sweep_flag_alerts()
        assert len(smtp.messages) == 1  # sent once


class TestDigest:
    def test_digest_subscribers_get_one_message_for_many_flags(self, smtp, subscribed, window, azovstal, corridor):
        subscribed.delivery = AlertSubscription.Delivery.DIGEST
        subscribed.language = "en"
        subscribed.save()
        raise_flag(azovstal)
        raise_flag(azovstal, kind="air_strike")
        assert smtp.messages == []
        tasks.sweep_flag_alerts()  # the instant sweep leaves digests alone
        assert smtp.messages == []
        tasks.sweep_flag_alerts(digest=True)
        [message] = smtp.messages
        assert str(message["Subject"]).strip() == "2 flags raised"
        text = body(message)
        assert "Shelling at Azovstal" in text and "Air strike at Azovstal" in text
        assert alerts.flag_alerts_due(digest=True) == []


class TestSubscribing:
    def test_a_coordinator_subscribes_through_the_api(self, carol, corridor):
        carol.email = "carol@example.org"
        carol.save()
        body = {"corridors": [corridor.pk], "delivery": "digest", "language": "en"}
        response = api(carol).post(url("alert-list"), body, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["user"] == carol.pk and response.json()["corridors"] == [corridor.pk]

    def test_an_account_without_an_email_address_is_told_so(self, carol):
        response = api(carol).post(url("alert-list"), {"delivery": "instant"}, format="json")
        assert response.status_code == 400 and "user" in response.json()

    def test_a_reporter_may_not(self, alice):
        assert api(alice).post(url("alert-list"), {}, format="json").status_code == 403

    def test_a_bad_delivery_is_a_400_naming_it(self, carol):
        response = api(carol).post(url("alert-list"), {"delivery": "hourly"}, format="json")
        assert response.status_code == 400 and "delivery" in response.json()


def test_email_url_configures_the_mail_server():
    env = {
        **os.environ,
        "EMAIL_URL": "smtp://user:pw@mail.example.org:587/?tls=True",
        "DJANGO_SETTINGS_MODULE": "tracker.settings",
    }
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_HOST_USER, s.EMAIL_USE_TLS)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["mail.example.org", "587", "user", "True"]
