"""Reviewing flags in the admin: acknowledge, or dismiss with a reason (through corridors.services.flag_review)."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from corridors.models import Flag
from tests import factories

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:corridors_flag_changelist")


def test_a_coordinator_acknowledges_flags_and_the_history_says_who(login, carol):
    flags = [factories.FlagFactory(), factories.FlagFactory()]
    response = login(carol).post(
        CHANGELIST, {"action": "acknowledge", ACTION_CHECKBOX_NAME: [f.pk for f in flags]}, follow=True
    )
    assert "Flags reviewed: 2 (Acknowledged)." in response.content.decode()
    assert set(Flag.objects.values_list("status", "reviewed_by")) == {("acknowledged", carol.pk)}
    assert {f.history.latest().history_user for f in Flag.objects.all()} == {carol}


def test_dismissing_asks_for_a_reason_first(login, carol):
    flag = factories.FlagFactory()
    client = login(carol)
    response = client.post(CHANGELIST, {"action": "dismiss", ACTION_CHECKBOX_NAME: [flag.pk]})
    assert response.status_code == 200
    assert "Why are these flags dismissed?" in response.content.decode()
    assert Flag.objects.get().status == "open"

    response = client.post(
        CHANGELIST, {"action": "dismiss", "apply": "1", "note": " ", ACTION_CHECKBOX_NAME: [flag.pk]}
    )
    assert "Say why the flags are dismissed." in response.content.decode()
    assert Flag.objects.get().status == "open"

    response = client.post(
        CHANGELIST,
        {
            "action": "dismiss",
            "apply": "1",
            "note": "The report is about another road.",
            ACTION_CHECKBOX_NAME: [flag.pk],
        },
        follow=True,
    )
    assert "Flags reviewed: 1 (Dismissed)." in response.content.decode()
    flag.refresh_from_db()
    assert (flag.status, flag.review_note, flag.reviewed_by) == (
        "dismissed",
        "The report is about another road.",
        carol,
    )


def test_a_withdrawn_flag_is_not_reviewed_and_says_why(login, carol):
    flag = factories.FlagFactory(status="withdrawn")
    response = login(carol).post(CHANGELIST, {"action": "acknowledge", ACTION_CHECKBOX_NAME: [flag.pk]}, follow=True)
    assert "withdrawn" in response.content.decode()
    assert Flag.objects.get().status == "withdrawn"


def test_a_reporter_sees_flags_but_cannot_review_them(login, alice):
    flag = factories.FlagFactory()
    client = login(alice)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert response.context["action_form"] is None, "no review actions offered"
    client.post(CHANGELIST, {"action": "acknowledge", ACTION_CHECKBOX_NAME: [flag.pk]})
    assert Flag.objects.get().status == "open"


def corridor_form(origin, destination, stops=(), windows=(), **values):
    data = {
        "name": "Azovstal → Zaporizhzhia",
        "origin": origin.pk,
        "destination": destination.pk,
        "status": "announced",
        "announced_by": "",
        "announced_at_0": "2022-05-04",
        "announced_at_1": "15:00",
        "verification": "unverified",
        "corridor_waypoints-TOTAL_FORMS": str(len(stops)),
        "corridor_waypoints-INITIAL_FORMS": "0",
        "windows-TOTAL_FORMS": str(len(windows)),
        "windows-INITIAL_FORMS": "0",
        **values,
    }
    for i, stop in enumerate(stops):
        data[f"corridor_waypoints-{i}-position"] = str(i + 1)
        data[f"corridor_waypoints-{i}-site"] = stop.pk
    for i, (day, start, end) in enumerate(windows):
        data.update(
            {
                f"windows-{i}-starts_at_0": day,
                f"windows-{i}-starts_at_1": start,
                f"windows-{i}-ends_at_0": day,
                f"windows-{i}-ends_at_1": end,
            }
        )
    return data


def test_a_coordinator_adds_a_corridor_with_its_path_and_windows_in_one_page(login, carol):
    import datetime as dt

    from corridors.models import Corridor

    origin, stop, destination = (factories.SiteFactory(name=name) for name in ("Azovstal", "Vasylivka", "Zaporizhzhia"))
    data = corridor_form(origin, destination, stops=[stop], windows=[("2022-05-05", "08:00", "18:00")])
    response = login(carol).post(reverse("admin:corridors_corridor_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    corridor = Corridor.objects.get()
    assert corridor.path_site_ids() == [origin.pk, stop.pk, destination.pk]
    assert [(w.starts_at, w.ends_at) for w in corridor.windows.all()] == [
        (dt.datetime(2022, 5, 5, 5, tzinfo=dt.UTC), dt.datetime(2022, 5, 5, 15, tzinfo=dt.UTC))
    ]
    assert corridor.announced_at == dt.datetime(2022, 5, 4, 12, tzinfo=dt.UTC)


def test_a_corridors_announcement_time_is_read_as_a_figures(login, carol):
    origin, destination = factories.SiteFactory(), factories.SiteFactory()
    data = corridor_form(origin, destination, announced_at_0="2022-10-30", announced_at_1="03:30")
    response = login(carol).post(reverse("admin:corridors_corridor_add"), data)
    assert "happened twice in Europe/Kyiv" in str(response.context["adminform"].form.errors["announced_at"])
