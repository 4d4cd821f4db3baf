"""Per-mu evaluation of a year: parcels, enterprises and the zones that hold them.

The work is split in two. :func:`parcel_base` does the geometry once — areas, buildings,
land-use ratios and the spatial assignment of parcels to districts, parks and platforms.
:func:`evaluate_year` then joins one year of enterprise figures and aggregates them, so
several years reuse the same geometry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from mujun.geo._checks import _check_columns
from mujun.geo._keys import Coded, isin, lookup, lookup_rows, positions, rows_at
from mujun.geo.area import area_m2, local_gk_crs
from mujun.geo.assignment import Location, ZoneIndex
from mujun.geo.errors import InputError
from mujun.geo.intensity import (
    PER_MU,
    area_missing_reason,
    enterprise_land_mu,
    per_mu,
    per_mu_metrics,
    ratio_of_sums,
    safe_ratio,
)
from mujun.geo.landuse import (
    admin_footprint_m2,
    admin_share,
    building_coefficient,
    counted_floor_area_m2,
    investment_intensity,
    is_industrial,
    plot_ratio,
)

__all__ = ["BUILDING_TOTALS", "LEVELS", "ZONES", "BuildingMeasure", "BuildingTotals", "building_base", "evaluate_year",
           "evaluate_years", "parcel_base", "year_figures", "zone_summary"]

#: Levels of the results, finest first.
LEVELS: tuple[str, ...] = ("enterprise", "parcel", "park", "platform", "district")

#: Zone level -> (id field, min share of a parcel's area for membership).
ZONES: dict[str, tuple[str, float]] = {
    "district": ("district_id", 0.0),  # districts partition the land: plurality wins
    "park": ("park_id", 0.5),
    "platform": ("platform_id", 0.5),
}

AMOUNTS: tuple[str, ...] = tuple(PER_MU.values())


def parcel_base(
    parcels: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None = None,
    zones: Mapping[str, gpd.GeoDataFrame | None] | None = None,
    *,
    buildings_surveyed: bool = True,
    totals: pd.DataFrame | None = None,
    crs: CRS | None = None,
    planar: gpd.GeoSeries | None = None,
    zone_columns: Mapping[str, pd.Series] | None = None,
    threads: int | None = None,
) -> gpd.GeoDataFrame:
    """Year-independent figures of every parcel.

    Parameters
    ----------
    parcels : GeoDataFrame
        Parcels with ``parcel_id`` (and optionally ``holder_code``, ``land_use``,
        ``investment`` …).
    buildings : GeoDataFrame, optional
        Building footprints with ``floors``, ``height``, ``use`` and ``floor_area_m2``
        where known, or the output of :func:`building_base`. Each building belongs to the
        parcel holding more than half of its footprint.
    zones : mapping, optional
        ``{"district": gdf, "park": gdf, "platform": gdf}``, each with its id field
        (``district_id`` …) and ``name``.
    buildings_surveyed : bool
        ``False`` when no building survey exists at all: footprints, floor areas and the
        ratios built on them are then missing (unknown), not zero, so that no parcel is
        judged unbuilt or under-built for lack of data.
    totals : DataFrame, optional
        The buildings' totals per parcel (:meth:`BuildingTotals.table`), instead of
        ``buildings``: what an engine gives that measured the buildings a batch at a time.
    crs : CRS, optional
        Planar CRS of the zone overlays (default: :func:`~mujun.geo.area.local_gk_crs` of the
        parcels); give the whole layer's when ``parcels`` is one partition of it.
    planar : GeoSeries, optional
        The parcels' outlines already projected to a planar CRS (on their index), by a caller
        that projected them for the buildings (:attr:`BuildingMeasure.planar_parcels`); its
        CRS is then that of the overlays.
    zone_columns : mapping, optional
        The parcels' zone ids and names already found, by a caller that found them for the
        buildings (:meth:`BuildingMeasure.parcel_zone_columns`): taken instead of ``zones``.
    threads : int, optional
        Threads for the overlays (default: :data:`~mujun.geo.assignment.THREADS`); the
        engine running the evaluation passes its own.

    Returns
    -------
    GeoDataFrame
        The parcels with ``area_m2``, ``area_mu``, ``industrial``, building totals
        (``building_count``, ``footprint_m2``, ``floor_area_m2``, ``admin_footprint_m2``),
        ``plot_ratio``, ``building_coefficient``, ``admin_share``, ``investment_intensity``
        and, per zone level, its id, name and the parcel's share inside it.
    """
    _check_columns(parcels, ["parcel_id"], "parcels")
    out = parcels.copy(deep=False)  # copy-on-write: the figures are added, the columns shared
    if planar is not None:
        crs = planar.crs
    elif any(z is not None and not z.empty for z in (zones or {}).values()):
        crs = local_gk_crs(out) if crs is None else crs
        planar = out.geometry.to_crs(crs)  # once for the areas and every zone level
    out["area_m2"] = area_m2(out, planar)
    out["area_mu"] = out["area_m2"] / (10000.0 / 15.0)
    out["industrial"] = is_industrial(out)

    totals = _building_totals(out, buildings, threads) if totals is None else totals
    # totals are keyed by the parcel id as text (as buildings are assigned to parcels)
    at = positions(out["parcel_id"], totals.index)
    for col in BUILDING_TOTALS:
        values = totals[col].to_numpy(dtype="float64")
        out[col] = np.where(at >= 0, values[at], 0.0) if len(values) else 0.0
    out["building_count"] = out["building_count"].astype("int64")
    if not buildings_surveyed:
        # no building survey: the building figures are unknown, not zero
        for col in ("footprint_m2", "floor_area_m2", "admin_footprint_m2"):
            out[col] = np.nan
    out["plot_ratio"] = plot_ratio(out["floor_area_m2"], out["area_m2"])
    out["building_coefficient"] = building_coefficient(out["footprint_m2"], out["area_m2"])
    out["admin_share"] = admin_share(out["admin_footprint_m2"], out["area_m2"])
    investment = out["investment"] if "investment" in out.columns else pd.Series(np.nan, index=out.index)
    out["investment_intensity"] = investment_intensity(investment, out["area_mu"])
    if zone_columns is not None:
        for col, values in zone_columns.items():
            out[col] = values
        return out
    return _assign_zones(out, zones, crs, planar, threads)


def _assign_zones(
    frame: gpd.GeoDataFrame, zones: Mapping[str, gpd.GeoDataFrame | None] | None, crs: CRS | None = None,
    planar: gpd.GeoSeries | None = None, threads: int | None = None,
) -> gpd.GeoDataFrame:
    """Add each zone level's id and name: the zone holding most of each feature's area.

    ``planar`` is ``frame``'s geometry already projected to ``crs``, if the caller has it.
    """
    if planar is None and any(z is not None and not z.empty for z in (zones or {}).values()):
        crs = local_gk_crs(frame) if crs is None else crs
        planar = frame.geometry.to_crs(crs)  # once for every level
    indexes = _zone_indexes(zones, planar.crs if planar is not None else crs, threads)
    for col, values in _zone_columns(indexes, planar, frame.index).items():
        frame[col] = values
    return frame


def _zone_indexes(zones: Mapping[str, gpd.GeoDataFrame | None] | None, crs: CRS | None,
                  threads: int | None = None) -> dict[str, ZoneIndex | None]:
    """Each zone level made ready for assignment (``None`` where the layer is absent or empty)."""
    out: dict[str, ZoneIndex | None] = {}
    for level, (zone_id, _) in ZONES.items():
        zone_gdf = (zones or {}).get(level)
        if zone_gdf is None or zone_gdf.empty:
            out[level] = None
            continue
        _check_columns(zone_gdf, [zone_id, "name"], level)
        out[level] = ZoneIndex(zone_gdf, zone_id, crs=crs, carry=["name"], threads=threads)
    return out


def _zone_columns(indexes: Mapping[str, ZoneIndex | None], planar: gpd.GeoSeries | None,
                  index: pd.Index) -> dict[str, pd.Series]:
    """Each level's zone id and name for features whose projected geometry is ``planar``."""
    return _named_zones(indexes, {level: ix.locate(planar, min_share=ZONES[level][1])
                                  for level, ix in indexes.items() if ix is not None}, index)


