"""Comparing a table with the one stored (``changed_rows``): what a revision updates."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from mujun.layers.writer import changed_rows


def _categories(texts: list[str | None], dictionary: list[str]) -> pa.DictionaryArray:
    codes = pa.array([None if t is None else dictionary.index(t) for t in texts], type=pa.int32())
    return pa.DictionaryArray.from_arrays(codes, pa.array(dictionary))


def test_categories_kept_with_other_dictionaries_are_compared_by_their_texts(tmp_path):
    """A table kept as saved holds its categories with a dictionary of its own: its codes are
    compared with the new table's through their texts, missing equal to missing."""
    old = pa.table({"status": _categories(["达标", "不达标", None, "达标", "未到期"], ["达标", "不达标", "未到期"]),
                    "value": pa.array([1.0, 2.0, None, 4.0, 5.0])})
    new = pa.table({"status": _categories(["达标", "达标", None, "达标", "无数据"], ["无数据", "达标", "不达标"]),
                    "value": pa.array([1.0, 2.0, float("nan"), 4.5, 5.0])})
    rows, columns = changed_rows(Path(tmp_path / "unused.gpkg"), "t", new, limit=5, stored=old)
    assert rows.tolist() == [1, 3, 4] and columns == ["status", "value"]
    assert changed_rows(Path(tmp_path / "unused.gpkg"), "t", new, limit=2, stored=old) is None  # too many: written whole
    same = changed_rows(Path(tmp_path / "unused.gpkg"), "t", old, limit=5, stored=old)
    assert same[0].tolist() == [] and same[1] == []


def test_texts_kept_as_categories_are_compared_with_plain_texts(tmp_path):
    old = pa.table({"status": _categories(["达标", None, "不达标"], ["达标", "不达标"])})
    new = pa.table({"status": pa.array(["达标", None, "达标"])})
    rows, columns = changed_rows(Path(tmp_path / "unused.gpkg"), "t", new, limit=3, stored=old)
    assert rows.tolist() == [2] and columns == ["status"]
