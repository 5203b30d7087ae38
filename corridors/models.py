"""
The agreements and their checks: corridors and their windows, the people who left
and arrived through them, and the flags that say a window and a hostility report
overlap in time and place.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from corridors import consistency
from tracker import validators
from tracker.fields import FreeTextField, NameField
from tracker.localtime import zone
from tracker.models import (
    Attributed,
    Figure,
    HostilityReport,
    Qualifier,
    Site,
    TimeStamped,
    count_constraints,
    future_errors,
    instant_constraints,
    instant_field,
    sync_index,
    text_constraint,
)


class Corridor(Attributed):
    """
    An announced route out: origin, optional ordered waypoints, destination (its
    *path*). Its local time is its origin's. Who announced it, and when, are its
    source; both are optional, since a corridor may be proposed before anyone does.
    """

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("Proposed")
        ANNOUNCED = "announced", _("Announced")
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        CLOSED = "closed", _("Closed")

    name = NameField(_("name"))
    origin = models.ForeignKey(Site, verbose_name=_("origin"), on_delete=models.PROTECT, related_name="+")
    destination = models.ForeignKey(Site, verbose_name=_("destination"), on_delete=models.PROTECT, related_name="+")
    waypoints = models.ManyToManyField(
        Site, verbose_name=_("waypoints"), through="CorridorWaypoint", related_name="+", blank=True
    )
    announced_by = models.ForeignKey(
        "tracker.Source",
        verbose_name=_("announced by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    announced_at = instant_field(_("announced at"), null=True, blank=True)
    ceasefire_announced = models.BooleanField(
        _("ceasefire announced"), default=False, help_text=_("A ceasefire was announced for the windows.")
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PROPOSED)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name", "id"]
        indexes = [sync_index("corridor")]
        verbose_name = _("corridor")
        verbose_name_plural = _("corridors")
        constraints = [
            models.CheckConstraint(condition=~Q(origin=F("destination")), name="corridor_origin_is_not_destination"),
            *instant_constraints("corridor", "announced_at"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = future_errors(self, ("announced_at",), now=timezone.now())
        if self.origin_id is not None and self.origin_id == self.destination_id:
            errors["destination"] = [ValidationError(_("The destination must differ from the origin."))]
        if errors:
            raise ValidationError(errors)

    def movements_off_path(self, path: list[int]) -> list[Movement]:
        """
        The departures and arrivals of this corridor (without a coordinator's override)
        that a path `[origin, *waypoints, destination]` would leave off it: a new path
        must still hold the figures already given for the corridor. (Checked by the
        service that changes the path, which alone knows the whole new path.)
        """
        stranded: list[Movement] = []
        for model, site_field, stops in (
            (Departure, "origin_id", consistency.departure_stops(path)),
            (Arrival, "destination_id", consistency.arrival_stops(path)),
        ):
            for movement in model.objects.filter(corridor_id=self.pk, override_reason="").order_by("pk"):
                if not consistency.at_a_stop(Site.stored_lineage(getattr(movement, site_field)), stops):
                    stranded.append(movement)
        return stranded

    @property
    def timezone(self) -> str:
        return self.origin.timezone

    def path_site_ids(self) -> list[int]:
        """Origin, waypoints in order, destination."""
        waypoint_ids = list(self.corridor_waypoints.order_by("position").values_list("site_id", flat=True))
        return [self.origin_id, *waypoint_ids, self.destination_id]


class CorridorWaypoint(models.Model):
    """One stop on a corridor's path, in order."""

    corridor = models.ForeignKey(Corridor, on_delete=models.CASCADE, related_name="corridor_waypoints")
    site = models.ForeignKey(Site, verbose_name=_("site"), on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField(_("position"))

    history = HistoricalRecords()

    class Meta:
        ordering = ["corridor", "position"]
        verbose_name = _("waypoint")
        verbose_name_plural = _("waypoints")
        constraints = [
            models.UniqueConstraint(fields=["corridor", "position"], name="waypoint_unique_position"),
        ]

    def __str__(self) -> str:
        return f"{self.corridor}: {self.position}. {self.site}"


class WindowQuerySet(models.QuerySet["CorridorWindow"]):
    def with_flag_counts(self) -> WindowQuerySet:
        """Annotate `open_flags`: flags that are open or acknowledged (what makes a window flagged)."""
        return self.annotate(open_flags=Count("flags", filter=Q(flags__status__in=Flag.ACTIVE_STATUSES)))

    def flagged(self, value: bool = True) -> WindowQuerySet:
        """Windows that have (or, with False, have not) a flag that is open or acknowledged."""
        active = Flag.objects.filter(window=OuterRef("pk"), status__in=Flag.ACTIVE_STATUSES)
        return self.filter(Exists(active)) if value else self.exclude(Exists(active))

    def overlapping(self, start: dt.datetime | None, end: dt.datetime | None) -> WindowQuerySet:
        """Windows that overlap the half-open `[start, end)`; a missing bound is unbounded."""
        qs = self
        if end is not None:
            qs = qs.filter(starts_at__lt=end)
        if start is not None:
            qs = qs.filter(ends_at__gt=start)
        return qs

    def with_status(self, status: str, now: dt.datetime) -> WindowQuerySet:
        """Windows whose `status_at(now)` is `status`."""
        if status == CorridorWindow.Status.CANCELLED:
            return self.filter(cancelled=True)
        live = self.filter(cancelled=False)
        if status == CorridorWindow.Status.SCHEDULED:
            return live.filter(starts_at__gt=now)
        if status == CorridorWindow.Status.OPEN:
            return live.filter(starts_at__lte=now, ends_at__gt=now)
        if status == CorridorWindow.Status.CLOSED:
            return live.filter(ends_at__lte=now)
        raise ValueError(f"Unknown window status: {status!r}")


class CorridorWindow(TimeStamped):
    """A concrete stretch of time, `[starts_at, ends_at)` in UTC, when a corridor is meant to be open."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        OPEN = "open", _("Open now")
        CLOSED = "closed", _("Closed")
        CANCELLED = "cancelled", _("Cancelled")

    corridor = models.ForeignKey(Corridor, verbose_name=_("corridor"), on_delete=models.PROTECT, related_name="windows")
    starts_at = instant_field(_("starts at"), db_index=True)
    ends_at = instant_field(_("ends at"), db_index=True)
    cancelled = models.BooleanField(_("cancelled"), default=False)

    history = HistoricalRecords()
    objects = WindowQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [sync_index("window")]
        verbose_name = _("corridor window")
        verbose_name_plural = _("corridor windows")
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="window_ends_after_start"),
            models.UniqueConstraint(
                fields=["corridor", "starts_at"], condition=Q(cancelled=False), name="window_unique_live_start"
            ),
            *instant_constraints("window", "starts_at", "ends_at"),
        ]

    def __str__(self) -> str:
        zone = self.corridor.origin.zone
        start, end = self.starts_at.astimezone(zone), self.ends_at.astimezone(zone)
        return f"{self.corridor}: {start:%Y-%m-%d %H:%M}–{end:%H:%M} {start:%Z}"

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": _("The end must be after the start.")})
        if self.corridor_id is not None and self.starts_at and self.ends_at and not self.cancelled:
            clash = (
                CorridorWindow.objects.filter(corridor_id=self.corridor_id, cancelled=False)
                .exclude(pk=self.pk)
                .overlapping(self.starts_at, self.ends_at)
                .first()
            )
            if clash is not None:
                raise ValidationError(
                    _("This window overlaps another live window of the corridor: %(window)s.") % {"window": clash}
                )
        if self.pk is not None and self.starts_at and self.ends_at:
            stranded = self.movements_outside()
            if stranded:
                raise ValidationError(stranded_message(stranded))

    def movements_outside(self) -> list[Movement]:
        """The departures and arrivals linked to this window (without an override) that its times would leave out."""
        return [
            movement
            for model in (Departure, Arrival)
            for movement in model.objects.filter(window_id=self.pk, override_reason="").order_by("pk")
            if not movement.fits(self, getattr(movement, movement.moment_field))
        ]

    @property
    def flagged(self) -> bool:
        """Whether a hostility report overlaps this window, by a flag that is open or acknowledged."""
        return self.flags.filter(status__in=Flag.ACTIVE_STATUSES).exists()

    def is_open_at(self, t: dt.datetime) -> bool:
        """Half-open: open at `starts_at`, closed again at `ends_at`."""
        return not self.cancelled and self.starts_at <= t < self.ends_at

    def status_at(self, now: dt.datetime) -> str:
        if self.cancelled:
            return self.Status.CANCELLED
        if now < self.starts_at:
            return self.Status.SCHEDULED
        if now < self.ends_at:
            return self.Status.OPEN
        return self.Status.CLOSED

    def minutes_left_at(self, now: dt.datetime) -> int:
        """Whole minutes from `now` until the window closes, rounded down; 0 once it has."""
        return max(0, int((self.ends_at - now).total_seconds() // 60))

    def local_starts_at(self) -> dt.datetime:
        return self.starts_at.astimezone(self.corridor.origin.zone)

    def local_ends_at(self) -> dt.datetime:
        return self.ends_at.astimezone(self.corridor.origin.zone)


def stranded_message(movements: list[Movement]) -> ValidationError:
    """The change would leave these figures contradicting their corridor or window."""
    return ValidationError(
        _(
            "This change would leave figures given for it contradicting it: %(figures)s. Correct them first, "
            "or have a coordinator accept each with a reason."
        ),
        code="stranded",
        params={
            "figures": "; ".join(f"{movement._meta.verbose_name} {movement.pk}: {movement}" for movement in movements)
        },
    )


def _local(instant: dt.datetime, zone_name: str) -> str:
    """An instant as the wall-clock time at a place, with its offset: "2022-05-06 08:00+03:00"."""
    return instant.astimezone(zone(zone_name)).isoformat(sep=" ", timespec="minutes")


class Movement(Figure):
    """
    People moving through a corridor: a departure or an arrival, as a count.

    One linked to a corridor or a window must agree with it (corridors/consistency.py):
    where people left or arrived is on the corridor's path, and when lies within the
    window's margins. A coordinator may accept a figure that does not, with the
    reason in `override_reason` (a convoy that picked people up off its path, one
    held at a checkpoint for longer than the margin); the history keeps who and when.
    What can never be right is refused whatever the reason: a window of another
    corridor, a window that has not opened yet, a time in the future.
    """

    origin = models.ForeignKey(Site, verbose_name=_("origin"), on_delete=models.PROTECT, related_name="+")
    corridor = models.ForeignKey(
        Corridor, verbose_name=_("corridor"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    window = models.ForeignKey(
        CorridorWindow, verbose_name=_("window"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    count = models.PositiveIntegerField(_("count"))
    qualifier = models.CharField(_("qualifier"), max_length=20, choices=Qualifier.choices, default=Qualifier.EXACT)
    override_reason = FreeTextField(
        _("override reason"),
        max_length=validators.NOTE_MAX_LENGTH,
        blank=True,
        help_text=_(
            "Coordinators only: why this figure is right although it does not fit its corridor's path or its "
            "window's times."
        ),
    )

    # Its path and its times; the corridor first, in the order window_save() locks them.
    context_fields = ("corridor", "window")
    # Its window's `departed` and `arrived` count it.
    synced_parents = ("window",)
    # When the people moved: `departed_at` or `arrived_at`.
    moment_field: ClassVar[str]
    # What an override is about: a change to one of these by anyone but a coordinator clears it.
    override_fields: ClassVar[frozenset[str]]

    class Meta:
        abstract = True

    def clean(self) -> None:
        now = timezone.now()
        errors = future_errors(self, self.past_fields, now=now)
        exceptions: dict[str, str] = {}  # what a coordinator may accept with a reason
        window = self.window if self.window_id is not None else None
        if window is not None:
            if self.corridor_id is None:
                self.corridor_id = window.corridor_id
            moment = getattr(self, self.moment_field)
            if window.corridor_id != self.corridor_id:
                errors["window"] = [ValidationError(_("This window belongs to another corridor."))]
            elif window.starts_at > now + dt.timedelta(seconds=settings.FIGURE_CLOCK_SKEW):
                errors["window"] = [
                    ValidationError(
                        _("This window has not opened yet (it opens %(start)s): nobody can have gone through it."),
                        params={"start": _local(window.starts_at, window.corridor.origin.timezone)},
                    )
                ]
            elif moment is not None and self.moment_field not in errors and not self.fits(window, moment):
                exceptions[self.moment_field] = self.outside_window_message(window)
        if self.corridor_id is not None:
            exceptions.update(self.path_problems())
        if exceptions and not self.override_reason.strip():
            hint = gettext(
                "If this is what happened, a coordinator can accept it by giving the reason in “override reason”."
            )
            for name, message in exceptions.items():
                errors.setdefault(name, []).append(ValidationError(f"{message} {hint}", code="inconsistent"))
        if errors:
            raise ValidationError(errors)

    def fits(self, window: CorridorWindow, moment: dt.datetime) -> bool:
        raise NotImplementedError

    def outside_window_message(self, window: CorridorWindow) -> str:
        raise NotImplementedError

    def path_problems(self) -> dict[str, str]:
        """The fields that place this movement off its corridor's path, with why."""
        raise NotImplementedError

    def _off_path(self, site_id: int | None, stops: list[int], message: str) -> str | None:
        """Why `site_id` is not at one of `stops`, in `message` (None when it is)."""
        if site_id is None or consistency.at_a_stop(Site.stored_lineage(site_id), stops):
            return None
        names = dict(Site.objects.filter(pk__in=[site_id, *stops]).values_list("pk", "name"))
        return message % {
            "site": names.get(site_id, site_id),
            "corridor": self.corridor.name if self.corridor is not None else "",
            "stops": gettext(" or ").join(str(names.get(stop, stop)) for stop in stops),
        }


class Departure(Movement):
    """People who left, counted at the origin."""

    departed_at = instant_field(_("departed at"), db_index=True)

    history = HistoricalRecords()

    moment_field = "departed_at"
    past_fields = ("departed_at", "reported_at")
    override_fields = frozenset({"origin", "corridor", "window", "departed_at"})

    class Meta:
        ordering = ["-departed_at", "-id"]
        indexes = [sync_index("departure")]
        verbose_name = _("departure")
        verbose_name_plural = _("departures")
        constraints = [
            *count_constraints("departure"),
            *instant_constraints("departure", "departed_at", "reported_at"),
            text_constraint("departure", "override_reason", validators.NOTE_MAX_LENGTH),
        ]

    def __str__(self) -> str:
        return f"{self.count} left {self.origin} at {self.departed_at:%Y-%m-%d %H:%M}"

    def fits(self, window: CorridorWindow, moment: dt.datetime) -> bool:
        return consistency.departure_in_window(moment, window.starts_at, window.ends_at)

    def outside_window_message(self, window: CorridorWindow) -> str:
        zone_name = window.corridor.origin.timezone
        return gettext("People leave through a window while it is open, from %(start)s to %(end)s.") % {
            "start": _local(window.starts_at, zone_name),
            "end": _local(window.ends_at, zone_name),
        }

    def path_problems(self) -> dict[str, str]:
        if self.corridor is None:
            return {}
        problem = self._off_path(
            self.origin_id,
            consistency.departure_stops(self.corridor.path_site_ids()),
            gettext(
                "%(site)s is not where people leave through the corridor %(corridor)s: they leave from %(stops)s, "
                "or from a site inside one of them."
            ),
        )
        return {"origin": problem} if problem else {}


class Arrival(Movement):
    """People who reached a destination (checkpoint figures count crossings, not people)."""

    destination = models.ForeignKey(Site, verbose_name=_("destination"), on_delete=models.PROTECT, related_name="+")
    arrived_at = instant_field(_("arrived at"), db_index=True)

    history = HistoricalRecords()

    moment_field = "arrived_at"
    past_fields = ("arrived_at", "reported_at")
    override_fields = frozenset({"destination", "corridor", "window", "arrived_at"})

    class Meta:
        ordering = ["-arrived_at", "-id"]
        indexes = [sync_index("arrival")]
        verbose_name = _("arrival")
        verbose_name_plural = _("arrivals")
        constraints = [
            *count_constraints("arrival"),
            models.CheckConstraint(condition=~Q(origin=F("destination")), name="arrival_origin_is_not_destination"),
            *instant_constraints("arrival", "arrived_at", "reported_at"),
            text_constraint("arrival", "override_reason", validators.NOTE_MAX_LENGTH),
        ]

    def __str__(self) -> str:
        return f"{self.count} arrived in {self.destination} at {self.arrived_at:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        try:
            super().clean()
        except ValidationError as exc:
            errors = exc.update_error_dict({})
        else:
            errors = {}
        if self.origin_id is not None and self.origin_id == self.destination_id:
            errors.setdefault("destination", []).insert(
                0, ValidationError(_("The destination must differ from the origin."))
            )
        if errors:
            raise ValidationError(errors)

    @staticmethod
    def margin() -> dt.timedelta:
        return dt.timedelta(hours=settings.ARRIVAL_WINDOW_MARGIN_HOURS)

    def fits(self, window: CorridorWindow, moment: dt.datetime) -> bool:
        return consistency.arrival_in_window(moment, window.starts_at, window.ends_at, self.margin())

    def outside_window_message(self, window: CorridorWindow) -> str:
        zone_name = window.corridor.origin.timezone
        return gettext(
            "People arrive through a window from its start, %(start)s, to %(hours)d hours after its end: "
            "until %(until)s."
        ) % {
            "start": _local(window.starts_at, zone_name),
            "hours": settings.ARRIVAL_WINDOW_MARGIN_HOURS,
            "until": _local(window.ends_at + self.margin(), zone_name),
        }

    def path_problems(self) -> dict[str, str]:
        if self.corridor is None or (self.origin_id is not None and self.origin_id == self.destination_id):
            return {}
        problem = self._off_path(
            self.destination_id,
            consistency.arrival_stops(self.corridor.path_site_ids()),
            gettext(
                "%(site)s is not where people arrive through the corridor %(corridor)s: they arrive at %(stops)s, "
                "or at a site inside one of them."
            ),
        )
        return {"destination": problem} if problem else {}


class Flag(TimeStamped):
    """
    This window and this hostility report overlap in time and place.

    At most one per (window, report). Never deleted: a flag whose overlap vanishes is
    `withdrawn`, and one whose overlap changes is updated in place, its earlier values
    kept in the history. The overlap is clipped to the window; for an instant both
    ends are that instant.
    """

    class Certainty(models.TextChoices):
        CONFIRMED = "confirmed", _("Confirmed")
        POSSIBLE = "possible", _("Possible")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        DISMISSED = "dismissed", _("Dismissed")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    # A window is flagged while it has a flag in one of these.
    ACTIVE_STATUSES = (Status.OPEN, Status.ACKNOWLEDGED)
    # What a coordinator's review may set (corridors/services.py, flag_review).
    REVIEW_STATUSES = (Status.ACKNOWLEDGED, Status.DISMISSED)

    window = models.ForeignKey(CorridorWindow, verbose_name=_("window"), on_delete=models.PROTECT, related_name="flags")
    # The hostility report (the engine says "report"; `hostility` is the API's field name).
    hostility = models.ForeignKey(
        HostilityReport, verbose_name=_("hostility report"), on_delete=models.PROTECT, related_name="flags"
    )
    overlap_start = models.DateTimeField(_("overlap start"))
    overlap_end = models.DateTimeField(_("overlap end"))
    certainty = models.CharField(_("certainty"), max_length=20, choices=Certainty.choices)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.OPEN, db_index=True)
    raised_at = models.DateTimeField(_("raised at"))
    reviewed_by = models.ForeignKey(
        "tracker.User", verbose_name=_("reviewed by"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    review_note = FreeTextField(_("review note"), max_length=validators.NOTE_MAX_LENGTH, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-raised_at", "-id"]
        indexes = [sync_index("flag")]
        verbose_name = _("flag")
        verbose_name_plural = _("flags")
        constraints = [
            models.UniqueConstraint(fields=["window", "hostility"], name="flag_unique_window_hostility"),
            models.CheckConstraint(condition=Q(overlap_end__gte=F("overlap_start")), name="flag_overlap_ordered"),
            models.CheckConstraint(
                condition=~Q(status="dismissed") | ~Q(review_note=""), name="flag_dismissal_has_reason"
            ),
            text_constraint("flag", "review_note", validators.NOTE_MAX_LENGTH),
        ]

    def __str__(self) -> str:
        return f"{self.get_certainty_display()} flag: {self.hostility} / {self.window}"


class FlagCheck(models.Model):
    """
    The flag engine's outbox: "the flags of this report / window / corridor may be
    stale". Written in the same transaction as the change that makes them stale, so
    it exists exactly when the change does, whether or not the task queued after the
    commit ever reaches a worker. The check that covers it deletes it; the periodic
    sweep runs the checks of those left behind (a broker outage, a lost worker).

    Targets are ids, not foreign keys: a marker may outlive a deleted window or report.
    """

    class Target(models.TextChoices):
        REPORT = "report", _("hostility report")
        WINDOW = "window", _("window")
        CORRIDOR = "corridor", _("corridor")

    target = models.CharField(_("target"), max_length=10, choices=Target.choices)
    target_id = models.BigIntegerField(_("target id"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("pending flag check")
        verbose_name_plural = _("pending flag checks")
        indexes = [models.Index(fields=["target", "target_id"], name="flagcheck_target")]

    def __str__(self) -> str:
        return f"{self.get_target_display()} {self.target_id} since {self.created_at:%Y-%m-%d %H:%M:%S}"


class Webhook(TimeStamped):
    """
    An endpoint a coordinator or an admin registered to be told of changes: the
    events it wants (`EVENT_TYPES`), optionally only about some corridors. Its
    `secret` signs every delivery (Standard Webhooks); it is shown once, when the
    endpoint is made, and never again. An endpoint that failed for about a day is
    turned off (`active`, `disabled_reason`) and its owner told.
    """

    EVENT_TYPES = (
        "flag.raised",
        "flag.updated",
        "flag.withdrawn",
        "flag.reviewed",
        "window.opened",
        "window.cancelled",
        "figure.created",
        "figure.updated",
    )

    owner = models.ForeignKey(
        "tracker.User", verbose_name=_("owner"), on_delete=models.CASCADE, related_name="webhooks"
    )
    url = models.URLField(_("URL"), max_length=500)
    events = models.JSONField(_("events"), default=list)
    corridors = models.ManyToManyField(
        Corridor,
        verbose_name=_("corridors"),
        blank=True,
        related_name="+",
        help_text=_("Only events about these corridors; none chosen: every corridor, and events about none."),
    )
    active = models.BooleanField(_("active"), default=True)
    secret = models.CharField(_("secret"), max_length=100, editable=False)
    disabled_reason = models.CharField(_("why it was turned off"), max_length=200, blank=True, editable=False)
    # A delivery run's claim on the endpoint, so that its events go out one at a time, in order.
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["id"]
        verbose_name = _("webhook")
        verbose_name_plural = _("webhooks")

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str, corridor_ids: frozenset[int] | set[int], subscribed: set[int]) -> bool:
        """Whether an event of this type about these corridors is for this endpoint (`subscribed`: its corridors)."""
        if event_type not in self.events:
            return False
        return not subscribed or bool(subscribed & set(corridor_ids))


class WebhookEvent(models.Model):
    """
    One change to tell the endpoints of: written in the transaction of the change
    (with a delivery row per endpoint that wants it), so it exists exactly when the
    change does, whatever happens to the broker afterwards. `uid` is the
    `webhook-id` of every delivery of it, every retry included. `key`, when set,
    makes an event that a periodic task finds (a window opening) happen once.
    """

    uid = models.CharField(_("event id"), max_length=40, unique=True)
    type = models.CharField(_("type"), max_length=40)
    # The API resource `data` is one of ("flags", "windows", "counts", ...): a figure event can be any of four.
    resource = models.CharField(_("resource"), max_length=20)
    data = models.JSONField(_("data"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    key = models.CharField(max_length=100, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")

    def __str__(self) -> str:
        return f"{self.type} {self.uid}"


class WebhookDelivery(models.Model):
    """One event for one endpoint: sent, in event order, until the endpoint answers 2xx or the retries run out."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    webhook = models.ForeignKey(Webhook, verbose_name=_("webhook"), on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, verbose_name=_("event"), on_delete=models.CASCADE, related_name="+")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [models.UniqueConstraint(fields=["webhook", "event"], name="webhookdelivery_once")]
        indexes = [models.Index(fields=["webhook", "status", "id"], name="webhookdelivery_queue")]

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook}"


class WebhookAttempt(models.Model):
    """One try at a delivery: the delivery log. The response body is kept only as a short excerpt."""

    delivery = models.ForeignKey(
        WebhookDelivery, verbose_name=_("delivery"), on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveIntegerField(_("attempt"))
    attempted_at = models.DateTimeField(_("attempted at"))
    status_code = models.PositiveIntegerField(_("status code"), null=True, blank=True)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"))
    error = models.CharField(_("error"), max_length=300, blank=True)
    response_excerpt = models.CharField(_("response (excerpt)"), max_length=300, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")

    def __str__(self) -> str:
        return f"#{self.number} {self.status_code or self.error}"


class AlertSubscription(TimeStamped):
    """
    A coordinator's e-mail alerts of flags raised on windows that are open or still
    to come: on some corridors (none chosen: all), each at once or in a digest, in
    the language the coordinator chose.
    """

    class Delivery(models.TextChoices):
        INSTANT = "instant", _("At once")
        DIGEST = "digest", _("In a digest")

    user = models.OneToOneField(
        "tracker.User", verbose_name=_("user"), on_delete=models.CASCADE, related_name="flag_alerts"
    )
    corridors = models.ManyToManyField(
        Corridor, verbose_name=_("corridors"), blank=True, related_name="+", help_text=_("None chosen: every corridor.")
    )
    delivery = models.CharField(_("delivery"), max_length=10, choices=Delivery.choices, default=Delivery.INSTANT)
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, default="uk")
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("flag alert subscription")
        verbose_name_plural = _("flag alert subscriptions")

    def __str__(self) -> str:
        return f"{self.user} ({self.get_delivery_display()})"


class FlagAlert(models.Model):
    """
    One flag to tell one subscriber of: written in the transaction that raised the
    flag (the alerts' outbox), sent after the commit (or in the next digest), and
    marked sent only once the mail server took it.
    """

    subscription = models.ForeignKey(
        AlertSubscription, verbose_name=_("subscription"), on_delete=models.CASCADE, related_name="alerts"
    )
    flag = models.ForeignKey(Flag, verbose_name=_("flag"), on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("flag alert")
        verbose_name_plural = _("flag alerts")
        indexes = [models.Index(fields=["subscription", "sent_at"], name="flagalert_unsent")]

    def __str__(self) -> str:
        return f"{self.flag} → {self.subscription}"


class DossierSnapshot(models.Model):
    """
    What a corridor's evidence dossier showed, kept under its digest when it was first
    generated (corridors/dossier.py): a printed copy's digest finds it again, and the
    check says what the live data says differently. Written by reading a dossier, once
    per digest; not a figure, and never changed.
    """

    digest = models.CharField(_("digest"), max_length=64, unique=True)
    # An id, not a foreign key: the snapshot outlives a deleted corridor, and says so.
    corridor_id = models.BigIntegerField(_("corridor id"), db_index=True)
    data = models.JSONField(_("data"))
    created_at = models.DateTimeField(_("first generated at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("dossier snapshot")
        verbose_name_plural = _("dossier snapshots")

    def __str__(self) -> str:
        return f"{self.digest[:12]}… (corridor {self.corridor_id})"
