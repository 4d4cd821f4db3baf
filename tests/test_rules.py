"""Rule sets as data (mujun.geo.rules): valid files load, invalid ones are refused naming the key.

The invalid files are written to ``tmp_path`` and read through :mod:`mujun.layers.rulesets`, the
way a user's own rule file reaches the analytics.
"""

from __future__ import annotations

import re

import pytest

from mujun.geo.errors import InputError, MujunError
from mujun.geo.rules import (
    CLASSES,
    DEFAULT_CLASS_NAMES,
    ClassRule,
    ControlRules,
    Indicator,
    RuleError,
    RuleSet,
    control_rules_from_dict,
    rule_set_from_dict,
)
from mujun.layers.rulesets import load_control_rules, load_rule_set

EVALUATION = """\
name = "t"
title = "测试规则"

[population]
min_land_mu = 5.0

[classes]
method = "shares"
shares = { A = 0.10, B = 0.35, C = 0.45, D = 0.10 }

[groups.above_scale]
indicators = [
  { key = "tax_per_mu", weight = 60, benchmark = 20.0 },
  { key = "value_added_per_mu", weight = 40 },
]

[groups.below_scale]
indicators = [ { key = "tax_per_kwh", weight = 100, benchmark = 0.25, cap = 1.5 } ]

[veto]
"91330000abc" = "重大安全事故"

[inefficient]
tax_per_mu_min = { default = 5.0, "17" = 8.0 }
plot_ratio_min = 1.0
plot_ratio_exempt = ["25", "26"]
d_class = true

[idle]
developed_share = 0.3333333333333333
investment_share = 0.25
"""

CONTROL = """\
name = "c"
title = "控制指标"
edition = "GB/T 4754-2002"

[limits]
building_coefficient = [">=", 0.30]
admin_share = ["<=", 0.07]

[plot_ratio_min]
"17" = 0.8
"39" = 0.7
"""


