"""
Staff logins and accounts: the login page and its second factor, the two-factor page
(enrolment, backup codes), password change and reset, and the page a locked-out
login gets. The work is done by tracker/accounts.py and Django's auth views;
django-axes counts failures and locks out (tracker/settings.py, "Auth").
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import segno
from axes.handlers.proxy import AxesProxyHandler
from axes.utils import reset as axes_reset
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, user_login_failed
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordResetForm
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import login as otp_login

from tracker import accounts, permissions, tasks
from tracker.models import SecurityEvent

if TYPE_CHECKING:
    from tracker.models import User

logger = logging.getLogger("tracker.security")


def locked_out(request: HttpRequest, response: HttpResponse | None = None, credentials: Any = None) -> HttpResponse:
    """
    django-axes' lockout response (AXES_LOCKOUT_CALLABLE), for every login path: 429,
    with Retry-After, in JSON under /api/ and as a page elsewhere.
    """
    retry_after = str(settings.LOGIN_COOLOFF_MINUTES * 60)
    if request.path.startswith("/api/"):
        answer: HttpResponse = JsonResponse({"detail": accounts.lockout_message()}, status=429)
    else:
        answer = render(request, "tracker/staff/locked_out.html", {"message": accounts.lockout_message()}, status=429)
    answer["Retry-After"] = retry_after
    return answer


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


def _second_factor_page(user: Any, next_url: str) -> str:
    target = "tracker:two_factor_verify" if accounts.has_second_factor(user) else "tracker:two_factor"
    return f"{reverse(target)}?{urlencode({'next': next_url})}"


class StaffLoginView(auth_views.LoginView):
    """The password; then, for an account that has or needs an authenticator app, its code."""

    template_name = "tracker/staff/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        user = form.get_user()
        if accounts.second_factor_due(user):
            return redirect(_second_factor_page(user, self.get_success_url()))
        return response


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=20,
        help_text=gettext_lazy("The six digits your authenticator app shows now, or one of your backup codes."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )


def _refuse_code(request: HttpRequest, user: User) -> bool:
    """
    Count a wrong code as a failed login (django-axes: it locks out like a wrong
    password) and log it. Returns whether the account or address is now locked out.
    """
    user_login_failed.send(
        sender=__name__, credentials={"username": user.get_username(), "second_factor": True}, request=request
    )
    return bool(getattr(request, "axes_locked_out", False))


@never_cache
@sensitive_post_parameters("code")
@login_required
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """The second step of a login: the code from the authenticator app, or a backup code."""
    user: Any = request.user
    next_url = _safe_next(request, reverse(settings.LOGIN_REDIRECT_URL))
    if user.is_verified() or not accounts.second_factor_due(user):
        return redirect(next_url)
    if not accounts.has_second_factor(user):
        return redirect(_second_factor_page(user, next_url))
    if not AxesProxyHandler.is_allowed(request, {"username": user.get_username()}):
        logout(request)
        return locked_out(request)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = accounts.second_factor_verify(user=user, code=form.cleaned_data["code"])
        if device is not None:
            otp_login(request, device)
            accounts.security_event_record(
                kind=SecurityEvent.Kind.SECOND_FACTOR_PASSED,
                account=user,
                detail={"device": "backup code" if device.persistent_id.startswith("otp_static") else "app"},
            )
            return redirect(next_url)
        if _refuse_code(request, user):
            logout(request)
            return locked_out(request)
        form.add_error("code", _("That code is not right, or it has been used already. Try the next one."))
    return render(
        request,
        "tracker/staff/two_factor_verify.html",
        {"form": form, "next": next_url},
        status=400 if form.errors else 200,
    )


def _qr_code(uri: str) -> str:
    """The otpauth:// URI as an SVG data URI for an <img> (the CSP allows data: images, no inline script or style)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2, dark="#000", light="#fff")


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


class RemoveForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


