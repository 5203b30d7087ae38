"""
Webhook deliveries (Standard Webhooks, https://www.standardwebhooks.com/):

    webhook-id:        the event's id, the same on every retry (receivers deduplicate on it)
    webhook-timestamp: the attempt's time, in whole seconds since the epoch
    webhook-signature: "v1," + base64(HMAC-SHA256(secret, f"{id}.{timestamp}.{body}"))
    body:              {"type", "timestamp", "resource", "data"}

An endpoint's deliveries go out one at a time, in the order of their events: a
withdrawal never reaches it before the raise. A run claims the endpoint with a lease
(a conditional UPDATE), sends what is due, and stops at the first failure, which is
tried again after WEBHOOK_RETRY_SCHEDULE; the events behind it wait. When the last
retry fails (about a day), the delivery is given up, the endpoint turned off and its
owner told by e-mail. The sweep (every minute) starts a run for every endpoint with
something due and no live lease: a lost task, a broker outage or a dead worker
delays a delivery, never loses it.

Addresses: an endpoint must resolve only to public addresses (no private, loopback,
link-local, reserved or multicast one), checked when it is saved and again before
every attempt; redirects are not followed. WEBHOOK_ALLOW_PRIVATE_ADDRESSES lifts
this for closed networks and the tests.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from corridors.models import Webhook, WebhookAttempt, WebhookDelivery, WebhookEvent

log = logging.getLogger("corridors.webhooks")

# How long a run may hold an endpoint before another may take it over (a worker killed mid-run).
LEASE = dt.timedelta(minutes=5)
# Deliveries one run sends before it hands over to a new task (others' endpoints get their turn).
RUN_SIZE = 100
EXCERPT = 200
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def body_of(event: WebhookEvent) -> bytes:
    payload = {
        "type": event.type,
        "timestamp": event.created_at.isoformat().replace("+00:00", "Z"),
        "resource": event.resource,
        "data": event.data,
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


# -- where an endpoint may point


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def url_problem(url: str) -> str | None:
    """Why an endpoint may not be called at this URL, or None. Resolves its host (DNS)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return _("Give an http:// or https:// address.")
    if parts.username or parts.password:
        return _("Give the address without a user name or password in it.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError):
        return _("This address's host name does not resolve.")
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return None
    if not all(_public(str(info[4][0])) for info in infos):
        return _("This address leads to a private, loopback or link-local network: only public addresses are called.")
    return None


def check_url(url: str) -> None:
    problem = url_problem(url)
    if problem:
        raise ValidationError({"url": problem})


# -- sending


@dataclass
class Result:
    status_code: int | None
    latency_ms: int
    error: str = ""
    excerpt: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def send(webhook: Webhook, event: WebhookEvent, *, now: dt.datetime) -> Result:
    """One signed POST of the event to the endpoint; never raises."""
    problem = url_problem(webhook.url)
    if problem:
        return Result(None, 0, error=problem)
    body = body_of(event)
    timestamp = int(now.timestamp())
    headers = {
        "content-type": "application/json",
        "user-agent": "evacuation-tracker-webhooks/1",
        "webhook-id": event.uid,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(webhook.secret, event.uid, timestamp, body),
    }
    started = time.perf_counter()
    try:
        with requests.post(
            webhook.url,
            data=body,
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT,
            allow_redirects=False,
            stream=True,
        ) as response:
            # A short excerpt only: the rest of the body is never read.
            excerpt = response.raw.read(EXCERPT * 4, decode_content=True).decode("utf-8", "replace")[:EXCERPT]
            latency = int((time.perf_counter() - started) * 1000)
            return Result(response.status_code, latency, excerpt=excerpt)
    except requests.RequestException as exc:
        latency = int((time.perf_counter() - started) * 1000)
        return Result(None, latency, error=f"{type(exc).__name__}: {exc}"[:300])


def _claim(webhook_id: int, now: dt.datetime) -> bool:
    """
    Take the endpoint for one run, or None when another run holds it. A conditional
    UPDATE, so that two workers never send an endpoint's events at once (out of order).
    """
    claimed = (
        Webhook.objects.filter(pk=webhook_id, active=True)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + LEASE)
    )
    return claimed == 1


def _release(webhook_id: int) -> None:
    Webhook.objects.filter(pk=webhook_id).update(lease_until=None)


