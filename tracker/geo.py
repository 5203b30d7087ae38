"""Coordinates the public may see, and the map's tile grid. Pure functions over plain numbers."""

import math

# 0.1 degree is about 11 km of latitude, and 7.6 km of longitude at Mariupol's 47° N.
COARSE_STEP_DEGREES = 0.1


def coarsen(latitude: float, longitude: float) -> tuple[float, float]:
    """
    Snap a position to the 0.1° grid: what the public sees of a restricted site.

    Every position in a grid cell maps to the same point, so the public output of a
    restricted shelter tells nothing finer than "within about 10 km of here", and two
    edits that move the shelter by a few hundred metres give the same output.
    """
    return (
        round(round(latitude / COARSE_STEP_DEGREES) * COARSE_STEP_DEGREES, 1),
        round(round(longitude / COARSE_STEP_DEGREES) * COARSE_STEP_DEGREES, 1),
    )


# --- The map's tiles: the Web Mercator ("slippy map") grid Leaflet and the tile servers use.

# Mercator's edge: tiles reach from about 85.05° S to 85.05° N.
MAX_LATITUDE = math.degrees(math.atan(math.sinh(math.pi)))
MAX_ZOOM = 18


def tile_xy(latitude: float, longitude: float, zoom: int) -> tuple[float, float]:
    """
    Where a position falls on the tile grid of `zoom`, in tiles from the top-left corner
    (fractional: the integer parts name its tile, the fractions where in it).
    """
    n = 2**zoom
    lat = math.radians(max(-MAX_LATITUDE, min(MAX_LATITUDE, latitude)))
    x = (longitude + 180.0) / 360.0 * n
    y = (1.0 - math.asinh(math.tan(lat)) / math.pi) / 2.0 * n
    # The east and south edges belong to the last tile, not to one past the grid.
    return min(max(x, 0.0), math.nextafter(n, 0)), min(max(y, 0.0), math.nextafter(n, 0))


def tile_bounds(zoom: int, x: int, y: int) -> tuple[float, float, float, float]:
    """A tile's (south, west, north, east) in degrees."""
    n = 2**zoom

    def latitude(row: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return latitude(y + 1), x / n * 360.0 - 180.0, latitude(y), (x + 1) / n * 360.0 - 180.0


def tile_exists(zoom: int, x: int, y: int) -> bool:
    return 0 <= zoom <= MAX_ZOOM and 0 <= x < 2**zoom and 0 <= y < 2**zoom
