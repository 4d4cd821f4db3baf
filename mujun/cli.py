"""The ``mujun`` command line.

Errors a user can cause are printed as one line on stderr with exit status 2, never a
traceback; set ``MUJUN_DEBUG=1`` to see tracebacks of unexpected failures.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import re
import secrets
import sys
import threading
import unicodedata
import warnings
from pathlib import Path
from typing import NoReturn

import click
import pandas as pd

from mujun import clicktext, engines
from mujun.geo.errors import InputError, MujunError
from mujun.geo.flags import CHECK_KINDS, FLAG_KINDS
from mujun.layers import accounts, reader
from mujun.layers.review import log_event
from mujun.layers.schema import FIELDS_BY_NAME, KINDS, RESULT_TABLES, label
from mujun.layers.workspace import Workspace, missing_workspace, not_evaluated

__all__ = ["main"]

clicktext.install()  # click's own help headings and messages in Chinese

#: Accounts ``mujun demo`` creates in the sample workspace: (name, role, full name).
DEMO_USERS = (("admin", "admin", "示例管理员"), ("reviewer", "reviewer", "示例审核员"), ("viewer", "viewer", "示例查看员"))
_LEVELS = ("enterprise", "parcel", "park", "platform", "district")


_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click >= 8.2: shows the help


class _UsageLine(click.UsageError):
    """A usage error shown as one line on stderr (click shows usage, a hint and the error)."""

    def show(self, file=None) -> None:
        click.echo("错误：" + self.message, err=True)


def _param_name(param: click.Parameter | None) -> str:
    if isinstance(param, click.Option):
        return max(param.opts, key=len)
    return param.human_readable_name if param is not None else "参数"


def _bad_value(err: click.BadParameter) -> str:
    """What was wrong with an option's or argument's value, in Chinese where click's types allow."""
    name = _param_name(err.param)
    t = err.param.type if err.param is not None else None
    got = re.match(r"^'(.*)' is not", err.message, flags=re.S)
    got = f"，收到 '{got.group(1)}'" if got else ""
    if isinstance(t, click.Choice):
        return f"{name} 应为 {'、'.join(map(str, t.choices))} 之一{got}"
    if isinstance(t, click.IntRange | click.FloatRange) and "range" in err.message:
        if t.min is not None and t.max is not None and not (t.min_open or t.max_open):
            bounds = f"在 {t.min}–{t.max} 之间"
        else:
            bounds = "、".join(x for x in (
                "" if t.min is None else f"{'大于' if t.min_open else '不小于'} {t.min}",
                "" if t.max is None else f"{'小于' if t.max_open else '不大于'} {t.max}") if x)
        return f"{name} 应{bounds}，收到 {err.message.split(' is not')[0]}"
    if isinstance(t, click.types.IntParamType):
        return f"{name} 应为整数{got}"
    if isinstance(t, click.types.FloatParamType):
        return f"{name} 应为数字{got}"
    return f"{name} 的值无效（{err.message}）"


def _usage_line(err: click.UsageError) -> str:
    """One Chinese line for a click usage error: what was wrong and where to see the usage."""
    ctx = err.ctx
    path = ctx.command_path if ctx is not None else "mujun"
    if isinstance(err, click.MissingParameter):
        what = "参数" if isinstance(err.param, click.Argument) else "选项"
        text = f"缺少{what} {_param_name(err.param)}"
        if err.param is not None and isinstance(err.param.type, click.Choice):
            text += f"（可选：{'、'.join(map(str, err.param.type.choices))}）"
    elif isinstance(err, click.BadParameter):
        text = _bad_value(err)
    elif isinstance(err, click.NoSuchOption):
        text = f"没有选项 {err.option_name}"
        if err.possibilities:
            text += f"，是否想用 {'、'.join(sorted(err.possibilities))}"
    elif isinstance(err, click.BadOptionUsage):
        verb = "不接受值" if "does not take" in err.message else "需要一个值"
        text = f"选项 {err.option_name} {verb}"
    elif m := re.match(r"^No such command '(.*)'", err.message):
        names = ctx.command.list_commands(ctx) if ctx is not None and isinstance(ctx.command, click.Group) else []
        text = f"没有命令 '{m.group(1)}'" + (f"；可用的命令：{'、'.join(names)}" if names else "")
    elif m := re.match(r"^Got unexpected extra arguments? \((.*)\)", err.message):
        text = f"多余的参数：{m.group(1)}"
    else:
        text = "用法有误（" + " ".join(err.message.split()) + "）"
    return f"{path}：{text}；用 {path} --help 查看用法"


