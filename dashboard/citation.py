"""How the atlas is cited and what it cites: the project's citation (text, BibTeX, RIS), the
deployment's public URL, and the bibliography of every source the figures use (pure; no
streamlit).

The citation follows the fields of CITATION.cff / DataCite (creator, title, version, year,
URL, date accessed); the API's ``Link`` header uses ``rel="cite-as"`` (RFC 8574).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dashboard import aggregate, schema

PROJECT = "B12 Risk Atlas"
TITLE = (f"{PROJECT}: prevalence and modelled burden of low vitamin B12 status by age, diet, "
         "sex and country")
PYPROJECT = schema.ROOT / "pyproject.toml"
STREAMLIT_CONFIG = schema.ROOT / ".streamlit" / "config.toml"
# The address the public reaches the deployment at (README, Deployment): an environment
# variable, else `public_url` in the [b12] section of .streamlit/config.toml. Never derived
# from the bind address, which is 127.0.0.1 behind a proxy.
PUBLIC_URL_ENV = "B12_PUBLIC_URL"
CONFIG_SECTION = "b12"
_PUBLIC_URL = re.compile(r"https?://[^\s\"'<>]+")

# Sources the build reads outside the studies, diet-share and standard-population tables
# (their citations as the providers ask; Natural Earth terms of use, World Bank CLASS).
WPP = ("United Nations, Department of Economic and Social Affairs, Population Division",
       2022, "World Population Prospects 2022, Online Edition",
       "https://population.un.org/wpp/", "Population by age, 1990-2050 (Burden)")
NATURAL_EARTH = ("Natural Earth", 2018, "Admin 0 - Countries, 1:110m, version 4.1.0 "
                 "(via the world-atlas 2.0.2 package)", "https://www.naturalearthdata.com/",
                 "World map outlines (Burden)")
WORLD_BANK = ("World Bank", 2023, "World Bank Country and Lending Groups, FY2024 income "
              "classification", "https://datahelpdesk.worldbank.org/knowledgebase/articles/"
              "906519", "Country income group, a covariate of the prevalence model")
# The prevalence model behind every modelled figure: a multilevel meta-regression fitted by
# REML as metafor's rma.mv (dashboard/model.py), cited as its method.
MODEL = ("Viechtbauer W", 2010, "Conducting meta-analyses in R with the metafor package. "
         "Journal of Statistical Software 36(3):1-48", "https://doi.org/10.18637/jss.v036.i03",
         "The prevalence model: multilevel meta-regression (REML, as rma.mv) behind every "
         "modelled figure (Model page)")
BIBLIOGRAPHY_COLUMNS = ("section", "reference", "link", "used_for")


def project_metadata(path: Path = PYPROJECT) -> dict[str, object]:
    """name, version, description and authors from ``pyproject.toml`` ([project])."""
    with Path(path).open("rb") as f:
        project = tomllib.load(f).get("project", {})
    authors = [a.get("name", "") for a in project.get("authors", []) if a.get("name")]
    return {"name": project.get("name", ""), "version": project.get("version", ""),
            "description": project.get("description", ""),
            "authors": authors or [f"{PROJECT} contributors"]}


def public_url(environ: Mapping[str, str] | None = None,
               config: Path = STREAMLIT_CONFIG) -> str | None:
    """The deployment's public root URL (no trailing slash), or None when not configured.

    ``B12_PUBLIC_URL`` wins over ``[b12] public_url`` in ``.streamlit/config.toml``; a value
    that is not an http(s) URL counts as not configured.
    """
    environ = os.environ if environ is None else environ
    value = environ.get(PUBLIC_URL_ENV, "").strip()
    if not value and Path(config).is_file():
        try:
            with Path(config).open("rb") as f:
                value = str(tomllib.load(f).get(CONFIG_SECTION, {}).get("public_url", ""))
        except (OSError, tomllib.TOMLDecodeError):
            value = ""
    value = value.strip().rstrip("/")
    return value if _PUBLIC_URL.fullmatch(value) else None


@dataclass(frozen=True)
class Citation:
    """The citation of one view of one data build."""

    authors: tuple[str, ...]
    title: str
    version: str
    build: str
    year: int
    url: str | None
    accessed: dt.date

    def text(self) -> str:
        """Plain text (author, year, title, version, build, URL, date accessed)."""
        where = f" {self.url}." if self.url else ""
        return (f"{'; '.join(self.authors)} ({self.year}). {self.title}. Version "
                f"{self.version}, data build {self.build}.{where} Accessed "
                f"{self.accessed.isoformat()}.")

    def bibtex(self) -> str:
        """A BibTeX @misc entry (key b12riskatlas<year>)."""
        fields = [
            ("author", " and ".join(f"{{{a}}}" for a in self.authors)),
            ("title", f"{{{self.title}}}"),
            ("year", str(self.year)),
            ("version", f"{self.version}, data build {self.build}"),
            ("note", f"Data build {self.build}; accessed {self.accessed.isoformat()}"),
        ]
        if self.url:
            fields.insert(4, ("url", self.url))
            fields.insert(5, ("urldate", self.accessed.isoformat()))
        body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields)
        return f"@misc{{b12riskatlas{self.year},\n{body}\n}}\n"

    def ris(self) -> str:
        """An RIS record (type DATA), CRLF-free."""
        lines = ["TY  - DATA", *(f"AU  - {a}" for a in self.authors), f"TI  - {self.title}",
                 f"PY  - {self.year}", f"ET  - {self.version}",
                 f"N1  - Data build {self.build}", f"Y2  - {self.accessed.isoformat()}"]
        if self.url:
            lines.append(f"UR  - {self.url}")
        return "\n".join([*lines, "ER  - ", ""])

    def as_dict(self) -> dict[str, object]:
        """The fields and the three formats, for JSON (API metadata, sidecar files)."""
        return {"authors": list(self.authors), "title": self.title, "version": self.version,
                "data_build": self.build, "year": self.year, "url": self.url,
                "accessed": self.accessed.isoformat(), "text": self.text(),
                "bibtex": self.bibtex(), "ris": self.ris()}


def make_citation(build: str, url: str | None, today: dt.date | None = None,
                  project: Mapping[str, object] | None = None) -> Citation:
    """The citation of the view at ``url`` (None: no public URL configured) of data build
    ``build``, accessed ``today``; the version and authors from pyproject.toml."""
    meta = project_metadata() if project is None else project
    today = today or dt.date.today()
    return Citation(tuple(meta["authors"]), TITLE, str(meta["version"]), build, today.year,
                    url, today)


def link_header(url: str | None, metadata_url: str | None = None) -> str:
    """A ``Link`` header: the view to cite (rel="cite-as", RFC 8574) and its metadata
    (rel="describedby")."""
    parts = [f'<{url}>; rel="cite-as"'] if url else []
    if metadata_url:
        parts.append(f'<{metadata_url}>; rel="describedby"; type="application/json"')
    return ", ".join(parts)


# --- bibliography ------------------------------------------------------------------------------


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _link(value: object) -> str:
    text = _text(value).strip()
    if text.lower().startswith("doi:"):
        return "https://doi.org/" + text[4:].strip()
    return text if text.startswith(("http://", "https://")) else ""


def _study_reference(r: pd.Series) -> str:
    author = _text(r["first_author"]) or r["study_id"]
    year = "n.d." if pd.isna(r["year"]) else str(int(r["year"]))
    parts = [f"{author} ({year})", _text(r["title"]).strip(), _text(r["journal"]).strip()]
    pmid = _text(r["pmid_url"]).rstrip("/").rsplit("/", 1)[-1]
    text = " ".join(p if p.endswith((".", "?", "!")) else f"{p}." for p in parts if p)
    return f"{text} PMID {pmid}." if pmid.isdigit() else text


def bibliography(studies: pd.DataFrame, diet_shares: pd.DataFrame,
                 standard_populations: pd.DataFrame) -> pd.DataFrame:
    """Every source behind the figures, one row each, in sections: the prevalence studies
    (aggregate.reference_list, by author and year), the diet-share surveys, the standard
    populations, then population data, map, income groups and the prevalence model's method.

    Columns: [section, reference (author (year). title. journal. PMID), link (DOI, else
    PubMed, else the source's URL; "" when none), used_for].
    """
    rows: list[tuple[str, str, str, str]] = []
    for _, r in aggregate.reference_list(studies).iterrows():
        rows.append(("Prevalence studies", _study_reference(r),
                     _link(r["doi_url"]) or _link(r["pmid_url"]),
                     f"{int(r['n_rows'])} published estimate"
                     + ("" if int(r["n_rows"]) == 1 else "s")))
    surveys = diet_shares.sort_values(["country_iso3", "year"]).groupby(
        "source", sort=False).agg(url=("url_or_doi", "first"), year=("year", "min"),
                                  countries=("country_iso3", lambda s: ", ".join(sorted(set(s)))))
    for source, r in surveys.sort_values(["countries", "year"]).iterrows():
        dated = source if str(int(r["year"])) in source else f"{source} ({int(r['year'])})"
        rows.append(("Diet-share surveys", f"{dated}.", _link(r["url"]),
                     f"Diet shares: {r['countries']}"))
    for standard, source in standard_populations.drop_duplicates("standard")[
            ["standard", "source"]].itertuples(index=False):
        label = schema.STANDARD_POPULATIONS.get(standard, standard)
        rows.append(("Standard populations", f"{_text(source)}.", "",
                     f"Age standardisation: {label}"))
    for section, (author, year, title, url, used) in (
        ("Population", WPP), ("Map", NATURAL_EARTH), ("Country income groups", WORLD_BANK),
        ("Prevalence model", MODEL),
    ):
        rows.append((section, f"{author} ({year}). {title}.", url, used))
    return pd.DataFrame(rows, columns=list(BIBLIOGRAPHY_COLUMNS))
