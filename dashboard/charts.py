"""Chart builders: tidy frames in, plotly Figures out, in one house style; never load or pool."""

from __future__ import annotations

import copy
import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard import schema
from dashboard.format import (
    format_count,
    format_count_interval,
    format_interval,
    format_people_supported,
    format_percent,
)
from dashboard.format import is_missing as _missing
from dashboard.frames import require_columns as _require

# --- style -------------------------------------------------------------------------------------

FONT = "Source Sans Pro, Helvetica, Arial, sans-serif"
INK = "#262730"
GRID = "#E6E6EA"
# Secondary text and lines: 5.3:1 on white (WCAG AA for text asks 4.5:1; #999999 was 2.8:1).
MUTED = "#6B6B6B"
SUBTITLE = "#555555"  # 7.5:1 on white
NO_DATA = "#E8E8E8"  # countries drawn on the map without a value
# Okabe & Ito (2008) colours for series that are not diet groups (locations, definitions),
# in an order that keeps neighbours distinguishable; diet groups use schema.DIET_COLOURS.
SERIES_COLOURS: tuple[str, ...] = (
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
)
# ColorBrewer YlOrRd (Brewer 2003), rated colour-blind safe, for map and heatmap scales.
SEQUENTIAL_SCALE: list[list[Any]] = [
    [0.0, "#FFFFCC"], [0.25, "#FED976"], [0.5, "#FD8D3C"], [0.75, "#E31A1C"], [1.0, "#800026"],
]
# One fixed prevalence scale for every heatmap and map of a share (Explore, Cutoffs, Burden),
# whatever the definition or filters, so a colour means the same prevalence everywhere:
# classes with these breaks (percent), lower bound included, 100% in the top class. The
# breaks are finer at low prevalence, where most estimates of low B12 status lie.
PREVALENCE_BREAKS: tuple[float, ...] = (0, 5, 10, 20, 30, 50, 100)
# ColorBrewer YlOrRd, 6 classes (Brewer 2003), one per class of PREVALENCE_BREAKS.
PREVALENCE_COLOURS: tuple[str, ...] = (
    "#FFFFB2", "#FED976", "#FEB24C", "#FD8D3C", "#F03B20", "#BD0026",
)
PREVALENCE_SCALE_NOTE = ("Colours: one fixed scale for every definition and filter, classes "
                         "0-5, 5-10, 10-20, 20-30, 30-50 and 50-100% (range 0-100%).")
PANEL_TITLE_ROOM = 36  # px above a small multiple for its title (two lines at 12 px)
# Diet groups in narrow panels (the full labels are in the hover and the table).
SHORT_DIET_LABELS: dict[str, str] = {
    "omnivore": "Omni", "semi_vegetarian": "Semi-veg", "pescatarian": "Pesc",
    "vegetarian": "Veget", "vegan": "Vegan", "general": "All",
}
SYMBOLS: tuple[str, ...] = ("circle", "square", "diamond", "triangle-up")
# A row label of a dumbbell chart: two lines of ROW_LABEL_WIDTH px at 12 px (a phone keeps
# about half its width for the plot), at most ROW_LABEL_CHARS characters in all.
ROW_LABEL_WIDTH = 150
ROW_HEIGHT = 40  # px a row: two lines at 12 px and a gap
ROW_LABEL_CHARS = 44
LABEL_WIDTH = 60  # characters of a row label before it is cut (the hover has it whole)
HATCH = "/"  # bar pattern of estimates flagged "suppress"
RELIABILITY_TEXT: dict[str, str] = {
    "ok": "reliable",
    "review": "flagged for statistical review",
    "suppress": "suppressed: too imprecise to report (NCHS)",
    "unknown": "not rated (no n or interval)",
}
SUPPRESSED_NOTE = "Hatched / hollow: estimate suppressed under NCHS standards (too imprecise)."
DEFAULT_HEIGHT = 460

# plotly.js geo subplots fetch "<topojsonURL>world_110m.json" for their base layers even when
# every layer is hidden and the trace brings its own GeoJSON (plotly.js issue #6767); with no
# network the map then never draws. An inline empty topology ends that request: the "#" turns
# the file name plotly.js appends into a URL fragment, which a data: URL ignores.
_EMPTY_TOPOLOGY = {
    "type": "Topology",
    "arcs": [],
    "objects": {
        name: {"type": "GeometryCollection", "geometries": []}
        for name in ("land", "ocean", "lakes", "rivers", "coastlines", "countries", "subunits")
    },
}
OFFLINE_TOPOJSON_URL = (
    "data:application/json," + quote(json.dumps(_EMPTY_TOPOLOGY, separators=(",", ":"))) + "#"
)
# For st.plotly_chart(config=...): modebar PNG download (client-side, works offline), no logo,
# no remote topojson.
PLOTLY_CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "toImageButtonOptions": {"format": "png", "filename": "b12-risk-atlas", "scale": 2},
    "topojsonURL": OFFLINE_TOPOJSON_URL,
}


IMAGE_FORMATS: tuple[str, ...] = ("png", "svg")


def plotly_config(filename: str, image_format: str = "png") -> dict[str, Any]:
    """PLOTLY_CONFIG with the modebar's image download named ``filename`` (without
    extension) in ``image_format`` (png or svg)."""
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image format {image_format!r}: use {' or '.join(IMAGE_FORMATS)}")
    config = {**PLOTLY_CONFIG}
    config["toImageButtonOptions"] = {**PLOTLY_CONFIG["toImageButtonOptions"],
                                      "filename": filename, "format": image_format}
    return config


# The source note under every chart (with_source): small grey lines, one per fact.
SOURCE_LINE_HEIGHT = 15
SOURCE_FONT_SIZE = 11
TICK_ROOM = 60  # pixels below the plot kept for tick labels and the axis title
_NON_CARTESIAN = frozenset({"choropleth", "scattergeo", "choroplethmap", "pie"})


class FrozenFigure(go.Figure):
    """A finished figure whose dict form is made once: ``to_dict`` (what st.plotly_chart and
    with_source read) returns that one dict instead of plotly's deep copy on every call, which
    for the world map's outlines or a forest plot's hundred annotations costs more than the
    page's arithmetic. Shared read-only between sessions: never change it, nor the dict
    ``to_dict`` returns (make a new figure from it, as with_source does)."""

    def __init__(self, spec: dict[str, Any]):
        super().__init__(spec, _validate=False)
        self._frozen_spec = spec

    def to_dict(self) -> dict[str, Any]:
        """The figure as the dict it was frozen from (the same object on every call)."""
        return self._frozen_spec


def freeze(fig: go.Figure) -> FrozenFigure:
    """``fig`` as a FrozenFigure (itself if it is one already): built figures are validated,
    so the copy skips plotly's validation."""
    if isinstance(fig, FrozenFigure):
        return fig
    return FrozenFigure(fig.to_dict())


