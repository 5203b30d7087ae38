"""A webhook deleted while one of its deliveries is being attempted: real concurrent transactions on PostgreSQL."""

from __future__ import annotations

import pytest

from corridors import services, webhooks
from corridors.models import Webhook, WebhookAttempt, WebhookDelivery, WebhookEvent
from tests.concurrency import Side
from tests.receiver import Receiver

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_webhook_deleted_during_an_attempt_waits_for_its_log_line(settings, carol):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    receiver = Receiver(delay=1.0)  # the attempt is under way while the deletion comes
    try:
        hook = services.webhook_save(webhook=Webhook(url=receiver.url, events=["flag.raised"]), user=carol)
        # A delivery due, with no task queued for it: the side below sends it.
        event = WebhookEvent.objects.create(uid="msg_1", type="webhook.test", resource="webhooks", data={})
        WebhookDelivery.objects.create(webhook=hook, event=event)
        attempt = Side(lambda: webhooks.webhook_deliver(webhook_id=hook.pk), atomic=False).start()
        assert receiver.arrived.wait(20)  # the POST is under way
        deletion = Side(lambda: services.webhook_delete(webhook=hook, user=carol)).start()
        blocked = deletion.wait_until_blocked()
        if not blocked:
            deletion.result()
        assert blocked  # on the endpoint's row, held by the attempt
        attempt.result()
        deletion.result()
        assert not Webhook.objects.exists()
        assert not WebhookDelivery.objects.exists() and not WebhookAttempt.objects.exists()
    finally:
        receiver.close()