def _named_zones(indexes: Mapping[str, ZoneIndex | None],
                 found: Mapping[str, Location | tuple[np.ndarray, np.ndarray]], index: pd.Index) -> dict[str, pd.Series]:
    """Each level's zone id and name (missing for a level without zones) from the zone
    positions and shares ``found`` for it (:meth:`ZoneIndex.locate`)."""
    out: dict[str, pd.Series] = {}
    for level, (zone_id, _) in ZONES.items():
        ix, at = indexes.get(level), found.get(level)
        if ix is None or at is None:
            out[zone_id] = pd.Series(pd.NA, index=index, dtype="string")
            out[f"{level}_name"] = pd.Series(pd.NA, index=index, dtype="string")
            continue
        assigned = ix.assigned(at[0], at[1], index)
        out[zone_id] = assigned[zone_id]
        out[f"{level}_name"] = assigned["name"]
    return out


#: Buildings measured and assigned per batch: their projected copies and overlays exist for
#: one batch at a time (a province has millions of footprints).
BUILDING_BATCH = 250_000

#: The building totals of each parcel (:func:`parcel_base`).
BUILDING_TOTALS: tuple[str, ...] = ("building_count", "footprint_m2", "floor_area_m2", "admin_footprint_m2")


def building_base(
    buildings: gpd.GeoDataFrame,
    parcels: gpd.GeoDataFrame,
    zones: Mapping[str, gpd.GeoDataFrame | None] | None = None,
    *,
    crs: CRS | None = None,
    threads: int | None = None,
) -> gpd.GeoDataFrame:
    """Footprints, counted floor areas and the parcel and zones of every building.

    Parameters
    ----------
    buildings : GeoDataFrame
        Footprints with ``floors``, ``height``, ``use``, ``floor_area_m2`` where known.
    parcels : GeoDataFrame
        Parcels with ``parcel_id``; a building belongs to the parcel holding more than
        half of its footprint.
    zones : mapping, optional
        As for :func:`parcel_base`; each building gets the district, park and platform
        holding most of it.
    crs : CRS, optional
        Planar CRS of the overlays (default: :func:`~mujun.geo.area.local_gk_crs` of the
        buildings); give the whole layer's when ``buildings`` is one partition of it.
    threads : int, optional
        As for :func:`parcel_base`.

    Returns
    -------
    GeoDataFrame
        The buildings with ``footprint_m2``, ``floor_area_m2`` (as counted for the plot
        ratio), ``admin_footprint_m2``, ``parcel_id`` and the zone ids and names.
    """
    b = buildings.copy(deep=False)  # copy-on-write: the figures are added, the columns shared
    measure = BuildingMeasure(parcels, zones, crs=local_gk_crs(b) if crs is None else crs, threads=threads)
    # one (empty) batch when there are none
    parts = [measure.figures(b.iloc[start:start + BUILDING_BATCH]) for start in range(0, max(len(b), 1), BUILDING_BATCH)]
    figures = pd.concat(parts) if len(parts) > 1 else parts[0]
    for col in figures.columns:
        b[col] = figures[col].array  # by position: the batches are in the buildings' order
    return b


