"""Evaluation stored in the workspace, and rankings read back from it."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from mujun.geo.errors import InputError, WorkspaceError
from mujun.layers.sample import YEARS
from mujun.layers.workspace import Workspace, missing_workspace, not_evaluated, result_table
from mujun.service import evaluate, flags, overall, ranking, review_of_year


@pytest.fixture
def sample_copy(sample_workspace, tmp_path) -> Workspace:
    dst = tmp_path / "copy.gpkg"
    shutil.copyfile(sample_workspace.path, dst)
    return Workspace(dst)


@pytest.mark.parametrize("level,zone_id", [("district", "district_id"), ("park", "park_id"),
                                           ("platform", "platform_id")])
def test_zone_per_mu_is_ratio_of_sums_of_parcels(sample_workspace, level, zone_id):
    year = YEARS[-1]
    parcels = sample_workspace.read(result_table("parcel"), where=f"year = {year}")
    zones = sample_workspace.read(result_table(level), where=f"year = {year}")
    ev = parcels[parcels["evaluated"].astype(bool)]
    # independent recomputation: each parcel carries its holder's per-mu value
    tax = (ev["tax_per_mu"] * ev["evaluated_mu"]).groupby(ev[zone_id]).sum()
    mu = ev["evaluated_mu"].groupby(ev[zone_id]).sum()
    expected = (tax / mu).rename("expected")
    got = zones.set_index(zone_id)["tax_per_mu"]
    assert len(expected) == len(got.dropna())
    np.testing.assert_allclose(got.loc[expected.index].to_numpy(), expected.to_numpy(), rtol=1e-9)
    mean_of_ratios = ev.groupby(zone_id)["tax_per_mu"].mean()
    assert not np.allclose(mean_of_ratios.loc[expected.index], expected)


def test_enterprise_totals_balance_parcels(sample_workspace):
    """Σ tax shared out to an enterprise's parcels = its tax × (owned − leased out) / land."""
    year = YEARS[-1]
    ent = sample_workspace.read(result_table("enterprise"), where=f"year = {year}").set_index("credit_code")
    parcels = sample_workspace.read(result_table("parcel"), where=f"year = {year}")
    shared = parcels[parcels["evaluated"].astype(bool)].groupby("holder_code")["tax"].sum()
    e = ent.loc[shared.index]
    expected = e["tax"] * (e["owned_mu"] - e["leased_out_mu"]) / e["land_mu"]
    np.testing.assert_allclose(shared, expected, rtol=1e-9, atol=1e-9)


def test_overall_is_ratio_of_sums(sample_workspace):
    ent = sample_workspace.read(result_table("enterprise"), where=f"year = {YEARS[0]}")
    o = overall(ent)
    ok = ent["land_mu"] > 0
    assert o["tax_per_mu"] == pytest.approx(ent.loc[ok, "tax"].sum() / ent.loc[ok, "land_mu"].sum())


def test_no_infinite_values_and_reasons_for_missing(sample_workspace):
    ent = sample_workspace.read(result_table("enterprise"))
    for col in ("tax_per_mu", "value_added_per_mu", "revenue_per_mu", "output_per_mu"):
        assert np.isfinite(ent[col].dropna()).all()
    missing = ent["tax_per_mu"].isna() & ent["tax"].notna()
    assert missing.any()
    assert ent.loc[missing, "missing_reason"].notna().all()


def test_reevaluating_a_year_keeps_the_others(sample_copy):
    before = sample_copy.read(result_table("enterprise"))
    res = evaluate(sample_copy, YEARS[0], progress=False)
    assert res.years == [YEARS[0]]
    after = sample_copy.read(result_table("enterprise"))
    assert len(after) == len(before)
    assert sorted(after["year"].unique()) == list(YEARS)


def test_ranking_defaults_to_latest_evaluated_year(sample_workspace):
    frame, year = ranking(sample_workspace, "park", "tax_per_mu")
    assert year == YEARS[-1]
    assert frame["rank"].iloc[0] == 1
    assert frame["tax_per_mu"].is_monotonic_decreasing


