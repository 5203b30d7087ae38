"""
What the security event log hears without being called: logins and failures (from
Django's auth signals, whichever page or backend sent them), lockouts (django-axes),
API tokens created and deleted (by the API, the admin or a revocation), and changes
to an account's role, activation, permissions and password, by whichever path they
were saved. A saved password change revokes the account's API tokens here, so that
no path can forget it. Connected in tracker/apps.py.
"""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.request import Request

from tracker import accounts, permissions
from tracker.models import SecurityEvent, User

Kind = SecurityEvent.Kind


def _user_named(username: str) -> User | None:
    return User.objects.filter(username=username).first() if username else None


def on_logged_in(sender: Any, request: Any, user: User, **kwargs: Any) -> None:
    # knox announces a token as a login with the REST framework's request: that is a token grant, logged below.
    if isinstance(request, Request) or request is None:
        return
    accounts.security_event_record(kind=Kind.LOGIN_SUCCEEDED, account=user, request=request)


def on_logged_out(sender: Any, request: Any, user: User | None, **kwargs: Any) -> None:
    if isinstance(request, Request) or request is None or user is None:
        return
    accounts.security_event_record(kind=Kind.LOGGED_OUT, account=user, request=request)


def on_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get("username") or "")
    detail: dict[str, Any] = {}
    if getattr(request, "axes_locked_out", False):
        detail["refused"] = "locked out"
    accounts.security_event_record(
        kind=Kind.SECOND_FACTOR_FAILED if credentials.get("second_factor") else Kind.LOGIN_FAILED,
        account=_user_named(username),
        username=username,
        request=request,
        detail=detail,
    )


def on_locked_out(sender: Any, request: Any, username: str | None, ip_address: str | None, **kwargs: Any) -> None:
    # django-axes announces every refused attempt while locked out; the log keeps the moment it locked.
    if getattr(request, "axes_failures_since_start", None) != settings.AXES_FAILURE_LIMIT:
        return
    accounts.security_event_record(
        kind=Kind.LOCKED_OUT,
        account=_user_named(username or ""),
        username=username or "",
        request=request,
        detail={"failures": settings.AXES_FAILURE_LIMIT, "cool_off_minutes": settings.LOGIN_COOLOFF_MINUTES},
    )


def _forget_permission_cache(user: User) -> None:
    for attribute in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(attribute, None)


def _access_changed(user: User) -> None:
    """
    An account whose access changed and that must now use a second factor keeps no
    API token it may have had before it did (tokens are granted to it only with a code).
    """
    _forget_permission_cache(user)
    if permissions.must_use_second_factor(user) and not accounts.has_second_factor(user):
        accounts.api_tokens_revoke(account=user)


def on_user_saved(sender: Any, instance: User, created: bool, update_fields: Any = None, **kwargs: Any) -> None:
    loaded = getattr(instance, "_loaded_access", None)
    now_access = (str(instance.role), instance.is_active)
    if created:
        accounts.security_event_record(
            kind=Kind.ACCOUNT_CREATED,
            account=instance,
            detail={"role": str(instance.role), "is_active": instance.is_active},
        )
    elif loaded is not None and loaded != now_access:
        accounts.security_event_record(
            kind=Kind.ROLE_CHANGED,
            account=instance,
            detail={
                name: [before, after]
                for name, before, after in zip(("role", "is_active"), loaded, now_access, strict=True)
                if before != after
            },
        )
        _access_changed(instance)
    instance._loaded_access = now_access
    if getattr(instance, "_password_changed", False):
        instance._password_changed = False
        kind = getattr(instance, "_password_change_kind", Kind.PASSWORD_CHANGED)
        instance.__dict__.pop("_password_change_kind", None)
        if not created:
            revoked = accounts.api_tokens_revoke(account=instance)
            accounts.security_event_record(kind=kind, account=instance, detail={"api_tokens_revoked": revoked})