def _give_up(webhook: Webhook, delivery: WebhookDelivery, now: dt.datetime) -> None:
    """The last retry failed: the endpoint is turned off, and its owner told (in their language)."""
    reason = f"{delivery.event.type} {delivery.event.uid} undelivered after {delivery.attempts} attempts"
    Webhook.objects.filter(pk=webhook.pk).update(active=False, disabled_reason=reason[:200], updated_at=now)
    log.warning("event=webhook_disabled webhook=%s url=%s reason=%s", webhook.pk, webhook.url, reason)
    owner = webhook.owner
    if not owner.email:
        return
    with translation.override(getattr(owner, "language", None) or settings.LANGUAGE_CODE):
        subject = _("Your webhook was turned off")
        message = _(
            "Deliveries to %(url)s have failed for about a day, so the endpoint was turned off. "
            "Its undelivered events are kept: turn it on again (active) when it can receive them."
        ) % {"url": webhook.url}
    transaction.on_commit(lambda: send_mail(subject, message, None, [owner.email], fail_silently=True))


def _attempt(webhook: Webhook, delivery: WebhookDelivery, now: dt.datetime) -> bool | None:
    """One attempt, logged; None when the endpoint was deleted meanwhile (webhook_delete holds its row)."""
    if not Webhook.objects.select_for_update(no_key=True).filter(pk=webhook.pk).exists():
        return None
    result = send(webhook, delivery.event, now=now)
    delivery.attempts += 1
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=delivery.attempts,
        attempted_at=now,
        status_code=result.status_code,
        latency_ms=result.latency_ms,
        error=result.error,
        response_excerpt=result.excerpt,
    )
    log.info(
        "event=webhook_attempt webhook=%s delivery=%s id=%s attempt=%s status=%s latency_ms=%s",
        webhook.pk,
        delivery.pk,
        delivery.event.uid,
        delivery.attempts,
        result.status_code,
        result.latency_ms,
    )
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if result.ok:
        delivery.status, delivery.delivered_at = WebhookDelivery.Status.DELIVERED, now
    elif delivery.attempts > len(schedule):
        delivery.status = WebhookDelivery.Status.FAILED
        _give_up(webhook, delivery, now)
    else:
        delivery.next_attempt_at = now + dt.timedelta(seconds=int(schedule[delivery.attempts - 1]))
    delivery.save(update_fields=["status", "attempts", "next_attempt_at", "delivered_at"])
    return result.ok


def webhook_deliver(*, webhook_id: int) -> dt.datetime | None:
    """
    Send this endpoint's due deliveries in order, until one fails or none is due.
    Returns when it should run again (its next retry), or None.
    """
    if not _claim(webhook_id, timezone.now()):
        return None
    try:
        webhook = Webhook.objects.select_related("owner").get(pk=webhook_id)
        queue = WebhookDelivery.objects.filter(webhook_id=webhook_id, status=WebhookDelivery.Status.PENDING)
        for _sent in range(RUN_SIZE):
            head = queue.select_related("event").order_by("id").first()
            now = timezone.now()
            if head is None:
                return None
            if head.next_attempt_at > now:
                return head.next_attempt_at
            with transaction.atomic():
                ok = _attempt(webhook, head, now)
            if ok is None:
                return None
            Webhook.objects.filter(pk=webhook_id).update(lease_until=timezone.now() + LEASE)
            if not ok:
                return None if head.status == WebhookDelivery.Status.FAILED else head.next_attempt_at
        return timezone.now()  # more to send: a new run
    finally:
        _release(webhook_id)


def webhooks_due(*, now: dt.datetime) -> list[int]:
    """The active endpoints with a delivery due and no run holding them: what the sweep starts."""
    due = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
    return list(
        Webhook.objects.filter(active=True, pk__in=due.values("webhook_id"))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def webhook_send_test(*, webhook: Webhook, now: dt.datetime) -> WebhookDelivery:
    """A `webhook.test` event for this endpoint alone (the admin's and the API's "send a test event")."""
    event = WebhookEvent.objects.create(
        uid=f"msg_{uuid.uuid4().hex}",
        type="webhook.test",
        resource="webhooks",
        data={"id": webhook.pk, "url": webhook.url},
        created_at=now,
    )
    delivery = WebhookDelivery.objects.create(webhook=webhook, event=event, next_attempt_at=now)
    from corridors import tasks

    tasks.deliver_webhook.delay_on_commit(webhook.pk)
    return delivery
