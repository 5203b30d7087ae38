"""
A model's check constraints are asked in one query (tracker/constraints.py): the same
errors, messages and codes as Django's own validation, which asks one query each.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.test.utils import CaptureQueriesContext

from tests import factories

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def errors_of(validate):
    try:
        validate()
    except ValidationError as exc:
        return {field: [(e.message, e.code) for e in errors] for field, errors in exc.error_dict.items()}
    return {}


def broken(name):
    """Each case: an instance as it stands before a write, breaking some constraints (or none)."""
    if name == "valid report":
        return factories.HostilityReportFactory.build(site=factories.SiteFactory(), source=factories.SourceFactory())
    if name == "report ending before it starts, ongoing, with an overlong text":
        report = broken("valid report")
        report.ended_at = report.started_at - dt.timedelta(hours=1)
        report.ongoing = True
        report.description = "x" * 100_000
        return report
    if name == "report in the year 1800":
        report = broken("valid report")
        report.started_at = dt.datetime(1800, 1, 1, tzinfo=UTC)
        return report
    if name == "negative count, its high below it":
        count = factories.CivilianCountFactory.build(site=factories.SiteFactory(), source=factories.SourceFactory())
        count.count, count.count_high = -5, -10
        return count
    if name == "site off the globe, its own parent":
        site = factories.SiteFactory()
        site.latitude, site.longitude, site.parent_id = 91.0, -181.0, site.pk
        return site
    if name == "window ending before it starts, at a live window's start":
        window = factories.WindowFactory()
        twin = factories.WindowFactory.build(corridor=window.corridor, starts_at=window.starts_at)
        twin.ends_at = twin.starts_at - dt.timedelta(hours=1)
        return twin
    if name == "flag dismissed without a reason":
        flag = factories.FlagFactory()
        flag.status, flag.review_note = "dismissed", ""
        return flag
    raise AssertionError(name)


CASES = [
    "valid report",
    "report ending before it starts, ongoing, with an overlong text",
    "report in the year 1800",
    "negative count, its high below it",
    "site off the globe, its own parent",
    "window ending before it starts, at a live window's start",
    "flag dismissed without a reason",
]


@pytest.mark.parametrize("case", CASES)
def test_it_finds_what_djangos_own_validation_finds(case):
    instance = broken(case)
    ours = errors_of(instance.validate_constraints)
    djangos = errors_of(lambda: models.Model.validate_constraints(instance))
    assert ours == djangos
    assert (case == "valid report") == (ours == {})


@pytest.mark.parametrize("case", CASES[1:4])
def test_a_field_left_out_of_the_check_leaves_its_constraints_out(case):
    instance = broken(case)
    exclude = {"ended_at", "count", "started_at"}
    assert errors_of(lambda: instance.validate_constraints(exclude)) == errors_of(
        lambda: models.Model.validate_constraints(instance, exclude)
    )


def test_a_reports_check_constraints_are_one_query():
    report = broken("report ending before it starts, ongoing, with an overlong text")
    with CaptureQueriesContext(connection) as ours:
        instance_errors = errors_of(report.validate_constraints)
    with CaptureQueriesContext(connection) as djangos:
        errors_of(lambda: models.Model.validate_constraints(report))
    assert len(instance_errors["__all__"]) == 3
    checks = [q for q in ours.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(checks) == 1
    assert len(djangos.captured_queries) > len(ours.captured_queries)