def with_source(fig: go.Figure, lines: Sequence[str]) -> go.Figure:
    """A copy of ``fig`` with ``lines`` (definition, interval note, source and URL, studies)
    as an annotation under the plot, so that a PNG or SVG download carries them.

    The figure grows by the note's height and keeps its plot area; a legend placed below the
    plot (style_figure's ``legend_rows``) stays at the bottom, under the note. Text is
    escaped: plotly reads annotation text as HTML-like markup.
    """
    # A copy without revalidating what ``fig`` already validated: a forest plot's hundred
    # annotations would cost a third of a second on every run. A frozen figure's dict is its
    # own (shared), which the changes below must not reach.
    spec = copy.deepcopy(fig.to_dict()) if isinstance(fig, FrozenFigure) else fig.to_dict()
    out = go.Figure(spec, _validate=False)
    if not lines:
        return out
    block = SOURCE_LINE_HEIGHT * len(lines) + 10
    cartesian = not out.data or any(t.type not in _NON_CARTESIAN for t in out.data)
    ticks = TICK_ROOM if cartesian else 0
    old_bottom = out.layout.margin.b if out.layout.margin.b is not None else 10
    legend = out.layout.legend
    legend_space = old_bottom - 10 if legend.yref == "container" and legend.y == 0 else 0
    bottom = old_bottom + ticks + block
    out.update_layout(
        margin_b=bottom,
        height=(out.layout.height or DEFAULT_HEIGHT) + ticks + block,
    )
    out.add_annotation(
        text="<br>".join(html.escape(str(line), quote=False) for line in lines),
        xref="paper", yref="paper", x=0, y=0, xanchor="left", yanchor="bottom",
        yshift=-bottom + legend_space + 4, showarrow=False, align="left",
        font={"size": SOURCE_FONT_SIZE, "color": "#555555"}, name="source",
    )
    return out


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2.x contrast ratio of two "#RRGGBB" colours, 1-21 (W3C, WCAG 2.2 §1.4.3:
    relative luminance with the sRGB transfer function; AA text needs 4.5)."""

    def luminance(colour: str) -> float:
        rgb = [int(colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def chart_title(measure: str, definition: str, unit: str, population: str) -> str:
    """A title naming what is shown, the definition, the unit and the population.

    ``definition`` is a definition id (its schema label is used) or a label.
    """
    d = schema.DEFINITIONS_BY_ID.get(definition)
    label = d.label if d is not None else definition
    return f"{measure}, {label} ({unit}) - {population}"


# Layout sizes of the shared template. Plotly neither wraps titles nor knows, when the figure
# is built, how wide it will be drawn: titles, subtitles and legends are fitted to the
# narrowest plot the dashboard serves, a 390 px phone (Streamlit's main column leaves about
# 340 px of it to the chart), so they fit every wider screen too.
NARROW_WIDTH = 340  # px of a chart on a 390 px wide phone
TITLE_SIZE = 16
SUBTITLE_SIZE = 12
LEGEND_SIZE = 13
# Average advance of a character in the chart font, in ems: Source Sans 0.5, the Arial and
# Liberation fallbacks about 0.53: a little over both, so fitted text never runs off the chart.
CHAR_EM = 0.55
LEGEND_ROW = 24  # px per row of a horizontal legend at LEGEND_SIZE
LEGEND_ITEM = 46  # px of a legend entry besides its text (symbol and gaps)
LEGEND_INSET = 64  # px of the y axis' labels: the legend starts where the plot does
COLOUR_BAR_ROOM = 64  # px of a horizontal colour bar with its title and tick labels
AXIS_ROOM = 74  # px under the plot for x tick labels and the x axis title, above the legend


def text_width(text: str, size: float) -> float:
    """Estimated width in px of ``text`` (Plotly tags such as <b> not counted) at ``size``
    px in the chart font: an upper estimate, CHAR_EM per character."""
    plain = re.sub(r"<[^<>]*>", "", text) if "<" in text else text
    plain = re.sub(r"&[a-z]+;|&#\d+;", "x", plain)
    return len(plain) * size * CHAR_EM


def fit_text(text: str, width: float = NARROW_WIDTH, size: float = TITLE_SIZE) -> str:
    """``text`` broken with <br> between words so that no line is wider than ``width`` px
    at ``size`` px (text_width); a word longer than a line keeps a line of its own. Breaks
    already in the text (<br>) are kept."""
    lines: list[str] = []
    for paragraph in re.split(r"<br\s*/?>", text):
        line = ""
        # a comparison sign stays with its number ("< 148"), "-" with the word after it
        words = re.sub(r"([<>≤≥=]|&lt;|&gt;|(?:^|(?<=\s))-) ", "\\1\x1f", paragraph).split(" ")
        for word in (w.replace("\x1f", " ") for w in words if w):
            candidate = f"{line} {word}" if line else word
            if line and text_width(candidate, size) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return "<br>".join(lines)


def _lines(text: str | None) -> int:
    return 0 if not text else len(re.split(r"<br\s*/?>", text))


def legend_rows(names: Sequence[str], width: float = NARROW_WIDTH,
                size: float = LEGEND_SIZE) -> int:
    """Rows a horizontal legend of these entries takes in ``width`` px: entries packed left to
    right, a new row when the next would not fit."""
    rows, used, tall = 0, width, 1
    for name in names:
        lines = re.split(r"<br\s*/?>", str(name))
        item = LEGEND_ITEM + max(text_width(line, size) for line in lines)
        if used + item > width:
            rows += tall
            used, tall = 0.0, 1
        used += item
        tall = max(tall, len(lines))
    return rows + tall - 1 if names else 0


def _legend_entries(fig: go.Figure) -> list[list[str]]:
    """The legend's entries, group by group (a group with a title is laid out on its own
    rows under it); [] when Plotly would draw no legend."""
    shown = [t for t in fig.data if t.showlegend is not False]
    if fig.layout.showlegend is False or not shown or (
            len(shown) == 1 and shown[0].showlegend is not True):
        return []
    groups: dict[str, list[str]] = {}
    for t in shown:
        titled = t.legendgrouptitle is not None and t.legendgrouptitle.text
        key = str(t.legendgroup) if titled else ""
        groups.setdefault(key, [])
        if titled and not groups[key]:
            groups[key].append(f"\0{t.legendgrouptitle.text}")
        groups[key].append(str(t.name or ""))
    return list(groups.values())


def _legend_height(fig: go.Figure, legend_title: str | None) -> int:
    """Px the legend below the plot takes at NARROW_WIDTH (0 without a legend)."""
    groups = _legend_entries(fig)
    if not groups:
        return 0
    rows = 1 if legend_title else 0
    width = NARROW_WIDTH - LEGEND_INSET
    if len(groups) == 1 and not groups[0][0].startswith("\0"):
        return (rows + legend_rows(groups[0], width)) * LEGEND_ROW + 12
    # Legend groups: Plotly stacks a group's entries under its title, and sets the groups
    # side by side while they fit the width, then on a new row.
    used, tallest = width, 0
    for entries in groups:
        lines = [e.lstrip("\0") for e in entries]
        group_width = LEGEND_ITEM + max(text_width(e, LEGEND_SIZE) for e in lines)
        if used + group_width > width:
            rows += tallest
            used, tallest = 0.0, 0
        used += group_width
        tallest = max(tallest, sum(len(re.split(r"<br\s*/?>", e)) for e in lines))
    return (rows + tallest) * LEGEND_ROW + 10


def style_figure(
    fig: go.Figure,
    title: str,
    *,
    subtitle: str | None = None,
    x_title: str | None = None,
    y_title: str | None = None,
    height: int | None = None,
    legend_title: str | None = None,
    plot_height: int | None = None,
) -> go.Figure:
    """Apply the house style (the one place that owns it) and the titles; returns ``fig``.

    Call it once the traces are added. The title and subtitle are broken into lines that fit
    a phone (fit_text at NARROW_WIDTH) and the top margin holds them all. The legend, when
    there is one, sits below the plot, horizontal, under the x axis: the bottom margin holds
    the rows it takes at NARROW_WIDTH (legend_rows), so it never covers the title, the
    subtitle or the axis. ``height`` is the plot's share; the legend's rows are added to it.
    ``plot_height`` instead sets the height of the plot area itself, in px.
    """
    title = fit_text(title, size=TITLE_SIZE)
    subtitle = fit_text(subtitle, size=SUBTITLE_SIZE) if subtitle else None
    # Plotly does not wrap a legend entry: one wider than a phone's legend gets line breaks
    room = NARROW_WIDTH - LEGEND_INSET - LEGEND_ITEM
    for t in fig.data:
        if t.showlegend is not False and t.name and text_width(t.name, LEGEND_SIZE) > room:
            t.name = fit_text(t.name, room, LEGEND_SIZE)
    top = 14 + round(_lines(title) * TITLE_SIZE * 1.3)
    if subtitle:
        top += 6 + round(_lines(subtitle) * SUBTITLE_SIZE * 1.35)
    top += 18
    legend_height = _legend_height(fig, legend_title)
    scales = [t for t in fig.data if t.type in ("heatmap", "choropleth")
              and t.showscale is not False and t.colorbar is not None]
    scale_height = COLOUR_BAR_ROOM if scales else 0
    below = legend_height + scale_height
    bottom = 10 + (below + AXIS_ROOM if below else 0)
    total = (height or DEFAULT_HEIGHT) + below
    if plot_height is not None:  # the plot itself this tall, whatever the margins
        total = plot_height + top + bottom
    # The legend's top sits AXIS_ROOM px under the plot (a paper y below 0), so on a screen
    # wider than a phone, where it takes fewer rows, the room left over is under it.
    plot_height = max(total - top - bottom, 1)
    for t in scales:  # a colour bar is a legend too: horizontal, under the axis
        t.colorbar.update(orientation="h", x=0, xanchor="left", y=-AXIS_ROOM / plot_height,
                          yanchor="top", len=1, lenmode="fraction", thickness=12,
                          title_side="top", ticks="outside")
    legend: dict[str, Any] = {
        "orientation": "h", "yref": "paper", "y": -(AXIS_ROOM + scale_height) / plot_height,
        "yanchor": "top",
        "x": 0, "xanchor": "left", "font": {"size": LEGEND_SIZE},
        "title": {"text": legend_title or "", "side": "top"},
    }
    fig.update_layout(
        template="plotly_white",
        font={"family": FONT, "size": 13, "color": INK},
        title={
            "text": title,
            "x": 0,
            "xanchor": "left",
            "xref": "container",
            "y": 1,
            "yref": "container",
            "yanchor": "top",
            "pad": {"t": 14, "l": 4},
            "font": {"size": TITLE_SIZE},
            "subtitle": {"text": subtitle or "",
                         "font": {"size": SUBTITLE_SIZE, "color": SUBTITLE}},
        },
        height=total,
        margin={"l": 10, "r": 10, "t": top, "b": bottom},
        legend=legend,
        hoverlabel={"font": {"family": FONT}},
        separators=".,",
    )
    fig.update_xaxes(title_text=x_title, gridcolor=GRID, zeroline=False, automargin=True)
    fig.update_yaxes(title_text=y_title, gridcolor=GRID, zeroline=False, automargin=True)
    return fig


def prevalence_colour_scale() -> list[list[Any]]:
    """A stepped Plotly colour scale over 0-100%: each class of PREVALENCE_BREAKS one flat
    colour of PREVALENCE_COLOURS (use with zmin 0, zmax 100 and z in percent)."""
    scale: list[list[Any]] = []
    bounds = zip(PREVALENCE_BREAKS, PREVALENCE_BREAKS[1:], strict=False)
    for (low, high), colour in zip(bounds, PREVALENCE_COLOURS, strict=True):
        scale += [[low / 100, colour], [high / 100, colour]]
    return scale


def prevalence_colour_axis(title: str = "Prevalence (%), fixed scale") -> dict[str, Any]:
    """Trace settings of the fixed scale for z in percent: the stepped colours, the range
    0-100% whatever the data, and a colour bar ticked at the breaks."""
    return {
        "colorscale": prevalence_colour_scale(), "zmin": 0, "zmax": 100, "zauto": False,
        # 5% is left unlabelled: on a phone its label would run into 0% and 10%
        "colorbar": {"title": {"text": title}, "ticksuffix": "%",
                     "tickvals": [b for b in PREVALENCE_BREAKS if b != 5]},
    }


def _sentences(*parts: str | None) -> str | None:
    """Subtitle parts joined as sentences (a full stop added where one lacks it)."""
    kept = [p.strip() for p in parts if p and p.strip()]
    return " ".join(p if p[-1] in ".!?" else f"{p}." for p in kept[:-1]) + (
        f" {kept[-1]}" if len(kept) > 1 else kept[-1]) if kept else None


def _empty(fig: go.Figure, message: str = "No estimate for this selection") -> go.Figure:
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 14, "color": MUTED})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


# --- formatting (hover and tables) -------------------------------------------------------------


def _reliability_text(value: Any) -> str:
    if _missing(value):
        return RELIABILITY_TEXT["unknown"]
    flag, _, footnote = str(value).partition("; ")
    text = RELIABILITY_TEXT.get(flag, flag)
    return f"{text} ({footnote})" if footnote else text


def _suppressed(frame: pd.DataFrame) -> np.ndarray:
    if "reliability" not in frame:
        return np.zeros(len(frame), dtype=bool)
    return frame["reliability"].astype("object").fillna("").astype(str).str.startswith(
        "suppress").to_numpy()


# Table columns: source column -> display name; intervals are built from a pair of columns.
_PERCENT_COLUMNS = ("estimate", "prevalence")
_INTERVALS: tuple[tuple[str, str, str, str], ...] = (
    ("ci_low", "ci_high", "95% CI", "percent"),
    ("interval_low", "interval_high", "95% CI", "percent"),
    ("pi_low", "pi_high", "95% prediction interval", "percent"),
    ("prevalence_low", "prevalence_high", "95% UI (prevalence)", "percent"),
    ("cases_low", "cases_high", "95% UI (people)", "count"),
)
_COUNT_COLUMNS = ("n", "n_total", "cases_total", "k", "n_estimates", "cases", "population")
_NAMES: dict[str, str] = {
    "age_band": "Age band", "diet_group": "Diet group", "sex": "Sex", "country_iso3": "Country",
    "estimate": "Prevalence", "prevalence": "Prevalence", "n": "n", "n_total": "n",
    "cases_total": "Cases", "k": "Studies", "n_estimates": "Estimates",
    "cases": "People affected",
    "population": "Population", "i2": "I2", "tau2": "tau2", "reliability": "Reliability",
    "location": "Location", "year": "Year", "definition_label": "Definition",
    "first_author": "First author", "ci_source": "Interval from", "study_ids": "Studies (ids)",
}


def figure_table(
    frame: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """A chart's input frame formatted for reading: the chart's table alternative.

    Fractions become percents with one decimal, interval column pairs (ci_low/ci_high,
    pi_low/pi_high, cases_low/cases_high, ...) one "a-b%" or "a-b" column, counts get
    thousands separators, diet groups their labels, I2 a percent, reliability words.
    ``columns`` picks and orders source columns (an interval is kept when its low column is
    picked); ``names`` overrides display names. The input is not modified.
    """
    chosen = list(frame.columns) if columns is None else list(columns)
    missing = [c for c in chosen if c not in frame.columns]
    if missing:
        raise ValueError(f"figure_table: no column(s) {', '.join(missing)} in the frame")
    rename = {**_NAMES, **(names or {})}
    out: dict[str, list] = {}
    skip = {high for _, high, _, _ in _INTERVALS}
    for column in chosen:
        if column in skip:
            continue
        values = frame[column].tolist()
        interval = next((i for i in _INTERVALS if i[0] == column and i[1] in frame), None)
        if interval is not None:
            low, high, name, kind = interval
            if low == "ci_low" and "interval_low" in frame:
                name = "Reported 95% CI"  # study rows: the shown interval is interval_*
            fmt = format_interval if kind == "percent" else format_count_interval
            out[(names or {}).get(low, name)] = [
                fmt(a, b) for a, b in zip(frame[low], frame[high], strict=True)
            ]
            continue
        if column in _PERCENT_COLUMNS:
            values = [format_percent(v) for v in values]
        elif column == "i2":  # already in percent (metafor's I2)
            values = ["" if _missing(v) else f"{float(v):.1f}%" for v in values]
        elif column in _COUNT_COLUMNS:
            values = [format_count(v) for v in values]
        elif column == "tau2":
            values = ["" if _missing(v) else f"{float(v):.3f}" for v in values]
        elif column == "diet_group":
            values = [schema.DIET_LABELS.get(str(v), str(v)) for v in values]
        elif column == "reliability":
            values = [_reliability_text(v) for v in values]
        elif column == "study_ids":
            values = [", ".join(v) if isinstance(v, (list, tuple, np.ndarray)) else v
                      for v in values]
        out[rename.get(column, column)] = values
    return pd.DataFrame(out, index=frame.index)


# --- shared pieces -----------------------------------------------------------------------------


def _order(values: Sequence[Any], vocabulary: Sequence[str] | None = None) -> list[str]:
    """Distinct values in vocabulary order when they all belong to one, else as they come."""
    seen = list(dict.fromkeys(str(v) for v in values if not _missing(v)))
    for vocab in ([vocabulary] if vocabulary else []) + [
        list(schema.STUDY_AGE_BANDS), [b[0] for b in schema.WPP_AGE_BANDS],
        list(schema.STUDY_DIET_GROUPS), list(schema.SEXES),
    ]:
        if seen and set(seen) <= set(vocab):
            return [v for v in vocab if v in seen]
    return seen


def _diets(frame: pd.DataFrame, column: str = "diet_group") -> list[str]:
    return _order(frame[column], schema.STUDY_DIET_GROUPS)


def _label(column: str, value: Any) -> str:
    if column == "diet_group":
        return schema.DIET_LABELS.get(str(value), str(value))
    return str(value)


def _colour(diet: str) -> str:
    return schema.DIET_COLOURS.get(diet, MUTED)


def _interval_columns(frame: pd.DataFrame) -> tuple[str, str]:
    """The interval to draw for study rows: the shown one (aggregate.study_estimates) or CI."""
    if {"interval_low", "interval_high"} <= set(frame.columns):
        return "interval_low", "interval_high"
    return "ci_low", "ci_high"


def _errors(est: pd.Series, low: pd.Series, high: pd.Series, scale: float = 100.0) -> dict:
    """Asymmetric error bars (plus, minus), in chart units; 0 where the interval is missing."""
    e = pd.to_numeric(est, errors="coerce").to_numpy(dtype=float)
    lo = pd.to_numeric(low, errors="coerce").to_numpy(dtype=float)
    hi = pd.to_numeric(high, errors="coerce").to_numpy(dtype=float)
    plus = np.nan_to_num(np.clip(hi - e, 0, None)) * scale
    minus = np.nan_to_num(np.clip(e - lo, 0, None)) * scale
    return {"type": "data", "symmetric": False, "array": plus.tolist(),
            "arrayminus": minus.tolist(), "thickness": 1.2, "width": 3}


def _pooled_hover(part: pd.DataFrame) -> tuple[list[list[str]], str]:
    custom = [
        [format_interval(r.ci_low, r.ci_high), format_count(r.n_total), format_count(r.k),
         _reliability_text(r.reliability)]
        for r in part.itertuples()
    ]
    template = (
        "%{fullData.name}, %{x}<br>Prevalence %{y:.1f}% (95% CI %{customdata[0]})"
        "<br>n = %{customdata[1]} in %{customdata[2]} studies<br>%{customdata[3]}<extra></extra>"
    )
    return custom, template


def _survey_hover(part: pd.DataFrame) -> tuple[list[list[str]], str]:
    custom = [
        [format_interval(r.ci_low, r.ci_high), format_count(r.n), format_count(r.n_eff),
         format_count(r.df), _reliability_text(r.reliability)]
        for r in part.itertuples()
    ]
    template = (
        "%{fullData.name}, %{x}<br>Prevalence %{y:.1f}% (95% CI %{customdata[0]})"
        "<br>n = %{customdata[1]}; effective n = %{customdata[2]}, df = %{customdata[3]}"
        "<br>%{customdata[4]}<extra></extra>"
    )
    return custom, template


_POOLED_COLUMNS = ("estimate", "ci_low", "ci_high", "k", "n_total", "reliability")
# Columns of a design-based estimate (stats.SURVEY_COLUMNS) that the bars and hover use.
_SURVEY_COLUMNS = ("estimate", "ci_low", "ci_high", "n", "n_eff", "df", "reliability")
# What a bar chart's rows are: pooled published studies, or design-based survey estimates.
_BAR_SOURCES: dict[str, tuple[tuple[str, ...], Any]] = {
    "studies": (_POOLED_COLUMNS, _pooled_hover),
    "survey": (_SURVEY_COLUMNS, _survey_hover),
}


# --- evidence charts ---------------------------------------------------------------------------


def bar_axes(frame: pd.DataFrame, by: Sequence[str]) -> tuple[pd.DataFrame, str, str]:
    """Fit estimates grouped by any of age band, diet group and sex to
    ``prevalence_bars_figure``: returns (frame, x, colour) with one x column and one colour
    column. Diet groups are the colours when grouped by them (else one colour, "All"); the
    other groups are the x axis, joined as "20-39, female" under a column named by their
    labels ("Age band, Sex") when there are several, or "All" when there are none. The input
    is not changed.
    """
    colour = "diet_group" if "diet_group" in by else "group"
    rest = [b for b in by if b != colour]
    x = rest[0] if len(rest) == 1 else ", ".join(_NAMES.get(b, b) for b in rest) or "All"
    out = frame.assign(**{colour: frame[colour].astype(str) if colour in frame else "All"})
    if len(rest) != 1:
        out[x] = frame[rest].astype(str).agg(", ".join, axis=1) if rest else "All"
    return out, x, colour


def prevalence_bars_figure(
    pooled: pd.DataFrame,
    title: str,
    *,
    subtitle: str | None = None,
    x: str = "age_band",
    colour: str = "diet_group",
    mode: str = "bars",
    source: str = "studies",
) -> go.Figure:
    """Pooled prevalence as grouped bars (or dots) by ``x`` x diet group with 95% CI bars.

    Input with ``source="studies"``: ``aggregate.pool_groups`` output, columns [x, colour,
    estimate, ci_low, ci_high, k, n_total, reliability] (fractions); the hover gives n and
    the number of studies. With ``source="survey"``: design-based estimates
    (``stats.survey_prevalence``), columns [x, colour, estimate, ci_low, ci_high, n, n_eff,
    df, reliability]; the hover gives n, the effective n and the design degrees of freedom
    that the NCHS rules use (Parker et al. 2017). One trace per diet group in its schema
    colour. Estimates flagged "suppress" (NCHS) are hatched bars or hollow dots, flagged in
    hover.
    """
    if mode not in ("bars", "dots"):
        raise ValueError(f"mode must be 'bars' or 'dots', got {mode!r}")
    if source not in _BAR_SOURCES:
        raise ValueError(f"source must be one of {', '.join(_BAR_SOURCES)}, got {source!r}")
    columns, hover = _BAR_SOURCES[source]
    _require(pooled, [x, colour, *columns], "prevalence_bars_figure")
    if pooled.duplicated([x, colour]).any():
        raise ValueError(f"prevalence_bars_figure: expected one row per {x} and {colour}")
    fig = go.Figure()
    categories = _order(pooled[x])
    suppressed_any = False
    for diet in _diets(pooled, colour):
        part = pooled.loc[pooled[colour].astype(str) == diet]
        part = part.iloc[np.argsort([categories.index(v) for v in part[x].astype(str)],
                                    kind="stable")]
        suppressed = _suppressed(part)
        suppressed_any |= bool(suppressed.any())
        custom, template = hover(part)
        common = {
            "x": part[x].astype(str).tolist(),
            "y": (pd.to_numeric(part["estimate"]) * 100).tolist(),
            "name": _label(colour, diet),
            "legendgroup": diet,
            "error_y": {**_errors(part["estimate"], part["ci_low"], part["ci_high"]),
                        "color": INK},
            "customdata": custom,
            "hovertemplate": template,
        }
        if mode == "bars":
            fig.add_bar(
                **common,
                marker={
                    "color": _colour(diet),
                    "line": {"color": _colour(diet), "width": 1.5},
                    "pattern": {"shape": [HATCH if s else "" for s in suppressed],
                                "fillmode": "replace", "fgcolor": _colour(diet)},
                },
            )
        else:
            fig.add_scatter(
                **common, mode="markers",
                marker={"color": _colour(diet), "size": 11,
                        "symbol": ["circle-open" if s else "circle" for s in suppressed],
                        "line": {"width": 2, "color": _colour(diet)}},
            )
    note = SUPPRESSED_NOTE if suppressed_any else None
    style_figure(fig, title, subtitle=" ".join(s for s in (subtitle, note) if s) or None,
                 x_title=_NAMES.get(x, x), y_title="Prevalence (%), with 95% CI")
    fig.update_layout(barmode="group", scattermode="group", bargap=0.2)
    fig.update_xaxes(categoryorder="array", categoryarray=categories, type="category")
    fig.update_yaxes(rangemode="tozero", ticksuffix="%")
    return fig if len(pooled) else _empty(fig)


def _heatmap_cells(
    pooled: pd.DataFrame, rows: str, columns: str, row_values: list[str], col_values: list[str],
) -> dict[str, Any]:
    """z (fixed-scale classes), text and hover data of one age x diet grid of pools."""
    shape = (len(row_values), len(col_values))
    z = np.full(shape, np.nan)
    text = np.full(shape, "", dtype=object)
    custom = np.full((*shape, 5), "", dtype=object)
    suppressed = _suppressed(pooled)
    for r, flag in zip(pooled.itertuples(), suppressed, strict=True):
        i = row_values.index(str(getattr(r, rows)))
        j = col_values.index(str(getattr(r, columns)))
        z[i, j] = 100 * float(r.estimate)
        text[i, j] = format_percent(r.estimate) + ("*" if flag else "")
        custom[i, j] = [format_interval(r.ci_low, r.ci_high), format_count(r.n_total),
                        format_count(r.k), _reliability_text(r.reliability),
                        format_percent(r.estimate)]
    return {"z": z.tolist(), "text": text.tolist(), "customdata": custom.tolist(),
            "suppressed": bool(suppressed.any())}


_HEATMAP_HOVER = (
    "%{y}, %{x}<br>Prevalence %{customdata[4]} (95% CI %{customdata[0]})<br>n = "
    "%{customdata[1]} in %{customdata[2]} studies<br>%{customdata[3]}<extra></extra>"
)


def heatmap_figure(
    pooled: pd.DataFrame,
    title: str,
    *,
    subtitle: str | None = None,
    rows: str = "age_band",
    columns: str = "diet_group",
) -> go.Figure:
    """Age x diet heatmap of pooled prevalence, each cell labelled with its percent.

    Input as ``prevalence_bars_figure``. Empty cells stay blank; suppressed estimates carry
    an asterisk and a note. Colour: the fixed scale (PREVALENCE_BREAKS, ColorBrewer YlOrRd),
    the same for every definition and filter, so colours compare across views; the subtitle
    states it.
    """
    _require(pooled, [rows, columns, *_POOLED_COLUMNS], "heatmap_figure")
    if pooled.duplicated([rows, columns]).any():
        raise ValueError(f"heatmap_figure: expected one row per {rows} and {columns}")
    row_values = _order(pooled[rows])
    col_values = _order(pooled[columns])
    cells = _heatmap_cells(pooled, rows, columns, row_values, col_values)
    fig = go.Figure(go.Heatmap(
        # labels broken over lines rather than turned, which would cover the colour bar
        z=cells["z"], x=[fit_text(_label(columns, c), 72, 13) for c in col_values],
        y=row_values,
        text=cells["text"], texttemplate="%{text}", customdata=cells["customdata"],
        xgap=2, ygap=2, hovertemplate=_HEATMAP_HOVER, **prevalence_colour_axis(),
    ))
    note = "* " + SUPPRESSED_NOTE.split(": ", 1)[1] if cells["suppressed"] else None
    style_figure(fig, title,
                 subtitle=_sentences(subtitle, PREVALENCE_SCALE_NOTE, note),
                 x_title=_NAMES.get(columns, columns), y_title=_NAMES.get(rows, rows))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", side="bottom", tickangle=0)
    return fig if len(pooled) else _empty(fig)


def cutoff_panels_figure(
    pooled: pd.DataFrame,
    title: str,
    *,
    subtitle: str | None = None,
    columns: int = 2,
) -> go.Figure:
    """Small multiples: one age band x diet group heatmap per definition (cut-off), all on
    the fixed prevalence scale and the same rows and columns, so a cell's colour compares
    across definitions.

    Input: ``aggregate.pool_by_cutoff`` output, columns [definition, definition_label,
    cutoff, age_band, diet_group, estimate, ci_low, ci_high, k, n_total, reliability];
    panels in schema order of the definitions, ``columns`` to a row, each titled by its
    definition. Cells show the percent without decimals (the hover and the table give it
    with its interval); a cell without a pool stays blank.
    """
    _require(pooled, ["definition", "definition_label", "age_band", "diet_group",
                      *_POOLED_COLUMNS], "cutoff_panels_figure")
    if columns < 1:
        raise ValueError(f"cutoff_panels_figure: columns must be 1 or more, got {columns}")
    from plotly.subplots import make_subplots

    definitions = _definition_order(pooled["definition"])
    ages = _order(pooled["age_band"], schema.STUDY_AGE_BANDS)
    diets = _order(pooled["diet_group"], schema.STUDY_DIET_GROUPS)
    n_rows = max(1, -(-len(definitions) // columns))
    labels = {str(d): str(lab) for d, lab in zip(pooled["definition"],
                                                   pooled["definition_label"], strict=True)}
    panel_titles = [fit_text(labels[d], NARROW_WIDTH / columns - 10, 12)
                    for d in definitions]
    panel_height = 26 * len(ages) + PANEL_TITLE_ROOM + 10
    fig = make_subplots(rows=n_rows, cols=columns, shared_xaxes=True, shared_yaxes=True,
                        subplot_titles=panel_titles or None, horizontal_spacing=0.04,
                        vertical_spacing=min(0.3, 60 / (n_rows * panel_height)))
    short = [SHORT_DIET_LABELS.get(d, _label("diet_group", d)) for d in diets]
    for k, definition in enumerate(definitions):
        part = pooled.loc[pooled["definition"].astype(str) == definition]
        cells = _heatmap_cells(part, "age_band", "diet_group", ages, diets)
        fig.add_trace(go.Heatmap(
            z=cells["z"], x=short, y=ages, xgap=1, ygap=1,
            text=[[v.split(".")[0].rstrip("%") if v else "" for v in row]
                  for row in cells["text"]],
            texttemplate="%{text}", textfont={"size": 10},
            customdata=cells["customdata"], name=labels[definition],
            hovertemplate=f"{labels[definition]}<br>" + _HEATMAP_HOVER,
            showscale=k == 0, **prevalence_colour_axis(),
        ), row=k // columns + 1, col=k % columns + 1)
    for annotation in fig.layout.annotations:  # the panel titles
        annotation.update(font={"size": 12, "color": INK}, xanchor="center")
    style_figure(fig, title,
                 subtitle=_sentences(subtitle, PREVALENCE_SCALE_NOTE),
                 height=max(DEFAULT_HEIGHT - 160, n_rows * panel_height + 40))
    # room above the first row for its panel titles (two lines each)
    fig.update_layout(margin_t=fig.layout.margin.t + PANEL_TITLE_ROOM,
                      height=fig.layout.height + PANEL_TITLE_ROOM)
    fig.update_yaxes(autorange="reversed", type="category", showgrid=False,
                     tickfont={"size": 11})
    fig.update_xaxes(type="category", showgrid=False, tickfont={"size": 11}, tickangle=-90)
    return fig if len(pooled) else _empty(fig)


def _marks(r: Any) -> str:
    """Hover line naming a population that is not a general-population sample (pregnant,
    clinic, care home, diet cohort: ``population_marks``), or "" for one that is."""
    marks = getattr(r, "population_marks", None)
    return "" if _missing(marks) or not str(marks).strip() else f"<br>Sample: {marks}"


def _study_label(r: Any) -> str:
    """"Author year (ISO3)"; a missing author is replaced by the survey or cohort (cut to 28
    characters), then by the study id, so that readers see a name rather than a slug."""
    author = getattr(r, "first_author", None)
    if _missing(author) or not str(author).strip():
        author = getattr(r, "survey_or_cohort", None)
        if not _missing(author) and len(str(author)) > 28:
            author = str(author)[:27].rstrip() + "…"
    if _missing(author) or not str(author).strip():
        author = getattr(r, "study_id", None)
    author = "Unnamed study" if _missing(author) else str(author)
    year = getattr(r, "year", None)
    year = "" if _missing(year) else f" {int(year)}"
    country = getattr(r, "country_iso3", None)
    country = "" if _missing(country) else f" ({country})"
    return f"{author}{year}{country}"


def study_dots_figure(
    studies: pd.DataFrame,
    title: str,
    *,
    subtitle: str | None = None,
    y: str = "age_band",
) -> go.Figure:
    """One dot per study row with its interval, by ``y`` (age band) and coloured by diet.

    Input: ``aggregate.study_estimates`` output, columns [row_id, first_author, year,
    country_iso3, diet_group, y, prevalence, n, ci_source, reliability] and the interval
    (interval_low/interval_high, else ci_low/ci_high). Rows without prevalence are skipped.
    """
    low, high = _interval_columns(studies)
    _require(studies, ["first_author", "year", "country_iso3", "diet_group", y, "prevalence",
                       "n", low, high, "reliability"], "study_dots_figure")
    rows = studies.loc[pd.to_numeric(studies["prevalence"], errors="coerce").notna()]
    fig = go.Figure()
    categories = _order(rows[y])
    diets = _diets(rows)
    positions = _row_positions(rows, y, categories, diets)
    for diet in diets:
        mask = (rows["diet_group"].astype(str) == diet).to_numpy()
        part = rows.loc[mask]
        suppressed = _suppressed(part)
        custom = [
            [_study_label(r), format_interval(getattr(r, low), getattr(r, high)),
             format_count(r.n), str(getattr(r, "ci_source", "") or ""),
             _reliability_text(r.reliability), str(getattr(r, y)), _marks(r)]
            for r in part.itertuples()
        ]
        fig.add_scatter(
            x=(pd.to_numeric(part["prevalence"]) * 100).tolist(),
            y=positions[mask].tolist(),
            mode="markers", name=_label("diet_group", diet), legendgroup=diet,
            marker={"color": _colour(diet), "size": 9, "opacity": 0.85,
                    "symbol": ["circle-open" if s else "circle" for s in suppressed],
                    "line": {"width": 1.5, "color": _colour(diet)}},
            error_x={**_errors(part["prevalence"], part[low], part[high]),
                     "color": _colour(diet)},
            customdata=custom,
            hovertemplate=(
                "%{customdata[0]}<br>%{fullData.name}, %{customdata[5]}<br>Prevalence %{x:.1f}% "
                "(95% CI %{customdata[1]}, %{customdata[3]})<br>n = %{customdata[2]}"
                "<br>%{customdata[4]}%{customdata[6]}<extra></extra>"
            ),
        )
    style_figure(fig, title, subtitle=subtitle, x_title="Prevalence (%), with 95% CI",
                 y_title=_NAMES.get(y, y),
                 height=max(DEFAULT_HEIGHT, 12 * len(rows) + 40 * len(categories) + 140))
    fig.update_yaxes(tickvals=[-i for i in range(len(categories))], ticktext=categories,
                     range=[-len(categories) + 0.5, 0.5], showgrid=False, zeroline=False)
    # separators between categories; one layout update (add_hline per line is slow)
    fig.update_layout(shapes=[
        {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": -i + 0.5,
         "y1": -i + 0.5, "line": {"color": GRID, "width": 1}}
        for i in range(1, len(categories))
    ])
    fig.update_xaxes(rangemode="tozero", ticksuffix="%")
    return fig if len(rows) else _empty(fig)


def _row_positions(
    rows: pd.DataFrame, y: str, categories: list[str], diets: list[str]
) -> np.ndarray:
    """A y position per row: category i is centred on -i; within it each diet group has a
    band and each row its own line (sorted by prevalence), so intervals never overlap."""
    cats = rows[y].astype(str).to_numpy()
    groups = rows["diet_group"].astype(str).to_numpy()
    prevalence = pd.to_numeric(rows["prevalence"], errors="coerce").to_numpy(dtype=float)
    out = np.zeros(len(rows))
    span = 0.84
    for i, category in enumerate(categories):
        in_category = cats == category
        present = [d for d in diets if (in_category & (groups == d)).any()]
        band = span / max(len(present), 1)
        for j, diet in enumerate(present):
            index = np.flatnonzero(in_category & (groups == diet))
            index = index[np.argsort(prevalence[index], kind="stable")]
            step = band / len(index)
            out[index] = -i + span / 2 - j * band - (np.arange(len(index)) + 0.5) * step
    return out


# Right-hand columns of the forest plot: (heading, right edge in pixels right of the plot).
FOREST_COLUMNS: tuple[tuple[str, int], ...] = (
    ("Estimate [95% CI]", 150), ("n", 212), ("Weight", 272),
)
FOREST_MARGIN = 290  # pixels right of the plot for the columns


def _stratum(r: Any, by: str | None) -> str:
    """The stratum a study row stands for (sex, age, diet; the subgroup's own column left
    out, its header names it), so that a study's several rows can be told apart."""
    parts = []
    sex = getattr(r, "sex", None)
    if by != "sex" and not _missing(sex) and str(sex) != "both":
        parts.append(str(sex))
    if by != "age_band":
        age = getattr(r, "age_label", None)
        age = getattr(r, "age_band", None) if _missing(age) else age
        if not _missing(age):
            parts.append(str(age))
    diet = getattr(r, "diet_group", None)
    if by != "diet_group" and not _missing(diet):
        parts.append(_label("diet_group", diet).lower())
    return ", ".join(parts)


