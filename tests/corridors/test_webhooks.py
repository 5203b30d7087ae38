"""
Webhooks (docs/api.md, "Webhooks"): endpoints registered through the API, events
written in the transaction of their change, signed deliveries (Standard Webhooks) to
a real HTTP receiver on a free port, in order, retried with the same id, logged,
and an endpoint that never answers turned off. Eager tasks: the deliveries run
after each commit, in the test's process.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import standardwebhooks
from django.core import mail
from django.db import transaction

from corridors import events, flagging, services, webhooks
from corridors.models import Flag, Webhook, WebhookAttempt, WebhookDelivery, WebhookEvent
from tests import factories
from tests.api import api, url
from tests.receiver import Receiver
from tracker.models import HostilityReport

pytestmark = pytest.mark.django_db(transaction=True)
UTC = dt.UTC
NOW = dt.datetime(2022, 5, 6, 9, 0, tzinfo=UTC)


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _private_addresses_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def window(corridor):
    return factories.WindowFactory(corridor=corridor, starts_at=utc(2022, 5, 5, 5), ends_at=utc(2022, 5, 5, 15))


def register(user, receiver, **fields):
    body = {"url": receiver.url, "events": ["flag.raised", "flag.withdrawn", "flag.reviewed"], **fields}
    response = api(user).post(url("webhook-list"), body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def raise_flag(window, site):
    report = factories.HostilityReportFactory(
        site=site, started_at=utc(2022, 5, 5, 7), ended_at=utc(2022, 5, 5, 9), time_precision="exact"
    )
    with transaction.atomic():
        flagging.flags_check_reports(report_ids=[report.pk], now=NOW)
    return report


def verify(secret, received):
    return standardwebhooks.Webhook(secret).verify(received.body, received.headers)


class TestRegistering:
    def test_a_coordinator_registers_an_endpoint_and_sees_its_secret_once(self, carol, receiver):
        created = register(carol, receiver)
        assert created["secret"].startswith("whsec_")
        assert created["owner"] == carol.pk and created["active"] is True
        again = api(carol).get(url("webhook-detail", created["id"]))
        assert again.status_code == 200 and again.json()["secret"] is None
        listed = api(carol).get(url("webhook-list")).json()["results"]
        assert listed[0]["secret"] is None
        changed = api(carol).patch(url("webhook-detail", created["id"]), {"active": False}, format="json")
        assert changed.status_code == 200 and changed.json()["secret"] is None
        assert created["secret"] not in str(api(carol).get(url("webhook-deliveries", created["id"])).content)

    @pytest.mark.parametrize("who", ["alice", "public"])
    def test_reporters_and_the_public_may_not(self, request, who, receiver):
        client = api(None if who == "public" else request.getfixturevalue(who))
        assert client.post(
            url("webhook-list"), {"url": receiver.url, "events": ["flag.raised"]}, format="json"
        ).status_code in (401, 403)
        assert client.get(url("webhook-list")).status_code in (401, 403)

    def test_a_coordinator_sees_only_their_own_and_an_admin_all(self, carol, dave, receiver, ngo_a):
        mine = register(carol, receiver)
        other = register(factories.UserFactory(username="erin", organisation=ngo_a, role="coordinator"), receiver)
        assert [w["id"] for w in api(carol).get(url("webhook-list")).json()["results"]] == [mine["id"]]
        assert api(carol).get(url("webhook-detail", other["id"])).status_code == 404
        assert {w["id"] for w in api(dave).get(url("webhook-list")).json()["results"]} == {mine["id"], other["id"]}

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"events": []}, "events"),
            ({"events": ["flag.exploded"]}, "events"),
            ({"url": "ftp://example.org/hook"}, "url"),
            ({"url": "not a url"}, "url"),
            ({"corridors": [999999]}, "corridors"),
        ],
    )
    def test_bad_input_is_a_400_naming_the_field(self, carol, receiver, body, field):
        response = api(carol).post(
            url("webhook-list"), {"url": receiver.url, "events": ["flag.raised"], **body}, format="json"
        )
        assert response.status_code == 400 and field in response.json(), response.content
        assert not Webhook.objects.exists()

    @pytest.mark.parametrize(
        "address",
        [
            "http://127.0.0.1:8000/hook",
            "http://localhost/hook",
            "http://10.1.2.3/hook",
            "http://192.168.0.1/hook",
            "http://172.16.0.1/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://0.0.0.0/hook",
            "http://100.64.0.1/hook",
        ],
    )
    def test_private_loopback_and_link_local_targets_are_refused(self, settings, carol, address):
        settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
        response = api(carol).post(url("webhook-list"), {"url": address, "events": ["flag.raised"]}, format="json")
        assert response.status_code == 400, response.content
        assert "private" in response.json()["url"][0]

    def test_an_endpoint_that_came_to_resolve_privately_is_not_called(
        self, settings, carol, receiver, window, azovstal
    ):
        register(carol, receiver)
        settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
        raise_flag(window, azovstal)
        assert receiver.received == []
        attempt = WebhookAttempt.objects.get()
        assert attempt.status_code is None and "private" in attempt.error


class TestDelivering:
    def test_a_raised_flag_is_delivered_signed_with_the_flag_as_the_api_gives_it(
        self, carol, receiver, window, azovstal
    ):
        secret = register(carol, receiver)["secret"]
        report = raise_flag(window, azovstal)
        [received] = receiver.received
        body = verify(secret, received)
        flag = Flag.objects.get(hostility=report)
        assert body["type"] == "flag.raised" and body["resource"] == "flags"
        assert body["data"] == api().get(url("flag-detail", flag.pk)).json()
        assert received.headers["webhook-id"].startswith("msg_")
        assert abs(int(received.headers["webhook-timestamp"]) - dt.datetime.now(UTC).timestamp()) < 60

    def test_a_tampered_body_does_not_verify(self, carol, receiver, window, azovstal):
        secret = register(carol, receiver)["secret"]
        raise_flag(window, azovstal)
        [received] = receiver.received
        with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
            standardwebhooks.Webhook(secret).verify(received.body.replace(b"open", b"shut"), received.headers)

    def test_a_failed_delivery_is_retried_with_the_same_id(self, carol, receiver, window, azovstal):
        receiver.answers = [500]
        secret = register(carol, receiver)["secret"]
        raise_flag(window, azovstal)
        assert len(receiver.received) == 1
        webhooks.webhook_deliver(webhook_id=Webhook.objects.get().pk)  # the retry the timer (or the sweep) runs
        first, second = receiver.received
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        assert verify(secret, second)["type"] == "flag.raised"
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == "delivered" and delivery.attempts == 2

    def test_a_withdrawal_never_goes_before_its_raise(self, settings, carol, receiver, window, azovstal):
        settings.WEBHOOK_RETRY_SCHEDULE = [3600]
        receiver.answers = [500]
        register(carol, receiver)
        report = raise_flag(window, azovstal)
        HostilityReport.objects.filter(pk=report.pk).update(verification="retracted")
        with transaction.atomic():
            flagging.flags_check_reports(report_ids=[report.pk], now=NOW)
        # The raise failed: the withdrawal waits behind it.
        assert [json.loads(r.body)["type"] for r in receiver.received] == ["flag.raised"]
        assert webhooks.webhook_deliver(webhook_id=Webhook.objects.get().pk) is not None  # not due for an hour
        WebhookDelivery.objects.update(next_attempt_at=dt.datetime.now(UTC))
        webhooks.webhook_deliver(webhook_id=Webhook.objects.get().pk)
        assert [json.loads(r.body)["type"] for r in receiver.received] == [
            "flag.raised",
            "flag.raised",
            "flag.withdrawn",
        ]

    def test_an_event_is_written_with_its_change_or_not_at_all(self, carol, receiver, window, azovstal):
        register(carol, receiver)
        report = factories.HostilityReportFactory(site=azovstal, started_at=utc(2022, 5, 5, 7))
        with pytest.raises(RuntimeError), transaction.atomic():
            flagging.flags_check_reports(report_ids=[report.pk], now=NOW)
            assert WebhookEvent.objects.count() == 1
            raise RuntimeError("rolled back")
        assert not WebhookEvent.objects.exists() and not WebhookDelivery.objects.exists()
        assert receiver.received == []

    def test_the_corridor_filter_and_the_event_types_choose_the_endpoints(self, carol, window, azovstal, corridor):
        wanted, other_corridor, other_type = Receiver(), Receiver(), Receiver()
        try:
            register(carol, wanted, corridors=[corridor.pk])
            register(carol, other_corridor, corridors=[factories.CorridorFactory().pk])
            register(carol, other_type, events=["figure.created"])
            raise_flag(window, azovstal)
            assert len(wanted.received) == 1
            assert other_corridor.received == [] and other_type.received == []
        finally:
            for r in (wanted, other_corridor, other_type):
                r.close()

    def test_a_review_and_a_cancelled_window_are_events(self, carol, receiver, window, azovstal):
        register(carol, receiver, events=["flag.reviewed", "window.cancelled"])
        raise_flag(window, azovstal)
        flag = Flag.objects.get()
        with transaction.atomic():
            services.flag_review(flag=flag, user=carol, status="acknowledged", note="")
        window.cancelled = True
        with transaction.atomic():
            services.window_save(window=window, user=carol)
        bodies = [json.loads(r.body) for r in receiver.received]
        assert [b["type"] for b in bodies] == ["flag.reviewed", "window.cancelled"]
        assert bodies[0]["data"]["status"] == "acknowledged"
        assert bodies[1]["data"]["status"] == "cancelled" and bodies[1]["resource"] == "windows"

    def test_a_new_figure_through_the_api_is_an_event(self, carol, alice, receiver, azovstal):
        register(carol, receiver, events=["figure.created", "figure.updated"])
        source = factories.SourceFactory()
        body = {"site": azovstal.pk, "kind": "shelling", "started_at": "2022-05-05T07:00:00Z", "source": source.pk}
        created = api(alice).post(url("hostility-list"), body, format="json")
        assert created.status_code == 201, created.content
        [received] = receiver.received
        sent = json.loads(received.body)
        assert sent["type"] == "figure.created" and sent["resource"] == "hostilities"
        assert sent["data"] == created.json()

    def test_a_window_opening_is_told_once(self, carol, receiver, window):
        register(carol, receiver, events=["window.opened"])
        assert events.windows_opened(now=utc(2022, 5, 5, 6)) == 1
        assert events.windows_opened(now=utc(2022, 5, 5, 7)) == 0
        [received] = receiver.received
        assert json.loads(received.body)["data"]["id"] == window.pk

    def test_an_endpoint_failing_for_the_whole_schedule_is_turned_off_and_its_owner_told(
        self, carol, receiver, window, azovstal
    ):
        carol.email = "carol@example.org"
        carol.save()
        receiver.answers = [500, 500, 500]
        register(carol, receiver)
        raise_flag(window, azovstal)
        hook = Webhook.objects.get()
        webhooks.webhook_deliver(webhook_id=hook.pk)
        webhooks.webhook_deliver(webhook_id=hook.pk)
        hook.refresh_from_db()
        assert hook.active is False and "undelivered after 3 attempts" in hook.disabled_reason
        assert WebhookDelivery.objects.get().status == "failed"
        assert [m.to for m in mail.outbox] == [["carol@example.org"]]
        assert hook.url in mail.outbox[0].body
        assert webhooks.webhooks_due(now=dt.datetime.now(UTC)) == []

    def test_the_delivery_log_says_each_attempt(self, carol, receiver, window, azovstal):
        receiver.answers = [503]
        hook = register(carol, receiver)
        raise_flag(window, azovstal)
        webhooks.webhook_deliver(webhook_id=hook["id"])
        log = api(carol).get(url("webhook-deliveries", hook["id"]))
        assert log.status_code == 200
        rows = log.json()["results"]
        assert [(r["number"], r["status_code"]) for r in rows] == [(2, 200), (1, 503)]
        assert rows[0]["event_id"] == rows[1]["event_id"] and rows[0]["event_type"] == "flag.raised"
        assert all(r["latency_ms"] >= 0 for r in rows)
        assert len(rows[1]["response_excerpt"]) == webhooks.EXCERPT  # a 5,000-byte answer, kept short
        assert (
            api(factories.UserFactory(role="coordinator")).get(url("webhook-deliveries", hook["id"])).status_code == 404
        )

    def test_a_test_event_is_sent_on_request(self, carol, receiver):
        hook = register(carol, receiver)
        response = api(carol).post(url("webhook-test", hook["id"]))
        assert response.status_code == 202
        [received] = receiver.received
        assert json.loads(received.body)["type"] == "webhook.test"
        assert received.headers["webhook-id"] == response.json()["event_id"]

    def test_two_runs_never_send_one_endpoints_events_at_once(self, carol, receiver):
        hook = register(carol, receiver)
        Webhook.objects.filter(pk=hook["id"]).update(lease_until=dt.datetime.now(UTC) + dt.timedelta(minutes=1))
        webhooks.webhook_send_test(webhook=Webhook.objects.get(), now=dt.datetime.now(UTC))
        assert webhooks.webhook_deliver(webhook_id=hook["id"]) is None
        assert receiver.received == []


class TestAdmin:
    def test_a_coordinator_adds_an_endpoint_sees_its_secret_once_and_sends_a_test(self, login, carol, receiver):
        client = login(carol)
        add = client.post(
            "/admin/corridors/webhook/add/",
            {"url": receiver.url, "events": ["flag.raised"], "active": "on", "corridors": []},
            follow=True,
        )
        assert add.status_code == 200
        hook = Webhook.objects.get()
        assert hook.owner == carol
        assert hook.secret in add.content.decode()
        page = client.get(f"/admin/corridors/webhook/{hook.pk}/change/").content.decode()
        assert hook.secret not in page
        client.post("/admin/corridors/webhook/", {"action": "send_test", "_selected_action": [hook.pk]})
        [received] = receiver.received
        assert json.loads(received.body)["type"] == "webhook.test"
        assert "webhook.test" in client.get(f"/admin/corridors/webhook/{hook.pk}/change/").content.decode()

    def test_a_private_address_is_refused_in_the_admin_too(self, settings, login, carol):
        settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
        response = login(carol).post(
            "/admin/corridors/webhook/add/", {"url": "http://127.0.0.1/hook", "events": ["flag.raised"]}
        )
        assert response.status_code in (200, 400)
        assert not Webhook.objects.exists()