class BuildingMeasure:
    """:func:`building_base` a batch of buildings at a time: the parcels and zones are
    projected, prepared and indexed once for every batch, so a province's footprints need
    never be in memory together (see :class:`BuildingTotals` for the parcels' sums).

    Parameters
    ----------
    parcels, zones, threads
        As for :func:`building_base`.
    crs : CRS
        Planar CRS of the overlays, the same for every batch (:func:`building_base` takes the
        whole building layer's :func:`~mujun.geo.area.local_gk_crs`, the local engine the
        parcels', which it reads whole).
    """

    def __init__(self, parcels: gpd.GeoDataFrame, zones: Mapping[str, gpd.GeoDataFrame | None] | None = None,
                 *, crs: CRS, threads: int | None = None):
        _check_columns(parcels, ["parcel_id"], "parcels")
        plots = parcels[["parcel_id", parcels.geometry.name]].assign(parcel_id=parcels["parcel_id"].astype("string"))
        self.crs = crs
        self.to_parcel = ZoneIndex(plots, "parcel_id", crs=crs, threads=threads)
        self.indexes = _zone_indexes(zones, crs, threads)
        self._parcels_index = parcels.index
        # the parcels' own zones, once: a building wholly inside a parcel takes them without an
        # overlay of its own wherever that is certain (see _building_zones)
        self._parcel_zones = {level: ix.locate(self.planar_parcels, min_share=ZONES[level][1])
                              for level, ix in self.indexes.items() if ix is not None}

    @property
    def planar_parcels(self) -> gpd.GeoSeries:
        """The parcels' outlines in :attr:`crs`, on their index: projected once, for the
        buildings and for :func:`parcel_base` (``planar``)."""
        return gpd.GeoSeries(self.to_parcel.planar, index=self._parcels_index, crs=self.crs)

    def parcel_zone_columns(self) -> dict[str, pd.Series]:
        """The parcels' zone ids and names, as :func:`parcel_base` assigns them (its
        ``zone_columns``): found once, for the buildings and the parcels."""
        return _named_zones(self.indexes, self._parcel_zones, self._parcels_index)

    def figures(self, batch: gpd.GeoDataFrame) -> pd.DataFrame:
        """The columns :func:`building_base` adds, for the buildings ``batch`` (on its index)."""
        return self.measure(batch)[0]

    def measure(self, batch: gpd.GeoDataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """:meth:`figures`, and the position of each building's parcel among the parcels as
        given (-1 where none holds more than half of it), for :meth:`BuildingTotals.add`."""
        planar = batch.geometry.to_crs(self.crs)  # once for the areas, the parcels and every zone level
        footprint = area_m2(batch, planar)
        parcel = self.to_parcel.locate(planar, min_share=0.5)
        figures = pd.DataFrame({
            "footprint_m2": footprint,
            "floor_area_m2": counted_floor_area_m2(batch, footprint),
            "admin_footprint_m2": admin_footprint_m2(batch, footprint),
            "parcel_id": self.to_parcel.assigned(parcel.zone, parcel.share, batch.index)["parcel_id"],
            **self._building_zones(planar, parcel),
        }, index=batch.index)
        return figures, parcel.zone

    def _building_zones(self, planar: gpd.GeoSeries, parcel: Location) -> dict[str, pd.Series]:
        """:func:`_zone_columns` of the buildings ``planar``, found in ``parcel``.

        A building wholly inside its parcel lies wholly inside the one zone of a level that
        holds that parcel wholly and is the only zone the parcel meets (any zone meeting the
        building meets the parcel), and in none where the parcel meets none: the same zone
        and share its own overlay would give. The overlays are run for the other buildings
        alone — those across a parcel's edge or a zone's.
        """
        held = parcel.within & (parcel.zone >= 0) & (parcel.share > 0)
        p = np.where(held, parcel.zone, 0)
        found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for level, of_parcel in self._parcel_zones.items():
            alone = held & of_parcel.within[p] & (of_parcel.meets[p] == 1)
            outside = held & (of_parcel.meets[p] == 0)
            zone = np.where(alone, of_parcel.zone[p], -1)
            share = np.where(alone, 1.0, 0.0)
            rest = np.flatnonzero(~(alone | outside))
            if len(rest):
                overlaid = self.indexes[level].locate(planar.iloc[rest], min_share=ZONES[level][1])
                zone[rest], share[rest] = overlaid.zone, overlaid.share
            found[level] = (zone, share)
        return _named_zones(self.indexes, found, planar.index)


class BuildingTotals:
    """The building totals of each parcel (:data:`BUILDING_TOTALS`), gathered from batches of
    :func:`building_base`'s figures and summed as one table: the same sums, in the same
    order, as :func:`parcel_base` takes of the whole layer (what it is given as ``totals``).

    Each building keeps only its parcel's position and three areas until :meth:`table`.
    """

    def __init__(self, parcels: pd.DataFrame):
        ids = parcels["parcel_id"].astype("string")
        self.ids = pd.Index(ids.unique())
        self._of_row = positions(ids, self.ids)  # each parcel's id among the ids (-1: none)
        self._parts: list[pd.DataFrame] = []

    def add(self, figures: pd.DataFrame, parcels: np.ndarray | None = None) -> None:
        """Count the buildings of one batch (the columns of :func:`building_base`); ``parcels``,
        the positions of their parcels among the parcels given (:meth:`BuildingMeasure.measure`),
        spares looking their ids up."""
        if parcels is None:
            at = positions(figures["parcel_id"], self.ids)
        elif len(self._of_row):
            at = np.where(parcels >= 0, self._of_row[np.clip(parcels, 0, None)], -1)
        else:  # no parcels: none holds a building
            at = np.full(len(parcels), -1, dtype="int64")
        keep = at >= 0
        self._parts.append(pd.DataFrame({
            "at": at[keep], **{c: figures[c].to_numpy(dtype="float64")[keep] for c in BUILDING_TOTALS[1:]},
        }))

    def table(self) -> pd.DataFrame:
        """The totals of the parcels that have buildings, indexed by parcel id (text)."""
        rows = pd.concat(self._parts, ignore_index=True) if self._parts else pd.DataFrame(
            {"at": pd.Series(dtype="int64"), **{c: pd.Series(dtype="float64") for c in BUILDING_TOTALS[1:]}})
        # grouped by the ids as text, as _building_totals groups the whole layer: pandas sums
        # groups of text keys and of integer keys in different orders (the last bit differs)
        rows["parcel_id"] = self.ids[rows.pop("at").to_numpy()]
        return rows.assign(building_count=1.0).groupby("parcel_id")[list(BUILDING_TOTALS)].sum()


def _building_totals(parcels: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame | None,
                     threads: int | None = None) -> pd.DataFrame:
    cols = list(BUILDING_TOTALS)
    if buildings is None or buildings.empty:
        return pd.DataFrame(columns=cols, dtype="float64")
    if not {"parcel_id", "footprint_m2", "floor_area_m2", "admin_footprint_m2"} <= set(buildings.columns):
        buildings = building_base(buildings, parcels, threads=threads)  # not yet done by the caller
    b = buildings.assign(building_count=1.0)
    return b.dropna(subset=["parcel_id"]).groupby("parcel_id")[cols].sum()


def evaluate_year(
    base: gpd.GeoDataFrame,
    enterprises: pd.DataFrame,
    year: int,
    zones: Mapping[str, gpd.GeoDataFrame | None] | None = None,
) -> dict[str, pd.DataFrame]:
    """Per-mu results of one year at every level (:func:`year_figures`, the zone levels summed
    up at once).

    Parameters
    ----------
    base : GeoDataFrame
        Output of :func:`parcel_base`.
    enterprises : DataFrame
        Enterprise figures, one row per ``credit_code`` and ``year`` (amounts in 万元).
    year : int
        The year to evaluate.
    zones : mapping, optional
        The zone layers given to :func:`parcel_base`.

    Returns
    -------
    dict
        ``{"enterprise": DataFrame, "parcel": GeoDataFrame, "park": GeoDataFrame,
        "platform": …, "district": …}``; zone levels are present when their layer was given.
        Per-mu values of parcels are those of their holder; a parcel's share of the holder's
        amounts is per-mu × ``evaluated_mu`` (its area, less the holder's leased-out share).
        Aggregates are Σ amount / Σ ``evaluated_mu`` over the parcels whose holder has
        figures for the year.
    """
    results, summaries = year_figures(base, enterprises, year, zones)
    results.update(summaries())
    return results


def year_figures(
    base: gpd.GeoDataFrame,
    enterprises: pd.DataFrame,
    year: int,
    zones: Mapping[str, gpd.GeoDataFrame | None] | None = None,
) -> tuple[dict[str, pd.DataFrame], Callable[[], dict[str, pd.DataFrame]]]:
    """:func:`evaluate_year` in two steps: the ``enterprise`` and ``parcel`` results, and a
    function that sums up the zone levels when called (a second at a million parcels): a
    caller that hands the parcels' judgements to a writer calls it after, not before."""
    _check_columns(enterprises, ["credit_code", "year"], "enterprises")
    ent = enterprises[pd.to_numeric(enterprises["year"], errors="coerce") == year].copy()
    if ent.empty:
        raise InputError(f"没有 {year} 年的企业数据；请先导入该年度的企业表（mujun import enterprises 文件 --year {year}）")
    ent = ent.reset_index(drop=True)
    ent["year"] = int(year)
    for a in AMOUNTS:
        if a not in ent.columns:
            ent[a] = np.nan

    # the holders' codes hashed once, for the sums, the zones and the parcels' holder figures below
    holders = Coded(base["holder_code"] if "holder_code" in base.columns else pd.Series(pd.NA, index=base.index,
                                                                                        dtype="string"))
    # the held parcels' ids, areas and zones only: sorted and grouped below, no other column copied
    located = ["area_mu", *_location_columns(base)]
    held = (
        base.loc[holders.codes >= 0, ["holder_code", *located]]
        if "holder_code" in base.columns
        else pd.DataFrame(base[located].iloc[0:0]).assign(holder_code=pd.Series(dtype="string"))  # no holder
    )
    owned = holders.sums(base["area_mu"])
    lessor, out_declared = _tenancy(ent, owned)
    if lessor is not None:
        ent["lessor_code"] = lessor
        # land its tenants say they lease from it is leased out, whatever the lessor reported
        ent["leased_out_mu"] = np.fmax(pd.to_numeric(ent["leased_out_mu"], errors="coerce")
                                       if "leased_out_mu" in ent.columns else np.nan, out_declared)
    land = enterprise_land_mu(ent, owned)
    ent = pd.concat([ent.drop(columns=[c for c in land.columns if c in ent.columns]), land], axis=1)
    ent["parcel_count"] = lookup(ent["credit_code"], holders.counts()).fillna(0).astype("int64")
    ent = pd.concat([ent, per_mu_metrics(ent, "land_mu")], axis=1)
    ent["missing_reason"] = area_missing_reason(ent["land_mu"], linked=ent.pop("parcel_linked"))
    ent = _locate(ent, held, base, zones, holders.codes[holders.codes >= 0])

    parcels, tenancy = _parcels_of_year(base, ent, year, holders)
    pieces = _land_pieces(parcels, tenancy)

    def summaries() -> dict[str, pd.DataFrame]:
        out = {}
        for level, (zone_id, _) in ZONES.items():
            zone_gdf = (zones or {}).get(level)
            if zone_gdf is not None and not zone_gdf.empty:
                out[level] = zone_summary(parcels, zone_gdf, zone_id, year, pieces=pieces)
        return out

    return {"enterprise": ent, "parcel": parcels}, summaries


#: How an enterprise's zones were found (``location_basis``).
LOCATION_BASIS = {"own": "自有地块", "lessor": "出租方地块", "registration": "信用代码登记地"}


def _tenancy(ent: pd.DataFrame, owned: pd.Series) -> tuple[pd.Series | None, pd.Series]:
    """Each firm's lessor (``lessor_code``, cleaned) and the land its linked tenants lease from it.

    A tenant is linked when it leases land in (``leased_in_mu`` > 0) from a lessor that holds
    parcels. The land tenants lease from a lessor counts at most the lessor's own land.
    """
    if "lessor_code" not in ent.columns:
        return None, pd.Series(np.nan, index=ent.index)
    lessor = ent["lessor_code"].astype("string").str.strip().str.upper()
    lessor = lessor.where(lessor.str.len() > 0)
    lease_in = pd.to_numeric(ent.get("leased_in_mu"), errors="coerce") if "leased_in_mu" in ent.columns else \
        pd.Series(np.nan, index=ent.index)
    linked = (lease_in > 0) & pd.Series(isin(lessor, owned.index), index=ent.index) & (lessor != ent["credit_code"])
    declared = lease_in[linked].groupby(lessor[linked]).sum()
    out = ent["credit_code"].map(np.fmin(declared, owned.reindex(declared.index))).astype("float64")
    return lessor.where(linked.fillna(False).astype(bool)), out


def _location_columns(base: pd.DataFrame) -> list[str]:
    """The zone columns of the parcel base (``district_id``, ``district_name`` …)."""
    return [c for c in base.columns if c.endswith(("_id", "_name")) and c.split("_")[0] in ZONES]


def _locate(ent: pd.DataFrame, held: pd.DataFrame, base: gpd.GeoDataFrame,
            zones: Mapping[str, gpd.GeoDataFrame | None] | None, codes: np.ndarray) -> pd.DataFrame:
    """The zones of each enterprise and how they were found (``location_basis``).

    A firm holding parcels sits where its largest parcel lies; a firm that only leases land
    sits where its lessor does (``lessor_code``); a firm with neither sits in the district
    whose code is the registration division code in its credit code (characters 3–8 of the
    统一社会信用代码, GB 32100-2015), and in no park or platform.

    ``codes`` tells the holders of ``held`` apart (:attr:`Coded.codes` of its rows).
    """
    loc_cols = _location_columns(base)
    if len(held):
        # each holder's first row by area, largest first (the order sort_values gives the rows);
        # the holders told apart by their codes, and only those rows taken
        order = held["area_mu"].reset_index(drop=True).sort_values(ascending=False).index.to_numpy()
        _, first = np.unique(codes[order], return_index=True)
        loc = held.iloc[order[np.sort(first)]].set_index("holder_code")[loc_cols]
    else:
        loc = pd.DataFrame(columns=loc_cols, dtype="string")
    own = pd.Series(isin(ent["credit_code"], loc.index), index=ent.index)
    # a firm without parcels of its own is placed by its lessor's
    key = ent["credit_code"].astype("string")
    by_lessor = ~own & ent["lessor_code"].notna() if "lessor_code" in ent.columns else pd.Series(False, index=ent.index)
    if by_lessor.any():
        key = key.where(~by_lessor, ent["lessor_code"].astype("string"))
    found = lookup_rows(key, loc)
    for c in loc_cols:
        ent[c] = found[c].astype("string") if c in found.columns else pd.Series(pd.NA, index=ent.index, dtype="string")
    basis = pd.Series(pd.NA, index=ent.index, dtype="string")
    basis[own] = LOCATION_BASIS["own"]
    basis[by_lessor] = LOCATION_BASIS["lessor"]
    districts = (zones or {}).get("district")
    if districts is not None and not districts.empty and "district_id" in ent.columns:
        names = pd.Series(districts["name"].astype("string").to_numpy(),
                          index=districts["district_id"].astype("string").to_numpy())
        names = names[~names.index.duplicated()]
        division = ent["credit_code"].astype("string").str[2:8]
        registered = ~own & ~by_lessor & pd.Series(isin(division, names.index), index=ent.index)
        ent.loc[registered, "district_id"] = division[registered]
        ent.loc[registered, "district_name"] = division[registered].map(names)
        basis[registered] = LOCATION_BASIS["registration"]
    ent["location_basis"] = basis
    return ent


def _parcels_of_year(base: gpd.GeoDataFrame, ent: pd.DataFrame, year: int,
                     holders: Coded) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The year's parcels and the tenancy table: one row per linked tenant and lessor's parcel.

    Each parcel's land is counted once: its holder works ``area × (owned − leased out) /
    owned`` of it; tenants leasing from the holder work the rest, each
    ``area × leased in / owned`` (scaled down if the tenants together claim more than the
    holder owns). The parcel's amounts and ``evaluated_mu`` are the sums over the holder
    and its tenants; its per-mu values stay the holder's.
    """
    p = base.copy(deep=False)  # copy-on-write: the year's columns are added, base's are shared
    p["year"] = int(year)
    holder_cols = ["land_mu", *PER_MU]
    extra = [c for c in ("name", "industry_code", "above_scale") if c in ent.columns]
    by_code = ent.drop_duplicates("credit_code").set_index("credit_code")
    # Land leased out is worked by the lessee, not the holder: only this share of the
    # holder's own parcels yields the holder's output.
    own = by_code["owned_mu"]
    used_share = ((own - by_code["leased_out_mu"]) / own.where(own > 0)).clip(0.0, 1.0)
    by_code = by_code[holder_cols + extra].assign(used_share=used_share)
    by_code = by_code.rename(columns={"land_mu": "holder_land_mu", "name": "holder_enterprise_name"})
    codes = p["holder_code"] if "holder_code" in p.columns else pd.Series(pd.NA, index=p.index)
    at = holders.positions(by_code.index)  # (``holders``: the codes of ``base``'s rows)
    joined = rows_at(by_code, at, p.index)
    for col in joined.columns:
        p[col] = joined[col]
    has_record = pd.Series(at >= 0, index=p.index)
    p["evaluated"] = (has_record & (p["holder_land_mu"] > 0) & (p["area_mu"] > 0)).astype(bool)
    p["evaluated_mu"] = (p["area_mu"] * p.pop("used_share").fillna(0.0)).where(p["evaluated"], 0.0)
    for name, amount in PER_MU.items():
        # the holder's amount shared out by the land it works here:
        # Σ over its parcels = amount × (owned − leased out) / land
        p[amount] = (p[name] * p["evaluated_mu"]).where(p["evaluated"])
    reason = pd.Series(pd.NA, index=p.index, dtype="string")
    reason[codes.isna()] = "未登记权利人统一社会信用代码"
    reason[codes.notna() & ~has_record] = f"权利人在 {year} 年无企业数据"
    no_land = has_record & ~(p["holder_land_mu"] > 0)
    reason[no_land] = "权利人" + area_missing_reason(p["holder_land_mu"])[no_land]
    reason[~(p["area_mu"] > 0)] = "地块面积为0或缺失"
    p["missing_reason"] = reason

    tenancy = _tenancy_pieces(p, ent)
    p["holder_evaluated_mu"] = p["evaluated_mu"]
    on = tenancy.groupby("parcel_id")
    # each parcel's row among the tenancy groups, found once (-1: no linked tenant)
    at = positions(p["parcel_id"], on.size().index)

    def per_parcel(sums: pd.Series, fill: float) -> np.ndarray:
        out = np.full(len(p), fill, dtype="float64")
        out[at >= 0] = sums.to_numpy(dtype="float64", na_value=np.nan)[at[at >= 0]]
        return out

    p["tenant_count"] = per_parcel(on.size(), 0.0).astype("int64")
    p["tenant_mu"] = per_parcel(on["evaluated_mu"].sum(), 0.0)
    p["evaluated_mu"] = p["evaluated_mu"] + p["tenant_mu"]
    for amount in AMOUNTS:
        theirs = per_parcel(on[amount].sum(min_count=1), np.nan)
        p[amount] = p[amount].astype("float64").add(pd.Series(theirs, index=p.index), fill_value=0.0)
    p["evaluated"] = p["evaluated"] | (p["tenant_mu"] > 0)
    return p, tenancy


def _tenancy_pieces(parcels: pd.DataFrame, ent: pd.DataFrame) -> pd.DataFrame:
    """Linked tenants' land and amounts on each parcel of their lessor.

    A tenant's share of each of its lessor's parcels is its land leased in / the lessor's
    own land (× owned / Σ tenants' land where the tenants claim more than the lessor
    owns); its amounts there are its per-mu values × that land.
    """
    zone_cols = [c for c in parcels.columns if c.endswith(("_id", "_name")) and c.split("_")[0] in ZONES]
    cols = ["parcel_id", "credit_code", "lessor_code", "evaluated_mu", "above_scale", *AMOUNTS, *zone_cols]
    if "lessor_code" not in ent.columns or "holder_code" not in parcels.columns:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols}).astype(
            {"parcel_id": "string", "credit_code": "string", "lessor_code": "string"})
    t = ent[ent["lessor_code"].notna() & (ent["land_mu"] > 0)]
    lessors = ent.drop_duplicates("credit_code").set_index("credit_code")["owned_mu"]
    claimed = t.groupby("lessor_code")["leased_in_mu"].sum()
    owned = t["lessor_code"].map(lessors).astype("float64")
    scale = np.fmin(1.0, owned / t["lessor_code"].map(claimed).astype("float64"))
    t = pd.DataFrame({
        "credit_code": t["credit_code"].astype("string"), "lessor_code": t["lessor_code"].astype("string"),
        "share": t["leased_in_mu"] * scale / owned,  # of each of the lessor's parcels
        "above_scale": t["above_scale"] if "above_scale" in t.columns else pd.NA,
        **{name: t[name] for name in PER_MU if name in t.columns},
    })
    land = parcels.loc[parcels["holder_code"].notna() & (parcels["area_mu"] > 0),
                       ["parcel_id", "holder_code", "area_mu", *zone_cols]]
    land = land.assign(holder_code=land["holder_code"].astype("string"), parcel_id=land["parcel_id"].astype("string"))
    out = t.merge(pd.DataFrame(land), left_on="lessor_code", right_on="holder_code", how="inner")
    out["evaluated_mu"] = out["area_mu"] * out["share"]
    for name, amount in PER_MU.items():
        out[amount] = out[name] * out["evaluated_mu"] if name in out.columns else np.nan
    return pd.DataFrame(out[cols]).reset_index(drop=True)


def _land_pieces(parcels: gpd.GeoDataFrame, tenancy: pd.DataFrame) -> pd.DataFrame:
    """Who works what land where: each parcel's holder part and each tenant's part, with
    the worker's own amounts and group (the rows a zone's figures are summed over)."""
    cols = [c for c in parcels.columns if c.endswith("_id") and c.split("_")[0] in ZONES]
    holders = pd.DataFrame({
        **{c: parcels[c] for c in cols},
        "evaluated": parcels["holder_evaluated_mu"] > 0,
        "evaluated_mu": parcels["holder_evaluated_mu"],
        "holder_code": parcels["holder_code"] if "holder_code" in parcels.columns else pd.NA,
        "above_scale": parcels["above_scale"] if "above_scale" in parcels.columns else pd.NA,
        # the holder's own part: its per-mu values × the land it works
        **{amount: (parcels[name] * parcels["holder_evaluated_mu"]).where(parcels["holder_evaluated_mu"] > 0)
           for name, amount in PER_MU.items() if name in parcels.columns},
    })
    tenants = pd.DataFrame({
        **{c: tenancy[c] for c in cols if c in tenancy.columns},
        "evaluated": True, "evaluated_mu": tenancy["evaluated_mu"], "holder_code": tenancy["credit_code"],
        "above_scale": tenancy["above_scale"], **{a: tenancy[a] for a in AMOUNTS},
    })
    if tenants.empty:
        return holders
    return pd.concat([holders, tenants], ignore_index=True)


def zone_summary(
    parcels: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, zone_id: str, year: int | None = None,
    *, pieces: pd.DataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Totals, shares and per-mu values of each zone from its parcels (ratios of sums).

    Parameters
    ----------
    parcels : GeoDataFrame
        A year's parcel results (``area_mu``, ``industrial``, ``building_count``,
        ``evaluated``, amounts, ``zone_id`` …).
    zones : GeoDataFrame
        The zone polygons with ``zone_id`` and ``name``.
    zone_id : str
        The id field (``district_id``, ``park_id`` or ``platform_id``).
    year : int, optional
        Written into a ``year`` column.
    pieces : DataFrame, optional
        Who works the land (:func:`evaluate_year` passes it): one row per parcel holder's
        part and per tenant's part of a parcel, with ``zone_id``, ``evaluated``,
        ``evaluated_mu``, ``holder_code`` (the worker), ``above_scale`` and the worker's
        amounts there. The per-mu values, enterprise counts and 规上 figures are taken over
        these; without them, over the parcels.

    Returns
    -------
    GeoDataFrame
        One row per zone: ``zone_area_mu`` (the zone polygon), ``parcel_count``,
        ``area_mu`` (its parcels), ``industrial_mu``, ``industrial_share`` (industrial land
        / zone area), ``built_share`` and ``unbuilt_share`` (parcel land with and without
        buildings / parcel land), ``plot_ratio``, ``building_coefficient``,
        ``evaluated_mu``, ``enterprise_count``, the amounts and per-mu values, and
        ``above_scale_tax_per_mu`` / ``above_scale_value_added_per_mu`` (规上 only).
    """
    used = [zone_id, "area_mu", "area_m2", "industrial", "building_count", "footprint_m2", "floor_area_m2",
            "evaluated", "evaluated_mu", "holder_code", "above_scale", *AMOUNTS]
    # the columns summed, of the parcels in a zone (not a copy of every column of the year)
    out = zones.copy()
    out[zone_id] = out[zone_id].astype("string")
    out["zone_area_mu"] = area_m2(out) / (10000.0 / 15.0)
    key = out[zone_id]
    # each row's zone as the zone's place in the layer (its first row with the id), hashed once:
    # the sums below group whole numbers, not the ids' text again and again
    at = positions(key, key)

    def coded(frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``frame`` in a zone of the layer, the columns summed, the zone coded."""
        zone = positions(frame[zone_id], key)
        rows = zone >= 0
        return frame.loc[rows, [c for c in used if c in frame.columns]].assign(**{zone_id: zone[rows]})

    p = coded(parcels)

    g = p.groupby(zone_id)
    # built land is unknown where the building figures are (no building layer)
    built = p["area_mu"].where(p["building_count"] > 0, 0.0).where(p["footprint_m2"].notna())
    ind = p["area_mu"].where(p["industrial"], 0.0)
    sums = pd.DataFrame(
        {
            "parcel_count": g.size(),
            "area_mu": g["area_mu"].sum(),
            "area_m2": g["area_m2"].sum(),
            "industrial_mu": ind.groupby(p[zone_id]).sum(),
            "built_mu": built.groupby(p[zone_id]).sum(min_count=1),
            "floor_area_m2": g["floor_area_m2"].sum(min_count=1),
            "footprint_m2": g["footprint_m2"].sum(min_count=1),
        }
    ).reindex(at)
    # zones without parcels hold none of anything; unknown building figures stay unknown
    empty = sums["parcel_count"].isna()
    sums.loc[empty] = 0.0
    sums.index = out.index
    out = pd.concat([out, sums], axis=1)
    out["parcel_count"] = out["parcel_count"].astype("int64")
    out["industrial_share"] = safe_ratio(out["industrial_mu"], out["zone_area_mu"])
    out["built_share"] = safe_ratio(out["built_mu"], out["area_mu"])
    out["unbuilt_share"] = 1.0 - out["built_share"]
    out["plot_ratio"] = safe_ratio(out["floor_area_m2"], out["area_m2"])
    out["building_coefficient"] = safe_ratio(out["footprint_m2"], out["area_m2"])

    if pieces is not None:
        p = coded(pieces)
    ev = p[p["evaluated"].astype(bool)] if "evaluated" in p.columns else p.iloc[0:0]
    agg = ratio_of_sums(ev, zone_id, list(AMOUNTS), "evaluated_mu")
    agg = agg.reindex(at)
    agg.index = out.index
    agg["evaluated_mu"] = agg["evaluated_mu"].fillna(0.0)
    for a in AMOUNTS:
        agg[a] = agg[a].fillna(0.0).where(agg["evaluated_mu"] > 0)
    out = pd.concat([out, agg], axis=1)
    out["enterprise_count"] = (
        ev.groupby(zone_id)["holder_code"].nunique().reindex(at).fillna(0).astype("int64").to_numpy()
        if len(ev) else 0
    )
    if "above_scale" in ev.columns:
        above = ev[ev["above_scale"].fillna(False).astype(bool)]
        for name in ("tax_per_mu", "value_added_per_mu"):
            amount = PER_MU[name]
            num = above.groupby(zone_id)[amount].sum()
            # land whose amount is unknown stays out of the denominator (as in ratio_of_sums)
            den = above["evaluated_mu"].where(above[amount].notna(), 0.0).groupby(above[zone_id]).sum()
            out[f"above_scale_{name}"] = per_mu(num, den).reindex(at).astype("float64").to_numpy()
    if year is not None:
        out["year"] = int(year)
    return gpd.GeoDataFrame(out, geometry=zones.geometry.name, crs=zones.crs)


def evaluate_years(
    parcels: gpd.GeoDataFrame,
    enterprises: pd.DataFrame,
    years: Iterable[int],
    *,
    buildings: gpd.GeoDataFrame | None = None,
    zones: Mapping[str, gpd.GeoDataFrame | None] | None = None,
) -> dict[int, dict[str, pd.DataFrame]]:
    """:func:`evaluate_year` for several years over one :func:`parcel_base`."""
    base = parcel_base(parcels, buildings, zones)
    return {int(y): evaluate_year(base, enterprises, int(y), zones) for y in years}
