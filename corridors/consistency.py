"""
When a departure or an arrival agrees with the corridor and the window it names
(docs/design.md, "Figures and where they come from"). Pure: plain values in, a
yes or no out; the models' clean() turns a no into a message on the field.

- Place: people leave from a stop of the corridor's path before the destination
  (the origin or a waypoint) and arrive at one after the origin (a waypoint or the
  destination); a site inside a stop (a shelter inside the city on the path) is
  at that stop.
- Time: a departure lies inside its window, `[start, end)`; an arrival from the
  window's start to `margin` after its end (convoys are held at checkpoints).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence


def at_a_stop(lineage: Sequence[int], stops: Collection[int]) -> bool:
    """Whether a site (given as its lineage: itself, its parent, ...) is one of `stops` or inside one."""
    return any(site_id in stops for site_id in lineage)


def departure_stops(path: Sequence[int]) -> list[int]:
    """Where people leave from: every stop of the path (origin, waypoints, destination) but the destination."""
    return list(path[:-1])


def arrival_stops(path: Sequence[int]) -> list[int]:
    """Where people arrive: every stop of the path but the origin."""
    return list(path[1:])


def departure_in_window(departed_at: dt.datetime, start: dt.datetime, end: dt.datetime) -> bool:
    return start <= departed_at < end


def arrival_in_window(arrived_at: dt.datetime, start: dt.datetime, end: dt.datetime, margin: dt.timedelta) -> bool:
    return start <= arrived_at < end + margin
