"""ui.figure: figures of the bundled data are built once per process for the same inputs."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard import charts, ui

POOLED = pd.DataFrame({
    "age_band": ["20-39"], "diet_group": ["vegan"], "estimate": [0.3], "ci_low": [0.2],
    "ci_high": [0.4], "k": [2], "n_total": [150], "reliability": ["ok"],
})


def test_figure_is_built_once_for_the_same_inputs() -> None:
    first = ui.figure(charts.prevalence_bars_figure, POOLED, "Title A")
    again = ui.figure(charts.prevalence_bars_figure, POOLED.copy(), "Title A")
    other = ui.figure(charts.prevalence_bars_figure, POOLED, "Title B")
    assert first is again  # same content, same cached object
    assert other is not first
    assert other.layout.title.text.startswith("Title B")


def test_figure_refuses_builders_outside_charts() -> None:
    with pytest.raises(ValueError, match="not a figure builder of dashboard.charts"):
        ui.figure(lambda: go.Figure())


def test_studies_or_stop_shows_the_problem_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from dashboard import data

    def broken(name: str, data_dir: Path = data.DATA_DIR):
        raise data.DataError(Path("data/studies.parquet"), "the file is missing")

    monkeypatch.setattr(data, "load_dataset", broken)
    monkeypatch.setattr(ui, "current_build", lambda: "broken-build")  # a fresh cache entry

    def page() -> None:
        import streamlit as st

        from dashboard import ui

        ui.studies_or_stop()
        st.write("not reached")

    at = AppTest.from_function(page).run()
    assert not at.exception
    assert "the file is missing" in at.error[0].value
    assert "make data" in at.error[0].value
    assert not any("not reached" in m.value for m in at.markdown)
