"""judge_year end to end on a tiny world, with the shipped rules (zhejiang-default, gb-2008).

The world (EPSG:4549 metres from X0, Y0; stored as EPSG:4490), evaluated 2024, judged at
2024-12-31:

    districts D1 x 0–2000, D2 x 2000–4000 (y 0–2000); platform PF1 x 2000–4000, y 0–1000

    parcel  box                       mu  holder  buildings (footprint, floors)  plot  coeff
    P1      100,100,300,300           60  A 3824  14 000 m² × 3                  1.05  0.35
    P2      400,100,500,200           15  B 2922   4 000 m² × 2                  0.80  0.40
    P3      2200,100,2400,250 (PF1)   45  C 3824  10 000 m² × 1                  0.33  0.33
    P4      2600,100,2700,200 (PF1)   15  D (no record), unbuilt, agreed start 2023-01-01
    P5      600,600,700,700           15  (none)
    P6      800,100,900,200           15  E 1711   5 000 m² × 3                  1.50  0.50

Enterprises 2024: 规上 A > C > B (three firms: B, C, D classes); 规下 F (10 mu leased in,
tax 20/mu) > E (tax 2/mu): C and D.

Expected flags:
    P1 none; P2 低效 (tax 4 < 5, plot 0.8 < 1, holder D) and 不达标 (plot < 1.0 for 2002
    division 30); P3 低效 (plot) and 不达标 (plot < 0.7 for 2002 division 39, contract
    investment 200 < 300 and plot < 1.2); P4 闲置 (not started a year after 2023-01-01);
    P6 低效 (tax 2 < 5, holder D).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely

from mujun.geo.compliance import with_texts
from mujun.geo.evaluation import evaluate_year, parcel_base, year_figures
from mujun.geo.flags import CHECK_KINDS, FLAG_KINDS
from mujun.geo.judgement import class_counts, judge_year
from mujun.layers.rulesets import industry_concordance, load_control_rules, load_rule_set

X0, Y0 = 560000.0, 3320000.0
REL = 1e-6
AS_OF = pd.Timestamp("2024-12-31")


def box(x1, y1, x2, y2):
    return shapely.box(X0 + x1, Y0 + y1, X0 + x2, Y0 + y2)


def _gdf(data: dict, geoms: list) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4549").to_crs("EPSG:4490")


@pytest.fixture(scope="module")
def zones() -> dict[str, gpd.GeoDataFrame]:
    return {
        "district": _gdf({"district_id": ["D1", "D2"], "name": ["越城区", "柯桥区"]},
                         [box(0, 0, 2000, 2000), box(2000, 0, 4000, 2000)]),
        "platform": _gdf({"platform_id": ["PF1"], "name": ["高端装备平台"], "lead_industry": ["电气机械"],
                          "planned_mu": [10000.0], "target_output": [1000.0], "target_year": [2025],
                          "lead_industry_codes": ["3824"]},
                         [box(2000, 0, 4000, 1000)]),
    }


@pytest.fixture(scope="module")
def world_inputs(zones) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    d = pd.to_datetime
    parcels = _gdf(
        {
            "parcel_id": ["P1", "P2", "P3", "P4", "P5", "P6"],
            "holder_code": ["A", "B", "C", "D", None, "E"],
            "land_use": ["工业用地"] * 6,
            "investment": [30000.0, np.nan, 9000.0, np.nan, np.nan, np.nan],
            "contract_investment": [np.nan, np.nan, 300.0, 300.0, np.nan, np.nan],
            "planned_far_min": [1.0, np.nan, 1.2, 1.2, np.nan, np.nan],
            "planned_far_max": [2.0, np.nan, 2.5, 2.5, np.nan, np.nan],
            "transfer_date": d(["2018-01-01", "2018-01-01", "2021-01-01", "2022-06-01", None, "2015-01-01"]),
            "agreed_start": d([None, None, "2021-06-01", "2023-01-01", None, None]),
            "actual_start": d([None, None, "2021-07-01", None, None, None]),
            "agreed_finish": d(["2025-06-30", None, "2023-06-30", "2025-06-30", None, None]),
            "production_due": d([None, None, "2024-06-30", "2026-06-30", None, None]),
        },
        [box(100, 100, 300, 300), box(400, 100, 500, 200), box(2200, 100, 2400, 250),
         box(2600, 100, 2700, 200), box(600, 600, 700, 700), box(800, 100, 900, 200)],
    )
    buildings = _gdf(
        {"floors": [3, 2, 1, 3], "use": ["生产"] * 4},
        [box(110, 110, 250, 210),  # P1: 140 × 100 = 14 000 m²
         box(400, 100, 500, 140),  # P2: 4000 m²
         box(2210, 110, 2310, 210),  # P3: 10 000 m²
         box(805, 105, 855, 205)],  # P6: 5000 m²
    )
    cols = ["credit_code", "name", "year", "above_scale", "industry_code", "tax", "value_added", "revenue",
            "output_value", "energy_tce", "emissions", "employees", "rd_expense", "electricity", "leased_in_mu"]
    ent = pd.DataFrame([
        ("A", "甲电气", 2024, True, "3824", 1200.0, 6000.0, 20000.0, 25000.0, 2000.0, 1.0, 300.0, 600.0, 3000.0, None),
        ("B", "乙塑料", 2024, True, "2922", 60.0, 300.0, 3000.0, 3500.0, 200.0, 0.5, 30.0, 10.0, 300.0, None),
        ("C", "丙电气", 2024, True, "3824", 450.0, 2000.0, 9000.0, 10000.0, 800.0, 0.8, 120.0, 200.0, 1500.0, None),
        ("E", "戊纺织", 2024, False, "1711", 30.0, None, 700.0, 800.0, None, None, None, None, 100.0, None),
        ("F", "己纺织", 2024, False, "1752", 200.0, None, 1500.0, 1600.0, None, None, None, None, 400.0, 10.0),
    ], columns=cols)
    return parcel_base(parcels, buildings, zones), ent


@pytest.fixture(scope="module")
def world(world_inputs, zones) -> dict[str, pd.DataFrame]:
    base, ent = world_inputs
    return evaluate_year(base, ent, 2024, zones)


def _judge(world, **kw) -> dict[str, pd.DataFrame]:
    return judge_year(world, load_rule_set("zhejiang-default"), load_control_rules("gb-2008"),
                      as_of=AS_OF, concordance=industry_concordance(), **kw)


@pytest.fixture(scope="module")
def judged(world) -> dict[str, pd.DataFrame]:
    return _judge(world, previous_class=pd.Series({"A": "C", "B": "B", "C": "A"}))


def test_the_world_is_as_described(world):
    p = world["parcel"].set_index("parcel_id")
    assert p.loc["P1", "area_mu"] == pytest.approx(60.0, rel=REL)
    assert p.loc["P1", "plot_ratio"] == pytest.approx(1.05, rel=REL)
    assert p.loc["P2", "plot_ratio"] == pytest.approx(0.8, rel=REL)
    assert p.loc["P3", "plot_ratio"] == pytest.approx(1 / 3, rel=REL)
    assert p.loc["P6", "plot_ratio"] == pytest.approx(1.5, rel=REL)
    assert p.loc["P3", "platform_id"] == "PF1" and p.loc["P4", "platform_id"] == "PF1"
    assert p["district_id"].to_dict() == {"P1": "D1", "P2": "D1", "P3": "D2", "P4": "D2", "P5": "D1", "P6": "D1"}


def test_enterprises_scored_and_classed(judged):
    e = judged["enterprise"].set_index("credit_code")
    assert e["class"].to_dict() == {"A": "B", "C": "C", "B": "D", "F": "C", "E": "D"}
    assert e["rule_set"].unique().tolist() == ["zhejiang-default"]
    assert e.loc[["A", "B", "C"], "previous_class"].tolist() == ["C", "B", "A"]
    assert e.loc[["E", "F"], "previous_class"].isna().all()
    assert e["class_change"].to_dict() == {"A": "升", "B": "降", "C": "降", "E": "新参评", "F": "新参评"}
    # tax benchmark of 规上: Σ tax / Σ land of A, B, C
    b = judged["benchmark"].set_index(["group", "indicator"])
    assert b.loc[("above_scale", "tax_per_mu"), "benchmark"] == pytest.approx((1200 + 60 + 450) / 120, rel=REL)
    assert b.loc[("below_scale", "tax_per_mu"), "benchmark"] == pytest.approx((30 + 200) / 25, rel=REL)
    assert set(judged["benchmark"]["year"]) == {2024}


def test_class_counts(judged):
    counts = class_counts(judged["enterprise"])
    assert counts.loc["above_scale", ["B", "C", "D"]].tolist() == [1.0, 1.0, 1.0]
    assert counts.loc["below_scale", ["C", "D"]].tolist() == [1.0, 1.0]
    assert counts.loc["above_scale", "D_share"] == pytest.approx(1 / 3)


def test_parcel_flags_as_worked_out(judged):
    p = judged["parcel"].set_index("parcel_id")
    assert p["idle"].to_dict() == {"P1": False, "P2": False, "P3": False, "P4": True, "P5": False, "P6": False}
    assert p["inefficient"].to_dict() == {"P1": False, "P2": True, "P3": True, "P4": False, "P5": False, "P6": True}
    assert p["noncompliant"].to_dict() == {"P1": False, "P2": True, "P3": True, "P4": False, "P5": False,
                                           "P6": False}
    assert p.loc[["P2", "P3", "P4", "P6"], "flags"].tolist() == ["低效、不达标", "低效、不达标", "闲置", "低效"]
    assert p.loc[["P1", "P5"], "flags"].isna().all()
    f = judged["flag"]
    rules = {pid: sorted(g["rule"]) for pid, g in f.groupby("parcel_id")}
    assert rules == {
        "P2": sorted(["亩均税收低于指南", "容积率偏低", "权利人为D类企业", "容积率不达标"]),
        "P3": sorted(["容积率偏低", "容积率不达标", "投资强度不达标", "容积率不达标"]),
        "P4": ["未动工满一年"],
        "P6": sorted(["亩均税收低于指南", "权利人为D类企业"]),
    }
    assert "2023-01-01" in p.loc["P4", "flag_reasons"]
    assert "乙塑料" in p.loc["P2", "flag_reasons"]  # the D-class holder is named
    assert p.loc["P2", "class"] == "D" and p.loc["P1", "class"] == "B"


def test_flag_columns_agree_with_the_long_tables(judged):
    p = judged["parcel"]
    f = judged["flag"]
    assert set(f["year"]) == {2024}
    for kind, label in FLAG_KINDS.items():
        flagged = set(f.loc[f["kind"] == kind, "parcel_id"])
        assert set(p.loc[p[kind], "parcel_id"]) == flagged
        assert (f.loc[f["kind"] == kind, "kind_label"] == label).all()
    any_flag = p[list(FLAG_KINDS)].any(axis=1)
    assert set(p.loc[any_flag, "parcel_id"]) == set(f["parcel_id"])  # every flagged parcel has a row
    assert p.loc[~any_flag, "flags"].isna().all() and p.loc[~any_flag, "flag_reasons"].isna().all()
    for _, row in p[any_flag].iterrows():
        rows = f[f["parcel_id"] == row["parcel_id"]]
        labels = [FLAG_KINDS[k] for k in FLAG_KINDS if row[k]]
        assert row["flags"] == "、".join(labels)
        for reason in rows["reason"]:
            assert reason in row["flag_reasons"]


def test_noncompliance_matches_failed_checks(judged):
    c = judged["compliance"]
    p = judged["parcel"]
    assert set(c["year"]) == {2024}
    failed = set(c.loc[c["status"] == "不达标", "parcel_id"])
    assert failed == set(p.loc[p["noncompliant"], "parcel_id"]) == {"P2", "P3"}
    checks = c.assign(key=c["parcel_id"] + ":" + c["source"].str[:4] + ":" + c["indicator"] + c["op"])
    status = checks.set_index("key")["status"]
    assert status["P2:控制指标:plot_ratio>="] == "不达标"  # 2922 -> 2002 division 30 -> 1.0
    assert checks.set_index("key").loc["P2:控制指标:plot_ratio>=", "required"] == 1.0
    assert status["P1:控制指标:plot_ratio>="] == "达标"  # 3824 -> 39 -> 0.7
    assert checks.set_index("key").loc["P3:控制指标:plot_ratio>=", "required"] == 0.7
    assert status["P3:出让合同:investment_intensity>="] == "不达标"  # 9000 / 45 = 200 < 300
    assert status["P3:出让合同:plot_ratio>="] == "不达标"  # 0.33 < 1.2
    assert status["P3:出让合同:plot_ratio<="] == "达标"
    assert status["P1:出让合同:plot_ratio>="] == "未到期"  # completes 2025-06-30
    assert status["P4:出让合同:investment_intensity>="] == "未到期"
    # unbuilt parcels have no control-indicator checks
    ctl = c[c["source"].str.startswith("控制指标")]
    assert set(ctl["parcel_id"]) == {"P1", "P2", "P3", "P6"}


def test_emit_takes_the_checks_in_parts_as_computed_and_the_flags_whole(world, judged):
    """Handed to ``emit``, the checks come one check at a time; together they are the table
    returned without ``emit``, and the rest is the same."""
    got: dict[str, list] = {}

    def emit(name, table):
        if isinstance(table, pd.DataFrame):
            got[name] = [table]
            return
        got[name] = []
        for part in table:
            got[name].append(part)

    out = _judge(world, previous_class=pd.Series({"A": "C", "B": "B", "C": "A"}), emit=emit)
    assert "compliance" not in out and "flag" not in out
    assert len(got["compliance"]) > 1 and len(got["flag"]) == 1
    # the per-enterprise and per-parcel tables are handed over complete, once, and returned as well
    assert list(got) == ["compliance", "flag", "enterprise", "parcel"] and len(got["parcel"]) == 1
    for level in ("enterprise", "parcel"):
        pd.testing.assert_frame_equal(pd.DataFrame(got[level][0]), pd.DataFrame(judged[level]))
        assert got[level][0] is out[level]
    checks = [part[["source", "indicator", "op"]].drop_duplicates() for part in got["compliance"]]
    assert all(len(c) == 1 for c in checks)  # one check a part, each its own
    assert len({tuple(c.iloc[0]) for c in checks}) == len(checks)
    # the parts hold their repeated texts as the same categories: they concatenate as categories
    together = pd.concat(got["compliance"], ignore_index=True)
    assert all(isinstance(together[c].dtype, pd.CategoricalDtype) for c in ("source", "label", "op", "status"))
    pd.testing.assert_frame_equal(with_texts(together), judged["compliance"])
    pd.testing.assert_frame_equal(got["flag"][0], judged["flag"])
    for name in ("enterprise", "parcel", "platform", "benchmark"):
        pd.testing.assert_frame_equal(pd.DataFrame(out[name]), pd.DataFrame(judged[name]))
    # an emit that takes nothing: the checks are computed all the same, the flags drawn from them
    idle = _judge(world, previous_class=pd.Series({"A": "C", "B": "B", "C": "A"}), emit=lambda name, table: None)
    pd.testing.assert_frame_equal(pd.DataFrame(idle["parcel"]), pd.DataFrame(judged["parcel"]))


def test_the_zone_levels_summed_up_after_the_parcels_are_handed_over(world_inputs, zones, judged):
    """Given the zone levels as a function (``year_figures``), the judging calls it once the
    parcels are handed over; the results are those of the zone levels given at once."""
    base, ent = world_inputs
    figures, summaries = year_figures(base, ent, 2024, zones)
    assert set(figures) == {"enterprise", "parcel"}
    order: list[str] = []

    def later():
        order.append("zones")
        return summaries()

    out = _judge(figures, previous_class=pd.Series({"A": "C", "B": "B", "C": "A"}), zones=later,
                 emit=lambda name, table: order.append(name) if isinstance(table, pd.DataFrame) else list(table))
    assert order == ["flag", "enterprise", "parcel", "zones"]
    levels = [level for level in ("district", "park", "platform") if level in judged]
    assert levels and set(levels) <= set(out)
    for name in (*levels, "enterprise", "parcel", "benchmark"):
        pd.testing.assert_frame_equal(pd.DataFrame(out[name]), pd.DataFrame(judged[name]), obj=name)


def test_each_parcel_s_reasons_are_its_flags_reasons_in_the_flags_order(judged):
    """``flag_reasons`` joins the reasons of a parcel's flags, in the order of the flags
    table, by "；"; a parcel without a flag has none."""
    flags, p = judged["flag"], judged["parcel"]
    given = flags[flags["reason"].notna()]
    expected = given.groupby("parcel_id", sort=False)["reason"].agg("；".join)
    got = p.set_index("parcel_id")["flag_reasons"]
    assert got.notna().sum() == len(expected) > 0
    assert got[expected.index].tolist() == expected.tolist()
    assert got[~got.index.isin(expected.index)].isna().all()
    assert p["flag_reasons"].dtype == "string"


def test_reasons_of_parcels_sharing_an_id_and_of_none():
    """Rows that share an id all take its reasons; a reason whose parcel is not there is
    dropped."""
    from mujun.geo.judgement import _joined

    got = _joined(np.array([2, -1, 0, 2, 0]), pa.chunked_array([["r1", "lost"], ["r2", "r3", "r4"]]),
                  np.array([0, 0, 2, 3, -1]))
    assert got.tolist() == ["r2；r4", "r2；r4", "r1；r3", pd.NA, pd.NA]
    assert _joined(np.array([], dtype="int64"), pa.array([], pa.string()), np.array([0, -1])).tolist() == [pd.NA, pd.NA]


def test_rows_sharing_a_parcel_id_share_its_flags(world):
    """A parcel id given twice (the parcels layer refuses it, the function does not): each of
    its rows carries every flag drawn for the id, and all of their reasons."""
    twice = dict(world)
    p = world["parcel"]
    twice["parcel"] = pd.concat([p, p[p["parcel_id"] == "P4"]], ignore_index=True)
    out = _judge(twice)
    got, flags = out["parcel"], out["flag"]
    for kind in (*FLAG_KINDS, *CHECK_KINDS):
        assert got[kind].tolist() == got["parcel_id"].isin(flags.loc[flags["kind"] == kind, "parcel_id"]).tolist()
    rows = got[got["parcel_id"] == "P4"]
    assert len(rows) == 2 and rows["idle"].all() and rows["flag_reasons"].nunique() == 1
    reasons = flags.loc[flags["parcel_id"] == "P4", "reason"].dropna()
    assert rows["flag_reasons"].iloc[0] == "；".join(reasons)


def test_parcels_under_another_index_are_judged_alike(world, judged):
    """Parcels on an index other than their rows' places (the flags then find their parcels by
    id) are judged as on 0, 1, …: the same flags, parcel rows and reasons."""
    shuffled = dict(world)
    p = world["parcel"]
    shuffled["parcel"] = p.set_axis(np.arange(len(p))[::-1] * 7 + 3)
    out = _judge(shuffled)
    pd.testing.assert_frame_equal(out["flag"], judged["flag"])
    pd.testing.assert_frame_equal(pd.DataFrame(out["parcel"]).reset_index(drop=True),
                                  pd.DataFrame(judged["parcel"]).reset_index(drop=True))


def test_whatif_gains_only_for_flagged_parcels(judged):
    p = judged["parcel"].set_index("parcel_id")
    flagged = p[list(FLAG_KINDS)].any(axis=1)
    assert (p.loc[~flagged, ["tax_gain", "value_added_gain"]] == 0).all().all()
    # P4 (idle, no figures, D2, no industry) up to D2's median 亩均税收 — C's 10 — over its 15 mu
    assert p.loc["P4", "tax_gain"] == pytest.approx(10.0 * 15.0, rel=REL)
    # the others already sit at their own (district, industry) median: their holder is the only peer
    assert p.loc[["P2", "P3", "P6"], "tax_gain"].tolist() == [0.0, 0.0, 0.0]


def test_platform_assessment_is_merged(judged):
    pf = judged["platform"].set_index("platform_id").loc["PF1"]
    assert pf["output_yi"] == pytest.approx(10000 / 1e4, rel=REL)
    assert pf["gap_to_guide_yi"] == pytest.approx(1000 - 1, rel=REL)
    assert pf["lead_share"] == pytest.approx(1.0)
    assert pd.notna(pf["lead_share_ok"]) and bool(pf["lead_share_ok"])
    assert pf["supplied_mu"] == pytest.approx(60.0, rel=REL)
    assert pf["built_mu"] == pytest.approx(45.0, rel=REL)
    assert pf["unbuilt_supplied_mu"] == pytest.approx(15.0, rel=REL)
    assert pf["idle_mu"] == pytest.approx(15.0, rel=REL)
    assert pf["inside_output_per_mu"] == pytest.approx(10000 / 45, rel=REL)
    assert pf["inside_output_per_mu"] == pytest.approx(pf["output_per_mu"], rel=1e-12)
    assert np.isnan(pf["outside_output_per_mu"])  # no other evaluated parcel in D2
    assert pf["name"] == "高端装备平台"


def test_veto_and_imagery_reach_the_parcels(world):
    out = _judge(world, veto={"a": "重大安全生产事故"}, builtup=pd.Series({"P1": 0.05, "P6": 0.9}))
    e = out["enterprise"].set_index("credit_code")
    assert e.loc["A", "class"] == "D" and e.loc["A", "veto_reason"] == "重大安全生产事故"
    p = out["parcel"].set_index("parcel_id")
    assert p.loc["P1", "builtup_fraction"] == 0.05 and np.isnan(p.loc["P2", "builtup_fraction"])
    # P1 looks bare (5 %) but its buildings cover 35 % ≥ the control minimum of 30 %: the
    # imagery contradicts the building layer, so it is checked on site, not called idle
    assert p.loc["P1", "flags"] == "低效"
    assert p.loc["P1", "site_check"] and not p.loc["P1", "idle"]
    rules = set(out["flag"].loc[out["flag"]["parcel_id"] == "P1", "rule"])
    assert rules == {"影像与建筑数据矛盾", "权利人为D类企业"}
    check = out["flag"].set_index("rule").loc["影像与建筑数据矛盾"]
    assert check["kind_label"] == "需现场核查" and check["value"] == 0.05
    assert "影像建成比例 5.0%" in check["reason"] and "建筑系数为 35.0%" in check["reason"]
    assert not p.loc["P6", "idle"]


def test_enterprises_carry_their_parcels_flags(sample_workspace):
    from mujun.layers.workspace import result_table

    year = sample_workspace.meta()["evaluated_years"].split(",")[-1]
    ent = sample_workspace.read(result_table("enterprise"), where=f"year = {year}").set_index("credit_code")
    par = sample_workspace.read(result_table("parcel"), where=f"year = {year}")
    idle_holders = set(par.loc[par["idle"].astype(bool) & par["holder_code"].notna(), "holder_code"])
    present = [c for c in idle_holders if c in ent.index]
    assert present
    assert ent.loc[present, "flags"].str.contains("闲置").all()
    clean = set(ent.index) - set(par.loc[par["flags"].notna(), "holder_code"].dropna())
    assert ent.loc[list(clean), "flags"].isna().all()
