"""CGCS2000 coordinate reference systems used for Chinese cadastral data.

Stored data is geographic CGCS2000 (EPSG:4490). Areas and distances are measured in the
CGCS2000 3-degree Gauss-Krüger zone of a feature's longitude, where the scale error stays
below about 0.03 % in length (0.06 % in area) at Zhejiang's latitudes.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CGCS2000",
    "CHINA_BOUNDS",
    "gk_zone_epsg",
    "gk_zone_central_meridian",
]

#: Geographic CGCS2000, the storage CRS of every layer.
CGCS2000 = "EPSG:4490"

#: (min lon, min lat, max lon, max lat) of a generous box around China.
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)

# EPSG:4534 is "CGCS2000 / 3-degree Gauss-Kruger CM 75E"; the codes rise by one per zone
# up to EPSG:4554 (CM 135E). The zone-prefixed twins (false easting zone*1e6 + 500000) are
# EPSG:4513 (zone 25) to EPSG:4533 (zone 45).
_FIRST_CM, _LAST_CM, _FIRST_EPSG = 75, 135, 4534


def gk_zone_central_meridian(lon: np.ndarray | float) -> np.ndarray:
    """Central meridian (degrees east) of the 3-degree zone holding each longitude.

    Examples
    --------
    >>> gk_zone_central_meridian([118.4, 120.2, 121.6, 122.9]).tolist()
    [117, 120, 123, 123]
    """
    cm = np.rint(np.asarray(lon, dtype="float64") / 3.0) * 3
    return np.clip(cm, _FIRST_CM, _LAST_CM).astype("int64")


def gk_zone_epsg(lon: np.ndarray | float) -> np.ndarray:
    """EPSG code of the CGCS2000 3-degree Gauss-Krüger zone (no zone prefix) per longitude.

    Examples
    --------
    >>> gk_zone_epsg([117.9, 120.4, 122.0]).tolist()
    [4548, 4549, 4550]
    >>> from pyproj import CRS
    >>> CRS.from_epsg(4549).name
    'CGCS2000 / 3-degree Gauss-Kruger CM 120E'
    """
    return _FIRST_EPSG + (gk_zone_central_meridian(lon) - _FIRST_CM) // 3