def _write(tmp_path, text: str, name: str = "mine.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _swap(text: str, old: str, new: str) -> str:
    assert old in text, f"test setup: {old!r} not in the base rule file"
    return text.replace(old, new, 1)


# --- valid files -----------------------------------------------------------------------

def test_valid_evaluation_file_parses_every_part(tmp_path):
    r = load_rule_set(_write(tmp_path, EVALUATION))
    assert isinstance(r, RuleSet)
    assert r.name == "t" and r.title == "测试规则"
    # the older single minimum applies to both groups
    assert r.min_land_mu == {"above_scale": 5.0, "below_scale": 5.0}
    assert r.new_production_years == 1
    assert r.groups["above_scale"] == (
        Indicator("tax_per_mu", 60.0, 20.0, None),
        Indicator("value_added_per_mu", 40.0, None, None),
    )
    assert r.groups["below_scale"] == (Indicator("tax_per_kwh", 100.0, 0.25, 1.5),)
    assert r.classes == ClassRule("shares", shares={"A": 0.10, "B": 0.35, "C": 0.45, "D": 0.10})
    assert r.classes.names == DEFAULT_CLASS_NAMES
    # veto codes are upper-cased so they match credit codes however they were typed
    assert r.veto == {"91330000ABC": "重大安全事故"}
    assert r.low_tax_per_mu == {"default": 5.0, "17": 8.0}
    assert r.low_plot_ratio == 1.0 and r.low_plot_ratio_exempt == ("25", "26")
    assert r.d_class_is_inefficient is True
    assert r.idle_developed_share == pytest.approx(1 / 3, abs=1e-15)
    assert r.idle_investment_share == 0.25
    # defaults of what the file leaves out
    assert r.idle_coverage_target == 0.30 and r.bare_builtup_max == 0.10
    assert r.industry_edition == "GB/T 4754-2017"
    assert r.verified is True


def test_defaults_of_a_minimal_rule_set():
    r = rule_set_from_dict({"name": "m", "title": "最小",
                            "groups": {"below_scale": {"indicators": [{"key": "tax_per_mu", "weight": 1}]}}})
    assert r.classes.method == "shares"
    assert r.classes.shares == {"A": 0.10, "B": 0.35, "C": 0.45, "D": 0.10}
    # every 规上 firm whatever its land, 规下 from 3 mu; firms in their first year not scored
    assert r.min_land_mu == {"above_scale": 0.0, "below_scale": 3.0} and r.veto == {}
    assert r.new_production_years == 1
    # every sub-score has a floor of 0 and no cap
    assert r.groups["below_scale"][0].floor == 0.0 and r.groups["below_scale"][0].cap is None
    assert r.low_plot_ratio == 1.0 and r.low_tax_per_mu == {}
    assert tuple(r.classes.names) == CLASSES


def test_scope_and_score_bounds_from_the_file():
    r = rule_set_from_dict({
        "name": "s", "title": "范围",
        "population": {"min_land_mu": 5.0, "above_scale_min_land_mu": 0.0, "new_production_years": 2},
        "scores": {"floor": -0.5, "cap": 3.0},
        "groups": {"above_scale": {"indicators": [
            {"key": "tax_per_mu", "weight": 60},
            {"key": "value_added_per_mu", "weight": 40, "floor": 0, "cap": False},
        ]}}})
    # a group's own minimum wins over the older single key, which still sets the other group
    assert r.min_land_mu == {"above_scale": 0.0, "below_scale": 5.0}
    assert r.new_production_years == 2
    tax, va = r.groups["above_scale"]
    assert (tax.floor, tax.cap) == (-0.5, 3.0)  # the [scores] defaults
    assert (va.floor, va.cap) == (0.0, None)  # its own: cap = false switches the default off
    no_floor = rule_set_from_dict({"name": "n", "title": "无下限", "scores": {"floor": False},
                                   "groups": {"above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 1}]}}})
    assert no_floor.groups["above_scale"][0].floor is None


def test_thresholds_and_class_names_and_plot_ratio_switched_off():
    r = rule_set_from_dict({
        "name": "th", "title": "分数线",
        "groups": {"above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 100}]}},
        "classes": {"method": "thresholds", "thresholds": {"A": 120, "B": 100, "C": 100},
                    "names": {"A": "重点发展", "D": "淘汰关停"}},
        "inefficient": {"plot_ratio_min": False},
    })
    assert r.classes.method == "thresholds"
    assert r.classes.thresholds == {"A": 120.0, "B": 100.0, "C": 100.0}  # equal cut-offs are allowed
    assert r.classes.names == {"A": "重点发展", "B": "提升发展", "C": "调控帮扶", "D": "淘汰关停"}
    assert r.low_plot_ratio is None


def test_valid_control_file(tmp_path):
    c = load_control_rules(_write(tmp_path, CONTROL))
    assert isinstance(c, ControlRules)
    assert c.edition == "GB/T 4754-2002"
    assert c.limits == {"building_coefficient": (">=", 0.30), "admin_share": ("<=", 0.07)}
    assert c.plot_ratio_min == {"17": 0.8, "39": 0.7}


def test_rule_error_is_an_input_error():
    assert issubclass(RuleError, InputError) and issubclass(RuleError, MujunError)


# --- invalid evaluation files ------------------------------------------------------------

BAD_EVALUATION = {
    "unknown top-level key": (
        lambda t: t + '\nweights_version = 2\n', "weights_version"),
    "unknown key in an indicator": (
        lambda t: _swap(t, 'weight = 40 }', 'weight = 40, bench = 3 }'), "bench"),
    "weight not a number": (
        lambda t: _swap(t, "weight = 60,", 'weight = "60",'), "groups.above_scale.indicators[0].weight"),
    "weight negative": (
        lambda t: _swap(t, "weight = 60,", "weight = -60,"), "groups.above_scale.indicators[0].weight"),
    "weight a boolean": (
        lambda t: _swap(t, "weight = 60,", "weight = true,"), "groups.above_scale.indicators[0].weight"),
    "weight missing": (
        lambda t: _swap(t, "weight = 60, ", ""), "groups.above_scale.indicators[0].weight"),
    "shares not summing to 1": (
        lambda t: _swap(t, "D = 0.10 }", "D = 0.20 }"), "classes.shares"),
    "shares missing D": (
        lambda t: _swap(t, "C = 0.45, D = 0.10 }", "C = 0.55 }"), "classes.shares"),
    "share above 1": (
        lambda t: _swap(t, "A = 0.10, B = 0.35, C = 0.45, D = 0.10", "A = 1.5, B = -0.35, C = -0.05, D = -0.1"),
        "classes.shares.A"),
    "thresholds not descending": (
        lambda t: _swap(t, 'method = "shares"\nshares = { A = 0.10, B = 0.35, C = 0.45, D = 0.10 }',
                        'method = "thresholds"\nthresholds = { A = 80, B = 90, C = 60 }'),
        "classes.thresholds"),
    "thresholds missing C": (
        lambda t: _swap(t, 'method = "shares"\nshares = { A = 0.10, B = 0.35, C = 0.45, D = 0.10 }',
                        'method = "thresholds"\nthresholds = { A = 90, B = 80 }'),
        "classes.thresholds"),
    "thresholds not given": (
        lambda t: _swap(t, 'method = "shares"', 'method = "thresholds"'), "classes.thresholds"),
    "bad method": (
        lambda t: _swap(t, 'method = "shares"', 'method = "ranking"'), "classes.method"),
    "unknown class name": (
        lambda t: _swap(t, "[groups.above_scale]", 'names = { E = "其他" }\n\n[groups.above_scale]'),
        "classes.names"),
    "unknown indicator key": (
        lambda t: _swap(t, 'key = "value_added_per_mu"', 'key = "profit_per_mu"'),
        "groups.above_scale.indicators[1].key"),
    "benchmark zero": (
        lambda t: _swap(t, "benchmark = 20.0", "benchmark = 0"), "groups.above_scale.indicators[0].benchmark"),
    "benchmark negative": (
        lambda t: _swap(t, "benchmark = 0.25", "benchmark = -0.25"),
        "groups.below_scale.indicators[0].benchmark"),
    "cap not a number": (
        lambda t: _swap(t, "cap = 1.5", 'cap = "1.5倍"'), "groups.below_scale.indicators[0].cap"),
    "duplicate indicator": (
        lambda t: _swap(t, 'key = "value_added_per_mu"', 'key = "tax_per_mu"'), "groups.above_scale.indicators"),
    "unknown group": (
        lambda t: _swap(t, "[groups.below_scale]", "[groups.small_firms]"), "small_firms"),
    "group without indicators": (
        lambda t: _swap(t, 'indicators = [ { key = "tax_per_kwh", weight = 100, benchmark = 0.25, cap = 1.5 } ]',
                        'label = "规下"'),
        "groups.below_scale.indicators"),
    "empty name": (
        lambda t: _swap(t, 'name = "t"', 'name = "  "'), "name"),
    "min_land_mu negative": (
        lambda t: _swap(t, "min_land_mu = 5.0", "min_land_mu = -1"), "population.min_land_mu"),
    "group minimum negative": (
        lambda t: _swap(t, "min_land_mu = 5.0", "below_scale_min_land_mu = -3"),
        "population.below_scale_min_land_mu"),
    "new production years not an integer": (
        lambda t: _swap(t, "min_land_mu = 5.0", "new_production_years = 1.5"), "population.new_production_years"),
    "new production years negative": (
        lambda t: _swap(t, "min_land_mu = 5.0", "new_production_years = -1"), "population.new_production_years"),
    "floor not a number": (
        lambda t: _swap(t, "[classes]", '[scores]\nfloor = "零"\n\n[classes]'), "scores.floor"),
    "unknown scores key": (
        lambda t: _swap(t, "[classes]", "[scores]\nminimum = 0\n\n[classes]"), "minimum"),
    "floor above cap": (
        lambda t: _swap(t, "cap = 1.5", "cap = 1.5, floor = 2"), "groups.below_scale.indicators[0]"),
    "negative cap": (
        lambda t: _swap(t, "cap = 1.5", "cap = -1"), "groups.below_scale.indicators[0].cap"),
    "unknown population key": (
        lambda t: _swap(t, "min_land_mu = 5.0", "min_area = 5.0"), "min_area"),
    "guideline not a number": (
        lambda t: _swap(t, '"17" = 8.0', '"17" = "八"'), "inefficient.tax_per_mu_min.17"),
    "d_class not boolean": (
        lambda t: _swap(t, "d_class = true", 'd_class = "是"'), "inefficient.d_class"),
    "exempt not a list": (
        lambda t: _swap(t, 'plot_ratio_exempt = ["25", "26"]', 'plot_ratio_exempt = "25"'),
        "inefficient.plot_ratio_exempt"),
    "idle share above 1": (
        lambda t: _swap(t, "investment_share = 0.25", "investment_share = 25"), "idle.investment_share"),
    "unknown idle key": (
        lambda t: _swap(t, "investment_share = 0.25", "years = 2"), "years"),
    "bad industry edition": (
        lambda t: _swap(t, 'title = "测试规则"', 'title = "测试规则"\nindustry_edition = "GB/T 4754-2023"'),
        "industry_edition"),
}


@pytest.mark.parametrize("mutate, key", list(BAD_EVALUATION.values()), ids=list(BAD_EVALUATION))
def test_invalid_evaluation_file_is_refused_naming_the_key(tmp_path, mutate, key):
    path = _write(tmp_path, mutate(EVALUATION))
    with pytest.raises(RuleError) as err:
        load_rule_set(path)
    msg = str(err.value)
    assert key in msg
    assert "mine.toml" in msg  # and the file


def test_indicator_key_that_is_not_text_is_refused(tmp_path):
    path = _write(tmp_path, _swap(EVALUATION, 'key = "value_added_per_mu"', 'key = ["value_added_per_mu"]'))
    with pytest.raises(RuleError, match=r"groups\.above_scale\.indicators\[1\]\.key"):
        load_rule_set(path)


def test_error_messages_say_what_arrived():
    with pytest.raises(RuleError, match=r"weight 应为数字，现为 'abc'"):
        rule_set_from_dict({"name": "t", "title": "t",
                            "groups": {"above_scale": {"indicators": [{"key": "tax_per_mu", "weight": "abc"}]}}})
    with pytest.raises(RuleError, match=r"之和应为 1，现为 1\.1"):
        rule_set_from_dict({"name": "t", "title": "t",
                            "groups": {"above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 1}]}},
                            "classes": {"shares": {"A": 0.2, "B": 0.35, "C": 0.45, "D": 0.1}}})
    with pytest.raises(RuleError, match=r"'profit'.*tax_per_mu"):  # lists the known indicators
        rule_set_from_dict({"name": "t", "title": "t",
                            "groups": {"above_scale": {"indicators": [{"key": "profit", "weight": 1}]}}})


def test_toml_syntax_error_is_a_rule_error(tmp_path):
    path = _write(tmp_path, EVALUATION.replace('title = "测试规则"', 'title = "测试规则'))
    with pytest.raises(RuleError, match="mine.toml.*TOML"):
        load_rule_set(path)


# --- invalid control files --------------------------------------------------------------

BAD_CONTROL = {
    "bad op": (lambda t: _swap(t, '[">=", 0.30]', '["=>", 0.30]'), "limits.building_coefficient"),
    "op and value swapped": (lambda t: _swap(t, '[">=", 0.30]', '[0.30, ">="]'), "limits.building_coefficient"),
    "limit not a pair": (lambda t: _swap(t, '["<=", 0.07]', "0.07"), "limits.admin_share"),
    "limit value text": (lambda t: _swap(t, '["<=", 0.07]', '["<=", "7%"]'), "limits.admin_share"),
    "unknown limit": (lambda t: _swap(t, "admin_share =", "green_share ="), "limits.green_share"),
    "plot_ratio_min key of one digit": (lambda t: _swap(t, '"17" = 0.8', '"7" = 0.8'), "plot_ratio_min"),
    "plot_ratio_min key of three digits": (lambda t: _swap(t, '"17" = 0.8', '"171" = 0.8'), "plot_ratio_min"),
    "plot_ratio_min key not digits": (lambda t: _swap(t, '"17" = 0.8', 'C17 = 0.8'), "plot_ratio_min"),
    "plot_ratio_min negative": (lambda t: _swap(t, '"17" = 0.8', '"17" = -0.8'), "plot_ratio_min.17"),
    "bad edition": (lambda t: _swap(t, '"GB/T 4754-2002"', '"2002"'), "edition"),
    "missing edition": (lambda t: _swap(t, 'edition = "GB/T 4754-2002"\n', ""), "edition"),
    "unknown top-level key": (lambda t: t + '\nzone = "东部"\n', "zone"),
}


@pytest.mark.parametrize("mutate, key", list(BAD_CONTROL.values()), ids=list(BAD_CONTROL))
def test_invalid_control_file_is_refused_naming_the_key(tmp_path, mutate, key):
    path = _write(tmp_path, mutate(CONTROL))
    with pytest.raises(RuleError) as err:
        load_control_rules(path)
    assert key in str(err.value)
    assert "mine.toml" in str(err.value)


def test_plot_ratio_min_key_error_shows_the_key():
    with pytest.raises(RuleError, match="两位行业代码，现为 '171'"):
        control_rules_from_dict({"name": "c", "title": "c", "edition": "GB/T 4754-2002",
                                 "plot_ratio_min": {"171": 0.8}})


def test_evaluation_file_given_as_control_and_control_given_as_evaluation(tmp_path):
    ev = _write(tmp_path, EVALUATION, "ev.toml")
    ctl = _write(tmp_path, CONTROL, "ctl.toml")
    with pytest.raises(RuleError, match="ev.toml 是评价规则，不是用地控制指标"):
        load_control_rules(ev)
    with pytest.raises(RuleError, match="ctl.toml 是用地控制指标，不是评价规则"):
        load_rule_set(ctl)


@pytest.mark.parametrize("patch,key", [
    ({"verified": "false"}, "verified"),
    ({"inefficient": {"tax_per_mu_min": {"1752": 3.0}}}, "inefficient.tax_per_mu_min"),
    ({"inefficient": {"plot_ratio_exempt": ["2", 25]}}, "inefficient.plot_ratio_exempt"),
])
def test_more_invalid_fields_name_their_key(patch, key):
    from mujun.geo.rules import RuleError, rule_set_from_dict

    base = {"name": "t", "title": "t",
            "groups": {"above_scale": {"indicators": [{"key": "tax_per_mu", "weight": 1}]}}}
    with pytest.raises(RuleError, match=re.escape(key)):
        rule_set_from_dict({**base, **patch}, "x.toml")