class _Command(click.Command):
    """A command whose usage line reads ``mujun rank [选项]`` and whose line in the command list
    is its first sentence (:func:`mujun.clicktext.short_help`)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("options_metavar", "[选项]")
        super().__init__(*args, **kwargs)

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.short_help or clicktext.short_help(self.help, limit)


class _Group(click.Group):
    """Turns every error into one line on stderr and an exit status."""

    command_class = _Command
    group_class = type  # subgroups are of this class too

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("options_metavar", "[选项]")
        kwargs.setdefault("subcommand_metavar", "命令 [参数]...")
        super().__init__(*args, **kwargs)

    get_short_help_str = _Command.get_short_help_str

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except (_UsageLine, _NO_ARGS_IS_HELP):
            raise
        except click.UsageError as err:
            raise _UsageLine(_usage_line(err), ctx) from None

    def invoke(self, ctx: click.Context):
        # GDAL's notes (laundered field names, driver remarks) are not for the user
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="pyogrio")
        try:
            return super().invoke(ctx)
        except (_UsageLine, _NO_ARGS_IS_HELP):
            raise
        except click.UsageError as err:
            raise _UsageLine(_usage_line(err), err.ctx) from None
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except MujunError as err:
            click.echo("错误：" + " ".join(str(err).split("\n")), err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("已取消；工作空间未改动", err=True)
            ctx.exit(130)
        except BrokenPipeError:  # what reads the output has stopped (… | head): nothing left to say
            # to it; the rest of the output goes nowhere, and the status is a shell's for SIGPIPE
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            ctx.exit(141)
        except Exception as err:
            if os.environ.get("MUJUN_DEBUG"):
                raise
            click.echo(f"内部错误：{type(err).__name__}: {' '.join(str(err).split())}"
                       f"（设置环境变量 MUJUN_DEBUG=1 可查看详细信息，并请报告此问题）", err=True)
            ctx.exit(1)


def _existing(workspace: Path | None) -> Workspace:
    """The workspace of ``--workspace`` (or its default), which must exist: a missing file is
    named as missing, with how to create one."""
    ws = Workspace.resolve(workspace)
    if not ws.exists():
        raise missing_workspace(ws.path)
    return ws


def _json_option(f):
    return click.option("--json", "as_json", is_flag=True,
                        help="向标准输出写一个 JSON 文档（供脚本使用；字段为标准英文名，fields 给出中文名和单位，"
                             "缺失值为 null），其他提示写到标准错误")(f)


def _workspace_option(f):
    return click.option(
        "--workspace", "-w", type=click.Path(dir_okay=False, path_type=Path), default=None,
        help="工作空间 GeoPackage 文件（默认取环境变量 MUJUN_WORKSPACE，否则 ./mujun.gpkg）",
    )(f)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mujun")
def main() -> None:
    """mujun 亩均论英雄：工业用地亩均效益的图层、分析、排名与地图。"""


@main.command("import")
@click.argument("kind", metavar="KIND")
@click.argument("path", type=click.Path(path_type=Path))
@_workspace_option
@click.option("--layer", help="要导入的图层（GeoPackage、FileGDB 等多图层文件）或工作表（XLSX，默认第一个）")
@click.option("--encoding", help="属性编码，如 GBK、UTF-8（默认：按 .cpg，没有则自动判定）")
@click.option("--crs", help="源数据坐标系，如 EPSG:4549（文件没有坐标系时必须指定）")
@click.option("--map", "mapping", multiple=True, metavar="SRC=DST",
              help="字段对应：源字段=标准字段，可重复，如 --map 纳税额=tax")
@click.option("--year", type=int, help="企业表的年度（表中没有年度字段时），或只导入该年度")
@click.option("--kind", "raster_kind", type=click.Choice(["builtup", "landcover"]),
              help="栅格类型（KIND 为 raster 时）：builtup 建成比例，landcover 土地覆盖分类")
@click.option("--classes", help="landcover 中算作建成区的类别值，逗号分隔（如 ESA WorldCover 为 50）")
@click.option("--scale", "raster_scale", type=float, help="builtup 栅格中“完全建成”的数值（比例为 1，百分比为 100）")
def import_cmd(kind, path, workspace, layer, encoding, crs, mapping, year, raster_kind, classes,
               raster_scale) -> None:
    """导入数据：KIND 为 districts、parks、platforms、parcels、buildings、enterprises、units（工业产业单元）、
    landuse（土地利用现状或规划城镇建设用地的地类图斑）、supplies（收回与再供应记录）或 raster。

    支持 Shapefile、GeoPackage、GeoJSON、FileGDB、FlatGeobuf、GeoParquet；企业表还支持 CSV、XLSX；
    raster 为 GeoTIFF（登记引用，不复制文件），用于核查地块的实际建成情况。
    """
    from mujun.layers.importer import import_layer

    ws = Workspace.resolve(workspace)
    if kind == "raster":
        _import_raster(ws, path, raster_kind, classes, raster_scale)
        return
    if raster_kind or classes or raster_scale is not None:
        raise MujunError("--kind、--classes、--scale 只用于 mujun import raster")
    res = import_layer(ws, kind, path, layer=layer, encoding=encoding, crs=crs, overrides=mapping, year=year)
    for line in res.summary():
        click.echo(line)
    click.echo(f"工作空间：{ws.path}")


def _import_raster(ws: Workspace, path: Path, kind: str | None, classes: str | None, scale: float | None) -> None:
    from mujun.layers.rasters import register_raster

    if kind is None:
        raise MujunError("导入栅格需要 --kind builtup 或 --kind landcover")
    codes = None
    if classes:
        try:
            codes = [int(c) for c in classes.replace("，", ",").split(",") if c.strip()]
        except ValueError:
            raise MujunError(f"--classes 应为逗号分隔的整数，如 50 或 50,60；收到 '{classes}'") from None
    row = register_raster(ws, path, kind, classes=codes, scale=scale)
    what = {"builtup": "建成比例栅格", "landcover": "土地覆盖栅格"}[kind]
    click.echo(f"已登记{what} {Path(row['path']).name}（{row['width']} × {row['height']} 像元，"
               f"分辨率 {row['resolution']:g}，坐标系 {row['crs']}）")
    if row.get("parcels_total"):
        click.echo(f"覆盖 {row['parcels_covered']}/{row['parcels_total']} 宗地块")
    for note in row.get("notes") or []:
        click.echo(note)
    click.echo(f"工作空间：{ws.path}（只保存文件引用；请勿移动或修改该文件，重新评价时使用）")


_deflator_option = click.option(
    "--deflator", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
    help="价格指数文件（.toml，年份 = 指数，上年=100），把增加值、税收折算为 2019 年不变价后与 2025 年目标比较"
         "（默认：自带的示例值）")


class _EngineChoice(click.Choice):
    """The engines offered (:data:`mujun.engines.NAMES`: ``default``, ``dask``); the
    registry's own name of the default engine, ``local``, is taken too without being listed."""

    def __init__(self) -> None:
        super().__init__(list(engines.NAMES))

    def convert(self, value, param, ctx):
        if value in engines.ENGINES:
            return value
        return super().convert(value, param, ctx)


@main.command()
@_workspace_option
@click.option("--year", type=int, help="评价年度（默认：企业数据中最新的年度）")
@click.option("--all-years", is_flag=True, help="评价企业数据中的每个年度")
@click.option("--rules", default="zhejiang-default", show_default=True, metavar="NAME|FILE",
              help="评价规则：内置名称（见 mujun rules）或 .toml 文件")
@click.option("--control", default="gb-2008", show_default=True, metavar="NAME|FILE",
              help="用地控制指标：gb-2008、gb-2023（未核实）或 .toml 文件")
@click.option("--veto", "veto_file", type=click.Path(dir_okay=False, path_type=Path),
              help="一票否决名单（CSV/XLSX，列：统一社会信用代码、原因）")
@click.option("--as-of", help="认定闲置土地、检查出让合同的日期（默认：评价年度的 12 月 31 日）")
@click.option("--engine", type=_EngineChoice(), default="default", show_default=True,
              help="计算引擎：default 本机单进程；dask 在 dask 集群上分区计算（需 pip install 'mujun[dask]'），结果相同")
@click.option("--scheduler", metavar="ADDRESS",
              help="dask 调度器地址，如 tcp://192.168.1.10:8786（默认：在本机启动本地集群，进程数为 CPU 核数）")
@click.option("--partitions", type=click.IntRange(min=1), help="dask 引擎把地块和建筑各分成几块（默认：按工作线程和数据量）")
@click.option("--full", is_flag=True,
              help="重新计算全部几何（面积、建筑、空间归属、影像）；默认在地块、建筑、区域图层和影像未变时复用上次的几何计算结果")
@_deflator_option
def evaluate(workspace, year, all_years, rules, control, veto_file, as_of, engine, scheduler, partitions,
             full, deflator) -> None:
    """计算并保存亩均效益、综合评价分类、用地指标达标、闲置与低效用地和平台评估。"""
    from mujun.layers.rulesets import load_price_index
    from mujun.service import evaluate as run

    index = load_price_index(deflator)  # a bad file is reported before the evaluation runs
    ws = Workspace.resolve(workspace)  # the service names a missing one, after checking the engine options
    res = run(ws, year, all_years=all_years, rules=rules, control=control, veto_file=veto_file, as_of=as_of,
              engine=engine, scheduler=scheduler, partitions=partitions, full=full)
    click.echo("复用几何计算结果（图层未变）" if res.geometry_reused else "重新计算几何（面积、建筑与空间归属）")
    for table, rows in res.revised.items():
        if rows is not None:
            click.echo(f"{RESULT_TABLES.get(table, table)}：" + (f"只更新有变化的 {rows:,} 行，其余各行与上次相同" if rows
                                                                 else "与上次相同，未改写"))
    for line in _evaluation_lines(res):
        click.echo(line)
    for y in res.years:
        for line in _target_lines(res.target_figures(y, deflator=index)):
            click.echo(line)
    click.echo(f"用时 {res.seconds:.1f} 秒；结果已保存到 {ws.path}")


