"""`/api/v1/users/`: staff accounts, which only admins see or manage, even to read."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from tests import factories
from tests.api import csv_rows, hxl_data, ids, list_queries, persona
from tracker.models import Role, User

pytestmark = pytest.mark.django_db
UTC = dt.UTC
URL = "/api/v1/users/"
PASSPHRASE = "rivers of sunflowers 2022"


def detail(user) -> str:
    return f"{URL}{user.pk}/"


class TestReading:
    @pytest.mark.parametrize(("who", "status"), [("public", 401), ("alice", 403), ("carol", 403), ("dave", 200)])
    def test_only_an_admin_lists_the_accounts(self, api, request, bob, who, status):
        response = api(persona(request, who)).get(URL)
        assert response.status_code == status
        if status == 401:
            assert response["WWW-Authenticate"] == "Token"

    @pytest.mark.parametrize(("who", "status"), [("public", 401), ("alice", 403), ("carol", 403), ("dave", 200)])
    def test_only_an_admin_reads_an_account_even_their_own(self, api, request, alice, who, status):
        response = api(persona(request, who)).get(detail(alice))
        assert response.status_code == status
        assert ("username" in response.json()) is (status == 200)

    def test_the_public_gets_no_csv_of_the_accounts_either(self, api, alice):
        response = api().get(URL, {"format": "csv"})
        assert response.status_code == 401
        assert b"alice" not in response.content

    def test_an_admin_sees_each_account_without_its_password(self, api, alice, dave):
        response = api(dave).get(detail(alice))
        assert response.json() == {
            "id": alice.pk,
            "created_at": response.json()["created_at"],
            "updated_at": response.json()["updated_at"],
            "username": "alice",
            "organisation": alice.organisation_id,
            "role": "reporter",
            "is_active": True,
        }
        assert alice.password.encode() not in response.content

    def test_the_csv_tags_every_column_and_has_no_password(self, api, alice, dave):
        rows = csv_rows(api(dave).get(URL, {"format": "csv"}))
        assert "password" not in rows[0]
        assert [row[rows[0].index("username")] for row in rows[2:]] == ["alice", "dave"]
        dataset = hxl_data(api(dave).get(URL, {"format": "csv"}))
        assert [column.display_tag for column in dataset.columns] == rows[1]
        assert None not in [column.tag for column in dataset.columns]

    def test_accounts_filter_by_organisation_and_role(self, api, alice, bob, carol, dave):
        assert ids(api(dave).get(URL, {"organisation": alice.organisation_id})) == [alice.pk, carol.pk]
        assert ids(api(dave).get(URL, {"role": "coordinator"})) == [carol.pk]
        assert api(dave).get(URL, {"role": "general"}).status_code == 400

    def test_updated_since_gives_only_the_accounts_changed_at_or_after_it(self, api, dave):
        with time_machine.travel(dt.datetime(2022, 5, 1, tzinfo=UTC), tick=False):
            factories.UserFactory(username="erin")
        with time_machine.travel(dt.datetime(2022, 5, 5, tzinfo=UTC), tick=False):
            frank = factories.UserFactory(username="frank")
        dave.save()  # dave changes after frank: the list follows updated_at
        response = api(dave).get(URL, {"updated_since": "2022-05-02T00:00:00Z"})
        assert ids(response) == [frank.pk, dave.pk]

    def test_the_list_costs_the_same_queries_whatever_the_page_size(self, api, dave):
        factories.UserFactory.create_batch(30)
        assert list_queries(api(dave), URL, 3) == list_queries(api(dave), URL, 30)


class TestWriting:
    @pytest.mark.parametrize(("who", "status"), [("public", 401), ("alice", 403), ("carol", 403), ("dave", 201)])
    def test_only_an_admin_adds_an_account(self, api, request, ngo_b, who, status):
        data = {"username": "erin", "password": PASSPHRASE, "organisation": ngo_b.pk, "role": "coordinator"}
        response = api(persona(request, who)).post(URL, data)
        assert response.status_code == status
        assert User.objects.filter(username="erin").exists() is (status == 201)

    def test_an_admin_adds_an_account_whose_password_is_stored_hashed(self, api, dave, ngo_b):
        data = {"username": "erin", "password": PASSPHRASE, "organisation": ngo_b.pk, "role": "coordinator"}
        response = api(dave).post(URL, data)
        assert response.status_code == 201
        assert "password" not in response.json()
        erin = User.objects.get(username="erin")
        assert (erin.organisation, erin.role) == (ngo_b, Role.COORDINATOR)
        assert erin.password != PASSPHRASE
        assert erin.check_password(PASSPHRASE)
        record = erin.history.get()
        assert record.history_user == dave
        assert not hasattr(record, "password")

    def test_a_new_account_is_a_reporter_unless_said_otherwise(self, api, dave, ngo_a):
        response = api(dave).post(URL, {"username": "erin", "password": PASSPHRASE, "organisation": ngo_a.pk})
        assert response.json()["role"] == "reporter"

    @pytest.mark.parametrize(("who", "status"), [("public", 401), ("alice", 403), ("carol", 403), ("dave", 200)])
    def test_only_an_admin_changes_a_role(self, api, request, bob, who, status):
        response = api(persona(request, who)).patch(detail(bob), {"role": "admin"})
        assert response.status_code == status
        bob.refresh_from_db()
        assert bob.role == ("admin" if status == 200 else "reporter")

    def test_a_reporter_cannot_make_herself_an_admin(self, api, alice):
        response = api(alice).patch(detail(alice), {"role": "admin"})
        assert response.status_code == 403
        alice.refresh_from_db()
        assert alice.role == Role.REPORTER

    def test_an_admin_changes_a_password(self, api, alice, dave):
        response = api(dave).patch(detail(alice), {"password": PASSPHRASE})
        assert response.status_code == 200
        alice.refresh_from_db()
        assert alice.check_password(PASSPHRASE)

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"username": "erin", "password": "password1"}, "password"),  # too short and too common
            ({"username": "erin.bondarenko", "password": "erin.bondarenko1"}, "password"),  # like the username
            ({"username": "erin"}, "password"),  # a new account needs one
            ({"username": "erin", "password": PASSPHRASE, "role": "general"}, "role"),
            ({"username": "erin", "password": PASSPHRASE, "organisation": 999_999}, "organisation"),
            ({"username": "erin", "password": PASSPHRASE, "organisation": "1"}, "organisation"),
            ({"username": "erin", "password": PASSPHRASE, "is_active": "yes"}, "is_active"),
            ({"username": "alice", "password": PASSPHRASE}, "username"),  # taken
            ({"username": "erin", "password": 12345678901234}, "password"),
        ],
    )
    def test_an_invalid_account_is_a_400_and_nothing_is_written(self, api, alice, dave, data, field):
        response = api(dave).post(URL, data)
        assert response.status_code == 400
        assert field in response.json()
        assert sorted(User.objects.values_list("username", flat=True)) == ["alice", "dave"]
        assert not User.history.filter(username__startswith="erin").exists()

    def test_an_account_that_entered_nothing_can_be_deleted(self, api, dave):
        erin = factories.UserFactory(username="erin")
        assert api(dave).delete(detail(erin)).status_code == 204
        assert not User.objects.filter(username="erin").exists()

    def test_an_account_that_entered_figures_cannot_be_deleted_only_deactivated(self, api, alice, dave):
        factories.CivilianCountFactory(created_by=alice, organisation=alice.organisation)
        response = api(dave).delete(detail(alice))
        assert response.status_code == 409
        assert User.objects.filter(pk=alice.pk).exists()
        assert api(dave).patch(detail(alice), {"is_active": False}).status_code == 200
        alice.refresh_from_db()
        assert not alice.is_active

    @pytest.mark.parametrize("who", ["alice", "carol"])
    def test_no_one_but_an_admin_deletes_an_account(self, api, request, bob, who):
        assert api(persona(request, who)).delete(detail(bob)).status_code == 403
        assert User.objects.filter(pk=bob.pk).exists()
