"""Compute engines: where the per-feature geometry of an evaluation runs.

An engine takes the :class:`~mujun.engines.interface.EvaluationInputs` read from the
workspace and gives the :class:`~mujun.engines.interface.GeometryResult` (areas, buildings,
land-use ratios, zones, built-up fractions of every parcel); everything after it — the
years' figures, scores, classes, flags — is the same code whichever engine ran. Engines are
registered by name in :data:`ENGINES` and made by :func:`engine`, which refuses an unknown
name or another engine's options.

- ``local`` (:class:`~mujun.engines.local.LocalEngine`; ``default`` on the command line):
  this process.
- ``dask`` (:class:`~mujun.engines.dask.DaskEngine`): a dask cluster
  (``pip install 'mujun[dask]'``).
"""

from __future__ import annotations

import importlib

from mujun.engines.interface import Engine, EvaluationInputs, GeometryResult
from mujun.geo.errors import InputError

__all__ = ["ALIASES", "ENGINES", "NAMES", "Engine", "EvaluationInputs", "GeometryResult", "engine"]

#: Engine name -> its class, imported when first asked for (the dask engine's packages are optional).
ENGINES: dict[str, str] = {
    "local": "mujun.engines.local.LocalEngine",
    "dask": "mujun.engines.dask.DaskEngine",
}
#: Other names of engines: ``default`` is what ``mujun evaluate --engine`` has always called
#: the local engine.
ALIASES: dict[str, str] = {"default": "local"}
#: The names offered to users (choices, messages): an engine under its alias if it has one.
NAMES: tuple[str, ...] = (*ALIASES, *(name for name in ENGINES if name not in ALIASES.values()))


def engine(name: str, **options: object) -> Engine:
    """The engine registered as ``name`` (or an alias), made with ``options``.

    Options that are ``None`` are not given; an option of another engine is refused.

    Examples
    --------
    >>> type(engine("default", threads=2)).__name__
    'LocalEngine'
    >>> engine("spark")
    Traceback (most recent call last):
    ...
    mujun.geo.errors.InputError: 未知的评价引擎 'spark'；可用：default, dask
    >>> engine("local", partitions=4)
    Traceback (most recent call last):
    ...
    mujun.geo.errors.InputError: --scheduler 和 --partitions 只用于 --engine dask
    """
    key = ALIASES.get(name, name)
    if key not in ENGINES:
        raise InputError(f"未知的评价引擎 '{name}'；可用：{', '.join(NAMES)}")
    cls = _class(key)
    given = {k: v for k, v in options.items() if v is not None and v != ""}
    foreign = [k for k in given if k not in cls.OPTIONS]
    if foreign:
        owners = [n for n in ENGINES if set(foreign) <= set(_class(n).OPTIONS)]
        if not owners:
            raise TypeError(f"no engine takes the options {', '.join(foreign)}")
        shown = next((alias for alias, target in ALIASES.items() if target == owners[0]), owners[0])
        raise InputError(f"{' 和 '.join('--' + o for o in _class(owners[0]).OPTIONS)} 只用于 --engine {shown}")
    return cls(**given)


def _class(name: str) -> type[Engine]:
    module, _, attr = ENGINES[name].rpartition(".")
    return getattr(importlib.import_module(module), attr)