def _evaluation_lines(res) -> list[str]:
    level_words = {"enterprise": "家企业", "parcel": "宗地块", "park": "个园区", "platform": "个平台", "district": "个行政区"}
    group_words = {"above_scale": "规上", "below_scale": "规下"}
    lines = [f"评价规则 {res.rules}；用地控制指标 {res.control}"]
    for y in res.years:
        counts = "，".join(f"{n} {level_words[k]}" for k, n in res.counts[y].items())
        o = res.overall[y]
        lines.append(f"{y} 年：{counts}")
        parts = [f"亩均税收 {_fmt(o.get('tax_per_mu'))} 万元/亩", f"亩均增加值 {_fmt(o.get('value_added_per_mu'))} 万元/亩"]
        if "above_scale_tax_per_mu" in o:
            parts.append(f"规上（{int(o['above_scale_enterprises'])} 家）亩均税收 {_fmt(o['above_scale_tax_per_mu'])} 万元/亩、"
                         f"亩均增加值 {_fmt(o['above_scale_value_added_per_mu'])} 万元/亩")
        lines.append("  " + "；".join(parts))
        table = res.classes.get(y)
        if table is not None:
            for group, row in table.iterrows():
                shares = "，".join(
                    f"{c} {int(row.get(c, 0))} 家（{row.get(c + '_share', 0) * 100:.1f}%）" for c in "ABCD")
                lines.append(f"  {group_words.get(group, group)}分类：{shares}")
        if y in res.flags:
            f = res.flags[y]
            lines.append("  标记地块：" + "，".join(
                f"{name} {f[k][0]} 宗（{f[k][1]:,.1f} 亩）" for k, name in FLAG_KINDS.items()))
            tax, va = res.whatif[y]
            lines.append(f"  若标记地块达到所在区县同行业亩均中位数：税收可增 {tax / 1e4:,.2f} 亿元，增加值可增 {va / 1e4:,.2f} 亿元")
    return lines


def _target_lines(t) -> list[str]:
    """The year's 2025 targets for 规上工业 in current and 2019 prices (:class:`mujun.service.TargetFigures`)."""
    base = t.index.base_year
    note = "示例值，未核实" if t.index.example else (t.index.source or t.index.file)
    lines = [f"{t.year} 年规上工业对照 2025 年目标（{base} 年不变价 = 当年价 ÷ 价格水平 {t.price_level:.4f}；"
             f"价格指数 {t.index.title or t.index.name}，{note}）："]
    for key, r in t.table.iterrows():  # six indicators
        f = FIELDS_BY_NAME[key]
        u = f.unit or ""
        op = "≥" if r["op"] == ">=" else "≤"
        if r["missing"]:
            lacking = "、".join(FIELDS_BY_NAME[m].label for m in str(r["missing"]).split(","))
            lines.append(f"    {f.label}：缺少数据（{lacking}），无法计算；目标 {op} {r['target']:g} {u}")
            continue
        state = "已达到" if r["met"] else "未达到"
        lines.append(f"    {f.label} 当年价 {_fmt(r['value'])} {u}，{base} 年价 {_fmt(r['value_constant'])} {u}；"
                     f"目标 {op} {r['target']:g} {u}，{state}（{int(r['firms']):,} 家）")
    return lines


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return "—"
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, float):
        return f"{v:,.2f}"
    return str(v)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(frame: pd.DataFrame, headers: list[str]) -> str:
    cells = [[_fmt(v) for v in row] for row in frame.itertuples(index=False)]
    widths = [max([_width(h)] + [_width(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]

    def line(values):
        out = []
        for v, w, num in zip(values, widths, numeric, strict=True):
            pad = " " * (w - _width(v))
            out.append(pad + v if num else v + pad)
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), line(["─" * w for w in widths]), *map(line, cells)])


@main.command()
@click.option("--level", type=click.Choice(_LEVELS), default="enterprise", show_default=True, help="排名层级")
@click.option("--by", "by", default="tax_per_mu", show_default=True,
              help="排名字段，如 score、tax_per_mu、value_added_per_mu、area_mu、plot_ratio；"
                   "行政区、园区、平台还可按 composite（区域综合得分，规则 zones-example）")
@click.option("--year", type=int, help="年度（默认：最近评价的年度）")
@click.option("--top", type=click.IntRange(min=1), help="只列前 N 名")
@click.option("--ascending", is_flag=True, help="从低到高排（找末位）")
@click.option("--class", "classes", multiple=True, metavar="A|B|C|D", help="只看某类企业（可重复）")
@click.option("--district", help="只看一个行政区（名称或代码）")
@click.option("--industry", help="只看某行业（行业代码开头，如 17 或 1752）")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="导出到 .xlsx、.csv、.gpkg 或 .shp 文件（.gpkg、.shp 带图形，企业层级没有图形）")
@_json_option
@_workspace_option
def rank(level, by, year, top, ascending, classes, district, industry, out, as_json, workspace) -> None:
    """按指标排名并导出（XLSX/CSV 为中文表头；GeoPackage 为标准英文字段并带图形；Shapefile 为 GBK 编码、
    短字段名，另附字段说明）。"""
    from mujun.layers.export import check_export_path, chinese_headers, is_share, json_document
    from mujun.service import LEVEL_VIEWS, export_ranking, ranking, ranking_columns

    ws = _existing(workspace)
    if out is not None:
        check_export_path(out, geometry=level != "enterprise")
    classes = tuple(c.upper() for c in classes)
    frame, y = ranking(ws, level, by, year=year, top=top, ascending=ascending, classes=classes,
                       district=district, industry=industry)
    view = LEVEL_VIEWS[level]
    cols = ["rank", *view.table, by]
    if "class" in frame.columns:
        cols += ["class", "class_name"]
    if by != "area_mu" and "area_mu" in frame.columns and level != "enterprise":
        cols.append("area_mu")
    if level == "enterprise" and by != "land_mu":
        cols.append("land_mu")
    cols = [c for c in dict.fromkeys(cols) if c in frame.columns]
    shown = frame[cols] if top is not None else frame[cols].head(20)
    shown = shown.assign(**{c: shown[c] * 100 for c in cols if is_share(c)})  # shares as percentages
    headers = chinese_headers(cols, {"name": view.name_header})
    filters = "，".join(x for x in (
        "分类 " + "/".join(classes) if classes else "", f"行政区 {district}" if district else "",
        f"行业 {industry}" if industry else "") if x)
    if as_json:
        click.echo(json_document(
            frame[ranking_columns(frame, level, by)], headers={"name": view.name_header}, command="rank", year=y,
            level=level, level_label=view.label, by=by, ascending=ascending,
            filters={"class": list(classes), "district": district, "industry": industry}))
    else:
        click.echo(f"{y} 年{view.label}排名（按 {label(by)}{'，从低到高' if ascending else ''}"
                   f"{'；' + filters if filters else ''}）")
        click.echo(_table(shown, headers))
        if top is None and len(frame) > len(shown):
            click.echo(f"……共 {len(frame)} 条，用 --top N 显示更多，或 --out 导出全部")
    if out is not None:
        p = export_ranking(frame, level, by, y, out, ws)
        click.echo(f"已导出 {len(frame)} 条到 {p}", err=as_json)


@main.group(invoke_without_command=True)
@click.pass_context
def rules(ctx: click.Context) -> None:
    """列出内置的评价规则、用地控制指标和差别化措施规则；mujun rules compare 比较两套评价规则。"""
    if ctx.invoked_subcommand is not None:
        return
    from mujun.layers.rulesets import available_rules

    kinds = {"evaluation": "评价规则（--rules）", "control": "用地控制指标（--control）",
             "measures": "差别化措施（mujun measures --measures）",
             "standard_land": "标准地指标建议（mujun standard-land --rules）",
             "zones": "区域综合评价（mujun rank --level district --by composite）",
             "redline": "工业用地红线（mujun redline --rules）"}
    for kind, title in kinds.items():
        click.echo(title)
        for info in available_rules():
            if info.kind == kind:
                note = "  【含示例值】" if kind in ("measures", "standard_land", "zones", "redline") and not info.verified else (
                    "" if info.verified else "  【数值未核实】")
                click.echo(f"  {info.name:<18} {info.title}{note}")
    click.echo("也可以用 .toml 文件路径指定自己的规则，格式参照内置文件。")


