"""
Store what each hostility report covers (tracker/coverage.py) as an index key, and
on PostgreSQL index it with GiST as a range together with the site, so that the flag
engine finds the reports overlapping a window at a site without scanning.
"""

from django.db import migrations, models

from tracker.coverage import covered_interval

# btree_gist lets one GiST index hold the site id (equality) beside the range (&&).
POSTGRES_INDEX = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE INDEX IF NOT EXISTS hostility_site_coverage_gist ON tracker_hostilityreport
    USING gist (site_id, tstzrange(coverage_start, coverage_end, '[)'));
"""
POSTGRES_INDEX_DROP = "DROP INDEX IF EXISTS hostility_site_coverage_gist;"


def fill_coverage(apps, schema_editor):
    zones = dict(apps.get_model("tracker", "Site").objects.values_list("id", "timezone"))
    # Reports and their history rows alike: a derived index key, not a change anyone
    # made, so it is written in place without a new history row.
    for name in ("HostilityReport", "HistoricalHostilityReport"):
        model = apps.get_model("tracker", name)
        for row in model.objects.all().iterator(chunk_size=1000):
            coverage = covered_interval(
                started_at=row.started_at,
                ended_at=row.ended_at,
                ongoing=row.ongoing,
                precision=row.time_precision,
                zone_name=zones.get(row.site_id, "Europe/Kyiv"),
            )
            start, end = coverage.index_bounds()
            model.objects.filter(pk=row.pk).update(coverage_start=start, coverage_end=end)


def create_postgres_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_INDEX)


def drop_postgres_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_INDEX_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("tracker", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="hostilityreport",
            name="coverage_start",
            field=models.DateTimeField(editable=False, null=True, verbose_name="covers from"),
        ),
        migrations.AddField(
            model_name="hostilityreport",
            name="coverage_end",
            field=models.DateTimeField(editable=False, null=True, verbose_name="covers until"),
        ),
        migrations.AddField(
            model_name="historicalhostilityreport",
            name="coverage_start",
            field=models.DateTimeField(editable=False, null=True, verbose_name="covers from"),
        ),
        migrations.AddField(
            model_name="historicalhostilityreport",
            name="coverage_end",
            field=models.DateTimeField(editable=False, null=True, verbose_name="covers until"),
        ),
        migrations.RunPython(fill_coverage, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="hostilityreport",
            name="coverage_start",
            field=models.DateTimeField(editable=False, verbose_name="covers from"),
        ),
        migrations.AlterField(
            model_name="historicalhostilityreport",
            name="coverage_start",
            field=models.DateTimeField(editable=False, verbose_name="covers from"),
        ),
        migrations.AddIndex(
            model_name="hostilityreport",
            index=models.Index(fields=["site", "coverage_start"], name="hostility_site_coverage"),
        ),
        migrations.RunPython(create_postgres_index, drop_postgres_index),
    ]
