"""
The facts on the ground: who enters data, who said it, where, how many, and what
hostilities were reported.

Every instant is stored aware, in UTC. Database constraints carry the invariants;
each model's `clean()` states the same rules as messages a person can act on.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length, Lower
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from tracker import constraints, geo, validators
from tracker.coverage import Coverage, covered_interval
from tracker.fields import FreeTextField, HttpURLField, NameField

if TYPE_CHECKING:
    from collections.abc import Iterator

DEFAULT_TIMEZONE = "Europe/Kyiv"

# Zone names that tzdata keeps only as links to another zone. `zoneinfo` accepts
# them, but we store the current name so that every site in Kyiv's zone compares
# equal and reads as the public expects.
TIMEZONE_ALIASES = {
    "Europe/Kiev": "Europe/Kyiv",
    # Merged into Europe/Kyiv in tzdata 2022b.
    "Europe/Uzhgorod": "Europe/Kyiv",
    "Europe/Zaporozhye": "Europe/Kyiv",
}


def canonical_timezone(name: str) -> str:
    """Return the stored form of an IANA zone name, or raise ValidationError."""
    name = (name or "").strip()
    name = TIMEZONE_ALIASES.get(name, name)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            _("“%(zone)s” is not an IANA time zone name, such as Europe/Kyiv."),
            code="invalid_timezone",
            params={"zone": name},
        ) from None
    return name


def instant_field(verbose_name: Any, **kwargs: Any) -> models.DateTimeField:
    """A figure's instant: years FIRST_YEAR to LAST_YEAR (tracker/validators.py), in every path and the database."""
    return models.DateTimeField(verbose_name, validators=[validators.validate_instant], **kwargs)


def instant_constraints(prefix: str, *names: str) -> list[models.BaseConstraint]:
    """The database side of `instant_field`: each of these instants, when set, lies in the years allowed."""
    return [
        models.CheckConstraint(
            condition=Q(**{f"{name}__isnull": True})
            | Q(**{f"{name}__gte": validators.EARLIEST, f"{name}__lt": validators.LATEST}),
            name=f"{prefix}_{name}_in_range",
        )
        for name in names
    ]


def text_constraint(prefix: str, name: str, max_length: int) -> models.BaseConstraint:
    """The database side of a FreeTextField's maximum length."""
    return models.CheckConstraint(
        condition=LessThanOrEqual(Length(name), max_length), name=f"{prefix}_{name}_max_length"
    )


def future_errors(instance: models.Model, names: Any, *, now: dt.datetime) -> dict[str, list[ValidationError]]:
    """
    The fields among `names` that hold an instant later than `now` plus the allowed
    clock skew (FIGURE_CLOCK_SKEW): a figure reports what has happened, and a typo of
    2030 for 2022 would otherwise become a headline figure "as of 2030".
    """
    limit = now + dt.timedelta(seconds=settings.FIGURE_CLOCK_SKEW)
    return {
        name: [
            ValidationError(
                _("This time is in the future: a figure reports what has happened. Check the year and the date."),
                code="future",
            )
        ]
        for name in names
        if getattr(instance, name) is not None and getattr(instance, name) > limit
    }


def sync_index(name: str) -> models.Index:
    """
    The index of the sync order, (updated_at, id): every API list filters on
    `updated_at` for incremental sync (`updated_since`) and pages by a cursor on both
    (tracker/api/policy.py). Each concrete TimeStamped model lists it in its Meta.
    """
    return models.Index(fields=["updated_at", "id"], name=f"{name}_sync")


class TimeStamped(models.Model):
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # Indexed with the id (`sync_index`).
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True

    def validate_constraints(self, exclude: Any = None) -> None:
        # The same rules and messages as Django's, the check constraints asked in one query.
        constraints.validate_constraints(self, exclude=exclude)


class Role(models.TextChoices):
    REPORTER = "reporter", _("Reporter")
    COORDINATOR = "coordinator", _("Coordinator")
    ADMIN = "admin", _("Admin")