@rules.command("compare")
@click.argument("before", metavar="A")
@click.argument("after", metavar="B")
@click.option("--year", type=int, help="评价年度（默认：企业数据中最新的年度）")
@click.option("--veto", "veto_file", type=click.Path(dir_okay=False, path_type=Path),
              help="一票否决名单（CSV/XLSX，两套规则都用）")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="把分类变化的企业导出到 .xlsx 或 .csv 文件")
@_workspace_option
def rules_compare(before, after, year, veto_file, out, workspace) -> None:
    """用规则 A 和 B 分别评价同一年度，列出分类迁移矩阵（A 的分类 → B 的分类）；不改动工作空间。"""
    from mujun.service import compare_rules, export_rule_comparison

    ws = _existing(workspace)
    cmp = compare_rules(ws, before, after, year, veto_file=veto_file)
    click.echo(f"{cmp.year} 年分类迁移：{cmp.before}（行）→ {cmp.after}（列），单位：家")
    titles = {"above_scale": "规上企业", "below_scale": "规下企业", "all": "合计"}
    for group, table in cmp.matrix.items():
        frame = table.copy()
        frame["合计"] = frame.sum(axis=1)
        frame.loc["合计"] = frame.sum(axis=0)
        frame.insert(0, "_", frame.index.astype(str))
        click.echo(titles.get(group, group))
        click.echo(_table(frame, ["", *[f"→ {c}" for c in table.columns], "合计"]))
    moved = cmp.changed
    scored = moved["class_before"].notna() & moved["class_after"].notna()
    click.echo(f"分类改变 {len(moved)} 家：升 {int((moved['change'] == '升').sum())} 家、"
               f"降 {int((moved['change'] == '降').sum())} 家、参评范围改变 {int((~scored).sum())} 家")
    if out is not None:
        p = export_rule_comparison(cmp, out, ws)
        click.echo(f"已导出 {len(moved)} 家分类改变的企业到 {p}")


@main.command("measures")
@click.option("--year", type=int, help="年度（默认：最近评价的年度）")
@click.option("--measures", "rules", default="measures-example", show_default=True, metavar="NAME|FILE",
              help="差别化措施规则：内置名称（见 mujun rules）或 .toml 文件")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="导出到 .xlsx（按部门分表，另有按分类和区县的汇总）或 .csv（全部明细）文件")
@_json_option
@_workspace_option
def measures_cmd(year, rules, out, as_json, workspace) -> None:
    """按评价分类列出差别化措施：每家企业每项措施的标准、计费基数和金额（万元）或处理方式。"""
    from mujun.layers.export import check_export_path, json_document
    from mujun.service import MEASURE_EXPORT, MEASURE_TOTALS, export_measures, measures

    ws = _existing(workspace)
    if out is not None:
        check_export_path(out, suffixes=(".xlsx", ".csv"))
    res = measures(ws, year, rules=rules)
    if as_json:
        rows = res.rows[[c for c in MEASURE_EXPORT if c in res.rows.columns]]
        click.echo(json_document(
            rows, headers={"name": "企业名称"}, command="measures", year=res.year,
            rules={"name": res.rules.name, "title": res.rules.title, "verified": res.rules.verified},
            enterprise_count=int(res.rows["credit_code"].nunique()), totals=res.totals(list(MEASURE_TOTALS))))
    else:
        click.echo(f"{res.year} 年差别化措施（{res.rules.title}）：{res.rows['credit_code'].nunique():,} 家企业，"
                   f"{len(res.rows):,} 条措施")
        for line in _measure_lines(res):
            click.echo(line)
    if out is not None:
        p = export_measures(res, out, ws)
        click.echo(f"已导出 {len(res.rows):,} 条到 {p}", err=as_json)


def _measure_lines(res) -> list[str]:
    """Totals by agency and measure, then by class: 金额 for money measures, else the treatment's count."""
    from mujun.service import MEASURE_TOTALS

    lines = []
    t = res.totals(list(MEASURE_TOTALS))
    for r in t.itertuples(index=False):
        what = r.measure if pd.isna(r.treatment) else f"{r.measure}·{r.treatment}"
        text = f"  {r.agency}｜{what}：{r.enterprise_count:,} 家"
        if not pd.isna(r.amount):
            text += f"，金额 {r.amount:,.2f} 万元"
        if not pd.isna(r.quantity):
            text += f"，数量 {r.quantity:,.2f} {r.quantity_unit}"
        if r.missing_count:
            text += f"（另 {r.missing_count:,} 家缺少计费基数，未计入）"
        lines.append(text)
    by_class = res.totals(["class", "agency", "measure", "measure_kind"])
    money = by_class[by_class["amount"].notna()]
    for cls, part in money.groupby("class", sort=True):
        parts = "，".join(f"{r.agency}{r.measure} {r.amount:,.2f}" for r in part.itertuples(index=False))
        lines.append(f"  {cls} 类金额（万元）：{parts}")
    return lines


@main.command("flags", help=f"列出被标记的地块（{'、'.join(FLAG_KINDS.values())}）及原因，以及影像与建筑数据矛盾、"
                           f"{CHECK_KINDS['site_check']}的地块；闲置土地附令第53号的处置档次和土地闲置费。")
@click.option("--kind", type=click.Choice([*FLAG_KINDS, *CHECK_KINDS]),
              help=f"只看一类：{'、'.join(f'{k} {v}' for k, v in {**FLAG_KINDS, **CHECK_KINDS}.items())}")
@click.option("--year", type=int, help="年度（默认：最近评价的年度）")
@click.option("--top", type=click.IntRange(min=1), help="只列前 N 条")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="导出到 .xlsx、.csv，或带地块图形的 .gpkg、.shp 文件")
@_json_option
@_workspace_option
def flags_cmd(kind, year, top, out, as_json, workspace) -> None:
    from mujun.layers.export import check_export_path, json_document
    from mujun.service import FLAG_EXPORT, FLAG_HEADERS, export_flags, flags, idle_land

    ws = _existing(workspace)
    if out is not None:
        check_export_path(out)
    frame, y = flags(ws, kind=kind, year=year)
    idle = idle_land(ws, year=y)[0] if frame["kind"].eq("idle").any() else None
    if as_json:
        rows = frame[[c for c in FLAG_EXPORT if c in frame.columns]]
        click.echo(json_document(
            rows if top is None else rows.head(top), headers=FLAG_HEADERS, command="flags", year=y, kind=kind,
            parcel_count=int(frame["parcel_id"].nunique()), reason_count=len(frame),
            idle=None if idle is None else idle.drop(columns=["tier"], errors="ignore")))
    else:
        cols = ["parcel_id", "kind_label", "reason", "holder_name", "district_name", "area_mu"]
        if kind == "idle":
            cols[3:3] = [c for c in ("idle_tier_label", "idle_fee") if c in frame.columns]
        shown = frame[cols].head(top or 20)
        click.echo(f"{y} 年标记地块：{frame['parcel_id'].nunique()} 宗，{len(frame)} 条原因")
        click.echo(_table(shown, [label(c) for c in cols]))
        if len(frame) > len(shown):
            click.echo(f"……共 {len(frame)} 条，用 --top N 显示更多，或 --out 导出全部")
        if idle is not None:
            for line in _idle_lines(idle):
                click.echo(line)
    if out is not None:
        p = export_flags(frame, y, out, ws, kind=kind)
        click.echo(f"已导出 {len(frame)} 条到 {p}", err=as_json)


