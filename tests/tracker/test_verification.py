"""
Verification is a coordinator's judgement of what a figure says (docs/design.md,
"Figures and where they come from"): only coordinators and admins set or clear
"verified" and "disputed", and a change to the substance of a verified or disputed
figure returns it to "unverified", the history keeping both. The same in the
service, the API and the admin.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from tests import factories
from tests.api import api, url
from tracker import services
from tracker.models import CivilianCount, HostilityReport

pytestmark = pytest.mark.django_db


@pytest.fixture
def verified(alice, carol):
    """Alice's count, which carol (a coordinator of her organisation) verified."""
    figure = services.figure_save(
        figure=CivilianCount(
            site=factories.SiteFactory(name="Azovstal"),
            as_of=factories.CivilianCountFactory.as_of,
            count=200,
            qualifier="approximately",
            source=factories.SourceFactory(),
        ),
        user=alice,
    )
    figure.verification = "verified"
    return services.figure_save(figure=figure, user=carol)


@pytest.fixture
def disputed(verified, carol):
    verified.verification = "disputed"
    return services.figure_save(figure=verified, user=carol)


def states(figure):
    return [(h.verification, h.count, h.history_user.username) for h in figure.history.order_by("history_id")]


class TestTheService:
    def test_a_reporters_change_of_substance_returns_it_to_unverified(self, verified, alice):
        verified.count = 2000
        services.figure_save(figure=verified, user=alice)
        verified.refresh_from_db()
        assert verified.verification == "unverified"
        assert states(verified) == [
            ("unverified", 200, "alice"),
            ("verified", 200, "carol"),
            ("unverified", 2000, "alice"),
        ]

    def test_so_does_a_coordinators_when_they_leave_it_as_it_was(self, verified, carol):
        verified.count = 210
        services.figure_save(figure=verified, user=carol)
        verified.refresh_from_db()
        assert verified.verification == "unverified"

    def test_a_coordinator_may_judge_the_new_version_in_the_same_change(self, verified, carol):
        verified.count, verified.verification = 210, "disputed"
        services.figure_save(figure=verified, user=carol)
        verified.refresh_from_db()
        assert (verified.count, verified.verification) == (210, "disputed")

    def test_a_change_of_the_verification_alone_is_not_one_of_substance(self, disputed, carol):
        disputed.refresh_from_db()
        assert disputed.verification == "disputed"

    @pytest.mark.parametrize("to", ["unverified", "retracted", "verified"])
    def test_a_reporter_may_not_clear_a_coordinators_dispute(self, disputed, alice, to):
        disputed.verification = to
        with pytest.raises(PermissionDenied, match="Only a coordinator"):
            services.figure_save(figure=disputed, user=alice)
        disputed.refresh_from_db()
        assert disputed.verification == "disputed"

    def test_a_reporter_may_not_unverify_either(self, verified, alice):
        verified.verification = "unverified"
        with pytest.raises(PermissionDenied):
            services.figure_save(figure=verified, user=alice)

    def test_a_reporter_may_retract_what_they_changed(self, verified, alice):
        verified.count, verified.verification = 0, "retracted"
        services.figure_save(figure=verified, user=alice)
        verified.refresh_from_db()
        assert verified.verification == "retracted"

    def test_a_reporter_still_moves_between_unverified_and_retracted(self, alice):
        report = services.figure_save(
            figure=HostilityReport(
                site=factories.SiteFactory(),
                kind="shelling",
                started_at=factories.HostilityReportFactory.started_at,
                source=factories.SourceFactory(),
            ),
            user=alice,
        )
        for state in ("retracted", "unverified"):
            report.verification = state
            services.figure_save(figure=report, user=alice)
            report.refresh_from_db()
            assert report.verification == state


class TestTheAPI:
    def test_a_reporters_patch_of_substance_comes_back_unverified(self, verified, alice):
        response = api(alice).patch(url("count-detail", verified.pk), {"count": 2000}, format="json")
        assert response.status_code == 200
        assert (response.json()["count"], response.json()["verification"]) == (2000, "unverified")

    def test_a_reporter_cannot_set_disputed_back_to_unverified(self, disputed, alice):
        response = api(alice).patch(url("count-detail", disputed.pk), {"verification": "unverified"}, format="json")
        assert response.status_code == 403
        disputed.refresh_from_db()
        assert disputed.verification == "disputed"


class TestTheAdmin:
    def form(self, figure, **changes):
        return {
            "site": figure.site_id,
            "as_of_0": "2022-05-04",
            "as_of_1": "12:00:00",
            "count": str(figure.count),
            "count_high": "",
            "qualifier": figure.qualifier,
            "source": figure.source_id,
            "reported_at_0": "",
            "reported_at_1": "",
            "verification": figure.verification,
            **changes,
        }

    def test_a_reporters_change_of_substance_saves_it_unverified(self, login, verified, alice):
        address = reverse("admin:tracker_civiliancount_change", args=[verified.pk])
        response = login(alice).post(address, self.form(verified, count="2000"))
        assert response.status_code == 302
        verified.refresh_from_db()
        assert (verified.count, verified.verification) == (2000, "unverified")

    def test_a_reporter_clearing_a_dispute_gets_an_error_and_nothing_changes(self, login, disputed, alice):
        address = reverse("admin:tracker_civiliancount_change", args=[disputed.pk])
        response = login(alice).post(address, self.form(disputed, verification="unverified"))
        assert response.status_code == 200
        form = response.context["adminform"].form
        assert "Only a coordinator can mark a figure verified or disputed" in str(form.non_field_errors())
        assert '<option value="unverified" selected>' in response.content.decode()  # what was chosen is kept
        disputed.refresh_from_db()
        assert disputed.verification == "disputed"
