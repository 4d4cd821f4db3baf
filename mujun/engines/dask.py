"""The dask engine: the per-feature geometry of an evaluation on a dask.distributed cluster.

``mujun evaluate --engine dask`` runs here what :func:`mujun.geo.evaluation.building_base`,
:func:`mujun.geo.evaluation.parcel_base` and the raster's zonal figures do on one machine. The
client (where ``mujun evaluate`` runs) reads the workspace, cuts parcels and buildings into
spatially compact parts (:func:`mujun.geo.partitioned.spatial_parts`), ships the parts to the
workers (``Client.scatter``; workers need no access to the workspace) and runs
:mod:`mujun.geo.partitioned` on each; it gathers the non-geometric per-feature tables and puts
them back on its own geometries. The parcel layer is a ``dask_geopandas.GeoDataFrame``
over the shipped parts with its ``spatial_partitions``; the raster's zonal figures are a
``map_partitions`` over it, so a registered raster must be readable at the same path on
every worker.

The enterprise-level steps need the whole population (land per enterprise across parcels,
benchmarks, class shares, ranks) and run on the client afterwards, on the gathered tables.

Each worker runs the overlays in its own ``$MUJUN_THREADS`` threads (else its cores), read
where it runs: workers on other machines have other cores.

dask, distributed and dask-geopandas are optional: ``pip install 'mujun[dask]'``.
"""

from __future__ import annotations

import importlib.metadata
import logging
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
from tqdm import tqdm

from mujun.engines.interface import BuildingsDone, EvaluationInputs, GeometryResult
from mujun.engines.settings import overlay_threads
from mujun.geo.area import local_gk_crs
from mujun.geo.errors import DependencyError, InputError, MujunError, WorkspaceError
from mujun.geo.partitioned import (
    assemble,
    building_part,
    nearby_parts,
    parcel_outlines,
    parcel_part,
    part_bounds,
    spatial_parts,
)
from mujun.layers.rasters import RasterSource, source_builtup

if TYPE_CHECKING:
    from distributed import Client, Future

__all__ = ["CONNECT_TIMEOUT", "DaskEngine", "connect", "default_partitions", "evaluation_base", "require"]

#: Seconds to wait for a scheduler to answer, and for it to have a worker.
CONNECT_TIMEOUT = 20.0
#: The local scheduler's HTTP endpoint (and dashboard, if bokeh is installed): this machine
#: only, on a free port, so that no fixed port is taken and nothing is exposed.
LOCAL_HTTP = "127.0.0.1:0"
#: Parcels per part beyond which more parts than twice the worker threads are made.
PARCELS_PER_PART = 50_000
_INSTALL = "pip install 'mujun[dask]'"


class DaskEngine:
    """The geometry of an evaluation on a dask cluster; the results are identical to the
    local engine's.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``); default: a new local cluster.
    partitions : int, optional
        Parts of each layer (default: :func:`default_partitions`).

    Raises
    ------
    DependencyError
        dask, distributed or dask-geopandas is missing (said before anything is read).
    """

    OPTIONS: tuple[str, ...] = ("scheduler", "partitions")

    def __init__(self, *, scheduler: str | None = None, partitions: int | None = None):
        if partitions is not None and partitions < 1:
            raise InputError(f"--partitions 应为正整数，收到 {partitions}")
        require()
        self.scheduler = scheduler
        self.partitions = partitions

    def geometry(self, inputs: EvaluationInputs, *, progress: bool | None = None,
                 buildings_done: BuildingsDone | None = None) -> GeometryResult:
        """See :class:`~mujun.engines.interface.Engine`; takes the buildings out of ``inputs``."""
        buildings = inputs.take_buildings()
        with connect(self.scheduler) as client:
            buildings, base, builtup = evaluation_base(client, inputs.parcels, buildings, inputs.zones,
                                                       partitions=self.partitions, raster=inputs.raster,
                                                       progress=progress)
        return GeometryResult.of(base, buildings, builtup, buildings_done)


def require():
    """The ``distributed`` module, or a one-line error saying what to install."""
    try:
        import dask_geopandas  # noqa: F401
        import distributed
    except ImportError as err:
        raise DependencyError(
            f"dask 引擎需要 dask、distributed 和 dask-geopandas（缺少 {err.name or '其中之一'}）；请安装：{_INSTALL}"
        ) from None
    return distributed


