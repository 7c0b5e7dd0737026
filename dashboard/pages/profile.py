"""Risk profile page: the modelled B12 status of one population segment, and what would
change it."""

from __future__ import annotations

import streamlit as st

from dashboard import aggregate, charts, profile, schema, state, tables, ui
from dashboard.format import format_people, format_people_supported

PREGNANCY_LABELS: dict[str, str] = {
    "not_pregnant": "Not pregnant", "pregnant_unspecified": "Pregnant (any trimester)",
    "trimester_1": "Pregnant, first trimester", "trimester_2": "Pregnant, second trimester",
    "trimester_3": "Pregnant, third trimester",
}
SUPPLEMENT_LABELS: dict[str, str] = {
    "included": "Users and non-users", "excluded": "Non-users only", "only": "Users only",
}
SEX_LABELS: dict[str, str] = {"both": "Both sexes", "female": "Women", "male": "Men"}
EVIDENCE_CONFIG = {
    "distance": st.column_config.NumberColumn("Distance", format="%.1f",
                                              help="age + diet + place + sex (see Methods)"),
    "first_author": "First author", "year": "Year", "title": st.column_config.TextColumn(
        "Title", width="medium"), "journal": "Journal", "country_name": "Country",
    "population": st.column_config.TextColumn("Population", width="medium"), "sex": "Sex",
    "age_label": "Ages", "diet_group": "Diet", "definition": "Definition",
    "prevalence": st.column_config.NumberColumn("Prevalence", format="percent"),
    "n": st.column_config.NumberColumn("n", format="localized"),
    "doi_url": st.column_config.LinkColumn("DOI", display_text=r"https://doi\.org/(.*)"),
    "pmid_url": st.column_config.LinkColumn(
        "PMID", display_text=r"https://pubmed\.ncbi\.nlm\.nih\.gov/(\d+)"),
}

st.title("Risk profile")
st.markdown(
    "The modelled vitamin B12 status of one population segment you can name, next to its "
    "country's general population of the same age and sex, and how the model's estimate "
    "moves with diet and supplement use."
)

# The studies: the evidence the profile shows, and the frame its per-view values key on.
studies, countries = ui.loaded_or_stop(ui.load_studies, ui.load_countries)
names = ui.per_view("profile_names", studies, lambda: dict(zip(
    countries["iso3"].astype(str), countries["country_name"].astype(str), strict=True)))
view = state.read("profile")
p = state.PARAMS
with st.sidebar:
    st.header("Segment")
    st.selectbox(p["place"].label, sorted(set(names) | {view["place"]},
                                          key=lambda c: names.get(c, c)),
                 key="place", format_func=lambda c: f"{names.get(c, c)} ({c})")
    st.slider(p["ages"].label, int(p["ages"].lo), int(p["ages"].hi), key="ages",
              help="Whole years, both ends included; 100 stands for 100 and over.")
    st.selectbox(p["psex"].label, list(schema.SEXES), key="psex", format_func=SEX_LABELS.get)
    st.selectbox(p["pdiet"].label, list(schema.PROFILE_DIETS), key="pdiet",
                 format_func=schema.DIET_LABELS.get)
    st.selectbox(p["psupp"].label, list(schema.PROFILE_SUPPLEMENTS), key="psupp",
                 format_func=SUPPLEMENT_LABELS.get, help="Whether people who take B12 "
                 "supplements are part of the segment.")
    eligible = profile.pregnancy_applies(st.session_state["psex"], *st.session_state["ages"])
    st.selectbox(p["preg"].label, list(schema.PROFILE_PREGNANCY), key="preg",
                 format_func=PREGNANCY_LABELS.get, disabled=not eligible,
                 help="For women aged 15-49 only.")
    st.slider(p["year"].label, int(p["year"].lo), int(p["year"].hi), key="year",
              help="Population year (UN WPP 2022: estimates to 2021, projections after).")
view = state.write(view)
state.render_share(view)

place, pregnancy, changed = tables.profile_inputs(view, list(names))
if "place" in changed:
    st.warning(f"{view['place']} is not a country of the UN WPP population table; showing "
               f"{names[place]} instead.", icon=":material/public_off:")
