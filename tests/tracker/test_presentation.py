"""How figures, times and windows read, in both languages; the catalogues are complete and compiled."""

from __future__ import annotations

import datetime as dt
import gettext
from pathlib import Path
from types import SimpleNamespace

import polib
import pytest
from django.utils import translation

from corridors.selectors import Total, WindowTotals, combine_qualifiers
from corridors.templatetags.corridors import gap_text
from tracker.charts import count_chart, nice_step, window_timeline
from tracker.templatetags.dashboard import hostility_when
from tracker.wording import figure_text, span_text, utc_offset

UTC = dt.UTC
LOCALE = Path(__file__).resolve().parents[2] / "locale"


@pytest.mark.parametrize(
    ("n", "qualifier", "high", "english", "ukrainian"),
    [
        (1, "exact", None, "1 person", "1 особа"),
        (2, "exact", None, "2 people", "2 особи"),
        (5, "exact", None, "5 people", "5 осіб"),
        (11, "exact", None, "11 people", "11 осіб"),
        (21, "approximately", None, "about 21 people", "приблизно 21 особа"),
        (22, "at_least", None, "at least 22 people", "щонайменше 22 особи"),
        (100_000, "approximately", None, "about 100,000 people", "приблизно 100\xa0000 осіб"),
        (100, "exact", 120, "100–120 people", "100–120 осіб"),
        (300, "at_most", 302, "at most 300–302 people", "щонайбільше 300–302 особи"),
    ],
)
def test_figures_take_their_qualifier_and_plural_in_each_language(n, qualifier, high, english, ukrainian):
    with translation.override("en"):
        assert figure_text(n, qualifier, high) == english
    with translation.override("uk"):
        assert figure_text(n, qualifier, high) == ukrainian


def test_checkpoint_figures_count_crossings():
    with translation.override("uk"):
        assert figure_text(3, "exact", unit="crossings") == "3 перетини"


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ((2022, 5, 5, 5), (2022, 5, 5, 15), "08:00–18:00 on 5 May 2022"),
        # Past midnight, local time.
        ((2022, 5, 5, 19), (2022, 5, 6, 3), "22:00 on 5 May 2022 – 06:00 on 6 May 2022"),
        # Ending at local midnight reads as 24:00 of the same day.
        ((2022, 5, 5, 5), (2022, 5, 5, 21), "08:00–24:00 on 5 May 2022"),
        # The DST change in Kyiv on 27 March 2022: 08:00 local is 06:00 UTC the day before and 05:00 UTC on it.
        ((2022, 3, 27, 5), (2022, 3, 27, 15), "08:00–18:00 on 27 March 2022"),
        ((2022, 3, 26, 6), (2022, 3, 26, 16), "08:00–18:00 on 26 March 2022"),
    ],
)
def test_spans_read_in_local_time(start, end, expected):
    with translation.override("en"):
        assert span_text(dt.datetime(*start, tzinfo=UTC), dt.datetime(*end, tzinfo=UTC), "Europe/Kyiv") == expected


def test_utc_offsets_read_plainly():
    kyiv = dt.datetime(2022, 5, 5, 5, tzinfo=UTC).astimezone(dt.timezone(dt.timedelta(hours=3)))
    india = dt.datetime(2022, 5, 5, 5, tzinfo=UTC).astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30)))
    assert (utc_offset(kyiv), utc_offset(india), utc_offset(dt.datetime(2022, 1, 1, tzinfo=UTC))) == (
        "UTC+3",
        "UTC+5:30",
        "UTC",
    )


def report(**kwargs):
    values = {
        "ongoing": False,
        "ended_at": None,
        "time_precision": "exact",
        "site": SimpleNamespace(timezone="Europe/Kyiv"),
    }
    return SimpleNamespace(**{**values, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"started_at": dt.datetime(2022, 5, 5, 7, tzinfo=UTC)}, "at 10:00 on 5 May 2022"),
        (
            {"started_at": dt.datetime(2022, 5, 7, 14, tzinfo=UTC), "time_precision": "hour"},
            "around 17:00 on 7 May 2022 (hour known)",
        ),
        (
            {"started_at": dt.datetime(2022, 5, 5, 21, tzinfo=UTC), "time_precision": "day"},
            "on 6 May 2022 (time of day not known)",
        ),
        (
            {"started_at": dt.datetime(2022, 5, 2, 21, tzinfo=UTC), "time_precision": "day", "ongoing": True},
            "since 3 May 2022 (time of day not known), still going on",
        ),
    ],
)
def test_a_report_says_when_only_as_precisely_as_it_knows(kwargs, expected):
    with translation.override("en"):
        assert hostility_when(report(**kwargs)) == expected


