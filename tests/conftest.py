"""Shared fixtures: datasets built once per session into a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard import build, data


def pytest_sessionstart(session: pytest.Session) -> None:
    """Build the real data/ when it is missing or stale, so that app tests can load it."""
    del session
    try:
        data.load_manifest()
    except data.DataError:
        build.build()


@pytest.fixture(scope="session")
def built_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory built from data/sources/ once per test session."""
    out = tmp_path_factory.mktemp("built_data")
    build.build(out_dir=out)
    return out
