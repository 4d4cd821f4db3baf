"""The mujun command line: demo, evaluate and their errors (import/rank: test_cli_import)."""

from __future__ import annotations

import hashlib
import shutil

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
    assert "Usage:" in res.output and "import" in res.output