@contextmanager
def connect(scheduler: str | None = None, *, workers: int | None = None, processes: bool = True) -> Iterator[Client]:
    """A client of the scheduler at ``scheduler``, or of a new local cluster closed on exit.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running ``dask scheduler`` (``tcp://host:8786``). Default: a
        ``LocalCluster`` on this machine without a dashboard.
    workers : int, optional
        Worker processes of the local cluster, one thread each (default: the CPU count).
    processes : bool
        Whether the local cluster's workers are processes (default) or threads.
    """
    distributed = require()
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as err:
            raise InputError(
                f"无法连接 dask 调度器 {scheduler}（{' '.join(str(err).split())}）；"
                "请检查地址和端口（如 tcp://192.168.1.10:8786），并确认调度器已启动（dask scheduler）"
            ) from None
        try:
            _check_workers(client, scheduler)
            _prepare_workers(client)
            yield client
        finally:
            client.close()
        return
    cluster = distributed.LocalCluster(
        n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=processes,
        dashboard_address=LOCAL_HTTP,
        # the workers' own log lines (a heartbeat lost while shutting down …) are not for the
        # user: a task's error comes back to the client and is reported there on one line
        silence_logs=logging.CRITICAL,
    )
    try:
        client = distributed.Client(cluster, set_as_default=False)
        try:
            _prepare_workers(client)
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def _check_workers(client: Client, scheduler: str) -> None:
    """Refuse a cluster without workers, or whose workers run another mujun."""
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
    except TimeoutError:
        raise InputError(
            f"dask 调度器 {scheduler} 没有可用的工作进程；请先在各节点运行 dask worker {scheduler}"
        ) from None
    try:
        mine = importlib.metadata.version("mujun")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return
    theirs = client.run(importlib.metadata.version, "mujun", on_error="return")
    for worker, version in sorted(theirs.items()):
        if isinstance(version, BaseException):
            raise InputError(f"工作节点 {worker} 没有安装 mujun；请在每个节点安装同一版本：pip install 'mujun[dask]=={mine}'")
        if version != mine:
            raise InputError(
                f"工作节点 {worker} 的 mujun 版本为 {version}，本机为 {mine}；请在每个节点安装同一版本（'mujun[dask]=={mine}'）"
            )


def _prepare_workers(client: Client) -> None:
    """Import the partition code on every worker now, so that a worker without mujun is
    reported before any work is sent, and imports are not counted in the first parts."""
    done = client.run(importlib.import_module, "mujun.engines.dask", on_error="return")
    for worker, result in sorted(done.items()):
        if isinstance(result, BaseException):
            raise DependencyError(
                f"dask 工作节点 {worker} 无法导入 mujun（{' '.join(str(result).split())}）；"
                f"请在每个节点安装与本机相同版本的 mujun：{_INSTALL}"
            ) from None


def default_partitions(client: Client, parcels: int) -> int:
    """Twice the cluster's worker threads, more for large layers (one part per 50,000 parcels)."""
    threads = sum(client.nthreads().values()) or 1
    return max(1, min(max(parcels, 1), max(2 * threads, math.ceil(parcels / PARCELS_PER_PART))))


def evaluation_base(
    client: Client,
    parcels: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None,
    zones: Mapping[str, gpd.GeoDataFrame | None],
    *,
    partitions: int | None = None,
    raster: RasterSource | None = None,
    progress: bool | None = None,
) -> tuple[gpd.GeoDataFrame | None, gpd.GeoDataFrame, pd.Series | None]:
    """:func:`~mujun.geo.evaluation.building_base`, :func:`~mujun.geo.evaluation.parcel_base` and the
    raster's built-up fractions, computed on the cluster of ``client``.

    Parameters
    ----------
    client : distributed.Client
    parcels, buildings : GeoDataFrame
        The workspace layers (``buildings`` is ``None`` without a building survey).
    zones : mapping
        The zone layers; each part gets them whole.
    partitions : int, optional
        Number of parts of each layer (default: :func:`default_partitions`).
    raster : RasterSource, optional
        The registered raster (:func:`mujun.layers.rasters.raster_source`).
    progress : bool, optional
        Show a progress bar (default: when on a terminal).

    Returns
    -------
    tuple
        ``(buildings, base, builtup)``, identical to the single-machine results:
        ``building_base(...)`` or ``None``, ``parcel_base(...)``, and the built-up fraction
        on the parcels' index or ``None``.
    """
    distributed = require()
    if partitions is not None and partitions < 1:
        raise InputError(f"--partitions 应为正整数，收到 {partitions}")
    n = partitions or default_partitions(client, len(parcels))
    whole = parcels.reset_index(drop=True)  # a row's index is its position in the layer
    layers = [whole] if buildings is None else [whole, buildings.reset_index(drop=True)]
    extent = _extent(layers)
    margin = 1e-6 if whole.crs is not None and whole.crs.is_geographic else 0.1  # ≈ 0.1 m either way
    zones = dict(zones)
    tasks: list[Future] = []
    try:
        p_parts = spatial_parts(whole, n, total_bounds=extent)
        p_data = client.scatter(p_parts, hash=False)
        zone_data = client.scatter([zones], broadcast=True, hash=False)[0]
        p_box = part_bounds(p_parts)
        b_results: list[Future] = []
        crs_p = local_gk_crs(whole)
        if buildings is None:
            near: list[list[int]] | None = None
        else:
            b_whole = layers[1]
            b_parts = spatial_parts(b_whole, n, total_bounds=extent)
            b_data = client.scatter(b_parts, hash=False)
            outlines = [client.submit(parcel_outlines, d, pure=False) for d in p_data]
            b_box = part_bounds(b_parts)
            # the buildings are overlaid in the parcels' plane, which they are measured against
            # (as the local engine does, whose buildings are never in memory together)
            b_results = [
                client.submit(_building_part, b_data[k], [outlines[j] for j in js], zone_data, crs=crs_p,
                              margin=margin, pure=False)
                for k, js in enumerate(nearby_parts(b_box, p_box, margin))
            ]
            near = nearby_parts(p_box, b_box, margin)
        p_results = [
            client.submit(_parcel_part, d, None if near is None else [b_results[k] for k in near[j]], zone_data,
                          crs=crs_p, pure=False)
            for j, d in enumerate(p_data)
        ]
        r_results: list[Future] = []
        if raster is not None:
            r_results = client.compute(_parcel_layer(p_data, p_parts, p_box)
                                       .map_partitions(source_builtup, raster, meta=("builtup_fraction", "float64"))
                                       .to_delayed())
        tasks = [*b_results, *p_results, *r_results]
        _wait(distributed, client, tasks, progress)
        built = assemble(buildings, client.gather(b_results)) if buildings is not None else None
        base = assemble(parcels, client.gather(p_results))
        builtup = assemble(parcels, client.gather(r_results)) if raster is not None else None
    except BaseException:
        client.cancel([f for f in tasks if not f.done()])  # stop the rest of a failed evaluation
        raise
    return built, base, builtup


