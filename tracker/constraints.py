"""
Checking a model's CHECK constraints before a write, as Django does, in one query.

Django validates each CheckConstraint with a query of its own, wrapped in a savepoint
(`Q.check`): three round trips per constraint, six constraints on a report, for every
figure saved, one at a time or by an import of 100,000. Here all of a model's check
conditions are asked in one SELECT, each as a column; a constraint whose condition
is false raises the same ValidationError (message and code) as Django's, in the same
order. A condition on a field left out of the check (`exclude`) is skipped, as Django
skips it; NULL passes, as in the database. Unique constraints go Django's own way.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from django.core.exceptions import FieldError, ValidationError
from django.db import DatabaseError, connections, models, router, transaction
from django.db.models import BooleanField, ExpressionWrapper, Q, Value
from django.db.models.functions import Coalesce
from django.db.models.sql import Query
from django.db.models.sql.constants import SINGLE


def validate_constraints(instance: models.Model, exclude: set[str] | None = None) -> None:
    """Model.validate_constraints, with the check constraints asked together."""
    using = router.db_for_write(type(instance), instance=instance)
    errors: dict[str, Any] = {}
    for model, constraints in instance.get_constraints():
        checks = [c for c in constraints if isinstance(c, models.CheckConstraint)]
        for check in failing_checks(model, instance, checks, exclude=exclude, using=using):
            error = ValidationError(check.get_violation_error_message(), code=check.violation_error_code)
            errors = error.update_error_dict(errors)
        for constraint in constraints:
            if isinstance(constraint, models.CheckConstraint):
                continue
            try:
                constraint.validate(model, instance, exclude=exclude, using=using)
            except ValidationError as exc:
                fields: tuple[str, ...] = tuple(getattr(constraint, "fields", ()))
                if getattr(exc, "code", None) == "unique" and len(fields) == 1:
                    errors.setdefault(fields[0], []).append(exc)
                else:
                    errors = exc.update_error_dict(errors)
    if errors:
        raise ValidationError(errors)


def failing_checks(
    model: type[models.Model],
    instance: models.Model,
    checks: list[models.CheckConstraint],
    *,
    exclude: set[str] | None,
    using: str,
) -> list[models.CheckConstraint]:
    """The check constraints whose condition the instance's values make false, in their order."""
    if not checks:
        return []
    against = instance._get_field_expression_map(meta=model._meta, exclude=exclude)  # type: ignore[attr-defined]
    query = Query(None)
    for name, value in against.items():
        query.add_annotation(value if hasattr(value, "resolve_expression") else Value(value), name, select=False)
    asked = []
    for number, constraint in enumerate(checks):
        condition = Coalesce(
            ExpressionWrapper(Q(constraint.condition), output_field=BooleanField()), True, output_field=BooleanField()
        )
        probe = query.clone()
        try:
            # A condition on an excluded field cannot be resolved: Django skips it too.
            probe.add_annotation(condition, f"_check_{number}")
        except FieldError:
            continue
        query = probe
        asked.append(constraint)
    if not asked:
        return []
    compiler = query.get_compiler(using=using)
    # In a savepoint inside a transaction, as Q.check: a database error leaves the caller's transaction usable.
    context = transaction.atomic(using=using) if connections[using].in_atomic_block else nullcontext()
    try:
        with context:
            row = compiler.execute_sql(SINGLE)
    except DatabaseError:
        # As Q.check: what the database cannot evaluate here, it still enforces on the write.
        return []
    return [constraint for constraint, passed in zip(asked, row or (), strict=False) if not passed]
