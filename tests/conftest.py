"""Shared fixtures: the sample workspace, built once per test session."""

from __future__ import annotations

import pytest

from layers.sample import build_sample
from layers.workspace import Workspace
from webapp.service import evaluate


@pytest.fixture(scope="session")
def sample_workspace(tmp_path_factory) -> Workspace:
    """The Shaoxing sample (seed 2024, scale 1), imported and evaluated for every year.

    Tests must not write to it; copy the file first if a test needs to change it.
    """
    ws = Workspace(tmp_path_factory.mktemp("sample") / "sample.gpkg")
    build_sample(ws, seed=2024, scale=1.0)
    evaluate(ws, all_years=True, progress=False)
    return ws


@pytest.fixture(scope="session")
def web_app(sample_workspace):
    """The web app over the sample workspace (read-only)."""
    from webapp import create_app

    return create_app({"WORKSPACE": str(sample_workspace.path), "TESTING": True})


@pytest.fixture
def client(web_app):
    return web_app.test_client()
