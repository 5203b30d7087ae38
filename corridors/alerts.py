"""
E-mail alerts to coordinators: a flag raised on a window that is open or still to
come is written as a FlagAlert for every subscriber who wants its corridor, in the
transaction that raised it. Instant subscribers are mailed after the commit; digest
subscribers every ALERT_DIGEST_INTERVAL seconds; beat's sweep sends whatever an
instant send missed (broker or mail server down). An alert is claimed with a
conditional UPDATE before it is sent, and released again when the mail server
refuses it, so it is sent once when all goes well and never dropped when it does not.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.html import strip_tags
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from corridors.models import AlertSubscription, Flag, FlagAlert
from tracker import permissions

log = logging.getLogger("corridors.alerts")

ALERTED_WINDOW_STATES = ("open", "scheduled")


def _subscribers() -> list[tuple[AlertSubscription, set[int]]]:
    subscriptions = [
        s
        for s in AlertSubscription.objects.filter(active=True, user__is_active=True)
        .exclude(user__email="")
        .select_related("user")
        .prefetch_related("corridors")
        if permissions.can_review_flags(s.user)
    ]
    return [(s, {c.pk for c in s.corridors.all()}) for s in subscriptions]


def flag_alerts_record(*, flags: Sequence[Flag], now: dt.datetime) -> list[FlagAlert]:
    """In the transaction that raised these flags: an alert per subscriber who wants each."""
    if not flags:
        return []
    subscribers = _subscribers()
    if not subscribers:
        return []
    alerts = []
    for flag in flags:
        window = flag.window
        if window.status_at(now) not in ALERTED_WINDOW_STATES:
            continue
        for subscription, corridors in subscribers:
            if not corridors or window.corridor_id in corridors:
                alerts.append(FlagAlert(subscription=subscription, flag=flag, created_at=now))
    alerts = FlagAlert.objects.bulk_create(alerts)
    from corridors import tasks

    for subscription_id in sorted(
        {a.subscription_id for a in alerts if a.subscription.delivery == AlertSubscription.Delivery.INSTANT}
    ):
        tasks.send_flag_alerts.delay_on_commit(subscription_id)
    return alerts


def flag_sentence(flag: Flag) -> str:
    """The corridor page's sentence about the flag, as plain text in the active language."""
    html = render_to_string("corridors/_flag.html", {"flag": flag})
    return re.sub(r"\s+", " ", strip_tags(html)).strip()


def flag_alerts_send(*, subscription_id: int, now: dt.datetime) -> int:
    """Mail the subscriber's unsent alerts, in one message; how many were sent (0 when the mail server refused)."""
    subscription = AlertSubscription.objects.select_related("user").get(pk=subscription_id)
    pending = list(
        FlagAlert.objects.filter(subscription=subscription, sent_at=None).order_by("id").values_list("pk", flat=True)
    )
    # Claimed before sending: two runs (the task and the sweep) never mail one alert twice.
    claimed = FlagAlert.objects.filter(pk__in=pending, sent_at=None).update(sent_at=now)
    if not claimed:
        return 0
    alerts = list(
        FlagAlert.objects.filter(pk__in=pending, sent_at=now)
        .select_related("flag__window__corridor__origin", "flag__hostility__site", "flag__hostility__source")
        .order_by("id")
    )
    with translation.override(subscription.language):
        flags = [a.flag for a in alerts]
        review = settings.SITE_URL.rstrip("/") + reverse("corridors:flag_queue")
        subject = (
            _("Flag raised: %(corridor)s") % {"corridor": flags[0].window.corridor.name}
            if len(flags) == 1
            else ngettext("%(n)d flag raised", "%(n)d flags raised", len(flags)) % {"n": len(flags)}
        )
        body = render_to_string(
            "corridors/email/flag_alert.txt",
            {"items": [(f, flag_sentence(f)) for f in flags], "review_url": review},
        )
    try:
        send_mail(subject, body, None, [subscription.user.email])
    except Exception:
        # The mail server refused or is away: the alerts go back to unsent, for the
        # sweep. Not raised: the flag that caused them is committed and must stay so.
        FlagAlert.objects.filter(pk__in=[a.pk for a in alerts]).update(sent_at=None)
        log.warning("event=flag_alert_not_sent subscription=%s alerts=%d", subscription_id, len(alerts), exc_info=True)
        return 0
    log.info("event=flag_alert_sent subscription=%s alerts=%d", subscription_id, len(alerts))
    return len(alerts)


def flag_alerts_due(*, digest: bool) -> list[int]:
    """Subscriptions with unsent alerts: the instant ones (the sweep), or the digest ones (the digest)."""
    kind = AlertSubscription.Delivery.DIGEST if digest else AlertSubscription.Delivery.INSTANT
    unsent = FlagAlert.objects.filter(sent_at=None).values("subscription_id")
    return list(
        AlertSubscription.objects.filter(Q(pk__in=unsent), delivery=kind, active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
