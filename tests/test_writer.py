"""Comparing a table with the one stored (``changed_rows``): what a revision updates."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from mujun.layers.writer import changed_keyed_rows, changed_rows


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


def _rows(ids: list[int], values: list[float], chunk: int | None = None) -> pa.Table:
    table = pa.table({"fid": pa.array(ids, pa.int64()), "reason": [f"r{i}" for i in ids], "value": values})
    if chunk:  # as a kept copy is read: batch by batch
        table = pa.Table.from_batches(table.to_batches(max_chunksize=chunk))
    return table


def test_rows_under_their_own_ids_are_found_gone_new_or_changed():
    """Two tables of rows under ids of their own are compared id by id: the stored rows gone,
    the new ones, and the changed ones with the columns that changed, however the rows shifted
    and the stored table's batches fall."""
    old = _rows([2, 4, 6, 8, 10, 12, 14, 16], [1.0] * 8, chunk=3)
    new = _rows([2, 5, 6, 8, 10, 12, 16, 18, 20], [1.0, 1.0, 1.0, 7.0, 1.0, 1.0, float("nan"), 1.0, 1.0])
    gone, added, changed, columns = changed_keyed_rows(old, new, limit=9)
    assert gone.tolist() == [4, 14] and added.tolist() == [1, 7, 8]
    assert changed.tolist() == [3, 6] and columns == ["value"]
    assert changed_keyed_rows(old, new, limit=6) is None  # seven rows to write: written whole
    same = changed_keyed_rows(old, old, limit=0)
    assert [x.tolist() if hasattr(x, "tolist") else x for x in same] == [[], [], [], []]
    assert changed_keyed_rows(_rows([], []), new, limit=9)[1].tolist() == list(range(9))


def test_ids_that_do_not_rise_or_other_columns_are_not_compared():
    old = _rows([1, 2, 3], [1.0, 1.0, 1.0])
    assert changed_keyed_rows(old, _rows([1, 3, 2], [1.0, 1.0, 1.0]), limit=3) is None
    assert changed_keyed_rows(old, old.drop_columns(["value"]), limit=3) is None
    assert changed_keyed_rows(old.drop_columns(["fid"]), old.drop_columns(["fid"]), limit=3) is None
