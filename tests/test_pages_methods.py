"""AppTest of the Methods & sources page: definitions, formulas, references, data version."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import aggregate, data, schema, stats

PAGE = str(Path(__file__).resolve().parent.parent / "dashboard" / "pages" / "methods.py")


def run_page(query: dict[str, str | list[str]] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=30)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


@pytest.fixture(scope="module")
def page() -> AppTest:
    return run_page()


@pytest.fixture(scope="module")
def studies():
    return data.load_studies()


def frame_with(at: AppTest, column: str):
    """The first dataframe on the page that has ``column``."""
    for element in at.dataframe:
        if column in element.value.columns:
            return element.value
    raise AssertionError(f"no dataframe with a {column!r} column")


def test_default_run_has_every_section(page: AppTest) -> None:
    assert not page.exception
    assert [h.value for h in page.header] == [
        "Definitions of low B12 status", "The evidence table and its checks", "Formulas",
        "NCHS presentation rules", "References",
        "Data version", "Sources and licences", "Suggested citation",
    ]
    assert not page.info  # no notice without a query


def test_evidence_checks_show_coverage_and_structure(page: AppTest, studies) -> None:
    from dashboard import evidence

    coverage = frame_with(page, "pescatarian")
    pd.testing.assert_frame_equal(coverage.reset_index(drop=True),
                                  evidence.coverage_summary(studies))
    depth = frame_with(page, "goal")
    assert list(depth["target"]) == list(evidence.depth_targets(studies)["target"])
    assert depth.set_index("target").loc["estimate rows", "now"] == len(studies)
    subgroups = frame_with(page, "split")
    assert set(subgroups["estimate_id"]) == set(studies["parent_id"].dropna())
    assert evidence.summary_line(studies) in [c.value for c in page.caption]


def test_definitions_list_documented_and_generated_ids(page: AppTest, studies) -> None:
    table = frame_with(page, "rationale")
    generated = sorted(set(studies["definition"].dropna()) - set(schema.DEFINITIONS_BY_ID))
    assert list(table["id"]) == [d.id for d in schema.DEFINITIONS] + generated
    counts = studies["definition"].value_counts()
    # Each row's estimate count is the number of study rows with that definition (0 if none).
    assert list(table["estimates"]) == [int(counts.get(i, 0)) for i in table["id"]]
    total = int(studies["definition"].notna().sum())
    assert int(table["estimates"].sum()) == total


@pytest.mark.parametrize(
    ("definition", "cited"),
    [
        # b12_lt148 is used by Qi 2013 (the NHANES rows at the top of the literature table).
        ("b12_lt148", "Qi 2013"),
    ],
)
def test_definitions_name_the_studies_using_them(page: AppTest, definition: str,
                                                 cited: str) -> None:
    table = frame_with(page, "rationale").set_index("id")
    assert cited in table.at[definition, "cited"].split("; ")


@pytest.mark.parametrize(
    "formula",
    [
        r"\frac{z^2}{2n}",  # Wilson
        r"B^{-1}",  # Clopper-Pearson
        r"n_{\text{eff}}",  # Korn-Graubard
        r"\frac{n_h}{n_h - 1}",  # Taylor linearisation
        r"\hat\tau^2_{DL}",  # DerSimonian-Laird
        r"\sqrt{\hat\tau^2 + \mathrm{se}(\hat\mu)^2}",  # prediction interval
        r"\pi_{c,a,g}",  # burden model
        r"\mathrm{ASP}",  # direct age standardisation
    ],
)
def test_formulas_are_shown(page: AppTest, formula: str) -> None:
    assert any(formula in element.value for element in page.latex)


def test_nchs_rules_quote_the_constants(page: AppTest) -> None:
    text = " ".join(m.value for m in page.markdown)
    for phrase in (
        f"below {stats.NCHS_MIN_N_EFF:g}",
        f"{stats.NCHS_MAX_ABS_WIDTH:.2f} or more",
        f"fewer than {stats.NCHS_MIN_DF} degrees of freedom",
        stats.COMPLEMENT_FOOTNOTE,
    ):
        assert phrase in text


def test_bibliography_lists_every_source_the_figures_use(page: AppTest, studies) -> None:
    shown = frame_with(page, "reference")
    papers = shown.loc[shown["section"] == "Prevalence studies"]
    assert len(papers) == len(aggregate.reference_list(studies))
    assert papers["link"].str.match(r"https://(doi\.org|pubmed\.ncbi\.nlm\.nih\.gov)/|$").all()
    surveys = shown.loc[shown["section"] == "Diet-share surveys", "reference"]
    assert len(surveys) == data.load_diet_shares()["source"].nunique()
    standards = " ".join(shown.loc[shown["section"] == "Standard populations", "reference"])
    assert "Ahmad OB" in standards
    assert "SEER" in standards
    others = " ".join(shown["reference"])
    for source in ("World Population Prospects 2022", "Natural Earth", "Country and Lending",
                   "metafor"):
        assert source in others


def test_data_version_shows_every_checksum(page: AppTest) -> None:
    manifest = data.load_manifest()
    files = frame_with(page, "sha256")
    assert list(files["sha256"]) == [o["sha256"] for o in manifest["outputs"]]
    assert list(files["rows"]) == [o["rows"] for o in manifest["outputs"]]
    text = " ".join(m.value for m in page.markdown)
    assert f"schema version {manifest['schema_version']}" in text


@pytest.mark.parametrize(
    "licence",
    ["CC BY 3.0 IGO", "Natural Earth", "public domain"],
)
def test_licences_are_listed(page: AppTest, licence: str) -> None:
    text = " ".join(m.value for m in page.markdown)
    assert licence in text


def test_suggested_citation_names_version_build_and_year_in_three_formats(page: AppTest) -> None:
    text, bibtex, ris = (c.value for c in page.code[-3:])
    assert text.startswith("B12 Risk Atlas contributors (")
    assert "Version 0.1.0" in text  # pyproject.toml
    # The build id is printed in the Data version section and repeated in the citation.
    build = next(m.value for m in page.markdown if m.value.startswith("Build **`")).split("`")[1]
    assert build in text
    assert build in bibtex
    assert build in ris
    assert bibtex.startswith("@misc{b12riskatlas")
    assert "version = {0.1.0" in bibtex
    assert ris.startswith("TY  - DATA")
    assert ris.rstrip().endswith("ER  -")
    # No public address configured: no URL, never the server's own address.
    assert "localhost" not in text
    assert "127.0.0.1" not in text
    assert any("sets no public address" in c.value for c in page.caption)


def test_citation_gives_the_configured_public_url(monkeypatch) -> None:
    monkeypatch.setenv("B12_PUBLIC_URL", "https://atlas.example.org/")
    at = run_page()
    text = at.code[-3].value
    assert "https://atlas.example.org/methods?v=1." in text
    assert "UR  - https://atlas.example.org/methods?v=1" in at.code[-1].value


def test_tampered_query_shows_notices_and_runs() -> None:
    at = run_page({"foo": "bar", "def": "b12_lt999", "v": "7"})
    assert not at.exception
    notices = " ".join(i.value for i in at.info)
    assert "Ignored parameter 'foo' (unknown)" in notices
    assert "Ignored parameter 'def' (not used on this page)" in notices
    assert "Ignored v=7" in notices
    assert at.header  # the page still renders below the notices


def test_prevalence_model_lists_its_covariates_extrapolation_and_validation(page: AppTest) -> None:
    assert "Prevalence model" in [h.value for h in page.subheader]
    text = " ".join(m.value for m in page.markdown)
    for covariate in ("**age**", "**sex**", "**diet group**", "**pregnancy**",
                      "**supplement users**", "**sample frame**", "**the cut-off**",
                      "**World Bank income group**"):
        assert covariate in text, covariate
    assert "**Extrapolation rule.**" in text
    assert "leave one country out" in text