class Organisation(TimeStamped):
    """An NGO (or other body) whose staff enter figures."""

    name = NameField(_("name"), unique=True)
    acronym = NameField(_("acronym"), max_length=30, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        indexes = [sync_index("organisation")]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self) -> str:
        return f"{self.name} ({self.acronym})" if self.acronym else self.name


class User(TimeStamped, AbstractUser):
    """
    A member of staff. Every account belongs to staff: the public never logs in.

    The role decides what the account may do (tracker/permissions.py); `is_staff`
    and `is_superuser` are derived from it so that the Django admin agrees.
    """

    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="members",
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.REPORTER)

    history = HistoricalRecords(excluded_fields=["password", "last_login"])

    # Not fields: what tracker/signals.py compares and acts on after a save.
    _loaded_access: tuple[str, bool] | None = None
    _password_changed: bool = False

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        indexes = [sync_index("user")]

    def __str__(self) -> str:
        return self.username

    def save(self, *args: Any, **kwargs: Any) -> None:
        # `createsuperuser` sets is_superuser; from then on the role is the truth.
        if self.is_superuser and self.role != Role.ADMIN and self._state.adding:
            self.role = Role.ADMIN
        self.is_superuser = self.role == Role.ADMIN
        self.is_staff = True
        # Logging in stamps `last_login` (excluded from the history): not a change to
        # the account worth an audit row of its own.
        if set(kwargs.get("update_fields") or ()) != {"last_login"}:
            super().save(*args, **kwargs)
            return
        self.skip_history_when_saving = True  # simple-history skips a save while the attribute exists
        try:
            super().save(*args, **kwargs)
        finally:
            del self.skip_history_when_saving

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any, *args: Any, **kwargs: Any) -> User:
        user = super().from_db(db, field_names, values, *args, **kwargs)
        # What the row said when it was read: a save that changes the role or the
        # activation is a security event (tracker/signals.py).
        user._loaded_access = (str(user.role), user.is_active) if {"role", "is_active"} <= set(field_names) else None
        return user

    def set_password(self, raw_password: str | None) -> None:
        super().set_password(raw_password)
        # Every path that changes a password comes through here (admin, services, the
        # password change and reset views, manage.py changepassword): when the change
        # is saved, the account's API tokens are revoked (tracker/signals.py).
        self._password_changed = True

    def set_unusable_password(self) -> None:
        super().set_unusable_password()
        self._password_changed = True


class Verification(models.TextChoices):
    UNVERIFIED = "unverified", _("Unverified")
    VERIFIED = "verified", _("Verified")
    DISPUTED = "disputed", _("Disputed")
    RETRACTED = "retracted", _("Retracted")


class Qualifier(models.TextChoices):
    EXACT = "exact", _("exactly")
    APPROXIMATELY = "approximately", _("approximately")
    AT_LEAST = "at_least", _("at least")
    AT_MOST = "at_most", _("at most")


