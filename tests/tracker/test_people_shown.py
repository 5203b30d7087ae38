"""
Who entered a figure (docs/design.md, "Who may do what"): the public sees the
organisation, never the staff account; a reporter sees the people of their own
organisation and of any other only the organisation; coordinators and admins see
everyone. In the API (`created_by`, a flag's `reviewed_by`), the pages and the admin,
its history included.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from corridors.models import Flag
from tests import factories
from tests.api import api, csv_rows
from tracker.models import Role, Verification

pytestmark = pytest.mark.django_db


@pytest.fixture
def erin(ngo_b):
    """A coordinator at NGO B (bob's organisation)."""
    return factories.UserFactory(username="erin", organisation=ngo_b, role=Role.COORDINATOR)


@pytest.fixture
def counted(alice):
    return factories.CivilianCountFactory(organisation=alice.organisation, created_by=alice)


def created_by(client, count):
    return client.get(reverse("api:count-detail", args=[count.pk])).json()["created_by"]


def test_the_public_sees_the_organisation_never_the_account(counted, alice):
    rows = api().get(reverse("api:count-list")).json()["results"]
    assert [(row["organisation"], row["created_by"]) for row in rows] == [(alice.organisation_id, None)]
    assert created_by(api(), counted) is None
    table = csv_rows(api().get(reverse("api:count-list"), {"format": "csv"}))
    column = table[0].index("created_by")
    assert table[2][column] == ""


def test_a_reporter_sees_their_own_organisations_people_only(counted, alice, bob, carol, dave):
    assert created_by(api(alice), counted) == alice.pk
    assert created_by(api(carol), counted) == alice.pk  # a coordinator (of NGO A, as it happens)
    assert created_by(api(dave), counted) == alice.pk  # an admin
    assert created_by(api(bob), counted) is None
    assert api(bob).get(reverse("api:count-list")).json()["results"][0]["created_by"] is None


def test_a_flags_reviewer_is_for_coordinators(carol, alice):
    flag = factories.FlagFactory(status=Flag.Status.ACKNOWLEDGED, reviewed_by=carol)
    url = reverse("api:flag-detail", args=[flag.pk])
    assert api().get(url).json()["reviewed_by"] is None
    assert api(alice).get(url).json()["reviewed_by"] is None
    assert api(carol).get(url).json()["reviewed_by"] == carol.pk


def test_the_corridor_page_names_the_reviewers_organisation(public, erin):
    flag = factories.FlagFactory(status=Flag.Status.ACKNOWLEDGED, reviewed_by=erin)
    page = public.get(reverse("corridors:corridor", args=[flag.window.corridor_id])).content.decode()
    assert "by Open Road" in page
    assert "erin" not in page


def test_a_reporter_sees_another_organisations_people_in_the_admin_as_their_organisation(login, alice, erin):
    count = factories.CivilianCountFactory(organisation=alice.organisation, created_by=alice, count=120)
    count.verification = Verification.VERIFIED
    count._history_user = erin
    count.save()  # erin (a coordinator of NGO B) verified it
    corridor = factories.CorridorFactory(created_by=erin, organisation=erin.organisation)
    client = login(alice)

    history = client.get(reverse("admin:tracker_civiliancount_history", args=[count.pk]))
    assert history.status_code == 200
    text = history.content.decode()
    assert "erin" not in text and "someone at Open Road" in text
    assert reverse("admin:tracker_user_change", args=[erin.pk]) not in text

    form = client.get(reverse("admin:corridors_corridor_change", args=[corridor.pk])).content.decode()
    assert "erin" not in form and "someone at Open Road" in form


def test_a_reporter_sees_their_own_organisations_people_in_the_admin(login, alice, carol):
    count = factories.CivilianCountFactory(organisation=alice.organisation, created_by=alice)
    count.verification = Verification.VERIFIED
    count._history_user = carol
    count.save()
    text = login(alice).get(reverse("admin:tracker_civiliancount_history", args=[count.pk])).content.decode()
    assert "carol" in text


def test_every_api_answer_varies_on_who_asks(counted, alice):
    """A reporter's representation (with `created_by`) must never be served to the public by a cache."""
    for client in (api(), api(alice)):
        for url in (reverse("api:count-list"), reverse("api:count-detail", args=[counted.pk])):
            vary = {part.strip().lower() for part in client.get(url)["Vary"].split(",")}
            assert {"authorization", "cookie"} <= vary, url