def _codenames(model: Any, pks: Any) -> list[str]:
    if model is Permission:
        return sorted(f"{p.content_type.app_label}.{p.codename}" for p in Permission.objects.filter(pk__in=pks))
    return sorted(str(g) for g in model.objects.filter(pk__in=pks))


def on_user_m2m_changed(
    sender: Any, instance: Any, action: str, reverse: bool, model: Any, pk_set: Any, **kwargs: Any
) -> None:
    """A user's own permissions or groups, changed from either side (user.user_permissions, group.user_set)."""
    if action == "pre_clear":
        # Which ones go is known only before they are gone.
        if reverse:
            instance._cleared = list(instance.user_set.values_list("pk", flat=True))
        else:
            related = instance.user_permissions if model is Permission else instance.groups
            instance._cleared = list(related.values_list("pk", flat=True))
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    change = "added" if action == "post_add" else "removed"
    if action == "post_clear":
        pk_set = getattr(instance, "_cleared", [])
    if not pk_set:
        return
    what = "permissions" if (model is Permission or isinstance(instance, Permission)) else "groups"
    if reverse:
        # instance is the permission or group; pk_set the users.
        for user in User.objects.filter(pk__in=pk_set):
            accounts.security_event_record(
                kind=Kind.PERMISSIONS_CHANGED, account=user, detail={what: {change: [str(instance)]}}
            )
            _access_changed(user)
        return
    accounts.security_event_record(
        kind=Kind.PERMISSIONS_CHANGED, account=instance, detail={what: {change: _codenames(model, pk_set)}}
    )
    _access_changed(instance)


def on_group_permissions_changed(
    sender: Any, instance: Any, action: str, reverse: bool, model: Any, pk_set: Any, **kwargs: Any
) -> None:
    """A group's permissions: every member's access changes with them."""
    if action not in ("post_add", "post_remove") or not pk_set:
        return
    groups = Group.objects.filter(pk__in=pk_set) if reverse else [instance]
    names = [str(instance)] if reverse else _codenames(Permission, pk_set)
    change = "added" if action == "post_add" else "removed"
    for group in groups:
        accounts.security_event_record(
            kind=Kind.PERMISSIONS_CHANGED, detail={"group": group.name, "permissions": {change: names}}
        )
        for user in User.objects.filter(groups=group):
            _access_changed(user)


def on_token_saved(sender: Any, instance: AuthToken, created: bool, **kwargs: Any) -> None:
    if created:
        accounts.security_event_record(
            kind=Kind.TOKEN_GRANTED,
            account=instance.user,
            detail={"token": instance.token_key, "expiry": instance.expiry.isoformat() if instance.expiry else None},
        )


def on_token_deleted(sender: Any, instance: AuthToken, **kwargs: Any) -> None:
    # knox deletes a token it finds expired: that is not a revocation.
    if instance.expiry is not None and instance.expiry <= timezone.now():
        return
    accounts.security_event_record(kind=Kind.TOKEN_REVOKED, account=instance.user, detail={"token": instance.token_key})


def connect() -> None:
    user_logged_in.connect(on_logged_in, dispatch_uid="tracker.security.logged_in")
    user_logged_out.connect(on_logged_out, dispatch_uid="tracker.security.logged_out")
    user_login_failed.connect(on_login_failed, dispatch_uid="tracker.security.login_failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="tracker.security.locked_out")
    post_save.connect(on_user_saved, sender=User, dispatch_uid="tracker.security.user_saved")
    m2m_changed.connect(
        on_user_m2m_changed, sender=User.user_permissions.through, dispatch_uid="tracker.security.perms"
    )
    m2m_changed.connect(on_user_m2m_changed, sender=User.groups.through, dispatch_uid="tracker.security.groups")
    m2m_changed.connect(
        on_group_permissions_changed, sender=Group.permissions.through, dispatch_uid="tracker.security.group_perms"
    )
    post_save.connect(on_token_saved, sender=AuthToken, dispatch_uid="tracker.security.token_saved")
    post_delete.connect(on_token_deleted, sender=AuthToken, dispatch_uid="tracker.security.token_deleted")
