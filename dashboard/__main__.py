"""Command line: design-based prevalence estimates from analysts' own survey files."""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

import pandas as pd

from dashboard import engine, ingest, schema, stats

# Columns written, one row per domain after the grouping columns.
RESULT_COLUMNS: tuple[str, ...] = ("estimate", "se", "ci_low", "ci_high", "n", "df", "reliability")
# Exit statuses: 2 is argparse's own for usage errors; bad input is reported the same way.
EXIT_OK = 0
EXIT_BAD_INPUT = 2
# A reader that stops early (`| head`): end quietly with the status of a SIGPIPE death, as
# coreutils do.
EXIT_BROKEN_PIPE = 141
DESIGN_OPTIONS: dict[str, str] = {"weight": "weight", "strata": "stratum", "psu": "psu"}
# With --engine duckdb/spark the mapping is proposed and checked on this many first rows; the
# estimates use every row.
SAMPLE_ROWS = 100_000


class _Parser(argparse.ArgumentParser):
    """argparse, reporting a bad argument on one line (status 2) instead of the usage text."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see {self.prog} --help)\n")


def _level(text: str) -> float:
    """--level: a confidence level strictly between 0 and 1."""
    try:
        level = float(text)
    except ValueError:
        level = math.nan
    if not (math.isfinite(level) and 0 < level < 1):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a confidence level: give a number between 0 and 1, e.g. 0.95"
        )
    return level


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (one subcommand, `estimate`)."""
    parser = _Parser(
        prog="python -m dashboard",
        description="B12 Risk Atlas: survey estimates of low vitamin B12 status from your files.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    est = sub.add_parser(
        "estimate",
        help="prevalence by groups, with Korn-Graubard intervals, from survey microdata",
        description=(
            "Read CSV, Parquet or SAS transport (.xpt) microdata, merge several files on a key, "
            "and write the design-based prevalence of an outcome by groups. Bad input is "
            "reported on stderr with exit status 2."
        ),
    )
    est.add_argument("files", nargs="+", metavar="FILE", help="CSV, Parquet or XPT files")
    est.add_argument(
        "--outcome",
        required=True,
        help="'<column> <op> <number>', op one of < <= > >=, e.g. 'serum_b12_pmol_l < 148' or "
        "'LBXB12 < 200' (the column's own unit)",
    )
    est.add_argument(
        "--by",
        default="",
        help=f"comma-separated groups among {', '.join(ingest.GROUP_ROLES)} (default: overall)",
    )
    est.add_argument(
        "--age-bands",
        default=",".join(b[0] for b in schema.AGE_BANDS),
        help="whole-year bands for age_band, e.g. 0-19,20-39,40-59,60-79,80+",
    )
    est.add_argument("--weight", help="sampling weight column (default: recognised name)")
    est.add_argument("--strata", help="design stratum column (default: recognised name)")
    est.add_argument("--psu", help="primary sampling unit column (default: recognised name)")
    est.add_argument(
        "--no-design",
        action="store_true",
        help="ignore weights, strata and PSUs (simple random sample)",
    )
    est.add_argument("--merge-on", help="key column linking several files (default: SEQN)")
    est.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="ROLE=COLUMN",
        help=f"set a column's role ({', '.join(ingest.MICRODATA_ROLES)}); repeatable",
    )
    est.add_argument("--level", type=_level, default=0.95,
                     help="confidence level, between 0 and 1 (default 0.95)")
    est.add_argument("--out", default="-", help="output CSV file ('-' for stdout, the default)")
    est.add_argument(
        "--engine",
        choices=("memory", *engine.ENGINES),
        default="memory",
        help="memory (default): read the files whole; duckdb or spark: FILEs are Parquet "
        "files, folders or globs read together as one table, summed out of core",
    )
    est.add_argument(
        "--memory-limit",
        default=engine.DEFAULT_MEMORY_LIMIT,
        help=f"memory for --engine duckdb/spark (default {engine.DEFAULT_MEMORY_LIMIT})",
    )
    return parser


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None) -> int:
    """Run the command line; returns the exit status (2 on bad input, never a traceback)."""
    stdout = stdout or sys.stdout
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse has already printed the usage message
        return int(stop.code or 0)
    try:
        _check_out(args.out)
        results = run_estimate(args)
    except ingest.InputError as err:
        for problem in err.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except engine.EngineError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.out == "-":
        try:
            results.to_csv(stdout, index=False, lineterminator="\n")
            stdout.flush()
        except BrokenPipeError:
            return _quiet_broken_pipe()
    else:
        try:
            results.to_csv(args.out, index=False, lineterminator="\n")
        except OSError as err:
            print(f"error: --out {args.out}: cannot write it ({err.strerror or err}).",
                  file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"wrote {len(results)} rows to {args.out}", file=sys.stderr)
    return EXIT_OK


