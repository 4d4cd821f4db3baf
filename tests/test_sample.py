"""The synthetic Shaoxing sample: size, calibration, labelling, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mujun.layers.sample import YEARS, generate
from mujun.layers.workspace import result_table

EXPECTED_DISTRICTS = {"越城区", "柯桥区", "上虞区", "诸暨市", "嵊州市", "新昌县"}


def test_sizes(sample_workspace):
    ws = sample_workspace
    assert set(ws.read("districts")["name"]) == EXPECTED_DISTRICTS
    assert 10 <= len(ws.read("parks")) <= 14
    assert len(ws.read("platforms")) == 2
    parcels = ws.read("parcels")
    assert len(parcels) >= 5000
    buildings = ws.read("buildings")
    assert len(buildings) > len(parcels)
    ent = ws.read("enterprises")
    assert ent["credit_code"].nunique() >= 4000
    assert sorted(ent["year"].unique()) == list(YEARS)


def test_stored_in_cgcs2000(sample_workspace):
    for name in ("districts", "parks", "platforms", "parcels", "buildings"):
        assert sample_workspace.read(name).crs.to_epsg() == 4490


def test_labelled_synthetic(sample_workspace):
    meta = sample_workspace.meta()
    assert meta["sample"] == "1"
    assert "示例" in meta["label"]
    names = sample_workspace.read("enterprises")["name"]
    assert names.str.contains("示例").all()
    assert sample_workspace.read("parks")["name"].str.contains("示例").all()
    assert sample_workspace.read("platforms")["name"].str.contains("示例").all()


def test_platforms_about_ten_thousand_mu(sample_workspace):
    res = sample_workspace.read(result_table("platform"), where=f"year = {YEARS[-1]}")
    assert res["zone_area_mu"].between(8000, 14000).all()
    assert (res["output_value"] > 0).all()


def _latest_enterprises(ws):
    return ws.read(result_table("enterprise"), where=f"year = {YEARS[-1]}")


def test_calibrated_to_domain_figures(sample_workspace):
    ent = _latest_enterprises(sample_workspace)
    above = ent[ent["above_scale"].fillna(False).astype(bool) & (ent["land_mu"] > 0)]
    tax = above["tax"].sum() / above["land_mu"].sum()
    va = above["value_added"].sum() / above["land_mu"].sum()
    assert 25 <= tax <= 32, tax
    assert 120 <= va <= 140, va


def test_right_skewed_with_some_zero_or_negative_tax(sample_workspace):
    ent = _latest_enterprises(sample_workspace)
    t = ent["tax_per_mu"].dropna()
    assert t.mean() > 1.2 * t.median()
    assert t.skew() > 1
    share_nonpositive = (ent["tax"] <= 0).mean()
    assert 0.005 < share_nonpositive < 0.08


def test_has_idle_and_inefficient_land(sample_workspace):
    p = sample_workspace.read(result_table("parcel"), where=f"year = {YEARS[-1]}")
    start_due = pd.to_datetime(p["agreed_start"]) < pd.Timestamp("2025-06-30")
    idle = p["holder_code"].notna() & p["actual_start"].isna() & start_due & (p["building_count"] == 0)
    assert idle.sum() >= 50
    unsupplied = p["holder_code"].isna()
    assert unsupplied.sum() >= 50
    low_far = (p["plot_ratio"] < 1.0) & (p["building_count"] > 0)
    low_tax = p["tax_per_mu"] < 5
    assert low_far.sum() >= 100 and low_tax.sum() >= 100


def test_some_buildings_count_twice(sample_workspace):
    b = sample_workspace.read("buildings")
    tall_single = (b["floors"] == 1) & (b["height"] > 8)
    assert tall_single.sum() > 100


def test_deterministic():
    a = generate(seed=7, scale=0.2)
    b = generate(seed=7, scale=0.2)
    c = generate(seed=8, scale=0.2)
    for name in a:
        pd.testing.assert_frame_equal(pd.DataFrame(a[name]), pd.DataFrame(b[name]))
    assert not a["parcels"].geometry.geom_equals(c["parcels"].geometry.reindex(a["parcels"].index)).all()


def test_credit_codes_have_valid_check_characters():
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    codes = generate(seed=3, scale=0.1)["enterprises"]["统一社会信用代码"].unique()
    for code in codes[:200]:
        assert len(code) == 18
        total = sum(chars.index(ch) * w for ch, w in zip(code[:17], weights, strict=True))
        assert chars[(31 - total % 31) % 31] == code[17]


def test_parcel_source_is_gbk_shapefile_without_cpg(sample_workspace):
    folder = sample_workspace.path.with_name(sample_workspace.path.stem + "-sample")
    shp = folder / "地块.shp"
    assert shp.exists() and not shp.with_suffix(".cpg").exists()
    raw = shp.with_suffix(".dbf").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw[: 64 * 1024].decode("utf-8")
    assert "约定开工日".encode("gbk") in raw[:2048]  # a Chinese field name cut to 10 bytes


@pytest.mark.parametrize("scale", [0.1, 0.5])
def test_scale_changes_size(scale):
    n = len(generate(seed=1, scale=scale)["parcels"])
    assert n < 5000 * scale + 1500
    assert n > 0
    assert np.isfinite(n)
