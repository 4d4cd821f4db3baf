"""Chinese for click's own messages: help headings, usage errors, prompts.

click marks its messages for translation with :func:`gettext.gettext` (``_``) and
:func:`gettext.ngettext`, imported into each of its modules. :func:`install` replaces those
two names in click's modules with lookups in :data:`MESSAGES` and :data:`PLURALS`, so the
translation does not depend on the user's locale (a server console often runs with
``LANG=C``) nor on a compiled catalogue. A message without a translation stays as click
wrote it; the usage errors that :mod:`mujun.cli` words itself (a bad choice or number, an
unknown command or option, extra arguments) are left in English here because the CLI reads
their English text to build its own one-line message. ``tests/test_cli.py`` checks the
headings and errors, so a click release that changes its messages is noticed.
"""

from __future__ import annotations

import gettext
import importlib
import re
import unicodedata

__all__ = ["MESSAGES", "PLURALS", "display_width", "install", "short_help", "translate", "translate_plural"]

#: click's messages (its msgids, as in its source) and their Chinese.
MESSAGES: dict[str, str] = {
    # help
    "Usage:": "用法:",  # click adds a space and ends headings with ":"
    "Options": "选项",
    "Commands": "命令",
    "Positional arguments": "位置参数",
    "Show this message and exit.": "显示本帮助并退出。",
    "Show the version and exit.": "显示版本并退出。",
    "%(prog)s, version %(version)s": "%(prog)s，版本 %(version)s",
    "default: {default}": "默认：{default}",
    "env var: {var}": "环境变量：{var}",
    "(dynamic)": "（动态）",
    "deprecated": "已弃用",
    "DeprecationWarning: The command {name!r} is deprecated.{extra_message}": "注意：命令 {name!r} 已弃用。{extra_message}",
    "DeprecationWarning: The {param_type} {name!r} is deprecated.{extra_message}":
        "注意：{param_type} {name!r} 已弃用。{extra_message}",
    # errors
    "Error: {message}": "错误：{message}",
    "Try '{command} {option}' for help.": "用 {command} {option} 查看用法。",
    "Aborted!": "已取消。",
    "Missing command.": "缺少命令。",
    "Missing argument": "缺少参数",
    "Missing option": "缺少选项",
    "Missing parameter": "缺少参数",
    "Missing {param_type}": "缺少{param_type}",
    "Missing parameter: {param_name}": "缺少参数：{param_name}",
    "Invalid value: {message}": "值无效：{message}",
    "Invalid value for {param_hint}: {message}": "{param_hint} 的值无效：{message}",
    "Value must be an iterable.": "值应为可迭代的序列。",
    "unknown error": "未知错误",
    "Could not open file {filename!r}: {message}": "无法打开文件 {filename!r}：{message}",
    "Argument {name!r} takes {nargs} values.": "参数 {name!r} 需要 {nargs} 个值。",
    "Invalid start character for option ({option})": "选项的开头字符无效（{option}）",
    "{value!r} is not a valid boolean. Recognized values: {states}": "{value!r} 不是有效的是/否值；可用：{states}",
    "{value!r} is not a valid UUID.": "{value!r} 不是有效的 UUID。",
    "file": "文件",
    "directory": "文件夹",
    "path": "路径",
    "{name} {filename!r} does not exist.": "{name} {filename!r} 不存在。",
    "{name} {filename!r} is a file.": "{name} {filename!r} 是文件。",
    "{name} {filename!r} is a directory.": "{name} {filename!r} 是文件夹。",
    "{name} {filename!r} is not readable.": "{name} {filename!r} 不可读。",
    "{name} {filename!r} is not writable.": "{name} {filename!r} 不可写。",
    "{name} {filename!r} is not executable.": "{name} {filename!r} 不可执行。",
    "Choose from:\n\t{choices}": "可选：\n\t{choices}",
    # prompts
    "Repeat for confirmation": "再次输入以确认",
    "Error: The two entered values do not match.": "错误：两次输入不一致。",
    "Error: invalid input": "错误：输入无效",
    "Do you want to continue?": "是否继续？",
    "Confirm the action without prompting.": "不询问，直接确认。",
    "Press any key to continue...": "按任意键继续……",
    "{editor}: Editing failed": "{editor}：编辑失败",
    "{editor}: Editing failed: {e}": "{editor}：编辑失败：{e}",
    # shell completion
    "Shell completion is not supported for Bash versions older than 4.4.": "Bash 4.4 以前的版本不支持命令补全。",
    "Couldn't detect Bash version, shell completion is not supported.": "无法判断 Bash 版本，不支持命令补全。",
}