def test_ranking_errors(sample_workspace, tmp_path):
    with pytest.raises(InputError, match="没有 1999 年的评价结果"):
        ranking(sample_workspace, "park", "tax_per_mu", year=1999)
    with pytest.raises(InputError, match="可用"):
        ranking(sample_workspace, "county", "tax_per_mu")
    with pytest.raises(WorkspaceError, match="none.gpkg 不存在；请先导入数据"):  # missing, not "no results yet"
        ranking(Workspace(tmp_path / "none.gpkg"), "park", "tax_per_mu")


def test_missing_and_unevaluated_workspaces_have_the_workspace_wording(tmp_path):
    none = Workspace(tmp_path / "none.gpkg")
    for call in (lambda: evaluate(none, progress=False), lambda: review_of_year(none)):
        with pytest.raises(WorkspaceError) as err:
            call()
        assert str(err.value) == str(missing_workspace(none.path))
    bare = Workspace(tmp_path / "bare.gpkg")
    bare.write({"notes": pd.DataFrame({"text": ["未评价"]})})
    calls = (lambda: ranking(bare, "enterprise", "tax"), lambda: flags(bare), lambda: review_of_year(bare))
    for call in calls:
        with pytest.raises(WorkspaceError) as err:
            call()
        assert str(err.value) == str(not_evaluated(bare.path))


def test_evaluate_refuses_unknown_year_without_writing(sample_copy):
    digest = sample_copy.path.read_bytes()
    with pytest.raises(InputError, match="已有年度"):
        evaluate(sample_copy, 1999, progress=False)
    assert sample_copy.path.read_bytes() == digest


def test_buildings_assigned_to_parcels_and_zones(sample_workspace):
    b = sample_workspace.read(result_table("building"))
    assert len(b) == len(sample_workspace.read("buildings"))
    assert b["parcel_id"].notna().mean() > 0.99
    assert b["district_id"].notna().all()
    parcels = sample_workspace.read(result_table("parcel"), where=f"year = {YEARS[-1]}").set_index("parcel_id")
    on_parcel = b.dropna(subset=["parcel_id"])
    same_park = on_parcel["park_id"].fillna("-").to_numpy() == parcels.loc[on_parcel["parcel_id"], "park_id"].fillna("-").to_numpy()
    assert same_park.mean() > 0.99
    # Σ counted floor area of a parcel's buildings / its area is the stored plot ratio
    sums = on_parcel.groupby("parcel_id")["floor_area_m2"].sum()
    expected = sums / parcels.loc[sums.index, "area_m2"]
    np.testing.assert_allclose(parcels.loc[sums.index, "plot_ratio"], expected, rtol=1e-9)


def test_evaluate_years_listed_must_be_in_the_enterprise_table(sample_workspace):
    before = sample_workspace.generation()
    with pytest.raises(InputError, match=r"没有 1999 年的企业数据；已有年度：2023、2024、2025"):
        evaluate(sample_workspace, years=[YEARS[0], 1999], progress=False)
    assert sample_workspace.generation() == before


def test_sample_results_keep_each_years_holders(sample_workspace):
    """The sample is evaluated with the parcels layer of each year (evaluate_sample): a parcel
    supplied to a new holder has its old holder in 2023 and its new one in 2025."""
    supplies = sample_workspace.read("supplies")
    moved = supplies.loc[supplies["new_holder_code"].notna(), "parcel_id"]
    ids = ", ".join(f"'{i}'" for i in moved)
    res = sample_workspace.read(result_table("parcel"), where=f"parcel_id IN ({ids})").set_index(["parcel_id", "year"])
    new = supplies.set_index("parcel_id")["new_holder_code"]
    for pid in moved:
        assert res.loc[(pid, YEARS[-1]), "holder_code"] == new[pid] != res.loc[(pid, YEARS[0]), "holder_code"]
    assert sample_workspace.read("parcels").set_index("parcel_id").loc[list(moved), "holder_code"].tolist() == \
        new[list(moved)].tolist()
