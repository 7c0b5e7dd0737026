"""Names and vocabularies shared by every layer: columns, age bands, diet groups, definitions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# Bumped whenever a dataset's columns or meaning change; data.py refuses other versions.
SCHEMA_VERSION = 3

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
SOURCES_DIR = DATA_DIR / "sources"
MANIFEST_NAME = "manifest.json"

# --- Diet groups ---------------------------------------------------------------------------
# The four groups the product models, in order of decreasing animal-food intake.
DIET_GROUPS: tuple[str, ...] = ("omnivore", "pescatarian", "vegetarian", "vegan")
# Every label the literature table uses (its README), ordered: the four plus
# semi-vegetarian (flexitarian) strata and "general" (population not stratified by diet).
STUDY_DIET_GROUPS: tuple[str, ...] = (
    "omnivore",
    "semi_vegetarian",
    "pescatarian",
    "vegetarian",
    "vegan",
    "general",
)
DIET_LABELS: dict[str, str] = {
    "omnivore": "Omnivore",
    "semi_vegetarian": "Semi-vegetarian",
    "pescatarian": "Pescatarian",
    "vegetarian": "Vegetarian",
    "vegan": "Vegan",
    "general": "General population",
}
# Okabe & Ito (2008) colour-blind-safe palette, one fixed colour per diet group in every chart.
DIET_COLOURS: dict[str, str] = {
    "omnivore": "#0072B2",
    "semi_vegetarian": "#56B4E9",
    "pescatarian": "#009E73",
    "vegetarian": "#E69F00",
    "vegan": "#D55E00",
    "general": "#666666",
}

SEXES: tuple[str, ...] = ("both", "female", "male")
# Supplement use of a stratum: users and non-users together, non-users only, users only, or
# not stated.
SUPPLEMENT_USE: tuple[str, ...] = ("included", "excluded", "only", "unknown")
STATUSES: tuple[str, ...] = ("deficient", "marginal", "low_or_marginal")
STATUS_LABELS: dict[str, str] = {
    "deficient": "Deficient",
    "marginal": "Marginal",
    "low_or_marginal": "Low or marginal",
}
BIOMARKERS: tuple[str, ...] = ("serum_b12", "holotc", "mma", "tHcy", "combined")
BIOMARKER_LABELS: dict[str, str] = {
    "serum_b12": "Serum/plasma total B12",
    "holotc": "Holotranscobalamin (holoTC)",
    "mma": "Methylmalonic acid (MMA)",
    "tHcy": "Total homocysteine (tHcy)",
    "combined": "Combined indicator (cB12 or several markers)",
}
BIOMARKER_SHORT: dict[str, str] = {
    "serum_b12": "Serum B12",
    "holotc": "HoloTC",
    "mma": "MMA",
    "tHcy": "tHcy",
    "combined": "Combined",
}

# --- Age bands -----------------------------------------------------------------------------
# Analysis bands in whole years (upper bound inclusive; None = open). Used for study rows,
# survey domains and burden. They match the reference survey analyses (0-19 ... 80+).
AGE_BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("0-19", 0, 19),
    ("20-39", 20, 39),
    ("40-59", 40, 59),
    ("60-79", 60, 79),
    ("80+", 80, None),
)
AGE_BAND_LABELS: tuple[str, ...] = tuple(b[0] for b in AGE_BANDS)
UNKNOWN_AGE_BAND = "unknown"
# A study age range goes to the band holding at least this share of its years; a range spread
# wider (e.g. 26-83, 51+) is WIDE_AGE_BAND and never stands for one band (evidence.age_band_for).
AGE_BAND_MIN_SHARE = 0.6
WIDE_AGE_BAND = "wide"
# An open-ended study band (e.g. 65+) is placed in the analysis band of age_min + this many years.
OPEN_BAND_MIDPOINT_OFFSET = 10

# UN WPP 2022 five-year groups (POP/02-1), the population input of the burden model.
WPP_AGE_BANDS: tuple[tuple[str, int, int | None], ...] = tuple(
    [(f"{a}-{a + 4}", a, a + 4) for a in range(0, 100, 5)] + [("100+", 100, None)]
)

# --- Units ---------------------------------------------------------------------------------
# Serum B12 and holoTC: 1 pg/mL = 0.738 pmol/L (molar mass of cyanocobalamin 1355.4 g/mol).
PG_ML_TO_PMOL_L = 0.738
CANONICAL_UNITS: dict[str, str] = {
    "serum_b12": "pmol/L",
    "holotc": "pmol/L",
    "mma": "umol/L",
    "tHcy": "umol/L",
    "combined": "pmol/L",
}
# Combined-indicator scores are dimensionless; 4cB12 is cB12 computed from four markers on the
# same scale (Fedosov et al. 2015), so both share one canonical unit.
SCORE_UNITS: dict[str, str] = {"cB12 score": "cB12 score", "4cB12 score": "cB12 score"}
# (biomarker, unit) -> factor: a value in the unit x factor = the value in the biomarker's
# canonical unit (CANONICAL_UNITS). pg/mL = ng/L; pg/mL -> pmol/L is cobalamin's
# (PG_ML_TO_PMOL_L), so it applies to the cobalamin markers only. A unit not listed (e.g.
# urinary ug/mg creatinine, or pg/mL of MMA, which would need MMA's molar mass) has no
# conversion. Each biomarker's units are in the order a person is offered them.
UNIT_FACTORS: dict[tuple[str, str], float] = {
    **{
        (biomarker, unit): factor
        for biomarker in ("serum_b12", "holotc", "combined")
        for unit, factor in (
            ("pmol/L", 1.0), ("pg/mL", PG_ML_TO_PMOL_L), ("ng/L", PG_ML_TO_PMOL_L),
            ("nmol/L", 1000.0),
        )
    },
    **{
        (biomarker, unit): factor
        for biomarker in ("mma", "tHcy")
        for unit, factor in (("umol/L", 1.0), ("nmol/L", 0.001))
    },
}
# Units a cut-off is named in (the `unit` URL parameter): ng/L is left out, being pg/mL by
# another name.
CUTOFF_UNITS: tuple[str, ...] = ("pmol/L", "pg/mL", "umol/L", "nmol/L", "cB12 score")


def unit_factors(biomarker: str) -> dict[str, float]:
    """Unit -> factor to the biomarker's canonical unit (UNIT_FACTORS), in the table's order;
    empty for a biomarker that has none (an unknown one, or a score)."""
    return {unit: factor for (b, unit), factor in UNIT_FACTORS.items() if b == biomarker}


@dataclass(frozen=True)
class Definition:
    """A biomarker cut-off that groups comparable published cut-offs.

    A study row belongs to the definition when its biomarker matches and its cut-off, in
    canonical units, falls within [low_min, low_max] (and for ranges, its upper end within
    [high_min, high_max]).
    """

    id: str
    label: str
    biomarker: str
    direction: str  # "<" (low value = low status), ">" (raised functional marker) or "between"
    low_min: float
    low_max: float
    high_min: float | None = None
    high_max: float | None = None
    unit: str = "pmol/L"
    rationale: str = ""
    # The nominal cut-off(s) an analyst applies to individual values (canonical units).
    cutoff: float = float("nan")
    cutoff_high: float | None = None

    def __post_init__(self) -> None:
        if not self.low_min <= self.cutoff <= self.low_max:
            raise ValueError(f"definition {self.id}: cutoff {self.cutoff} outside its range")
        if self.direction == "between" and (
            self.cutoff_high is None or self.high_min is None or self.high_max is None
            or not self.high_min <= self.cutoff_high <= self.high_max
        ):
            raise ValueError(f"definition {self.id}: cutoff_high outside its range")


# The documented definitions. Rows whose cut-off fits none get a generated id of the form
# "<biomarker>_<op><value>" so that they are still grouped only with identical cut-offs.
DEFINITIONS: tuple[Definition, ...] = (
    Definition(
        "b12_lt148", "Serum B12 < 148 pmol/L (< 200 pg/mL)", "serum_b12", "<", 145.0, 151.0,
        rationale="The classic deficiency cut-off (WHO; Allen 2009): 147-150 pmol/L and "
        "200-203 pg/mL are the same threshold in different units and roundings.",
        cutoff=148.0,
    ),
    Definition(
        "b12_lt118", "Serum B12 < 118 pmol/L (< 160 pg/mL)", "serum_b12", "<", 115.0, 121.0,
        rationale="A stricter deficiency threshold used in some surveys.",
        cutoff=118.0,
    ),
    Definition(
        "b12_lt185", "Serum B12 < 185 pmol/L (< 250 pg/mL)", "serum_b12", "<", 183.0, 187.0,
        rationale="Low status at a higher cut-off; used for deficiency by some authors and for "
        "low-or-marginal status by others (the status column says which).",
        cutoff=185.0,
    ),
    Definition(
        "b12_lt221", "Serum B12 < 221 pmol/L (< 300 pg/mL)", "serum_b12", "<", 217.0, 223.0,
        rationale="Low or marginal status (deficient + marginal combined).",
        cutoff=221.0,
    ),
    Definition(
        "b12_lt258", "Serum B12 < 258 pmol/L (< 350 pg/mL)", "serum_b12", "<", 255.0, 260.0,
        rationale="The upper bound of marginal status in NHANES analyses (Qi 2014).",
        cutoff=258.0,
    ),
    Definition(
        "b12_148_221", "Serum B12 148-221 pmol/L (200-300 pg/mL, marginal)", "serum_b12",
        "between", 145.0, 151.0, 217.0, 223.0,
        rationale="Marginal band between the deficiency and low-or-marginal cut-offs.",
        cutoff=148.0, cutoff_high=221.0,
    ),
    Definition(
        "b12_148_258", "Serum B12 148-258 pmol/L (marginal)", "serum_b12", "between",
        145.0, 151.0, 255.0, 260.0,
        rationale="Marginal band used in NHANES analyses (Qi 2014).",
        cutoff=148.0, cutoff_high=258.0,
    ),
    Definition(
        "holotc_lt35", "HoloTC < 35 pmol/L", "holotc", "<", 34.5, 35.5,
        rationale="Commonly used holotranscobalamin deficiency cut-off.",
        cutoff=35.0,
    ),
    Definition(
        "mma_gt026", "MMA > 0.26-0.271 umol/L", "mma", ">", 0.255, 0.275, unit="umol/L",
        rationale="Raised methylmalonic acid: 0.26 umol/L and 271 nmol/L are one threshold.",
        cutoff=0.26,
    ),
    Definition(
        "mma_gt037", "MMA > 0.37 umol/L", "mma", ">", 0.365, 0.375, unit="umol/L",
        rationale="Stricter raised-MMA threshold.",
        cutoff=0.37,
    ),
    Definition(
        "combined_lt148", "Combined: serum B12 < 148 pmol/L plus a functional marker",
        "combined", "<", 145.0, 151.0,
        rationale="Low serum B12 confirmed by raised MMA or tHcy (definition in study notes).",
        cutoff=148.0,
    ),
    Definition(
        "cb12_lt_neg05", "Combined indicator cB12 (or 4cB12) < -0.5", "combined", "<",
        -0.55, -0.45, unit="cB12 score",
        rationale="Fedosov's combined indicator; scores below -0.5 mean low or marginal status.",
        cutoff=-0.5,
    ),
)
DEFINITIONS_BY_ID: dict[str, Definition] = {d.id: d for d in DEFINITIONS}
DEFAULT_DEFINITION = "b12_lt148"
DEFAULT_STATUS = "deficient"

# --- Geography -----------------------------------------------------------------------------
# UN World Population Prospects 2022 geographic regions and subregions (based on UN M49),
# spelled as the population and studies datasets spell them (data/README.md).
WPP_REGIONS: tuple[str, ...] = (
    "Africa",
    "Asia",
    "Europe",
    "Latin America and the Caribbean",
    "Northern America",
    "Oceania",
)
WPP_SUBREGIONS: tuple[str, ...] = (
    "Eastern Africa",
    "Middle Africa",
    "Northern Africa",
    "Southern Africa",
    "Western Africa",
    "Central Asia",
    "Eastern Asia",
    "South-Eastern Asia",
    "Southern Asia",
    "Western Asia",
    "Eastern Europe",
    "Northern Europe",
    "Southern Europe",
    "Western Europe",
    "Caribbean",
    "Central America",
    "South America",
    "Australia/New Zealand",
    "Melanesia",
    "Micronesia",
    "Polynesia",
)
# WPP 2022 name of the world aggregate.
WORLD = "World"
# UN SDG regional groupings as compositions of UN M49 (WPP 2022) regions and sub-regions
# (United Nations Statistics Division, "Standard country or area codes for statistical use
# (M49)", SDG regional groupings). The burden model resolves them to member countries.
SDG_REGIONS: dict[str, tuple[str, ...]] = {
    "Sub-Saharan Africa": ("Eastern Africa", "Middle Africa", "Southern Africa",
                           "Western Africa"),
    "Northern Africa and Western Asia": ("Northern Africa", "Western Asia"),
    "Central and Southern Asia": ("Central Asia", "Southern Asia"),
    "Eastern and South-Eastern Asia": ("Eastern Asia", "South-Eastern Asia"),
    "Latin America and the Caribbean": ("Latin America and the Caribbean",),
    "Oceania (excluding Australia and New Zealand)": ("Melanesia", "Micronesia", "Polynesia"),
    "Europe and Northern America": ("Europe", "Northern America"),
}


# --- Pages -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """One page of the dashboard: app.py builds st.navigation from these, state checks page
    names and builds URLs with them, ui links into them."""

    key: str  # the name code uses (state.read("burden"), links) and of its module
    title: str
    url_path: str  # "" for the default page
    icon: str  # Material Symbols name, drawn by Streamlit without a network fetch
    group: str  # section of the navigation
    # Help text of the links other pages show into it; "" when they do not link to it.
    about: str = ""

    @property
    def file(self) -> str:
        """Script of its st.Page, relative to the app root (one module per page)."""
        return f"dashboard/pages/{self.key}.py"


# In navigation order within each group; page links follow the same order.
PAGES: dict[str, Page] = {
    p.key: p
    for p in (
        Page("overview", "Overview", "", ":material/dashboard:", "Evidence",
             "Headline figures and the age x diet chart"),
        Page("explore", "Explore", "explore", ":material/filter_alt:", "Evidence",
             "Every filter, three charts, every row"),
        Page("evidence", "Evidence", "evidence", ":material/forest:", "Evidence",
             "Forest plots and the study table"),
        Page("burden", "Burden", "burden", ":material/public:", "Population",
             "How many people: modelled from population data"),
        Page("profile", "Risk profile", "profile", ":material/person_search:", "Population"),
        Page("model", "Model", "model", ":material/insights:", "Population",
             "The prevalence model: effects, variance components, validation"),
        Page("cutoffs", "Cutoffs", "cutoffs", ":material/straighten:", "Evidence",
             "How the definition moves prevalence"),
        Page("methods", "Methods & sources", "methods", ":material/menu_book:", "About",
             "Definitions, formulas, references"),
        Page("your_data", "Your data", "your-data", ":material/upload_file:", "Population"),
    )
}


# --- Risk profile (dashboard.profile) -----------------------------------------------------
# What a profile's segment can be: the model's diet groups or the general population (every
# diet); supplement users included, excluded or only; pregnancy of women of reproductive age
# (WHO: 15-49 years), by trimester or unspecified.
PROFILE_DIETS: tuple[str, ...] = (*DIET_GROUPS, "general")
PROFILE_SUPPLEMENTS: tuple[str, ...] = ("included", "excluded", "only")
PROFILE_PREGNANCY: tuple[str, ...] = ("not_pregnant", "pregnant_unspecified", "trimester_1",
                                      "trimester_2", "trimester_3")
PREGNANCY_AGES: tuple[int, int] = (15, 49)


# --- Standard populations ------------------------------------------------------------------
STANDARD_POPULATIONS: dict[str, str] = {
    "who_2000_2025": "WHO World Standard Population 2000-2025",
    "esp_2013": "European Standard Population 2013",
    "us_2000": "US 2000 standard population",
    "segi_1960": "Segi 1960 world standard (Doll et al. 1966)",
}
DEFAULT_STANDARD = "who_2000_2025"

# --- Dataset files -------------------------------------------------------------------------
DATASETS: tuple[str, ...] = (
    "studies",
    "population",
    "standard_populations",
    "diet_shares",
    "countries",
    "model_validation",
)

# --- Dataset columns -----------------------------------------------------------------------
# Column name -> pandas dtype of each built dataset, in file order. build.py writes exactly
# these; data.py refuses a file that lacks any of them. "str" is pandas' string dtype,
# "category" an unordered categorical, "ordered" an ordered one (order given below).

# Prefixes of generated definition ids ("<prefix>_lt<value>"), matching the documented ids.
# Generated ids of combined definitions under an OR rule (any one of several signs).
OR_RULE_PREFIX = "combinedany"
DEFINITION_ID_PREFIX: dict[str, str] = {
    "serum_b12": "b12",
    "holotc": "holotc",
    "mma": "mma",
    "tHcy": "thcy",
    "combined": "combined",
}


_GENERATED_ID = re.compile(
    r"^(?P<prefix>[a-z0-9]+)_(?:(?P<word>lt|gt)(?P<a>(?:neg)?[0-9p]+)(?:to(?P<b>(?:neg)?[0-9p]+))?"
    r"|(?P<lo>(?:neg)?[0-9p]+)_(?P<hi>(?:neg)?[0-9p]+))$"
)


def definition_label(definition_id: str) -> str:
    """Readable label of a definition id: the documented label, or one read from a generated
    id ("b12_lt126" -> "Serum/plasma total B12 < 126 pmol/L"); unknown ids come back as is.
    """
    if definition_id in DEFINITIONS_BY_ID:
        return DEFINITIONS_BY_ID[definition_id].label
    match = _GENERATED_ID.match(definition_id)
    prefixes = {v: k for k, v in DEFINITION_ID_PREFIX.items()} | {"cb12": "combined",
                                                                 OR_RULE_PREFIX: "combined"}
    if not match or match["prefix"] not in prefixes:
        return definition_id
    biomarker = prefixes[match["prefix"]]
    name = (
        "Any of several signs (OR rule), B12" if match["prefix"] == OR_RULE_PREFIX
        else BIOMARKER_SHORT[biomarker]
    )
    unit = "cB12 score" if match["prefix"] == "cb12" else CANONICAL_UNITS[biomarker]

    def number(text: str) -> str:
        return text.replace("neg", "-").replace("p", ".")

    if match["lo"] is not None:
        return f"{name} {number(match['lo'])}-{number(match['hi'])} {unit}"
    op = "<" if match["word"] == "lt" else ">"
    if match["b"] is not None:
        return f"{name} {op} {number(match['a'])}-{number(match['b'])} {unit} (varies within range)"
    return f"{name} {op} {number(match['a'])} {unit}"
USABLE_FOR: tuple[str, ...] = ("pooling", "display")
STUDY_AGE_BANDS: tuple[str, ...] = (*AGE_BAND_LABELS, WIDE_AGE_BAND, UNKNOWN_AGE_BAND)

# --- Who an estimate describes (evidence table v2) -------------------------------------------
# How the people were sampled. Population surveys first; the last three are not samples of the
# general population and are marked wherever their rows are shown.
SAMPLE_FRAMES: tuple[str, ...] = (
    "national_survey",      # nationally representative probability sample (NHANES, CHMS, ...)
    "subnational_survey",   # probability sample of a region, province, city or district
    "community_sample",     # other general-population samples: cohorts, volunteers, students
    "diet_cohort",          # recruited for the diet: vegans, monastics, raw-food adherents, ...
    "clinic_sample",        # patients, or people selected through illness or being tested
    "institution",          # residents of care homes and other institutions for the aged
)
SAMPLE_FRAME_LABELS: dict[str, str] = {
    "national_survey": "National survey",
    "subnational_survey": "Subnational survey",
    "community_sample": "Community sample",
    "diet_cohort": "Diet-group cohort",
    "clinic_sample": "Clinic or patient sample",
    "institution": "Institution or care home",
}
# Marks shown beside rows that do not sample the general population.
SAMPLE_FRAME_MARKS: dict[str, str] = {
    "diet_cohort": "diet cohort",
    "clinic_sample": "clinic sample",
    "institution": "care home",
}
# Pregnancy state of a stratum: "not_pregnant" means the stratum is not defined by pregnancy
# (men, children, non-pregnant women, or women not selected for pregnancy); "mixed" pools
# pregnant and non-pregnant people. Trimesters by gestational week: 0-13, 14-27, 28+.
PREGNANCY: tuple[str, ...] = (
    "not_pregnant", "trimester_1", "trimester_2", "trimester_3", "pregnant_unspecified",
    "lactating", "mixed",
)
PREGNANCY_MARKS: dict[str, str] = {
    "trimester_1": "pregnant (trimester 1)",
    "trimester_2": "pregnant (trimester 2)",
    "trimester_3": "pregnant (trimester 3)",
    "pregnant_unspecified": "pregnant",
    "lactating": "lactating",
    "mixed": "includes pregnant women",
}
# What divides a subgroup from the estimate it belongs to (literature column `split`).
SPLITS: tuple[str, ...] = (
    "sex", "supplement_use", "diet", "age", "area", "group", "religion",
)
# How the markers of a combined definition combine (literature column `marker_rule`).
MARKER_RULES: tuple[str, ...] = ("and", "or", "score", "other")
# Whether a published estimate is survey-weighted ("yes"), a plain sample proportion ("no"),
# or not stated (empty).
WEIGHTED: tuple[str, ...] = ("yes", "no")
# Where a row's figure was read (literature column `source_kind`): in the publication itself
# (abstract or full text), or only in another publication's table (named in `notes`).
SOURCE_KINDS: tuple[str, ...] = ("primary", "secondary")
MULTI_COUNTRY = "MULTI"
MULTI_COUNTRY_NAME = "Multi-country"

STUDIES_COLUMNS: dict[str, str] = {
    "row_id": "int64",
    "estimate_id": "str",
    "study_id": "str",
    "parent_id": "str",
    "split": "str",
    "repeat_of": "str",
    "sample_id": "str",
    "first_author": "str",
    "year": "Int64",
    "title": "str",
    "journal": "str",
    "doi": "str",
    "pmid": "str",
    "doi_url": "str",
    "pmid_url": "str",
    "country_iso3": "str",
    "country_name": "str",
    "region": "str",
    "subregion": "str",
    "survey_or_cohort": "str",
    "data_years": "str",
    "year_start": "Int64",
    "year_end": "Int64",
    "population": "str",
    "sample_frame": "category",
    "pregnancy": "category",
    "population_marks": "str",
    "sex": "category",
    "age_min": "Int64",
    "age_max": "Int64",
    "age_mean": "float64",
    "age_label": "str",
    "age_band": "ordered",
    "diet_group": "ordered",
    "supplement_users": "category",
    "weighted": "boolean",
    "biomarker": "category",
    "marker_rule": "str",
    "assay": "str",
    "cutoff_operator": "str",
    "cutoff_value": "str",
    "cutoff_unit": "str",
    "cutoff_low": "float64",
    "cutoff_high": "float64",
    "canonical_unit": "str",
    "definition": "str",
    "status": "category",
    "prevalence": "float64",
    "prevalence_derived": "bool",
    "n": "Int64",
    "cases": "Int64",
    "cases_derived": "bool",
    "n_effective": "float64",
    "n_effective_basis": "str",
    "ci_low": "float64",
    "ci_high": "float64",
    "data_check": "str",
    "source_location": "str",
    "source_kind": "category",
    "notes": "str",
    "usable_for": "category",
    "reason": "str",
    "exclude_reason": "str",
}

POPULATION_VARIANTS: tuple[str, ...] = ("estimate", "medium")
# Years kept from WPP 2022: estimates to 2021, medium variant from 2022.
POPULATION_YEARS: tuple[int, int] = (1990, 2050)
WPP_LAST_ESTIMATE_YEAR = 2021
POPULATION_COLUMNS: dict[str, str] = {
    "location_code": "int64",
    "location": "category",
    "iso3": "category",
    "location_type": "category",
    "parent_code": "int64",
    "region": "category",
    "subregion": "category",
    "variant": "category",
    "year": "int16",
    "age_band": "ordered",
    "age_min": "Int64",
    "age_max": "Int64",
    "population": "float64",
}

STANDARD_POPULATIONS_COLUMNS: dict[str, str] = {
    "standard": "category",
    "age_min": "Int64",
    "age_max": "Int64",
    "age_band": "str",
    "weight": "float64",
    "weight_share": "float64",
    "source": "str",
}

# Diet-share groups after normalisation. A source "vegetarian" figure is excl_vegan only where
# the source says vegans were a separate, mutually exclusive answer (data/README.md).
DIET_SHARE_GROUPS: tuple[str, ...] = (
    "vegetarian_excl_vegan",
    "vegetarian_unspecified",
    "vegetarian_incl_vegan",
    "vegan",
    "pescatarian",
)
# How a share was measured; health and nutrition surveys with behavioural definitions are the
# better basis for intake-related risk (data/sources/reference/README.md, caveats).
METHOD_CLASSES: tuple[str, ...] = ("health or nutrition survey", "national survey", "poll or panel")
DIET_SHARES_COLUMNS: dict[str, str] = {
    "country_iso3": "str",
    "country_name": "str",
    "year": "int64",
    "diet_group_reported": "str",
    "diet_group": "category",
    "share": "float64",
    "population_basis": "str",
    "method": "str",
    "method_class": "category",
    "source": "str",
    "url_or_doi": "str",
    "notes": "str",
}

# World Bank income groups (FY2024 classification), poorest first; the model's country-level
# covariate of access to animal-source foods, and so to dietary B12.
INCOME_GROUPS: tuple[str, ...] = ("low", "lower_middle", "upper_middle", "high")
INCOME_LABELS: dict[str, str] = {
    "low": "Low income", "lower_middle": "Lower-middle income",
    "upper_middle": "Upper-middle income", "high": "High income",
}
COUNTRIES_COLUMNS: dict[str, str] = {
    "iso3": "str",
    "location_code": "int64",
    "country_name": "str",
    "region": "str",
    "subregion": "str",
    "income_group": "ordered",
    "income_fiscal_year": "str",
}

# Out-of-sample predictions of the prevalence model and of the old cell pooling
# (dashboard.validation.validate, both fold types), built from the other datasets.
MODEL_VALIDATION_COLUMNS: dict[str, str] = {
    "fold_type": "str",
    "fold": "str",
    "estimate_id": "str",
    "sample_id": "str",
    "country_iso3": "str",
    "diet_group": "str",
    "age_band": "str",
    "sample_frame": "str",
    "cutoff": "float64",
    "observed": "float64",
    "predicted": "float64",
    "pi_low": "float64",
    "pi_high": "float64",
    "covered": "boolean",
    "abs_error_pp": "float64",
    "old_predicted": "float64",
    "old_pi_low": "float64",
    "old_pi_high": "float64",
    "old_covered": "boolean",
    "old_abs_error_pp": "float64",
    "old_basis": "str",
    "old_k": "int64",
}

DATASET_COLUMNS: dict[str, dict[str, str]] = {
    "studies": STUDIES_COLUMNS,
    "population": POPULATION_COLUMNS,
    "standard_populations": STANDARD_POPULATIONS_COLUMNS,
    "diet_shares": DIET_SHARES_COLUMNS,
    "countries": COUNTRIES_COLUMNS,
    "model_validation": MODEL_VALIDATION_COLUMNS,
}
