"""Model page: the prevalence model's effects, variance components and out-of-sample checks."""

import streamlit as st

from dashboard import charts, state, tables, ui, validation

FOLD_OPTIONS: dict[str, str] = validation.FOLD_LABELS
SOURCE = ("Source: the published serum/plasma B12 estimates of the evidence table "
          "(Methods & sources), one REML multilevel meta-regression.")

st.title("Model")
st.markdown(
    "Every modelled prevalence on the Burden page comes from one regression of low serum B12 "
    "status over all the published evidence: what moves it (odds ratios), how much countries "
    "and studies differ beyond that (variance components), and how well it predicts estimates "
    "it has not seen, beside the cell pooling it replaced."
)

view = state.read("model")
studies, fitted, held_out = ui.loaded_or_stop(ui.load_studies, ui.load_model,
                                               ui.load_model_validation)

data = fitted.data
evidence_line = (
    f"{len(data)} estimates from {data['sample_id'].nunique()} studies in "
    f"{data['iso3'].nunique()} countries ({data['region'].nunique()} regions), cut-offs "
    f"{data['cutoff'].min():.0f}-{data['cutoff'].max():.0f} pmol/L"
)
st.caption(f"Fitted on {evidence_line}. {SOURCE}")

# --- effects --------------------------------------------------------------------------------
st.header("What moves the prevalence", anchor="effects")
ratios = ui.per_view("model_ratios", studies, fitted.odds_ratios)
fig = ui.per_view("model_ratios_figure", studies, lambda: ui.figure(
    charts.odds_ratio_figure, ratios,
    "Odds ratios of low serum B12 status (below a cut-off), with 95% CIs",
    subtitle=f"All published estimates: {evidence_line}"))
ui.render_figure(
    fig, ui.per_view("model_table", studies, lambda: tables.model_table(fitted)),  # /api/model.csv
    key="model_odds_ratios",
    caption=(
        "Each term holds the others fixed. Diet groups against omnivores; sexes against "
        "estimates of both sexes; sample frames against population samples; income groups "
        "(World Bank) against high income; the cut-off per doubling (e.g. 148 to 296 pmol/L), "
        "the crosswalk between definitions; age as the odds ratio of ten years more at the ages "
        "shown (natural spline). Odds ratios on a log axis; 1 is no effect."
    ),
    column_config={
        "label": "Term", "odds_ratio": st.column_config.NumberColumn("Odds ratio",
                                                                       format="%.2f"),
        "or_low": st.column_config.NumberColumn("95% CI low", format="%.2f"),
        "or_high": st.column_config.NumberColumn("95% CI high", format="%.2f"),
        "beta": st.column_config.NumberColumn("Log odds", format="%.3f"),
        "se": st.column_config.NumberColumn("SE (log odds)", format="%.3f"),
    },
)
dropped = ", ".join(fitted.dropped_labels())
st.caption(
    f"Terms without any estimate to learn from, taken as no effect: {dropped}."
    if dropped else "Every covariate has estimates to learn from."
)

# --- variance ------------------------------------------------------------------------------
st.header("Variance components", anchor="variance")
st.dataframe(
    ui.per_view("model_variance", studies, fitted.variance_components), hide_index=True,
    width="stretch",
    column_config={
        "level": "Level", "groups": st.column_config.NumberColumn("Groups fitted"),
        "sigma2": st.column_config.NumberColumn("Variance (logit scale)", format="%.3f"),
        "sd": st.column_config.NumberColumn("SD (logit scale)", format="%.3f"),
        "meaning": st.column_config.TextColumn("What it measures", width="large"),
    },
)
st.caption(
    "Random intercepts nested region > country > study > estimate (REML, as metafor's "
    "rma.mv). A country the evidence does not cover takes its region's effect, and a draw "
    f"from the country variance for its uncertainty. Fitted on {evidence_line}."
)

# --- validation ----------------------------------------------------------------------------
st.header("Out-of-sample validation", anchor="validation")
summary = ui.per_view("model_validation", studies,
                      lambda: validation.summarize_validation(held_out))