def _forest_label(r: Any, by: str | None) -> str:
    """"Author year (ISO3): stratum", cut to LABEL_WIDTH (the hover has it whole)."""
    stratum = _stratum(r, by)
    label = f"{_study_label(r)}: {stratum}" if stratum else _study_label(r)
    return label if len(label) <= LABEL_WIDTH else label[: LABEL_WIDTH - 1].rstrip() + "…"


def _estimate_text(est: Any, low: Any, high: Any) -> str:
    """"12.5% [8.0-13.0%]", the estimate column of a forest plot."""
    interval = format_interval(low, high)
    return f"{format_percent(est)} [{interval}]" if interval else format_percent(est)


def _column_cells(y: float, cells: Sequence[str], *, bold: bool = False) -> list[dict[str, Any]]:
    """One row of the right-hand columns as annotations, right-aligned at FOREST_COLUMNS."""
    out = []
    for (heading, edge), text in zip(FOREST_COLUMNS, cells, strict=False):
        out.append({
            "x": 1, "xref": "paper", "xanchor": "right", "xshift": edge, "y": y, "yref": "y",
            "showarrow": False, "font": {"size": 12, "color": INK},
            "text": f"<b>{text}</b>" if bold and text else text, "name": heading,
        })
    return out


def forest_figure(
    studies: pd.DataFrame,
    pooled: pd.DataFrame,
    title: str,
    *,
    subtitle: str | None = None,
    by: str | None = None,
    weight: str | None = None,
    layout: str = "columns",
) -> go.Figure:
    """A standard forest plot: one row per estimate, a pooled diamond per subgroup.

    ``layout="columns"`` puts the labels left of the plot and the estimate [95% CI], n and
    weight in columns right of it, for screens of a laptop's width; ``layout="stacked"``
    (forest_stacked_figure) gives each row its label and numbers on lines above its marker
    and the plot the whole width, for a phone.

    ``studies`` as ``study_dots_figure`` (plus ``by`` when given), best the estimates each
    pool combines (``aggregate.forest_rows``, whose ``weight`` column is the share of the
    pool's random-effects weight); ``pooled`` is ``aggregate.pool_groups(..., by=[by])``
    (one row; or one per subgroup), columns [by, estimate, ci_low, ci_high, pi_low, pi_high,
    tau2, i2, k, n_total]. Each row is labelled by study and stratum (sex, age, diet) and
    has, on the right, its estimate [95% CI], n and weight. Squares' area follows ``weight``,
    else n. The diamond spans the pool's 95% CI; the dotted line on the row below it is the
    95% prediction interval for a new study (Higgins et al. 2009); k, I2 and tau2 (logit
    scale) follow on the next row.
    """
    if layout not in ("columns", "stacked"):
        raise ValueError(f"layout must be 'columns' or 'stacked', got {layout!r}")
    if layout == "stacked":
        return forest_stacked_figure(studies, pooled, title, subtitle=subtitle, by=by,
                                     weight=weight)
    low, high = _interval_columns(studies)
    group_columns = [by] if by else []
    _require(studies, [*group_columns, "first_author", "year", "country_iso3", "diet_group",
                       "prevalence", "n", low, high], "forest_figure (studies)")
    _require(pooled, [*group_columns, "estimate", "ci_low", "ci_high", "pi_low", "pi_high",
                      "tau2", "i2", "k"], "forest_figure (pooled)")
    size_column = weight or "n"
    if size_column not in studies:
        raise ValueError(f"forest_figure: studies lack the weight column {size_column!r}")
    sizes = pd.to_numeric(studies[size_column], errors="coerce")
    biggest = float(sizes.max()) if sizes.notna().any() else 1.0

    groups = _order(pooled[by]) if by else [None]
    fig = go.Figure()
    ticks: list[tuple[float, str]] = []
    y = 0.0
    legend_done: set[str] = set()
    annotations = [
        {"x": 1, "xref": "paper", "xanchor": "right", "xshift": edge, "y": 0.5, "yref": "y",
         "yanchor": "bottom", "showarrow": False, "text": f"<b>{heading}</b>",
         "font": {"size": 12, "color": INK}}
        for heading, edge in (FOREST_COLUMNS if weight else FOREST_COLUMNS[:2])
    ]
    for group in groups:
        rows = studies if group is None else studies.loc[studies[by].astype(str) == group]
        pool = pooled if group is None else pooled.loc[pooled[by].astype(str) == group]
        if group is not None:
            y -= 1
            ticks.append((y, f"<b>{_label(by, group)}</b>"))
        for r in rows.itertuples():
            y -= 1
            diet = str(r.diet_group)
            size = getattr(r, size_column)
            area = 0.0 if _missing(size) else float(size) / biggest
            label = _forest_label(r, by)
            ticks.append((y, label))
            _add_study_square(fig, r, y, low, high, area, show_legend=diet not in legend_done)
            legend_done.add(diet)
            share = getattr(r, weight) if weight else None
            annotations += _column_cells(y, [
                _estimate_text(r.prevalence, getattr(r, low), getattr(r, high)),
                format_count(r.n), "" if _missing(share) else f"{100 * float(share):.1f}%"])
        colour = _colour(str(group)) if by == "diet_group" else INK
        for p in pool.itertuples():
            y -= 1.3
            ticks.append((y, "<b>Pooled (random effects)</b>"))
            _add_pooled_diamond(fig, p, y, colour)
            n_total = getattr(p, "n_total", None)
            annotations += _column_cells(
                y, [_estimate_text(p.estimate, p.ci_low, p.ci_high), format_count(n_total),
                    "100%" if weight else ""], bold=True)
            if not _missing(p.pi_low) and not _missing(p.pi_high):
                y -= 1
                ticks.append((y, "95% prediction interval"))
                _add_prediction_interval(fig, p, y, colour)
                annotations += _column_cells(y, [f"[{format_interval(p.pi_low, p.pi_high)}]"])
            y -= 1
            ticks.append((y, ""))
            annotations.append(_pool_annotation(p, y))
        y -= 0.5
    style_figure(fig, title, subtitle=subtitle, x_title="Prevalence (%), with 95% CI",
                 height=max(DEFAULT_HEIGHT, int(-y * 24) + 160))
    fig.update_layout(annotations=annotations, showlegend=True, legend_itemsizing="constant",
                      margin_r=FOREST_MARGIN)
    fig.update_yaxes(tickvals=[t[0] for t in ticks], ticktext=[t[1] for t in ticks],
                     showgrid=False, range=[y, 1.2])
    fig.update_xaxes(rangemode="tozero", ticksuffix="%")
    return fig if len(studies) or len(pooled) else _empty(fig)


