"""
Conflict-event data sets → hostility reports: ACLED exports and UCDP GED exports, read
by their own column names. Each event becomes the data of one hostility report as the
API takes it (then checked and saved as any other row), with the event's id as its
key, so that importing a later version of the data set updates the reports.

Dates are stored with the precision the data set gives and never as an exact time: a
day is a day-precision report; an event known only to a week or a month covers that
whole week or month, day by day (docs/design.md "Time" rule 5).

Places: an event's site is the one a stored external code names (a P-code, a PRIO-GRID
cell: tracker.models.SiteAlias), else the one named (by its own name or a stored alias)
as the event's location, else the nearest site within IMPORT_SITE_RADIUS_KM of its
coordinates, else the row is refused with the nearest sites proposed. A restricted
site is matched, measured and proposed by the position the importer may see
(coarsened, unless they may see it exactly): an import never tells anyone how far a
shelter is from a point they chose.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from tracker import permissions
from tracker.coverage import day_start
from tracker.imports.readers import FileError
from tracker.models import HostilityReport, Site, SiteAlias, Source
from tracker.validators import DESCRIPTION_MAX_LENGTH

Kind = HostilityReport.Kind

# ACLED's sub-event types that are hostilities, as our kinds. Its protests, riots and
# strategic developments are not hostilities: such a row is refused, naming its type.
ACLED_KINDS = {
    "armed clash": Kind.GROUND_ASSAULT,
    "government regains territory": Kind.GROUND_ASSAULT,
    "non-state actor overtakes territory": Kind.GROUND_ASSAULT,
    "shelling/artillery/missile attack": Kind.SHELLING,
    "air/drone strike": Kind.AIR_STRIKE,
    "remote explosive/landmine/ied": Kind.MINES,
    "grenade": Kind.OTHER,
    "suicide bomb": Kind.OTHER,
    "chemical weapon": Kind.OTHER,
    "attack": Kind.OTHER,
    "abduction/forced disappearance": Kind.OTHER,
    "sexual violence": Kind.OTHER,
}
ACLED_REQUIRED = ("event_id_cnty", "event_date", "time_precision", "sub_event_type", "latitude", "longitude")
UCDP_REQUIRED = ("id", "date_start", "date_end", "where_prec", "latitude", "longitude")
UCDP_VIOLENCE = {"1": "State-based conflict", "2": "Non-state conflict", "3": "One-sided violence"}
# Where a row names its place, most precise first; and the columns that may hold a
# code a site is stored under (ACLED exports enriched with P-codes, UCDP's PRIO-GRID cell).
ACLED_NAME_COLUMNS = ("location", "admin3", "admin2")
ACLED_CODE_COLUMNS = ("admin3_pcode", "admin2_pcode", "admin1_pcode")
UCDP_CODE_COLUMNS = ("priogrid_gid",)
EARTH_RADIUS_KM = 6371.0
CANDIDATES = 3


class EventError(Exception):
    """A row that cannot become a report: (the data set's column, the message)."""

    def __init__(self, column: str | None, message: str) -> None:
        super().__init__(message)
        self.column, self.message = column, message


@dataclass
class Event:
    data: dict[str, Any]
    key: str
    # The data set's column each field comes from, as errors name it.
    titles: dict[str, str] = field(default_factory=dict)


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (latitude, longitude) points (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


class SiteFinder:
    """
    Finds an event's site: by a stored external code (tracker.models.SiteAlias) in the
    row's code columns; else by a name in its place columns, a site's own or a stored
    alias; else the nearest site within the radius. Sites and aliases are read once
    per file (they number in the thousands at most) and each answer is remembered.
    """

    def __init__(self, *, user: Any, radius_km: float, data_set: str = "") -> None:
        self.radius_km = radius_km
        self.data_set = data_set
        self.exact = permissions.can_view_exact_location(user)
        self._by_name: dict[str, list[Site]] | None = None
        self._by_code: dict[str, Site] = {}
        self._sites: list[tuple[tuple[float, float], Site]] | None = None

    def position(self, site: Site) -> tuple[float, float]:
        return (site.latitude, site.longitude) if self.exact else site.public_coordinates()

    def find(
        self,
        *,
        names: list[str],
        point: tuple[float, float] | None,
        radius_km: float | None = None,
        codes: Sequence[str] = (),
    ) -> Site:
        radius = self.radius_km if radius_km is None else radius_km
        self._load()
        for code in (c.strip() for c in codes if c and c.strip()):
            if code.casefold() in self._by_code:
                return self._by_code[code.casefold()]
        for name in (n.strip() for n in names if n and n.strip()):
            named = self._named(name)
            if len(named) == 1:
                return named[0]
            if named and point is not None:
                return min(named, key=lambda site: distance_km(point, self.position(site)))
        if point is None:
            raise EventError("location", _("No site is named “%(name)s”.") % {"name": ", ".join(names)})
        near = self.nearest(point)
        if near and near[0][0] <= radius:
            return near[0][1]
        proposals = "; ".join(
            _("%(site)s (id %(id)d, %(km).1f km)") % {"site": site.name, "id": site.pk, "km": km}
            for km, site in near[:CANDIDATES]
        )
        raise EventError(
            "location",
            _("No site is named “%(name)s” or lies within %(radius)s km of %(lat)s, %(lon)s. Nearest: %(sites)s.")
            % {
                "name": ", ".join(n for n in names if n),
                "radius": f"{radius:g}",
                "lat": point[0],
                "lon": point[1],
                "sites": proposals or _("none"),
            },
        )

    def _load(self) -> None:
        if self._by_name is not None:
            return
        sites = {site.pk: site for site in Site.objects.order_by("pk")}
        self._sites = [(self.position(site), site) for site in sites.values()]
        by_name: dict[str, dict[int, Site]] = {}
        for site in sites.values():
            by_name.setdefault(site.name.casefold(), {})[site.pk] = site
        # A code or name for this data set comes before the same one for any data set.
        aliases = SiteAlias.objects.filter(data_set__in=("", self.data_set)).order_by("-data_set", "pk")
        for kind, value, site_id in aliases.values_list("kind", "value", "site_id"):
            key = value.casefold()
            if kind == SiteAlias.Kind.CODE:
                self._by_code.setdefault(key, sites[site_id])
            else:
                by_name.setdefault(key, {})[site_id] = sites[site_id]
        self._by_name = {key: list(found.values()) for key, found in by_name.items()}

    def _named(self, name: str) -> list[Site]:
        return (self._by_name or {}).get(name.casefold(), [])

    def nearest(self, point: tuple[float, float]) -> list[tuple[float, Site]]:
        self._load()
        places = self._sites or []
        ranked = sorted(((distance_km(point, where), site) for where, site in places), key=lambda pair: pair[0])
        return ranked[:CANDIDATES]


def parse_date(value: Any, column: str) -> dt.date:
    """A data set's date: ISO (`2022-05-04`, with a time after it for UCDP), `04 May 2022`, `04/05/2022`."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value or "").strip()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        pass
    for pattern in ("%d %B %Y", "%d-%B-%Y", "%d/%m/%Y", "%d-%m-%Y"):
        try:
            return dt.datetime.strptime(text, pattern).date()  # noqa: DTZ007 - a date, no time in it
        except ValueError:
            continue
    raise EventError(column, _("“%(value)s” is not a date such as 2022-05-04.") % {"value": text})


def _coordinate(row: Mapping[str, Any], column: str) -> float:
    try:
        value = float(str(row.get(column, "")).strip().replace(",", "."))
    except ValueError:
        raise EventError(column, _("“%(value)s” is not a number of degrees.") % {"value": row.get(column)}) from None
    if not math.isfinite(value):
        raise EventError(column, _("“%(value)s” is not a number of degrees.") % {"value": row.get(column)})
    return value


def _span(first: dt.date, last: dt.date, zone_name: str, *, now: dt.datetime) -> tuple[dt.datetime, dt.datetime | None]:
    """
    The local days `first` to `last` (inclusive) as a report's UTC start and end: one
    day is a day-precision report with no end; a longer span ends where its last day
    does, or now if that is sooner (a figure reports what has happened).
    """
    start = day_start(first, zone_name)
    if last == first:
        return start, None
    end = min(day_start(last + dt.timedelta(days=1), zone_name), now)
    return start, (end if end > start else None)


def _text(*parts: str) -> str:
    text = " ".join(part.strip() for part in parts if part and part.strip())
    return text if len(text) <= DESCRIPTION_MAX_LENGTH else text[: DESCRIPTION_MAX_LENGTH - 1] + "…"


def check_columns(titles: list[str], required: tuple[str, ...], name: str) -> None:
    missing = [column for column in required if column not in {t.strip().lower() for t in titles}]
    if missing:
        raise FileError(
            _("This is not a %(name)s export: it has no column %(columns)s.")
            % {"name": name, "columns": ", ".join(missing)}
        )


def data_source(*, name: str, url: str, user: Any, save: Callable[[Source, Any], Source]) -> Source:
    """The data set as the reports' source (who said it), added once if it is not there yet."""
    source = Source.objects.filter(name=name).first()
    if source is None:
        source = save(Source(name=name, kind=Source.Kind.OTHER, url=url), user)
    return source


def acled_event(row: Mapping[str, Any], *, sites: SiteFinder, source: Source, now: dt.datetime) -> Event:
    """One ACLED row (column names lower-cased) as a hostility report's data."""
    event_id = str(row.get("event_id_cnty") or "").strip()
    if not event_id:
        raise EventError("event_id_cnty", _("An ACLED event needs its event_id_cnty."))
    sub_type = str(row.get("sub_event_type") or "").strip()
    kind = ACLED_KINDS.get(sub_type.casefold())
    if kind is None:
        raise EventError(
            "sub_event_type",
            _("“%(type)s” is not a hostility (ACLED's protests, riots and strategic developments are not imported).")
            % {"type": sub_type or row.get("event_type") or ""},
        )
    day = parse_date(row.get("event_date"), "event_date")
    precision = str(row.get("time_precision") or "1").strip()
    if precision not in ("1", "2", "3"):
        raise EventError("time_precision", _("ACLED's time_precision is 1, 2 or 3."))
    point = (_coordinate(row, "latitude"), _coordinate(row, "longitude"))
    names = [str(row.get(column) or "") for column in ACLED_NAME_COLUMNS]
    codes = [str(row.get(column) or "") for column in ACLED_CODE_COLUMNS]
    site = sites.find(names=names, point=point, codes=codes)
    if precision == "1":
        first = last = day
    elif precision == "2":  # the week around the date given
        first, last = day - dt.timedelta(days=3), day + dt.timedelta(days=3)
    else:  # the month of the date given
        first = day.replace(day=1)
        last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    started_at, ended_at = _span(first, last, site.timezone, now=now)
    description = _text(
        f"{row.get('event_type') or ''} / {sub_type}.",
        str(row.get("notes") or ""),
        f"(ACLED {event_id}; sources: {row.get('source') or '-'}; fatalities: {row.get('fatalities') or '0'})",
    )
    return Event(
        data={
            "site": site.pk,
            "kind": kind.value,
            "started_at": started_at.isoformat(),
            "ended_at": ended_at.isoformat() if ended_at else None,
            "time_precision": HostilityReport.Precision.DAY.value,
            "ongoing": False,
            "description": description,
            "source": source.pk,
        },
        key=f"acled:{event_id}",
        titles={
            "site": "location",
            "kind": "sub_event_type",
            "started_at": "event_date",
            "ended_at": "event_date",
            "description": "notes",
            "time_precision": "time_precision",
        },
    )


def ucdp_event(row: Mapping[str, Any], *, sites: SiteFinder, source: Source, now: dt.datetime) -> Event:
    """One UCDP GED row (column names lower-cased) as a hostility report's data."""
    event_id = str(row.get("id") or "").strip()
    if not event_id:
        raise EventError("id", _("A UCDP event needs its id."))
    first = parse_date(row.get("date_start"), "date_start")
    last = parse_date(row.get("date_end") or row.get("date_start"), "date_end")
    if last < first:
        raise EventError("date_end", _("The end must be after the start."))
    point = (_coordinate(row, "latitude"), _coordinate(row, "longitude"))
    where_prec = str(row.get("where_prec") or "1").strip()
    place = str(row.get("where_coordinates") or "").split(",")[0]
    names = [place, str(row.get("adm_2") or "")]
    codes = [str(row.get(column) or "") for column in UCDP_CODE_COLUMNS]
    if where_prec in ("1", "2"):
        # 1: the exact place; 2: within 25 km of it.
        radius = sites.radius_km if where_prec == "1" else max(sites.radius_km, 25.0)
        site = sites.find(names=names, point=point, radius_km=radius, codes=codes)
    else:
        # A region's or a country's centroid: only a site of that name or code will do.
        site = sites.find(names=names, point=None, codes=codes)
    started_at, ended_at = _span(first, last, site.timezone, now=now)
    violence = UCDP_VIOLENCE.get(str(row.get("type_of_violence") or "").strip(), "")
    description = _text(
        f"{violence}: {row.get('dyad_name') or row.get('conflict_name') or ''}.",
        str(row.get("where_description") or ""),
        str(row.get("source_headline") or ""),
        f"(UCDP GED {event_id}; deaths, best estimate: {row.get('best') or '0'})",
    )
    return Event(
        data={
            "site": site.pk,
            "kind": Kind.OTHER.value,
            "started_at": started_at.isoformat(),
            "ended_at": ended_at.isoformat() if ended_at else None,
            "time_precision": HostilityReport.Precision.DAY.value,
            "ongoing": False,
            "description": description,
            "source": source.pk,
        },
        key=f"ucdp:{event_id}",
        titles={
            "site": "where_coordinates",
            "started_at": "date_start",
            "ended_at": "date_end",
            "description": "where_description",
            "time_precision": "date_prec",
        },
    )


def key_of(data_set: str, row: Mapping[str, Any]) -> str:
    """An event's key ("acled:UKR1001"); with no row, the data set's prefix."""
    column = "event_id_cnty" if data_set == "acled" else "id"
    return f"{data_set}:{str(row.get(column) or '').strip()}"


DATA_SETS = {
    "acled": ("ACLED", "https://acleddata.com", ACLED_REQUIRED, acled_event),
    "ucdp": ("UCDP GED", "https://ucdp.uu.se", UCDP_REQUIRED, ucdp_event),
}


def radius_km() -> float:
    return float(settings.IMPORT_SITE_RADIUS_KM)
