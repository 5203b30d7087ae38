"""
Webhooks end to end, as production runs them: PostgreSQL, a private `redis-server`
that the test stops and starts, a real `celery worker` and `celery beat`, and a real
HTTP receiver on a free port. A report committed here raises a flag in the worker;
its `flag.raised` arrives signed, is retried with the same `webhook-id` after the
receiver's 500, and an event made while Redis is down arrives once it is back.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import standardwebhooks
from django.db import transaction

from corridors import services
from corridors.models import CorridorWindow, Flag, Webhook, WebhookDelivery
from tests import factories
from tests.corridors.test_flag_worker import publishing_to
from tests.live import PrivateRedis, beat, wait_for, worker
from tests.receiver import Receiver
from tracker import services as tracker_services
from tracker.celery import app as celery_app
from tracker.models import HostilityReport

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
UTC = dt.UTC
FAST = {
    "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "1",
    "WEBHOOK_RETRY_SCHEDULE": "1,1,1,1,1,1,1,1",
    "WEBHOOK_SWEEP_INTERVAL": "1",
}


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def redis_server(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def types(receiver):
    return [json.loads(r.body)["type"] for r in receiver.received]


def test_a_flag_raised_by_the_worker_is_delivered_signed_retried_and_survives_a_redis_outage(
    settings, tmp_path, redis_server, receiver, carol
):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    celery_app.conf.task_always_eager = False  # the autouse fixture restores it
    shelter = factories.SiteFactory(name="Azovstal")
    corridor = factories.CorridorFactory(origin=shelter)
    CorridorWindow.objects.create(corridor=corridor, starts_at=utc(2022, 5, 5, 5), ends_at=utc(2022, 5, 5, 15))
    source = factories.SourceFactory()
    receiver.answers = [500]
    with transaction.atomic():
        hook = services.webhook_save(
            webhook=Webhook(url=receiver.url, events=["flag.raised", "flag.reviewed"]), user=carol
        )
    processes = [worker(tmp_path, redis_server.url, **FAST), beat(tmp_path, redis_server.url, **FAST)]
    try:
        with publishing_to(redis_server.url):
            report = HostilityReport(site=shelter, kind="shelling", source=source, started_at=utc(2022, 5, 5, 7))
            with transaction.atomic():
                tracker_services.hostility_report_save(report=report, user=carol)
            wait_for(lambda: len(receiver.received) >= 2, 180, "the flag.raised delivered, then retried after the 500")
            first, retried = receiver.received[:2]
            assert first.headers["webhook-id"] == retried.headers["webhook-id"]
            body = standardwebhooks.Webhook(hook.secret).verify(retried.body, retried.headers)
            flag = Flag.objects.get(hostility=report)
            assert body["type"] == "flag.raised" and body["data"]["id"] == flag.pk

            # Redis goes away: the review is saved, its event with it; the delivery waits.
            redis_server.stop()
            with transaction.atomic():
                services.flag_review(flag=flag, user=carol, status="acknowledged", note="")
            assert WebhookDelivery.objects.filter(event__type="flag.reviewed", status="pending").count() == 1
            redis_server.start()
            wait_for(lambda: "flag.reviewed" in types(receiver), 180, "the review's event delivered after the outage")
            # The receiver has the request before the worker records the answer: wait for that too.
            wait_for(
                lambda: not WebhookDelivery.objects.exclude(status="delivered").exists(),
                60,
                "every delivery recorded as delivered",
            )
            assert types(receiver) == ["flag.raised", "flag.raised", "flag.reviewed"]
    finally:
        for process in reversed(processes):
            process.stop()
