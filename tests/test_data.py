"""Tests of dashboard.data: built files load with their schema; bad files give clear errors."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from dashboard import build, data, schema
from dashboard.data import DataError

# Rows of the shipped evidence table, counted independently of the build: one row per estimate.
with (schema.SOURCES_DIR / build.LITERATURE_CSV).open(newline="", encoding="utf-8") as _f:
    SHIPPED_STUDY_ROWS = sum(1 for _ in csv.DictReader(_f))

LOADERS: dict[str, Callable[..., pd.DataFrame]] = {
    "studies": data.load_studies,
    "population": data.load_population,
    "standard_populations": data.load_standard_populations,
    "diet_shares": data.load_diet_shares,
    "countries": data.load_countries,
    "model_validation": data.load_model_validation,
}


@pytest.mark.parametrize("name", schema.DATASETS)
def test_built_datasets_load_with_their_schema(built_data_dir: Path, name: str) -> None:
    df = LOADERS[name](built_data_dir)
    manifest = data.load_manifest(built_data_dir)
    entry = next(o for o in manifest["outputs"] if o["dataset"] == name)
    assert list(df.columns) == list(schema.DATASET_COLUMNS[name]) == entry["columns"]
    assert len(df) == entry["rows"] > 0
    for col, dtype in schema.DATASET_COLUMNS[name].items():
        got = df[col].dtype
        if dtype in ("category", "ordered"):
            assert isinstance(got, pd.CategoricalDtype), col
            assert got.ordered == (dtype == "ordered"), col
        else:
            assert str(got) == dtype, col


def test_loaded_studies_keep_dtypes(built_data_dir: Path) -> None:
    studies = data.load_studies(built_data_dir)
    assert list(studies["diet_group"].cat.categories) == list(schema.STUDY_DIET_GROUPS)
    assert studies["prevalence"].between(0, 1).all()


@pytest.fixture
def data_dir(built_data_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the built datasets that a test may damage."""
    target = tmp_path / "data"
    shutil.copytree(built_data_dir, target)
    return target


def _rewrite_manifest(data_dir: Path, change: Callable[[dict], None]) -> None:
    path = data_dir / schema.MANIFEST_NAME
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def _register(data_dir: Path, file: str) -> None:
    """Record a file's current checksum in the manifest, as a build would."""

    def change(manifest: dict) -> None:
        for out in manifest["outputs"]:
            if out["file"] == file:
                out["sha256"] = build.sha256_file(data_dir / file)

    _rewrite_manifest(data_dir, change)


def truncate(data_dir: Path) -> None:
    path = data_dir / "studies.parquet"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def modify(data_dir: Path) -> None:
    # A valid Parquet file with one row fewer: only the checksum can tell
    path = data_dir / "studies.parquet"
    table = pq.read_table(path)
    pq.write_table(table.slice(0, table.num_rows - 1), path)


def truncate_and_register(data_dir: Path) -> None:
    truncate(data_dir)
    _register(data_dir, "studies.parquet")


def drop_column_and_register(data_dir: Path) -> None:
    path = data_dir / "studies.parquet"
    pq.write_table(pq.read_table(path).drop_columns(["definition"]), path)
    _register(data_dir, "studies.parquet")


def drop_row_and_register(data_dir: Path) -> None:
    modify(data_dir)
    _register(data_dir, "studies.parquet")


def remove_file(data_dir: Path) -> None:
    (data_dir / "studies.parquet").unlink()


def remove_manifest(data_dir: Path) -> None:
    (data_dir / schema.MANIFEST_NAME).unlink()


def old_schema(data_dir: Path) -> None:
    _rewrite_manifest(data_dir, lambda m: m.update(schema_version=schema.SCHEMA_VERSION - 1))


def garbage_manifest(data_dir: Path) -> None:
    (data_dir / schema.MANIFEST_NAME).write_text("{not json")


def no_checksums(data_dir: Path) -> None:
    def change(manifest: dict) -> None:
        for out in manifest["outputs"]:
            out.pop("sha256")

    _rewrite_manifest(data_dir, change)


def unlisted(data_dir: Path) -> None:
    _rewrite_manifest(
        data_dir, lambda m: m.update(outputs=[o for o in m["outputs"] if o["dataset"] != "studies"])
    )


@pytest.mark.parametrize(
    ("damage", "file", "problem"),
    [
        (truncate, "studies.parquet", "SHA-256 does not match the manifest"),
        (modify, "studies.parquet", "SHA-256 does not match the manifest"),
        (truncate_and_register, "studies.parquet", "cannot be read as Parquet"),
        (drop_column_and_register, "studies.parquet", "columns ['definition'] are missing"),
        (drop_row_and_register, "studies.parquet",
         f"it has {SHIPPED_STUDY_ROWS - 1} rows, the manifest says {SHIPPED_STUDY_ROWS}"),
        (remove_file, "studies.parquet", "the file is missing"),
        (remove_manifest, "manifest.json", "the manifest is missing"),
        (old_schema, "manifest.json", f"this code needs {schema.SCHEMA_VERSION} (stale data)"),
        (garbage_manifest, "manifest.json", "the manifest cannot be read"),
        (unlisted, "manifest.json", "does not list studies.parquet"),
        # The intact studies.parquet is not to blame: the manifest lacks what to check it by.
        (no_checksums, "manifest.json", "the manifest has no SHA-256 for studies.parquet"),
    ],
)
def test_bad_files_raise_clear_errors(
    data_dir: Path, damage: Callable[[Path], None], file: str, problem: str
) -> None:
    data.load_studies(data_dir)  # loads (and caches the checksum) before the damage
    damage(data_dir)
    with pytest.raises(DataError) as info:
        data.load_studies(data_dir)
    message = str(info.value)
    # Named relative to the project's layout, never by the server's absolute path.
    assert message.startswith(f"data/{file}: ")
    assert str(data_dir) not in message
    assert problem in message
    assert "make data" in message
    assert info.value.path == data_dir / file