@main.command("remediation")
@click.option("--district", help="只看一个行政区（名称或代码）")
@click.option("--firms", is_flag=True, help="逐家列出 D 类企业的次年去向、历年分类、亩均税收变化和用地审核结论")
@click.option("--top", type=click.IntRange(min=1), help="--firms 时只列前 N 家")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="导出到 .csv 或 .xlsx 文件")
@_workspace_option
def remediation_cmd(district, firms, top, out, workspace) -> None:
    """倒逼整治成效：各年 D 类企业次年提档、仍为 D 类或退出的家数，以及退出企业带走的用地（按行政区和年度）。"""
    from mujun.service import REMEDIATION_HEADERS, export_remediation, remediation

    ws = _existing(workspace)
    follow, summary = remediation(ws, district=district)
    if firms:
        cols = ["year", "name", "district_name", "outcome_label", "class_path", "tax_per_mu", "next_tax_per_mu",
                "decision_count"]
        shown = follow[cols].head(top or 20)
        click.echo(f"D 类企业跟踪：{len(follow)} 家·年")
        click.echo(_table(shown, [REMEDIATION_HEADERS.get(c) or label(c) for c in cols]))
        if len(follow) > len(shown):
            click.echo(f"……共 {len(follow)} 行，用 --top N 显示更多，或 --out 导出全部")
    else:
        cols = ["year", "district_name", "d_firms", "improved", "stayed", "left", "improved_share", "left_mu"]
        click.echo(_table(summary[cols].assign(improved_share=summary["improved_share"] * 100),
                          [REMEDIATION_HEADERS.get(c) or label(c) for c in cols[:6]] + ["提档比例(%)", "退出企业用地(亩)"]))
    if out is not None:
        p = export_remediation(follow if firms else summary, out, ws, firms=firms)
        click.echo(f"已导出到 {p}")


@main.command("ledger")
@click.option("--year", type=int, help="只看某一年度的决定（审核所在的评价年度）")
@click.option("--district", help="只看一个行政区（名称或代码）")
@click.option("--top", type=click.IntRange(min=1), help="逐宗列表只列前 N 宗（默认 30）")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="导出到 .xlsx（汇总、逐宗台账、说明）或 .csv（逐宗台账）")
@_workspace_option
def ledger_cmd(year, district, top, out, workspace) -> None:
    """腾笼换鸟台账：审核决定协议收回、依法收回的地块，收回（日期、面积）、再供应（新权利人、日期）和
    新权利人的亩均产出，按行政区和年度汇总，并逐宗列出收回前后的亩均税收、亩均增加值。"""
    from mujun.layers.export import check_export_path
    from mujun.service import export_ledger, ledger

    ws = _existing(workspace)
    if out is not None:
        check_export_path(out, suffixes=(".xlsx", ".csv"))
    led = ledger(ws, year=year, district=district)
    if led.rows.empty:
        click.echo("还没有协议收回、依法收回的审核决定，台账为空；在“审核”页面对闲置、低效地块作出收回决定后再查看")
        if led.unmatched:
            click.echo(f"已导入的 {len(led.unmatched)} 条收回与再供应记录的地块没有收回决定，未列入台账")
        return
    for line in _ledger_lines(led, top=top or 30):
        click.echo(line)
    if out is not None:
        p = export_ledger(led, out, ws)
        click.echo(f"已导出到 {p}")


def _ledger_lines(led, *, top: int = 0) -> list[str]:
    """The ledger's totals (and, with ``top``, its first parcels) as text tables."""
    from mujun.service import LEDGER_HEADERS

    t = led.totals
    cols = ["year", "district_name", "parcels", "decided_mu", "recovered", "recovered_mu", "supplied", "supplied_mu",
            "yielding", "yielding_mu", "tax_per_mu_before", "tax_per_mu_after", "value_added_per_mu_before",
            "value_added_per_mu_after"]
    lines = ["按行政区和年度汇总（亩均为已产出地块：合计 ÷ 地块面积合计）：",
             _table(t[cols], [LEDGER_HEADERS[c] for c in cols])]
    if top:
        rcols = ["parcel_id", "district_name", "measure", "holder_name", "recovered_date", "new_holder_name",
                 "supply_year", "tax_per_mu_before", "tax_per_mu_after", "value_added_per_mu_before",
                 "value_added_per_mu_after", "stage_label"]
        shown = led.rows[rcols].head(top).assign(recovered_date=led.rows["recovered_date"].dt.strftime("%Y-%m-%d"))
        lines += [f"逐宗台账（{len(led.rows)} 宗）：", _table(shown, [LEDGER_HEADERS[c] for c in rcols])]
        if len(led.rows) > len(shown):
            lines.append(f"……共 {len(led.rows)} 宗，用 --top N 显示更多，或 --out 导出全部")
    if led.unmatched:
        lines.append(f"另有 {len(led.unmatched)} 条收回与再供应记录的地块没有协议收回、依法收回的审核决定，未列入台账")
    return lines


@main.command("standard-land")
@click.option("--district", required=True, help="行政区（名称或代码），如 柯桥区")
@click.option("--industry", required=True, metavar="CODE", help="行业：GB/T 4754-2017 两位大类代码，如 17（纺织业）")
@click.option("--year", type=int, help="取哪一年的评价结果（默认：最近评价的年度）")
@click.option("--percentile", type=click.FloatRange(0, 100), metavar="P",
              help="取样本的第几百分位数（0–100；默认按规则文件，示例为 60）")
@click.option("--rules", default="standard-land-example", show_default=True, metavar="NAME|FILE",
              help="标准地指标规则（默认分位数、扩大到全市的最少企业数）")
@click.option("--control", metavar="NAME|FILE", help="用地控制指标（默认：该年度评价所用的，如 gb-2008）")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="导出到 .xlsx 或 .csv 文件")
@_workspace_option
def standard_land_cmd(district, industry, year, percentile, rules, control, out, workspace) -> None:
    """标准地指标建议：按同区县同行业参评企业（投资强度、容积率取其地块）的分位数提出新出让工业用地的
    投资强度、容积率、亩均税收、亩均增加值、单位能耗增加值，不低于用地控制指标下限。"""
    from mujun.service import STANDARD_LAND_HEADERS, export_standard_land, standard_land_set

    ws = _existing(workspace)
    res, y, rule_set = standard_land_set(ws, district, industry, year=year, percentile=percentile, rules=rules,
                                         control=control)
    click.echo(f"标准地指标建议：{res.district_name}，行业 {res.division}（GB/T 4754-2017 大类），{y} 年评价结果，"
               f"第 {res.percentile:g} 百分位数")
    if res.widened:
        click.echo(f"样本：{res.district_name}该行业参评企业 {res.district_firms} 家，少于 {res.min_firms} 家，"
                   f"扩大到全市（工作空间内各区县）：{res.population_firms} 家")
    else:
        click.echo(f"样本：{res.district_name}该行业参评企业 {res.district_firms} 家（不少于 {res.min_firms} 家，未扩大到全市）")
    cols = ["label", "unit", "basis", "count", "p25", "p50", "p75", "chosen", "minimum", "value", "note"]
    headers = [STANDARD_LAND_HEADERS.get(c, f"P{res.percentile:g}") for c in cols]
    click.echo(_table(res.table[cols].assign(unit=res.table["unit"].replace("", "—")), headers))
    for note in res.notes:
        click.echo(f"注：{note}")
    if out is not None:
        p = export_standard_land(res, y, out, ws)
        click.echo(f"已导出到 {p}")


@main.command("redline")
@click.option("--year", type=int, help="检查哪一年的新增工业用地（默认：土地利用数据中最近的新增年份）")
@click.option("--rules", default="redline-example", show_default=True, metavar="NAME|FILE",
              help="工业用地红线规则：内置名称（见 mujun rules）或 .toml 文件")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="导出到 .xlsx（红线表、单元内改变用途的地块和说明）或 .csv（红线表）文件")
