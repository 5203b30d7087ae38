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