@never_cache
@sensitive_post_parameters("code", "password")
@login_required
def two_factor(request: HttpRequest) -> HttpResponse:
    """
    Turn on the second factor (scan or type the secret, confirm with a code), see how
    many backup codes are left, make new ones, or turn it off where it is not required.
    """
    user: Any = request.user
    next_url = _safe_next(request, reverse("tracker:two_factor"))
    device = accounts.totp_device(user)
    if device is not None and not user.is_verified():
        # An account with an app gives its code before it manages anything.
        return redirect(_second_factor_page(user, request.get_full_path()))
    action = request.POST.get("action") if request.method == "POST" else None

    if device is None:
        pending = accounts.totp_enrolment_start(user=user)
        form = CodeForm(request.POST if action == "enrol" else None)
        if action == "enrol" and form.is_valid():
            codes = accounts.totp_enrolment_confirm(user=user, device=pending, code=form.cleaned_data["code"])
            if codes is not None:
                pending.refresh_from_db()
                otp_login(request, pending)
                messages.success(request, _("Two-factor authentication is on for your account."))
                return render(
                    request, "tracker/staff/backup_codes.html", {"codes": codes, "next": next_url, "page": "staff"}
                )
            form.add_error(
                "code", _("That code does not match. Check that the app shows this account, then try again.")
            )
        secret = accounts.totp_secret(pending)
        return render(
            request,
            "tracker/staff/two_factor_enrol.html",
            {
                "form": form,
                "qr_code": _qr_code(pending.config_url),
                "secret": _grouped(secret),
                "required": permissions.must_use_second_factor(user),
                "next": next_url,
                "page": "staff",
            },
            status=400 if form.errors else 200,
        )

    remove_form = RemoveForm(request.POST if action == "remove" else None)
    if action == "backup_codes":
        codes = accounts.backup_codes_generate(user=user)
        return render(request, "tracker/staff/backup_codes.html", {"codes": codes, "next": next_url, "page": "staff"})
    if action == "remove" and remove_form.is_valid():
        if not user.check_password(remove_form.cleaned_data["password"]):
            remove_form.add_error("password", _("That is not your password."))
        else:
            try:
                accounts.second_factor_remove(account=user, user=user)
            except PermissionDenied as exc:
                remove_form.add_error(None, str(exc))
            else:
                messages.success(request, _("Two-factor authentication is off for your account."))
                return redirect("tracker:two_factor")
    return render(
        request,
        "tracker/staff/two_factor.html",
        {
            "device": device,
            "backup_codes_left": accounts.backup_codes_left(user),
            "required": permissions.must_use_second_factor(user),
            "remove_form": remove_form,
            "page": "staff",
        },
        status=400 if remove_form.errors else 200,
    )


class StaffPasswordChangeView(auth_views.PasswordChangeView):
    """
    Change one's own password. The session it is changed in stays logged in; every
    other session of the account ends (Django's session hash), and every API token
    is revoked (tracker/signals.py).
    """

    template_name = "tracker/staff/password_change.html"
    success_url = reverse_lazy("tracker:my_figures")
    extra_context = {"page": "staff"}

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(
            self.request,
            _("Your password is changed. Your other sessions were logged out and your API tokens revoked."),
        )
        return response


class StaffPasswordResetForm(PasswordResetForm):
    """
    Django's reset form, but the e-mail is handed to a background task: an address
    with an account takes as long to answer as one without, so the response time does
    not tell them apart either.
    """

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        body = loader.render_to_string(email_template_name, context)
        try:
            tasks.send_email.delay(subject=subject, body=body, to=to_email)
        except Exception:
            # A broker outage: the person asks again; the answer must not differ.
            logger.warning("The password reset e-mail could not be queued.", exc_info=True)


class StaffPasswordResetView(auth_views.PasswordResetView):
    """
    Ask for a reset link by e-mail address. Known and unknown addresses get the same
    answer; PASSWORD_RESET_LIMIT requests an hour per client and per address.
    """

    template_name = "tracker/staff/password_reset.html"
    email_template_name = "tracker/staff/password_reset_email.txt"
    subject_template_name = "tracker/staff/password_reset_subject.txt"
    form_class = StaffPasswordResetForm
    success_url = reverse_lazy("tracker:password_reset_done")

    def form_valid(self, form: Any) -> HttpResponse:
        email = form.cleaned_data["email"]
        if not accounts.password_reset_allowed(request=self.request, email=email):
            accounts.security_event_record(
                kind=SecurityEvent.Kind.PASSWORD_RESET_REQUESTED,
                detail={"email": email.strip().lower(), "refused": "too many requests"},
            )
            form.add_error(
                None,
                _("Too many reset requests from here or for this address. Try again in an hour."),
            )
            return self.render_to_response(self.get_context_data(form=form), status=429)
        matches = list(form.get_users(email))
        accounts.security_event_record(
            kind=SecurityEvent.Kind.PASSWORD_RESET_REQUESTED,
            account=matches[0] if len(matches) == 1 else None,
            detail={"email": email.strip().lower()},
        )
        return super().form_valid(form)


class StaffPasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "tracker/staff/password_reset_done.html"


class StaffPasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "tracker/staff/password_reset_confirm.html"
    success_url = reverse_lazy("tracker:password_reset_complete")

    def form_valid(self, form: Any) -> HttpResponse:
        form.user._password_change_kind = SecurityEvent.Kind.PASSWORD_RESET_COMPLETED
        response = super().form_valid(form)
        # Whoever controls the account's e-mail may log in again at once: the failed
        # attempts against its name (a guesser's, perhaps) no longer lock it.
        axes_reset(username=form.user.get_username())
        return response


class StaffPasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "tracker/staff/password_reset_complete.html"