if "preg" in changed:
    st.info("Pregnancy applies only to women aged 15-49: this segment is shown as not "
            "pregnant.", icon=":material/info:")

asked = ui.load_profile(place, view["ages"], view["psex"], view["pdiet"], view["psupp"],
                        pregnancy, view["year"])
shown = tables.profile_shown(asked)
if shown is not asked:
    reasons = "; ".join(asked.reasons)
    if shown is None:
        st.error(f"The model cannot estimate {profile.describe_segment(asked.segment)} "
                 f"({reasons}), and no nearby segment either.", icon=":material/block:")
        st.stop()
    st.warning(
        f"**The model cannot estimate this segment** "
        f"({profile.describe_segment(asked.segment)}): {reasons}. Shown instead: the nearest "
        f"segment it can estimate, **{profile.describe_segment(shown.segment)}**. (Nearest: "
        "the same diet with the ages moved by up to 10 years, else the general population of "
        "the same ages, else of the closest ages.)",
        icon=":material/travel_explore:",
    )
segment = shown.segment
cut_low, cut_high = (f"{c:g}" for c in shown.cutoffs)

# --- headline --------------------------------------------------------------------------------
st.header(shown.headline())
# The studies the model leans on for this segment: of its diet and at its ages. Fewer than
# three of either make its figures thin evidence, marked and not in the largest type.
k_diet, k_age = shown.support["diet"], shown.support["age"]
weak = aggregate.assess_headline(min(k_diet, k_age))
st.markdown(f"k = {k_diet} {'study' if k_diet == 1 else 'studies'} of this diet group, "
            f"{k_age} at these ages behind the model's figures")
if weak:
    ui.render_thin_evidence(weak)
columns = st.columns(3)
for column, status in zip(columns, profile.STATUS_CLASSES, strict=True):
    rule = {"deficient": f"< {cut_low} pmol/L", "marginal": f"{cut_low}-{cut_high} pmol/L",
            "adequate": f">= {cut_high} pmol/L"}[status]
    with column.container(border=True):
        ui.render_headline_figure(f"{profile.STATUS_CLASS_LABELS[status]} ({rule})",
                                  f"{100 * shown.value('segment', status):.1f}%", weak,
                                  marked=False)
        st.caption(
            f"95% CI {100 * shown.value('segment', status, 'ci_low'):.1f}-"
            f"{100 * shown.value('segment', status, 'ci_high'):.1f}%; a new survey of this "
            f"segment would fall within {100 * shown.value('segment', status, 'pi_low'):.1f}-"
            f"{100 * shown.value('segment', status, 'pi_high'):.1f}% (95% PI)."
        )

# --- status and comparison -------------------------------------------------------------------
general_label = f"General population ({SEX_LABELS[segment.sex].lower()} {segment.ages})"
labels = {"segment": "This segment", "general": general_label}
fig = ui.per_view("profile_status_figure", studies, lambda: ui.figure(
    charts.profile_status_figure, shown.status, labels,
    "Serum B12 status, share of the population (%)",
    subtitle=f"{names.get(segment.iso3, segment.iso3)}, {segment.year}; modelled"), view)
ui.render_figure(
    fig, ui.per_view("profile_table", studies, lambda: tables.profile_table(shown), view),
    key="profile_status",  # the /api/profile.csv table
    caption=(f"Modelled from published surveys: deficient < {cut_low} pmol/L, marginal "
             f"{cut_low}-{cut_high}, adequate >= {cut_high}. Whiskers: 95% CI of the share "
             f"below {cut_low} and below {cut_high} pmol/L."),
)
ratio = shown.comparison.set_index("status").loc["deficient"]
is_general = (segment.diet_group, segment.supplement_users, segment.pregnancy) == (
    "general", "included", "not_pregnant")
if not is_general:
    st.markdown(
        f"**Compared with the general population** of {names.get(segment.iso3, segment.iso3)}"
        f" of the same age and sex (every diet, supplement users included): the share "
        f"deficient is **{ratio['ratio']:.2f} times** theirs (95% CI {ratio['ratio_low']:.2f}-"
        f"{ratio['ratio_high']:.2f}; {100 * ratio['general']:.1f}% of them are deficient)."
    )