def _check_out(out: str) -> None:
    """Refuse an --out the results cannot be written to before the files are read."""
    if out == "-":
        return
    folder = Path(out).parent
    if not folder.is_dir():
        raise ingest.InputError(f"--out {out}: the folder '{folder}' does not exist.")
    if Path(out).is_dir():
        raise ingest.InputError(f"--out {out}: is a folder; give a file name.")


def _quiet_broken_pipe() -> int:
    """The reader went away: no traceback, and none at interpreter exit when Python flushes
    stdout again (the Python docs' recipe: point stdout at /dev/null)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (tests)
        pass
    return EXIT_BROKEN_PIPE


def _note(message: str) -> None:
    print(message, file=sys.stderr)


def run_estimate(args: argparse.Namespace) -> pd.DataFrame:
    """Read, merge, map, prepare and estimate as the arguments say; InputError on bad input."""
    if args.engine != "memory":
        return _run_estimate_out_of_core(args)
    uploads = [ingest.read_upload(Path(f).name, _read_bytes(f)) for f in args.files]
    if len(uploads) > 1:
        key = args.merge_on or "SEQN"
        if args.merge_on is None:
            _note(f"merging {len(uploads)} files on {key} (change with --merge-on)")
        upload = ingest.merge_uploads(uploads, on=key)
    else:
        upload = uploads[0]
    for warning in upload.warnings:
        _note(f"warning: {warning}")
    mapping = ingest.propose_mapping(upload.frame, kind="microdata")
    mapping = _apply_overrides(mapping, args, upload.frame.columns)
    _describe_mapping(mapping)
    outcome = ingest.parse_outcome(args.outcome, mapping)
    by = tuple(b.strip() for b in args.by.split(",") if b.strip())
    prepared = ingest.prepare_microdata(
        upload, mapping, outcome, ingest.parse_age_bands(args.age_bands)
    )
    for warning in prepared.warnings:
        _note(f"warning: {warning}")
    _note(f"outcome: {outcome.label}; {len(prepared.frame):,} rows analysed")
    results = ingest.estimate(prepared, by, level=args.level)
    return results.loc[:, [*by, *RESULT_COLUMNS]]


def _run_estimate_out_of_core(args: argparse.Namespace) -> pd.DataFrame:
    """The in-memory steps on the first SAMPLE_ROWS rows (mapping, checks, messages), then the
    cell sums of every row by DuckDB or Spark and the same estimator (stats.survey_prevalence
    _from_cells). Labels are summed per raw value and mapped afterwards: sums add up."""
    if args.merge_on is not None:
        raise ingest.InputError(
            f"--merge-on cannot be used with --engine {args.engine}: the files are read as one "
            "table (shards with the same columns); merge them first."
        )
    try:
        memory_limit = engine.check_memory_limit(args.memory_limit)
    except engine.EngineError as err:
        raise ingest.InputError(f"--memory-limit: {err}.") from None
    sample = engine.load_sample(args.files, SAMPLE_ROWS)
    buffer = io.BytesIO()
    sample.to_parquet(buffer, index=False)
    upload = ingest.read_upload(f"{Path(args.files[0]).stem or 'source'}.parquet",
                                buffer.getvalue())
    mapping = ingest.propose_mapping(upload.frame, kind="microdata")
    mapping = _apply_overrides(mapping, args, upload.frame.columns)
    _describe_mapping(mapping)
    outcome = ingest.parse_outcome(args.outcome, mapping)
    by = tuple(b.strip() for b in args.by.split(",") if b.strip())
    bands = ingest.parse_age_bands(args.age_bands)
    prepared = ingest.prepare_microdata(upload, mapping, outcome, bands)
    ingest.estimate(prepared, by, level=args.level)  # the same checks of --by and --level
    whole = len(sample) < SAMPLE_ROWS  # the sample is the whole source
    where = "" if whole else f" (first {len(sample):,} rows)"
    for warning in prepared.warnings:
        _note(f"warning{where}: {warning}")

    if outcome.column is not None:
        bcol = next(b for b in mapping.biomarkers.values() if b.column == outcome.column)
    else:
        bcol = mapping.biomarkers[outcome.biomarker]
    factors = ingest.UNIT_FACTORS[outcome.biomarker]
    cut = outcome.cutoff * factors[outcome.unit] / factors[bcol.unit]  # as ingest compares
    groups = [
        engine.AgeBands(mapping.age, bands) if b == "age_band" else getattr(mapping, b)
        for b in by
    ]
    cells = engine.load_cells(
        args.files,
        engine.Compare(bcol.column, outcome.operator, cut),
        by=groups,
        weight=mapping.weight,
        strata=mapping.stratum,
        psu=mapping.psu,
        engine=args.engine,
        memory_limit=memory_limit,
    )
    for b, group in zip(by, groups, strict=True):
        column = group.column if isinstance(group, engine.AgeBands) else group
        if b == "age_band":
            labels = [*(band[0] for band in bands), ingest.UNKNOWN_LABEL]
            values = pd.Categorical(cells[column], categories=labels)
        else:
            values = _mapped_labels(cells[column], b, mapping.labels.get(b))
        cells = cells.drop(columns=column).assign(**{b: values})
    dropped = cells.attrs["dropped_missing_outcome"]
    if dropped and not whole:
        _note(f"warning: {dropped:,} rows without a value in '{bcol.column}' were dropped.")
    _note(f"outcome: {outcome.label}; {int(cells['n'].sum()):,} rows analysed")
    results = stats.survey_prevalence_from_cells(
        cells, by=by, strata=mapping.stratum, psu=mapping.psu, level=args.level
    )
    return results.loc[:, [*by, *RESULT_COLUMNS]]


def _mapped_labels(raw: pd.Series, role: str, overrides: dict[str, str] | None) -> pd.Categorical:
    """Raw labels in the role's vocabulary, missing ones 'unknown' (as prepare_microdata)."""
    vocab = ingest.ROLE_VOCABULARIES[role]
    mapped, preview = ingest.map_labels(raw, vocab, overrides)
    if not preview.empty:
        raise ingest.InputError(
            f"Column '{raw.name}' ({role.replace('_', ' ')}): unknown labels "
            f"{', '.join(repr(v) for v in preview['value'].head(5))}. Map each to one of "
            f"{', '.join(vocab)}, or choose another column."
        )
    return pd.Categorical(
        mapped.astype(object).fillna(ingest.UNKNOWN_LABEL),
        categories=[*vocab, ingest.UNKNOWN_LABEL],
    )