def test_other_datasets_still_load_when_one_is_damaged(data_dir: Path) -> None:
    truncate(data_dir)
    assert len(data.load_diet_shares(data_dir)) > 0


def test_unknown_dataset_name() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'people'"):
        data.load_dataset("people")


def test_loader_reads_arrow_errors_as_data_errors(data_dir: Path) -> None:
    # A file that is Parquet-shaped at both ends but broken inside
    path = data_dir / "diet_shares.parquet"
    raw = bytearray(path.read_bytes())
    raw[8:200] = b"\x00" * 192
    path.write_bytes(bytes(raw))
    _register(data_dir, "diet_shares.parquet")
    with pytest.raises(DataError, match="diet_shares.parquet.*cannot be read as Parquet"):
        data.load_diet_shares(data_dir)


# --- manifest summaries ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        # printf 'aaa,bbb' | sha256sum | cut -c1-12
        ([{"sha256": "aaa"}, {"sha256": "bbb"}], "3dad5cf32f33"),
        # order matters: printf 'bbb,aaa' | sha256sum | cut -c1-12
        ([{"sha256": "bbb"}, {"sha256": "aaa"}], "eaac8c1641dc"),
        # no outputs: printf '' | sha256sum | cut -c1-12
        ([], "e3b0c44298fc"),
    ],
)
def test_build_id_names_the_output_checksums(outputs: list[dict], expected: str) -> None:
    assert data.build_id({"outputs": outputs}) == expected


def test_manifest_outputs_lists_each_file() -> None:
    manifest = {"outputs": [
        {"file": "studies.parquet", "rows": 3, "columns": ["a", "b"], "bytes": 12345,
         "sha256": "aaa"},
        {"file": "population.parquet", "rows": 10, "columns": ["c"], "bytes": 999,
         "sha256": "bbb"},
    ]}
    got = data.manifest_outputs(manifest)
    # 12345 bytes = 12.345 kB -> 12.3; 999 bytes -> 1.0
    expected = pd.DataFrame({
        "file": ["data/studies.parquet", "data/population.parquet"], "rows": [3, 10],
        "columns": [2, 1], "size (kB)": [12.3, 1.0], "sha256": ["aaa", "bbb"],
    })
    pd.testing.assert_frame_equal(got, expected)
    assert list(data.manifest_outputs({"outputs": []}).columns) == list(expected.columns)


def test_project_path_never_shows_an_absolute_path(tmp_path: Path) -> None:
    assert data.project_path(schema.DATA_DIR / "studies.parquet") == "data/studies.parquet"
    assert data.project_path(tmp_path / "data" / "x.parquet") == "data/x.parquet"


def _copy_sources(root: Path) -> None:
    shutil.copytree(schema.SOURCES_DIR, root / "data" / "sources")


def test_stale_inputs_are_none_right_after_a_build(tmp_path: Path) -> None:
    _copy_sources(tmp_path)
    assert data.stale_inputs(data.load_manifest(), root=tmp_path) == []


def test_a_changed_or_missing_source_makes_the_datasets_stale(tmp_path: Path) -> None:
    _copy_sources(tmp_path)
    diet = tmp_path / "data" / "sources" / "reference" / "diet_shares.csv"
    diet.write_text(diet.read_text().replace("vegan", "VEGAN", 1))
    (tmp_path / "data" / "sources" / "reference" / "standard_populations.csv").unlink()
    assert data.stale_inputs(data.load_manifest(), root=tmp_path) == [
        "data/sources/reference/standard_populations.csv",
        "data/sources/reference/diet_shares.csv",
    ]


def test_current_build_id_follows_the_manifest_file(built_data_dir: Path, tmp_path: Path) -> None:
    shutil.copy(built_data_dir / data.MANIFEST_NAME, tmp_path / data.MANIFEST_NAME)
    manifest = data.load_manifest(tmp_path)
    assert data.current_build_id(tmp_path) == data.build_id(manifest)
    # a rebuild replaces the manifest: the new checksums give a new id
    manifest["outputs"][0]["sha256"] = "0" * 64
    replacement = tmp_path / "manifest.new"
    replacement.write_text(json.dumps(manifest))
    replacement.replace(tmp_path / data.MANIFEST_NAME)
    assert data.current_build_id(tmp_path) == data.build_id(manifest)
    assert data.current_build_id(tmp_path) != data.build_id(data.load_manifest(built_data_dir))
    (tmp_path / data.MANIFEST_NAME).write_text("{not json")
    assert data.current_build_id(tmp_path) == ""
    (tmp_path / data.MANIFEST_NAME).unlink()
    assert data.current_build_id(tmp_path) == ""
