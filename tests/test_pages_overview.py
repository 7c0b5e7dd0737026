"""Overview page (AppTest): headlines, the age x diet chart, the reading and links."""

from __future__ import annotations

import json
import math

from streamlit.testing.v1 import AppTest

from dashboard import aggregate, schema, state, ui
from dashboard.format import format_interval
from tests.apptest import Query, page_app, plain

PAGE = "dashboard/pages/overview.py"
NAN = math.nan


def _run(query: Query | None = None) -> AppTest:
    return page_app(PAGE, query).run()


def _specs(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def _expected(query: dict) -> aggregate.Headlines:
    view, _ = state.from_query("overview", query)
    rows = aggregate.filter_studies(ui.load_studies(), **state.filter_kwargs(view))
    return aggregate.estimate_headlines(rows)


# --- the page ----------------------------------------------------------------------------------


def test_default_view_shows_headlines_chart_and_reading():
    at = _run()
    assert not at.exception
    assert not at.info
    expected = _expected({})
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["All poolable studies"] == f"{100 * expected.overall.estimate:.1f}%"
    assert metrics["General population aged 60+"] == (
        f"{100 * expected.older_adults.estimate:.1f}%"
    )
    captions = [c.value for c in at.caption]
    overall = expected.overall
    assert any(format_interval(overall.ci_low, overall.ci_high) in c for c in captions)
    pooled = f"{overall.n_estimates} estimates from {overall.k} studies"
    assert any(pooled in c for c in captions)

    (spec,) = _specs(at)
    title = plain(spec["layout"]["title"]["text"])
    assert schema.DEFINITIONS_BY_ID["b12_lt148"].label in title
    assert "(%)" in title
    assert "deficient" in title
    pooled = aggregate.pool_groups(
        aggregate.filter_studies(ui.load_studies(), definition="b12_lt148", status="deficient")
    )
    names = {schema.DIET_LABELS[d]: d for d in schema.STUDY_DIET_GROUPS}
    diets_in_data = set(pooled["diet_group"].astype(str))
    dots = [t for t in spec["data"] if t["legendgroup"] == "pooled"]
    assert {names[t["name"]] for t in dots} == diets_in_data
    for trace in dots:
        assert trace["type"] == "scatter"
        assert trace["marker"]["color"] == schema.DIET_COLOURS[names[trace["name"]]]
        assert trace["error_y"]["array"]  # 95% CI bars drawn
        assert "n = " in trace["hovertemplate"]
        assert "studies" in trace["hovertemplate"]
    # the dots are the pooled estimates in percent, exactly as pooled
    total = sum(len(t["y"]) for t in dots)
    assert total == len(pooled)
    bars = [t for t in spec["data"] if t["legendgroup"] == "modelled"]
    assert {t["type"] for t in bars} == {"bar"}
    assert {names[t["name"]] for t in bars} == {*schema.DIET_GROUPS, "general"}
    assert f"**{aggregate.describe_pattern(pooled)}**" in [m.value for m in at.markdown]


def test_query_sets_widgets_and_numbers():
    query = {"def": "b12_lt221", "status": "low_or_marginal", "sex": "both",
             "diet": ["general", "vegan"]}
    at = _run(query)
    assert not at.exception
    assert not at.info
    assert at.selectbox(key="def").value == "b12_lt221"
    assert at.selectbox(key="status").value == "low_or_marginal"
    assert at.multiselect(key="sex").value == ["both"]
    assert at.multiselect(key="diet").value == ["vegan", "general"]
    expected = _expected(query)
    metrics = {m.label: m.value for m in at.metric}
    overall = expected.overall
    if overall is None:
        assert metrics["All poolable studies"] == "no data"
    elif aggregate.assess_headline(overall.k, overall.reliability):
        assert "All poolable studies" not in metrics
        assert (f"All poolable studies: **{100 * overall.estimate:.1f}%**"
                in [m.value for m in at.markdown])
    else:
        assert metrics["All poolable studies"] == f"{100 * overall.estimate:.1f}%"
    for spec in _specs(at):
        assert schema.DEFINITIONS_BY_ID["b12_lt221"].label in plain(spec["layout"]["title"]["text"])
        assert {t["name"] for t in spec["data"]} <= {"Vegan", "General population"}


def test_headlines_set_the_models_figure_beside_each_pool():
    at = _run()
    metrics = {m.label: m.value for m in at.metric}
    markdown = [m.value for m in at.markdown]
    assert markdown.count("**Published studies, pooled**") == 4
    assert markdown.count("**Modelled**") == 4
    for label in ("Modelled: general population", "Modelled: general population aged 60+",
                  "Modelled: vegans", "Modelled: vegans vs omnivores"):
        assert metrics[label] == "not estimable" or metrics[label][-1] in "%s"
    assert metrics["Modelled: general population"].endswith("%")
    captions = " ".join(c.value for c in at.caption)
    assert "Modelled for the world: 236 countries and areas" in captions
    assert "Studies behind it:" in captions


def test_one_country_headline_is_modelled_for_that_country():
    at = _run({"country": "GBR"})
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "Modelled for United Kingdom" in captions


def test_links_carry_the_shared_filters():
    at = _run({"def": "b12_lt185", "diet": "vegan"})
    # the page's own links (each with its help); the phone's Pages menu has none
    links = {link.proto.label: link.proto.query_string for link in at.get("page_link")
             if link.proto.help}
    # the profile of the filtered segment: the diet filter becomes its diet
    assert links.pop("Risk profile of this segment") == "pdiet=vegan"
    assert len(links) == len([p for p in schema.PAGES.values() if p.about]) - 1
    unfiltered = ("Methods & sources", "Model")
    assert all(q == "def=b12_lt185&diet=vegan" for label, q in links.items()
               if label not in unfiltered), links
    # methods and the model page read no filters: their links carry none
    assert all(links[label] == "" for label in unfiltered)


def test_tampered_query_falls_back_with_notices():
    at = _run({"foo": "bar", "def": "nonsense", "minn": "abc", "age": ["0-19", "999"],
               "years": "2030-1980", "v": "7"})
    assert not at.exception
    notices = " ".join(i.value for i in at.info)
    for name in ("'foo'", "def=nonsense", "minn=abc", "age=999", "years=2030-1980", "v=7"):
        assert name in notices
    assert at.selectbox(key="def").value == schema.DEFAULT_DEFINITION
    assert at.number_input(key="minn").value == 0
    assert at.multiselect(key="age").value == ["0-19"]
    assert at.query_params == {"age": "0-19"}


def test_empty_selection_warns_naming_the_filters():
    at = _run({"sex": "male", "age": "80+", "diet": "vegan"})
    assert not at.exception
    (warning,) = at.warning
    assert "sex: male" in warning.value
    assert "age bands: 80+" in warning.value
    assert not at.get("plotly_chart")
    assert not at.metric


# --- how strong each headline is (issue 12, item 1) -------------------------------------------


def _markdown(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def test_each_card_names_k_studies_n_and_the_prediction_interval():
    at = _run()
    expected = _expected({})
    markdown, captions = _markdown(at), [c.value for c in at.caption]
    for pool in (expected.overall, expected.older_adults, expected.vegans):
        # k counts independent studies, not rows: the overall pool has more estimates
        assert f"k = {pool.k} {'study' if pool.k == 1 else 'studies'}, n = {pool.n_total:,}" in (
            markdown)
        interval = (f"95% CI {format_interval(pool.ci_low, pool.ci_high)}; 95% prediction "
                    f"interval {format_interval(pool.pi_low, pool.pi_high)}")
        assert any(c.startswith(interval) for c in captions), interval
    assert expected.overall.n_estimates > expected.overall.k
    # from the shipped evidence: 64 samples among its 102 poolable rows at < 148 pmol/L, 77
    # estimates once subgroups and repeats give way to their whole; the prediction interval
    # of every age, diet and country is far wider than the CI
    assert (expected.overall.k, expected.overall.n_estimates) == (64, 77)
    assert expected.overall.pi_high - expected.overall.pi_low > 0.5


def test_thin_or_imprecise_pools_are_marked_and_never_a_metric():
    at = _run()
    expected = _expected({})
    vegans = expected.vegans
    # 3 studies, n = 209, NCHS "suppress" (the "Vegans 25.7%" in large type came from
    # 2 studies, n = 133, before the third vegan study was merged)
    assert (vegans.k, vegans.n_total, vegans.reliability) == (3, 209, "suppress")
    assert aggregate.assess_headline(vegans.k, vegans.reliability)
    labels = {m.label for m in at.metric}
    assert "Vegans, all ages" not in labels
    assert "Vegans vs omnivores" not in labels  # both pools behind it are weak
    markdown = _markdown(at)
    badge = f":orange-badge[:material/warning: {ui.THIN_EVIDENCE}]"
    assert markdown.count(badge) == 2
    assert f"Vegans, all ages: **{100 * vegans.estimate:.1f}%**" in markdown
    captions = " ".join(c.value for c in at.caption)
    assert ("Not a headline figure: too imprecise by NCHS standards, which would suppress "
            "it.") in captions
    # a pool of enough studies that NCHS calls reliable stays a metric
    assert {"All poolable studies", "General population aged 60+"} <= labels


def test_a_difference_whose_interval_spans_zero_reads_no_clear_difference():
    at = _run()
    contrast = _expected({}).vegans_vs_omnivores
    assert contrast.difference_low < 0 < contrast.difference_high
    markdown = _markdown(at)
    assert "Vegans vs omnivores: **no clear difference**" in markdown
    shown = markdown + [m.value for m in at.metric]
    assert not any(f"{100 * contrast.difference:+.1f} points" in v for v in shown)
    # the figures stay readable in the caption, with the interval that spans zero
    captions = " ".join(c.value for c in at.caption)
    assert (f"{100 * contrast.difference_low:+.1f} to {100 * contrast.difference_high:+.1f} "
            "points") in captions


def test_pool_and_model_sit_side_by_side_in_each_card():
    at = _run()
    pairs = []
    columns = list(at.columns)
    for left, right in zip(columns, columns[1:], strict=False):
        first = [m.value for m in left.markdown][:1]
        second = [m.value for m in right.markdown][:1]
        if first == ["**Published studies, pooled**"] and second == ["**Modelled**"]:
            pairs.append((left, right))
    assert len(pairs) == 4
    assert [left.metric[0].label if left.metric else None for left, _ in pairs][:2] == [
        "All poolable studies", "General population aged 60+"]


def test_headings_go_from_the_title_to_h2():
    at = _run()
    # st.subheader (h3) straight after st.title (h1) skipped a level (axe heading-order)
    assert not at.main.subheader
    assert [h.value for h in at.main.header] == [
        "Prevalence by age band and diet group: pooled and modelled"]
