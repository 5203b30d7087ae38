"""
The site tree's walks, hand-written (the recursive CTE of tracker/selectors.py
site_descendant_ids, seeded at the site; the parent-by-parent loop of
Site.stored_lineage) against django-tree-queries 0.28 (issue 13, item 9; review c.11),
on one adjacency table of 22,275 sites shaped like the real tree (25 oblasts, 10 raions
each, 8 hromadas each, 10 settlements each). Both must return the same ids.

django-tree-queries is not a dependency: install it beside the bench, not into .venv:

    .venv/bin/pip install --target /tmp/tree-queries --no-deps django-tree-queries==0.28.0
    TREE_QUERIES=/tmp/tree-queries .venv/bin/python bench/site_tree.py              # SQLite
    TREE_QUERIES=/tmp/tree-queries DB=postgres://root@127.0.0.1:5432/NAME .venv/bin/python bench/site_tree.py

It makes a throwaway app with one TreeNode model in a temporary directory and drops
its table at the end.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

app_dir = Path(tempfile.mkdtemp(prefix="site-tree-bench-"))
(app_dir / "benchapp").mkdir()
(app_dir / "benchapp" / "__init__.py").write_text("")
(app_dir / "benchapp" / "models.py").write_text(
    "from django.db import models\n"
    "from tree_queries.models import TreeNode\n\n\n"
    "class Place(TreeNode):\n"
    "    name = models.CharField(max_length=50)\n\n"
    "    class Meta:\n"
    "        app_label = 'benchapp'\n"
)
sys.path[:0] = [os.environ["TREE_QUERIES"], str(app_dir)]

import django  # noqa: E402
from django.conf import settings  # noqa: E402

url = os.environ.get("DB")
if url:
    parts = urlparse(url)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": parts.path.lstrip("/"),
            "USER": parts.username or "",
            "HOST": parts.hostname or "",
            "PORT": parts.port or "",
        }
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(app_dir / "bench.sqlite3")}}
settings.configure(
    INSTALLED_APPS=["benchapp"], DATABASES=DATABASES, USE_TZ=True, DEFAULT_AUTO_FIELD="django.db.models.BigAutoField"
)
django.setup()
from benchapp.models import Place  # noqa: E402
from django.db import connection  # noqa: E402

with connection.schema_editor() as editor:
    editor.create_model(Place)


def level(parents: list[int | None], n: int) -> list[int]:
    Place.objects.bulk_create([Place(name="x", parent_id=parent) for parent in parents for _ in range(n)])
    return list(Place.objects.order_by("-id").values_list("id", flat=True)[: len(parents) * n])


# 25 oblasts x 10 raions x 8 hromadas x 10 settlements: 22,275 sites.
roots = level([None], 25)
raions = level(roots, 10)
hromadas = level(raions, 8)
leaves = level(hromadas, 10)
print(connection.vendor, "sites:", Place.objects.count())
TABLE = Place._meta.db_table
BELOW = f"""
    WITH RECURSIVE below(id) AS (
        SELECT id FROM {TABLE} WHERE parent_id = %s
        UNION SELECT child.id FROM {TABLE} child JOIN below ON child.parent_id = below.id
    )
    SELECT id FROM below WHERE id <> %s ORDER BY id
"""


def ours_descendants(pk: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(BELOW, [pk, pk])
        return [row[0] for row in cursor.fetchall()]


def ours_lineage(pk: int) -> list[int]:
    lineage: list[int] = []
    current: int | None = pk
    while current is not None and current not in lineage:
        lineage.append(current)
        current = Place.objects.filter(pk=current).values_list("parent_id", flat=True).first()
    return lineage


def tq_descendants(pk: int) -> list[int]:
    return sorted(Place.objects.descendants(pk).values_list("id", flat=True))


def tq_lineage(pk: int) -> list[int]:
    return [place.pk for place in reversed(list(Place.objects.ancestors(pk, include_self=True)))]


def timed(f, arg: int, n: int = 15):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        result = f(arg)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, result


try:
    for name, ours, theirs, arg in [
        ("descendants of a raion (90 below)", ours_descendants, tq_descendants, raions[37]),
        ("lineage of a settlement (4 deep)", ours_lineage, tq_lineage, leaves[12345]),
    ]:
        ours_ms, expected = timed(ours, arg)
        theirs_ms, got = timed(theirs, arg)
        assert got == expected, name
        print(
            f"{name}: hand-written {ours_ms:.2f} ms, django-tree-queries {theirs_ms:.2f} ms, {theirs_ms / ours_ms:.0f}x"
        )
finally:
    with connection.schema_editor() as editor:
        editor.delete_model(Place)
