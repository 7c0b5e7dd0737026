"""Shared fixtures: datasets built once per session into a temporary directory, and one
app server for the browser suites."""

from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture(scope="session")
def app_server() -> Iterator[str]:
    """One `streamlit run app.py` for every browser suite that needs the plain app: its
    datasets, model and per-view caches warm up once per test session, not once per module
    (each cold start cost every page's first computation again). Sessions stay separate, as
    separate browsers' do."""
    from tests.live_server import streamlit_server

    with streamlit_server() as base:
        yield base
