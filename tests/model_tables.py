"""Hand-made countries and diet shares shared by the model and validation tests."""

from __future__ import annotations

import math

import pandas as pd

from dashboard import schema

# Three regions with two countries each; the diet shares and income groups every test uses.
COUNTRIES = pd.DataFrame({
    "iso3": ["AAA", "AAB", "BBA", "BBB", "CCA", "CCB"],
    "region": ["Ra", "Ra", "Rb", "Rb", "Rc", "Rc"],
    "subregion": ["Ra", "Ra", "Rb", "Rb", "Rc", "Rc"],
    "income_group": pd.Categorical(["high", "high", "high", "high", "high", "high"],
                                   categories=schema.INCOME_GROUPS, ordered=True),
})
SHARES = pd.DataFrame([
    {"country_iso3": c, "diet_group": d, "share": s}
    for c in COUNTRIES["iso3"]
    for d, s in (("omnivore", 0.9), ("pescatarian", 0.0), ("vegetarian", 0.08),
                 ("vegan", 0.02))
])


def expit(x: float) -> float:
    return 1 / (1 + math.exp(-x))
