"""Coordinates the public may see. Pure functions over plain numbers."""

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
