"""Methods & sources page: definitions, formulas, presentation rules, references, data version."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import (
    aggregate,
    burden,
    citation,
    data,
    evidence,
    model,
    schema,
    state,
    stats,
    tables,
    ui,
    validation,
)

NATURAL_EARTH_LICENCE = (
    "Natural Earth 1:110m Admin 0 countries (version 4.1.0, via the world-atlas 2.0.2 "
    "package): public domain, \"No permission is needed to use Natural Earth\" "
    "(https://www.naturalearthdata.com/about/terms-of-use/); the world-atlas packaging is "
    "ISC-licensed, (c) 2013-2019 Michael Bostock. Boundaries are Natural Earth's de facto "
    "depiction and imply no position on disputed territories."
)
PYCOUNTRY_LICENCE = "Country names and ISO 3166-1 codes from the pycountry package (LGPL-2.1)."


st.title("Methods & sources")
page_state = state.read("methods")
page_state = state.write(page_state)
state.render_share(page_state)
st.markdown(
    "How every figure of the B12 Risk Atlas is defined and computed, which rules decide what "
    "is shown, and where the data come from. The reference list and the data version below "
    "are generated from the data files this dashboard is running on."
)

# Loading checks each file against the manifest, so a listed file is a verified one.
manifest, studies, *_ = ui.loaded_or_stop(ui.load_manifest, ui.load_studies, ui.load_population,
                                          ui.load_standard_populations, ui.load_diet_shares)

# --- definitions -------------------------------------------------------------------------------
st.header("Definitions of low B12 status", anchor="definitions")
st.markdown(
    "A *definition* is a biomarker and a cut-off. Published cut-offs that are the same "
    "threshold in different units or roundings (147-150 pmol/L, 200-203 pg/mL) share one "
    "documented definition; serum B12 in pg/mL is converted with "
    f"1 pg/mL = {schema.PG_ML_TO_PMOL_L} pmol/L. A cut-off that fits no documented "
    "definition gets a generated id such as `b12_lt137p5` (serum B12 < 137.5 pmol/L) and is "
    "only ever pooled with identical cut-offs. The *status* says what the authors call the "
    "group below the cut-off: "
    + ", ".join(f"{schema.STATUS_LABELS[s].lower()} (`{s}`)" for s in schema.STATUSES)
    + ". Figures are never pooled across definitions or statuses."
)
definitions = ui.per_view("methods_definitions", studies,
                          lambda: aggregate.definitions_table(studies))
st.dataframe(
    definitions,
    hide_index=True,
    width="stretch",
    column_config={
        "id": st.column_config.TextColumn("Id"),
        "label": st.column_config.TextColumn("Definition", width="large"),
        "biomarker": "Biomarker",
        "unit": "Canonical unit",
        "kind": "Kind",
        "rationale": st.column_config.TextColumn("Rationale", width="large"),
        "estimates": st.column_config.NumberColumn("Estimates", help="Rows of the studies table"),
        "studies": st.column_config.NumberColumn("Studies"),
        "cited": st.column_config.TextColumn("Studies using it", width="large"),
    },
)
st.caption(
    f"{len(definitions)} definitions: {len(schema.DEFINITIONS)} documented, "
    f"{int((definitions['kind'] != 'documented').sum())} generated from the data. "
    f"{int(studies['definition'].isna().sum())} estimates state no usable cut-off and are "
    "shown in tables only."
)

# --- evidence structure ------------------------------------------------------------------------
st.header("The evidence table and its checks", anchor="evidence")
st.markdown(
    "Each row of the evidence table is one published estimate (`estimate_id`) of one "
    "publication (`study_id`) on one sample of people (`sample_id`). A row names the estimate "
    "it is a subgroup of and what splits it (`parent_id`, `split`), an earlier measurement of "
    "the same people (`repeat_of`), how the people were sampled (`sample_frame`), pregnancy, "
    "supplement use and whether the figure is survey-weighted. A study's age range goes to the "
    f"age band holding at least {schema.AGE_BAND_MIN_SHARE:.0%} of its years; wider ranges are "
    f"*{schema.WIDE_AGE_BAND}* and stand for no single band. Rows of pregnant women, clinic or "
    "patient samples, care homes and diet-group cohorts are marked wherever they are shown."
)
checks = ui.evidence_checks()
st.caption(checks["summary"])
st.subheader("Coverage: age band x diet group")
st.dataframe(checks["coverage"], hide_index=True, width="stretch")
st.caption("Each cell: estimate rows / independent studies / studies reporting n, over every "
           "definition. Empty cells are where the evidence is missing.")
st.subheader("Depth of the evidence against its goals")
st.dataframe(checks["depth"], hide_index=True, width="stretch")
st.caption("Studies are independent samples. Surveys are national or subnational surveys of "
           "one country with general-population rows in an age band; they anchor the model's "
           "country and region effects. Countries with only display rows (no cut-off or n, or "
           "kept out of pools) count as countries but not as countries with a poolable row.")
left, right = st.columns(2)
with left:
    st.subheader("Sample frames")
    st.dataframe(checks["frames"], hide_index=True, width="stretch")
with right:
    st.subheader("Why rows are not pooled")
    st.dataframe(checks["reasons"], hide_index=True, width="stretch")
st.subheader("Subgroups and shared samples")
st.dataframe(checks["subgroups"], hide_index=True, width="stretch")
st.dataframe(checks["shared"], hide_index=True, width="stretch")
st.subheader("Counts and percentages that disagree")
st.dataframe(checks["disagreements"], hide_index=True, width="stretch")
st.caption("Both figures are kept as published; pooling uses the counts.")

# --- formulas ----------------------------------------------------------------------------------
st.header("Formulas", anchor="formulas")
st.markdown(
    "Each method below is implemented in `dashboard/stats.py`, `dashboard/aggregate.py` or "
    "`dashboard/burden.py` and tested against reference values from R (`stats`, `survey`, "
    "`metafor`). Notation: $x$ cases among $n$ people, $\\hat p = x/n$, $z = "
    "\\Phi^{-1}(0.975)$ for 95% intervals."
)

st.subheader("Interval for one published estimate")
st.markdown(
    "Where a publication reports its own 95% interval, that interval is shown. Otherwise the "
    "**Wilson score interval** (Wilson 1927; R `prop.test(x, n, correct = FALSE)`) is computed "
    "from cases and n (cases = prevalence x n when only a percentage was published):"
)
st.latex(
    r"\frac{\hat p + \frac{z^2}{2n} \pm z\sqrt{\frac{\hat p(1-\hat p)}{n} + \frac{z^2}{4n^2}}}"
    r"{1 + \frac{z^2}{n}}"
)
st.markdown(
    "The **Clopper-Pearson** exact interval (Clopper & Pearson 1934; R `binom.test`) uses "
    "beta quantiles and is exactly 0 (1) when no one (everyone) is a case:"
)
st.latex(
    r"p_L = B^{-1}\!\left(\tfrac{\alpha}{2};\, x,\, n-x+1\right), \qquad "
    r"p_U = B^{-1}\!\left(1-\tfrac{\alpha}{2};\, x+1,\, n-x\right)"
)

st.subheader("Survey data: design-based prevalence")
st.markdown(
    "For uploaded survey files (page *Your data*), the prevalence of a domain $d$ is the "
    "weighted proportion, and its variance comes from **Taylor linearisation** over the whole "
    "design (R `svyby(~y, ~d, design, svymean)`; with-replacement approximation at the first "
    "stage, PSUs $j$ nested in strata $h$):"
)
st.latex(
    r"\hat p_d = \frac{\sum_i w_i y_i \mathbf{1}[i \in d]}{\sum_i w_i \mathbf{1}[i \in d]},"
    r"\qquad z_i = \frac{w_i (y_i - \hat p_d)\, \mathbf{1}[i \in d]}"
    r"{\sum_k w_k \mathbf{1}[k \in d]}"
)
st.latex(
    r"\widehat{\mathrm{Var}}(\hat p_d) = \sum_h \frac{n_h}{n_h - 1}"
    r"\sum_{j=1}^{n_h} \left(z_{hj} - \bar z_h\right)^2, \qquad z_{hj} = \sum_{i \in (h,j)} z_i"
)
st.markdown(
    "Its 95% interval is the **Korn-Graubard** interval in the NCHS form (Korn & Graubard "
    "1998; Parker et al. 2017): Clopper-Pearson applied to $x = \\hat p\\, n_{\\text{eff}}$ "
    "cases among the effective sample size"
)
st.latex(
    r"n_{\text{eff}} = \min\!\left(n,\; \frac{\hat p (1-\hat p)}{\widehat{\mathrm{se}}^2}"
    r"\left(\frac{t_{n-1,\,1-\alpha/2}}{t_{df,\,1-\alpha/2}}\right)^{2}\right)"
)
st.markdown("with $df$ the design degrees of freedom (PSUs minus strata).")

st.subheader("Random-effects pooling on the logit scale")
st.markdown(
    "Estimates of one definition, status and group are pooled as in R "
    "`metafor::rma(measure = \"PLO\", method = \"REML\")` (Viechtbauer 2010). Each study "
    "contributes its log-odds and sampling variance (0.5 added to both cells only when it has "
    "0 or n cases):"
)
st.latex(
    r"y_i = \log\frac{x_i}{n_i - x_i}, \qquad v_i = \frac{1}{x_i} + \frac{1}{n_i - x_i}, "
    r"\qquad w_i = \frac{1}{v_i + \hat\tau^2}"
)
st.latex(
    r"\hat\mu = \frac{\sum_i w_i y_i}{\sum_i w_i}, \qquad "
    r"\mathrm{se}(\hat\mu) = \frac{1}{\sqrt{\sum_i w_i}}, \qquad "
    r"\text{pooled prevalence} = \operatorname{expit}(\hat\mu)"
)
st.markdown(
    "The between-study variance $\\tau^2$ is estimated by **REML** (restricted maximum "
    "likelihood, Fisher scoring; Viechtbauer 2005) or, on the Evidence page's switch, by "
    "**DerSimonian-Laird** (1986):"
)
st.latex(
    r"\hat\tau^2_{DL} = \max\!\left(0,\; \frac{Q - (k-1)}{\sum_i u_i - \sum_i u_i^2 / "
    r"\sum_i u_i}\right), \quad u_i = \frac{1}{v_i}, \quad "
    r"Q = \sum_i u_i \left(y_i - \frac{\sum_j u_j y_j}{\sum_j u_j}\right)^2"
)
st.markdown(
    "The 95% confidence interval is $\\operatorname{expit}(\\hat\\mu \\pm z\\,"
    "\\mathrm{se})$. The **prediction interval**, where the prevalence of a new comparable "
    "population is expected to fall, adds the between-study variance (Higgins, Thompson & "
    "Spiegelhalter 2009); heterogeneity is reported as $I^2$ (Higgins & Thompson 2002):"
)
st.latex(
    r"\operatorname{expit}\!\left(\hat\mu \pm z\sqrt{\hat\tau^2 + \mathrm{se}(\hat\mu)^2}"
    r"\right), \qquad I^2 = 100\,\frac{\hat\tau^2}{\hat\tau^2 + s^2}, \quad "
    r"s^2 = \frac{(k-1)\sum_i u_i}{(\sum_i u_i)^2 - \sum_i u_i^2}"
)
st.markdown(
    "No pool counts anyone twice. Per group, an estimate and its subgroups (a study's women and "
    "men, supplement users and non-users, lacto-ovo vegetarians and vegans) never enter "
    "together: the whole is pooled where it can be, else its subgroups; a later measurement "
    "of the same people is left out, and of several publications on one sample (NHANES "
    "cycles, a conference abstract and its paper) one enters. $k$ counts these independent "
    "studies; a study's disjoint subgroups enter as separate estimates. Where a publication "
    "gives a 95% interval, the estimate's variance comes from the effective sample size that "
    "interval implies, which carries the survey's design effect:"
)
st.latex(
    r"\mathrm{se} = \frac{\operatorname{logit}(u) - \operatorname{logit}(l)}{2 z}, \qquad "
    r"n_\mathrm{eff} = \min\!\left(n,\; \frac{1}{\mathrm{se}^2\, p (1-p)}\right), \qquad "
    r"v_i = \frac{1}{n_\mathrm{eff}\, p (1-p)}"
)

st.subheader("Burden model")
st.markdown(
    "The number of people with low status in location $l$, year $t$, five-year age band "
    "$a$ and diet group $g$ is modelled as"
)
st.latex(
    r"\text{cases}_{c,t,a,g} = P_{c,t,a}\; s_{c,g}\; \pi_{c,a,g}\,(1 - c_g e), \qquad "
    r"\text{cases}_{R,t,a,g} = \sum_{c \in R} \text{cases}_{c,t,a,g}"
)
st.markdown(
    "with $P$ the UN WPP 2022 population of country $c$ (both sexes; estimates to "
    f"{schema.WPP_LAST_ESTIMATE_YEAR}, medium variant after), $s_{{c,g}}$ its diet share, "
    "$\\pi_{c,a,g}$ the prevalence model's prediction for the country's general population "
    "of age band $a$ and diet $g$ at the view's cut-off (a marginal band: the difference of "
    "the two cumulative predictions), and $(1 - c_g e)$ an optional supplementation "
    "scenario (share $c_g$ of the group covered, relative reduction $e$; default no "
    "effect). A region $R$, an SDG region or the world is the sum of its countries. The 95% "
    f"uncertainty interval comes from {burden.DEFAULT_DRAWS} seeded joint draws: the "
    "coefficients $\\beta^{(r)}$ are drawn once and shared by every country; each region and "
    "country effect $u^{(r)}$ is one draw per location, from its BLUP and standard error "
    "where the model has estimates there and from $N(0, \\sigma^2)$ of its level where not; "
    "an aggregate's interval is the quantiles of its countries' summed draws. The model has "
    "no time trend, so every year shares the country's draws. Cells where the model "
    "extrapolates (ages, diets or cut-offs without estimates near them) are flagged not "
    "estimable and shown hatched."
)
st.latex(
    r"\pi^{(r)}_{c,a,g} = \operatorname{expit}\!\left(x_{c,a,g}^\top \beta^{(r)} + "
    r"u^{(r)}_{\text{region}(c)} + u^{(r)}_{c}\right)"
)
st.markdown(
    "Diet shares come from surveys of adults and are held constant over years and ages; "
    "groups a country's survey does not measure take documented defaults (Burden page)."
)

st.subheader("Direct age standardisation")
st.markdown(
    "Age-standardised prevalence weights the age-specific prevalence by a standard "
    "population (Ahmad et al. 2001), so that places with different age structures can be "
    "compared. Standards available: "
    + "; ".join(schema.STANDARD_POPULATIONS.values()) + "."
)
st.latex(r"\mathrm{ASP} = \sum_{k} w_k\, \pi_k, \qquad \sum_k w_k = 1")
st.markdown(
    "$\\pi_k$ is the share-weighted prevalence over diets of age group $k$; a standard group "
    "spanning several five-year bands (85+, 95+) takes the location's population-weighted "
    "prevalence over those bands. The crude prevalence is cases divided by population."
)

st.subheader("Prevalence model")
st.markdown(
    "One multilevel meta-regression of every serum/plasma B12 estimate that shares no people "
    "with another (GBD 2019 Risk Factors Collaborators 2020; Zheng et al. 2021, MR-BRT): the "
    "logit of estimate $i$ of study $s$ in country $c$ of region $r$ is"
)
st.latex(
    r"y_i = x_i'eta + u_r + u_{c} + u_{s} + u_i + e_i, \qquad "
    r"u_\cdot \sim N(0, \sigma^2_\cdot), \quad e_i \sim N(0, v_i)"
)
st.markdown(
    "fitted by REML (as metafor's `rma.mv`), with $v_i$ the sampling variance from the "
    "estimate's effective n. The covariates, and why each is there:\n\n"
    "- **age**: a natural cubic spline of the mean age, else the middle of the age range "
    f"(knots {', '.join(f'{k:g}' for k in model.AGE_KNOTS)} y): status changes in childhood, "
    "mid-life and old age; rows without an age sit at "
    f"{model.AGE_UNKNOWN_AT:g} y with their own indicator, so their within-study contrasts "
    "still count;\n"
    "- **sex** (women, men vs both sexes), **diet group** (vs omnivores; a general-population "
    "row has its country's diet shares as fractional terms), **pregnancy**, **supplement "
    "users** excluded or only (vs included) and **sample frame** (clinic, care home, "
    "diet-group cohort vs population samples): the ways published samples differ from the "
    "populations predicted;\n"
    f"- **the cut-off**, as log2(cut-off / {model.REFERENCE_CUTOFF:g} pmol/L): a crosswalk "
    "learnt from studies reporting several cut-offs on the same people, so one fit predicts "
    "any serum B12 cut-off;\n"
    "- **World Bank income group** of the country (low, lower-middle, upper-middle vs high): a "
    "proxy for access to animal-source foods and so to dietary B12.\n\n"
    "A covariate without any estimate to learn from is dropped and shown as such on the Model "
    "page. Predictions are for the general population (population-sample frame); a general "
    "population mixes the diet groups' predictions by the country's diet shares. A country "
    "without estimates takes its region's effect, with the country variance as its "
    "uncertainty."
)
st.markdown(
    "**Extrapolation rule.** A prediction is shown as a number only where the model has data "
    "near it: estimates of its diet group (for the general population, of any diet) whose "
    f"ages reach within {model.AGE_REACH:g} years of the asked ages, a cut-off within a "
    f"factor {model.CUTOFF_REACH:g} of the fitted ones, and, for pregnancy, pregnant "
    "estimates in the fit. A diet group without estimates of its own (pescatarians today) is "
    "never estimable. Other cells are shown hatched."
)
st.markdown(
    "**Validation.** Each fitted estimate is predicted by the model refitted without its whole "
    "study (leave one study out) and without its whole country (leave one country out: the "
    "country's effect is then unknown and comes from its variance), with its own covariates. "
    "Its 95% prediction interval adds the study and estimate variances and its own sampling "
    "variance; coverage is the share of held-out estimates inside it (target "
    f"{validation.COVERAGE_TARGET[0]:.0%}-{validation.COVERAGE_TARGET[1]:.0%}). The previous "
    "model, a random-effects pool per age band x diet cell with fallbacks, predicts the same "
    "held-out estimates from the same training estimates; both are scored on the estimates "
    "both can predict (coverage, median absolute and mean error in percentage points). The "
    "Model page shows the results."
)

# --- presentation rules ------------------------------------------------------------------------
st.header("NCHS presentation rules", anchor="nchs")
st.markdown(
    "Every estimate carries a reliability flag following the NCHS Data Presentation "
    "Standards for Proportions (Parker et al. 2017), applied in this order:\n\n"
    f"1. **suppress** when the effective sample size is below {stats.NCHS_MIN_N_EFF:g}, "
    f"the absolute width of the 95% interval is {stats.NCHS_MAX_ABS_WIDTH:.2f} or more, or "
    f"the width exceeds {stats.NCHS_REL_WIDTH_FROM:.2f} and the relative width (width / "
    f"estimate) exceeds {stats.NCHS_MAX_REL_WIDTH:.0%};\n"
    f"2. **review** (shown, flagged for statistical review) when the design has fewer than "
    f"{stats.NCHS_MIN_DF} degrees of freedom or the estimate is exactly 0% or 100%;\n"
    "3. **ok** otherwise.\n\n"
    f"A shown estimate gets the footnote *{stats.COMPLEMENT_FOOTNOTE}* when the relative "
    "width of its complement (width / (1 - estimate)) exceeds the same limit. A published "
    "estimate is rated with its reported n as effective n (its design effect is unknown) and "
    "no degrees of freedom; a pooled estimate with effective n = p(1 - p) / se(p)^2, capped "
    "at the people studied."
)

# --- references --------------------------------------------------------------------------------
st.header("References", anchor="references")
references = ui.per_view("methods_references", studies, lambda: tables.methods_table(
    studies, ui.load_diet_shares(), ui.load_standard_populations()))
sections = references["section"].value_counts()
st.markdown(
    f"Every source the figures use: the {sections.get('Prevalence studies', 0)} publications "
    f"behind the {len(studies)} published estimates, the "
    f"{sections.get('Diet-share surveys', 0)} diet-share surveys and the standard "
    "populations of the burden model, the population data, the map and the country income "
    "groups. Cite the original publication when you use one of its figures."
)
st.dataframe(
    references,
    hide_index=True,
    width="stretch",
    column_config={
        "section": "Kind",
        "reference": st.column_config.TextColumn("Reference", width="large"),
        "link": st.column_config.LinkColumn("DOI, PubMed or web"),
        "used_for": st.column_config.TextColumn("Used for", width="medium"),
    },
)
ui.render_downloads(references, "b12_references")
st.markdown(
    "**Methods.** Wilson EB (1927) J Am Stat Assoc 22:209-212. Clopper CJ, Pearson ES (1934) "
    "Biometrika 26:404-413. Korn EL, Graubard BI (1998) Survey Methodology 24:193-201. "
    "Parker JD et al. (2017) NCHS Data Presentation Standards for Proportions, Vital Health "
    "Stat 2(175). DerSimonian R, Laird N (1986) Control Clin Trials 7:177-188. Viechtbauer W "
    "(2005) J Educ Behav Stat 30:261-293; (2010) J Stat Softw 36(3). Higgins JPT, Thompson SG "
    "(2002) Stat Med 21:1539-1558. Higgins JPT, Thompson SG, Spiegelhalter DJ (2009) J R Stat "
    "Soc A 172:137-159. Ahmad OB et al. (2001) Age standardization of rates: a new WHO "
    "standard, GPE Discussion Paper 31. Lumley T (2004) J Stat Softw 9(8) (R survey)."
)

# --- data version ------------------------------------------------------------------------------
st.header("Data version", anchor="data")
build = data.build_id(manifest)
st.markdown(
    f"Build **`{build}`** (schema version {manifest['schema_version']}). Every file below was "
    "checked against its SHA-256 in `data/manifest.json` when it was loaded. Two builds from "
    "the same sources give byte-identical files, so equal checksums mean equal data."
)
st.dataframe(data.manifest_outputs(manifest), hide_index=True, width="stretch")
pooling = int((studies["usable_for"] == "pooling").sum())
c1, c2, c3, c4 = st.columns(4)
c1.metric("Published estimates", len(studies))
c2.metric("Independent studies", evidence.count_samples(studies),
          help=f"{studies['study_id'].nunique()} publications; several report on one sample")
c3.metric("Countries", studies.loc[studies["country_iso3"] != schema.MULTI_COUNTRY,
                                   "country_iso3"].nunique())
c4.metric("Usable for pooling", pooling)
with st.expander("Why some estimates are not pooled"):
    st.dataframe(checks["reasons"], hide_index=True, width="stretch")
with st.expander("Inputs and build environment"):
    st.dataframe(pd.DataFrame(manifest["inputs"]), hide_index=True, width="stretch")
    st.json(manifest["built_with"])

# --- licences ----------------------------------------------------------------------------------
st.header("Sources and licences", anchor="licences")
for source in manifest.get("sources", []):
    st.markdown(
        f"**{source['name']}**  \nLicence: {source['licence']}.  \n"
        f"Citation: {source['citation']}  \nRead from `{source['path']}`."
    )
st.markdown(f"**World map**  \n{NATURAL_EARTH_LICENCE}")
st.markdown(f"**Country names**  \n{PYCOUNTRY_LICENCE}")

# --- citation ----------------------------------------------------------------------------------
st.header("Suggested citation", anchor="citation")
cite = ui.view_citation(page_state)
text_tab, bibtex_tab, ris_tab = st.tabs(["Text", "BibTeX", "RIS"])
text_tab.code(cite.text(), language=None, wrap_lines=True)
bibtex_tab.code(cite.bibtex(), language="latex", wrap_lines=True)
ris_tab.code(cite.ris(), language=None, wrap_lines=True)
c1, c2, c3 = st.columns(3)
c1.download_button("Citation (text)", cite.text() + "\n", file_name="b12-risk-atlas.txt",
                   mime="text/plain", icon=":material/download:", on_click="ignore")
c2.download_button("BibTeX", cite.bibtex(), file_name="b12-risk-atlas.bib",
                   mime="application/x-bibtex", icon=":material/download:", on_click="ignore")
c3.download_button("RIS", cite.ris(), file_name="b12-risk-atlas.ris",
                   mime="application/x-research-info-systems", icon=":material/download:",
                   on_click="ignore")
if cite.url is None:
    st.caption(f"This deployment sets no public address, so the citation gives no URL: set "
               f"`{citation.PUBLIC_URL_ENV}` or `public_url` in the `[{citation.CONFIG_SECTION}]` "
               "section of `.streamlit/config.toml` (README, Deployment).")
st.caption(
    "Cite the original publications for individual estimates, and United Nations, DESA, "
    "Population Division (2022), World Population Prospects 2022, for population figures."
)
