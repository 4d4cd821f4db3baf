"""pytest plugin: the doctests of mujun's source folders, run on the modules as mujun installs them.

``--doctest-modules`` would import ``geo/area.py`` by its path, as a top-level ``geo.area``
beside the installed ``mujun.geo.area``: two copies of every module, whose exceptions and
classes print with the wrong names. This collects the same doctests from the modules that
``import mujun.geo.area`` gives.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from _pytest.doctest import DoctestModule

#: Source folder (relative to the repository) -> the package it installs as.
PACKAGES = {"geo": "mujun.geo", "layers": "mujun.layers", "webapp": "mujun.webapp", "mujun": "mujun"}


class InstalledDoctests(DoctestModule):
    """The doctests of one source file, taken from the module as installed."""

    def _getobj(self):
        parts = list(self.path.relative_to(self.config.rootpath).with_suffix("").parts)
        parts[0] = PACKAGES[parts[0]]
        if parts[-1] == "__init__":
            parts.pop()
        return importlib.import_module(".".join(parts))


def pytest_collect_file(file_path: Path, parent):
    if file_path.suffix != ".py" or file_path.name == "conftest.py":
        return None
    try:
        top = file_path.relative_to(parent.config.rootpath).parts[0]
    except ValueError:
        return None
    if top in PACKAGES:
        return InstalledDoctests.from_parent(parent, path=file_path)
    return None
