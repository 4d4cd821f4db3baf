"""The workspace as a GeoPackage that QGIS users read in Chinese, and that GDAL 3.6 opens
without a warning.

- **Version**: GeoPackage 1.2 (``application_id`` ``GPKG``, ``user_version`` 10200), which
  every GDAL since 2.3 and QGIS read as their own; newer GDALs write 1.4 unless told, and
  Debian 12's GDAL 3.6 warns on every open of a 1.4 file. A file written as 1.4 is brought
  back to 1.2 (its R-tree triggers are those of 1.2).
- **Times**: every ``DATETIME`` value is ISO 8601 in UTC with milliseconds and ``Z``
  (:func:`timestamp`), as GeoPackage requires; older values are converted.
- **Field titles**: the Schema extension's ``gpkg_data_columns`` gives every column of every
  layer, table and view its Chinese name with its unit (:attr:`Field.header
  <mujun.layers.schema.Field.header>`): ``name`` (which GDAL 3.7 and later read as the
  field's alternative name, and QGIS shows as its alias) and ``title``.
- **Per-year layers**: each result table with a ``year`` column gets one registered view per
  year (``result_parcel_2025`` …), so a year opens without a filter; ``review_2025`` is that
  year's parcels joined to their review decisions. Views are defined in one place,
  :func:`year_view_select`.
- **Shared geometry**: the per-parcel and per-building results (:data:`SHARED_GEOMETRY`) are
  attribute tables, ids and figures only; their views take the outlines of the source layer
  (``parcels``, ``buildings``) by id, so an evaluation writes no geometry. When a source layer
  is replaced by an import, the outlines the stored results were computed on are kept in a
  snapshot table (:func:`snapshot`, ``mujun_parcels_<generation>``), which those years' views
  then read; a snapshot no year reads any more is dropped. Which source each year reads is
  recorded in the metadata (:func:`geometry_sources`).
- **Tables stored in two parts**: the per-parcel and per-enterprise results
  (:data:`SPLIT_TABLES`) are each stored as two attribute tables whose rows match one to one
  by feature id, joined in a view of the table's name (``result_parcel``): the columns a
  re-evaluation changes on nearly every row (scores and ranks, relative to the year's firms,
  and the gains measured against the peers' medians), written whole, and the rest, which a
  corrected enterprise table changes on a few rows only, revised in place. Readers see one
  table.

:func:`prepare` runs on a write's scratch copy before GDAL opens it, :func:`finish` after GDAL
has closed it; both through Python's ``sqlite3`` only (see :mod:`mujun.layers.workspace`).
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from mujun.layers.schema import FIELDS_BY_NAME, KINDS, RESULT_TABLES, REVIEW_FIELDS, column_field

__all__ = ["APPLICATION_ID", "FEATURES_VIEW", "GEOMETRY_OF", "REVIEW_VIEW", "SHARED_GEOMETRY", "SPLIT_TABLES",
           "USER_VERSION", "SplitTable", "split_parts",
           "delete_rows", "describe", "drop_tables", "finish", "format_sources", "geometry_sources", "insert_rows",
           "keep_sources", "local_time",
           "prepare", "review_view_select", "revisable", "shared_select", "snapshot", "source_of", "sql_identifier",
           "timestamp", "update_rows", "year_view", "year_view_select"]

#: ``PRAGMA application_id`` of a GeoPackage (``GPKG``) and the version written (1.2).
APPLICATION_ID = 0x47504B47
USER_VERSION = 10200
#: Name of the view of a year's parcels with their review decisions.
REVIEW_VIEW = "review_{year}"
_REVIEW_TABLE = "mujun_review"
_PARCELS = "result_parcel"
_SCHEMA_DEFINITION = "http://www.geopackage.org/spec121/#extension_schema"
#: The views this module defines (dropped and defined again by every :func:`finish`), besides
#: those of the tables stored in two parts (:data:`SPLIT_TABLES`).
_OWN_VIEW = re.compile(r"^(result_[a-z_]+|review)_(\d{4}|features)$")
#: Result tables stored without geometry -> (the source layer whose outlines they show, the
#: id field joining them): an evaluation writes figures, never a copy of a million outlines.
SHARED_GEOMETRY = {"result_parcel": ("parcels", "parcel_id"), "result_building": ("buildings", "building_id")}
@dataclass(frozen=True)
class SplitTable:
    """How a result table is stored in two parts (see the module's notes)."""

    #: The table of the columns a re-evaluation revises in place.
    revised: str
    #: The table of the columns it writes whole, and what they are (its title in QGIS).
    written: str
    written_title: str
    #: Which columns go to ``written``: those this pattern matches in full.
    pattern: str

    def written_columns(self, columns: Iterable[str]) -> list[str]:
        """The columns of ``columns`` stored in :attr:`written`."""
        return [c for c in columns if re.fullmatch(self.pattern, str(c))]


#: Result tables stored in two parts -> how. A frame of such a table without any of the
#: written part's columns is stored whole, as one table. The parts are internal: the view of
#: the table's name is what is read.
SPLIT_TABLES = {
    # the holder's score and the gains measured against the peers' medians: relative to the year's firms
    "result_parcel": SplitTable("mujun_result_parcel", "mujun_result_parcel_scores", "得分与对标增益",
                                "score|target_tax_per_mu|tax_gain|target_value_added_per_mu|value_added_gain"),
    # the scores (each indicator's against the year's ratio of sums) and the ranks
    "result_enterprise": SplitTable("mujun_result_enterprise", "mujun_result_enterprise_scores", "得分与排名",
                                    "score|score_.+|rank_.+"),
}
#: Metadata key of the snapshot tables the years of a shared result table read
#: (``geometry_of:result_parcel`` = ``2023=mujun_parcels_1a2b3c4d,2024=…``; a year not listed
#: reads the source layer itself; a table without years is listed as ``*``).
GEOMETRY_OF = "geometry_of:"
#: Name of the view of a shared result table without years (``result_building_features``).
FEATURES_VIEW = "{table}_features"
_SNAPSHOT = re.compile(r"^mujun_(parcels|buildings)_[0-9a-f]{8,32}$")

_SCHEMA_DDL = """
CREATE TABLE IF NOT EXISTS gpkg_extensions (
    table_name TEXT,
    column_name TEXT,
    extension_name TEXT NOT NULL,
    definition TEXT NOT NULL,
    scope TEXT NOT NULL,
    CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name)
);
CREATE TABLE IF NOT EXISTS gpkg_data_columns (
    table_name TEXT NOT NULL,
    column_name TEXT NOT NULL,
    name TEXT,
    title TEXT,
    description TEXT,
    mime_type TEXT,
    constraint_name TEXT,
    CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name),
    CONSTRAINT gdc_tn UNIQUE (table_name, name)
);
CREATE TABLE IF NOT EXISTS gpkg_data_column_constraints (
    constraint_name TEXT NOT NULL,
    constraint_type TEXT NOT NULL,
    value TEXT,
    min NUMERIC,
    min_is_inclusive BOOLEAN,
    max NUMERIC,
    max_is_inclusive BOOLEAN,
    description TEXT,
    CONSTRAINT gdcc_ntv UNIQUE (constraint_name, constraint_type, value)
)
"""


def timestamp(when: datetime | None = None) -> str:
    """``when`` (default: now) as GeoPackage writes times: UTC, ISO 8601, milliseconds, ``Z``.

    Examples
    --------
    >>> timestamp(datetime(2025, 3, 1, 8, 30, 5, 250000, tzinfo=UTC))
    '2025-03-01T08:30:05.250Z'
    """
    when = datetime.now(UTC) if when is None else when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def local_time(text: str | None) -> str:
    """A stored time as the server's local time, to the second (``2025-03-01 16:30:05``);
    text that is not a UTC time (older records in local time) is shown as it is, and
    nothing (``None``, NaN) as ``""``."""
    if not isinstance(text, str) or not text:
        return ""
    if not text.endswith("Z"):
        return text.replace("T", " ")
    try:
        when = datetime.fromisoformat(text[:-1] + "+00:00")
    except ValueError:
        return text
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def sql_identifier(name: str) -> str:
    """``name`` quoted as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


_q = sql_identifier


def _columns(con: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    """``(name, declared type)`` of each column of a table or view."""
    return [(str(r[1]), str(r[2] or "")) for r in con.execute(f"PRAGMA table_info({_q(table)})")]


def _exists(con: sqlite3.Connection, name: str) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone() is not None


def _has_geometry(con: sqlite3.Connection, table: str) -> bool:
    """Whether ``table`` is registered as a layer with a geometry column."""
    return _exists(con, "gpkg_geometry_columns") and con.execute(
        "SELECT 1 FROM gpkg_geometry_columns WHERE lower(table_name) = lower(?)", (table,)).fetchone() is not None


# -- version ------------------------------------------------------------------------------

def prepare(con: sqlite3.Connection) -> None:
    """Make the file a GeoPackage 1.2 before GDAL writes to it (GDAL then writes 1.2 too).

    A file that newer GDALs wrote as 1.4 has R-tree triggers 1.2 readers do not know
    (``update5``–``update7`` in place of ``update1`` and ``update3``): they are replaced by
    those of 1.2, which keep the index the same way.
    """
    con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    con.execute(f"PRAGMA user_version = {USER_VERSION}")
    if not _exists(con, "gpkg_extensions"):
        return
    for table, column in con.execute("SELECT table_name, column_name FROM gpkg_extensions "
                                     "WHERE extension_name = 'gpkg_rtree_index'").fetchall():
        prefix = f"rtree_{table}_{column}"
        if not _exists(con, f"{prefix}_update6"):
            continue
        pk = next((r[1] for r in con.execute(f"PRAGMA table_info({_q(table)})") if r[5] == 1), "fid")
        t, c, i, rtree = _q(table), _q(column), _q(pk), _q(prefix)
        for n in (5, 6, 7):
            con.execute(f"DROP TRIGGER IF EXISTS {_q(f'{prefix}_update{n}')}")
        values = f"NEW.{i}, ST_MinX(NEW.{c}), ST_MaxX(NEW.{c}), ST_MinY(NEW.{c}), ST_MaxY(NEW.{c})"
        con.execute(f"CREATE TRIGGER {_q(prefix + '_update1')} AFTER UPDATE OF {c} ON {t} "
                    f"WHEN OLD.{i} = NEW.{i} AND (NEW.{c} NOTNULL AND NOT ST_IsEmpty(NEW.{c})) "
                    f"BEGIN INSERT OR REPLACE INTO {rtree} VALUES ({values}); END")
        con.execute(f"CREATE TRIGGER {_q(prefix + '_update3')} AFTER UPDATE ON {t} "
                    f"WHEN OLD.{i} != NEW.{i} AND (NEW.{c} NOTNULL AND NOT ST_IsEmpty(NEW.{c})) "
                    f"BEGIN DELETE FROM {rtree} WHERE id = OLD.{i}; "
                    f"INSERT OR REPLACE INTO {rtree} VALUES ({values}); END")


def drop_tables(con: sqlite3.Connection, tables: Iterable[str], *, parts: bool = True) -> None:
    """Drop the attribute tables ``tables`` that exist, with their registrations (what GDAL's
    ``DeleteLayer`` removes), and mujun's views, which :func:`finish` defines again: a write
    that will replace these tables drops them as soon as its copy is made, not when GDAL
    writes the new ones (dropping a province's million rows takes seconds). A layer with
    geometry among them (a result table written with its outlines by an older mujun) is left
    for GDAL to replace, with its spatial index. A table stored in two parts
    (:data:`SPLIT_TABLES`) goes with them, unless ``parts`` is false."""
    _drop_views(con)
    for table in tables:
        for name in (table, *(split_parts(table) if parts else ())):
            if _exists(con, name) and not _has_geometry(con, name):
                _drop_table(con, name)


def split_parts(table: str) -> tuple[str, ...]:
    """The tables ``table`` is stored in when it is stored in two parts (:data:`SPLIT_TABLES`),
    else none."""
    return (SPLIT_TABLES[table].revised, SPLIT_TABLES[table].written) if table in SPLIT_TABLES else ()


def _split_view_select(con: sqlite3.Connection, table: str) -> str | None:
    """The ``SELECT`` of the view ``table`` of a table stored in two parts: the feature id, the
    columns of the first part, then those of the second, rows matched by feature id; ``None``
    when the table is not stored so (a whole table of that name, or no parts). A ``LEFT JOIN``
    (the rows match one to one, so it gives what an inner join gives): a read of the first
    part's columns alone does not visit the second part (SQLite omits the join)."""
    if table not in SPLIT_TABLES:
        return None
    revised, written = split_parts(table)
    if not (_exists(con, revised) and _exists(con, written)):
        return None
    if con.execute("SELECT 1 FROM sqlite_master WHERE name = ? AND type = 'table'", (table,)).fetchone():
        return None
    first = [f"a.{_q(c)}" for c, _ in _columns(con, revised) if c != "fid"]
    second = [f"b.{_q(c)}" for c, _ in _columns(con, written) if c != "fid"]
    return (f"SELECT a.fid AS fid, {', '.join(first + second)} FROM {_q(revised)} AS a "
            f"LEFT JOIN {_q(written)} AS b ON b.fid = a.fid")


# -- tables brought in from a scratch file ---------------------------------------------------

#: The GeoPackage (and GDAL) registers that name a table in a row of their own.
_REGISTERS = ("gpkg_contents", "gpkg_geometry_columns", "gpkg_extensions", "gpkg_data_columns",
              "gpkg_metadata_reference", "gpkg_ogr_contents")


def replace_from(con: sqlite3.Connection, schema: str, tables: Iterable[str]) -> None:
    """Replace the tables ``tables`` of the main database with those of the attached database
    ``schema`` (a scratch GeoPackage GDAL wrote them into), in the caller's transaction:
    each table with its rows, indexes, triggers, R-tree and registrations, the old one dropped
    with all of its. What a write that does not copy the workspace does at its end.

    SQLite copies the rows as they are stored (the table is created empty and filled by one
    ``INSERT … SELECT *``, before its triggers exist); an R-tree is filled from the scratch
    R-tree. mujun's views are dropped: :func:`finish` defines them again.
    """
    s = _q(schema)
    _drop_views(con)
    for name in (n for (n,) in con.execute(f"SELECT name FROM {s}.sqlite_master WHERE type = 'table' "
                                          "AND name IN ('gpkg_extensions', 'gpkg_ogr_contents')").fetchall()):
        if not _exists(con, name):  # a register GDAL made in the scratch file only
            con.execute(con.execute(f"SELECT sql FROM {s}.sqlite_master WHERE name = ?", (name,)).fetchone()[0])
    for table in tables:
        _drop_table(con, table)
        objects = con.execute(f"SELECT type, name, sql FROM {s}.sqlite_master WHERE tbl_name = ? "
                              "AND sql IS NOT NULL", (table,)).fetchall()
        ddl = next((sql for kind, _, sql in objects if kind == "table"), None)
        if ddl is None:
            raise sqlite3.OperationalError(f"table {table} is missing from the scratch file")
        con.execute(ddl)
        con.execute(f"INSERT INTO main.{_q(table)} SELECT * FROM {s}.{_q(table)}")
        for _column, rtree in _rtrees(con, schema, table):
            con.execute(con.execute(f"SELECT sql FROM {s}.sqlite_master WHERE name = ?", (rtree,)).fetchone()[0])
            con.execute(f"INSERT INTO main.{_q(rtree)} SELECT * FROM {s}.{_q(rtree)}")
        for kind, _, sql in objects:
            if kind in ("index", "trigger"):
                con.execute(sql)
        for register in _REGISTERS:
            _copy_rows(con, schema, register, "lower(table_name) = lower(?)", (table,))
        _copy_rows(con, schema, "gpkg_spatial_ref_sys", "srs_id IN (SELECT srs_id FROM {s}.gpkg_contents WHERE "
                   "lower(table_name) = lower(?)) AND srs_id NOT IN (SELECT srs_id FROM main.gpkg_spatial_ref_sys)",
                   (table,))


def _copy_rows(con: sqlite3.Connection, schema: str, table: str, where: str, params: tuple) -> None:
    """Copy the rows ``where`` selects (``{s}`` standing for the attached database) of the
    register ``table`` from database ``schema`` into the main one, in the columns both have."""
    s = _q(schema)
    if not _exists(con, table) or not con.execute(f"SELECT 1 FROM {s}.sqlite_master WHERE name = ?",
                                                  (table,)).fetchone():
        return
    theirs = {str(r[1]) for r in con.execute(f"PRAGMA {s}.table_info({_q(table)})")}
    columns = ", ".join(_q(c) for c, _ in _columns(con, table) if c in theirs)
    con.execute(f"INSERT INTO main.{_q(table)} ({columns}) SELECT {columns} FROM {s}.{_q(table)} "
                f"WHERE {where.format(s=s)}", params)


def _rtrees(con: sqlite3.Connection, schema: str, table: str) -> list[tuple[str, str]]:
    """``(geometry column, R-tree)`` of each spatial index of ``table`` in database ``schema``."""
    s = _q(schema)
    if not con.execute(f"SELECT 1 FROM {s}.sqlite_master WHERE name = 'gpkg_extensions'").fetchone():
        return []
    rows = con.execute(f"SELECT column_name FROM {s}.gpkg_extensions WHERE lower(table_name) = lower(?) "
                       "AND extension_name = 'gpkg_rtree_index'", (table,)).fetchall()
    return [(str(c), f"rtree_{table}_{c}") for (c,) in rows
            if con.execute(f"SELECT 1 FROM {s}.sqlite_master WHERE name = ?", (f"rtree_{table}_{c}",)).fetchone()]


def _drop_table(con: sqlite3.Connection, table: str) -> None:
    """Drop ``table`` of the main database, if it exists, with its spatial indexes and
    registrations (its own indexes and triggers go with it)."""
    if not _exists(con, table):
        return
    for _, rtree in _rtrees(con, "main", table):
        con.execute(f"DROP TABLE {_q(rtree)}")
    for register in _REGISTERS:
        if _exists(con, register):
            con.execute(f"DELETE FROM {register} WHERE lower(table_name) = lower(?)", (table,))
    con.execute(f"DROP TABLE {_q(table)}")


# -- rows revised in place -----------------------------------------------------------------

def revisable(con: sqlite3.Connection, table: str) -> int | None:
    """The number of rows of ``table`` when it is an attribute table whose feature ids run
    1, 2, … in its order, as GDAL writes a table (what :func:`update_rows` addresses rows
    by); ``None`` otherwise (missing, a layer with geometry, rows removed)."""
    if not _exists(con, table) or _has_geometry(con, table):
        return None
    if "fid" not in {c for c, _ in _columns(con, table)}:
        return None
    n, first, last = con.execute(f"SELECT count(*), min(fid), max(fid) FROM {_q(table)}").fetchone()
    return int(n) if n == 0 or (first == 1 and last == n) else None


def update_rows(con: sqlite3.Connection, table: str, columns: list[str], rows: Iterable[tuple]) -> None:
    """Set ``columns`` of rows of the attribute table ``table``: each of ``rows`` is the new
    values, then the row's feature id. The table's time of change is set as GDAL sets it."""
    sets = ", ".join(f"{_q(c)} = ?" for c in columns)
    con.executemany(f"UPDATE {_q(table)} SET {sets} WHERE fid = ?", rows)
    _changed_now(con, table)


def delete_rows(con: sqlite3.Connection, table: str, fids: Iterable[int]) -> None:
    """Delete the rows of feature ids ``fids`` from the attribute table ``table`` (its time of
    change set as GDAL sets it)."""
    con.executemany(f"DELETE FROM {_q(table)} WHERE fid = ?", ((int(f),) for f in fids))
    _changed_now(con, table)


def insert_rows(con: sqlite3.Connection, table: str, columns: list[str], rows: Iterable[tuple]) -> None:
    """Insert ``rows`` (values of ``columns``, the feature id ``fid`` among them) into the
    attribute table ``table`` (its time of change set as GDAL sets it)."""
    con.executemany(f"INSERT INTO {_q(table)} ({', '.join(_q(c) for c in columns)}) "
                    f"VALUES ({', '.join('?' * len(columns))})", rows)
    _changed_now(con, table)


def _changed_now(con: sqlite3.Connection, table: str) -> None:
    if _exists(con, "gpkg_contents"):
        con.execute("UPDATE gpkg_contents SET last_change = ? WHERE lower(table_name) = lower(?)",
                    (timestamp(), table))


# -- AUTOINCREMENT counters while GDAL writes ---------------------------------------------

def park_sequences(con: sqlite3.Connection, parked: dict[str, int]) -> None:
    """Move the AUTOINCREMENT counters (``sqlite_sequence``) of a write's copy into ``parked``
    (the latest of each table), until :func:`restore_sequences`.

    Every GeoPackage table GDAL writes has an AUTOINCREMENT key, and SQLite reads the whole of
    ``sqlite_sequence`` to find the table's counter for every row inserted: with a workspace's
    18 counters, writing 4 million rows takes 40 % longer than into an empty file. Parked
    after the copy is made and after each table is written, the counters GDAL reads are its
    own table's alone. (Kept outside the file: a table GeoPackage does not register makes
    GDAL leave the attribute tables it writes unregistered too.)
    """
    if not _exists(con, "sqlite_sequence"):
        return
    parked.update((str(name), int(seq)) for name, seq in con.execute("SELECT name, seq FROM sqlite_sequence"))
    con.execute("DELETE FROM sqlite_sequence")


def restore_sequences(con: sqlite3.Connection, parked: dict[str, int]) -> None:
    """Put the counters :func:`park_sequences` took back into ``sqlite_sequence``: those of the
    tables that still exist and have not been given a new one since."""
    if not parked or not _exists(con, "sqlite_sequence"):
        return
    tables = {str(n) for (n,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    present = {str(n) for (n,) in con.execute("SELECT name FROM sqlite_sequence")}
    con.executemany("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)",
                    [(name, seq) for name, seq in parked.items() if name in tables and name not in present])


# -- per-year views -----------------------------------------------------------------------

def year_view(table: str, year: int) -> str:
    """Name of the view of one year of a result table: ``result_parcel_2025``."""
    return f"{table}_{int(year)}"


def year_view_select(table: str, year: int | None, columns: list[str], geometry: str | None,
                     source: tuple[str, str, str] | None = None) -> str:
    """The ``SELECT`` of the view of ``year``'s rows of ``table`` (every row when ``year`` is
    ``None``): the feature id as ``OGC_FID`` (GDAL takes it as the view's feature id), the
    geometry column, the attributes. The one definition of the per-year views.

    A table with its own ``geometry`` column shows that; a table without (``source`` =
    ``(layer, id field, its geometry column)``, :data:`SHARED_GEOMETRY`) shows the outlines of
    the layer's rows with the same id, and their feature ids, so that GDAL and QGIS filter the
    view by the layer's spatial index."""
    where = f" WHERE {'r.' if source else ''}year = {int(year)}" if year is not None else ""
    if source is not None:
        layer, key, geom = source
        rest = [f"r.{_q(c)}" for c in columns if c != "fid"]
        return (f"SELECT g.fid AS OGC_FID, g.{_q(geom)} AS {_q(geom)}, {', '.join(rest)} FROM {_q(table)} AS r "
                f"JOIN {_q(layer)} AS g ON g.{_q(key)} = r.{_q(key)}{where}")
    head = ["fid AS OGC_FID"] + ([_q(geometry)] if geometry else [])
    rest = [_q(c) for c in columns if c not in ("fid", geometry)]
    return f"SELECT {', '.join(head + rest)} FROM {_q(table)}{where}"


def geometry_sources(meta: Mapping[str, str], table: str) -> dict[str, str]:
    """Year (``"2023"``, or ``"*"`` for a table without years) -> the snapshot table that year's
    rows of the shared result table ``table`` read their outlines from; years not listed read
    the source layer itself (:data:`GEOMETRY_OF`)."""
    text = meta.get(GEOMETRY_OF + table, "")
    return dict(part.split("=", 1) for part in text.split(",") if "=" in part)


def format_sources(mapping: Mapping[str, str]) -> str:
    """The metadata value of :func:`geometry_sources`."""
    return ",".join(f"{k}={v}" for k, v in sorted(mapping.items()))


def source_of(meta: Mapping[str, str], table: str, year: int | None) -> str:
    """The layer (or snapshot) the rows of ``year`` of the shared result table ``table`` read
    their outlines from."""
    return geometry_sources(meta, table).get("*" if year is None else str(int(year)), SHARED_GEOMETRY[table][0])


def shared_select(table: str, source: str, geometry: str, where: str | None, years: list[int] | None) -> str:
    """The ``SELECT`` that reads the rows of the shared result table ``table`` (those ``where``
    selects, of ``years`` or all) with the outlines of ``source``'s rows of the same id, in the
    table's order; a row whose id ``source`` lacks keeps a NULL geometry."""
    key = SHARED_GEOMETRY[table][1]
    conditions = []
    if years is not None:
        conditions.append(f"r.year IN ({', '.join(str(int(y)) for y in years)})")
    if where:
        conditions.append(f"r.fid IN (SELECT fid FROM {_q(table)} WHERE {where})")
    return (f"SELECT r.*, g.{_q(geometry)} AS {_q(geometry)} FROM {_q(table)} AS r LEFT JOIN {_q(source)} AS g "
            f"ON g.{_q(key)} = r.{_q(key)}" + (f" WHERE {' AND '.join(conditions)}" if conditions else "")
            + " ORDER BY r.fid")


def snapshot(con: sqlite3.Connection, source: str, name: str) -> None:
    """Copy the outlines and ids of the layer ``source`` into the new layer ``name`` (feature
    ids kept), registered like it: what stored results were computed on, kept when an import
    replaces the layer. SQLite copies the GeoPackage blobs as they are; no spatial index."""
    key = next(k for s, k in SHARED_GEOMETRY.values() if s == source)
    geom = _geometry_column(con, source)
    con.execute(f"CREATE TABLE {_q(name)} (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
                f"{_q(geom)} MULTIPOLYGON, {_q(key)} TEXT)")
    con.execute(f"INSERT INTO {_q(name)} (fid, {_q(geom)}, {_q(key)}) SELECT fid, {_q(geom)}, {_q(key)} FROM {_q(source)}")
    con.execute(f"CREATE INDEX {_q(f'idx_{name}_{key}')} ON {_q(name)} ({_q(key)})")
    label = KINDS[source].label
    _register(con, name, source, f"{label}（存档 {name.rsplit('_', 1)[1][:8]}）",
              f"导入新的{label}图层前的图形与编号，供此前评价年度的结果视图使用")


def keep_sources(con: sqlite3.Connection, written: Iterable[str]) -> dict[str, str]:
    """Before a write replaces the layers ``written``: snapshot the outlines of each source
    layer being replaced that stored results still read (:func:`snapshot`), and point those
    results at it. Returns the metadata entries to write (:data:`GEOMETRY_OF`)."""
    written = set(written)
    meta = _meta(con)
    updates: dict[str, str] = {}
    for table, (source, _key) in SHARED_GEOMETRY.items():
        if (source not in written or table in written or not _exists(con, table) or not _exists(con, source)
                or _geometry_column(con, table) is not None):
            continue
        mapping = geometry_sources(meta, table)
        has_years = "year" in [c for c, _ in _columns(con, table)]
        years = [str(y) for y in _years(con, table)] if has_years else ["*"]
        live = [y for y in years if y not in mapping]
        if not live:
            continue
        generation = re.sub("[^0-9a-f]", "", meta.get(f"layer_generation:{source}", ""))[:16]
        name = f"mujun_{source}_{generation if len(generation) >= 8 else uuid.uuid4().hex[:16]}"
        if not _exists(con, name):
            snapshot(con, source, name)
        mapping.update(dict.fromkeys(live, name))
        updates[GEOMETRY_OF + table] = format_sources(mapping)
    return updates


def _meta(con: sqlite3.Connection) -> dict[str, str]:
    if not _exists(con, "mujun_meta"):
        return {}
    return {str(k): str(v) for k, v in con.execute("SELECT key, value FROM mujun_meta")}


def _index_sources(con: sqlite3.Connection) -> None:
    """An index on the id of each source layer (and snapshot) the shared results join on."""
    for source, key in SHARED_GEOMETRY.values():
        if _exists(con, source) and key in [c for c, _ in _columns(con, source)]:
            con.execute(f"CREATE INDEX IF NOT EXISTS {_q(f'idx_{source}_{key}')} ON {_q(source)} ({_q(key)})")


def _drop_unused_snapshots(con: sqlite3.Connection) -> None:
    """Drop the snapshot layers no stored year reads any more."""
    meta = _meta(con)
    used = {v for table in SHARED_GEOMETRY for v in geometry_sources(meta, table).values()}
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        if _SNAPSHOT.match(name) and name not in used:
            con.execute(f"DROP TABLE {_q(name)}")
            for table in ("gpkg_geometry_columns", "gpkg_data_columns", "gpkg_contents", "gpkg_extensions"):
                if _exists(con, table):
                    con.execute(f"DELETE FROM {table} WHERE table_name = ?", (name,))


def review_view_select(year: int, parcel_columns: list[str]) -> str:
    """The ``SELECT`` of :data:`REVIEW_VIEW`: the year's parcels (their per-year view) with
    their current review decision, its fields prefixed ``review_`` (no decision: NULL)."""
    view = _q(year_view(_PARCELS, year))
    parcel = ["p.OGC_FID AS OGC_FID"] + [f"p.{_q(c)}" for c in parcel_columns if c != "OGC_FID"]
    review = [f"r.{_q(f.name)} AS {_q('review_' + f.name)}" for f in REVIEW_FIELDS]
    return (f"SELECT {', '.join(parcel + review)} FROM {view} AS p LEFT JOIN {_REVIEW_TABLE} AS r "
            "ON r.parcel_id = p.parcel_id AND r.year = p.year")


def _drop_views(con: sqlite3.Connection) -> None:
    views = [n for (n,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'view'")
             if _OWN_VIEW.match(n) or n in SPLIT_TABLES]
    for name in views:
        con.execute(f"DROP VIEW {_q(name)}")
        for meta in ("gpkg_geometry_columns", "gpkg_data_columns", "gpkg_contents"):
            if _exists(con, meta):
                con.execute(f"DELETE FROM {meta} WHERE table_name = ?", (name,))


def _register(con: sqlite3.Connection, view: str, source: str, identifier: str, description: str) -> None:
    """Register ``view`` in gpkg_contents (and gpkg_geometry_columns) like ``source``."""
    row = con.execute("SELECT data_type, min_x, min_y, max_x, max_y, srs_id FROM gpkg_contents WHERE table_name = ?",
                      (source,)).fetchone()
    con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change, "
                "min_x, min_y, max_x, max_y, srs_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (view, row[0], identifier, description, timestamp(), *row[1:]))
    geom = con.execute("SELECT column_name, geometry_type_name, srs_id, z, m FROM gpkg_geometry_columns "
                       "WHERE table_name = ?", (source,)).fetchone() if row[0] == "features" else None
    if geom is not None:
        con.execute("INSERT INTO gpkg_geometry_columns (table_name, column_name, geometry_type_name, srs_id, z, m) "
                    "VALUES (?, ?, ?, ?, ?, ?)", (view, *geom))


def _geometry_column(con: sqlite3.Connection, table: str) -> str | None:
    row = con.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (table,)).fetchone()
    return None if row is None else str(row[0])


def _years(con: sqlite3.Connection, table: str) -> list[int]:
    """The evaluated years (the workspace's metadata: no scan of a large table), else the
    table's own."""
    if _exists(con, "mujun_meta"):
        row = con.execute("SELECT value FROM mujun_meta WHERE key = 'evaluated_years'").fetchone()
        if row is not None and row[0]:
            return sorted(int(y) for y in str(row[0]).split(","))
    return [int(y) for (y,) in con.execute(f"SELECT DISTINCT year FROM {_q(table)} WHERE year IS NOT NULL "
                                           "ORDER BY year")]


def _define_views(con: sqlite3.Connection) -> None:
    """The view of each table stored in two parts (:data:`SPLIT_TABLES`); one view per year of
    each result table with a ``year`` column, and of the review; a shared result table without
    years (:data:`SHARED_GEOMETRY`) gets one view of all its rows."""
    for table in SPLIT_TABLES:
        select = _split_view_select(con, table)
        if select is not None:
            con.execute(f"CREATE VIEW {_q(table)} AS {select}")
            con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change) "
                        "VALUES (?, 'attributes', ?, ?, ?)",
                        (table, table, f"{table} 的各年度记录（视图，合并其两部分）", timestamp()))
    tables = [t for (t,) in con.execute("SELECT c.table_name FROM gpkg_contents c JOIN sqlite_master m "
                                        "ON m.name = c.table_name AND (m.type = 'table' OR m.name IN "
                                        f"({', '.join('?' * len(SPLIT_TABLES))})) "
                                        "WHERE c.table_name LIKE 'result!_%' ESCAPE '!' ORDER BY c.rowid",
                                        list(SPLIT_TABLES))]
    meta = _meta(con)
    for table in tables:
        columns = [c for c, _ in _columns(con, table)]
        geometry = _geometry_column(con, table)
        title = RESULT_TABLES.get(table, table)

        def source(year: int | None, table=table, geometry=geometry):
            """(layer, id, geometry column) of a shared table's rows of ``year``; None if none."""
            if geometry is not None or table not in SHARED_GEOMETRY:
                return None
            layer = source_of(meta, table, year)
            geom = _geometry_column(con, layer) if _exists(con, layer) else None
            return None if geom is None else (layer, SHARED_GEOMETRY[table][1], geom)

        if "year" not in columns:
            shared = source(None)
            if shared is not None:
                view = FEATURES_VIEW.format(table=table)
                con.execute(f"CREATE VIEW {_q(view)} AS {year_view_select(table, None, columns, None, shared)}")
                _register(con, view, shared[0], f"{title}（图层）", f"{table} 的记录及其图形（视图，随每次评价更新）")
            continue
        for year in _years(con, table):
            shared = source(year)
            if geometry is None and table in SHARED_GEOMETRY and shared is None:
                continue  # the outlines are gone (the source layer was removed): the table still holds the figures
            view = year_view(table, year)
            con.execute(f"CREATE VIEW {_q(view)} AS {year_view_select(table, year, columns, geometry, shared)}")
            _register(con, view, shared[0] if shared else table, f"{title}（{int(year)} 年）",
                      f"{table} 中 {int(year)} 年的记录（视图，随每次评价更新）")
            if table == _PARCELS and _exists(con, _REVIEW_TABLE):
                review = REVIEW_VIEW.format(year=int(year))
                parcel_columns = [c for c, _ in _columns(con, view)]
                con.execute(f"CREATE VIEW {_q(review)} AS {review_view_select(year, parcel_columns)}")
                _register(con, review, view, f"地块审核（{int(year)} 年）",
                          f"{int(year)} 年评价的地块及其当前审核结论（视图，审核保存后即时反映）")


def _name_tables(con: sqlite3.Connection) -> None:
    """Chinese identifiers (GDAL's layer IDENTIFIER) for the imported layers and the
    multi-year result tables; an identifier another table holds is left alone."""
    names = {"mujun_meta": "工作空间信息", "mujun_import_log": "导入记录", "mujun_rasters": "影像登记",
             "mujun_geometry_cache": "评价几何计算结果（内部，供重新评价复用）",
             **{part: f"{RESULT_TABLES[t]}（内部：{what}，见视图 {t}）" for t, split in SPLIT_TABLES.items()
                for part, what in ((split.revised, "各项数值"), (split.written, split.written_title))},
             **{k.name: k.label for k in KINDS.values()},
             **{t: f"{title}（各年度）" if t != "result_building" else title for t, title in RESULT_TABLES.items()}}
    con.executemany("UPDATE OR IGNORE gpkg_contents SET identifier = ? WHERE table_name = ?",
                    [(title, table) for table, title in names.items()])


# -- datetimes ----------------------------------------------------------------------------

def _no_geometry_function(*_args) -> None:
    raise sqlite3.OperationalError("geometry functions are GDAL's")


def _migrate_datetimes(con: sqlite3.Connection, tables: Iterable[str] | None = None) -> None:
    """Rewrite ``DATETIME`` values without ``Z`` as GeoPackage requires. Calendar dates
    (the schema's date fields) are kept as they are; other times were written in the
    server's local time and are converted to UTC."""
    # the R-tree triggers name GDAL's geometry functions, which sqlite3 must know to run an
    # UPDATE at all; they fire only when the feature id or geometry changes, never here
    for name in ("ST_IsEmpty", "ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY"):
        con.create_function(name, 1, _no_geometry_function, deterministic=True)
    registered = [t for (t,) in con.execute("SELECT c.table_name FROM gpkg_contents c JOIN sqlite_master m "
                                            "ON m.name = c.table_name AND m.type = 'table'")]
    for table in registered if tables is None else [t for t in registered if t in set(tables)]:
        for column, kind in _columns(con, table):
            if kind.upper() != "DATETIME":
                continue
            c = _q(column)
            first = con.execute(f"SELECT {c} FROM {_q(table)} WHERE {c} IS NOT NULL AND {c} NOT LIKE '%Z' "
                                "LIMIT 1").fetchone()
            if first is None:
                continue
            f = FIELDS_BY_NAME.get(column)
            shift = "" if f is not None and f.dtype == "date" else ", 'utc'"
            # append-only tables refuse updates by trigger: lifted for this one conversion
            triggers = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? "
                                   "AND sql LIKE '%RAISE%'", (table,)).fetchall()
            for name, _ in triggers:
                con.execute(f"DROP TRIGGER {_q(name)}")
            con.execute(f"UPDATE {_q(table)} SET {c} = strftime('%Y-%m-%dT%H:%M:%fZ', {c}{shift}) "
                        f"WHERE {c} IS NOT NULL AND {c} NOT LIKE '%Z' AND strftime('%s', {c}) IS NOT NULL")
            for _, sql in triggers:
                con.execute(sql)
    if _exists(con, "gpkg_contents"):
        con.execute("UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ', last_change, 'utc') "
                    "WHERE last_change NOT LIKE '%Z' AND strftime('%s', last_change) IS NOT NULL")


# -- field titles ---------------------------------------------------------------------------

def _ensure_schema(con: sqlite3.Connection) -> None:
    for stmt in _SCHEMA_DDL.split(";\n"):
        con.execute(stmt)
    for table in ("gpkg_data_columns", "gpkg_data_column_constraints"):
        if con.execute("SELECT 1 FROM gpkg_extensions WHERE table_name = ? AND extension_name = 'gpkg_schema'",
                       (table,)).fetchone() is None:
            con.execute("INSERT INTO gpkg_extensions (table_name, column_name, extension_name, definition, scope) "
                        "VALUES (?, NULL, 'gpkg_schema', ?, 'read-write')", (table, _SCHEMA_DEFINITION))


def _titles(table: str, columns: list[str]) -> list[tuple[str, str, str, str | None]]:
    """``(column, name, title, description)`` of each column; names are unique in a table
    (GeoPackage requires it): a header two columns share is told apart by the column."""
    parts = {part: t for t in SPLIT_TABLES for part in split_parts(t)}
    if table in parts:  # a part's columns are those of its table
        table = parts[table]
    elif _OWN_VIEW.match(table):  # a view's columns are those of its table
        table = _PARCELS if table.startswith("review_") else table.rsplit("_", 1)[0]
    rows, seen = [], set()
    for column in columns:
        f = column_field(table, column)
        if f is None and column.startswith("review_"):
            f = column_field("mujun_review", column.removeprefix("review_"))
        header = f.header if f is not None else column
        name = header if header not in seen else f"{header}（{column}）"
        seen.add(name)
        unit = {"m2": "平方米"}.get(f.unit or "", f.unit) if f is not None else None
        description = f"{f.label}，单位：{unit}" if f is not None and unit else None
        rows.append((column, name, header, description))
    return rows


def describe(con: sqlite3.Connection, tables: list[str] | None = None) -> None:
    """Write the Chinese titles of every column of ``tables`` (default: every table and view
    registered in gpkg_contents) into ``gpkg_data_columns``, replacing theirs."""
    _ensure_schema(con)
    if tables is None:
        tables = [t for (t,) in con.execute("SELECT c.table_name FROM gpkg_contents c JOIN sqlite_master m "
                                            "ON m.name = c.table_name ORDER BY c.rowid")]
    for table in tables:
        con.execute("DELETE FROM gpkg_data_columns WHERE table_name = ?", (table,))
        con.executemany("INSERT INTO gpkg_data_columns (table_name, column_name, name, title, description) "
                        "VALUES (?, ?, ?, ?, ?)",
                        [(table, *row) for row in _titles(table, [c for c, _ in _columns(con, table)])])


def finish(con: sqlite3.Connection, times_of: Iterable[str] | None = None) -> None:
    """Everything after GDAL has written: version, per-year views, times, field titles.

    Runs in the caller's transaction. Views and titles are metadata, quick on any size of
    workspace; the times are looked for in the tables ``times_of`` (default: every table),
    which reads each table that has ``DATETIME`` columns.
    """
    prepare(con)
    if not _exists(con, "gpkg_contents"):
        return
    _drop_views(con)
    _drop_unused_snapshots(con)
    _index_sources(con)
    _define_views(con)
    _name_tables(con)
    _migrate_datetimes(con, times_of)
    _ensure_schema(con)
    con.execute("DELETE FROM gpkg_data_columns WHERE table_name NOT IN (SELECT table_name FROM gpkg_contents)")
    describe(con)