FOREST_LINE = 18  # px per line of the stacked forest plot
FOREST_TEXT_SIZE = 12


def _forest_line(y: float, text: str, *, colour: str = INK, size: int = FOREST_TEXT_SIZE
                 ) -> dict[str, Any]:
    """One text line of the stacked forest plot, left-aligned over the plot's width."""
    return {"x": 0, "xref": "paper", "xanchor": "left", "y": y, "yref": "y",
            "yanchor": "middle", "showarrow": False, "align": "left", "text": text,
            "font": {"size": size, "color": colour}}


def _fit_line(text: str, size: int = FOREST_TEXT_SIZE) -> str:
    """``text`` cut with an ellipsis to one line of a phone's chart width."""
    chars = int((NARROW_WIDTH - 20) / (size * CHAR_EM))
    return text if len(text) <= chars else text[: chars - 1].rstrip() + "\u2026"


def forest_stacked_figure(
    studies: pd.DataFrame,
    pooled: pd.DataFrame,
    title: str,
    *,
    subtitle: str | None = None,
    by: str | None = None,
    weight: str | None = None,
) -> go.Figure:
    """The forest plot of ``forest_figure`` for a phone: every row takes the whole width.

    Same inputs and marks (squares sized by weight, diamond, prediction interval). Each
    estimate has two lines above its marker: its label (study and stratum, cut to the width;
    the hover has it whole), then "estimate [95% CI] · n · weight". No text sits beside the
    plot, so nothing is cut or overlaps at 340 px.
    """
    low, high = _interval_columns(studies)
    group_columns = [by] if by else []
    _require(studies, [*group_columns, "first_author", "year", "country_iso3", "diet_group",
                       "prevalence", "n", low, high], "forest_stacked_figure (studies)")
    _require(pooled, [*group_columns, "estimate", "ci_low", "ci_high", "pi_low", "pi_high",
                      "tau2", "i2", "k"], "forest_stacked_figure (pooled)")
    size_column = weight or "n"
    if size_column not in studies:
        raise ValueError(f"forest_stacked_figure: studies lack the weight column "
                         f"{size_column!r}")
    sizes = pd.to_numeric(studies[size_column], errors="coerce")
    biggest = float(sizes.max()) if sizes.notna().any() else 1.0
    groups = _order(pooled[by]) if by else [None]
    fig = go.Figure()
    annotations: list[dict[str, Any]] = []
    y = 0.0
    legend_done: set[str] = set()
    for group in groups:
        rows = studies if group is None else studies.loc[studies[by].astype(str) == group]
        pool = pooled if group is None else pooled.loc[pooled[by].astype(str) == group]
        if group is not None:
            y -= 1.2
            annotations.append(_forest_line(y, f"<b>{_label(by, group)}</b>", size=13))
        for r in rows.itertuples():
            share = getattr(r, weight) if weight else None
            numbers = [_estimate_text(r.prevalence, getattr(r, low), getattr(r, high)),
                       f"n = {format_count(r.n)}"]
            if not _missing(share):
                numbers.append(f"weight {100 * float(share):.1f}%")
            y -= 1.1
            annotations.append(_forest_line(y, _fit_line(_forest_label(r, by))))
            y -= 1
            annotations.append(_forest_line(y, " \u00b7 ".join(numbers), colour=MUTED))
            y -= 1.1
            size = getattr(r, size_column)
            area = 0.0 if _missing(size) else float(size) / biggest
            diet = str(r.diet_group)
            _add_study_square(fig, r, y, low, high, area, show_legend=diet not in legend_done)
            legend_done.add(diet)
        colour = _colour(str(group)) if by == "diet_group" else INK
        for p in pool.itertuples():
            y -= 1.3
            pooled_text = _estimate_text(p.estimate, p.ci_low, p.ci_high)
            n_total = getattr(p, "n_total", None)
            annotations.append(_forest_line(
                y, f"<b>Pooled (random effects): {pooled_text}</b>"))
            y -= 1.2
            _add_pooled_diamond(fig, p, y, colour)
            if not _missing(p.pi_low) and not _missing(p.pi_high):
                y -= 1.1
                annotations.append(_forest_line(
                    y, f"95% prediction interval [{format_interval(p.pi_low, p.pi_high)}]"))
                y -= 1
                _add_prediction_interval(fig, p, y, colour)
            y -= 1.1
            heterogeneity = _pool_annotation(p, y)["text"]
            if not _missing(n_total):
                heterogeneity = f"n = {format_count(n_total)} \u00b7 {heterogeneity}"
            annotations.append(_forest_line(y, heterogeneity, colour=MUTED, size=11))
        y -= 0.6
    fig.update_layout(annotations=annotations, showlegend=True, legend_itemsizing="constant")
    # FOREST_LINE px per unit of y, whatever the margins
    style_figure(fig, title, subtitle=subtitle, x_title="Prevalence (%), with 95% CI",
                 plot_height=int((0.4 - y) * FOREST_LINE))
    fig.update_yaxes(showticklabels=False, showgrid=False, range=[y, 0.4], zeroline=False)
    fig.update_xaxes(rangemode="tozero", ticksuffix="%")
    return fig if len(studies) or len(pooled) else _empty(fig)