#: click's singular/plural msgids and their Chinese (one form).
PLURALS: dict[str, str] = {
    "Did you mean {possibility}?": "是否想用 {possibility}？",
    "(Did you mean one of: {possibilities}?)": "（是否想用：{possibilities}？）",
    "Takes {nargs} values but 1 was given.": "需要 {nargs} 个值，收到 1 个。",
    "Takes {nargs} values but {len} were given.": "需要 {nargs} 个值，收到 {len} 个。",
    "{len_type} values are required, but {len_value} was given.": "需要 {len_type} 个值，收到 {len_value} 个。",
    "{len_type} values are required, but {len_value} were given.": "需要 {len_type} 个值，收到 {len_value} 个。",
}

# click's modules that import ``_``/``ngettext`` from gettext
_MODULES = ("click.core", "click.decorators", "click.exceptions", "click.formatting", "click.parser",
            "click.termui", "click.types", "click.shell_completion", "click.utils", "click._termui_impl")


def translate(message: str) -> str:
    """The Chinese of one of click's messages; the message itself if it has none.

    Examples
    --------
    >>> translate("Usage:"), translate("Something new")
    ('用法:', 'Something new')
    """
    return MESSAGES.get(message, message)


def translate_plural(singular: str, plural: str, n: int) -> str:
    """:func:`gettext.ngettext` for click's messages: English picks the form, Chinese has one."""
    message = singular if n == 1 else plural
    return PLURALS.get(message, message)


def display_width(text: str) -> int:
    """Terminal columns of ``text``: a CJK (wide) character takes two, ANSI colours none.

    Examples
    --------
    >>> display_width("--out 文件"), display_width("abc")
    (10, 3)
    """
    plain = re.sub(r"\033\[[;?0-9]*[a-zA-Z]", "", text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in plain)


def short_help(text: str | None, limit: int = 45) -> str:
    r"""A command's line in its group's list: its help up to the first "。", "；", "：" or "（",
    cut to ``limit`` columns. click's own cuts at spaces, which Chinese has few of.

    Examples
    --------
    >>> short_help("列出工作空间中的图层和结果表。\n\n更多说明。")
    '列出工作空间中的图层和结果表'
    >>> short_help("导入数据：KIND 为 districts、parks")
    '导入数据'
    >>> short_help("很长" * 40, limit=10)
    '很长很……'
    """
    import inspect

    first = inspect.cleandoc(text or "").split("\n\n")[0].replace("\n", "")
    head = re.match(r"[^。；：（]*", first).group(0).strip() or first
    if display_width(head) <= limit:
        return head
    out = ""
    for ch in head:
        if display_width(out + ch) > limit - 4:
            break
        out += ch
    return out + "……"


def install() -> None:
    """Have click's modules use :func:`translate` and :func:`translate_plural`, and click's help
    layout count a Chinese character as two columns (:func:`display_width`)."""
    import click.formatting

    click.formatting.term_len = display_width  # option and command tables line up with Chinese
    for name in _MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # pragma: no cover - a click without that module
            continue
        if getattr(module, "_", None) in (gettext.gettext, translate):
            module._ = translate
        if getattr(module, "ngettext", None) in (gettext.ngettext, translate_plural):
            module.ngettext = translate_plural