def _read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ingest.InputError(f"Cannot read '{path}': {err.strerror}.") from None


def _apply_overrides(
    mapping: ingest.ColumnMapping, args: argparse.Namespace, columns: pd.Index
) -> ingest.ColumnMapping:
    changes: dict[str, str | None] = {}
    problems: list[str] = []
    for item in args.map:
        role, sep, column = item.partition("=")
        role, column = role.strip(), column.strip()
        if not sep or role not in ingest.MICRODATA_ROLES:
            problems.append(
                f"--map {item!r}: write ROLE=COLUMN with ROLE one of "
                f"{', '.join(ingest.MICRODATA_ROLES)}."
            )
            continue
        changes[role] = column
    for option, role in DESIGN_OPTIONS.items():
        value = getattr(args, option)
        if value is not None:
            changes[role] = value
    if args.no_design:
        changes.update({"weight": None, "stratum": None, "psu": None})
    for role, column in changes.items():
        if column is not None and column not in columns:
            problems.append(
                f"Column '{column}' (given for {role}) is not in the file; its columns are "
                f"{', '.join(map(str, columns[:15]))}."
            )
    if problems:
        raise ingest.InputError(problems)
    given = {r: f"'{c}' (given on the command line)" for r, c in changes.items()}
    notes = {**mapping.notes, **given}
    return replace(mapping, notes=notes, **changes)


def _describe_mapping(mapping: ingest.ColumnMapping) -> None:
    design = [
        f"{option}={getattr(mapping, role)}"
        for option, role in DESIGN_OPTIONS.items()
        if getattr(mapping, role) is not None
    ]
    nhanes = any("NHANES" in mapping.notes.get(r, "") for r in DESIGN_OPTIONS.values())
    if design:
        source = " (recognised NHANES names)" if nhanes else ""
        _note(
            f"design: {', '.join(design)}{source}; override with --weight/--strata/--psu "
            "or --no-design"
        )
    else:
        _note("design: none found; estimates treat the file as a simple random sample")
    for role, note in mapping.notes.items():
        if role not in DESIGN_OPTIONS.values():
            _note(f"column for {role}: {note}")


if __name__ == "__main__":
    sys.exit(main())
