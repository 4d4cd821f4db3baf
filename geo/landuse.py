"""Land-use control ratios (工业项目建设用地控制指标) per parcel and per zone.

Definitions follow 国土资发〔2008〕24号:

- 容积率 plot ratio = total floor area / parcel area; a storey higher than 8 m counts twice.
- 建筑系数 building coefficient = footprints of buildings, structures and open yards / parcel area.
- 行政办公及生活服务设施用地比重 = land of office and living facilities / parcel area,
  measured here by the footprints of buildings whose use is 办公 or 生活.
- 投资强度 investment intensity = fixed-asset investment (万元) / parcel area (亩).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mujun.geo.intensity import safe_ratio

__all__ = [
    "ADMIN_USES",
    "NO_FLOOR_AREA_USES",
    "admin_footprint_m2",
    "admin_share",
    "building_coefficient",
    "counted_floor_area_m2",
    "investment_intensity",
    "is_industrial",
    "plot_ratio",
]

#: Building uses that count as 行政办公及生活服务设施.
ADMIN_USES: tuple[str, ...] = ("办公", "生活", "宿舍", "食堂")
#: Uses that occupy ground (建筑系数) but have no floor area (容积率).
NO_FLOOR_AREA_USES: tuple[str, ...] = ("构筑物", "堆场")
#: A storey higher than this many metres counts twice in the floor area.
DOUBLE_STOREY_HEIGHT_M = 8.0

# 地类: GB/T 21010-2007 "061", -2017 "0601", 国土空间调查 2020 "1001xx", planning "M".
_INDUSTRIAL_CODES = ("0601", "061", "1001", "M")


def _num(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


def _uses(frame: pd.DataFrame, uses: tuple[str, ...]) -> pd.Series:
    if "use" not in frame.columns:
        return pd.Series(False, index=frame.index)
    pattern = "|".join(uses)
    return frame["use"].astype("string").str.contains(pattern, regex=True, na=False)


def counted_floor_area_m2(buildings: pd.DataFrame, footprint_m2: pd.Series) -> pd.Series:
    """Floor area of each building as counted for the plot ratio, in m².

    The recorded ``floor_area_m2`` is used when present, else footprint × ``floors``
    (one storey when unknown). Where ``height`` is known and the mean storey height
    (height / floors) exceeds 8 m, the floor area counts twice. Structures and open
    yards (``use`` 构筑物/堆场) have no floor area.

    Examples
    --------
    >>> b = pd.DataFrame({"floors": [3, 1, 1, None], "height": [12.0, 10.5, 6.0, None],
    ...                   "use": ["生产", "生产", "堆场", "仓储"]})
    >>> counted_floor_area_m2(b, pd.Series([100.0, 100.0, 100.0, 50.0])).tolist()
    [300.0, 200.0, 0.0, 50.0]
    """
    floors = _num(buildings, "floors")
    floors = floors.where(floors > 0, 1.0)
    recorded = _num(buildings, "floor_area_m2")
    area = recorded.where(recorded > 0, footprint_m2.astype("float64") * floors)
    storey = _num(buildings, "height") / floors
    area = area.where(~(storey > DOUBLE_STOREY_HEIGHT_M), area * 2.0)
    area = area.where(~_uses(buildings, NO_FLOOR_AREA_USES), 0.0)
    return area.rename("counted_floor_area_m2")


def admin_footprint_m2(buildings: pd.DataFrame, footprint_m2: pd.Series) -> pd.Series:
    """Footprint of office and living buildings (:data:`ADMIN_USES`), 0 for others."""
    return footprint_m2.where(_uses(buildings, ADMIN_USES), 0.0).rename("admin_footprint_m2")


def plot_ratio(floor_area_m2: pd.Series, parcel_area_m2: pd.Series) -> pd.Series:
    """容积率: counted floor area / parcel area (both m²).

    Examples
    --------
    >>> plot_ratio(pd.Series([15000.0, 0.0]), pd.Series([10000.0, 0.0])).tolist()
    [1.5, nan]
    """
    return safe_ratio(floor_area_m2, parcel_area_m2).rename("plot_ratio")


def building_coefficient(footprint_m2: pd.Series, parcel_area_m2: pd.Series) -> pd.Series:
    """建筑系数: footprints of buildings, structures and yards / parcel area (0–1).

    Examples
    --------
    >>> building_coefficient(pd.Series([4000.0]), pd.Series([10000.0])).tolist()
    [0.4]
    """
    return safe_ratio(footprint_m2, parcel_area_m2).rename("building_coefficient")


def admin_share(admin_footprint: pd.Series, parcel_area_m2: pd.Series) -> pd.Series:
    """行政办公及生活服务设施用地比重 (0–1), from the footprints of office and living buildings.

    Examples
    --------
    >>> admin_share(pd.Series([500.0]), pd.Series([10000.0])).tolist()
    [0.05]
    """
    return safe_ratio(admin_footprint, parcel_area_m2).rename("admin_share")


def investment_intensity(investment: pd.Series, area_mu: pd.Series) -> pd.Series:
    """投资强度: fixed-asset investment (万元) / parcel area (亩); missing when unknown.

    Examples
    --------
    >>> investment_intensity(pd.Series([5400.0, None]), pd.Series([20.0, 10.0])).tolist()
    [270.0, nan]
    """
    return safe_ratio(investment, area_mu).rename("investment_intensity")


def is_industrial(parcels: pd.DataFrame) -> pd.Series:
    """Whether each parcel is industrial land (工业用地).

    Decided from ``land_use`` (contains 工业 or 工矿) or ``land_class_code`` (0601, 061,
    1001…, M…). Parcels with neither recorded count as industrial: the parcel layer is
    the industrial land inventory.

    Examples
    --------
    >>> p = pd.DataFrame({"land_use": ["工业用地", "商业用地", None, None],
    ...                   "land_class_code": [None, "05", "0601", None]})
    >>> is_industrial(p).tolist()
    [True, False, True, True]
    """
    use = (
        parcels["land_use"].astype("string")
        if "land_use" in parcels.columns
        else pd.Series(pd.NA, index=parcels.index, dtype="string")
    )
    code = (
        parcels["land_class_code"].astype("string").str.strip().str.upper()
        if "land_class_code" in parcels.columns
        else pd.Series(pd.NA, index=parcels.index, dtype="string")
    )
    by_use = use.str.contains("工业|工矿", regex=True)
    by_code = code.str.startswith(_INDUSTRIAL_CODES)
    unknown = use.isna() & code.isna()
    return (by_use.fillna(False) | by_code.fillna(False) | unknown).astype(bool).rename("industrial")
