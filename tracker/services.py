"""
Named write operations on the facts on the ground. Every write of an audited model
goes through here (or corridors/services.py): the admin, the API, the staff pages
and the demo loader. Each one checks who may do it, validates with the model's
rules, records the user in the audit history and runs in one transaction, so a
failed call writes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils.translation import gettext as _

from corridors import events, recheck
from tracker import accounts, permissions
from tracker.audit import audited_delete, audited_save, changed_fields, lock_row_shared, stored_difference
from tracker.models import (
    Attributed,
    CivilianCount,
    Heartbeat,
    HostilityReport,
    IdempotencyRecord,
    LatestCount,
    Organisation,
    SecurityEvent,
    Site,
    Source,
    Verification,
)
from tracker.selectors import latest_count_rows, site_descendant_ids, unrestricted_sites_inside_restricted
from tracker.sync import sync_touch

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tracker.models import User

log = logging.getLogger("tracker.security")

# Set by the system from the logged-in user, never by the person writing.
STAMPED_FIELDS = frozenset({"organisation", "created_by"})
# What a figure says is every field but these: how far it is verified, a
# coordinator's override of the consistency rules, and what the system derives.
NOT_SUBSTANCE = STAMPED_FIELDS | {"verification", "override_reason", "coverage_start", "coverage_end", "updated_at"}
# The states a coordinator's judgement puts a figure in.
JUDGED = frozenset({Verification.VERIFIED, Verification.DISPUTED})
# The PostgreSQL advisory lock that serialises the writes of sites (any fixed number).
SITE_TREE_LOCK = 7_264_001
# The first half of the advisory lock "reports joining site N" (site_save, _lock_context).
REPORTS_JOINING_SITE = 7_264


@transaction.atomic
def figure_save(*, figure: Attributed, user: User) -> Attributed:
    """
    Create or change a figure (a count, a departure, an arrival, a hostility report).

    A new figure is stamped with the user's organisation and the user. A member of
    the figure's organisation may change it; a coordinator may change only the
    verification (and the override) of another organisation's figure.

    Verification is a coordinator's judgement of what the figure says: only
    coordinators set or clear "verified" and "disputed", and a change to the
    substance of a verified or disputed figure returns it to "unverified" (unless a
    coordinator judges the new version in the same change); the history keeps both.
    Reporters move their figures between "unverified" and "retracted".
    """
    if not figure_check(figure=figure, user=user):
        return figure
    # Read under the lock figure_check() took, before the write: where a count was.
    moved_from = _stored_site_id(figure)
    created = figure._state.adding
    parents_before = _stored_parent_ids(figure)
    figure._history_user = user  # type: ignore[attr-defined]
    figure.save()
    _touch_parents(figure, parents_before)
    events.figure_changed(figure=figure, created=created)
    if isinstance(figure, CivilianCount):
        site_latest_counts_refresh(site_ids=[figure.site_id, *([moved_from] if moved_from else [])])
    return figure


def figure_check(*, figure: Attributed, user: User) -> bool:
    """
    Everything figure_save() decides before it writes: who may make this change,
    the verification it leaves, the override it keeps; then the model's rules.
    Raises PermissionDenied or ValidationError; the admin's form asks it too, so
    that a refusal comes back as a form error with everything typed kept. Locks
    the stored row until the end of the transaction: what is decided here still
    holds when figure_save() writes it. False when nothing changed.
    """
    if figure._state.adding:
        if not permissions.can_add_figures(user):
            raise PermissionDenied(_("Only members of an organisation can add figures."))
        figure.organisation = getattr(user, "organisation", None)
        figure.created_by = user
        changed, stored = stored_difference(figure)
    else:
        changed, stored = stored_difference(figure, lock=True)
        if not changed:
            return False
        if changed & STAMPED_FIELDS:
            raise PermissionDenied(_("The organisation and the person who entered a figure cannot be changed."))
        if not permissions.can_edit_figure(user, figure) and not (
            permissions.is_coordinator(user) and changed <= {"verification", "override_reason"}
        ):
            raise PermissionDenied(_("You can change only your own organisation's figures."))
    _judge_verification(figure, user=user, changed=changed, stored=stored)
    _keep_or_clear_override(figure, user=user, changed=changed, stored=stored)
    _lock_context(figure, joining=changed, stored=stored)
    figure.full_clean()
    return True


def _judge_verification(figure: Attributed, *, user: User, changed: set[str], stored: dict[str, Any] | None) -> None:
    was = stored["verification"] if stored is not None else Verification.UNVERIFIED
    if was in JUDGED and changed - NOT_SUBSTANCE:
        # The judgement was of what the figure said before: nobody has looked at this yet.
        was = Verification.UNVERIFIED
        judged_anew = "verification" in changed and permissions.is_coordinator(user)
        if not judged_anew and figure.verification in JUDGED:
            figure.verification = Verification.UNVERIFIED
    if figure.verification != was and not permissions.can_change_verification(user, was, figure.verification):
        raise PermissionDenied(_("Only a coordinator can mark a figure verified or disputed, or clear that."))


def _keep_or_clear_override(
    figure: Attributed, *, user: User, changed: set[str], stored: dict[str, Any] | None
) -> None:
    """
    Only a coordinator gives, changes or removes the reason that lets a movement
    stand although it does not fit its corridor or window. The override was about
    where and when: when anyone else changes that, it goes, and the figure is
    checked afresh.
    """
    if not hasattr(figure, "override_reason"):
        return
    was = stored["override_reason"] if stored is not None else ""
    if figure.override_reason != was:
        if not permissions.can_override_figure_rules(user):
            raise PermissionDenied(
                _("Only a coordinator can accept a figure that does not fit its corridor or window (override reason).")
            )
    elif (
        was and changed & getattr(figure, "override_fields", set()) and not permissions.can_override_figure_rules(user)
    ):
        figure.override_reason = ""


def _lock_context(figure: Attributed, *, joining: set[str], stored: dict[str, Any] | None = None) -> None:
    """
    Share-lock, until the end of the transaction, the rows a figure's rules are
    checked against (its `context_fields`), and read them again: a report's site
    (its zone decides what an hour- or day-precision report covers), a movement's
    corridor (its path) and window (its times). A change to one of those takes the
    row's lock and waits for this figure, then sees it (and checks it:
    CorridorWindow.clean, corridor_save); or this figure waits for the change, and is
    checked against what it made. Always after the figure's own row (figure_check):
    a site's zone change locks its reports, then the site (site_save).

    A report joining a site (new, or moved there: its `site` in `joining`) also
    holds that site's "reports joining" lock shared: a zone change of the site, which
    takes it exclusively before it locks the site's reports, then either waits for
    it and finds the report among them, or is waited for and the report is saved
    against the new zone.

    A synced parent (`synced_parents`: a movement's window), before and after the
    change (`stored`), is locked for update instead, in id order: figure_save() moves
    its `updated_at` at the end. Share-locked first, two movements of one window would
    each wait for the other's share lock to update it: a deadlock.
    """
    names = getattr(figure, "context_fields", ())
    synced = getattr(figure, "synced_parents", ())
    movement = cast(Any, figure)
    if "window" in names and movement.window_id is not None and movement.corridor_id is None:
        # A movement linked to a window is through that window's corridor (Movement.clean says so too).
        window_model = movement._meta.get_field("window").related_model
        movement.corridor_id = (
            window_model._default_manager.filter(pk=movement.window_id).values_list("corridor_id", flat=True).first()
        )
    for name in names:
        model, pk = cast(Any, figure._meta.get_field(name).related_model), getattr(figure, f"{name}_id")
        if name in synced and connection.vendor == "postgresql":
            before = stored[f"{name}_id"] if stored is not None else None
            ids = sorted({i for i in (pk, before) if i is not None})
            list(model._default_manager.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk").values("pk"))
        if pk is None:
            continue
        if model is Site and name in joining and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", [REPORTS_JOINING_SITE, _lock_key(pk)])
        if name not in synced:
            lock_row_shared(model, pk)
        fresh = model._default_manager.filter(pk=pk).first()
        if fresh is not None:  # gone meanwhile: the foreign key refuses the write
            setattr(figure, name, fresh)


@transaction.atomic
def figure_delete(*, figure: Attributed, user: User) -> None:
    if not permissions.can_edit_figure(user, figure):
        raise PermissionDenied(_("You can delete only your own organisation's figures."))
    # Locked first: a flag check raising a flag on this report holds it (FOR KEY
    # SHARE) until it commits; then the flag is seen below, and the report is in use.
    type(figure)._default_manager.select_for_update().filter(pk=figure.pk).first()
    parents = _stored_parent_ids(figure)
    audited_delete(figure, user=user)
    _touch_parents(figure, parents)
    if isinstance(figure, CivilianCount):
        site_latest_counts_refresh(site_ids=[figure.site_id])


def _stored_parent_ids(figure: Attributed) -> dict[str, int | None]:
    """The ids of a stored figure's synced parents before this change, by field name (none for a new one)."""
    names = [f"{name}_id" for name in getattr(figure, "synced_parents", ())]
    if not names or figure._state.adding:
        return {}
    return type(figure)._default_manager.filter(pk=figure.pk).values(*names).first() or {}


def _touch_parents(figure: Attributed, before: dict[str, int | None]) -> None:
    """Move the `updated_at` of the synced parents the figure was and is linked to (sync_touch)."""
    for name in getattr(figure, "synced_parents", ()):
        model = cast(Any, figure._meta.get_field(name).related_model)
        sync_touch(model=model, ids=[getattr(figure, f"{name}_id"), before.get(f"{name}_id")])


def _stored_site_id(figure: Attributed) -> int | None:
    """The site a stored count is at before this change (None for anything else)."""
    if not isinstance(figure, CivilianCount) or figure._state.adding:
        return None
    return CivilianCount.objects.filter(pk=figure.pk).values_list("site_id", flat=True).first()


def site_latest_counts_refresh(*, site_ids: Iterable[int]) -> None:
    """
    Recompute these sites' latest counts (tracker.models.LatestCount) from their counts,
    in the caller's transaction: every service that creates, changes, retracts or
    deletes a count calls it.

    The sites' rows are locked first, in id order (FOR NO KEY UPDATE, which does not
    block the inserts of counts that refer to them): two transactions that write counts
    of one site recompute one after the other, the second seeing the first's count once
    it has committed. Without the lock each sees only its own new count, and whichever
    commits last wins, even with the older count.
    """
    ids = sorted(set(site_ids))
    if not ids:
        return
    with transaction.atomic():
        list(Site.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk").values_list("pk"))
        rows = []
        for site_id in ids:
            latest = (
                CivilianCount.objects.filter(site_id=site_id)
                .exclude(verification=Verification.RETRACTED)
                .order_by("-as_of", "-id")
                .values_list("pk", "count", "as_of")
                .first()
            )
            if latest is not None:
                pk, count, as_of = latest
                rows.append(LatestCount(site_id=site_id, civilian_count_id=pk, count=count, as_of=as_of))
        # Replaced rather than updated: a count moved from one site to another stays the latest of one only.
        LatestCount.objects.filter(site_id__in=ids).delete()
        LatestCount.objects.bulk_create(rows)


def site_latest_counts_rebuild() -> int:
    """
    Recompute every site's latest count from scratch (after rows were written around the
    services, as the benchmarks' COPY does); returns how many sites have one. Run it
    while nothing else writes counts.
    """
    with transaction.atomic():
        LatestCount.objects.all().delete()
        rows = LatestCount.objects.bulk_create(
            (
                LatestCount(site_id=site, civilian_count_id=pk, count=count, as_of=as_of)
                for site, pk, count, as_of in latest_count_rows().iterator()
            ),
            batch_size=2000,
        )
    return len(rows)


@transaction.atomic
def hostility_report_save(*, report: HostilityReport, user: User) -> HostilityReport:
    """
    Create or change a hostility report (retracting is a change of its verification).
    Its flags are raised, updated or withdrawn after the commit.
    """
    figure_save(figure=report, user=user)
    recheck.recheck_report(report_id=report.pk)
    return report


@transaction.atomic
def hostility_report_delete(*, report: HostilityReport, user: User) -> None:
    """Delete a report that raised no flag; one with flags must be retracted, so its history stays."""
    report_id = report.pk
    figure_delete(figure=report, user=user)
    recheck.recheck_report(report_id=report_id)


@transaction.atomic
def site_save(*, site: Site, user: User, keep_unrestricted: bool = False) -> Site:
    """
    Create or change a site. Moving it in the tree re-checks every corridor it touched
    before or touches after (docs/design.md "Space"); a new time zone moves what its
    hour- and day-precision reports cover, so those are re-checked too.

    A site inside a restricted one is restricted, however the writes interleave: every
    site write holds the tree lock (site_tree_lock), so whether a new, moved or changed
    site is inside a restricted one, and which sites are inside one being restricted,
    is decided on the tree as the write leaves it.
    """
    if not permissions.can_manage_places(user):
        raise PermissionDenied(_("Only coordinators can add or change sites."))
    site_tree_lock()
    changed = set() if site._state.adding else changed_fields(site)
    if site._state.adding and site.kind == Site.Kind.SHELTER and not keep_unrestricted:
        site.restricted = True  # unless a coordinator said otherwise: docs/design.md "Space"
    with recheck.site_moves(site_id=site.pk, moving="parent" in changed):
        _inherit_restriction(site, unrestricting=not site.restricted and "restricted" in changed)
        # Before the site's own row, as every report write takes its row, then its site's.
        reports = _lock_reports_at(site) if "timezone" in changed else []
        audited_save(site, user=user)
        if site.restricted:
            _restrict_sites_inside(site, user=user)
    for report in reports:
        report.site = site
        if (report.coverage_start, report.coverage_end) != report.coverage().index_bounds():
            report._history_user = user  # type: ignore[attr-defined]
            report.save(update_fields=["coverage_start", "coverage_end"])  # nothing else
            recheck.recheck_report(report_id=report.pk)
    return site


def _lock_reports_at(site: Site) -> list[HostilityReport]:
    """
    The reports at this site, locked (in id order) and read as they now are, for a
    change of its zone to re-derive what they cover: an edit committed meanwhile is
    kept, a report moved away meanwhile is no longer among them. First the site's
    "reports joining" lock, exclusively: a report being added or moved here holds it
    shared (_lock_context) until it commits, so none joins unseen between this and
    the zone change's commit.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [REPORTS_JOINING_SITE, _lock_key(site.pk)])
    return list(HostilityReport.objects.select_for_update(no_key=True).filter(site_id=site.pk).order_by("pk"))


def _lock_key(pk: int) -> int:
    """An id as the second half of a two-part advisory lock key (an int4): two ids that share one only wait longer."""
    return pk % 2**31


def site_tree_lock() -> None:
    """
    One site write at a time, until the end of the transaction. Taken before any other
    lock of the write (the API takes it before it locks the site's row): two moves
    checked side by side (A under B, B under A) would each pass the cycle check of
    Site.clean() and together close a cycle; a site added or moved under one being
    restricted would each miss the other and stay unrestricted inside it; and a write
    that locked its row first, then waited here, would deadlock with one holding this
    lock and updating the sites below. (SQLite has one writer at a time anyway.)
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SITE_TREE_LOCK])


def _inherit_restriction(site: Site, *, unrestricting: bool) -> None:
    """
    A site inside a restricted one is restricted too: its exact position would give
    away the shelter's. A new or moved site takes it on; lifting it is refused while
    a site around it is restricted. Decided on the stored tree (under the tree lock),
    not on the parent objects in hand, which may have been read before a change.
    """
    if site.parent_id is None or site.restricted:
        return
    lineage = Site.stored_lineage(site.parent_id)
    restricted = dict(Site.objects.filter(pk__in=lineage, restricted=True).values_list("pk", "name"))
    around = next((restricted[pk] for pk in lineage if pk in restricted), None)
    if around is None:
        return
    if unrestricting:
        raise ValidationError(
            {
                "restricted": [
                    _("This site is inside %(site)s, which is restricted: its position would give that one's away.")
                    % {"site": around}
                ]
            }
        )
    site.restricted = True


def _restrict_sites_inside(site: Site, *, user: User | None) -> list[Site]:
    """
    Restrict every site inside this restricted one that is not yet; returns them. Their
    rows are locked, in id order, and read again before they are written: a change
    made to one of them meanwhile is kept, not overwritten with what was read before.
    """
    inner = list(
        Site.objects.select_for_update(no_key=True)
        .filter(pk__in=site_descendant_ids(site), restricted=False)
        .order_by("pk")
    )
    for each in inner:
        each.restricted = True
        each._history_user = user  # type: ignore[attr-defined]
        each.save(update_fields=["restricted", "updated_at"])
    return inner


def site_restrictions_repair() -> list[Site]:
    """
    The periodic check of the rule site_save() keeps (tracker.tasks, celery beat): find
    every site inside a restricted one that is not restricted, which only a write around
    the services or a bug could leave, and restrict it. Each is an error in the log and
    an event in the security event log: its exact position was public until now, and
    someone must find out who saw it. Returns the sites restricted.
    """
    with transaction.atomic():
        site_tree_lock()
        repaired = []
        for site in Site.objects.select_for_update(no_key=True).filter(pk__in=unrestricted_sites_inside_restricted()):
            lineage = Site.stored_lineage(site.pk)[1:]
            around = Site.objects.filter(pk__in=lineage, restricted=True).order_by("pk").first()
            site.restricted = True
            site.save(update_fields=["restricted", "updated_at"])
            log.error(
                "event=restriction_repaired site=%s inside=%s: a site inside a restricted one was not restricted;"
                " its exact position was public until now",
                site.pk,
                around.pk if around is not None else "-",
            )
            accounts.security_event_record(
                kind=SecurityEvent.Kind.RESTRICTION_REPAIRED,
                detail={"site": site.pk, "name": site.name, "inside": around.pk if around is not None else None},
            )
            repaired.append(site)
        return repaired


@transaction.atomic
def site_delete(*, site: Site, user: User) -> None:
    if not permissions.can_manage_places(user):
        raise PermissionDenied(_("Only coordinators can delete sites."))
    site_tree_lock()
    audited_delete(site, user=user)


@transaction.atomic
def source_save(*, source: Source, user: User) -> Source:
    if source._state.adding:
        if not permissions.is_staff_member(user):
            raise PermissionDenied(_("Log in to add a source."))
    elif not permissions.can_manage_sources(user):
        raise PermissionDenied(_("Only coordinators can change sources."))
    return audited_save(source, user=user)


@transaction.atomic
def source_delete(*, source: Source, user: User) -> None:
    if not permissions.can_manage_sources(user):
        raise PermissionDenied(_("Only coordinators can delete sources."))
    audited_delete(source, user=user)


@transaction.atomic
def organisation_save(*, organisation: Organisation, user: User) -> Organisation:
    if not permissions.can_manage_accounts(user):
        raise PermissionDenied(_("Only admins can add or change organisations."))
    return audited_save(organisation, user=user)


@transaction.atomic
def organisation_delete(*, organisation: Organisation, user: User) -> None:
    if not permissions.can_manage_accounts(user):
        raise PermissionDenied(_("Only admins can delete organisations."))
    audited_delete(organisation, user=user)


@transaction.atomic
def account_save(*, account: User, user: User, password: str | None = None) -> User:
    """
    Create or change a staff account; `password`, when given, is checked against the
    password rules and stored hashed. A new account needs one.
    """
    if not permissions.can_manage_accounts(user):
        raise PermissionDenied(_("Only admins can add or change accounts."))
    if password is not None:
        try:
            validate_password(password, account)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from None
        account.set_password(password)
    elif account._state.adding:
        raise ValidationError({"password": [_("A new account needs a password.")]})
    return audited_save(account, user=user)


@transaction.atomic
def account_delete(*, account: User, user: User) -> None:
    """Delete an account that entered nothing; one that did stays (it is referred to): deactivate it instead."""
    if not permissions.can_manage_accounts(user):
        raise PermissionDenied(_("Only admins can delete accounts."))
    audited_delete(account, user=user)


def idempotency_records_purge(*, now: dt.datetime) -> int:
    """Forget the responses kept for Idempotency-Keys once their day is over. Returns how many."""
    deleted, _by_model = IdempotencyRecord.objects.filter(created_at__lt=now - settings.IDEMPOTENCY_KEY_TTL).delete()
    return deleted


def heartbeat_record(*, name: str, now: dt.datetime) -> None:
    """Note that the periodic job `name` has just finished (the health check reads it)."""
    Heartbeat.objects.update_or_create(name=name, defaults={"at": now})