@_workspace_option
def redline_cmd(year, rules, out, workspace) -> None:
    """工业用地总量保护红线：各区县和全市的工业用地面积（平方公里）及其占城镇建设用地的比例、当年新增工业用地
    占新增建设用地的比例，对照规则的下限；列出工业产业单元内已不作工业用途的地块。"""
    from mujun.layers.export import check_export_path
    from mujun.service import export_redline, redline

    ws = _existing(workspace)
    if out is not None:
        check_export_path(out, suffixes=(".xlsx", ".csv"))
    res = redline(ws, year, rules=rules)
    for line in _redline_lines(res):
        click.echo(line)
    if out is not None:
        p = export_redline(res, out, ws)
        click.echo(f"已导出到 {p}")


def _verdict(ok, missing: str = "—") -> str:
    return missing if ok is None or ok is pd.NA or (isinstance(ok, float) and math.isnan(ok)) else (
        "达标" if bool(ok) else "未达标")


def _redline_summary(res) -> list[str]:
    """A few lines on the red line for ``mujun demo``: the city, the districts that fall short, the units."""
    t = res.table
    city = t[t["level"] == "city"].iloc[0]
    districts = t[t["level"] == "district"]
    lines = [f"\n工业用地红线（{res.rules.name}{'，含示例值' if not res.rules.verified else ''}；mujun redline 查看全表）："]
    lines.append(f"  全市工业用地 {city['industrial_km2']:,.2f} 平方公里（下限 {_fmt(city['industrial_km2_min'])}，"
                 f"{_verdict(city['industrial_km2_ok'])}），占城镇建设用地 {city['industrial_share'] * 100:.2f}%"
                 f"（下限 {_fmt(city['industrial_share_min'] * 100)}%，{_verdict(city['industrial_share_ok'])}）")
    short = districts[districts["industrial_share_ok"].eq(False).fillna(False).astype(bool)]
    if len(short):
        lines.append("  工业用地占比未达标的区县：" + "、".join(
            f"{r.name} {r.industrial_share * 100:.2f}%" for r in short.itertuples()))
    if res.year is not None:
        lines.append(f"  {res.year} 年新增工业用地占新增建设用地 {_fmt(city['new_industrial_share'] * 100)}%（下限 "
                     f"{_fmt(city['new_industrial_share_min'] * 100)}%，{_verdict(city['new_industrial_share_ok'])}）")
        short = districts[districts["new_industrial_share_ok"].eq(False).fillna(False).astype(bool)]
        if len(short):
            lines.append("  新增工业用地占比未达标的区县：" + "、".join(short["name"].astype(str)))
    if res.converted is not None:
        lines.append(f"  工业产业单元内已改变用途的地块 {len(res.converted)} 宗，{res.converted['area_mu'].sum():,.2f} 亩")
    return lines


def _redline_lines(res, *, parcels: int = 20) -> list[str]:
    """The red-line tables for the terminal: the stock, the year's new land, the unit check."""
    t = res.table
    r = res.rules
    lines = [f"工业用地红线（{r.name}：{r.title}{'' if r.verified else '，含示例值'}），土地利用数据现状"]
    pct = 100.0
    stock = pd.DataFrame({
        "name": t["name"], "industrial_km2": t["industrial_km2"], "urban_construction_km2": t["urban_construction_km2"],
        "share": t["industrial_share"] * pct, "km2_min": t["industrial_km2_min"], "km2_ok": t["industrial_km2_ok"].map(_verdict),
        "share_min": t["industrial_share_min"] * pct, "share_ok": t["industrial_share_ok"].map(_verdict),
        "outside": t["industrial_outside_km2"],
    })
    lines.append(_table(stock, ["区域", "工业用地(平方公里)", "城镇建设用地(平方公里)", "工业用地占比(%)", "面积下限(平方公里)",
                                "面积", "占比下限(%)", "占比", "城镇建设用地以外的工业用地(平方公里)"]))
    if res.year is not None:
        lines.append(f"\n{res.year} 年新增建设用地中的工业用地（下限：新增工业用地 ≥ 新增建设用地的 "
                     f"{_fmt(r.city.new_industrial_share * pct if r.city.new_industrial_share is not None else None)}%）")
        new = pd.DataFrame({
            "name": t["name"], "new_construction_km2": t["new_construction_km2"], "new_industrial_km2": t["new_industrial_km2"],
            "share": t["new_industrial_share"] * pct, "share_min": t["new_industrial_share_min"] * pct,
            "ok": [_verdict(ok, "无新增" if c == 0 else "—") for ok, c in
                   zip(t["new_industrial_share_ok"], t["new_construction_km2"], strict=True)],
        })
        lines.append(_table(new, ["区域", "新增建设用地(平方公里)", "新增工业用地(平方公里)", "新增工业用地占比(%)", "占比下限(%)",
                                  "结论"]))
    if res.converted is not None:
        c = res.converted
        lines.append(f"\n工业产业单元内已改变用途的地块：{len(c)} 宗，{c['area_mu'].sum():,.2f} 亩"
                     + ("（须在同一区县内等量补充工业用地）" if len(c) else ""))
        if len(c):
            shown = c.sort_values(["district_id", "parcel_id"]).head(parcels)
            lines.append(_table(pd.DataFrame(shown[["parcel_id", "district_name", "unit_name", "area_mu", "reason"]]),
                                ["宗地编号", "行政区", "工业产业单元", "面积(亩)", "原因"]))
            if len(c) > parcels:
                lines.append(f"……共 {len(c)} 宗，用 --out 导出全部")
    lines.extend(f"注：{n}" for n in res.notes)
    return lines


def _idle_lines(totals: pd.DataFrame) -> list[str]:
    """The idle land by 令第53号 measure, one line each, for the terminal."""
    fee_tier = totals[totals["tier"].eq("fee").fillna(False)].iloc[0]
    lines = ["闲置土地处置（令第53号）："]
    for row in totals.itertuples():  # one row per measure (three and a total), not per parcel
        text = f"  {row.tier_label} {row.parcel_count} 宗（{row.area_mu:,.1f} 亩）"
        if row.tier == "fee" or pd.isna(row.tier):  # the fee tier and the total
            text += f"，土地闲置费 {row.idle_fee:,.1f} 万元"
        lines.append(text)
    if fee_tier["unpriced_count"]:
        lines.append(f"  其中 {fee_tier['unpriced_count']} 宗缺少出让价款，闲置费未计入；请补录出让价款后重新导入地块")
    return lines


@main.command()
@_json_option
@_workspace_option
def info(as_json, workspace) -> None:
    """列出工作空间中的图层和结果表。"""
    ws = _existing(workspace)
    meta = ws.meta()
    if as_json:
        from mujun.layers.export import json_document

        layers = [{"name": name, "label": KINDS[name].label if name in KINDS else None, "count": ws.count(name)}
                  for name in ws.layers()]
        years = [int(v) for v in meta.get("evaluated_years", "").split(",") if v.strip()]
        click.echo(json_document(command="info", workspace=str(ws.path), sample=meta.get("sample") == "1",
                                 layers=layers, evaluated_years=years))
        return
    click.echo(f"工作空间：{ws.path}" + ("（示例数据，合成）" if meta.get("sample") == "1" else ""))
    titles = {str(n): str(t or "") for n, t in ws.query("SELECT table_name, identifier FROM gpkg_contents")}
    for name in ws.layers():
        n = ws.count(name)
        kind = KINDS.get(name)
        title = kind.label if kind else ("" if titles.get(name) == name else titles.get(name, ""))
        click.echo(f"  {name:<20} {n:>8}  {title}")
    if meta.get("evaluated_years"):
        click.echo(f"已评价年度：{meta['evaluated_years'].replace(',', '、')}")


@main.group()
def user() -> None:
    """用户与角色：viewer 查看、reviewer 审核、admin 管理（用户保存在工作空间旁的 .accounts.sqlite 文件中）。"""


def _password(password_stdin: bool, confirm: bool = True) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("密码", hide_input=True, confirmation_prompt="再次输入密码" if confirm else False)


