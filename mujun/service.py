"""What mujun does, free of any interface: the CLI and the web app both call this.

Each function takes a :class:`~mujun.layers.workspace.Workspace`, reads what it needs, calls the
pure analytics in :mod:`geo` and stores or returns the results.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from mujun import engines
from mujun.engines import EvaluationInputs, GeometryResult
from mujun.engines.cache import TABLE as CACHE_TABLE
from mujun.engines.cache import GeometryKey, cache_entries, geometry_key, read_kept, stored_geometry
from mujun.engines.settings import release_memory
from mujun.geo.errors import InputError, WorkspaceError
from mujun.geo.evaluation import LEVELS, ZONES, year_figures
from mujun.geo.flags import CHECK_KINDS, FLAG_KINDS, idle_tier_totals
from mujun.geo.intensity import ratio_of_sums
from mujun.geo.judgement import class_counts, judge_year
from mujun.geo.measures import (
    AGENCIES,
    MEASURE_KINDS,
    MONETARY,
    MeasureRules,
    measure_rows,
    measure_summary,
    measure_totals,
)
from mujun.geo.prices import PriceIndex, price_levels, target_indicators
from mujun.geo.ranking import numeric_fields, ranked
from mujun.geo.redline import RedlineRules, classify_patches, redline_table, unit_parcels
from mujun.geo.remediation import OUTCOMES, d_class_follow_up, remediation_summary
from mujun.geo.review import PENDING, QUEUE_KINDS, queue
from mujun.geo.rules import GROUPS, ControlRules, RuleSet
from mujun.geo.scoring import class_change, class_migration, score_enterprises
from mujun.geo.zones import ZoneRules, trend_table, zone_composite, zone_indicators
from mujun.layers.export import export_sheets, export_table
from mujun.layers.gpkg import (
    GEOMETRY_OF,
    SHARED_GEOMETRY,
    format_sources,
    geometry_sources,
    local_time,
)
from mujun.layers.rasters import raster_source
from mujun.layers.rulesets import (
    DEFAULT_CONTROL,
    DEFAULT_MEASURES,
    DEFAULT_REDLINE,
    DEFAULT_RULES,
    DEFAULT_ZONES,
    industry_concordance,
    load_control_rules,
    load_measure_rules,
    load_price_index,
    load_province_targets,
    load_redline_rules,
    load_rule_set,
    load_zone_rules,
    read_veto,
)
from mujun.layers.schema import label
from mujun.layers.workspace import (
    StagedWrite,
    Workspace,
    missing_workspace,
    not_evaluated,
    result_table,
)

#: Year tables besides the levels: long tables of flags and checks, and the benchmarks used.
YEAR_TABLES = ("flag", "compliance", "benchmark")
#: The result tables a re-evaluation that reuses the stored geometry revises in place rather
#: than writes whole: the contract and control checks are absolute, per parcel, so a corrected
#: enterprise table changes a few of a province's millions of rows; so are the per-parcel and
#: per-enterprise results but for their scores, ranks and the gains measured against the
#: peers' medians, which are relative and change nearly everywhere: those are stored apart and
#: written whole (:data:`gpkg.SPLIT_TABLES <mujun.layers.gpkg.SPLIT_TABLES>`). The flags come
#: and go as parcels gain or lose one: each is stored under a feature id of its own
#: (:func:`_flag_ids`), by which a revision deletes, inserts and updates rows.
REVISED_LEVELS = ("compliance", "flag", "parcel", "enterprise")
#: Bits of a flag's feature id (:func:`_flag_ids`), from the highest: its kind, its rule
#: (the runs of one rule, counted within the kind), the row of the parcel it marks, and its
#: place among the flags of that run and parcel.
_FLAG_ID_BITS = {"kind": 3, "rule": 10, "parcel": 32, "repeat": 4}
#: Parcels from which an evaluation's tables are written by a writer process while it goes on
#: computing (:meth:`Workspace.staged <mujun.layers.workspace.Workspace.staged>`): below it
#: the process would take longer to start than the write it takes over.
WRITER_PROCESS_PARCELS = 20_000

__all__ = ["FLAG_EXPORT", "FLAG_HEADERS", "LEDGER_EXPORT", "LEDGER_HEADERS", "LEVEL_VIEWS", "MEASURE_EXPORT",
           "MEASURE_TOTALS", "REVIEW_EXPORT", "Evaluated", "Ledger", "Measures", "Redline", "RuleComparison",
           "compare_rules", "evaluate", "evaluate_sample", "evaluation_inputs", "export_flags", "export_ledger",
           "export_measures", "export_ranking", "export_redline", "export_remediation", "export_review",
           "export_rule_comparison", "flags", "idle_land", "ledger", "measures", "overall", "ranking",
           "ranking_columns", "redline", "remediation", "review_of_year", "review_rows", "year_measures",
           "zone_evaluation", "zone_trends"]


@dataclass(frozen=True)
class LevelView:
    """How a result level is shown: its id, its name header and the columns of a ranking."""

    id: str
    label: str
    name_header: str
    table: tuple[str, ...]
    export: tuple[str, ...]


_PER_MU = ("tax_per_mu", "value_added_per_mu", "revenue_per_mu", "output_per_mu")
_ZONE_EXPORT = ("zone_area_mu", "parcel_count", "area_mu", "evaluated_mu", "enterprise_count",
                "tax", "value_added", "revenue", "output_value", *_PER_MU,
                "above_scale_tax_per_mu", "above_scale_value_added_per_mu", "industrial_mu",
                "industrial_share", "built_share", "unbuilt_share", "plot_ratio", "building_coefficient",
                "composite", "composite_rank", "composite_weight", "tax_per_mu_growth", "value_added_per_mu_growth", "d_mu",
                "d_improved_mu", "d_land_improved_share", "idle_disposed_share", "va_per_energy", "va_per_emission", "output_share",
                "score_tax_per_mu", "score_value_added_per_mu", "score_tax_per_mu_growth",
                "score_value_added_per_mu_growth", "score_d_land_improved_share", "score_idle_disposed_share",
                "score_va_per_energy", "score_va_per_emission")
#: Zone figures that the composite evaluation adds to a zone's results (:func:`zone_evaluation`).
COMPOSITE_FIELDS = ("composite", "composite_rank", "composite_weight", "tax_per_mu_growth", "value_added_per_mu_growth",
                    "d_mu", "d_improved_mu", "d_land_improved_share", "idle_parcel_mu", "idle_disposed_mu",
                    "idle_disposed_share", "score_idle_disposed_share", "energy_tce", "energy_value_added",
                    "va_per_energy", "energy_per_va", "emissions", "emission_value_added", "va_per_emission",
                    "emission_per_va", "output_share", "score_tax_per_mu", "score_value_added_per_mu",
                    "score_tax_per_mu_growth", "score_value_added_per_mu_growth", "score_d_land_improved_share",
                    "score_va_per_energy", "score_va_per_emission")

LEVEL_VIEWS: dict[str, LevelView] = {
    "enterprise": LevelView(
        "credit_code", "企业", "企业名称", ("credit_code", "name", "district_name"),
        ("credit_code", "name", "group_label", "score", "class", "class_name", "class_change", "previous_class",
         "rank_in_group", "rank_in_district", "rank_in_industry", "veto_reason", "not_scored_reason",
         "industry_code", "industry_name", "above_scale", "district_name", "park_name",
         "platform_name", "parcel_count", "owned_mu", "leased_in_mu", "leased_out_mu", "land_mu",
         "tax", "value_added", "revenue", "output_value", *_PER_MU, "va_per_energy", "va_per_emission",
         "labour_productivity", "rd_intensity", "tax_per_kwh", "score_tax_per_mu", "score_value_added_per_mu",
         "score_va_per_energy", "score_va_per_emission", "score_labour_productivity", "score_rd_intensity",
         "score_tax_per_kwh", "flags", "missing_reason", "rule_set"),
    ),
    "parcel": LevelView(
        "parcel_id", "地块", "权利人", ("parcel_id", "holder_name", "district_name"),
        ("parcel_id", "holder_code", "holder_name", "land_use", "district_name", "park_name", "platform_name",
         "class", "class_name", "score", "flags", "flag_reasons",
         "area_mu", "holder_land_mu", "tax", "value_added", "revenue", "output_value", *_PER_MU,
         "building_count", "floor_area_m2", "footprint_m2", "plot_ratio", "building_coefficient",
         "admin_share", "investment_intensity", "builtup_fraction", "tax_gain", "value_added_gain",
         "missing_reason"),
    ),
    "park": LevelView("park_id", "园区", "园区名称", ("park_id", "name"), ("park_id", "name", "level", *_ZONE_EXPORT)),
    "platform": LevelView("platform_id", "平台", "平台名称", ("platform_id", "name"),
                          ("platform_id", "name", "lead_industry", "planned_mu", "planned_vs_guide", "output_yi",
                           "gap_to_guide_yi", "target_output_yi", "target_year", "gap_to_target_yi", "lead_output_yi",
                           "lead_share", "lead_share_ok", "supplied_mu", "unsupplied_mu", "built_mu",
                           "unbuilt_supplied_mu", "idle_mu", "inside_output_per_mu", "outside_output_per_mu",
                           "outside_tax_per_mu", *_ZONE_EXPORT)),
    "district": LevelView("district_id", "行政区", "行政区名称", ("district_id", "name"),
                          ("district_id", "name", *_ZONE_EXPORT)),
}


@dataclass
class Evaluated:
    """What :func:`evaluate` stored, for the summary."""

    years: list[int]
    rules: str = ""
    control: str = ""
    counts: dict[int, dict[str, int]] = field(default_factory=dict)
    overall: dict[int, dict[str, float]] = field(default_factory=dict)
    classes: dict[int, pd.DataFrame] = field(default_factory=dict)
    flags: dict[int, dict[str, tuple[int, float]]] = field(default_factory=dict)  # kind -> (parcels, mu)
    flag_rows: dict[int, int] = field(default_factory=dict)
    whatif: dict[int, tuple[float, float]] = field(default_factory=dict)  # (tax, value added) 万元
    seconds: float = 0.0
    geometry_reused: bool = False  # the stored geometry stage was used (the layers were unchanged)
    #: Seconds each step of the write took, where it ran (the writer process, on a province):
    #: ``copy``, each table, ``finish`` (see :meth:`StagedWrite.seconds`).
    write_seconds: dict[str, float] = field(default_factory=dict)
    #: The tables revised in place (a re-evaluation that reused the geometry): the rows
    #: updated, or ``None`` where the table was written whole (see :meth:`StagedWrite.put`).
    revised: dict[str, int | None] = field(default_factory=dict)
    #: The enterprise results of each year as stored, and the imported enterprise table: the
    #: summary's target figures need not read them back from a province's workspace.
    enterprises: dict[int, pd.DataFrame] = field(default_factory=dict, repr=False)
    enterprise_table: pd.DataFrame | None = field(default=None, repr=False)

    def target_figures(self, year: int, *, deflator: str | Path | PriceIndex | None = None) -> TargetFigures:
        """:func:`target_figures` of an evaluated year, from the results just computed."""
        return target_figures(self.enterprises[year], year, table=self.enterprise_table, deflator=deflator)


def evaluate(
    ws: Workspace,
    year: int | None = None,
    *,
    all_years: bool = False,
    years: list[int] | None = None,
    rules: str | Path = DEFAULT_RULES,
    control: str | Path = DEFAULT_CONTROL,
    veto_file: str | Path | None = None,
    as_of: str | None = None,
    progress: bool | None = None,
    engine: str = "default",
    scheduler: str | None = None,
    partitions: int | None = None,
    full: bool = False,
) -> Evaluated:
    """Compute and store the results of one year (default: the latest), of ``years`` or of every year.

    Per-mu results, scores and classes (rule set ``rules``), compliance with the land-use
    control indicators (``control``) and transfer contracts, idle and inefficient land, the
    platform assessment and the what-if gains. Idle land and contracts are judged at
    ``as_of`` (default: 31 December of each evaluated year). Results replace the stored
    rows of the same years; other years are kept. Nothing is written if anything fails.

    The inputs are read once (:func:`evaluation_inputs`), the results computed, then
    written at once. The per-feature geometry runs on ``engine`` (:mod:`mujun.engines`):
    ``default`` (or ``local``) in this process, ``dask`` on a dask cluster — the one at
    ``scheduler`` (``tcp://host:8786``), else a new local cluster, in ``partitions`` parts;
    the results are identical.

    The geometry stage is stored with the results (:mod:`mujun.engines.cache`): while the
    parcels, buildings, zones and raster are unchanged (only enterprise tables or rules
    changed), the next evaluation reuses it and reads no buildings; ``full`` computes it again
    whatever the layers. The results are the same either way.
    """
    t0 = time.perf_counter()
    # the engine and its options first: a missing dask package is reported before any reading
    compute = engines.engine(engine, scheduler=scheduler, partitions=partitions)
    if not ws.exists():
        raise missing_workspace(ws.path)
    rule_set = load_rule_set(rules)
    control_rules = load_control_rules(control)
    veto = read_veto(veto_file) if veto_file else {}
    fixed_as_of = _parse_date(as_of) if as_of else None
    key = geometry_key(ws)
    reuse = not full and key.known
    # a province's tables are written by a writer process while the next are computed: the
    # copy of the workspace starts now, each table is written as soon as it is complete
    names = [*(result_table(level) for level in (*LEVELS, *YEAR_TABLES, "building")), CACHE_TABLE]
    big = ws.has("parcels") and ws.count("parcels") >= WRITER_PROCESS_PARCELS
    # the long tables every evaluation writes (and, computing the geometry, its own): their old
    # rows are dropped from the copy while the inputs are read
    replaced = []
    if not reuse:  # (reusing the geometry, the checks, flags and results are kept: revised in place, see _ResultTables)
        replaced += [result_table(level) for level in REVISED_LEVELS]
        replaced += [CACHE_TABLE, *([result_table("building")] if ws.has("buildings") else [])]
    # reusing the geometry, a province's results are mostly revised, their changed rows made
    # in the workspace by one transaction: its gigabytes are not copied (see Workspace.staged)
    with ws.staged(names, process=big, replaced=replaced, in_place=reuse and big) as staged:
        out = _evaluate_into(staged, ws, compute, key, reuse, year, all_years, years, rule_set, control_rules,
                             veto, fixed_as_of, progress)
    out.seconds = time.perf_counter() - t0
    return out


def _evaluate_into(
    staged: StagedWrite, ws: Workspace, compute, key: GeometryKey, reuse: bool, year: int | None,
    all_years: bool, years: list[int] | None, rule_set: RuleSet, control_rules: ControlRules,
    veto: dict[str, str], fixed_as_of: pd.Timestamp | None, progress: bool | None,
) -> Evaluated:
    """:func:`evaluate`'s reading, computing and writing, into ``staged``."""
    inputs = evaluation_inputs(ws, year, all_years=all_years, years=years, buildings=not reuse,
                               key=key if reuse else None)
    years = inputs.years
    results = _ResultTables(ws, staged, years)
    out = Evaluated(years, rules=rule_set.name, control=control_rules.name)
    bar = tqdm(total=1 + len(years), desc="评价", unit="步", disable=None if progress is None else not progress,
               leave=False)
    cache_meta: dict[str, str] = {}
    try:
        geometry = stored_geometry(ws, key, inputs.parcels) if reuse else None
        out.geometry_reused = results.revise = geometry is not None
        if geometry is None:
            if reuse:  # nothing stored under this key: the outlines and buildings are needed after all
                inputs.parcels = ws.read("parcels")
                inputs.building_reader = _building_reader(ws)
            bar.set_postfix_str("面积、建筑与空间归属")
            # the buildings' results are year-independent, replaced whole, their outlines those of
            # the buildings layer; written while the parcels are computed. (Reused, they stay as
            # stored: they depend on the same layers only.)
            geometry = compute.geometry(inputs, progress=progress,
                                        buildings_done=functools.partial(staged.put, result_table("building")))
            inputs.buildings = inputs.building_reader = None
            cache, cache_meta = cache_entries(geometry, inputs.parcels, key)
            staged.put(CACHE_TABLE, cache)
            del cache
        # the years are judged on figures alone: a province's outlines (a gigabyte) go now
        geometry.base, inputs.parcels = _figures(geometry.base), _figures(inputs.parcels)
        release_memory()
        wrote_buildings = staged.has(result_table("building"))
        enterprises: dict[int, pd.DataFrame] = {}
        for y in years:
            bar.set_postfix_str(f"{y} 年")
            handed: set[str] = set()

            def emit(level: str, frame, *, y: int = y, handed: set[str] = handed) -> None:
                handed.add(level)
                results.add(level, frame, year=y)

            judged = _judged_year(inputs, geometry, y, enterprises, rule_set, control_rules, veto,
                                  fixed_as_of or pd.Timestamp(year=y, month=12, day=31), emit=emit)
            _summarise(out, y, judged, results.rows)
            enterprises[y] = judged["enterprise"]
            for level in list(judged):
                frame = judged.pop(level)
                if level not in handed:  # (the per-parcel table is handed over and returned)
                    results.add(level, frame, year=y)
            bar.update()
        bar.set_postfix_str("写入工作空间")
        results.flush()
        evaluated = sorted(set(inputs.evaluated_years) | set(years))
        meta = {"evaluated_years": ",".join(map(str, evaluated)),
                "evaluated_at": time.strftime("%Y-%m-%d %H:%M:%S"), **cache_meta}
        meta.update({f"rules_{y}": f"{rule_set.name}|{control_rules.name}" for y in years})
        meta.update(_geometry_meta(ws, years, wrote_buildings))
        staged.commit(meta=meta, meta_defaults=key.stamps)
        out.write_seconds = staged.seconds()
        out.revised = staged.revised()
    finally:
        bar.close()
    out.enterprises = enterprises
    out.enterprise_table = inputs.enterprises
    return out


def evaluate_sample(ws: Workspace, later_parcels: dict[int, Path], *, progress: bool | None = None) -> list[Evaluated]:
    """Evaluate a freshly built sample year by year as a bureau would: the years before the
    first later parcels layer (``later_parcels``: year -> file, see
    :attr:`mujun.layers.sample.SampleBuilt.later_parcels`) with the layer imported, then each
    later layer imported and its year onwards evaluated — so a parcel supplied to a new
    holder keeps its old holder in the earlier years' results."""
    from mujun.layers.importer import import_layer

    available = sorted(int(y) for y in ws.read("enterprises")["year"].dropna().unique())
    starts = sorted(later_parcels)
    done: list[Evaluated] = []
    bounds = [available[0], *starts, available[-1] + 1]
    for i, (lo, hi) in enumerate(zip(bounds, bounds[1:], strict=False)):
        if i:
            import_layer(ws, "parcels", later_parcels[lo], progress=progress)
        span = [y for y in available if lo <= y < hi]
        if span:
            done.append(evaluate(ws, years=span, progress=progress))
    return done


@dataclass
class RuleComparison:
    """Classes of one year's firms under two rule sets (:func:`compare_rules`)."""

    year: int
    before: str  # rule set names
    after: str
    matrix: dict[str, pd.DataFrame]  # group (and "all") -> class migration matrix
    firms: pd.DataFrame  # every firm with both scores and classes
    changed: pd.DataFrame  # the firms whose class differs


#: Columns of the rule comparison's firm list, with headers the schema does not give.
COMPARISON_EXPORT = ("credit_code", "name", "group_label", "district_name", "industry_code", "land_mu",
                     "score_before", "class_before", "score_after", "class_after", "change",
                     "reason_before", "reason_after")


def compare_rules(
    ws: Workspace, before: str | Path, after: str | Path, year: int | None = None, *,
    veto_file: str | Path | None = None, progress: bool | None = None,
) -> RuleComparison:
    """Score one year (default: the latest) with two rule sets and compare the classes.

    The geometry and the year's per-mu figures are computed once, the scores twice; the
    workspace is only read. A firm's class is compared within its group (规上 / 规下).
    """
    if not ws.exists():
        raise missing_workspace(ws.path)
    rules_a, rules_b = load_rule_set(before), load_rule_set(after)
    veto = read_veto(veto_file) if veto_file else {}
    inputs = evaluation_inputs(ws, year)
    y = inputs.years[0]
    geometry = engines.engine("default").geometry(inputs, progress=progress)
    ent = year_figures(geometry.base, inputs.enterprises, y, inputs.zones)[0]["enterprise"]  # (no zone sums)
    a = score_enterprises(ent, rules_a, veto)[0]
    b = score_enterprises(ent, rules_b, veto)[0]
    keep = [c for c in ("credit_code", "name", "group", "group_label", "district_name", "industry_code", "land_mu")
            if c in a.columns]
    firms = a[keep].assign(
        score_before=a["score"], class_before=a["class"], reason_before=a["not_scored_reason"],
        score_after=b["score"], class_after=b["class"], reason_after=b["not_scored_reason"],
        change=class_change(b["class"], a["class"]).where(a["class"].notna() & b["class"].notna()),
    )
    matrix = {g: class_migration(firms.loc[firms["group"] == g, "class_before"],
                                 firms.loc[firms["group"] == g, "class_after"])
              for g in GROUPS if (firms["group"] == g).any()}
    matrix["all"] = class_migration(firms["class_before"], firms["class_after"])
    moved = firms["class_before"].astype("string").fillna("") != firms["class_after"].astype("string").fillna("")
    changed = firms[moved].sort_values(["group", "class_before", "score_after"], ascending=[True, True, False],
                                       na_position="last")
    return RuleComparison(y, rules_a.name, rules_b.name, matrix, firms.reset_index(drop=True),
                          changed.reset_index(drop=True))


def export_rule_comparison(cmp: RuleComparison, path: str | Path, ws: Workspace) -> Path:
    """The firms whose class differs between the two rule sets, as XLSX or CSV."""
    frame = cmp.changed[[c for c in COMPARISON_EXPORT if c in cmp.changed.columns]]
    headers = {"score_before": f"得分（{cmp.before}）", "class_before": f"分类（{cmp.before}）",
               "score_after": f"得分（{cmp.after}）", "class_after": f"分类（{cmp.after}）",
               "change": "分类变化", "reason_before": f"不参评原因（{cmp.before}）",
               "reason_after": f"不参评原因（{cmp.after}）", "name": "企业名称"}
    notes = [("内容", "两套评价规则下分类改变的企业"), ("年度", str(cmp.year)), ("规则", f"{cmp.before} → {cmp.after}"),
             ("分类变化", "按后一规则相对前一规则：升、降；一方不参评的企业无分类变化，见不参评原因"),
             ("企业数", f"{len(frame):,}")]
    return export_table(frame, path, headers=headers, sheet="分类变化企业", notes=notes, workspace=ws)


def evaluation_inputs(ws: Workspace, year: int | None = None, *, all_years: bool = False,
                      years: list[int] | None = None, buildings: bool = True,
                      key: GeometryKey | None = None) -> EvaluationInputs:
    """What :func:`evaluate` reads from ``ws`` before it computes, for one year (default: the
    latest in the enterprise table), the ``years`` listed or every year: layers, raster, the
    classes stored for the years before and the years evaluated so far. (The stored result
    rows of other years are read only for the write: see :func:`_replace_years`.) The building
    layer is read by the engine, a batch at a time (``building_reader``). Without
    ``buildings`` neither it nor the parcels' outlines are read (the stored geometry stage
    stands for them); with ``key`` too, the parcels' figures are read as the stage's are
    (:func:`~mujun.engines.cache.read_kept`)."""
    if key is not None and not buildings:
        # GDAL reads the enterprises (in a reader process) while the parcels are mapped from
        # the kept files here. (Both read through GDAL, they would take a reader process more,
        # whose start and end cost more than the overlap saves.)
        with ThreadPoolExecutor(1, thread_name_prefix="mujun-inputs") as pool:
            reading = pool.submit(ws.read, "enterprises")
            parcels = read_kept(ws, key, "parcels")
            enterprises = reading.result()
    else:
        parcels = ws.read("parcels", geometry=buildings)
        enterprises = ws.read("enterprises")
    available = sorted(int(y) for y in enterprises["year"].dropna().unique())
    if not available:
        raise WorkspaceError("企业表中没有年度；请重新导入企业数据")
    if years is not None:
        missing = [y for y in years if y not in available]
        if missing or not years:
            raise InputError(f"没有 {'、'.join(map(str, missing)) or '所列'} 年的企业数据；已有年度：{'、'.join(map(str, available))}")
        years = sorted(int(y) for y in set(years))
    elif all_years:
        years = available
    elif year is None:
        years = [available[-1]]
    elif year in available:
        years = [int(year)]
    else:
        raise InputError(f"没有 {year} 年的企业数据；已有年度：{'、'.join(map(str, available))}")
    zones = {level: ws.read_optional(f"{level}s") for level in ZONES}
    return EvaluationInputs(
        parcels=parcels, enterprises=enterprises, years=years, zones=zones,
        building_reader=_building_reader(ws) if buildings else None,
        raster=raster_source(ws),  # the file is checked here, once; the dask workers read it
        # a year's class change is against the year before: computed now if evaluated now
        previous_classes={y - 1: _stored_classes(ws, y - 1) for y in years if y - 1 not in years},
        evaluated_years=_evaluated_years(ws),
    )


def _figures(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without its geometry (its columns shared, not copied)."""
    if isinstance(frame, gpd.GeoDataFrame):
        return pd.DataFrame(frame.drop(columns=frame.geometry.name))
    return frame


def _building_reader(ws: Workspace) -> Callable[[int], Iterator[gpd.GeoDataFrame]] | None:
    """The building layer of ``ws`` read a batch at a time (``None`` without one)."""
    return functools.partial(ws.read_batches, "buildings") if ws.has("buildings") else None


def _judged_year(
    inputs: EvaluationInputs, geometry: GeometryResult, year: int, done: dict[int, pd.DataFrame],
    rule_set: RuleSet, control_rules: ControlRules, veto: dict[str, str], as_of: pd.Timestamp,
    emit: Callable[[str, pd.DataFrame | Iterator[pd.DataFrame]], None] | None = None,
) -> dict[str, pd.DataFrame]:
    """Every result table of ``year`` (the long ones handed to ``emit``, see
    :func:`~mujun.geo.judgement.judge_year`); ``done`` holds the enterprise results of the
    years judged before it in this run."""
    # the zone levels are summed up once the parcels are judged and handed over
    res, zones = year_figures(geometry.base, inputs.enterprises, year, inputs.zones)
    if year - 1 in done:
        prev = done[year - 1].set_index("credit_code")["class"]
    else:
        prev = inputs.previous_classes.get(year - 1)
    return judge_year(
        res, rule_set, control_rules, as_of=as_of, concordance=industry_concordance(), previous_class=prev,
        veto=veto, builtup=geometry.builtup, emit=emit, zones=zones,
    )


class _ResultTables:
    """The result tables of an evaluation, each put into the write as soon as every year
    evaluated has given its rows (with the stored rows of other years: :func:`_replace_years`).
    A table given in parts (the compliance checks) is put a part at a time, each as soon as it
    is computed, when its year is the only one the table will hold.

    With ``revise`` (set when the stored geometry is reused: the parcels and their figures are
    those of the last evaluation), the tables of :data:`REVISED_LEVELS` whose year is the only
    one stored are revised in place (:meth:`StagedWrite.put`): a corrected enterprise table
    changes a few of their rows. The flags of such a year are stored under the feature ids
    :func:`_flag_ids` gives them, whether revised or written whole.

    The per-parcel and per-building results are written as figures without geometry: their
    views take the outlines of the parcels and buildings layers (:data:`SHARED_GEOMETRY`)."""

    def __init__(self, ws: Workspace, staged: StagedWrite, years: list[int]) -> None:
        self.ws, self.staged, self.years = ws, staged, years
        self.pending: dict[str, list[pd.DataFrame]] = {}
        self.rows: dict[tuple[str, int], int] = {}  # (level, year) -> rows
        self.revise = False

    def add(self, level: str, frame: pd.DataFrame | Iterator[pd.DataFrame], *, year: int) -> None:
        name = result_table(level)
        parts = not isinstance(frame, pd.DataFrame)  # a table's parts, each computed when it is taken
        revised = self.revise and level in REVISED_LEVELS
        keyed = level == "flag"
        if (parts or revised or keyed) and self.years == [year] and not _keeps_other_years(self.ws, name, self.years):
            # the whole table: each part handed over as soon as it is computed, and written (or,
            # revised, compared with the stored rows once all are there)
            if keyed:
                frame = _with_flag_ids(frame)
            self.rows[(level, year)] = 0
            self.staged.put(name, self._counted(level, year, frame if parts else [frame]), revise=revised,
                            keep=level in REVISED_LEVELS)
            return
        if parts:
            frame = pd.concat(list(frame), ignore_index=True)
        self.rows[(level, year)] = len(frame)
        if name in SHARED_GEOMETRY:
            frame = _figures(frame)
        frames = self.pending.setdefault(level, [])
        frames.append(frame)
        if len(frames) == len(self.years):
            self._put(level)

    def _counted(self, level: str, year: int, parts: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        shared = result_table(level) in SHARED_GEOMETRY
        for part in parts:
            self.rows[(level, year)] += len(part)
            yield _figures(part) if shared else part

    def flush(self) -> None:
        """Put the tables some year did not give."""
        for level in list(self.pending):
            self._put(level)

    def _put(self, level: str) -> None:
        name = result_table(level)
        self.staged.put(name, _replace_years(self.ws, name, self.pending.pop(level), self.years),
                        keep=level in REVISED_LEVELS)


def _flag_ids(flags: pd.DataFrame) -> np.ndarray | None:
    """A feature id for each of a year's ``flags`` that stays the flag's from one evaluation
    to the next while the parcels and rules are the same, rising in the flags' order.

    The judgement lists the flags kind by kind, and within a kind rule by rule (a run of
    rows), each rule's in the order of the parcels (``flags`` is indexed by the row of the
    parcels each marks, as :func:`~mujun.geo.judgement.judge_year` gives them); two checks may
    bear the same rule's name, so a run ends where the parcels' rows fall back. The id is made
    of the kind, the run's number within it, the parcel's row and the flag's place among the
    run's flags of that parcel (:data:`_FLAG_ID_BITS`). A revision finds the flags gone, new
    and changed by their ids (a rule that flags no parcel any more renumbers the kind's later
    runs: their flags are found changed, the table written whole). ``None`` (the flags then
    stored under ids 1, 2, …) when they are not so listed or do not fit."""
    bits = _FLAG_ID_BITS
    kinds = pa.array([*FLAG_KINDS, *CHECK_KINDS], type=pa.large_string())
    kind = pc.index_in(_text(flags["kind"]), value_set=kinds).to_numpy(zero_copy_only=False)
    rule = pc.dictionary_encode(_text(flags["rule"])).indices.to_numpy(zero_copy_only=False)
    row = np.asarray(flags.index, dtype="int64") + 1  # (0: a flag of no parcel)
    if (flags.index.name != "parcel_row" or np.isnan(kind).any() or np.isnan(rule).any() or not len(row)
            or row.min() < 0 or row.max() >= 2 ** bits["parcel"]):
        return None
    kind = kind.astype("int64")
    new_kind = np.r_[True, kind[1:] != kind[:-1]]
    run = np.cumsum(np.r_[True, new_kind[1:] | (rule[1:] != rule[:-1]) | (row[1:] < row[:-1])]) - 1
    block = np.cumsum(new_kind) - 1
    run = run - run[np.flatnonzero(new_kind)][block]  # counted within the kind
    if (np.diff(kind) < 0).any() or run.max() >= 2 ** bits["rule"]:
        return None
    key = ((kind << bits["rule"] | run) << bits["parcel"] | row) << bits["repeat"]
    # a parcel's flags within one run (the rows of one parcel's id) numbered in their order
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    repeat = np.arange(len(key)) - np.repeat(starts, np.diff(np.r_[starts, len(key)]))
    ids = key + repeat + 1
    if repeat.max() >= 2 ** bits["repeat"] or not (np.diff(ids) > 0).all():
        return None
    return ids


def _text(values: pd.Series) -> pa.Array:
    """A text column as one Arrow array."""
    out = pa.array(values, from_pandas=True).cast(pa.large_string())
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def _with_flag_ids(flags: pd.DataFrame) -> pd.DataFrame:
    """``flags`` with their feature ids (:func:`_flag_ids`) as column ``fid`` (GDAL stores a
    whole-number column of that name as the feature id); as they are when there are none."""
    ids = _flag_ids(flags)
    if ids is None:
        return flags
    return pd.DataFrame({"fid": ids, **{c: flags[c].array for c in flags.columns}})


def _geometry_meta(ws: Workspace, years: list[int], buildings: bool) -> dict[str, str]:
    """The years just evaluated (and the buildings' results, when written) read the outlines of
    the layers as they are now; years evaluated before a layer was replaced keep its snapshot."""
    meta = ws.meta()
    kept = {y: s for y, s in geometry_sources(meta, "result_parcel").items() if y not in {str(v) for v in years}}
    out = {GEOMETRY_OF + "result_parcel": format_sources(kept)}
    if buildings:
        out[GEOMETRY_OF + "result_building"] = ""
    return out


def _replace_years(ws: Workspace, name: str, frames: list[pd.DataFrame], years: list[int]) -> pd.DataFrame:
    """The stored table ``name`` with the rows of ``years`` replaced by ``frames``.

    The stored rows are read here, after the geometry, not with the inputs; the per-parcel
    rows are read without outlines (they are stored without)."""
    geo = isinstance(frames[0], gpd.GeoDataFrame)
    new = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    old = _other_years(ws, name, years, geo=geo)
    if old is not None:
        new = pd.concat([old, new], ignore_index=True)
    if geo:
        new = gpd.GeoDataFrame(new, geometry="geometry", crs=frames[0].crs)
    return new


def _keeps_other_years(ws: Workspace, name: str, years: list[int]) -> bool:
    """Whether table ``name`` may hold rows of other years than ``years``: it does when other
    years were evaluated (or, written before the evaluated years were recorded, may)."""
    evaluated = _evaluated_years(ws) if ws.has(name) else []
    return ws.has(name) and bool(set(evaluated) - set(years) or not evaluated)


def _other_years(ws: Workspace, name: str, years: list[int], *, geo: bool) -> pd.DataFrame | None:
    """The stored rows of table ``name`` of other years than ``years`` (``None``: none).

    Read only if other years were evaluated: re-evaluating the one year stored reads nothing
    (not even a scan of a province's table that finds no other year)."""
    if not _keeps_other_years(ws, name, years):
        return None
    old = ws.read(name, where=f"year NOT IN ({', '.join(str(int(y)) for y in years)}) OR year IS NULL",
                  geometry=geo)
    if not geo and "geometry" in old.columns:  # written with outlines before they were shared
        old = pd.DataFrame(old.drop(columns="geometry"))
    return old if len(old) else None


def _summarise(out: Evaluated, y: int, r: dict[str, pd.DataFrame], rows: dict[tuple[str, int], int]) -> None:
    """The summary figures of year ``y`` (its tables ``r``; ``rows`` counts the ones
    already written) into ``out``."""
    out.counts[y] = {level: len(r[level]) for level in LEVELS if level in r}
    out.overall[y] = overall(r["enterprise"])
    out.classes[y] = class_counts(r["enterprise"])
    parcels_y = r["parcel"]
    out.flags[y] = {
        kind: (int(parcels_y[kind].sum()), float(parcels_y.loc[parcels_y[kind], "area_mu"].sum()))
        for kind in FLAG_KINDS
    }
    out.flag_rows[y] = len(r["flag"]) if "flag" in r else rows[("flag", y)]
    out.whatif[y] = (float(parcels_y["tax_gain"].sum()), float(parcels_y["value_added_gain"].sum()))


def _stored_classes(ws: Workspace, year: int) -> pd.Series | None:
    name = result_table("enterprise")
    if not ws.has(name):
        return None
    prev = ws.read(name, where=f"year = {int(year)}")
    if prev.empty or "class" not in prev.columns:
        return None
    return prev.set_index("credit_code")["class"]


def _parse_date(text: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(text)
    except (ValueError, TypeError):
        raise InputError(f"无法识别日期 '{text}'；请写成 2025-12-31 这样的格式") from None


def _evaluated_years(ws: Workspace) -> list[int]:
    """The years evaluated in ``ws``; a workspace file that does not exist is named as missing
    (not as one without results)."""
    if not ws.exists():
        raise missing_workspace(ws.path)
    text = ws.meta().get("evaluated_years", "")
    return [int(y) for y in text.split(",") if y.strip()]


def overall(enterprises: pd.DataFrame) -> dict[str, float]:
    """Headline figures of a year's enterprise results (ratios of sums, 万元/亩)."""
    e = enterprises.assign(_all="全部")
    res: dict[str, float] = {"enterprises": float(len(e))}
    total = ratio_of_sums(e, "_all", ["tax", "value_added"], "land_mu")
    res["tax_per_mu"] = float(total["tax_per_mu"].iloc[0])
    res["value_added_per_mu"] = float(total["value_added_per_mu"].iloc[0])
    if "above_scale" in e.columns:
        above = e[e["above_scale"].fillna(False).astype(bool)]
        res["above_scale_enterprises"] = float(len(above))
        if len(above):
            a = ratio_of_sums(above, "_all", ["tax", "value_added"], "land_mu")
            res["above_scale_tax_per_mu"] = float(a["tax_per_mu"].iloc[0])
            res["above_scale_value_added_per_mu"] = float(a["value_added_per_mu"].iloc[0])
    return res


@dataclass
class TargetFigures:
    """The province's 2025 target indicators for one year's 规上 firms, in current and 2019 prices."""

    year: int
    index: PriceIndex
    price_level: float  # the year's price level, base year = 1
    table: pd.DataFrame  # :func:`mujun.geo.prices.target_indicators`


def target_figures(enterprises: pd.DataFrame, year: int, *, table: pd.DataFrame | None = None,
                   deflator: str | Path | PriceIndex | None = None, strict: bool = True) -> TargetFigures:
    """The 2025 targets' indicators (ratios of sums over the 规上 firms of ``enterprises`` in
    ``year``) in current prices and deflated to the index's base year (2019).

    ``enterprises`` are stored results (``result_enterprise``); ``table``, the imported enterprise
    table, gives 用水量 where the results lack it (evaluated before it was carried). ``deflator`` is a price index
    file (default: the shipped one, example values) or a loaded index. A year the index lacks is
    refused (``strict``), or its base-year figures are missing (a page shows current prices).
    """
    index = deflator if isinstance(deflator, PriceIndex) else load_price_index(deflator)
    firms = enterprises[(enterprises["year"] == year)]
    if "above_scale" in firms.columns:
        firms = firms[firms["above_scale"].fillna(False).astype(bool)]
    if "water" not in firms.columns and table is not None and "water" in table.columns:
        extra = table.loc[table["year"] == year, ["credit_code", "water"]].drop_duplicates("credit_code")
        firms = firms.merge(extra, on="credit_code", how="left")
    levels = price_levels(index)
    level = float(levels.get(year, float("nan")))
    return TargetFigures(year, index, level, target_indicators(firms, index, load_province_targets(), strict=strict))


def stored_target_figures(ws: Workspace, year: int, *, deflator: str | Path | PriceIndex | None = None,
                          ) -> TargetFigures:
    """:func:`target_figures` of an evaluated year, read from the workspace."""
    stored = ws.read(result_table("enterprise"), where=f"year = {int(year)}")
    table = ws.read("enterprises", where=f"year = {int(year)}") if ws.has("enterprises") else None
    return target_figures(stored, year, table=table, deflator=deflator)


def ranking(
    ws: Workspace, level: str, by: str, *, year: int | None = None, top: int | None = None,
    ascending: bool = False, classes: tuple[str, ...] = (), district: str | None = None,
    industry: str | None = None,
) -> tuple[pd.DataFrame, int]:
    """A level's results for a year, filtered and ranked by ``by``; returns (frame, year).

    Parameters
    ----------
    classes : tuple of str
        Keep enterprises (or parcels of holders) of these classes (A–D).
    district : str, optional
        Keep one district, by name (越城区) or code (330602).
    industry : str, optional
        Keep industry codes starting with this (e.g. ``17`` or ``1752``).
    """
    if level not in LEVEL_VIEWS:
        raise InputError(f"未知的层级 '{level}'；可用：{', '.join(LEVEL_VIEWS)}")
    if not ws.exists():
        raise missing_workspace(ws.path)
    name = result_table(level)
    if not ws.has(name):
        if level in ZONES and not ws.has(f"{level}s"):
            raise WorkspaceError(f"工作空间中没有{LEVEL_VIEWS[level].label}图层；请先 mujun import {level}s 文件，再 mujun evaluate")
        raise not_evaluated(ws.path)
    years = _evaluated_years(ws)
    if year is None:
        if not years:
            raise not_evaluated(ws.path)
        year = years[-1]
    frame = ws.read(name, where=f"year = {int(year)}")
    if frame.empty:
        raise InputError(f"没有 {year} 年的评价结果；已评价年度：{'、'.join(map(str, years)) or '无'}（可运行 mujun evaluate --year {year}）")
    if level in ZONES and by not in frame.columns and by in COMPOSITE_FIELDS:
        composite = zone_evaluation(ws, level)
        key = LEVEL_VIEWS[level].id
        added = composite[composite["year"] == int(year)].set_index(key)
        frame = frame.join(added[[c for c in COMPOSITE_FIELDS if c in added.columns and c not in frame.columns]],
                           on=key)
    if by not in numeric_fields(frame):
        fields = numeric_fields(frame) + (list(COMPOSITE_FIELDS) if level in ZONES and by not in COMPOSITE_FIELDS else [])
        raise InputError(f"无法按 '{by}' 排名；{LEVEL_VIEWS[level].label}的数值字段有：{', '.join(fields)}")
    frame = _filtered(frame, level, classes, district, industry)
    return ranked(frame, by, ascending=ascending, top=top), int(year)


def zone_evaluation(ws: Workspace, level: str, *, rules: str | Path | ZoneRules = DEFAULT_ZONES) -> pd.DataFrame:
    """The composite evaluation of a zone level (``district``, ``park``, ``platform``) in every
    evaluated year (:func:`mujun.geo.zones.zone_composite` with the rules ``rules``, by default
    ``zones-example``): the zone results with the indicators, ``score_*``, ``composite`` and
    ``composite_rank`` within each year; without geometry. The idle land disposed of is
    scored from the review decisions when the workspace has any."""
    if level not in ZONES:
        raise InputError(f"综合评价只用于 {', '.join(ZONES)}，收到 '{level}'")
    zone_rules = rules if isinstance(rules, ZoneRules) else load_zone_rules(rules)
    if not ws.exists():
        raise missing_workspace(ws.path)
    if not ws.has(result_table(level)) or not ws.has(result_table("enterprise")):
        if not ws.has(f"{level}s"):
            raise WorkspaceError(f"工作空间中没有{LEVEL_VIEWS[level].label}图层；请先 mujun import {level}s 文件，再 mujun evaluate")
        raise not_evaluated(ws.path)
    zones = pd.DataFrame(ws.read(result_table(level)).drop(columns="geometry", errors="ignore"))
    cols = ["credit_code", "year", "class", "district_name", "land_mu", "tax_per_mu", "value_added", "output_value",
            "energy_tce", "emissions", LEVEL_VIEWS[level].id]
    ent = ws.read(result_table("enterprise"))
    ent = ent[[c for c in dict.fromkeys(cols) if c in ent.columns]]
    from mujun.layers.review import decisions

    decided, idle = decisions(ws), None
    if len(decided):  # the idle parcels only: result_parcel is millions of rows a year at a province's scale
        idle = pd.DataFrame(ws.read(result_table("parcel"), where="idle = 1").drop(columns="geometry", errors="ignore"))
    return zone_composite(zone_indicators(zones, ent, level, idle, decided), zone_rules, level)


def zone_trends(evaluated: pd.DataFrame, level: str, zone_id: str, year: int, *,
                rules: str | Path | ZoneRules = DEFAULT_ZONES) -> pd.DataFrame:
    """The 四提升两降低 table of one park or platform (or district) in ``year`` against the year
    before (:func:`mujun.geo.zones.trend_table`), from :func:`zone_evaluation`'s frame."""
    zone_rules = rules if isinstance(rules, ZoneRules) else load_zone_rules(rules)
    return trend_table(evaluated, zone_rules, zone_id, year, level)


def _filtered(frame: pd.DataFrame, level: str, classes, district, industry) -> pd.DataFrame:
    label = LEVEL_VIEWS[level].label
    if classes:
        bad = [c for c in classes if c not in ("A", "B", "C", "D")]
        if bad:
            raise InputError(f"分类应为 A、B、C、D，收到 {', '.join(bad)}")
        if "class" not in frame.columns:
            raise InputError(f"{label}结果没有分类；分类只用于企业和地块")
        frame = frame[frame["class"].isin(list(classes)).fillna(False).astype(bool)]
    if district:
        if level == "district":
            ids, names = frame["district_id"], frame["name"]
        elif "district_id" in frame.columns:
            ids, names = frame["district_id"], frame["district_name"]
        else:
            raise InputError(f"{label}结果没有行政区，不能按行政区筛选")
        keep = (ids.astype("string") == district) | (names.astype("string") == district)
        if not keep.any():
            known = sorted(set(names.dropna().astype(str)))
            raise InputError(f"没有行政区 '{district}'；可用：{', '.join(known)}")
        frame = frame[keep.fillna(False).astype(bool)]
    if industry:
        if "industry_code" not in frame.columns:
            raise InputError(f"{label}结果没有行业代码，不能按行业筛选")
        frame = frame[frame["industry_code"].astype("string").str.startswith(industry).fillna(False).astype(bool)]
    return frame


def flags(ws: Workspace, *, kind: str | None = None, year: int | None = None) -> tuple[pd.DataFrame, int]:
    """Flagged parcels of a year with their reasons (one row per reason), and the parcels to
    check on site (kind ``site_check``); idle land carries its measure (``idle_tier_label``,
    ``idle_fee``, ``idle_exemption``). Returns (frame, year)."""
    kinds = {**FLAG_KINDS, **CHECK_KINDS}
    if kind is not None and kind not in kinds:
        raise InputError(f"未知的标记类型 '{kind}'；可用：{', '.join(kinds)}")
    name = result_table("flag")
    years = _evaluated_years(ws)
    if not ws.has(name) or not years:
        raise not_evaluated(ws.path)
    year = years[-1] if year is None else int(year)
    where = f"year = {year}" + (f" AND kind = '{kind}'" if kind else "")
    f = ws.read(name, where=where)
    parcels = ws.read(result_table("parcel"), where=f"year = {year}")
    cols = ["parcel_id", "holder_name", "district_name", "park_name", "platform_name", "area_mu", "class",
            "building_coefficient", "builtup_fraction", "land_price", "idle_since", "idle_tier", "idle_tier_label",
            "idle_fee", "idle_exemption"]
    info = parcels[[c for c in cols if c in parcels.columns]].drop_duplicates("parcel_id")
    f = f.merge(info, on="parcel_id", how="left")
    if "idle_tier" in f.columns:  # the measure belongs to the 令第53号 rows, not to a parcel's other flags
        idle_rule = f["kind"].eq("idle") & ~f["rule"].eq("在产但影像显示空置")
        for col in ("idle_since", "idle_tier", "idle_tier_label", "idle_fee"):
            f[col] = f[col].where(idle_rule)
    order = {"idle": 0, "inefficient": 1, "noncompliant": 2, "site_check": 3}
    f = f.assign(_k=f["kind"].map(order)).sort_values(["_k", "area_mu", "parcel_id"], ascending=[True, False, True])
    return f.drop(columns="_k").reset_index(drop=True), year


def idle_land(ws: Workspace, *, year: int | None = None) -> tuple[pd.DataFrame, int]:
    """Idle parcels of a year under 令第53号 by measure (:func:`mujun.geo.flags.idle_tier_totals`):
    parcels, land and 土地闲置费 of each tier; returns (table, year)."""
    years = _evaluated_years(ws)
    if not ws.has(result_table("parcel")) or not years:
        raise not_evaluated(ws.path)
    year = years[-1] if year is None else int(year)
    if year not in years:
        raise InputError(f"{year} 年还没有评价结果；已评价年度：{'、'.join(map(str, years))}")
    return idle_tier_totals(ws.read(result_table("parcel"), where=f"year = {year}")), year


#: Headers of the 倒逼整治 follow-up's columns that the schema does not label.
REMEDIATION_HEADERS = {
    "d_firms": "D类企业数(家)", **{k: f"{v}(家)" for k, v in OUTCOMES.items()},
    "improved_share": f"{OUTCOMES['improved']}比例", "left_share": f"{OUTCOMES['left']}比例",
    "left_mu": f"{OUTCOMES['left']}企业用地(亩)", "land_mu": "D类年度用地面积(亩)", "year": "D类年度",
    "next_year": "次年", "next_class": "次年分类", "outcome_label": "次年去向", "tax_per_mu": "D类年度亩均税收(万元/亩)",
    "next_tax_per_mu": "次年亩均税收(万元/亩)", "tax_per_mu_change": "亩均税收变化(万元/亩)", "class_path": "历年分类",
    "decision_count": "用地审核记录数", "decisions": "用地审核结论", "name": "企业名称",
}


def remediation(ws: Workspace, *, district: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """倒逼整治 over the years: every D-class firm followed into the next evaluated year
    (:func:`mujun.geo.remediation.d_class_follow_up`, with the review decisions on its land)
    and the outcomes by district and year (:func:`~mujun.geo.remediation.remediation_summary`);
    of one district (name or code) when given. Returns (firms, summary)."""
    from mujun.layers.review import decisions

    if not ws.exists():
        raise missing_workspace(ws.path)
    years = _evaluated_years(ws)
    if not ws.has(result_table("enterprise")) or not years:
        raise not_evaluated(ws.path)
    if len(years) < 2:
        raise InputError(f"只评价了 {years[0]} 年；跟踪 D 类企业需要连续两年以上的评价结果（可运行 mujun evaluate --all-years）")
    ent = ws.read(result_table("enterprise"))
    if district:
        keep = ent["district_id"].astype("string").eq(district) | ent["district_name"].astype("string").eq(district)
        if not keep.any():
            known = sorted(set(ent["district_name"].dropna().astype(str)))
            raise InputError(f"没有行政区 '{district}'；可用：{', '.join(known)}")
        ent = ent[keep.fillna(False).astype(bool)]
    decided = decisions(ws)
    parcels = None
    if len(decided):
        # only the parcels decided on: at a province's scale result_parcel is millions of rows a year
        ids = ", ".join("'" + str(i).replace("'", "''") + "'" for i in decided["parcel_id"].unique())
        parcels = pd.DataFrame(ws.read(result_table("parcel"), where=f"parcel_id IN ({ids})")
                               .drop(columns="geometry", errors="ignore"))
    firms = d_class_follow_up(ent, parcels, decided)
    return firms, remediation_summary(firms)


def export_remediation(frame: pd.DataFrame, path: str | Path, ws: Workspace, *, firms: bool = False) -> Path:
    """The follow-up (per firm, or by district and year) as XLSX/CSV with Chinese headers and notes."""
    notes = [("内容", "倒逼整治成效：D 类企业逐家跟踪" if firms else "倒逼整治成效：按行政区和年度汇总"),
             ("口径", "某年评为 D 类（倒逼整治）的企业在次年的去向：提档 = 次年评为 A、B、C 类；仍为D = 次年仍为 D 类；"
                     "退出 = 次年不在评价名单上（无评价结果或未参评）。退出企业用地为其 D 类年度的用地面积"),
             ("比例", "提档比例 = 提档企业数 ÷ D 类企业数；退出比例同")]
    return export_table(frame, path, headers=REMEDIATION_HEADERS, sheet="D类企业跟踪" if firms else "倒逼整治成效",
                        notes=notes, workspace=ws)


def ranking_columns(frame: pd.DataFrame, level: str, by: str) -> list[str]:
    """The columns a ranking is exported with (XLSX, CSV, JSON): rank, the level's names,
    the ranking field, then the level's other figures."""
    view = LEVEL_VIEWS[level]
    cols = ["rank", *[c for c in view.export if c in frame.columns and c != by]]
    cols.insert(1 + len([c for c in view.table if c in frame.columns]), by)
    return list(dict.fromkeys(cols))


#: Export formats that carry the geometry (GeoPackage keeps canonical names, Shapefile short ones).
_GEOMETRY_SUFFIXES = (".gpkg", ".shp")


def export_ranking(frame: pd.DataFrame, level: str, by: str, year: int, path: str | Path, ws: Workspace) -> Path:
    """Write a ranking: CSV/XLSX with Chinese headers, GeoPackage with canonical names."""
    view = LEVEL_VIEWS[level]
    cols = ranking_columns(frame, level, by)
    p = Path(path)
    if p.suffix.lower() in _GEOMETRY_SUFFIXES and isinstance(frame, gpd.GeoDataFrame):
        data = gpd.GeoDataFrame(frame[[*cols, "year", "geometry"]], geometry="geometry", crs=frame.crs)
    else:
        data = frame[cols]
    notes = [
        ("内容", f"{view.label}排名"),
        ("年度", str(year)),
        ("层级", view.label),
        ("排名依据", f"{label(by)}，从高到低；缺失值不参与排名"),
        *([("综合评价", f"区域综合得分按规则 {DEFAULT_ZONES}（{load_zone_rules().title}）计算")]
          if by in COMPOSITE_FIELDS and level in ZONES else []),
        ("口径", "亩均值 = 税收（或增加值、营业收入、产值）合计 ÷ 用地面积合计；用地面积按 CGCS2000 高斯-克吕格 3 度带计算，1 亩 = 666.67 平方米"),
    ]
    return export_table(data, p, headers={"name": view.name_header}, sheet=f"{view.label}排名", notes=notes, workspace=ws)


# -- review -------------------------------------------------------------------------------

#: Columns of the review export, with headers for those the schema does not label.
REVIEW_EXPORT = ("parcel_id", "district_name", "park_name", "platform_name", "holder_name", "holder_code",
                 "area_mu", "tax_per_mu", "target_tax_per_mu", "class", "kinds", "idle_tier_label", "idle_fee",
                 "idle_exemption", "builtup_fraction", "building_coefficient", "severity", "status", "measure",
                 "deadline", "comment", "assignee", "decided_by", "decided_at", "version")
REVIEW_HEADERS = {"class": "权利人分类", "kinds": "列入原因", "severity": "年税收差距(万元)", "status": "审核结论",
                  "measure": "处置措施", "deadline": "整改期限", "comment": "审核意见", "assignee": "经办人",
                  "decided_by": "审核人", "decided_at": "审核时间", "version": "修改次数",
                  "target_tax_per_mu": "目标亩均税收(万元/亩)", "holder_name": "权利人"}
_DECISION_COLUMNS = ("status", "measure", "deadline", "comment", "assignee", "decided_by", "decided_at", "version")


def review_rows(parcels: pd.DataFrame, decided: pd.DataFrame, listed: pd.DataFrame | None = None) -> pd.DataFrame:
    """The review queue of a year: flagged and D-class parcels (:func:`mujun.geo.review.queue`),
    most severe first, with their current decisions; parcels decided earlier but no longer
    flagged (after a re-evaluation) stay, marked 已无标记, so no decision drops out of sight.
    ``listed`` is ``queue(parcels)`` when the caller has it already.
    """
    listed = queue(parcels) if listed is None else listed
    decided = decided.drop(columns=["year"], errors="ignore").astype({"parcel_id": "string"})
    extra = decided.loc[~decided["parcel_id"].isin(listed["parcel_id"].astype("string")), "parcel_id"]
    if len(extra):
        more = parcels[parcels["parcel_id"].astype("string").isin(extra)].copy()
        for key in QUEUE_KINDS:
            more[key] = False
        more["kinds"] = "已无标记"
        more["severity"] = 0.0
        listed = pd.concat([listed, more])
    out = pd.DataFrame(listed.drop(columns="geometry", errors="ignore"))
    out["parcel_id"] = out["parcel_id"].astype("string")
    out = out.merge(decided, on="parcel_id", how="left")
    out["status"] = out["status"].astype("string").fillna(PENDING)
    out["version"] = pd.to_numeric(out["version"]).fillna(0).astype("int64")
    return out.reset_index(drop=True)


def review_of_year(ws: Workspace, year: int | None = None) -> tuple[pd.DataFrame, int]:
    """:func:`review_rows` of ``year`` (default: the latest evaluated) read from ``ws``."""
    from mujun.layers.review import decisions

    if not ws.exists():
        raise missing_workspace(ws.path)
    years = _evaluated_years(ws)
    if not years:
        raise not_evaluated(ws.path)
    y = years[-1] if year is None else int(year)
    if y not in years:
        raise InputError(f"{y} 年还没有评价结果；已评价年度：{'、'.join(map(str, years))}")
    return review_rows(ws.read(result_table("parcel"), where=f"year = {y}"), decisions(ws, y)), y


def export_review(rows: pd.DataFrame, year: int, path: str | Path, ws: Workspace) -> Path:
    """The review queue with decisions as XLSX/CSV, Chinese headers, and a notes sheet."""
    frame = rows[[c for c in REVIEW_EXPORT if c in rows.columns]]
    if "decided_at" in frame.columns:  # stored in UTC, written in the server's time zone
        frame = frame.assign(decided_at=frame["decided_at"].map(local_time, na_action="ignore"))
    if Path(path).suffix.lower() in _GEOMETRY_SUFFIXES:
        frame = _with_parcel_geometry(frame, ws, year)
    notes = [("内容", "地块审核队列及审核结论"), ("评价年度", str(year)),
             ("列入原因", "闲置、低效、不达标地块，影像显示空置而建筑系数达到控制指标、需现场核查的地块，和 D 类企业用地；"
                         "“已无标记”为重新评价后不再标记但已有审核记录的地块"),
             ("闲置处置", "令第53号：满一年征缴土地闲置费（出让价款的一定比例，见评价规则），满两年为无偿收回候选；"
                         "政府原因或不可抗力造成的暂停处置"),
             ("年税收差距", "（所在区县同行业亩均税收中位数 − 亩均税收）× 面积，单位万元；按此排序"),
             ("地块数", f"{len(frame):,}")]
    return export_table(frame, path, headers=REVIEW_HEADERS, sheet="审核结果", notes=notes, workspace=ws)


def _with_parcel_geometry(frame: pd.DataFrame, ws: Workspace, year: int) -> gpd.GeoDataFrame:
    """``frame`` (one or more rows per ``parcel_id``) with the geometry of its parcels in ``year``."""
    if isinstance(frame, gpd.GeoDataFrame) and "geometry" in frame.columns:
        return frame
    shapes = ws.read(result_table("parcel"), where=f"year = {int(year)}")[["parcel_id", "geometry"]]
    shapes = shapes.drop_duplicates("parcel_id")
    out = pd.DataFrame(frame).merge(pd.DataFrame(shapes), on="parcel_id", how="left")
    return gpd.GeoDataFrame(out, geometry="geometry", crs=shapes.crs)


#: Columns of the flag export, and headers for those whose label depends on the flag.
FLAG_EXPORT = ("parcel_id", "kind_label", "rule", "reason", "value", "threshold", "idle_tier_label", "idle_fee",
               "land_price", "idle_since", "idle_exemption", "building_coefficient", "builtup_fraction", "holder_name",
               "district_name", "park_name", "platform_name", "area_mu", "class", "year")
FLAG_HEADERS = {"value": "数值", "threshold": "阈值", "class": "权利人分类"}


def export_flags(frame: pd.DataFrame, year: int, path: str | Path, ws: Workspace, *, kind: str | None = None) -> Path:
    """Flagged parcels (:func:`flags`, one row per reason) as XLSX/CSV, or with their parcels'
    geometry as GeoPackage/Shapefile."""
    data = frame[[c for c in FLAG_EXPORT if c in frame.columns]]
    if Path(path).suffix.lower() in _GEOMETRY_SUFFIXES:
        data = _with_parcel_geometry(data, ws, year)
    kinds = {**FLAG_KINDS, **CHECK_KINDS}
    notes = [("内容", "标记地块及原因（每条原因一行）：" + (kinds[kind] if kind else "、".join(kinds.values()))),
             ("评价年度", str(year)),
             ("数值、阈值", "该条规则比较的数值和阈值，单位随规则：亩均税收为万元/亩，容积率无单位，建筑系数、比例为小数"),
             ("闲置处置", "令第53号：满一年征缴土地闲置费（出让价款 × 规则中的比例，万元），满两年为无偿收回候选；"
                         "政府原因或不可抗力造成的暂停处置"),
             ("地块数", f"{frame['parcel_id'].nunique():,}"), ("原因条数", f"{len(frame):,}")]
    return export_table(data, path, headers=FLAG_HEADERS, sheet="标记地块", notes=notes, workspace=ws)


# -- measures by class (差别化资源要素配置) --------------------------------------------------

#: Columns of the measures export (one row per firm and measure).
MEASURE_EXPORT = ("credit_code", "name", "district_name", "group_label", "class", "class_name", "agency", "measure",
                  "measure_kind", "standard", "charge_base", "amount", "quantity", "quantity_unit", "treatment",
                  "note", "rate", "rate_unit", "base_label", "base_value", "base_unit", "measure_source", "year")

#: The grouping of the measure totals the CLI prints (and ``mujun measures --json`` gives).
MEASURE_TOTALS = ("agency", "measure", "measure_kind", "treatment", "quantity_unit")


@dataclass
class Measures:
    """The measures of one year: one row per firm and measure (:func:`mujun.geo.measures.measure_rows`)."""

    year: int
    rules: MeasureRules
    rows: pd.DataFrame
    history_years: list[int] = field(default_factory=list)

    def totals(self, by: list[str]) -> pd.DataFrame:
        """:func:`mujun.geo.measures.measure_totals` of the rows, by ``by``; 金额 only for money measures."""
        out = measure_totals(self.rows, by)
        if "measure_kind" in by:
            money = out["measure_kind"].isin([MEASURE_KINDS[k] for k in MONETARY])
            out["amount"] = out["amount"].where(money)
        return out

    def summary(self) -> pd.DataFrame:
        """Totals by district and class for every measure (the export's 汇总 sheet)."""
        return measure_summary(self.rows)


def measures(ws: Workspace, year: int | None = None, *, rules: str | Path = DEFAULT_MEASURES) -> Measures:
    """The measures of ``rules`` applied to the classes of ``year`` (default: the latest evaluated).

    Classes come from the stored evaluation (``result_enterprise``); the consecutive-years
    rates read the classes stored for the years before. Bases the evaluation does not carry
    (用水量, 用气量) are taken from the enterprise table of the year.
    """
    rule_set = load_measure_rules(rules)
    if not ws.exists():
        raise missing_workspace(ws.path)
    years = _evaluated_years(ws)
    name = result_table("enterprise")
    if not years or not ws.has(name):
        raise not_evaluated(ws.path)
    y = years[-1] if year is None else int(year)
    if y not in years:
        raise InputError(f"{y} 年还没有评价结果；已评价年度：{'、'.join(map(str, years))}（可运行 mujun evaluate --year {y}）")
    back = max(m.consecutive_years or 1 for m in rule_set.measures)
    stored = ws.read(name, where=f"year > {y - back} AND year <= {y}")
    table = ws.read("enterprises", where=f"year = {y}") if ws.has("enterprises") else None
    return year_measures(stored, table, rule_set, y)


def year_measures(stored: pd.DataFrame, enterprises: pd.DataFrame | None, rule_set: MeasureRules,
                  year: int) -> Measures:
    """The measures of ``year`` from the stored enterprise results (``stored``: that year and,
    for the consecutive-years rates, the years before) and the enterprise table of the year,
    which gives the bases the results do not carry (用水量, 用气量)."""
    firms = stored[stored["year"] == year]
    wanted = [m.base for m in rule_set.measures if m.base and m.base not in firms.columns]
    if wanted and enterprises is not None:
        table = enterprises[enterprises["year"] == year]
        present = [b for b in dict.fromkeys(wanted) if b in table.columns]
        if present:
            extra = table[["credit_code", *present]].drop_duplicates("credit_code")
            firms = firms.merge(extra, on="credit_code", how="left")
    history = stored.loc[stored["year"] <= year, ["credit_code", "year", "class"]]
    rows = measure_rows(firms, rule_set, year, history)
    return Measures(year, rule_set, rows, sorted(int(v) for v in history["year"].unique()))


def export_measures(res: Measures, path: str | Path, ws: Workspace) -> Path:
    """The measures as XLSX (a sheet per agency, a 汇总 sheet by district and class, and notes)
    or CSV (every row)."""
    frame = res.rows[[c for c in MEASURE_EXPORT if c in res.rows.columns]]
    p = Path(path)
    notes = [
        ("内容", "按评价分类的差别化措施：汇总、各部门明细"),
        ("年度", str(res.year)),
        ("措施规则", f"{res.rules.name}：{res.rules.title}" + ("" if res.rules.verified else "（含示例值，未核实）")),
        ("口径", "金额 = 标准 × 计费基数，换算为一致的单位（如 0.3 元/千瓦时 × 120 万千瓦时 = 36 万元）；"
                 "减免金额 = 减免比例 × 应纳税额；缺少计费基数的企业列出原因，不计入合计"),
        ("分类年度", "、".join(map(str, res.history_years)) + " 年的评价分类（连续年度加价按此判断）"),
        *[(f"{m.title}（{'/'.join(m.classes)} 类）", ("示例值；" if m.example else "") + m.source)
          for m in res.rules.measures],
    ]
    if p.suffix.lower() == ".xlsx":
        sheets = {"汇总": res.summary()}
        for name in AGENCIES.values():
            sheets[name] = frame[frame["agency"] == name]
        return export_sheets(sheets, p, headers={"name": "企业名称"}, notes=notes, workspace=ws)
    if p.suffix.lower() != ".csv":
        raise InputError(f"措施清单只能导出为 .xlsx 或 .csv，收到 '{p.name}'")
    return export_table(frame, p, headers={"name": "企业名称"}, sheet="措施清单")


# -- 标准地 indicator sets ------------------------------------------------------------------

#: Headers of the 标准地 table's columns that the schema does not label (the percentile's is added).
STANDARD_LAND_HEADERS = {"label": "指标", "unit": "单位", "basis": "样本", "count": "样本数", "p25": "P25", "p50": "P50",
                         "p75": "P75", "minimum": "控制指标下限", "value": "建议值", "note": "说明"}
STANDARD_LAND_EXPORT = ("label", "unit", "basis", "count", "p25", "p50", "p75", "chosen", "minimum", "value", "note")


def standard_land_set(
    ws: Workspace, district: str, industry: str, *, year: int | None = None, percentile: float | None = None,
    rules: str | Path | None = None, control: str | Path | None = None,
):
    """The 标准地 indicator set for a new land offer in ``district`` and two-digit ``industry``
    (:func:`mujun.geo.standard_land.standard_land`), from the stored evaluation of ``year``
    (default: the latest): the firms scored that year and the parcels they hold. The control
    indicators default to those the year was evaluated with. Returns (set, year, rules)."""
    from mujun.geo.standard_land import standard_land
    from mujun.layers.rulesets import DEFAULT_STANDARD_LAND, load_standard_land_rules

    rule_set = load_standard_land_rules(rules or DEFAULT_STANDARD_LAND)
    if not ws.exists():
        raise missing_workspace(ws.path)
    years = _evaluated_years(ws)
    if not years or not ws.has(result_table("enterprise")):
        raise not_evaluated(ws.path)
    y = years[-1] if year is None else int(year)
    if y not in years:
        raise InputError(f"{y} 年还没有评价结果；已评价年度：{'、'.join(map(str, years))}（可运行 mujun evaluate --year {y}）")
    used = ws.meta().get(f"rules_{y}", "").split("|")
    control_rules = load_control_rules(control or (used[1] if len(used) > 1 and used[1] else DEFAULT_CONTROL))
    firms = ws.read(result_table("enterprise"), where=f"year = {y}")
    firms = firms[firms["evaluated_in_score"].fillna(False).astype(bool)] if "evaluated_in_score" in firms.columns \
        else firms[firms["class"].notna()]
    cols = ["parcel_id", "holder_code", "district_id", "building_count", "plot_ratio", "investment_intensity"]
    parcels = ws.read(result_table("parcel"), where=f"year = {y}")
    parcels = pd.DataFrame(parcels[[c for c in cols if c in parcels.columns]])
    res = standard_land(firms, parcels, district=district, division=industry, rules=rule_set, control=control_rules,
                        concordance=industry_concordance(), percentile=percentile)
    if not rule_set.verified:
        res.notes.append(f"默认分位数和最少企业数取自 {rule_set.name}（未核实）：{rule_set.source}")
    return res, y, rule_set


def export_standard_land(res, year: int, path: str | Path, ws: Workspace) -> Path:
    """A 标准地 set as XLSX/CSV: one row per indicator with its population, and notes."""
    frame = res.table[list(STANDARD_LAND_EXPORT)].round({c: 2 for c in ("p25", "p50", "p75", "chosen", "minimum", "value")})
    headers = {**STANDARD_LAND_HEADERS, "chosen": f"P{res.percentile:g}"}
    notes = [("内容", "标准地指标建议"), ("年度", str(year)), ("区县", res.district_name), ("行业", f"{res.division}（GB/T 4754-2017 大类）"),
             ("样本范围", f"{res.scope}：行业 {res.division} 参评企业 {res.population_firms} 家"),
             ("口径", f"建议值 = 样本的第 {res.percentile:g} 百分位数（线性插值），容积率、投资强度不低于控制指标下限；"
                     "亩均税收、亩均增加值、单位能耗增加值取企业，投资强度、容积率取这些企业的地块（容积率只取有建筑的地块）"),
             *[("说明", n) for n in res.notes]]
    return export_table(frame, path, headers=headers, sheet="标准地指标", notes=notes, workspace=ws)


# -- industrial-land red line (工业用地总量保护) ---------------------------------------------

#: Headers of the red-line export where the schema's label is not specific enough.
REDLINE_HEADERS = {"name": "区域", "industrial_share": "工业用地占城镇建设用地比例(%)",
                   "industrial_share_min": "工业用地占比下限(%)", "new_industrial_share": "新增工业用地占新增建设用地比例(%)",
                   "new_industrial_share_min": "新增工业用地占比下限(%)", "unit_share": "在单元内的面积比例(%)",
                   "survey_other_share": "非工业地类覆盖比例(%)", "unit_id": "单元编号", "district_name": "行政区"}
REDLINE_EXPORT = ("name", "district_id", "industrial_km2", "urban_construction_km2", "industrial_share",
                  "industrial_km2_min", "industrial_km2_ok", "industrial_share_min", "industrial_share_ok",
                  "industrial_outside_km2", "new_construction_km2", "new_industrial_km2", "new_industrial_share",
                  "new_industrial_share_min", "new_industrial_share_ok", "converted_count", "converted_mu", "redline_ok")
REDLINE_PARCELS = ("parcel_id", "holder_name", "district_name", "unit_id", "unit_name", "unit_share", "land_use",
                   "land_class_code", "survey_class_code", "survey_class_name", "survey_other_share", "area_mu",
                   "reason")


@dataclass
class Redline:
    """The red-line check of a workspace: :func:`mujun.geo.redline.redline_table` (``table``),
    the parcels in 工业产业单元 no longer in industrial use (``converted``, EPSG:4490), the year
    whose new land is checked and the years the land-use layer records."""

    year: int | None
    years: list[int]
    rules: RedlineRules
    table: pd.DataFrame
    converted: gpd.GeoDataFrame | None
    notes: list[str] = field(default_factory=list)
    #: the industrial land-use patches (``urban``: inside urban construction land, ``new``: new in ``year``)
    industrial: gpd.GeoDataFrame | None = None
    units: gpd.GeoDataFrame | None = None


def redline(ws: Workspace, year: int | None = None, *, rules: str | Path | None = None) -> Redline:
    """The industrial-land red line of ``ws`` (:mod:`mujun.geo.redline`): the stock and share of
    industrial land per district and for the city against the rules' floors, the share of
    industrial land in ``year``'s new construction land (default: the latest 新增年份 in the
    land-use layer), and the parcels inside 工业产业单元 whose use is no longer industrial.

    Needs the ``landuse`` and ``districts`` layers; without ``units`` (or ``parcels``) the
    unit check is left out with a note.
    """
    rule_set = load_redline_rules(rules or DEFAULT_REDLINE)
    if not ws.exists():
        raise missing_workspace(ws.path)
    for name, what in (("landuse", "mujun import landuse 国土调查.gpkg（土地利用现状或规划城镇建设用地的地类图斑）"),
                       ("districts", "mujun import districts 行政区.shp")):
        if not ws.has(name):
            raise WorkspaceError(f"工作空间 {ws.path.name} 没有{'土地利用数据' if name == 'landuse' else '行政区'}图层；"
                                 f"请先运行 {what}")
    landuse = ws.read("landuse")
    districts = ws.read("districts")
    notes: list[str] = []
    years: list[int] = []
    if "new_year" in landuse.columns:
        years = sorted(int(v) for v in pd.to_numeric(landuse["new_year"], errors="coerce").dropna().unique())
    if year is not None and int(year) not in years:
        found = "、".join(map(str, years)) if years else "没有新增年份字段或均为空"
        raise InputError(f"土地利用数据中没有 {year} 年新增的图斑（新增年份：{found}）")
    y = int(year) if year is not None else (years[-1] if years else None)
    if not years:
        notes.append("土地利用数据没有新增年份（变更年份），未检查新增工业用地占比")
    if "urban_code" not in landuse.columns or landuse["urban_code"].isna().all():
        notes.append("土地利用数据没有城镇村属性码：全部建设用地地类图斑按城镇建设用地计（规划城镇建设用地的口径）")
    converted = units = None
    if not ws.has("units"):
        notes.append("工作空间没有工业产业单元，未检查单元内地块的用途；可运行 mujun import units 工业产业单元.shp")
    elif not ws.has("parcels"):
        notes.append("工作空间没有地块图层，未检查单元内地块的用途；可运行 mujun import parcels 宗地.shp")
    else:
        units = ws.read("units")
        converted = unit_parcels(ws.read("parcels"), units, rule_set, landuse=landuse, districts=districts)
    table = redline_table(landuse, districts, rule_set, y, converted)
    if not rule_set.verified:
        notes.append(f"下限取自 {rule_set.name}（{rule_set.title}）：{rule_set.source}；用于本地数据时为示例值")
    cls = classify_patches(landuse, rule_set.classes)
    industrial = landuse[cls["industrial"]].copy()
    industrial["urban"] = cls.loc[industrial.index, "urban"]
    industrial["new"] = (pd.to_numeric(industrial["new_year"], errors="coerce") == y).fillna(False).astype(bool) \
        if y is not None and "new_year" in industrial.columns else False
    return Redline(y, years, rule_set, table, converted, notes, industrial, units)


def export_redline(res: Redline, path: str | Path, ws: Workspace) -> Path:
    """The red-line table as XLSX (the table, the parcels in units no longer industrial, and notes)
    or CSV (the table); shares in per cent."""
    frame = res.table[list(REDLINE_EXPORT)].copy()  # shares stay fractions: the exporter writes them as %
    r = res.rules
    notes = [
        ("红线规则", f"{r.name}：{r.title}" + ("" if r.verified else "（含示例值，未核实）")),
        ("新增用地年度", str(res.year) if res.year is not None else "—（土地利用数据没有新增年份）"),
        ("面积", "在数据所在的 CGCS2000 高斯-克吕格 3 度带中计算，平方公里（1 平方公里 = 1500 亩）；跨区县的图斑按面积拆分"),
        ("城镇建设用地", f"地类编码以 {'、'.join(r.classes.construction)} 开头、城镇村属性码以 "
                        f"{'、'.join(r.classes.urban)} 开头的图斑（{r.classes.scheme}；{r.classes.source}）"),
        ("工业用地", f"城镇建设用地中地类编码以 {'、'.join(r.classes.industrial)} 开头的图斑"),
        ("新增", "新增年份为该年度的建设用地图斑；新增工业用地占比 ≥ 下限为达标（恰好等于下限也达标）"),
        ("工业产业单元", f"地块面积的 {r.overlap_min:.0%} 以上在一个单元内即为单元内地块；宗地用途不属于 "
                        f"{'、'.join(r.allowed_uses) or '—'}（编码 {'、'.join(r.allowed_codes)}），或其他建设用地地类（非工业）覆盖其面积的 "
                        f"{r.overlap_min:.0%} 以上，即为已改变用途"),
        *[(f"依据·{k}", v) for k, v in r.sources.items()],
        *[("说明", n) for n in res.notes],
    ]
    p = Path(path)
    if p.suffix.lower() == ".xlsx":
        sheets = {"工业用地红线": frame}
        if res.converted is not None:
            parcels = pd.DataFrame(res.converted[list(REDLINE_PARCELS)])
            sheets["单元内改变用途的地块"] = parcels
        return export_sheets(sheets, p, headers=REDLINE_HEADERS, notes=notes, workspace=ws)
    if p.suffix.lower() != ".csv":
        raise InputError(f"工业用地红线只能导出为 .xlsx 或 .csv，收到 '{p.name}'")
    return export_table(frame, p, headers=REDLINE_HEADERS, sheet="工业用地红线", workspace=ws)


# -- 腾笼换鸟 ledger ------------------------------------------------------------------------

#: Headers of the ledger's columns (units included); the schema labels the rest.
LEDGER_HEADERS = {
    "year": "决定年度", "district_name": "行政区", "parcel_id": "宗地编号", "measure": "处置措施", "decided_at": "审核时间",
    "decided_by": "审核人", "area_mu": "地块面积(亩)", "holder_code": "原权利人统一社会信用代码", "holder_name": "原权利人",
    "tax_per_mu_before": "收回前亩均税收(万元/亩)", "value_added_per_mu_before": "收回前亩均增加值(万元/亩)",
    "tax_before": "收回前税收(万元)", "value_added_before": "收回前增加值(万元)",
    "recovered_date": "收回日期", "recovered_mu": "收回面积(亩)", "recovery_method": "收回方式",
    "supply_basis": "再供应依据", "supply_date": "供地日期", "supply_year": "再供应年度",
    "new_holder_code": "受让人统一社会信用代码", "new_holder_name": "受让人", "supply_method": "供地方式",
    "price": "出让价款(万元)", "supplied_mu": "再供应面积(亩)", "after_year": "产出年度",
    "tax_per_mu_after": "再供应后亩均税收(万元/亩)", "value_added_per_mu_after": "再供应后亩均增加值(万元/亩)",
    "tax_after": "再供应后税收(万元)", "value_added_after": "再供应后增加值(万元)",
    "tax_per_mu_change": "亩均税收变化(万元/亩)", "value_added_per_mu_change": "亩均增加值变化(万元/亩)",
    "stage_label": "进展", "parcels": "决定收回(宗)", "decided_mu": "决定收回面积(亩)", "recovered": "已收回(宗)",
    "supplied": "已再供应(宗)", "yielding": "已产出(宗)", "yielding_mu": "已产出面积(亩)",
}
#: Columns of the ledger's parcel list, in order.
LEDGER_EXPORT = ("year", "district_name", "parcel_id", "measure", "decided_at", "decided_by", "area_mu", "holder_code",
                 "holder_name", "tax_per_mu_before", "value_added_per_mu_before", "recovered_date", "recovered_mu",
                 "recovery_method", "supply_basis", "supply_date", "supply_year", "new_holder_code", "new_holder_name",
                 "supply_method", "price", "supplied_mu", "after_year", "tax_per_mu_after", "value_added_per_mu_after",
                 "tax_per_mu_change", "value_added_per_mu_change", "stage_label")
LEDGER_NOTES = (
    ("口径", "列入台账：审核结论的处置措施为协议收回或依法收回的地块（同一地块取最早一次决定）。"
             "收回：收回与再供应记录中的收回日期和面积（面积空缺按地块面积）。再供应：记录中的受让人和供地日期；"
             "没有记录而以后年度评价结果中的权利人与决定年度不同，视为已再供应（日期不详，以首次出现新权利人的年度代替）。"
             "产出：新权利人在再供应年度及以后最近一个评价年度在该地块上有亩均数据"),
    ("亩均", "逐宗：收回前为决定年度原权利人的亩均税收、亩均增加值，再供应后为新权利人在产出年度的数值（万元/亩）。"
             "汇总：已产出地块的税收（增加值）合计 ÷ 地块面积合计，收回前后为同一批地块；收回前没有企业数据的地块（如闲置）按 0 计"),
)


@dataclass
class Ledger:
    """The 腾笼换鸟 ledger (:func:`ledger`)."""

    rows: pd.DataFrame  # one row per parcel (:func:`mujun.geo.ledger.ledger_rows`)
    totals: pd.DataFrame  # by decision year and district (:func:`mujun.geo.ledger.ledger_totals`)
    outlines: gpd.GeoDataFrame  # parcel_id and the parcel's latest stored outline
    parcels: int = 0  # parcels in the whole ledger, before the year and district filters
    unmatched: list[str] = field(default_factory=list)  # supply records of parcels never decided recovered


def ledger(ws: Workspace, *, year: int | None = None, district: str | None = None) -> Ledger:
    """The 腾笼换鸟 ledger: every parcel decided 协议收回 or 依法收回 in review, followed through
    its recovery, its supply to a new holder and what that holder yields per mu
    (:mod:`mujun.geo.ledger`), from the review decisions, the 收回与再供应 records
    (``mujun import supplies``) and the stored parcel results of those parcels only; of one
    decision ``year`` and one ``district`` (name or code) when given. Empty when nothing was decided."""
    from mujun.geo.ledger import ledger_rows, ledger_totals
    from mujun.geo.review import RECOVERY_MEASURES
    from mujun.layers.review import decisions

    if not ws.exists():
        raise missing_workspace(ws.path)
    decided = decisions(ws)
    decided = decided[decided["measure"].isin(RECOVERY_MEASURES)]
    supplies = ws.read_optional("supplies")
    empty_rows = ledger_rows(decided.iloc[0:0], None, pd.DataFrame(columns=["parcel_id", "year"]))
    if decided.empty:
        unmatched = [] if supplies is None else supplies["parcel_id"].astype(str).tolist()
        return Ledger(empty_rows, ledger_totals(empty_rows), gpd.GeoDataFrame(geometry=[], crs=4490), 0, unmatched)
    if not ws.has(result_table("parcel")):
        raise not_evaluated(ws.path)
    # only the parcels decided on: at a province's scale result_parcel is millions of rows a year
    ids = ", ".join("'" + str(i).replace("'", "''") + "'" for i in decided["parcel_id"].unique())
    stored = ws.read(result_table("parcel"), where=f"parcel_id IN ({ids})")
    rows = ledger_rows(decided, supplies, stored)
    n = len(rows)
    if year is not None:
        if not rows["year"].eq(int(year)).any():
            have = "、".join(map(str, sorted(rows["year"].unique())))
            raise InputError(f"{year} 年没有协议收回、依法收回的决定；有决定的年度：{have}")
        rows = rows[rows["year"].eq(int(year))]
    if district:
        keep = rows["district_id"].astype("string").eq(district) | rows["district_name"].astype("string").eq(district)
        if not keep.fillna(False).any():
            known = sorted(set(rows["district_name"].dropna().astype(str)))
            raise InputError(f"台账中没有行政区 '{district}'；可用：{', '.join(known)}")
        rows = rows[keep.fillna(False).astype(bool)]
    rows = rows.reset_index(drop=True)
    latest = stored.sort_values("year").drop_duplicates("parcel_id", keep="last")
    outlines = gpd.GeoDataFrame(latest[["parcel_id", "geometry"]], geometry="geometry", crs=stored.crs)
    outlines = outlines[outlines["parcel_id"].astype("string").isin(rows["parcel_id"])].reset_index(drop=True)
    unmatched = [] if supplies is None else sorted(
        set(supplies["parcel_id"].astype(str)) - set(decided["parcel_id"].astype(str)))
    return Ledger(rows, ledger_totals(rows), outlines, n, unmatched)


def export_ledger(led: Ledger, path: str | Path, ws: Workspace) -> Path:
    """The ledger as XLSX (汇总 by district and year, 逐宗台账, 说明) or CSV (the parcel list)."""
    from mujun.geo.ledger import TOTAL_COLUMNS

    p = Path(path)
    rows = led.rows[[c for c in LEDGER_EXPORT if c in led.rows.columns]]
    notes = [*LEDGER_NOTES,
             *([("未列入的记录", f"{len(led.unmatched)} 条收回与再供应记录的地块没有协议收回、依法收回的审核决定："
                                  + "、".join(led.unmatched[:20]))] if led.unmatched else [])]
    if p.suffix.lower() == ".xlsx":
        totals = led.totals[[c for c in TOTAL_COLUMNS if c != "district_id"]]
        return export_sheets({"汇总": totals, "逐宗台账": rows}, p, headers=LEDGER_HEADERS, notes=notes, workspace=ws)
    if p.suffix.lower() != ".csv":
        raise InputError(f"腾笼换鸟台账只能导出为 .xlsx 或 .csv，收到 '{p.name}'")
    return export_table(rows, p, headers=LEDGER_HEADERS, sheet="逐宗台账", workspace=ws)
