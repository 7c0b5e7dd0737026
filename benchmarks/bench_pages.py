"""Run time of each dashboard page under AppTest, next to an empty Streamlit script's.

Each page runs through app.py (st.navigation, as `streamlit run` serves it), after one warm-up
visit of every page in the process (datasets cached, modules imported). Two times per page:

- "open": the page's first run in a session, after app.py's default page (a navigation click
  or a link into the page: state read from the URL), median over SESSIONS fresh AppTests;
- "rerun": the median of RERUNS further runs of one session (what a widget click costs).

The empty script (``import streamlit as st``) is timed the same way in the same process (its
"open" is the first run of a fresh AppTest, as it has no navigation). Target: a page's open
time <= 3x the empty script's, for every page: what an analyst waits for when a link opens.
The rerun ratio is printed too; an empty script's rerun does no work at all (a few ms), so
that ratio measures a page's work rather than its overhead.

``--save FILE`` writes the figures as JSON; ``--before FILE`` prints them beside this run's
(open and rerun before -> after, and after/before): the table of a change that makes pages
faster, measured with the same script.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# AppTest resolves page paths against the main script, and the pages read data/ relative to
# the project: run from the project root whatever the caller's directory.
os.chdir(ROOT)

from streamlit.testing.v1 import AppTest  # noqa: E402

from dashboard import schema  # noqa: E402

TARGET_RATIO = 3.0
SESSIONS = 5
RERUNS = 9
TIMEOUT_S = 120
EMPTY_SCRIPT = "import streamlit as st\n"


def _timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _session(name: str | None) -> AppTest:
    """A fresh session, ready for its first run of page ``name`` (None: the empty script)."""
    if name is None:
        return AppTest.from_string(EMPTY_SCRIPT, default_timeout=TIMEOUT_S)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT_S)
    at.run()  # registers the st.navigation pages; switch_page needs them
    at.switch_page(schema.PAGES[name].file)
    return at


def _check(at: AppTest, name: str | None) -> None:
    """A time only counts when the page drew itself, not an early stop or an error box."""
    if at.exception:
        raise RuntimeError(f"{name or 'empty script'} raised: {at.exception[0].message}")
    if name is not None and (not at.title or at.error):
        raise RuntimeError(f"page {name} did not draw: errors {[e.value for e in at.error]}")


def time_page(name: str | None) -> tuple[float, float]:
    """(median first run of a new session, median rerun) in seconds for a page or the empty
    script."""
    opens = []
    for _ in range(SESSIONS):
        at = _session(name)
        opens.append(_timed(at.run))
        _check(at, name)
    reruns = [_timed(at.run) for _ in range(RERUNS)]
    _check(at, name)
    return statistics.median(opens), statistics.median(reruns)


def _print_before_after(before: dict[str, list[float]], after: dict[str, list[float]]) -> None:
    """Open and rerun medians of an earlier run (``--save``) beside this run's."""
    header = (f"{'page':<12}{'open before':>12}{'after':>8}{'x':>6}"
              f"{'rerun before':>14}{'after':>8}{'x':>6}")
    print(f"\nBefore -> after (s; x = after / before):\n{header}")
    print("-" * len(header))
    for name, (opened, rerun) in after.items():
        if name not in before:
            continue
        b_open, b_rerun = before[name]
        print(f"{name:<12}{b_open:>12.3f}{opened:>8.3f}{opened / b_open:>6.2f}"
              f"{b_rerun:>14.3f}{rerun:>8.3f}{rerun / b_rerun:>6.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", type=Path, help="write this run's figures to a JSON file")
    parser.add_argument("--before", type=Path, help="a --save file to print beside this run")
    args = parser.parse_args()
    before = None
    if args.before is not None:
        try:
            before = json.loads(args.before.read_text())
        except (OSError, ValueError) as err:
            print(f"cannot read {args.before}: {err}", file=sys.stderr)
            return 2
    # AppTest runs scripts outside a server, and Streamlit warns about that on every run.
    logging.disable(logging.WARNING)
    for name in (None, *schema.PAGES):  # warm-up: imports and dataset caches
        _session(name).run()
    empty_open, empty_rerun = time_page(None)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"AppTest run times (s): open = the page's first run in a session, after app.py's "
          f"default page (median of {SESSIONS}; the empty script: a fresh AppTest's first run), "
          f"rerun = median of {RERUNS} reruns.")
    print(f"Target: open ratio page/empty <= {TARGET_RATIO:g}. "
          f"{os.cpu_count()} CPUs, load average {load}.\n")
    header = f"{'page':<12}{'open':>8}{'x empty':>9}{'rerun':>8}{'x empty':>9}  verdict"
    print(header)
    print("-" * len(header))
    figures = {"(empty)": [empty_open, empty_rerun]}
    print(f"{'(empty)':<12}{empty_open:>8.3f}{1:>9.1f}{empty_rerun:>8.3f}{1:>9.1f}")
    slow = []
    for name in schema.PAGES:
        opened, rerun = time_page(name)
        figures[name] = [opened, rerun]
        ratio = opened / empty_open
        verdict = "ok" if ratio <= TARGET_RATIO else "over target"
        if ratio > TARGET_RATIO:
            slow.append(name)
        print(f"{name:<12}{opened:>8.3f}{ratio:>9.1f}{rerun:>8.3f}{rerun / empty_rerun:>9.1f}"
              f"  {verdict}")
    if args.save is not None:
        args.save.write_text(json.dumps(figures, indent=1) + "\n")
    if before is not None:
        _print_before_after(before, figures)
    if slow:
        print(f"\nOpen time above {TARGET_RATIO:g}x the empty script: {', '.join(slow)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
