"""
Who may do what (docs/design.md, "Who may do what"), in one place: the admin, the API,
the staff pages and the services all ask these functions.

| role        | can                                                                    |
|-------------|------------------------------------------------------------------------|
| anyone      | read public figures                                                     |
| reporter    | add figures for their organisation; edit and retract that organisation's |
| coordinator | the above; manage sites, corridors, windows; verify or dispute any     |
|             | figure; review flags; see restricted sites' exact positions            |
| admin       | everything, users and organisations                                    |
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings

from tracker.models import Role, Verification

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from tracker.models import Attributed, User

# The verification states a reporter may give their own organisation's figures;
# verifying and disputing are a coordinator's judgement.
REPORTER_VERIFICATIONS = frozenset({Verification.UNVERIFIED, Verification.RETRACTED})


def role_of(user: User | AnonymousUser | None) -> str | None:
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    return user.role


def is_admin(user: Any) -> bool:
    return role_of(user) == Role.ADMIN


def is_coordinator(user: Any) -> bool:
    """Coordinators and admins."""
    return role_of(user) in (Role.COORDINATOR, Role.ADMIN)


def is_staff_member(user: Any) -> bool:
    return role_of(user) is not None


def can_add_figures(user: Any) -> bool:
    """Any member of an organisation; an admin also without one (the figure's organisation is then empty)."""
    return is_admin(user) or (is_staff_member(user) and user.organisation_id is not None)


def can_edit_figure(user: Any, figure: Attributed) -> bool:
    """Change every field, or delete: an admin, or a member of the figure's organisation."""
    if is_admin(user):
        return True
    return is_staff_member(user) and user.organisation_id is not None and figure.organisation_id == user.organisation_id


def can_set_verification(user: Any, value: str) -> bool:
    return is_coordinator(user) or (is_staff_member(user) and value in REPORTER_VERIFICATIONS)


def can_change_verification(user: Any, was: str, becomes: str) -> bool:
    """Only coordinators set or clear "verified" and "disputed"; reporters move between the other two."""
    return is_coordinator(user) or (
        is_staff_member(user) and was in REPORTER_VERIFICATIONS and becomes in REPORTER_VERIFICATIONS
    )


def can_override_figure_rules(user: Any) -> bool:
    """Accept, with a reason, a movement that does not fit its corridor's path or its window's times."""
    return is_coordinator(user)


def can_manage_places(user: Any) -> bool:
    """Sites, corridors, windows and schedules."""
    return is_coordinator(user)


def can_review_flags(user: Any) -> bool:
    return is_coordinator(user)


def can_manage_sources(user: Any) -> bool:
    """Change or delete a source; any staff member may add one."""
    return is_coordinator(user)


def can_manage_accounts(user: Any) -> bool:
    """Users and organisations."""
    return is_admin(user)


def can_see_people_of(user: Any, organisation_id: int | None) -> bool:
    """
    Whether this user may see which staff account did something for `organisation_id`
    (entered a figure, say): coordinators and admins see everyone; a reporter only the
    people of their own organisation; the public nobody (it sees the organisation).
    """
    if is_coordinator(user):
        return True
    return is_staff_member(user) and user.organisation_id is not None and user.organisation_id == organisation_id


def can_view_exact_location(user: Any) -> bool:
    """Whether this user may see a restricted site's exact coordinates."""
    if is_coordinator(user):
        return True
    return is_staff_member(user) and user.has_perm("tracker.view_exact_location")


def must_use_second_factor(user: Any) -> bool:
    """
    Whether this account must log in with a second factor (STAFF_2FA_REQUIRED): every
    account that can see where the shelters are. Anyone else may still turn it on.
    """
    return bool(settings.STAFF_2FA_REQUIRED) and can_view_exact_location(user)


def can_reset_second_factor(user: Any) -> bool:
    """Remove someone else's authenticator app and backup codes (a lost phone)."""
    return is_admin(user)
