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
