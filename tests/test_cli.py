"""The mujun command line: demo, evaluate and their errors (import/rank: test_cli_import)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from mujun.cli import main
from mujun.layers import accounts
from mujun.layers.workspace import Workspace


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def runner():
    return CliRunner()


def test_demo_builds_evaluates_and_summarises(runner, tmp_path):
    ws = tmp_path / "demo.gpkg"
    res = runner.invoke(main, ["demo", "--workspace", str(ws), "--scale", "0.1", "--seed", "5", "--no-serve"])
    assert res.exit_code == 0, res.output
    assert "示例数据（合成）" in res.output
    assert "规上" in res.output and "万元/亩" in res.output
    assert "各区县亩均税收" in res.output
    for part in ("腾笼换鸟台账", "工业用地红线", "区县综合评价", "2019 年价", "标准地指标示例", "差别化措施"):
        assert part in res.output  # every part of the loop is shown on the sample
    meta = Workspace(ws).meta()
    assert meta["sample"] == "1" and meta["evaluated_years"] == "2023,2024,2025"
    # the same seed gives the same data
    first = Workspace(ws).read("parcels")
    res = runner.invoke(main, ["demo", "--workspace", str(ws), "--scale", "0.1", "--seed", "5", "--no-serve"])
    assert res.exit_code == 0, res.output
    again = Workspace(ws).read("parcels")
    assert first.drop(columns="geometry").equals(again.drop(columns="geometry"))
    # the demo accounts, made afresh with each sample, live beside it, not in the GeoPackage
    assert [u.name for u in accounts.list_users(Workspace(ws))] == ["admin", "reviewer", "viewer"]
    assert accounts.store_path(Workspace(ws)).is_file() and b"scrypt:" not in ws.read_bytes()


def test_demo_never_overwrites_a_real_workspace(runner, sample_workspace, tmp_path):
    real = tmp_path / "real.gpkg"
    shutil.copyfile(sample_workspace.path, real)
    Workspace(real).write({}, meta={"sample": "0"})
    digest = _sha(real)
    res = runner.invoke(main, ["demo", "--workspace", str(real), "--scale", "0.1", "--no-serve"])
    assert res.exit_code == 2
    assert res.stderr.startswith("错误：") and "不是示例工作空间" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert _sha(real) == digest


def test_evaluate_prints_summary(runner, sample_workspace, tmp_path):
    ws = tmp_path / "w.gpkg"
    shutil.copyfile(sample_workspace.path, ws)
    res = runner.invoke(main, ["evaluate", "--workspace", str(ws), "--year", "2024"])
    assert res.exit_code == 0, res.output
    assert "2024 年" in res.output and "亩均税收" in res.output and "用时" in res.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["evaluate", "--year", "1999"], "没有 1999 年的企业数据"),
        (["rank", "--level", "park", "--by", "no_such_field"], "无法按 'no_such_field' 排名"),
        (["rank", "--year", "1999"], "没有 1999 年的评价结果"),
        (["rank", "--out", "result.docx"], "无法导出为"),
    ],
)
def test_user_errors_are_one_line_exit_2(runner, sample_workspace, tmp_path, args, message, monkeypatch):
    ws = tmp_path / "w.gpkg"
    shutil.copyfile(sample_workspace.path, ws)
    digest = _sha(ws)
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(main, [*args, "--workspace", str(ws)])
    assert res.exit_code == 2
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.output + res.stderr
    assert _sha(ws) == digest


def test_missing_workspace(runner, tmp_path):
    res = runner.invoke(main, ["evaluate", "--workspace", str(tmp_path / "nope.gpkg")])
    assert res.exit_code == 2
    assert "不存在" in res.stderr
    assert not (tmp_path / "nope.gpkg").exists()


def test_unexpected_errors_do_not_show_tracebacks(runner, monkeypatch, tmp_path):
    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("mujun.service.evaluate", boom)
    monkeypatch.delenv("MUJUN_DEBUG", raising=False)
    res = runner.invoke(main, ["evaluate", "--workspace", str(tmp_path / "x.gpkg")])
    assert res.exit_code == 1
    assert "内部错误" in res.stderr and "Traceback" not in res.stderr


def test_info_lists_layers(runner, sample_workspace):
    res = runner.invoke(main, ["info", "--workspace", str(sample_workspace.path)])
    assert res.exit_code == 0
    assert "parcels" in res.output and "示例数据" in res.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["evaluate", "--year", "abc"], "mujun evaluate：--year 应为整数，收到 'abc'"),
        (["evaluate", "--engine", "spark"], "--engine 应为 default、dask 之一，收到 'spark'"),
        (["rank", "--top", "0"], "mujun rank：--top 应不小于 1，收到 0"),
        (["flags", "--kind", "lazy"], "--kind 应为 idle、inefficient、noncompliant、site_check 之一"),
        (["info", "--bogus"], "mujun info：没有选项 --bogus"),
        (["info", "extra"], "多余的参数：extra"),
        (["user", "add", "bob"], "mujun user add：缺少选项 --role（可选：viewer、reviewer、admin）"),
        (["user", "disable"], "mujun user disable：缺少参数 NAME"),
        (["review", "export"], "mujun review export：缺少选项 --out"),
        (["serve", "--port", "70000"], "--port 应在 1–65535 之间，收到 70000"),
        (["import", "parcels"], "mujun import：缺少参数 PATH"),
        (["nosuch"], "没有命令 'nosuch'；可用的命令："),
        (["--bogus"], "mujun：没有选项 --bogus"),
    ],
)
def test_usage_errors_are_one_line_exit_2(runner, sample_workspace, tmp_path, args, message, monkeypatch):
    ws = tmp_path / "w.gpkg"
    shutil.copyfile(sample_workspace.path, ws)
    digest = _sha(ws)
    monkeypatch.setenv("MUJUN_WORKSPACE", str(ws))
    res = runner.invoke(main, args, prog_name="mujun")
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("错误：") and message in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert "Usage:" not in res.output and "Traceback" not in res.output
    assert _sha(ws) == digest


def test_bare_command_still_shows_help(runner):
    res = runner.invoke(main, [], prog_name="mujun")
    assert "用法:" in res.output and "import" in res.output


# -- --json ------------------------------------------------------------------------------------
def _json(res) -> dict:
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)  # stdout holds the document and nothing else


def test_rank_json_matches_the_table(runner, sample_workspace):
    args = ["rank", "--level", "district", "--by", "tax_per_mu", "--workspace", str(sample_workspace.path)]
    doc = _json(runner.invoke(main, [*args, "--json"]))
    assert doc["command"] == "rank" and doc["level"] == "district" and isinstance(doc["year"], int)
    assert doc["fields"]["tax_per_mu"] == {"label": "亩均税收", "unit": "万元/亩"}
    assert doc["fields"]["name"]["label"] == "行政区名称"
    assert doc["count"] == len(doc["rows"]) == 6
    table = runner.invoke(main, args).stdout
    for row in doc["rows"]:
        assert isinstance(row["tax_per_mu"], float)
        line = next(x for x in table.splitlines() if f" {row['name']} " in f" {x} ")
        assert f"{row['tax_per_mu']:,.2f}" in line and str(row["rank"]) == line.split()[0]


def test_rank_json_with_out_keeps_stdout_clean(runner, sample_workspace, tmp_path):
    res = runner.invoke(main, ["rank", "--level", "enterprise", "--top", "5", "--json", "--out", str(tmp_path / "r.xlsx"),
                               "--workspace", str(sample_workspace.path)])
    doc = _json(res)
    assert doc["count"] == 5 and [r["rank"] for r in doc["rows"]] == [1, 2, 3, 4, 5]
    assert "已导出 5 条" in res.stderr and (tmp_path / "r.xlsx").exists()


def test_flags_json(runner, sample_workspace):
    doc = _json(runner.invoke(main, ["flags", "--kind", "idle", "--json", "--workspace", str(sample_workspace.path)]))
    table = runner.invoke(main, ["flags", "--kind", "idle", "--workspace", str(sample_workspace.path)]).stdout
    assert f"{doc['parcel_count']} 宗，{doc['reason_count']} 条原因" in table
    assert doc["count"] == doc["reason_count"] and {r["kind_label"] for r in doc["rows"]} == {"闲置"}
    assert doc["fields"]["idle_fee"] == {"label": "土地闲置费", "unit": "万元"}
    total = next(t for t in doc["idle"] if t["tier_label"] == "合计")
    assert f"合计 {total['parcel_count']} 宗（{total['area_mu']:,.1f} 亩），土地闲置费 {total['idle_fee']:,.1f} 万元" in table


def test_info_json(runner, sample_workspace):
    doc = _json(runner.invoke(main, ["info", "--json", "--workspace", str(sample_workspace.path)]))
    assert doc["workspace"] == str(sample_workspace.path) and doc["sample"] is True
    layers = {x["name"]: x for x in doc["layers"]}
    assert layers["parcels"]["label"] == "地块" and layers["parcels"]["count"] == sample_workspace.count("parcels")
    assert doc["evaluated_years"] == [int(y) for y in sample_workspace.meta()["evaluated_years"].split(",")]


def test_measures_json_matches_the_totals(runner, sample_workspace):
    doc = _json(runner.invoke(main, ["measures", "--json", "--workspace", str(sample_workspace.path)]))
    table = runner.invoke(main, ["measures", "--workspace", str(sample_workspace.path)]).stdout
    assert f"{doc['enterprise_count']:,} 家企业，{doc['count']:,} 条措施" in table
    assert doc["rules"]["name"] == "measures-example" and doc["fields"]["amount"]["unit"] == "万元"
    money = [t for t in doc["totals"] if t["amount"] is not None]
    assert money
    for t in money:
        assert f"{t['agency']}｜{t['measure']}：{t['enterprise_count']:,} 家，金额 {t['amount']:,.2f} 万元" in table
    assert any(r["amount"] is None for r in doc["rows"])  # NaN is null


# -- click's own messages in Chinese ------------------------------------------------------------------
@pytest.mark.parametrize("args", [["--help"], ["rank", "--help"], ["user", "--help"], ["rules", "compare", "-h"]])
def test_help_is_chinese(runner, args):
    res = runner.invoke(main, args, prog_name="mujun")
    assert res.exit_code == 0
    out = res.stdout
    assert out.startswith("用法: mujun") and "选项:" in out and "显示本帮助并退出。" in out
    for english in ("Usage:", "Options:", "Show this message", "Commands:", "[OPTIONS]", "COMMAND [ARGS]"):
        assert english not in out
    if args[0] in ("--help", "user"):
        assert "命令:" in out and "命令 [参数]..." in out


def test_help_columns_line_up_with_chinese(runner):
    from mujun.clicktext import display_width

    out = runner.invoke(main, ["rank", "--help"], prog_name="mujun").stdout
    starts = {display_width(m.group(1)) for line in out.splitlines()
              if (m := re.match(r"^(  -\S.*?\s{2,})\S", line))}
    assert len(starts) == 1, starts  # every option's help starts in the same column


def test_group_lists_commands_by_their_first_phrase(runner):
    out = runner.invoke(main, ["--help"], prog_name="mujun").stdout
    assert re.search(r"^  flags +列出被标记的地块$", out, flags=re.M)
    assert re.search(r"^  import +导入数据$", out, flags=re.M)
    assert "..." not in out.split("命令:")[1]


def test_version_is_chinese(runner):
    res = runner.invoke(main, ["--version"], prog_name="mujun")
    assert res.exit_code == 0 and re.match(r"^mujun，版本 \S+$", res.stdout.strip())


@pytest.mark.parametrize("args,message", [
    (["rank", "--bogus"], "mujun rank：没有选项 --bogus"),
    (["import"], "mujun import：缺少参数 KIND"),
    (["rank", "--level", "county"], "mujun rank：--level 应为 enterprise、parcel、park、platform、district 之一，收到 'county'"),
    (["rank", "--top"], "选项 --top 需要一个值"),
])
def test_usage_errors_in_chinese(runner, args, message):
    res = runner.invoke(main, args, prog_name="mujun")
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [res.stderr.strip()] and message in res.stderr
    assert not re.search(r"[A-Z][a-z]+ [a-z]+ [a-z]+", res.stderr.replace("mujun", ""))  # no English sentence


def test_click_messages_outside_usage_errors_are_chinese():
    import click

    from mujun import clicktext

    assert click.core._("Aborted!") == "已取消。"
    assert click.exceptions._("Missing argument") == "缺少参数"
    assert click.termui._("Error: The two entered values do not match.") == "错误：两次输入不一致。"
    assert clicktext.translate_plural("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)", 2) \
        == "（是否想用：{possibilities}？）"


# -- shell completion --------------------------------------------------------------------------------
@pytest.mark.parametrize("shell,marker", [("bash", "complete -o nosort -F _mujun_completion mujun"),
                                          ("zsh", "#compdef mujun"), ("fish", "complete --no-files --command mujun")])
def test_completion_script(runner, shell, marker):
    res = runner.invoke(main, [], prog_name="mujun", env={"_MUJUN_COMPLETE": f"{shell}_source"})
    assert res.exit_code == 0 and marker in res.stdout


def test_completion_completes_commands_and_choices(runner):
    env = {"_MUJUN_COMPLETE": "bash_complete", "COMP_WORDS": "mujun ra", "COMP_CWORD": "1"}
    assert runner.invoke(main, [], prog_name="mujun", env=env).stdout.split() == ["plain,rank"]
    env = {**env, "COMP_WORDS": "mujun rank --level p", "COMP_CWORD": "3"}
    assert runner.invoke(main, [], prog_name="mujun", env=env).stdout.split() == ["plain,parcel", "plain,park",
                                                                                 "plain,platform"]


# -- a missing workspace is named as missing ---------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["rank"], ["rank", "--json"], ["flags"], ["flags", "--json"], ["info"], ["info", "--json"], ["measures"],
    ["measures", "--json"], ["remediation"], ["review", "export", "--out", "x.xlsx"],
    ["standard-land", "--district", "柯桥区", "--industry", "17"], ["rules", "compare", "zhejiang-default", "huangyan-2022"],
    ["evaluate"], ["user", "list"], ["user", "disable", "bob"],
])
def test_missing_workspace_is_named_as_missing(runner, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "没有.gpkg"
    res = runner.invoke(main, [*args, "--workspace", str(missing)], prog_name="mujun")
    assert res.exit_code == 2, res.output
    assert res.stdout == ""
    assert res.stderr.startswith(f"错误：工作空间 {missing} 不存在") and "mujun import" in res.stderr \
        and "mujun demo" in res.stderr
    assert "还没有评价结果" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not missing.exists()


# -- Shapefile exports from the command line ---------------------------------------------------
def test_rank_and_flags_export_shapefiles(runner, sample_workspace, tmp_path):
    import pyogrio

    from mujun.layers.export import short_names

    w = ["--workspace", str(sample_workspace.path)]
    res = runner.invoke(main, ["rank", "--level", "parcel", "--top", "30", "--out", str(tmp_path / "地块.shp"), *w])
    assert res.exit_code == 0, res.stderr
    back = pyogrio.read_dataframe(tmp_path / "地块.shp", encoding="GBK")
    assert len(back) == 30 and back.crs.to_epsg() in (4548, 4549, 4550)
    assert back[short_names(["holder_name"])["holder_name"]].str.contains("示例").all()
    assert (tmp_path / "地块_字段说明.csv").exists() and (tmp_path / "地块.cpg").read_text() == "GBK"
    res = runner.invoke(main, ["flags", "--kind", "idle", "--out", str(tmp_path / "闲置.shp"), *w])
    assert res.exit_code == 0, res.stderr
    flagged = pyogrio.read_dataframe(tmp_path / "闲置.shp", encoding="GBK")
    assert len(flagged) > 0 and flagged.geometry.notna().all()
    assert set(flagged[short_names(["kind_label"])["kind_label"]]) == {"闲置"}


@pytest.mark.parametrize("args", [["rank", "--out", "企业.shp"], ["measures", "--out", "措施.shp"],
                                  ["rank", "--level", "park", "--out", "园区.docx"]])
def test_exports_refused_before_any_work(runner, sample_workspace, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(main, [*args, "--workspace", str(sample_workspace.path)])
    assert res.exit_code == 2 and res.stdout == ""
    assert "无法导出为" in res.stderr or "没有图形，无法导出为 Shapefile" in res.stderr
    assert list(tmp_path.iterdir()) == []


def _command(*args: str, cwd) -> subprocess.CompletedProcess:
    """``mujun`` as a user runs it: its own process, through the console script's entry."""
    return subprocess.run([sys.executable, "-c", "from mujun.cli import run; run()", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_the_command_ends_with_its_status_and_all_it_printed(sample_workspace, tmp_path):
    """The command leaves without the interpreter's teardown, once its work is done: its exit
    status is the command's, what it printed is all there, its exit functions ran."""
    done = _command("rank", "--level", "enterprise", "--workspace", str(sample_workspace.path), "--top", "500",
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    again = CliRunner().invoke(main, ["rank", "--level", "enterprise", "--workspace", str(sample_workspace.path),
                                      "--top", "500"])
    assert done.stdout == again.output and len(done.stdout.splitlines()) > 100
    missing = _command("evaluate", "--workspace", str(tmp_path / "无.gpkg"), cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.startswith("错误：工作空间") and len(missing.stderr.splitlines()) == 1
    assert _command("--version", cwd=tmp_path).returncode == 0
    assert _command("bogus", cwd=tmp_path).returncode == 2


def test_output_read_only_in_part_ends_the_command_quietly(sample_workspace, tmp_path):
    """A ranking piped into ``head``: once the reader stops, the command ends without a word
    on stderr (no internal error), with the status a shell gives a command ended by SIGPIPE."""
    proc = subprocess.Popen([sys.executable, "-c", "from mujun.cli import run; run()", "rank", "--level",
                             "enterprise", "--top", "100000", "--workspace", str(sample_workspace.path)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().decode().startswith("2025 年企业排名")
    proc.stdout.close()
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and err == ""