# --- how many people -------------------------------------------------------------------------
count = shown.count.set_index("status")
people = count["people"].iloc[0]
if people == people:  # not NaN: the population table has the country and year
    deficient = count.loc["deficient"]
    cases, cases_ui = format_people_supported(deficient["cases"], deficient["cases_low"],
                                              deficient["cases_high"])
    diet = ("" if segment.diet_group == "general"
            else f" are {schema.DIET_LABELS[segment.diet_group].lower()}s")
    st.markdown(
        f"**How many people:** about **{format_people(people)}** people of both sexes aged "
        f"{segment.ages} in {names.get(segment.iso3, segment.iso3)} in {segment.year}{diet} "
        f"(UN WPP 2022 x diet share); about **{cases}** of them (95% UI {cases_ui}) are "
        f"deficient. {shown.count_note} The interval is of the prevalence only; the "
        "diet share is a survey figure without a reported sampling error."
    )
else:
    st.markdown(f"**How many people:** the population table has no figures for "
                f"{segment.iso3} in {segment.year}.")

# --- what-if ---------------------------------------------------------------------------------
st.header("What would change it: modelled differences")
estimable = ui.per_view("profile_estimable", studies,
                        lambda: shown.whatif[shown.whatif["estimable"]], view)
left_out = shown.whatif.loc[~shown.whatif["estimable"], "label"].tolist()
fig = ui.per_view("profile_whatif_figure", studies, lambda: ui.figure(
    charts.whatif_figure, estimable,
    "Modelled difference in the share deficient (percentage points)",
    subtitle=f"{profile.describe_segment(segment)}; sorted by effect"), view)
ui.render_figure(
    fig, ui.per_view("profile_whatif_table", studies, lambda: estimable[
        ["label", "estimate", "ci_low", "ci_high", "difference", "difference_low",
         "difference_high", "ratio", "ratio_low", "ratio_high", "odds_ratio"]], view),
    key="profile_whatif",
    caption=(
        "The same segment with one thing changed, as the model sees populations: a modelled "
        "difference between population prevalences with its 95% CI from the same joint draws, "
        "not the change in any one person's risk, nor the effect of changing diet."
        + (f" Not estimable, so not shown: {', '.join(left_out)}." if left_out else "")
    ),
)

# --- evidence --------------------------------------------------------------------------------
st.header("The evidence behind it")
s = shown.support
st.markdown(
    f"Independent studies the model fits: **{s['country']}** in "
    f"{names.get(segment.iso3, segment.iso3)}, **{s['region']}** in its UN region, "
    f"**{s['diet']}** of {schema.DIET_LABELS[segment.diet_group].lower()}s"
    f"{'' if segment.diet_group != 'general' else ' (general-population samples)'}, and "
    f"**{s['age']}** whose ages overlap {segment.ages}. The five published serum B12 estimates "
    "closest to the segment you asked for (one per study; distance = years between the age "
    "ranges / 10 + diet (0 same, 0.5 general population, 1 other) + place (0 same country, "
    "1 same region, 2 elsewhere) + sex (0 same, 0.5 both sexes, 1 other)):"
)
st.dataframe(asked.evidence, hide_index=True, width="stretch", column_config=EVIDENCE_CONFIG,
             column_order=[c for c in profile.EVIDENCE_COLUMNS
                           if c not in ("study_id", "estimate_id", "status")])

st.info(
    "**A population estimate, not a diagnosis.** These figures are modelled from published "
    "surveys of groups of people (a meta-regression of every published estimate; see Methods "
    f"& sources). They use one biomarker, **serum or plasma total vitamin B12**, with the "
    f"cut-offs {cut_low} pmol/L (deficient) and {cut_high} pmol/L (marginal below it). They "
    "say nothing about one person: only a blood test (ideally with holoTC or MMA) and a "
    "clinician can.",
    icon=":material/health_and_safety:",
)
ui.render_page_links(view)
