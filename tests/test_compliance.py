"""Compliance with the land-use control indicators and with 标准地 contracts (mujun.geo.compliance)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mujun.geo.compliance import LABELS, compliance, division_2002
from mujun.geo.rules import control_rules_from_dict
from mujun.layers.rulesets import industry_concordance, load_control_rules

E2017 = "GB/T 4754-2017"


@pytest.mark.parametrize("code, expected", [
    ("3824", "39"),  # 电气机械 2017 38 -> 2002 39
    ("2922", "30"),  # 塑料制品: group 292 -> 2002 30
    ("2911", "29"),  # 橡胶制品: group 291 -> 2002 29
    ("1752", "17"),  # 纺织: unchanged
    ("3011", "31"),  # 非金属矿物 2017 30 -> 2002 31
    ("3670", "37"),  # 汽车 2017 36 -> 2002 37 交通运输设备
    ("3731", "37"),  # 铁路船舶航空 2017 37 -> 2002 37
    ("3911", "40"),  # 计算机通信电子 2017 39 -> 2002 40
    ("4011", "41"),  # 仪器仪表 2017 40 -> 2002 41
    (" 3824 ", "39"),  # stray spaces
    ("38", "39"),  # a division alone
])
def test_division_2002_of_2017_codes(code, expected):
    got = division_2002(pd.Series([code]), E2017, industry_concordance())
    assert got.tolist() == [expected]


def test_division_2002_without_a_2002_counterpart_or_code():
    got = division_2002(pd.Series(["4320", "29", None]), E2017, industry_concordance())
    assert got.isna().all()  # 43 修理 has none; "29" alone cannot tell rubber from plastics


def test_division_2002_of_2002_codes_is_the_first_two_digits():
    got = division_2002(pd.Series(["3924", "3011"]), "GB/T 4754-2002", industry_concordance())
    assert got.tolist() == ["39", "30"]


def _parcels() -> pd.DataFrame:
    return pd.DataFrame({
        "parcel_id": ["P1", "P2", "P3", "P4", "P5", "P6"],
        "industry_code": ["3824", "2922", "2911", "1752", "3824", "3824"],
        "building_count": [2, 1, 3, 1, 0, 1],
        "plot_ratio": [0.75, 0.9, 0.8, 0.79, np.nan, 1.2],
        "building_coefficient": [0.30, 0.29, 0.45, 0.5, np.nan, 0.4],
        "admin_share": [0.07, 0.08, 0.0, 0.05, np.nan, np.nan],
    })


def _checks(parcels: pd.DataFrame, control=None, as_of="2025-06-30", holder=None) -> pd.DataFrame:
    control = control or load_control_rules("gb-2008")
    division = division_2002(parcels["industry_code"], E2017, industry_concordance())
    return compliance(parcels, control, division, parcels if holder is None else holder, pd.Timestamp(as_of))


def _status(checks: pd.DataFrame, parcel: str, indicator: str, source_prefix: str = "控制指标") -> str:
    row = checks[(checks["parcel_id"] == parcel) & (checks["indicator"] == indicator)
                 & checks["source"].str.startswith(source_prefix)]
    assert len(row) == 1, row
    return row["status"].iloc[0]


def test_plot_ratio_minimum_looked_up_through_the_2002_division():
    checks = _checks(_parcels())
    far = checks[(checks["indicator"] == "plot_ratio") & checks["source"].str.startswith("控制指标")]
    got = far.set_index("parcel_id")[["required", "measured", "status"]]
    assert got["required"].to_dict() == {"P1": 0.7, "P2": 1.0, "P3": 0.8, "P4": 0.8, "P6": 0.7}
    assert got["status"].to_dict() == {"P1": "达标", "P2": "不达标", "P3": "达标", "P4": "不达标", "P6": "达标"}
    assert far.set_index("parcel_id").loc["P3", "required_text"] == "≥ 0.8"
    assert far["rule_set"].unique().tolist() == ["gb-2008"]


def test_building_coefficient_and_admin_share_at_their_limits():
    checks = _checks(_parcels())
    assert _status(checks, "P1", "building_coefficient") == "达标"  # exactly 30 %
    assert _status(checks, "P2", "building_coefficient") == "不达标"
    assert _status(checks, "P1", "admin_share") == "达标"  # exactly 7 %
    assert _status(checks, "P2", "admin_share") == "不达标"
    row = checks[(checks["parcel_id"] == "P2") & (checks["indicator"] == "admin_share")].iloc[0]
    assert row["required_text"] == "≤ 7.0%"
    assert row["label"] == LABELS["admin_share"] == "行政办公及生活服务设施用地比重"
    assert row["op"] == "<=" and row["required"] == 0.07 and row["measured"] == 0.08
    assert pd.notna(row["passed"]) and not row["passed"]
    bc = checks[(checks["parcel_id"] == "P1") & (checks["indicator"] == "building_coefficient")].iloc[0]
    assert bc["required_text"] == "≥ 30.0%"
    assert pd.notna(bc["passed"]) and bc["passed"]


def test_control_indicators_only_for_built_parcels():
    checks = _checks(_parcels())
    assert "P5" not in set(checks["parcel_id"])  # no buildings: nothing to check
    # 3 checks for each of the five built parcels
    assert checks.groupby("parcel_id").size().to_dict() == {p: 3 for p in ("P1", "P2", "P3", "P4", "P6")}


def test_missing_measurement_is_no_data():
    checks = _checks(_parcels())
    row = checks[(checks["parcel_id"] == "P6") & (checks["indicator"] == "admin_share")].iloc[0]
    assert row["status"] == "无数据"
    assert pd.isna(row["passed"])


def test_gb_2023_is_stricter_on_building_coefficient():
    checks = _checks(_parcels(), load_control_rules("gb-2023"))
    assert _status(checks, "P1", "building_coefficient") == "不达标"  # 30 % < 40 %
    assert _status(checks, "P3", "building_coefficient") == "达标"


def test_control_keyed_on_2017_codes_uses_them_directly():
    c = control_rules_from_dict({"name": "x", "title": "x", "edition": E2017, "plot_ratio_min": {"38": 1.2}})
    p = _parcels()
    division = p["industry_code"].str[:2]
    checks = compliance(p, c, division, p, pd.Timestamp("2025-01-01"))
    assert checks["parcel_id"].tolist() == ["P1", "P6"]  # only division 38 has a minimum
    assert checks["status"].tolist() == ["不达标", "达标"]


def _contract_parcels() -> pd.DataFrame:
    return pd.DataFrame({
        "parcel_id": ["C1", "C2", "C3", "C4"],
        "industry_code": ["3824"] * 4,
        "building_count": [0, 2, 2, 0],
        "plot_ratio": [np.nan, 2.6, 1.4, np.nan],
        "investment_intensity": [np.nan, 320.0, 250.0, 100.0],
        "contract_investment": [300.0, 300.0, 300.0, np.nan],
        "planned_far_min": [1.5, 1.5, 1.5, np.nan],
        "planned_far_max": [2.5, 2.5, 2.5, np.nan],
        "agreed_finish": pd.to_datetime(["2024-06-30", "2024-06-30", "2025-12-31", "2024-01-01"]),
        "production_due": pd.to_datetime(["2025-06-30", "2025-06-30", "2026-12-31", "2024-01-01"]),
        "contract_tax_per_mu": [20.0, 20.0, 20.0, np.nan],
        "tax_per_mu": [np.nan, 25.0, 10.0, 3.0],
    })


def _contract(checks: pd.DataFrame) -> pd.DataFrame:
    c = checks[checks["source"] == "出让合同（标准地）"]
    return c.assign(key=c["parcel_id"] + ":" + c["indicator"] + c["op"])


def test_contract_checks_not_due_before_the_dates():
    checks = _contract(_checks(_contract_parcels(), as_of="2024-06-29"))
    assert set(checks["status"]) == {"未到期"}
    assert checks["passed"].isna().all()
    assert "C4" not in set(checks["parcel_id"])  # no contract figures


def test_contract_checks_judged_from_the_due_date():
    checks = _contract(_checks(_contract_parcels(), as_of="2025-06-30")).set_index("key")["status"]
    assert checks.to_dict() == {
        # building indicators are due at completion (2024-06-30)
        "C1:investment_intensity>=": "无数据",
        "C2:investment_intensity>=": "达标",
        "C3:investment_intensity>=": "未到期",  # completes 2025-12-31
        "C1:plot_ratio>=": "无数据",
        "C2:plot_ratio>=": "达标",
        "C3:plot_ratio>=": "未到期",
        "C1:plot_ratio<=": "无数据",
        "C2:plot_ratio<=": "不达标",  # 2.6 above the range 1.5–2.5
        "C3:plot_ratio<=": "未到期",
        # output indicators are due at full production (达产), 2025-06-30 exactly
        "C1:tax_per_mu>=": "无数据",
        "C2:tax_per_mu>=": "达标",
        "C3:tax_per_mu>=": "未到期",
    }


def test_contract_range_after_every_date():
    checks = _contract(_checks(_contract_parcels(), as_of="2027-01-01")).set_index("key")
    assert checks.loc["C3:plot_ratio>=", "status"] == "不达标"  # 1.4 under 1.5
    assert checks.loc["C3:plot_ratio<=", "status"] == "达标"
    assert checks.loc["C3:investment_intensity>=", "status"] == "不达标"
    assert checks.loc["C3:tax_per_mu>=", "status"] == "不达标"
    assert checks.loc["C3:plot_ratio<=", "required_text"] == "≤ 2.5"
    assert checks.loc["C3:tax_per_mu>=", "label"] == "亩均税收"


def test_contract_output_measured_from_the_holder_frame():
    p = _contract_parcels()
    holder = pd.DataFrame({"tax_per_mu": [30.0, 5.0, 30.0, 30.0]}, index=p.index)
    checks = _contract(_checks(p, as_of="2027-01-01", holder=holder)).set_index("key")
    assert checks.loc["C1:tax_per_mu>=", "status"] == "达标"
    assert checks.loc["C2:tax_per_mu>=", "status"] == "不达标"
    assert checks.loc["C2:tax_per_mu>=", "measured"] == 5.0


def test_contract_without_due_date_fields_is_judged_now():
    p = _contract_parcels().drop(columns=["agreed_finish", "production_due"])
    checks = _contract(_checks(p, as_of="2000-01-01")).set_index("key")["status"]
    assert checks["C3:plot_ratio>="] == "不达标"
    assert "未到期" not in set(checks)


def test_no_applicable_checks_gives_an_empty_table_with_the_columns():
    c = control_rules_from_dict({"name": "x", "title": "x", "edition": E2017})
    p = pd.DataFrame({"parcel_id": ["a"], "building_count": [1], "plot_ratio": [1.0]})
    checks = compliance(p, c, pd.Series(["38"]), p, pd.Timestamp("2025-01-01"))
    assert checks.empty
    assert list(checks.columns) == ["parcel_id", "source", "rule_set", "indicator", "label", "measured", "op",
                                    "required", "required_text", "status", "passed"]