def _min_password() -> int:
    """The web app's ``PASSWORD_MIN_LENGTH`` (``MUJUN_PASSWORD_MIN_LENGTH``), so both ask the same."""
    from mujun.webapp.settings import DEFAULTS, from_env

    return int(from_env().get("PASSWORD_MIN_LENGTH", DEFAULTS["PASSWORD_MIN_LENGTH"]))


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(accounts.ROLES), required=True, help="角色：viewer 查看、reviewer 审核、admin 管理")
@click.option("--full-name", default="", help="姓名（显示在审核记录中）")
@click.option("--password-stdin", is_flag=True, help="从标准输入读取密码（一行），而不是交互输入")
@_workspace_option
def user_add(name, role, full_name, password_stdin, workspace) -> None:
    """新增用户；密码只保存其哈希值。"""
    ws = _existing(workspace)
    u = accounts.add_user(ws, name, role, _password(password_stdin), full_name=full_name,
                          min_length=_min_password())
    _log_user_change(ws, "新增用户", u)
    click.echo(f"已新增用户 {u.label}，角色：{u.role_label}")


@user.command("list")
@_workspace_option
def user_list(workspace) -> None:
    """列出用户。"""
    ws = _existing(workspace)
    users = accounts.list_users(ws)
    if not users:
        click.echo(f"工作空间 {ws.path} 还没有用户；用 mujun user add 用户名 --role admin 新增")
        return
    frame = pd.DataFrame([{"name": u.name, "full": u.full_name or "—", "role": u.role_label,
                           "status": "已停用" if u.disabled else "正常", "created": u.created_at} for u in users])
    click.echo(_table(frame, ["用户名", "姓名", "角色", "状态", "创建时间"]))


@user.command("disable")
@click.argument("name")
@_workspace_option
def user_disable(name, workspace) -> None:
    """停用用户（其已登录的会话随即失效）。"""
    _set_disabled(workspace, name, True)


@user.command("enable")
@click.argument("name")
@_workspace_option
def user_enable(name, workspace) -> None:
    """重新启用用户。"""
    _set_disabled(workspace, name, False)


def _set_disabled(workspace, name: str, disabled: bool) -> None:
    ws = _existing(workspace)
    u = accounts.set_disabled(ws, name, disabled)
    action = "停用用户" if disabled else "启用用户"
    _log_user_change(ws, action, u)
    click.echo(f"已{action[:2]}用户 {u.label}")


def _log_user_change(ws: Workspace, action: str, u: accounts.User) -> None:
    """The audit log's record of a change made on the command line (no address)."""
    log_event(ws, user="命令行", address="", action=action, changes=f"用户 {u.name}（{u.role_label}）")


@user.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="从标准输入读取新密码（一行）")
@_workspace_option
def user_password(name, password_stdin, workspace) -> None:
    """重设用户密码（其已登录的会话随即失效）。"""
    ws = _existing(workspace)
    if accounts.get_user(ws, name) is None:
        raise InputError(f"没有用户 '{name}'；用 mujun user list 查看已有用户")
    u = accounts.set_password(ws, name, _password(password_stdin), min_length=_min_password())
    _log_user_change(ws, "重设密码", u)
    click.echo(f"已重设用户 {u.label} 的密码")


@main.group()
def token() -> None:
    """访问令牌：QGIS、GDAL 等 GIS 软件和脚本用它读取 API（/api）和地图瓦片（/tiles）。"""


def _log_token(ws: Workspace, action: str, t: accounts.Token) -> None:
    label = f"（{t.label}）" if t.label else ""
    log_event(ws, user="命令行", address="", action=action, changes=f"用户 {t.name} 的令牌 #{t.id}{label}")


@token.command("create")
@click.argument("name")
@click.option("--name", "label", default="", help="令牌名称（用途，如“QGIS 办公室”）")
@click.option("--expires", "days", type=click.IntRange(1, accounts.MAX_TOKEN_DAYS), default=None,
              help="有效天数（默认永不过期，直到撤销）")
@_workspace_option
def token_create(name, label, days, workspace) -> None:
    """为用户创建令牌；令牌只显示这一次，只保存其哈希值。"""
    ws = _existing(workspace)
    new = accounts.create_token(ws, name, label=label, days=days)
    _log_token(ws, "创建令牌", new.token)
    click.echo(f"已为用户 {name} 创建令牌 #{new.token.id}（{new.token.expires_at}）。令牌只显示这一次，请立即保存：")
    click.echo(new.secret)
    click.echo(f"QGIS：认证配置选 Basic，用户名 {name}，密码填令牌；"
               f"GDAL：GDAL_HTTP_AUTH=BASIC GDAL_HTTP_USERPWD={name}:令牌", err=True)


@token.command("list")
@click.argument("name", required=False)
@_workspace_option
def token_list(name, workspace) -> None:
    """列出令牌（编号、名称、创建和最近使用时间、过期时间、状态；从不显示令牌本身）。"""
    ws = _existing(workspace)
    if name is not None and accounts.get_user(ws, name) is None:
        raise InputError(f"没有用户 '{name}'；用 mujun user list 查看已有用户")
    tokens = accounts.list_tokens(ws, name)
    if not tokens:
        click.echo(f"{'用户 ' + name if name else '工作空间 ' + str(ws.path)} 还没有令牌；用 mujun token create 用户名 创建")
        return
    frame = pd.DataFrame([{"id": f"#{t.id}", "name": t.name, "label": t.label or "—", "created": t.created_at,
                           "used": t.last_used_at, "expires": t.expires_at, "status": t.status()} for t in tokens])
    click.echo(_table(frame, ["编号", "用户", "名称", "创建时间", "最近使用", "过期时间", "状态"]))


@token.command("revoke")
@click.argument("name")
@click.argument("token_id", required=False, type=int)
@click.option("--all", "revoke_all", is_flag=True, help="撤销该用户的全部令牌")
@_workspace_option
def token_revoke(name, token_id, revoke_all, workspace) -> None:
    """撤销用户的一个令牌（编号见 mujun token list）或 --all 全部；立即失效。"""
    ws = _existing(workspace)
    if (token_id is None) == (not revoke_all):
        raise InputError("请给出令牌编号（mujun token list 中的 #编号），或用 --all 撤销全部，二者选一")
    if revoke_all:
        n = accounts.revoke_tokens(ws, name)
        log_event(ws, user="命令行", address="", action="撤销令牌", changes=f"用户 {name} 的全部令牌（{n} 个）")
        click.echo(f"已撤销用户 {name} 的 {n} 个令牌")
        return
    t = accounts.revoke_token(ws, name, token_id)
    _log_token(ws, "撤销令牌", t)
    click.echo(f"已撤销用户 {name} 的令牌 #{t.id}")


@main.group()
def review() -> None:
    """地块审核结果：导出审核队列与结论。"""


@review.command("export")
@click.option("--year", type=int, help="评价年度（默认：最近评价的年度）")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="导出到 .xlsx、.csv，或带地块图形的 .gpkg、.shp 文件")
@_workspace_option
def review_export(year, out, workspace) -> None:
    """导出审核队列（闲置、低效、不达标、D 类企业用地）及每宗地块的审核结论。"""
    from mujun.service import export_review, review_of_year

    ws = _existing(workspace)
    rows, y = review_of_year(ws, year)
    path = export_review(rows, y, out, ws)
    done = int((rows["status"] != "待审核").sum())
    click.echo(f"已导出 {y} 年审核队列 {len(rows):,} 宗（已有结论 {done:,} 宗）到 {path}")


def _host_port(f):
    f = click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True, help="端口")(f)
    return click.option("--host", default="127.0.0.1", show_default=True,
                        help="监听地址：127.0.0.1 只允许本机访问，0.0.0.0 允许局域网内的电脑访问")(f)