def _add_study_square(
    fig: go.Figure, r: Any, y: float, low: str, high: str, area: float, *, show_legend: bool
) -> None:
    """One study row as a square whose area shows its weight, so big studies stand out."""
    diet = str(r.diet_group)
    fig.add_scatter(
        x=[100 * float(r.prevalence)], y=[y], mode="markers",
        name=_label("diet_group", diet), legendgroup=diet, showlegend=show_legend,
        marker={"symbol": "square", "color": _colour(diet), "size": 5 + 15 * math.sqrt(area)},
        error_x={**_errors(pd.Series([r.prevalence]), pd.Series([getattr(r, low)]),
                           pd.Series([getattr(r, high)])), "color": _colour(diet)},
        customdata=[[format_interval(getattr(r, low), getattr(r, high)), format_count(r.n),
                     _study_label(r) + (f": {_stratum(r, None)}" if _stratum(r, None) else ""),
                     _marks(r)]],
        hovertemplate=("%{customdata[2]}<br>Prevalence %{x:.1f}% (95% CI "
                       "%{customdata[0]})<br>n = %{customdata[1]}%{customdata[3]}<extra></extra>"),
    )


def _add_pooled_diamond(fig: go.Figure, p: Any, y: float, colour: str) -> None:
    """The pool as a diamond spanning its 95% CI."""
    est, lo, hi = (100 * float(v) for v in (p.estimate, p.ci_low, p.ci_high))
    fig.add_scatter(
        x=[lo, est, hi, est, lo], y=[y, y + 0.4, y, y - 0.4, y], mode="lines",
        fill="toself", fillcolor=colour, line={"color": colour, "width": 1},
        name="Pooled estimate", showlegend=False,
        hovertemplate=(f"Pooled {format_percent(p.estimate)} (95% CI "
                       f"{format_interval(p.ci_low, p.ci_high)})<extra></extra>"),
    )


def _add_prediction_interval(fig: go.Figure, p: Any, y: float, colour: str) -> None:
    """The 95% prediction interval as a dotted line with end ticks, on its own row."""
    fig.add_scatter(
        x=[100 * float(p.pi_low), 100 * float(p.pi_high)], y=[y, y], mode="lines+markers",
        line={"color": colour, "width": 1.5, "dash": "dot"},
        marker={"symbol": "line-ns-open", "size": 10, "color": colour}, showlegend=False,
        name="95% prediction interval", hovertemplate=(
            f"95% prediction interval {format_interval(p.pi_low, p.pi_high)}<extra></extra>"),
    )


def _pool_annotation(p: Any, y: float) -> dict[str, Any]:
    """k, I2 and tau2 on the row under the pool, in the label column, so heterogeneity is
    read with the pool."""
    return {
        "x": 0, "xref": "paper", "xanchor": "right", "xshift": -8, "y": y, "yref": "y",
        "showarrow": False, "font": {"size": 11, "color": INK},
        "text": (f"k = {int(p.k)}, I\u00b2 = {float(p.i2):.0f}%, "
                 f"\u03c4\u00b2 = {float(p.tau2):.3f}"
                 if not _missing(p.tau2) else f"k = {int(p.k)}"),
    }


# --- burden charts -----------------------------------------------------------------------------

_MEASURES: dict[str, tuple[str, str, str, float, str]] = {
    # measure -> (value, low, high, scale to chart units, axis title)
    "share": ("prevalence", "prevalence_low", "prevalence_high", 100.0,
              "Share with low status (%)"),
    "number": ("cases", "cases_low", "cases_high", 1.0, "People with low status"),
}


def _measure(measure: str) -> tuple[str, str, str, float, str]:
    if measure not in _MEASURES:
        raise ValueError(f"measure must be one of {', '.join(_MEASURES)}, got {measure!r}")
    return _MEASURES[measure]


def _value_text(measure: str, value: Any, low: Any, high: Any) -> str:
    if measure == "share":
        return f"{format_percent(value)} (95% UI {format_interval(low, high)})"
    count, interval = format_people_supported(value, low, high)
    return f"{count} (95% UI {interval})"


# How a modelled figure the model extrapolates to is drawn: hatched bars, crossed countries.
NOT_ESTIMABLE_PATTERN = "/"
NOT_ESTIMABLE_MARKER = "x-thin"
NOT_ESTIMABLE_TEXT = "not estimable: the model extrapolates beyond its data"


def _support_text(row: Any) -> str:
    """Hover line on the studies behind a country's modelled figure, with its flag."""
    text = ""
    if getattr(row, "support_country", None) is not None and not pd.isna(row.support_country):
        text = (f"<br>Studies: {int(row.support_country)} in the country, "
                f"{int(row.support_region)} in its region")
    if not bool(getattr(row, "estimable", True)):
        text += f"<br>{NOT_ESTIMABLE_TEXT}"
    return text


def _centre(geometry: Mapping[str, Any]) -> tuple[float, float]:
    """Middle of the bounding box of a (multi)polygon's largest ring: where its mark goes."""
    polygons = (geometry["coordinates"] if geometry["type"] == "MultiPolygon"
                else [geometry["coordinates"]])
    ring = max((p[0] for p in polygons), key=len)
    lon = [pt[0] for pt in ring]
    lat = [pt[1] for pt in ring]
    return (min(lon) + max(lon)) / 2, (min(lat) + max(lat)) / 2


