"""Names and vocabularies shared by every layer: columns, age bands, diet groups, definitions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Bumped whenever a dataset's columns or meaning change; data.py refuses other versions.
SCHEMA_VERSION = 1

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
SUPPLEMENT_USE: tuple[str, ...] = ("included", "excluded", "unknown")
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


# The documented definitions. Rows whose cut-off fits none get a generated id of the form
# "<biomarker>_<op><value>" so that they are still grouped only with identical cut-offs.
DEFINITIONS: tuple[Definition, ...] = (
    Definition(
        "b12_lt148", "Serum B12 < 148 pmol/L (< 200 pg/mL)", "serum_b12", "<", 145.0, 151.0,
        rationale="The classic deficiency cut-off (WHO; Allen 2009): 147-150 pmol/L and "
        "200-203 pg/mL are the same threshold in different units and roundings.",
    ),
    Definition(
        "b12_lt118", "Serum B12 < 118 pmol/L (< 160 pg/mL)", "serum_b12", "<", 115.0, 121.0,
        rationale="A stricter deficiency threshold used in some surveys.",
    ),
    Definition(
        "b12_lt185", "Serum B12 < 185 pmol/L (< 250 pg/mL)", "serum_b12", "<", 183.0, 187.0,
        rationale="Low status at a higher cut-off; used for deficiency by some authors and for "
        "low-or-marginal status by others (the status column says which).",
    ),
    Definition(
        "b12_lt221", "Serum B12 < 221 pmol/L (< 300 pg/mL)", "serum_b12", "<", 217.0, 223.0,
        rationale="Low or marginal status (deficient + marginal combined).",
    ),
    Definition(
        "b12_lt258", "Serum B12 < 258 pmol/L (< 350 pg/mL)", "serum_b12", "<", 255.0, 260.0,
        rationale="The upper bound of marginal status in NHANES analyses (Qi 2014).",
    ),
    Definition(
        "b12_148_221", "Serum B12 148-221 pmol/L (200-300 pg/mL, marginal)", "serum_b12",
        "between", 145.0, 151.0, 217.0, 223.0,
        rationale="Marginal band between the deficiency and low-or-marginal cut-offs.",
    ),
    Definition(
        "b12_148_258", "Serum B12 148-258 pmol/L (marginal)", "serum_b12", "between",
        145.0, 151.0, 255.0, 260.0,
        rationale="Marginal band used in NHANES analyses (Qi 2014).",
    ),
    Definition(
        "holotc_lt35", "HoloTC < 35 pmol/L", "holotc", "<", 34.5, 35.5,
        rationale="Commonly used holotranscobalamin deficiency cut-off.",
    ),
    Definition(
        "mma_gt026", "MMA > 0.26-0.271 umol/L", "mma", ">", 0.255, 0.275, unit="umol/L",
        rationale="Raised methylmalonic acid: 0.26 umol/L and 271 nmol/L are one threshold.",
    ),
    Definition(
        "mma_gt037", "MMA > 0.37 umol/L", "mma", ">", 0.365, 0.375, unit="umol/L",
        rationale="Stricter raised-MMA threshold.",
    ),
    Definition(
        "combined_lt148", "Combined: serum B12 < 148 pmol/L plus a functional marker",
        "combined", "<", 145.0, 151.0,
        rationale="Low serum B12 confirmed by raised MMA or tHcy (definition in study notes).",
    ),
    Definition(
        "cb12_lt_neg05", "Combined indicator cB12 (or 4cB12) < -0.5", "combined", "<",
        -0.55, -0.45, unit="cB12 score",
        rationale="Fedosov's combined indicator; scores below -0.5 mean low or marginal status.",
    ),
)
DEFINITIONS_BY_ID: dict[str, Definition] = {d.id: d for d in DEFINITIONS}
DEFAULT_DEFINITION = "b12_lt148"
DEFAULT_STATUS = "deficient"

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
)