@pytest.mark.parametrize(
    ("qualifiers", "expected"),
    [
        (["exact", "exact"], "exact"),
        (["exact", "at_least"], "at_least"),
        (["at_most", "exact", "at_most"], "at_most"),
        (["at_least", "at_most"], "approximately"),
        (["approximately", "exact"], "approximately"),
    ],
)
def test_a_sum_keeps_the_qualifier_it_deserves(qualifiers, expected):
    assert combine_qualifiers(qualifiers) == expected


@pytest.mark.parametrize(
    ("departed", "arrived", "expected"),
    [
        (Total(100, "exact"), Total(100, "exact"), "none: all accounted for"),
        (Total(100, "at_least"), Total(101, "exact"), "about 1 person more arrived than were counted leaving"),
        (Total(50, "approximately"), Total(41, "exact"), "about 9 people not accounted for"),
        (Total(50, "exact"), None, "not known: no arrivals recorded"),
    ],
)
def test_the_gap_says_who_is_not_accounted_for(departed, arrived, expected):
    with translation.override("en"):
        assert gap_text(WindowTotals(departed=departed, arrived=arrived)) == expected


def test_nice_steps():
    assert [nice_step(v) for v in (0, 7, 200, 100_000, 350)] == [1.0, 2.0, 50.0, 50_000.0, 100.0]


def test_the_count_chart_spans_the_data_and_gives_each_source_a_shape():
    mayor, team = SimpleNamespace(name="Mayor"), SimpleNamespace(name="Team")
    site = SimpleNamespace(timezone="Europe/Kyiv")
    counts = [
        SimpleNamespace(
            as_of=dt.datetime(2022, 5, 1, tzinfo=UTC), count=100, count_high=None, source_id=1, source=mayor, site=site
        ),
        SimpleNamespace(
            as_of=dt.datetime(2022, 5, 3, tzinfo=UTC), count=200, count_high=260, source_id=2, source=team, site=site
        ),
    ]
    with translation.override("en"):
        chart = count_chart(counts)
    assert [s.shape for s in chart.series] == ["circle", "square"]
    first, second = chart.series[0].points[0], chart.series[1].points[0]
    assert (first.x, second.x) == (chart.plot_left, chart.plot_right)
    assert second.y_high < second.y  # the range's high end is drawn higher up
    assert [t.label for t in chart.y_ticks][-1] == "300"


def test_the_timeline_covers_two_local_days_for_a_window_past_midnight():
    flag = SimpleNamespace(
        overlap_start=dt.datetime(2022, 5, 5, 21, tzinfo=UTC),  # 00:00 local on 6 May
        overlap_end=dt.datetime(2022, 5, 5, 21, tzinfo=UTC),
        certainty="confirmed",
        status="open",
        hostility=SimpleNamespace(get_kind_display=lambda: "Shelling"),
    )
    timeline = window_timeline(
        dt.datetime(2022, 5, 5, 19, tzinfo=UTC), dt.datetime(2022, 5, 6, 3, tzinfo=UTC), "Europe/Kyiv", [flag]
    )
    assert [t.label for t in timeline.ticks][:5] == ["00:00", "06:00", "12:00", "18:00", "00:00"]
    assert timeline.overlaps[0].x == pytest.approx(50.0)
    assert timeline.overlaps[0].is_instant


class TestCatalogues:
    def test_every_string_is_translated_into_ukrainian(self):
        po = polib.pofile(str(LOCALE / "uk/LC_MESSAGES/django.po"))
        assert po.percent_translated() == 100
        assert not po.fuzzy_entries()

    def test_the_committed_catalogue_is_compiled_from_the_current_po_file(self):
        """Run scripts/compile-messages after editing the .po file."""
        po = polib.pofile(str(LOCALE / "uk/LC_MESSAGES/django.po"))
        with open(LOCALE / "uk/LC_MESSAGES/django.mo", "rb") as f:
            compiled = gettext.GNUTranslations(f)
        for entry in po.translated_entries():
            key = f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt else entry.msgid
            if entry.msgid_plural:
                assert compiled._catalog[(key, 2)] == entry.msgstr_plural[2], entry.msgid
            else:
                assert compiled._catalog[key] == entry.msgstr, entry.msgid