def burden_map_figure(
    frame: pd.DataFrame,
    geojson: Mapping[str, Any],
    measure: str,
    title: str,
    *,
    subtitle: str | None = None,
) -> go.Figure:
    """World choropleth of the modelled share or number of people with low status.

    Input: ``burden.summarize_burden(..., by=["iso3", ...])`` rows for one year, columns
    [iso3, cases, cases_low, cases_high, prevalence, prevalence_low, prevalence_high,
    population] (``location``, ``support_country``/``support_region`` used in hover when
    present). Countries whose ``estimable`` is False (the model extrapolates) are hatched:
    a trace of NOT_ESTIMABLE_MARKER marks at their centres, and their hover says so.
    Geometry: the shipped GeoJSON (``geo.load_world()``), joined on ``properties.iso3``;
    every country is drawn in grey underneath, so countries without a value read as "no
    data". No built-in plotly country geometry and no base layers are used, so nothing is
    fetched at view time (the config's topojsonURL covers plotly.js's own request).
    """
    value, low, high, scale, axis = _measure(measure)
    _require(frame, ["iso3", value, low, high], "burden_map_figure")
    features = geojson.get("features", [])
    known = {f["properties"]["iso3"] for f in features}
    rows = frame.loc[frame["iso3"].astype("object").isin(known).to_numpy(dtype=bool)]
    names = rows["location"].astype(str) if "location" in rows else rows["iso3"].astype(str)
    # Each trace carries only its own countries, so the figure holds every outline once.
    coloured = set(rows["iso3"].astype(str))
    shapes = {
        part: {"type": "FeatureCollection", "features": [
            f for f in features
            if (f["properties"]["iso3"] in coloured) == (part == "data")
            and f["properties"]["iso3"] != "ATA"  # no population lives there
        ]}
        for part in ("background", "data")
    }
    background = [f["properties"]["iso3"] for f in shapes["background"]["features"]]
    fig = go.Figure()
    fig.add_choropleth(
        geojson=shapes["background"], featureidkey="properties.iso3", locationmode="geojson-id",
        locations=background, z=[0] * len(background), showscale=False,
        colorscale=[[0, NO_DATA], [1, NO_DATA]], marker={"line": {"color": "white",
                                                                  "width": 0.5}},
        hoverinfo="skip", name="No data", showlegend=False,
    )
    fig.add_choropleth(
        geojson=shapes["data"], featureidkey="properties.iso3", locationmode="geojson-id",
        locations=rows["iso3"].astype(str).tolist(),
        # A country without a value as None, not NaN: the JSON is the same ("null"), but a
        # single NaN makes plotly's encoder parse and write the 200 kB of outlines again.
        z=[None if _missing(v) else v for v in (pd.to_numeric(rows[value]) * scale).tolist()],
        # a share on the fixed prevalence scale (as Explore's and Cutoffs' heatmaps); a
        # number of people from none to the most in the view
        **(prevalence_colour_axis() if measure == "share" else {
            "colorscale": SEQUENTIAL_SCALE, "zmin": 0,
            "colorbar": {"title": {"text": "people"}}}),
        marker={"line": {"color": "white", "width": 0.5}},
        customdata=[
            [n, _value_text(measure, getattr(r, value), getattr(r, low), getattr(r, high)),
             format_count(getattr(r, "population", None)), _support_text(r)]
            for n, r in zip(names, rows.itertuples(), strict=True)
        ],
        hovertemplate=("%{customdata[0]}<br>" + axis + ": %{customdata[1]}"
                       "<br>Population %{customdata[2]}%{customdata[3]}<extra></extra>"),
        name=axis,
    )
    flagged = (rows.loc[~rows["estimable"].astype(bool).to_numpy()] if "estimable" in rows
               else rows.iloc[0:0])
    if len(flagged):
        centres = {f["properties"]["iso3"]: _centre(f["geometry"]) for f in features}
        points = [centres[c] for c in flagged["iso3"].astype(str)]
        fig.add_scattergeo(
            lon=[p[0] for p in points], lat=[p[1] for p in points], mode="markers",
            marker={"symbol": NOT_ESTIMABLE_MARKER, "size": 7, "color": INK,
                    "line": {"width": 1.5, "color": INK}},
            text=[f"{n}: {NOT_ESTIMABLE_TEXT}" for n in (
                flagged["location"].astype(str) if "location" in flagged
                else flagged["iso3"].astype(str))],
            hoverinfo="text", name=NOT_ESTIMABLE_TEXT, showlegend=True,
        )
    style_figure(fig, title, subtitle=subtitle, height=520)
    # The whole inhabited world, centred on Greenwich: fitting bounds to features that
    # cross the antimeridian (Russia, Fiji) would centre the map on the Pacific.
    fig.update_geos(visible=False, fitbounds=False, projection_type="natural earth",
                    projection_rotation_lon=0, lataxis_range=[-58, 85], lonaxis_range=[-180, 180],
                    showframe=False, showcoastlines=False, showland=False, showcountries=False,
                    showocean=False, showlakes=False, showrivers=False, showsubunits=False)
    fig.update_layout(margin={"l": 0, "r": 0})
    return fig


def burden_bars_figure(
    frame: pd.DataFrame,
    title: str,
    *,
    measure: str = "number",
    subtitle: str | None = None,
    x: str = "age_band",
) -> go.Figure:
    """Modelled people (or share) with low status by ``x`` x diet group, with 95% UI bars.

    Input: ``burden.summarize_burden(..., by=[x, "diet_group"])``, columns [x, diet_group,
    population, cases, cases_low, cases_high, prevalence, prevalence_low, prevalence_high];
    with an ``estimable`` column, bars the model extrapolates to are hatched and say so.
    """
    value, low, high, scale, axis = _measure(measure)
    _require(frame, [x, "diet_group", value, low, high], "burden_bars_figure")
    fig = go.Figure()
    categories = _order(frame[x])
    for diet in _diets(frame):
        part = frame.loc[frame["diet_group"].astype(str) == diet]
        ok = (part["estimable"].astype(bool).tolist() if "estimable" in part
              else [True] * len(part))
        fig.add_bar(
            x=part[x].astype(str).tolist(),
            y=(pd.to_numeric(part[value]) * scale).tolist(),
            name=_label("diet_group", diet), legendgroup=diet,
            marker={"color": _colour(diet),
                    "pattern": {"shape": ["" if e else NOT_ESTIMABLE_PATTERN for e in ok]}},
            error_y={**_errors(part[value], part[low], part[high], scale), "color": INK},
            customdata=[[_value_text(measure, getattr(r, value), getattr(r, low),
                                     getattr(r, high)),
                         format_count(getattr(r, "population", None)),
                         "" if e else f"<br>{NOT_ESTIMABLE_TEXT}"]
                        for r, e in zip(part.itertuples(), ok, strict=True)],
            hovertemplate=("%{fullData.name}, %{x}<br>" + axis + ": %{customdata[0]}"
                           "<br>People in group %{customdata[1]}%{customdata[2]}"
                           "<extra></extra>"),
        )
    style_figure(fig, title, subtitle=subtitle, x_title=_NAMES.get(x, x), y_title=axis)
    fig.update_layout(barmode="group", bargap=0.2)
    fig.update_xaxes(categoryorder="array", categoryarray=categories, type="category")
    fig.update_yaxes(rangemode="tozero", ticksuffix="%" if measure == "share" else "")
    return fig if len(frame) else _empty(fig)


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def projection_figure(
    frame: pd.DataFrame,
    title: str,
    *,
    measure: str = "number",
    subtitle: str | None = None,
    group: str | None = None,
    last_estimate_year: int = schema.WPP_LAST_ESTIMATE_YEAR,
) -> go.Figure:
    """Modelled people (or share) over the years, one line per ``group``, with a 95% UI band.

    Input: ``burden.summarize_burden(..., by=["year", group])`` (group optional: location or
    diet_group), columns [year, group, cases, cases_low, cases_high, prevalence,
    prevalence_low, prevalence_high]. Diet groups take their schema colours, other groups the
    Okabe-Ito series. A dotted line marks where WPP estimates end and projections begin.
    """
    value, low, high, scale, axis = _measure(measure)
    _require(frame, ["year", value, low, high, *([group] if group else [])],
             "projection_figure")
    fig = go.Figure()
    keys = _order(frame[group]) if group else [None]
    for i, key in enumerate(keys):
        part = frame if key is None else frame.loc[frame[group].astype(str) == key]
        part = part.sort_values("year")
        colour = (_colour(key) if group == "diet_group"
                  else SERIES_COLOURS[i % len(SERIES_COLOURS)])
        name = axis if key is None else _label(group, key)
        years = pd.to_numeric(part["year"]).astype(int).tolist()
        fig.add_scatter(
            x=years + years[::-1],
            y=(pd.concat([part[high], part[low][::-1]]).astype(float) * scale).tolist(),
            fill="toself", fillcolor=_rgba(colour, 0.18), line={"width": 0},
            mode="lines", hoverinfo="skip", legendgroup=name, showlegend=False,
            name=f"{name}: 95% UI",
        )
        fig.add_scatter(
            x=years, y=(pd.to_numeric(part[value]) * scale).tolist(), mode="lines+markers",
            line={"color": colour, "width": 2}, marker={"size": 4}, name=name,
            legendgroup=name,
            customdata=[[_value_text(measure, getattr(r, value), getattr(r, low),
                                     getattr(r, high))] for r in part.itertuples()],
            hovertemplate=f"{name}, %{{x}}<br>%{{customdata[0]}}<extra></extra>",
        )
    if len(frame):
        fig.add_vline(x=last_estimate_year + 0.5, line={"dash": "dot", "color": MUTED,
                                                        "width": 1})
        fig.add_annotation(x=last_estimate_year + 0.5, y=1, yref="paper", showarrow=False,
                           xanchor="left", text=" WPP projection \u2192",
                           font={"size": 11, "color": MUTED})
    style_figure(fig, title, subtitle=subtitle, x_title="Year", y_title=axis)
    fig.update_yaxes(rangemode="tozero", ticksuffix="%" if measure == "share" else "")
    return fig if len(frame) else _empty(fig)


# --- cut-off comparison ------------------------------------------------------------------------


