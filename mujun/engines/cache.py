"""The geometry of an evaluation kept in the workspace, reused while its layers are unchanged.

A corrected enterprise table or another rule set changes nothing the geometry stage computes
(areas, building totals per parcel, zones, built-up fractions), yet at a province's scale
that stage is most of an evaluation. :func:`mujun.service.evaluate` therefore stores the
:class:`~mujun.engines.interface.GeometryResult` without its geometry in the attribute table
:data:`TABLE`, in the same write as the results, keyed (:func:`geometry_key`) on:

- each source layer's generation (:meth:`~mujun.layers.workspace.Workspace.layer_generation`,
  recorded by every import), or its absence;
- each layer's ``last_change`` in ``gpkg_contents``, which GDAL (and so QGIS) updates when it
  edits a layer in place, without a new generation;
- :data:`FORMAT` and mujun's version, so a changed computation is never served from an old cache.

No rule enters the geometry stage (its figures depend on the layers only), so the rule sets
are not part of the key. A layer written before generations were recorded is unknown: the
evaluation then runs in full and records a generation for it, so the next one can reuse.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field

import pandas as pd

from mujun import __version__
from mujun.engines.interface import GeometryResult
from mujun.geo.evaluation import ZONES
from mujun.layers.columnar import ColumnCache, cache_dir
from mujun.layers.rasters import TABLE as RASTERS
from mujun.layers.workspace import LAYER_GENERATION, Workspace

__all__ = ["FORMAT", "KEPT_FOLDER", "SOURCES", "TABLE", "GeometryKey", "cache_entries", "geometry_key", "read_kept",
           "stored_geometry"]

#: The attribute table holding the stored geometry stage (one row per parcel).
TABLE = "mujun_geometry_cache"
#: Changed whenever what the geometry stage computes changes.
FORMAT = "1"
#: What the geometry stage reads: parcels, buildings, zones and the raster's registration.
SOURCES: tuple[str, ...] = ("parcels", "buildings", *(f"{level}s" for level in ZONES), RASTERS)
#: The folder, in the workspace's column cache folder (:func:`~mujun.layers.columnar.cache_dir`),
#: where :func:`read_kept` keeps what a reusing evaluation reads (a name with a dot: the
#: server's cache, whose folders are generations, leaves it alone).
KEPT_FOLDER = "geometry.stage"
#: Metadata: the key the stored table was computed under, and its columns' types.
KEY_META = "geometry_cache_key"
DTYPES_META = "geometry_cache_dtypes"
#: The raster's built-up fraction, a column of :data:`TABLE` when a raster was registered.
BUILTUP = "builtup_fraction"
#: The parcel figures :func:`~mujun.geo.evaluation.parcel_base` computes (replacing a parcels
#: column of the same name); every other column it adds is stored too.
FIGURES: tuple[str, ...] = (
    "area_m2", "area_mu", "industrial", "building_count", "footprint_m2", "floor_area_m2", "admin_footprint_m2",
    "plot_ratio", "building_coefficient", "admin_share", "investment_intensity",
    *(c for level, (zone_id, _) in ZONES.items() for c in (zone_id, f"{level}_name")),
)


@dataclass(frozen=True)
class GeometryKey:
    """The key of the geometry stage of a workspace as it is now (:func:`geometry_key`).

    ``stamps`` are the generations to record for the layers written before generations were
    (``None`` of their generation): written only where the file still has none when the
    results are saved, so a layer imported meanwhile keeps its own and the key stops matching.
    """

    text: str
    stamps: dict[str, str] = field(default_factory=dict)

    @property
    def known(self) -> bool:
        """Whether every layer's generation was recorded (else no stored result can match)."""
        return not self.stamps


def geometry_key(ws: Workspace) -> GeometryKey:
    """The key of the geometry stage's inputs in ``ws`` (a few metadata queries)."""
    meta = ws.meta()
    changed = {str(n): str(t or "") for n, t in ws.query("SELECT table_name, last_change FROM gpkg_contents")}
    present = set(ws.layers())
    parts: dict[str, str] = {"format": FORMAT, "mujun": __version__}
    stamps: dict[str, str] = {}
    seen = f"seen-{uuid.uuid4().hex}"
    for name in SOURCES:
        if name not in present:
            parts[name] = "absent"
            continue
        generation = meta.get(LAYER_GENERATION + name)
        if generation is None:
            generation = stamps[LAYER_GENERATION + name] = seen
        parts[name] = f"{generation}@{changed.get(name, '')}"
    return GeometryKey(json.dumps(parts, sort_keys=True), stamps)


