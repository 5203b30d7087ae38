"""
One figure, entered the three ways staff enter figures: the REST API, the staff quick
forms and the admin. A rule holds "everywhere" when all three refuse the same input
with a message on the same field and write nothing, and take the same good input.

`enter(path, user, kind, **values)` takes Python values (model instances, aware
datetimes) and writes each the way that path wants it: ids and ISO 8601 for the
API, the site's wall-clock time for a quick form, the admin's zone (TIME_ZONE) split
into date and time for the admin.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import models
from django.test import Client
from django.urls import reverse
from django.utils import translation

from corridors.models import Arrival, Departure
from tests.api import api, url
from tracker.models import CivilianCount, HostilityReport

PATHS = ("api", "staff", "admin")

# kind: (model, API list route, quick form URL name, admin add URL name,
#        the field whose site's zone a quick form reads times in)
KINDS: dict[str, tuple[type[models.Model], str, str, str, str]] = {
    "count": (CivilianCount, "count-list", "tracker:count_new", "admin:tracker_civiliancount_add", "site"),
    "hostility": (
        HostilityReport,
        "hostility-list",
        "tracker:hostility_new",
        "admin:tracker_hostilityreport_add",
        "site",
    ),
    "departure": (Departure, "departure-list", "corridors:departure_new", "admin:corridors_departure_add", "origin"),
    "arrival": (Arrival, "arrival-list", "corridors:arrival_new", "admin:corridors_arrival_add", "destination"),
}
# Fields only the admin and the API have (a quick form leaves them out).
NOT_ON_QUICK_FORMS = {"reported_at", "verification", "corridor"}


@dataclass
class Outcome:
    """What came back: `ok` when the figure was saved, else the messages per field (`__all__`: the form's own)."""

    ok: bool
    status: int
    errors: dict[str, list[str]] = field(default_factory=dict)
    html: str = ""

    def messages(self) -> str:
        return " ".join(message for messages in self.errors.values() for message in messages)


def enter(path: str, user: Any, kind: str, /, **values: Any) -> Outcome:
    model = KINDS[kind][0]
    before = model._default_manager.count()
    outcome = {"api": _through_api, "staff": _through_staff_form, "admin": _through_admin}[path](user, kind, values)
    saved = model._default_manager.count() - before
    assert saved == (1 if outcome.ok else 0), (path, outcome)
    return outcome


def _id(value: Any) -> Any:
    return value.pk if isinstance(value, models.Model) else value


def _through_api(user: Any, kind: str, values: dict[str, Any]) -> Outcome:
    body = {name: value.isoformat() if isinstance(value, dt.datetime) else _id(value) for name, value in values.items()}
    response = api(user).post(url(KINDS[kind][1]), body, format="json")
    if response.status_code == 201:
        return Outcome(True, 201)
    data = response.json()
    errors = {("__all__" if k == "non_field_errors" else k): v if isinstance(v, list) else [v] for k, v in data.items()}
    return Outcome(False, response.status_code, errors)


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _through_staff_form(user: Any, kind: str, values: dict[str, Any]) -> Outcome:
    _model, _api, name, _admin, zone_field = KINDS[kind]
    site = values[zone_field]
    data: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dt.datetime):
            value = value.astimezone(zoneinfo.ZoneInfo(site.timezone)).strftime("%Y-%m-%dT%H:%M")
        elif isinstance(value, bool):
            if not value:
                continue
            value = "on"
        data[key] = "" if value is None else _id(value)
    with translation.override("en"):
        address = reverse(name)
    response = _client(user).post(address, data)
    if response.status_code == 302:
        return Outcome(True, 302)
    form = response.context["form"]
    return Outcome(False, response.status_code, {k: list(v) for k, v in form.errors.items()}, response.content.decode())


def _through_admin(user: Any, kind: str, values: dict[str, Any]) -> Outcome:
    model, _api, _staff, name, _zone = KINDS[kind]
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    data: dict[str, Any] = {}
    for field_ in model._meta.concrete_fields:
        if isinstance(field_, models.DateTimeField) and field_.editable:
            data[f"{field_.name}_0"] = data[f"{field_.name}_1"] = ""
    data["verification"] = "unverified"
    for key, value in values.items():
        if isinstance(value, dt.datetime):
            local = value.astimezone(zone)
            data[f"{key}_0"], data[f"{key}_1"] = f"{local:%Y-%m-%d}", f"{local:%H:%M:%S}"
        elif isinstance(value, tuple):  # (date, time) typed as they are
            data[f"{key}_0"], data[f"{key}_1"] = value
        elif isinstance(value, bool):
            if value:
                data[key] = "on"
        else:
            data[key] = "" if value is None else _id(value)
    response = _client(user).post(reverse(name), data)
    if response.status_code == 302:
        return Outcome(True, 302)
    assert response.status_code == 200, response.status_code
    form = response.context["adminform"].form
    return Outcome(False, 400, {k: list(v) for k, v in form.errors.items()}, response.content.decode())