def cutoffs_figure(
    frame: pd.DataFrame,
    title: str,
    *,
    subtitle: str | None = None,
) -> go.Figure:
    """The same populations under several definitions: one dumbbell row per population.

    Input: ``aggregate.compare_definitions`` output, columns [population_id,
    population_label, definition, definition_label, prevalence, n] (ci_low/ci_high used when
    present). A grey line joins a population's estimates; each definition has one colour.
    """
    _require(frame, ["population_id", "population_label", "definition", "definition_label",
                     "prevalence", "n"], "cutoffs_figure")
    fig = go.Figure()
    populations = list(dict.fromkeys(frame["population_label"].astype(str)))
    # two short lines a population, so that on a phone the labels leave the plot room
    short: dict[str, str] = {}
    for p, cut in _shorten(populations, ROW_LABEL_CHARS).items():
        label, n = _two_lines(cut), 2
        while label in short.values():  # cut to two lines, two labels may meet: number them
            label, n = f"{_two_lines(cut)} ({n})", n + 1
        short[p] = label
    spans_x: list[float | None] = []
    spans_y: list[str | None] = []
    for label in populations:
        p = pd.to_numeric(frame.loc[frame["population_label"].astype(str) == label,
                                    "prevalence"], errors="coerce").dropna() * 100
        if len(p):
            spans_x += [float(p.min()), float(p.max()), None]
            spans_y += [short[label], short[label], None]
    fig.add_scatter(x=spans_x, y=spans_y, mode="lines", line={"color": "#BBBBBB", "width": 3},
                    hoverinfo="skip", showlegend=False, name="range")
    definitions = _definition_order(frame["definition"])
    for i, definition in enumerate(definitions):
        part = frame.loc[frame["definition"].astype(str) == definition]
        has_ci = {"ci_low", "ci_high"} <= set(part.columns)
        fig.add_scatter(
            x=(pd.to_numeric(part["prevalence"]) * 100).tolist(),
            y=[short[p] for p in part["population_label"].astype(str)], mode="markers",
            name=str(part["definition_label"].iloc[0]),
            # colour and symbol together stay distinct beyond eight definitions
            marker={"color": SERIES_COLOURS[i % len(SERIES_COLOURS)], "size": 11,
                    "symbol": SYMBOLS[(i // len(SERIES_COLOURS)) % len(SYMBOLS)],
                    "line": {"color": "white", "width": 1}},
            error_x=({**_errors(part["prevalence"], part["ci_low"], part["ci_high"]),
                      "color": SERIES_COLOURS[i % len(SERIES_COLOURS)]} if has_ci else None),
            customdata=[[format_count(r.n),
                         format_interval(r.ci_low, r.ci_high) if has_ci else "",
                         str(r.population_label)]
                        for r in part.itertuples()],
            hovertemplate=("%{customdata[2]}<br>%{fullData.name}: %{x:.1f}% (95% CI "
                           "%{customdata[1]})"
                           "<br>n = %{customdata[0]}<extra></extra>"),
        )
    style_figure(fig, title, subtitle=subtitle, x_title="Prevalence (%)",
                 height=max(DEFAULT_HEIGHT, ROW_HEIGHT * len(populations) + 180),
                 legend_title="Definition")
    fig.update_yaxes(categoryorder="array", categoryarray=[short[p] for p in populations][::-1],
                     type="category", tickfont={"size": 12})
    fig.update_xaxes(rangemode="tozero", ticksuffix="%")
    return fig if len(frame) else _empty(fig)


def _two_lines(text: str, width: float = ROW_LABEL_WIDTH, size: float = 12) -> str:
    """``text`` on at most two lines of ``width`` px (fit_text), the second cut with an
    ellipsis when the words would need a third."""
    lines = fit_text(text, width, size).split("<br>")
    if len(lines) <= 2:
        return "<br>".join(lines)
    rest = " ".join(lines[1:])
    chars = int(width / (size * CHAR_EM))
    return f"{lines[0]}<br>{rest[: chars - 1].rstrip()}\u2026"


def _shorten(labels: list[str], width: int = LABEL_WIDTH) -> dict[str, str]:
    """Labels cut to ``width`` characters, kept distinct (a cut label that repeats is numbered)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for label in labels:
        short = label if len(label) <= width else label[: width - 1] + "\u2026"
        n = 2
        candidate = short
        while candidate in used:
            candidate = f"{short} ({n})"
            n += 1
        used.add(candidate)
        out[label] = candidate
    return out


def _definition_order(values: pd.Series) -> list[str]:
    """Definitions in schema order, generated ids after them alphabetically."""
    rank = {d.id: i for i, d in enumerate(schema.DEFINITIONS)}
    seen = {str(v) for v in values if not _missing(v)}
    return sorted(seen, key=lambda d: (rank.get(d, len(rank)), d))


# --- Risk profile ------------------------------------------------------------------------------

# Status classes of a profile, worst first, in a sequential order of the map's scale.
STATUS_CLASS_COLOURS: dict[str, str] = {
    "deficient": "#E31A1C", "marginal": "#FD8D3C", "adequate": "#FED976",
}


def profile_status_figure(status: pd.DataFrame, labels: Mapping[str, str], title: str, *,
                          subtitle: str | None = None) -> go.Figure:
    """Deficient / marginal / adequate as one stacked bar per population, with intervals.

    Input: ``profile.SegmentProfile.status`` (population, status, estimate, ci_low,
    ci_high); ``labels`` names each population on the axis, in the order to draw them (top
    first). The whiskers sit where the share below each cut-off ends: the deficient bar's
    on the 95% CI of the share deficient, the marginal bar's on the 95% CI of the share below
    the upper cut-off (deficient + marginal), computed here as the interval of that sum.
    """
    _require(status, ["population", "status", "estimate", "ci_low", "ci_high"],
             "profile_status_figure")
    order = [p for p in labels if p in set(status["population"])]
    fig = go.Figure()
    cumulative = {p: 0.0 for p in order}
    for name in ("deficient", "marginal", "adequate"):
        part = status[status["status"] == name].set_index("population").reindex(order)
        est = part["estimate"].to_numpy(dtype=float)
        ends = np.array([cumulative[p] for p in order]) + est
        error = None
        if name == "deficient":
            error = {**_errors(part["estimate"], part["ci_low"], part["ci_high"]), "color": INK}
        elif name == "marginal":
            adequate = status[status["status"] == "adequate"].set_index("population").reindex(
                order)
            # below the upper cut-off = 1 - adequate: its interval is adequate's, reversed
            error = {**_errors(1 - adequate["estimate"], 1 - adequate["ci_high"],
                               1 - adequate["ci_low"]), "color": INK}
        fig.add_bar(
            y=[labels[p] for p in order], x=(100 * est).tolist(), orientation="h",
            name=name.capitalize(), marker={"color": STATUS_CLASS_COLOURS[name],
                                            "line": {"color": "white", "width": 1}},
            error_x=error,
            customdata=[[format_interval(r.ci_low, r.ci_high)] for r in part.itertuples()],
            hovertemplate=(f"{name.capitalize()}: %{{x:.1f}}% (95% CI %{{customdata[0]}})"
                           "<extra></extra>"),
        )
        for p, end in zip(order, ends, strict=True):
            cumulative[p] = float(end)
    style_figure(fig, title, subtitle=subtitle, x_title="Share of the population (%)",
                 height=170 + 70 * len(order), legend_title="Status")
    fig.update_layout(barmode="stack")
    fig.update_yaxes(categoryorder="array", type="category",
                     categoryarray=[labels[p] for p in order][::-1])
    fig.update_xaxes(range=[0, 100], ticksuffix="%")
    return fig if len(order) else _empty(fig)


def whatif_figure(whatif: pd.DataFrame, title: str, *, subtitle: str | None = None
                  ) -> go.Figure:
    """The modelled difference of each alternative from the segment: a dot and its 95% CI
    per row, in the frame's order (top first), in percentage points.

    Input: ``profile.SegmentProfile.whatif`` (label, estimate, difference, difference_low,
    difference_high; fractions). A zero line marks "no modelled difference".
    """
    _require(whatif, ["label", "estimate", "difference", "difference_low", "difference_high"],
             "whatif_figure")
    labels = whatif["label"].astype(str).tolist()
    fig = go.Figure()
    fig.add_vline(x=0, line={"color": MUTED, "width": 1, "dash": "dot"})
    fig.add_scatter(
        x=(100 * whatif["difference"]).tolist(), y=labels, mode="markers",
        name="Modelled difference", showlegend=False,
        marker={"color": SERIES_COLOURS[0], "size": 11, "line": {"color": "white", "width": 1}},
        error_x={**_errors(whatif["difference"], whatif["difference_low"],
                           whatif["difference_high"]), "color": SERIES_COLOURS[0]},
        customdata=[[format_percent(r.estimate),
                     f"{100 * r.difference_low:+.1f} to {100 * r.difference_high:+.1f}"]
                    for r in whatif.itertuples()],
        hovertemplate=("%{y}: %{x:+.1f} percentage points (95% CI %{customdata[1]}); "
                       "prevalence %{customdata[0]}<extra></extra>"),
    )
    style_figure(fig, title, subtitle=subtitle,
                 x_title="Modelled difference in the share deficient (percentage points)",
                 height=150 + 40 * len(labels))
    fig.update_yaxes(categoryorder="array", categoryarray=labels[::-1], type="category")
    fig.update_xaxes(ticksuffix=" pp", zeroline=False)
    return fig if len(whatif) else _empty(fig)
# --- the prevalence model (Model page) -----------------------------------------------------------

# Colours of the two models of the validation plot (Okabe & Ito 2008).
MODEL_COLOURS: dict[str, str] = {"new": "#0072B2", "old": "#E69F00"}


def odds_ratio_figure(
    frame: pd.DataFrame,
    title: str,
    *,
    subtitle: str | None = None,
) -> go.Figure:
    """Dot-and-interval chart of odds ratios on a log axis, one row per term, with a line at
    1 (no effect).

    Input: ``Model.odds_ratios`` output, columns [term, label, odds_ratio, or_low, or_high];
    rows are drawn top to bottom in input order.
    """
    _require(frame, ["term", "label", "odds_ratio", "or_low", "or_high"], "odds_ratio_figure")
    fig = go.Figure()
    labels = [str(v) for v in frame["label"]]
    short = _shorten(labels)
    y = [short[v] for v in labels]
    est = frame["odds_ratio"].astype(float)
    fig.add_scatter(
        x=est.tolist(), y=y, mode="markers", name="Odds ratio (95% CI)",
        marker={"color": SERIES_COLOURS[0], "size": 10, "symbol": "diamond"},
        error_x={"type": "data", "symmetric": False,
                 "array": (frame["or_high"].astype(float) - est).tolist(),
                 "arrayminus": (est - frame["or_low"].astype(float)).tolist(),
                 "color": SERIES_COLOURS[0], "thickness": 1.5, "width": 4},
        customdata=[[lab, f"{lo:.2f}-{hi:.2f}"] for lab, lo, hi in
                    zip(labels, frame["or_low"], frame["or_high"], strict=True)],
        hovertemplate="%{customdata[0]}<br>odds ratio %{x:.2f} (95% CI %{customdata[1]})"
                      "<extra></extra>",
    )
    style_figure(fig, title, subtitle=subtitle, x_title="Odds ratio (log scale; 1 = no effect)",
                 height=max(DEFAULT_HEIGHT, 28 * len(frame) + 160))
    fig.add_vline(x=1.0, line={"color": MUTED, "dash": "dash", "width": 1})
    fig.update_xaxes(type="log")
    fig.update_yaxes(categoryorder="array", categoryarray=y[::-1], type="category")
    fig.update_layout(showlegend=False)
    return fig if len(frame) else _empty(fig)


def validation_figure(
    frame: pd.DataFrame,
    title: str,
    *,
    subtitle: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> go.Figure:
    """Held-out observed (x) against predicted (y) prevalence, in percent, one colour per
    model, with the line y = x (a perfect prediction).

    Input: ``validation.validate`` rows of one fold type: [estimate_id, observed, predicted,
    pi_low, pi_high, old_predicted, old_pi_low, old_pi_high]; a model's NaN predictions are
    left out. ``labels`` names the models ("new", "old").
    """
    _require(frame, ["estimate_id", "observed", "predicted", "pi_low", "pi_high",
                     "old_predicted", "old_pi_low", "old_pi_high"], "validation_figure")
    names = {"new": "Multilevel model", "old": "Cell pooling (previous)", **(labels or {})}
    fig = go.Figure()
    top = 0.0
    for key, prefix in (("new", ""), ("old", "old_")):
        part = frame[frame[f"{prefix}predicted"].notna()]
        observed = part["observed"].astype(float) * 100
        predicted = part[f"{prefix}predicted"].astype(float) * 100
        top = max(top, float(observed.max()) if len(part) else 0.0,
                  float(predicted.max()) if len(part) else 0.0)
        fig.add_scatter(
            x=observed.tolist(), y=predicted.tolist(), mode="markers", name=names[key],
            marker={"color": MODEL_COLOURS[key], "size": 8, "opacity": 0.8,
                    "symbol": "circle" if key == "new" else "square",
                    "line": {"color": "white", "width": 0.5}},
            customdata=[[str(e), format_interval(lo, hi)] for e, lo, hi in
                        zip(part["estimate_id"], part[f"{prefix}pi_low"],
                            part[f"{prefix}pi_high"], strict=True)],
            hovertemplate=("%{customdata[0]}<br>observed %{x:.1f}%, predicted %{y:.1f}% "
                           "(95% PI %{customdata[1]})<extra>%{fullData.name}</extra>"),
        )
    edge = max(5.0, math.ceil(top / 10) * 10)
    fig.add_scatter(x=[0, edge], y=[0, edge], mode="lines", name="Observed = predicted",
                    line={"color": MUTED, "dash": "dash", "width": 1}, hoverinfo="skip")
    style_figure(fig, title, subtitle=subtitle, x_title="Observed prevalence (%)",
                 y_title="Predicted without its fold (%)", height=520)
    fig.update_xaxes(range=[0, edge], ticksuffix="%")
    fig.update_yaxes(range=[0, edge], ticksuffix="%", scaleanchor="x", scaleratio=1)
    return fig if len(frame) else _empty(fig)

# --- published pools beside the model ----------------------------------------------------------

POOLED_NAME = "Published studies, pooled"
MODELLED_NAME = "Modelled"
NOT_ESTIMABLE = "not estimable"
NOT_ESTIMABLE_HATCH = "x"  # bar pattern of modelled cells where the model extrapolates
NOT_ESTIMABLE_NOTE = ("Hatched grey bars: not estimable, the model extrapolates beyond its "
                      "data; read them as no estimate.")


def _modelled_hover(r: Any) -> list[str]:
    """Hover lines of one modelled cell: its interval (or why there is none) and support."""
    value = (f"{NOT_ESTIMABLE} (the model has no estimates of this group near these ages)"
             if not r.estimable else
             f"{format_percent(r.estimate)} (95% CI {format_interval(r.ci_low, r.ci_high)})")
    support = (f"{format_count(r.support_diet)} studies of this group, "
               f"{format_count(r.support_age)} at these ages, "
               f"{format_count(r.support_location)} in this place")
    return [value, support]


def observed_modelled_figure(
    pooled: pd.DataFrame,
    modelled: pd.DataFrame,
    title: str,
    *,
    subtitle: str | None = None,
) -> go.Figure:
    """Published pools and the model's estimates of the same age band x diet cells.

    Bars: the model (``aggregate.summarize_modelled``: [age_band, diet_group, estimate,
    ci_low, ci_high, estimable, support_diet, support_age, support_location]) with its 95%
    CI; a cell the model cannot estimate is a hatched grey bar labelled "not estimable",
    without an interval, never a plain number. Dots: the random-effects pool of published
    estimates (``aggregate.pool_groups``) with its 95% CI, on the bar of its cell. One
    colour per diet group; the legend (below the plot, clear of the subtitle) groups the
    two sources.
    """
    _require(pooled, ["age_band", "diet_group", *_POOLED_COLUMNS], "observed_modelled_figure")
    _require(modelled, ["age_band", "diet_group", "estimate", "ci_low", "ci_high", "estimable",
                        "support_diet", "support_age", "support_location"],
             "observed_modelled_figure")
    fig = go.Figure()
    categories = _order(list(modelled["age_band"]) + list(pooled["age_band"]),
                        schema.STUDY_AGE_BANDS)
    diets = _order(list(modelled["diet_group"]) + list(pooled["diet_group"]),
                   schema.STUDY_DIET_GROUPS)
    flagged = False
    for diet in diets:
        part = modelled.loc[modelled["diet_group"].astype(str) == diet]
        if len(part):
            ok = part["estimable"].astype(bool).to_numpy()
            flagged |= bool((~ok).any())
            colour = _colour(diet)
            fig.add_bar(
                x=part["age_band"].astype(str).tolist(),
                y=(pd.to_numeric(part["estimate"]) * 100).tolist(),
                name=_label("diet_group", diet), legendgroup="modelled",
                legendgrouptitle={"text": MODELLED_NAME}, offsetgroup=diet,
                marker={"color": [_rgba(colour, 0.35) if e else NO_DATA for e in ok],
                        "line": {"color": [colour if e else MUTED for e in ok], "width": 1.5},
                        "pattern": {"shape": ["" if e else NOT_ESTIMABLE_HATCH for e in ok],
                                    "fgcolor": MUTED, "fillmode": "overlay"}},
                text=["" if e else NOT_ESTIMABLE for e in ok], textposition="inside",
                textangle=-90, insidetextanchor="start", textfont={"color": INK, "size": 11},
                error_y={**_errors(part["estimate"].where(ok), part["ci_low"].where(ok),
                                   part["ci_high"].where(ok)), "color": colour},
                customdata=[_modelled_hover(r) for r in part.itertuples()],
                hovertemplate=(f"{MODELLED_NAME}: %{{fullData.name}}, %{{x}}<br>"
                               "%{customdata[0]}<br>%{customdata[1]}<extra></extra>"),
            )
    for diet in diets:
        part = pooled.loc[pooled["diet_group"].astype(str) == diet]
        if len(part):
            custom, template = _pooled_hover(part)
            fig.add_scatter(
                x=part["age_band"].astype(str).tolist(),
                y=(pd.to_numeric(part["estimate"]) * 100).tolist(), mode="markers",
                name=_label("diet_group", diet), legendgroup="pooled",
                legendgrouptitle={"text": POOLED_NAME}, offsetgroup=diet,
                marker={"color": _colour(diet), "size": 10, "symbol": "circle",
                        "line": {"color": "white", "width": 1.5}},
                error_y={**_errors(part["estimate"], part["ci_low"], part["ci_high"]),
                         "color": INK},
                customdata=custom,
                hovertemplate=f"{POOLED_NAME}: " + template,
            )
    note = NOT_ESTIMABLE_NOTE if flagged else None
    entries = len(fig.data)
    style_figure(fig, title, subtitle=" ".join(s for s in (subtitle, note) if s) or None,
                 x_title=_NAMES["age_band"], y_title="Prevalence (%), with 95% CI")
    fig.update_layout(barmode="group", scattermode="group", bargap=0.2,
                      legend={"groupclick": "toggleitem"})
    fig.update_xaxes(categoryorder="array", categoryarray=categories, type="category")
    fig.update_yaxes(rangemode="tozero", ticksuffix="%")
    return fig if entries else _empty(fig)


def cutoff_curves_figure(
    curves: pd.DataFrame,
    observed: pd.DataFrame,
    cutoff: float,
    title: str,
    *,
    subtitle: str | None = None,
) -> go.Figure:
    """The share below any serum B12 cut-off: the model's crosswalk curves and the published
    definitions' pools on the same axes (cut-off in pmol/L on x).

    ``curves``: ``aggregate.summarize_modelled`` of cells at several cut-offs, columns
    [age_band, diet_group, cutoff, estimate, ci_low, ci_high, estimable]; one line per age
    band (and diet group, as the dash) with its 95% CI as a band; a curve the model cannot
    estimate is dotted, without a band, and named "not estimable". ``observed``:
    ``aggregate.pool_by_cutoff`` output, one point per definition and group with its 95% CI,
    in its age band's colour (bands the curves lack in grey). A vertical line marks
    ``cutoff``. The legend sits below the plot, never over the subtitle.
    """
    _require(curves, ["age_band", "diet_group", "cutoff", "estimate", "ci_low", "ci_high",
                      "estimable"], "cutoff_curves_figure")
    _require(observed, ["cutoff", "age_band", "diet_group", "definition_label",
                        *_POOLED_COLUMNS], "cutoff_curves_figure")
    fig = go.Figure()
    bands = _order(curves["age_band"], schema.STUDY_AGE_BANDS)
    colour = {b: SERIES_COLOURS[i % len(SERIES_COLOURS)] for i, b in enumerate(bands)}
    diets = _order(curves["diet_group"], schema.STUDY_DIET_GROUPS)
    dashes = ("solid", "dash", "dashdot", "longdash", "longdashdot")
    several = len(diets) > 1
    for band in bands:
        for k, diet in enumerate(diets):
            part = curves.loc[(curves["age_band"].astype(str) == band)
                              & (curves["diet_group"].astype(str) == diet)].sort_values("cutoff")
            if part.empty:
                continue
            ok = bool(part["estimable"].all())
            name = f"{band}" + (f", {_label('diet_group', diet).lower()}" if several else "")
            x = pd.to_numeric(part["cutoff"]).tolist()
            if ok:
                fig.add_scatter(
                    x=x + x[::-1],
                    y=(pd.concat([part["ci_high"], part["ci_low"][::-1]]).astype(float)
                       * 100).tolist(),
                    fill="toself", fillcolor=_rgba(colour[band], 0.15), line={"width": 0},
                    mode="lines", hoverinfo="skip", showlegend=False, legendgroup=name,
                    name=f"{name}: 95% CI")
            fig.add_scatter(
                x=x, y=(pd.to_numeric(part["estimate"]) * 100).tolist(), mode="lines",
                line={"color": colour[band], "width": 2, "shape": "spline",
                      "dash": dashes[k % len(dashes)] if ok else "dot"},
                name=f"{MODELLED_NAME}, {name}" + ("" if ok else f" ({NOT_ESTIMABLE})"),
                legendgroup=name,
                customdata=[[format_interval(r.ci_low, r.ci_high) if ok else NOT_ESTIMABLE]
                            for r in part.itertuples()],
                hovertemplate=(f"{MODELLED_NAME}, {name}<br>Below %{{x:.0f}} pmol/L: "
                               + ("%{y:.1f}% (95% CI %{customdata[0]})" if ok
                                  else NOT_ESTIMABLE) + "<extra></extra>"),
            )
    for band in _order(observed["age_band"], schema.STUDY_AGE_BANDS):
        part = observed.loc[observed["age_band"].astype(str) == band]
        fig.add_scatter(
            x=pd.to_numeric(part["cutoff"]).tolist(),
            y=(pd.to_numeric(part["estimate"]) * 100).tolist(), mode="markers",
            name=f"{POOLED_NAME}, {band}",
            marker={"color": colour.get(band, MUTED), "size": 10, "symbol": "diamond",
                    "line": {"color": "white", "width": 1}},
            error_y={**_errors(part["estimate"], part["ci_low"], part["ci_high"]),
                     "color": colour.get(band, MUTED)},
            customdata=[[str(r.definition_label), format_interval(r.ci_low, r.ci_high),
                         format_count(r.k), format_count(r.n_total),
                         _label("diet_group", r.diet_group).lower()]
                        for r in part.itertuples()],
            hovertemplate=(f"{POOLED_NAME}, {band}, %{{customdata[4]}}<br>%{{customdata[0]}}: "
                           "%{y:.1f}% (95% CI %{customdata[1]})<br>%{customdata[2]} studies, "
                           "n = %{customdata[3]}<extra></extra>"),
        )
    if len(curves) or len(observed):
        fig.add_vline(x=float(cutoff), line={"dash": "dot", "color": INK, "width": 1})
        fig.add_annotation(x=float(cutoff), y=1, yref="paper", showarrow=False, xanchor="left",
                           text=f" {float(cutoff):g} pmol/L", font={"size": 11, "color": INK})
    entries = sum(1 for t in fig.data if t.showlegend is not False)
    style_figure(fig, title, subtitle=subtitle, x_title="Cut-off: serum B12 below (pmol/L)",
                 y_title="Prevalence (%), with 95% CI")
    fig.update_xaxes(range=[95, 305])
    fig.update_yaxes(rangemode="tozero", ticksuffix="%")
    return fig if entries else _empty(fig)


def modelled_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """``aggregate.compare_observed_modelled`` formatted for reading (the table alternative of
    ``observed_modelled_figure``): each source's prevalence with its 95% CI, the studies
    pooled, and the model's support; a cell the model cannot estimate reads "not estimable",
    never a number."""
    _require(comparison, ["age_band", "diet_group", "pooled_estimate", "pooled_ci_low",
                          "pooled_ci_high", "k", "modelled_estimate", "modelled_ci_low",
                          "modelled_ci_high", "estimable", "support_diet", "support_age",
                          "support_location"], "modelled_table")

    def modelled(r: Any) -> str:
        if _missing(r.modelled_estimate):
            return ""
        if not bool(r.estimable):
            return NOT_ESTIMABLE
        return (f"{format_percent(r.modelled_estimate)} "
                f"({format_interval(r.modelled_ci_low, r.modelled_ci_high)})")

    rows = list(comparison.itertuples())
    return pd.DataFrame({
        "Age band": comparison["age_band"].astype(str).tolist(),
        "Diet group": [schema.DIET_LABELS.get(str(v), str(v)) for v in comparison["diet_group"]],
        f"{POOLED_NAME} (95% CI)": [
            "" if _missing(r.pooled_estimate) else
            f"{format_percent(r.pooled_estimate)} "
            f"({format_interval(r.pooled_ci_low, r.pooled_ci_high)})" for r in rows],
        "Studies pooled": [format_count(r.k) for r in rows],
        f"{MODELLED_NAME} (95% CI)": [modelled(r) for r in rows],
        "Studies behind the model (group / ages / place)": [
            "" if _missing(r.modelled_estimate) else
            f"{format_count(r.support_diet)} / {format_count(r.support_age)} / "
            f"{format_count(r.support_location)}" for r in rows],
    }, index=comparison.index)


def cutoff_table(modelled: pd.DataFrame, cutoff: float) -> pd.DataFrame:
    """The modelled share below ``cutoff`` per age band and diet group, for reading:
    prevalence with its 95% CI ("not estimable" where the model extrapolates, never a
    number) and the studies behind it. Input: ``aggregate.summarize_modelled`` rows."""
    _require(modelled, ["age_band", "diet_group", "estimate", "ci_low", "ci_high", "estimable",
                        "support_diet", "support_age", "support_location"], "cutoff_table")
    rows = list(modelled.itertuples())
    return pd.DataFrame({
        "Age band": modelled["age_band"].astype(str).tolist(),
        "Diet group": [schema.DIET_LABELS.get(str(v), str(v)) for v in modelled["diet_group"]],
        f"{MODELLED_NAME}: below {float(cutoff):g} pmol/L (95% CI)": [
            f"{format_percent(r.estimate)} ({format_interval(r.ci_low, r.ci_high)})"
            if bool(r.estimable) else NOT_ESTIMABLE for r in rows],
        "Studies behind it (group / ages / place)": [
            f"{format_count(r.support_diet)} / {format_count(r.support_age)} / "
            f"{format_count(r.support_location)}" for r in rows],
    }, index=modelled.index)
