"""
Which column of a table gives which field of a resource. A column is matched by its
HXL hashtag when the table has a hashtag row (whatever its title says), else by its
title: the field's name as the API and the CSV export spell it, or its label. Columns
that give no field the import can write are listed as ignored, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import hxl.model
from django.utils.translation import gettext as _
from rest_framework import serializers

from tracker.imports.readers import FileError, Table
from tracker.imports.resources import Resource


@dataclass
class Columns:
    # Column index → field name.
    fields: dict[int, str]
    # Field name → the column's title, as errors name it.
    titles: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


def writable_fields(resource: Resource) -> dict[str, serializers.Field]:
    """The fields a row may give: what the API takes, and `id` to change an existing object."""
    fields = resource.serializer().fields
    return {name: f for name, f in fields.items() if not f.read_only or name == "id"}


def map_columns(table: Table, resource: Resource) -> Columns:
    writable = writable_fields(resource)
    by_title = {name.lower(): name for name in writable}
    by_title.update({str(f.label).strip().lower(): name for name, f in writable.items() if f.label})
    # Every field's hashtag, those the import does not write too: a column tagged as
    # one of those (`#meta+entered_by+id`) is that one, not a looser match (`#meta+id`).
    tag_fields = [(hxl.model.Column.parse(tag), name) for name, tag in resource.hxl_tags.items()]
    columns = Columns(fields={})
    for index, title in enumerate(table.titles):
        tag = table.tags[index] if table.tags is not None and index < len(table.tags) else ""
        name = _by_hashtag(tag, tag_fields) if tag else None
        if name is None and not (table.tags is not None and title == tag):
            name = by_title.get(title.lower())
        shown = title or tag or str(index + 1)
        if name is None or name not in writable:
            if title or tag:
                columns.ignored.append(shown)
            continue
        if name in columns.titles:
            raise FileError(
                _("Columns “%(first)s” and “%(second)s” both give %(field)s: keep one of them.")
                % {"first": columns.titles[name], "second": shown, "field": name}
            )
        columns.fields[index] = name
        columns.titles[name] = shown
    if not columns.fields:
        raise FileError(
            _("No column of the file gives a field of %(resource)s: name the columns as the API does (%(fields)s).")
            % {"resource": resource.name, "fields": ", ".join(writable)}
        )
    return columns


def _by_hashtag(tag: str, candidates: list[tuple[hxl.model.Column, str]]) -> str | None:
    """
    The field whose hashtag the column's has, with the most attributes the column
    also has: `#affected+num+max` is the high end of a range, `#affected+num` the
    count, and a column's extra attributes (`+f`, `+children`) do not stop a match.
    """
    column = hxl.model.Column.parse(tag)
    if not column:
        return None
    best: tuple[int, str] | None = None
    for spec, name in candidates:
        if spec.tag == column.tag and spec.attributes <= column.attributes:
            score = len(spec.attributes)
            if best is None or score > best[0]:
                best = (score, name)
    return best[1] if best else None
