"""Shared Streamlit widgets and the cached wrappers around dashboard.data."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.data import DataError
from dashboard.schema import DATASETS

# Loaded once per process and shared by every session (cache_resource: no per-call copy of
# the 19 MB population frame). The frames are read-only by contract: every core function
# returns new frames and never mutates its input. The loaders verify them against the
# manifest. A rebuild changes the manifest's checksums, which are part of the cache key, so
# the next run picks up the new files.


def _manifest_key() -> str:
    """Checksums of the current build (empty if unreadable), to key the dataset caches."""
    try:
        manifest = data.load_manifest()
    except DataError:
        return ""
    return ",".join(o.get("sha256", "") for o in manifest["outputs"])


@st.cache_resource(show_spinner=False, max_entries=len(DATASETS) * 2)
def _load(name: str, key: str) -> pd.DataFrame:
    del key
    return data.load_dataset(name)


def load_studies() -> pd.DataFrame:
    """Published prevalence estimates (cached)."""
    return _load("studies", _manifest_key())


def load_population() -> pd.DataFrame:
    """UN WPP 2022 population by location, year and age band (cached)."""
    return _load("population", _manifest_key())


def load_standard_populations() -> pd.DataFrame:
    """Standard populations with weight shares (cached)."""
    return _load("standard_populations", _manifest_key())


def load_diet_shares() -> pd.DataFrame:
    """Survey shares of diet groups by country and year (cached)."""
    return _load("diet_shares", _manifest_key())


def load_manifest() -> dict:
    """The build manifest (small; read on every call so that a rebuild is seen at once)."""
    return data.load_manifest()


def render_data_error(err: DataError) -> None:
    """Show a dataset problem as a message with its fix, not a traceback."""
    st.error(
        f"**The data could not be loaded.** `{err.path}`: {err.problem}.\n\n"
        f"To fix it, {err.fix}.",
        icon=":material/database:",
    )