def _building_part(*args, **kwargs) -> pd.DataFrame:
    """:func:`~mujun.geo.partitioned.building_part` in the worker's own overlay threads."""
    return building_part(*args, threads=overlay_threads(), **kwargs)


def _parcel_part(*args, **kwargs) -> pd.DataFrame:
    """:func:`~mujun.geo.partitioned.parcel_part` in the worker's own overlay threads."""
    return parcel_part(*args, threads=overlay_threads(), **kwargs)


def _extent(layers: list[gpd.GeoDataFrame]) -> np.ndarray:
    """One extent for every layer's Hilbert curve, so that nearby features get nearby parts."""
    b = np.array([layer.total_bounds for layer in layers if len(layer)] or [[0.0, 0.0, 1.0, 1.0]])
    with np.errstate(invalid="ignore"):
        out = np.array([np.nanmin(b[:, 0]), np.nanmin(b[:, 1]), np.nanmax(b[:, 2]), np.nanmax(b[:, 3])])
    return np.where(np.isfinite(out), out, [0.0, 0.0, 1.0, 1.0])


def _parcel_layer(data: list[Future], parts: list[gpd.GeoDataFrame], boxes: np.ndarray):
    """The shipped parcel parts as a dask-geopandas GeoDataFrame with its spatial partitions."""
    import dask.dataframe as dd
    import dask_geopandas
    import shapely

    layer = dask_geopandas.from_dask_dataframe(dd.from_delayed(data, meta=parts[0].iloc[:0], verify_meta=False))
    ok = np.isfinite(boxes).all(axis=1)
    outline = np.full(len(boxes), None, dtype=object)
    outline[ok] = shapely.box(*boxes[ok].T)
    layer.spatial_partitions = gpd.GeoSeries(outline, crs=parts[0].crs)
    return layer


def _wait(distributed, client: Client, tasks: list[Future], progress: bool | None) -> None:
    """Wait for ``tasks`` with a progress bar; a failed task is raised as a one-line error."""
    bar = tqdm(total=len(tasks), desc="分区计算", unit="块", leave=False,
               disable=None if progress is None else not progress)
    try:
        for done in distributed.as_completed(tasks, loop=client.loop):
            if done.status == "error":
                _raise(done.exception(), distributed)
            bar.update()
    finally:
        bar.close()


def _raise(err: BaseException, distributed) -> None:
    if isinstance(err, MujunError):
        raise err.with_traceback(None) from None
    if isinstance(err, distributed.KilledWorker):
        raise WorkspaceError(
            "dask 工作进程在计算时退出（多半是内存不足）；请用更大的 --partitions 把数据分得更小，或给工作进程更多内存"
            "（dask worker --memory-limit）"
        ) from None
    if isinstance(err, ImportError) and (err.name or "").split(".")[0] == "mujun":
        raise DependencyError(
            f"dask 工作节点无法导入 mujun（{err}）；请在每个节点安装与本机相同版本的 mujun：{_INSTALL}"
        ) from None
    raise err