lo, hi = validation.COVERAGE_TARGET
st.dataframe(
    ui.per_view("model_validation_table", studies,
                lambda: summary.drop(columns=["model", "fold_type"])),
    hide_index=True, width="stretch",
    column_config={
        "model_label": "Model", "fold_label": "Folds",
        "n_held_out": st.column_config.NumberColumn(
            "Estimates compared", help="held-out estimates both models could predict"),
        "n_predictable": st.column_config.NumberColumn(
            "Estimates it predicts", help="the old model has nothing for a cut-off without "
            "training estimates of its own"),
        "coverage": st.column_config.NumberColumn(
            "95% PI coverage", format="percent",
            help=f"share of held-out estimates inside their 95% prediction interval; "
            f"target {lo:.0%}-{hi:.0%}"),
        "median_abs_error_pp": st.column_config.NumberColumn(
            "Median abs. error (pp)", format="%.1f"),
        "mean_error_pp": st.column_config.NumberColumn(
            "Mean error (pp)", format="%+.1f", help="predicted minus observed"),
    },
)
st.caption(
    f"Every one of the {held_out['estimate_id'].nunique()} fitted estimates predicted by a "
    "refit without its whole study (or its whole country, whose effect then comes from the "
    "country variance), with its own covariates and its own sampling error; the previous "
    "model pooled the same training estimates per age band x diet cell of its definition, "
    "with its fallbacks. Both are scored on the estimates both can predict; errors in "
    "percentage points of prevalence."
)
st.radio(state.PARAMS["folds"].label, list(FOLD_OPTIONS), key="folds",
         format_func=FOLD_OPTIONS.get, horizontal=True)
view = state.write(view)
state.render_share(view)
shown = ui.per_view("model_shown", studies,
                    lambda: held_out[held_out["fold_type"] == view["folds"]], view)
fig = ui.per_view("model_validation_figure", studies, lambda: ui.figure(
    charts.validation_figure, shown,
    f"Held-out estimates: observed and predicted ({FOLD_OPTIONS[view['folds']]})",
    subtitle=f"Prevalence below each estimate's cut-off (%); {evidence_line}"), view)
percent = {c: st.column_config.NumberColumn(c.replace("_", " ").capitalize(), format="percent")
           for c in ("observed", "predicted", "pi_low", "pi_high", "old_predicted",
                     "old_pi_low", "old_pi_high")}
ui.render_figure(
    fig, ui.per_view("model_shown_table", studies, lambda: shown[
        ["estimate_id", "fold", "observed", "predicted", "pi_low", "pi_high", "covered",
         "old_predicted", "old_pi_low", "old_pi_high", "old_covered", "old_basis"]], view),
    key=f"model_validation_{view['folds']}",
    caption=("Points on the dashed line are predicted exactly; the previous model has no "
             "point where it had no training estimate of the cut-off. Hover for each "
             "estimate's 95% prediction interval. PI: prediction interval; old: the cell "
             "pooling."),
    column_config=percent,
)

# --- in sample ------------------------------------------------------------------------------
st.header("National surveys against the model", anchor="surveys")
surveys = ui.model_in_sample_surveys()
s = ui.per_view("model_surveys_summary", studies,
                lambda: validation.in_sample_summary(surveys))
st.dataframe(
    ui.per_view("model_surveys_table", studies, lambda: surveys[
        ["first_author", "year", "survey_or_cohort", "country_iso3", "population", "sex",
         "age_min", "age_max", "diet_group", "cutoff", "observed", "predicted", "ci_low",
         "ci_high", "pi_low", "pi_high", "in_fit"]]),
    hide_index=True, width="stretch",
    column_config={
        "observed": st.column_config.NumberColumn("Published", format="percent"),
        "predicted": st.column_config.NumberColumn("Model", format="percent"),
        "ci_low": st.column_config.NumberColumn("95% CI low", format="percent"),
        "ci_high": st.column_config.NumberColumn("95% CI high", format="percent"),
        "pi_low": st.column_config.NumberColumn("95% PI low", format="percent"),
        "pi_high": st.column_config.NumberColumn("95% PI high", format="percent"),
        "cutoff": st.column_config.NumberColumn("Cut-off (pmol/L)", format="%.0f"),
        "in_fit": st.column_config.CheckboxColumn("In the fit"),
    },
)
st.caption(
    f"{s['n']} published national-survey figures ({s['n_in_fit']} of them in the fit; the "
    "others are subgroups, repeats or figures without counts) beside the model's prediction "
    "for that country, ages, sex and cut-off: "
    f"{s['within_pi']:.0%} inside the 95% prediction interval, median absolute difference "
    f"{s['median_abs_error_pp']:.1f} percentage points, mean {s['mean_error_pp']:+.1f}. In "
    "sample: the model has seen most of these surveys."
)

# --- left out -------------------------------------------------------------------------------
st.header("Estimates left out of the model", anchor="excluded")
excluded = ui.per_view("model_excluded", studies, lambda: fitted.excluded.merge(
    studies[["estimate_id", "first_author", "year", "country_name", "population",
             "definition"]], on="estimate_id", how="left"))
st.dataframe(excluded, hide_index=True, width="stretch",
             column_config={"reason": st.column_config.TextColumn("Why", width="medium")})
st.caption(
    f"{len(excluded)} serum/plasma B12 estimates are not fitted: "
    + "; ".join(f"{n} {reason}" for reason, n in excluded["reason"].value_counts().items())
    + ". They stay in the evidence table and on the Evidence page."
)

st.divider()
ui.render_page_links(view)