class Source(TimeStamped):
    """Who said it: a mayor, a military command, a ministry, a field team, an outlet."""

    class Kind(models.TextChoices):
        OFFICIAL = "official", _("Official")
        MILITARY = "military", _("Military")
        UN = "un", _("United Nations")
        NGO = "ngo", _("NGO")
        MEDIA = "media", _("Media")
        SOCIAL_MEDIA = "social_media", _("Social media")
        FIELD_TEAM = "field_team", _("Field team")
        OTHER = "other", _("Other")

    name = NameField(_("name"), unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    url = HttpURLField(_("link"), max_length=500, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        indexes = [sync_index("source")]
        verbose_name = _("source")
        verbose_name_plural = _("sources")

    def __str__(self) -> str:
        return self.name


class Site(TimeStamped):
    """
    A place: a region, a city, a shelter. Sites form a tree through `parent`.

    A `restricted` site is a shelter whose exact position could endanger the people
    in it: only users allowed to (tracker/permissions.py) see its coordinates; every
    other output gives `public_coordinates()`.
    """

    class Kind(models.TextChoices):
        REGION = "region", _("Region")
        CITY = "city", _("City")
        SETTLEMENT = "settlement", _("Settlement")
        SHELTER = "shelter", _("Shelter")
        FACILITY = "facility", _("Facility")
        CROSSING = "crossing", _("Crossing")
        RECEPTION_CENTRE = "reception_centre", _("Reception centre")

    name = NameField(_("name"))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("inside"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
    )
    latitude = models.FloatField(_("latitude"))
    longitude = models.FloatField(_("longitude"))
    timezone = models.CharField(_("time zone"), max_length=64, default=DEFAULT_TIMEZONE)
    restricted = models.BooleanField(
        _("restricted"),
        default=False,
        help_text=_("Hide the exact position from the public: it could endanger the people sheltering here."),
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["name", "id"]
        indexes = [sync_index("site")]
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        permissions = [("view_exact_location", _("Can see the exact position of restricted sites"))]
        constraints = [
            models.CheckConstraint(condition=Q(latitude__gte=-90, latitude__lte=90), name="site_latitude_in_range"),
            models.CheckConstraint(
                condition=Q(longitude__gte=-180, longitude__lte=180), name="site_longitude_in_range"
            ),
            models.CheckConstraint(condition=~Q(parent=F("id")), name="site_not_own_parent"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.timezone = TIMEZONE_ALIASES.get(self.timezone, self.timezone)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        errors: dict[str, list[Any]] = {}
        try:
            self.timezone = canonical_timezone(self.timezone)
        except ValidationError as exc:
            errors["timezone"] = exc.error_list
        if self.latitude is not None and not -90 <= self.latitude <= 90:
            errors["latitude"] = [_("Latitude must be between −90 and 90 degrees.")]
        if self.longitude is not None and not -180 <= self.longitude <= 180:
            errors["longitude"] = [_("Longitude must be between −180 and 180 degrees.")]
        # From the database, not the objects in hand: the parent's own parent may have
        # moved since it was read, and only the stored tree tells whether this closes a cycle.
        if self.parent_id is not None and self.pk is not None and self.pk in Site.stored_lineage(self.parent_id):
            errors["parent"] = [_("A site cannot be inside itself or inside one of its own sub-sites.")]
        if errors:
            raise ValidationError(errors)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @staticmethod
    def stored_lineage(site_id: int) -> list[int]:
        """The ids of this site and its ancestors, nearest first, as the database has them now."""
        lineage: list[int] = []
        current: int | None = site_id
        while current is not None and current not in lineage:
            lineage.append(current)
            current = Site.objects.filter(pk=current).values_list("parent_id", flat=True).first()
        return lineage

    def ancestors(self, *, include_self: bool = False) -> Iterator[Site]:
        """This site's parent, grandparent, ... (the tree is shallow: a few levels)."""
        site: Site | None = self if include_self else self.parent
        seen: set[int] = set()
        while site is not None and site.pk not in seen:
            seen.add(site.pk)
            yield site
            site = site.parent

    def public_coordinates(self) -> tuple[float, float]:
        """What anyone may see: exact for an ordinary site, coarsened for a restricted one."""
        if self.restricted:
            return geo.coarsen(self.latitude, self.longitude)
        return self.latitude, self.longitude


class SiteAlias(TimeStamped):
    """
    Another name of a site, or a code another data set gives it, by which imported
    conflict events (tracker/imports/events.py) find the site: "Маріуполь" or
    "Mariupol'" as a data set spells the place, a P-code ("UA1412001") or UCDP's PRIO-GRID
    cell. A code is matched exactly (case aside) against the data set's code columns, a
    name against its place-name columns; either may hold for one data set only (blank:
    for all). One value names one site per kind and data set.
    """

    class Kind(models.TextChoices):
        NAME = "name", _("Another name")
        CODE = "code", _("External code")

    class DataSet(models.TextChoices):
        ANY = "", _("Any data set")
        ACLED = "acled", "ACLED"
        UCDP = "ucdp", "UCDP GED"

    site = models.ForeignKey(Site, verbose_name=_("site"), on_delete=models.CASCADE, related_name="aliases")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.NAME)
    value = NameField(_("name or code"))
    data_set = models.CharField(_("data set"), max_length=10, choices=DataSet.choices, default="", blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["value", "id"]
        verbose_name = _("site alias or external code")
        verbose_name_plural = _("site aliases and external codes")
        constraints = [
            models.UniqueConstraint(
                Lower("value"),
                "kind",
                "data_set",
                name="sitealias_one_site_per_value",
                violation_error_message=_("This name or code already belongs to a site (for this data set)."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.value} → {self.site}"


class Attributed(TimeStamped):
    """
    Which organisation entered it and who, and how far it is verified. Figures and
    corridor announcements are public whatever their verification state, which is
    shown with them.
    """

    verification = models.CharField(
        _("verification"), max_length=20, choices=Verification.choices, default=Verification.UNVERIFIED
    )
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("entered by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        abstract = True


class Figure(Attributed):
    """A figure also says who said it (its source), and when if known."""

    source = models.ForeignKey(Source, verbose_name=_("source"), on_delete=models.PROTECT, related_name="+")
    reported_at = instant_field(
        _("reported at"), null=True, blank=True, help_text=_("When the source said it, if known.")
    )

    # The instants that must not lie in the future (future_errors).
    past_fields: tuple[str, ...] = ("reported_at",)
    # The related rows this figure's rules read: locked while it is checked and written
    # (tracker/services.py, `_lock_context`), in this order.
    context_fields: tuple[str, ...] = ()
    # The related rows whose representation sums this figure up (a window's `departed`):
    # their `updated_at` moves when it is added, changed, moved or deleted, so that a
    # client syncing with `updated_since` learns of it (tracker/services.py, `sync_touch`).
    # Each is one of the context_fields, locked for update rather than shared.
    synced_parents: tuple[str, ...] = ()

    class Meta:
        abstract = True


def count_constraints(prefix: str, *, with_high: bool = False) -> list[models.BaseConstraint]:
    """The database side of "counts are non-negative; a range's high end is at least its low end"."""
    constraints: list[models.BaseConstraint] = [
        models.CheckConstraint(condition=Q(count__gte=0), name=f"{prefix}_count_not_negative"),
    ]
    if with_high:
        constraints.append(
            models.CheckConstraint(
                condition=Q(count_high__isnull=True) | Q(count_high__gte=F("count")),
                name=f"{prefix}_count_high_not_below_count",
            )
        )
    return constraints


class CivilianCount(Figure):
    """How many civilians are at a site as of a time: "an estimated 200", "100–120"."""

    site = models.ForeignKey(Site, verbose_name=_("site"), on_delete=models.PROTECT, related_name="counts")
    as_of = instant_field(_("as of"), db_index=True)
    count = models.PositiveIntegerField(_("count"))
    count_high = models.PositiveIntegerField(
        _("up to"), null=True, blank=True, help_text=_("For a range: the high end. Leave empty for one figure.")
    )
    qualifier = models.CharField(_("qualifier"), max_length=20, choices=Qualifier.choices, default=Qualifier.EXACT)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-as_of", "-id"]
        verbose_name = _("civilian count")
        verbose_name_plural = _("civilian counts")
        constraints = [
            *count_constraints("civiliancount", with_high=True),
            *instant_constraints("civiliancount", "as_of", "reported_at"),
        ]
        indexes = [
            models.Index(fields=["site", "-as_of"], name="civiliancount_site_as_of"),
            sync_index("civiliancount"),
        ]

    past_fields = ("as_of", "reported_at")

    def __str__(self) -> str:
        return f"{self.site}: {self.count} ({self.get_qualifier_display()}) as of {self.as_of:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        errors = future_errors(self, self.past_fields, now=timezone.now())
        if self.count is not None and self.count_high is not None and self.count_high < self.count:
            errors["count_high"] = [ValidationError(_("The high end of the range must be at least the count."))]
        if errors:
            raise ValidationError(errors)


class LatestCount(models.Model):
    """
    Derived, never edited: each site's latest count that is not retracted (the latest
    `as_of`, then the highest id). The services keep it in the transaction that writes
    the site's counts (services.site_latest_counts_refresh), so that a page or the API
    finds the latest count of thousands of sites without ranking every count ever
    given. `count` and `as_of` are copies of the count's own: the order of "where most
    people are" (an index), and the start of the sources' disagreement window.
    """

    site = models.OneToOneField(Site, on_delete=models.CASCADE, primary_key=True, related_name="latest_count")
    civilian_count = models.OneToOneField(CivilianCount, on_delete=models.CASCADE, related_name="+")
    count = models.PositiveIntegerField()
    as_of = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["-count", "site"], name="latestcount_largest_first")]

    def __str__(self) -> str:
        return f"{self.site_id}: {self.civilian_count_id}"


class HostilityReport(Figure):
    """
    A report of hostilities at a site. What instant range it covers depends on its
    `time_precision` and `ongoing` (docs/design.md, "Time", rule 5; the rule itself is
    tracker/coverage.py, and how it overlaps a window corridors/overlap.py).
    """

    class Kind(models.TextChoices):
        SHELLING = "shelling", _("Shelling")
        AIR_STRIKE = "air_strike", _("Air strike")
        GROUND_ASSAULT = "ground_assault", _("Ground assault")
        SMALL_ARMS = "small_arms", _("Small-arms fire")
        MISSILE_STRIKE = "missile_strike", _("Missile strike")
        MINES = "mines", _("Mines")
        OTHER = "other", _("Other")

    class Precision(models.TextChoices):
        EXACT = "exact", _("Exact time")
        HOUR = "hour", _("Hour known")
        DAY = "day", _("Day known")

    site = models.ForeignKey(Site, verbose_name=_("site"), on_delete=models.PROTECT, related_name="hostilities")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    started_at = instant_field(_("started at"), db_index=True)
    ended_at = instant_field(_("ended at"), null=True, blank=True, db_index=True)
    ongoing = models.BooleanField(_("ongoing"), default=False, help_text=_("Still going on; give no end yet."))
    time_precision = models.CharField(
        _("time precision"), max_length=10, choices=Precision.choices, default=Precision.EXACT
    )
    description = FreeTextField(_("description"), max_length=validators.DESCRIPTION_MAX_LENGTH, blank=True)
    # What the report covers (tracker/coverage.py) as a half-open range, derived in
    # save(): the key by which the flag engine finds candidate windows with an index.
    # An instant t is stored as [t, t + 1 µs); an open end (ongoing) as NULL.
    coverage_start = models.DateTimeField(_("covers from"), editable=False)
    coverage_end = models.DateTimeField(_("covers until"), null=True, editable=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("hostility report")
        verbose_name_plural = _("hostility reports")
        # The portable (SQLite) candidate query's index; PostgreSQL also gets a GiST
        # index on (site, tstzrange(coverage_start, coverage_end)) in the migrations.
        indexes = [
            models.Index(fields=["site", "coverage_start"], name="hostility_site_coverage"),
            sync_index("hostilityreport"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gt=F("started_at")),
                name="hostilityreport_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(ongoing=False) | Q(ended_at__isnull=True),
                name="hostilityreport_ongoing_has_no_end",
            ),
            *instant_constraints("hostilityreport", "started_at", "ended_at", "reported_at"),
            text_constraint("hostilityreport", "description", validators.DESCRIPTION_MAX_LENGTH),
        ]

    past_fields = ("started_at", "ended_at", "reported_at")
    # Its site's zone decides what an hour- or day-precision report covers.
    context_fields = ("site",)

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.site} from {self.started_at:%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        try:
            self.coverage_start, self.coverage_end = self.coverage().index_bounds()
        except ValueError:
            # An end before the start: the database's own constraint refuses the row below.
            self.coverage_start, self.coverage_end = self.started_at, None
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "coverage_start", "coverage_end"}
        super().save(*args, **kwargs)

    def coverage(self) -> Coverage:
        """The UTC interval this report covers, in its site's zone (docs/design.md "Time" rule 5)."""
        return covered_interval(
            started_at=self.started_at,
            ended_at=self.ended_at,
            ongoing=self.ongoing,
            precision=self.time_precision,
            zone_name=self.site.timezone,
        )

    def clean(self) -> None:
        errors = future_errors(self, self.past_fields, now=timezone.now())
        if self.started_at and self.ended_at and self.ended_at <= self.started_at:
            errors.setdefault("ended_at", []).append(ValidationError(_("The end must be after the start.")))
        if self.ongoing and self.ended_at:
            errors["ongoing"] = [
                ValidationError(_("An ongoing report has no end yet: clear “ongoing” when you give an end."))
            ]
        if errors:
            raise ValidationError(errors)


class IdempotencyRecord(models.Model):
    """
    The first response to a POST sent with an `Idempotency-Key` header (docs/api.md), kept
    for a day so that a client on a bad connection can repeat the request and get
    the same answer instead of a second copy of what it created.

    Written in the same transaction as the request's own writes: it exists exactly
    when they do. A request that fails leaves neither, so its retry runs afresh.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # What the key was first used for: the same key with another request is an error.
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    # JSON text, byte for byte as first sent (jsonb would reorder an object's keys).
    response_body = models.TextField(null=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_user_key")]

    def __str__(self) -> str:
        return f"{self.key} ({self.user_id})"


class SecurityEvent(models.Model):
    """
    One line of the security event log: a login or a failed one, a lockout, an API
    token granted or revoked, a change of role, permissions, password or second
    factor. Who (the account, and the admin who acted on it), when, from which
    address and through which path. Admins read it in the admin; nobody edits it.

    Kept apart from the figures' audit history: it is about accounts, and it records
    what failed (an unknown user name, a wrong code) as well as what happened.
    """

    class Kind(models.TextChoices):
        LOGIN_SUCCEEDED = "login_succeeded", _("Logged in")
        LOGIN_FAILED = "login_failed", _("Login failed")
        LOGGED_OUT = "logged_out", _("Logged out")
        LOCKED_OUT = "locked_out", _("Locked out after repeated failures")
        SECOND_FACTOR_PASSED = "second_factor_passed", _("Two-factor code accepted")
        SECOND_FACTOR_FAILED = "second_factor_failed", _("Two-factor code refused")
        SECOND_FACTOR_ENROLLED = "second_factor_enrolled", _("Two-factor authentication turned on")
        SECOND_FACTOR_REMOVED = "second_factor_removed", _("Two-factor authentication turned off")
        SECOND_FACTOR_RESET = "second_factor_reset", _("Two-factor authentication reset by an admin")
        BACKUP_CODES_GENERATED = "backup_codes_generated", _("New backup codes")
        TOKEN_GRANTED = "token_granted", _("API token granted")
        TOKEN_REVOKED = "token_revoked", _("API token revoked")
        ACCOUNT_CREATED = "account_created", _("Account created")
        ROLE_CHANGED = "role_changed", _("Role or activation changed")
        PERMISSIONS_CHANGED = "permissions_changed", _("Permissions or groups changed")
        PASSWORD_CHANGED = "password_changed", _("Password changed")
        PASSWORD_RESET_REQUESTED = "password_reset_requested", _("Password reset asked for")
        PASSWORD_RESET_COMPLETED = "password_reset_completed", _("Password reset")
        # Not about an account: the periodic check found a site inside a restricted one
        # unrestricted (its exact position public) and restricted it.
        RESTRICTION_REPAIRED = "restriction_repaired", _("Site found unrestricted inside a restricted one")

    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    kind = models.CharField(_("event"), max_length=32, choices=Kind.choices)
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("account"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # The name as typed (a failed login may name no account) or as it was then.
    username = models.CharField(_("user name"), max_length=150, blank=True)
    # Who did it, when not the account's holder: the admin who reset a password, for one.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("done by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    ip_address = models.GenericIPAddressField(_("address"), null=True, blank=True)
    user_agent = models.CharField(_("browser or client"), max_length=300, blank=True)
    path = models.CharField(_("through"), max_length=300, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("security event")
        verbose_name_plural = _("security events")
        indexes = [
            models.Index(fields=["kind", "at"], name="securityevent_kind_at"),
            # The password reset throttle counts one address's requests of the last hour.
            models.Index(fields=["ip_address", "at"], name="securityevent_address_at"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.username or '-'}"


class ExactPositionRead(models.Model):
    """
    One line of the access log of exact positions: a person read where a restricted
    site is exactly (a page, the admin, the API or an export), so the organisation can
    answer "who saw where this shelter is". Written once the response is made
    (tracker/secrecy.py); admins read and export it in the admin; nobody edits it.
    """

    class Channel(models.TextChoices):
        PAGE = "page", _("Page")
        ADMIN = "admin", _("Admin")
        API = "api", _("API")
        EXPORT = "export", _("Export (CSV, GeoJSON)")

    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("who"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # As they were then: the account or the site may later be renamed or deleted.
    username = models.CharField(_("user name"), max_length=150, blank=True)
    site = models.ForeignKey(
        Site, verbose_name=_("site"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    site_name = models.CharField(_("site name"), max_length=200, blank=True)
    through = models.CharField(_("through"), max_length=10, choices=Channel.choices)
    path = models.CharField(_("address read"), max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(_("from address"), null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("exact position read")
        verbose_name_plural = _("exact position reads")
        indexes = [models.Index(fields=["site", "at"], name="positionread_site_at")]

    def __str__(self) -> str:
        return f"{self.username or '-'}: {self.site_name} ({self.get_through_display()})"


class Heartbeat(models.Model):
    """
    When a periodic job (run by celery beat) last finished: one row per job, written
    by the job itself. The health check reads it to tell whether beat is alive; a
    database row, not a cache key, because it must survive the Redis outage it helps
    to diagnose.
    """

    name = models.CharField(_("name"), max_length=100, primary_key=True)
    at = models.DateTimeField(_("last run"))

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"


class ImportBatch(TimeStamped):
    """
    One file imported (tracker/imports/): who, when, which file (its name, size and
    SHA-256), what it held, and what became of each row. A batch is first previewed
    (every row checked and written, then rolled back), then applied, and may be undone;
    the file is kept with it so that applying reads exactly what was previewed.
    Batches are records: never deleted.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        PREVIEWED = "previewed", _("Previewed")
        APPLIED = "applied", _("Applied")
        FAILED = "failed", _("Failed")
        UNDONE = "undone", _("Undone")

    resource = models.CharField(_("what it holds"), max_length=20)
    format = models.CharField(_("format"), max_length=10)
    file_name = models.CharField(_("file name"), max_length=255)
    checksum = models.CharField(_("SHA-256"), max_length=64, db_index=True)
    size = models.PositiveBigIntegerField(_("size in bytes"))
    content = models.BinaryField(_("file"))
    # The language the person who uploaded it reads: the errors are written in it.
    language = models.CharField(_("language"), max_length=10, default="en")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    # Apply the rows without errors and leave the others, instead of all or nothing.
    valid_only = models.BooleanField(_("valid rows only"), default=False)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_done = models.PositiveIntegerField(_("rows done"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    # A full export of a conflict-event data set: retract the reports of its period's
    # events that earlier imports wrote and this file no longer holds.
    retract_missing = models.BooleanField(_("retract events no longer in the data set"), default=False)
    retracted = models.PositiveIntegerField(_("retracted"), default=0)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    # The file's first rows (IMPORT_ROWS_SHOWN), each with what it did or would do:
    # {"row", "action" (created, updated, unchanged, error), "what" (the object, by its
    # natural key, in the importer's language), "changes" (the fields an update changes)}.
    row_outcomes = models.JSONField(_("rows"), default=list, blank=True)
    ignored_columns = models.JSONField(_("ignored columns"), default=list, blank=True)
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("organisation"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("imported by"), on_delete=models.PROTECT, related_name="+"
    )
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)
    undone_at = models.DateTimeField(_("undone at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("import")
        verbose_name_plural = _("imports")

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"


class ImportedRow(models.Model):
    """
    What one row of an applied import did to one object: created it, or changed it
    from `before` (the stored values, by attribute name, that undoing restores).
    `key` is the row's stable key (an external id such as an ACLED event's), by which
    a later import of the same data finds the object again.
    """

    class Action(models.TextChoices):
        CREATED = "created", _("created")
        UPDATED = "updated", _("updated")

    batch = models.ForeignKey(ImportBatch, on_delete=models.PROTECT, related_name="rows")
    row = models.PositiveIntegerField(_("row"))
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    content_type = models.ForeignKey("contenttypes.ContentType", on_delete=models.PROTECT, related_name="+")
    object_id = models.PositiveBigIntegerField()
    key = models.CharField(_("key"), max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["batch", "row"]
        constraints = [models.UniqueConstraint(fields=["batch", "row"], name="importedrow_one_per_row")]
        indexes = [
            models.Index(fields=["content_type", "object_id"], name="importedrow_object"),
            models.Index(fields=["content_type", "key"], name="importedrow_key"),
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.row} {self.action}"


class DemoRow(models.Model):
    """
    Which row plays which part of the demo scenario (`manage.py load_demo`): the loader
    finds its rows by this stable key, never by a name a person may have changed since,
    so that a rename in the demo is kept and not met by a second copy.
    """

    key = models.CharField(_("key"), max_length=100, primary_key=True)
    model = models.CharField(_("model"), max_length=100)
    object_id = models.PositiveBigIntegerField(_("object id"))

    class Meta:
        verbose_name = _("demo row")
        verbose_name_plural = _("demo rows")

    def __str__(self) -> str:
        return f"{self.key}: {self.model} {self.object_id}"


class ApiKey(models.Model):
    """
    A read-only key for a data user (a newsroom's notebook, a data portal's harvester),
    issued by an admin: `Authorization: Api-Key KEY` reads what the public reads, with
    its own rate limit (higher than anonymous), and writes nothing. Only a SHA-256
    digest of the key is stored; the key itself is shown once, when it is issued.
    """

    name = models.CharField(_("name"), max_length=200, help_text=_("Who uses it: a newsroom, a data portal."))
    contact = models.CharField(_("contact"), max_length=200, blank=True, help_text=_("Whom to ask about its use."))
    # The first characters of the key, to tell keys apart in the admin and the logs.
    prefix = models.CharField(_("prefix"), max_length=12, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    rate = models.CharField(
        _("rate limit"),
        max_length=20,
        blank=True,
        help_text=_('Requests per period, such as "3000/minute"; empty: the default for keys.'),
        validators=[
            RegexValidator(
                r"^[1-9][0-9]{0,8}/(second|minute|hour|day)$",
                _('Give a number of requests per second, minute, hour or day, such as "3000/minute".'),
            )
        ],
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        User, verbose_name=_("issued by"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