def _app(ws: Workspace, deflator: Path | None = None):
    from mujun.webapp import create_app

    config: dict = {"WORKSPACE": str(ws.path)}
    if deflator is not None:
        config["DEFLATOR"] = str(deflator.resolve())
    return create_app(config)


@main.command()
@_workspace_option
@_host_port
@_deflator_option
def serve(workspace, host, port, deflator) -> None:
    """启动网页服务：总览、地图、平台、园区、地块、企业页面和排名导出（waitress，离线可用）。"""
    from mujun.layers.rulesets import load_price_index
    from mujun.webapp import serve as server_mod

    if deflator is not None:
        load_price_index(deflator)  # a bad file is reported before the server starts
    ws = _existing(workspace)
    with contextlib.suppress(OSError):  # (one that cannot start now is started by the first read, which says why)
        reader.prestart()  # GDAL's reader process starts beside the app: the first page's reads find it ready
    if not ws.meta().get("evaluated_years"):  # the pages say so too; an evaluation is picked up live
        click.echo(f"注意：{not_evaluated(ws.path)}（网页上也会这样提示）", err=True)
    app = _app(ws, deflator)
    server = server_mod.bind(app, host, port)  # a port in use is reported first, alone
    if not accounts.list_users(ws) and not app.config["PUBLIC_READ"]:
        click.echo(f"注意：工作空间还没有用户，网页需要登录；请先运行 mujun user add 用户名 --role admin "
                   f"--workspace {ws.path}", err=True)
    click.echo(f"工作空间：{ws.path}")
    server_mod.run(server, echo=click.echo)


@main.command()
@click.option("--workspace", "-w", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="示例工作空间文件（默认 ./mujun-demo.gpkg；不会覆盖非示例工作空间）")
@click.option("--seed", type=int, default=2024, show_default=True, help="随机数种子（同一种子生成同样的数据）")
@click.option("--scale", type=click.FloatRange(min=0.05, max=100), default=1.0, show_default=True,
              help="数据规模倍数（1 约为 5,500 宗地块、4,300 家企业）")
@click.option("--no-serve", is_flag=True, help="只生成、评价数据并打印概况，不启动网页服务")
@_host_port
def demo(workspace, seed, scale, no_serve, host, port) -> None:
    """生成绍兴市示例数据（合成）、导入、评价三个年度、打印概况，然后启动网页服务。"""
    from mujun.webapp import serve

    # never the user's own workspace by default: the sample replaces what it writes to
    ws = Workspace(workspace or Path("mujun-demo.gpkg"))
    if no_serve:
        _build_demo(ws, seed, scale)
        click.echo(f"查看网页：mujun serve --workspace {ws.path}")
        return
    server = serve.bind(_app(ws), host, port)  # a port in use is reported before the build
    try:
        _build_demo(ws, seed, scale)
    except BaseException:
        serve.close(server)
        raise
    click.echo("")
    serve.run(server, echo=click.echo)


def _build_demo(ws: Workspace, seed: int, scale: float) -> None:
    from mujun.layers.sample import build_sample
    from mujun.service import evaluate_sample, ledger, ranking

    click.echo(f"正在生成示例数据（种子 {seed}，规模 {scale:g}）……")
    built = build_sample(ws, seed=seed, scale=scale)
    for line in built.lines:
        click.echo(line)
    for i, res in enumerate(evaluate_sample(ws, built.later_parcels)):
        if i:
            click.echo(f"已导入 {res.years[0]} 年的地块图层（再供应地块的新权利人）：")
        for line in _evaluation_lines(res):
            click.echo(line)
    led = ledger(ws)
    click.echo(f"\n腾笼换鸟台账（{len(led.rows)} 宗协议收回、依法收回的地块）：")
    for line in _ledger_lines(led):
        click.echo(line)
    from mujun.service import measures, redline

    for line in _redline_summary(redline(ws)):
        click.echo(line)
    res_m = measures(ws)
    click.echo(f"\n{res_m.year} 年差别化措施（{res_m.rules.name}，含示例值）：")
    for line in _measure_lines(res_m):
        click.echo(line)
    frame, y = ranking(ws, "district", "tax_per_mu")
    click.echo(f"\n{y} 年各区县亩均税收（万元/亩）：")
    click.echo(_table(frame[["rank", "name", "tax_per_mu", "value_added_per_mu", "evaluated_mu"]],
                      [label("rank"), "行政区", label("tax_per_mu"), label("value_added_per_mu"), label("evaluated_mu")]))
    for line in _demo_region_lines(ws, y):
        click.echo(line)
    click.echo("\n示例账户（密码随机生成，只在本次生成的示例工作空间中有效）：")
    accounts.reset(ws)  # the accounts of an earlier sample go with it
    for name, role, full_name in DEMO_USERS:
        password = secrets.token_urlsafe(9)
        accounts.add_user(ws, name, role, password, full_name=full_name)
        click.echo(f"  {name:<9} 密码 {password}  {accounts.ROLE_LABELS[role]}")
    click.echo(f"\n示例工作空间：{ws.path}（示例数据，合成，非真实企业）；源文件在 {built.folder}")
    click.echo(f"下一步：mujun rank --workspace {ws.path} --level park --by tax_per_mu --out 园区排名.xlsx")


def _demo_region_lines(ws: Workspace, year: int) -> list[str]:
    """The demo's last parts: the districts' composite evaluation, the year's figures against
    the 2025 targets at 2019 prices, and one 标准地 set — for the district and industry with
    the most evaluated firms, so any seed and scale has one."""
    from mujun.service import ranking, standard_land_set, stored_target_figures, zone_evaluation

    lines = ["", *_target_lines(stored_target_figures(ws, year))]
    zones = zone_evaluation(ws, "district")
    z = zones[zones["year"] == year].sort_values("composite_rank")
    lines.append(f"\n{year} 年区县综合评价（zones-example，含示例值；mujun rank --level district --by composite）：")
    lines.append("  " + "，".join(f"{int(r.composite_rank)}. {r.name} {r.composite:.2f}" for r in z.itertuples()))
    firms, _ = ranking(ws, "enterprise", "score", year=year)
    firms = firms[firms["industry_code"].notna() & firms["district_name"].notna()]
    if len(firms):
        division = firms["industry_code"].astype(str).str[:2]
        district, industry = pd.DataFrame({"d": firms["district_name"], "i": division}).value_counts().index[0]
        res, y, _ = standard_land_set(ws, district, industry, year=year)
        values = "，".join(f"{r.label} {_fmt(r.value)}{' ' + r.unit if r.unit else ''}" for r in res.table.itertuples()
                          if not pd.isna(r.value))
        lines.append(f"\n标准地指标示例（{res.district_name}，行业 {res.division}，第 {res.percentile:g} 百分位数，"
                     f"样本 {res.population_firms} 家；mujun standard-land 查看样本分布）：")
        lines.append(f"  {values}")
    return lines


def run() -> NoReturn:
    """The ``mujun`` command: :func:`main`, then the process ends without the interpreter's
    teardown. Everything a command does is done by then — files written and closed, the
    workspace in place, the threads it waits for joined, the exit functions run — and freeing
    a province's frames one object at a time took 0.4–0.9 s of every 1M evaluation's end.
    (Called in process, as the tests do, :func:`main` ends as any click command does.)"""
    try:
        main()
        code: int | str | None = 0
    except SystemExit as done:
        code = done.code
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    # as the interpreter would: the non-daemon threads joined (and the executors' told to
    # end), the exit functions run (GDAL's readers told to end, logging flushed), the output
    # flushed
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code or 0)


if __name__ == "__main__":  # pragma: no cover
    run()