def _kept_token(ws: Workspace, key: GeometryKey) -> str:
    """What fixes the contents of the parcels and of :data:`TABLE`: ``key`` and the stored
    table's own generation and last change (a full evaluation writes it again)."""
    changed = ws.query("SELECT last_change FROM gpkg_contents WHERE table_name = ?", (TABLE,))
    text = json.dumps([key.text, ws.meta().get(LAYER_GENERATION + TABLE, ""), [str(c) for (c,) in changed]])
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def read_kept(ws: Workspace, key: GeometryKey, name: str) -> pd.DataFrame:
    """The figures of ``name`` (the parcels, or :data:`TABLE`), as
    ``ws.read(name, geometry=False)`` gives them, kept beside the workspace as Arrow IPC
    files (:data:`KEPT_FOLDER`) under ``key`` and the stored table's generation: the next
    evaluation that reuses the stage reads them memory-mapped, not through GDAL (at a
    province's million parcels, 0.5 s rather than 2 s). A corrected enterprise table leaves
    them valid; files under another key replace them. Read from the workspace alone when a
    layer's generation is unknown."""
    if not key.known:
        return ws.read(name, geometry=False)
    return ws.read_kept(name, ColumnCache(cache_dir(ws.path) / KEPT_FOLDER), _kept_token(ws, key),
                        fresh=lambda: _kept_token(ws, geometry_key(ws)))


def stored_geometry(ws: Workspace, key: GeometryKey, parcels: pd.DataFrame) -> GeometryResult | None:
    """The stored geometry stage on the rows of ``parcels`` (the parcels layer as read now), as
    the engines give it but without the buildings (their results are stored already); ``None``
    when none is stored under ``key`` or its parcels are not those of ``parcels`` in order."""
    meta = ws.meta()
    if not key.known or meta.get(KEY_META) != key.text or DTYPES_META not in meta or not ws.has(TABLE):
        return None
    stored = read_kept(ws, key, TABLE)
    ids = stored["parcel_id"].astype("string").reset_index(drop=True)
    if len(ids) != len(parcels) or not ids.equals(parcels["parcel_id"].astype("string").reset_index(drop=True)):
        return None
    dtypes: dict[str, str] = json.loads(meta[DTYPES_META])
    base = parcels.copy(deep=False)  # as parcel_base does: the figures added, the layer's columns shared
    for col, dtype in dtypes.items():
        if col != BUILTUP:
            base[col] = stored[col].astype(dtype).array  # positionally, with the computed type
    builtup = None
    if BUILTUP in dtypes:
        builtup = pd.Series(stored[BUILTUP].astype("float64").to_numpy(), index=ids.to_numpy())
    return GeometryResult(base, None, builtup)


def cache_entries(geometry: GeometryResult, parcels: pd.DataFrame, key: GeometryKey,
                  ) -> tuple[pd.DataFrame, dict[str, str]]:
    """The table :data:`TABLE` and the metadata to store with the results of ``geometry``,
    computed from the parcels layer ``parcels`` under ``key``."""
    base = geometry.base
    kept = set(parcels.columns) - set(FIGURES)
    columns = [c for c in base.columns if c != base.geometry.name and c not in kept]
    table = pd.DataFrame(base[["parcel_id", *columns]]).reset_index(drop=True)  # shares the columns (copy-on-write)
    dtypes = {c: str(base[c].dtype) for c in columns}
    if geometry.builtup is not None:  # on the parcels' rows, in order (GeometryResult.of)
        table[BUILTUP] = geometry.builtup.to_numpy(dtype="float64")
        dtypes[BUILTUP] = "float64"
    return table, {KEY_META: key.text, DTYPES_META: json.dumps(dtypes)}

