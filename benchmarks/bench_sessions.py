"""Page runs and concurrent sessions over Streamlit's own websocket protocol.

Starts the app (serve.py) and a minimal Streamlit + Plotly page, each with `streamlit run` on
a free port, and talks to them as the browser does: a websocket on /_stcore/stream, a BackMsg
`rerun_script` naming the page (page_name = its URL path) and query string, then ForwardMsgs
until `script_finished`. Prints per page the single run time and its ratio to the minimal
page; then N concurrent sessions (default 1, 10, 50) that rerun for --duration seconds
(p50, p95, max of the runs, errors, when every session's first run had finished) and the
server's RSS per added session; and the ratios against the targets, marked OVER where missed.

`--replicas 2` runs the 50-session level against one process and then through nginx in front
of two replicas (deploy/replicas.py), and prints the p95 ratio.

    .venv/bin/python benchmarks/bench_sessions.py [--sessions 1,10,50] [--duration 15]
    .venv/bin/python benchmarks/bench_sessions.py --replicas 2
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from dashboard import schema  # noqa: E402
from deploy import replicas  # noqa: E402
from tests.live_server import free_port  # noqa: E402

# Targets of issue 16.
SINGLE_RUN_TARGET = 1.3  # every page's single run / the minimal page's
CONCURRENT_TARGET = 1.5  # 10 sessions' time to every first run / the minimal page's
RSS_TARGET_MIB = 2.0  # per added session
REPLICA_P95_TARGET = 0.6  # 50 sessions' p95 through nginx / one process's
# Every other rerun of a session asks for the same view spelled out in full (state.py's v=1
# link). A browser's rerun sends the widgets' values back (widget_states); this client does
# not track widgets, and a rerun without them would reset each widget to its bare default.
# A changed query makes the page set its widgets from the URL, as a followed link does: a
# full page run, like a filter change.
RERUN_QUERY = "v=1"

MINIMAL_PAGE = '''"""A minimal Streamlit + Plotly page: the yardstick of bench_sessions.py."""
import plotly.graph_objects as go
import streamlit as st

st.set_page_config(page_title="Minimal", layout="wide")
st.title("Minimal page")
st.write("One chart of twenty bars.")
figure = go.Figure(go.Bar(x=[f"group {i}" for i in range(20)], y=list(range(20))))
st.plotly_chart(figure)
'''


@dataclass
class Run:
    """One script run: seconds from the rerun request to script_finished, bytes received."""

    seconds: float
    nbytes: int
    error: str = ""
    elements: int = 0  # delta messages: elements and blocks the run drew


async def run_script(ws, page_name: str, query: str) -> Run:
    """Ask for one run of `page_name` (a URL path; "" is the default page) and read the
    ForwardMsgs until it finishes. An exception element or page_not_found is an error."""
    msg = BackMsg()
    msg.rerun_script.page_name = page_name
    msg.rerun_script.query_string = query
    start = time.perf_counter()
    await ws.send(msg.SerializeToString())
    nbytes, error, elements = 0, "", 0
    while True:
        data = await ws.recv()
        nbytes += len(data)
        fwd = ForwardMsg()
        fwd.ParseFromString(data)
        kind = fwd.WhichOneof("type")
        elements += kind == "delta"
        if kind == "page_not_found":
            error = error or f"page not found: {page_name!r}"
        elif (kind == "delta" and fwd.delta.WhichOneof("type") == "new_element"
              and fwd.delta.new_element.WhichOneof("type") == "exception"):
            error = error or f"exception: {fwd.delta.new_element.exception.message[:80]}"
        elif kind == "script_finished":
            if fwd.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                error = error or "compile error"
            return Run(time.perf_counter() - start, nbytes, error, elements)


def _open(base: str, timeout: float):
    """A websocket to the server with a cookie of its own, as a separate browser has (nginx
    keys its replica affinity on it)."""
    ws_url = base.replace("http://", "ws://") + "/_stcore/stream"
    cookie = f"b12_replica={secrets.token_hex(8)}"
    return connect(ws_url, subprotocols=["streamlit"], additional_headers={"Cookie": cookie},
                   max_size=None, open_timeout=timeout, ping_interval=None)


async def fresh_run(base: str, page_name: str, query: str = "", timeout: float = 120) -> Run:
    """One run in a new session (a link opened in a new tab)."""
    async with _open(base, timeout) as ws:
        return await asyncio.wait_for(run_script(ws, page_name, query), timeout)


def rss_mib(pids: Sequence[int]) -> float:
    """Resident memory of the processes, MiB (VmRSS from /proc)."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


@dataclass
class Level:
    """N concurrent sessions: every run's time, errors, time to every first run, RSS."""

    n: int
    runs: list[Run] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    all_first: float = float("nan")
    rss_per_session: float = float("nan")

    def quantile(self, q: float) -> float:
        """The q-quantile of the successful runs' seconds (nan when none)."""
        ok = sorted(r.seconds for r in self.runs if not r.error)
        if not ok:
            return float("nan")
        return ok[min(len(ok) - 1, round(q * (len(ok) - 1)))]


async def concurrent(base: str, pids: Sequence[int], n: int, page_name: str, query: str,
                     duration: float, timeout: float) -> Level:
    """`n` sessions connect at once; each reruns the page (alternating `query` and
    RERUN_QUERY) until `duration` has passed since the start (finishing the run in flight),
    then holds its connection until the server's RSS is read."""
    level = Level(n)
    rss_before = rss_mib(pids)
    start = time.perf_counter()
    deadline = start + duration
    first_done: list[float] = []
    finished = 0
    all_done = asyncio.Event()
    release = asyncio.Event()

    async def session() -> None:
        nonlocal finished
        try:
            async with _open(base, timeout) as ws:
                first = True
                for i in itertools.count():
                    run = await asyncio.wait_for(
                        run_script(ws, page_name, query if i % 2 == 0 else RERUN_QUERY),
                        timeout)
                    level.runs.append(run)
                    if run.error:
                        level.errors.append(run.error)
                    if first:
                        first_done.append(time.perf_counter() - start)
                        first = False
                    if time.perf_counter() >= deadline:
                        break
                finished += 1
                if finished == n:
                    all_done.set()
                await release.wait()
        except Exception as exc:  # a refused connect, a timeout, a closed socket: counted
            level.errors.append(f"{type(exc).__name__}: {exc}"[:100])
            finished += 1
            if finished == n:
                all_done.set()

    tasks = [asyncio.create_task(session()) for _ in range(n)]
    await all_done.wait()
    level.rss_per_session = (rss_mib(pids) - rss_before) / n
    release.set()
    await asyncio.gather(*tasks)
    if len(first_done) == n:
        level.all_first = max(first_done)
    return level


@dataclass
class Server:
    """A running server: its URL and the pids whose RSS counts."""

    base: str
    pids: list[int]


def start_single(script: str, secret: str) -> tuple[Server, object]:
    """`streamlit run SCRIPT` on a free port, healthy."""
    port = free_port()
    proc = replicas.start_replica(port, secret, script=script)
    base = f"http://127.0.0.1:{port}"
    try:
        replicas.wait_healthy(base, procs=[proc])
    except RuntimeError:
        proc.kill()
        raise
    return Server(base, [proc.pid]), proc


def stop(proc) -> None:
    """Terminate a server started here."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except Exception:  # still running after 15 s
        proc.kill()


def fmt(seconds: float) -> str:
    """Seconds with two decimals, or '-' for nan."""
    return "-" if seconds != seconds else f"{seconds:.2f}"


def verdict(ratio: float, target: float) -> str:
    """'meets' or 'OVER' the target (a ratio or figure that must stay at or below it)."""
    if ratio != ratio:
        return "no figure"
    return f"meets the target of <= {target}" if ratio <= target else f"OVER the target of {target}"


def print_level(label: str, level: Level) -> None:
    """One row of the concurrent table."""
    errors = len(level.errors)
    print(f"  {label:<18} {level.n:>3} {len(level.runs):>5} {errors:>4} "
          f"{fmt(level.all_first):>10} {fmt(level.quantile(0.5)):>7} "
          f"{fmt(level.quantile(0.95)):>7} {fmt(level.quantile(1.0)):>7} "
          f"{level.rss_per_session:>12.2f}")
    if errors:
        print(f"    first error: {level.errors[0]}")


LEVEL_HEADER = (f"  {'server':<18} {'N':>3} {'runs':>5} {'err':>4} {'all first':>10} "
                f"{'p50 s':>7} {'p95 s':>7} {'max s':>7} {'RSS MiB/ses':>12}")


async def single_runs(app: Server, minimal: Server, repeat: int, timeout: float) -> None:
    """Each page's run in a fresh session next to the minimal page's."""
    pages = {"minimal": (minimal, "")}
    for page in schema.PAGES.values():
        pages[page.key] = (app, page.url_path)
    for server, path in pages.values():  # warm-up: datasets cached, modules imported
        await fresh_run(server.base, path, timeout=timeout)
    rows = {}
    for key, (server, path) in pages.items():
        runs = [await fresh_run(server.base, path, timeout=timeout) for _ in range(repeat)]
        rows[key] = runs
    base_ms = statistics.median(r.seconds for r in rows["minimal"]) * 1000
    print(f"single run in a fresh session, median of {repeat} after a warm-up of every page\n"
          f"(target <= {SINGLE_RUN_TARGET}x the minimal page):")
    print(f"  {'page':<12} {'ms':>7} {'KiB':>7} {'elements':>9} {'x minimal':>10}")
    for key, runs in rows.items():
        ms = statistics.median(r.seconds for r in runs) * 1000
        kib = statistics.median(r.nbytes for r in runs) / 1024
        elements = statistics.median(r.elements for r in runs)
        ratio = ms / base_ms
        mark = "" if key == "minimal" or ratio <= SINGLE_RUN_TARGET else "  OVER"
        err = next((r.error for r in runs if r.error), "")
        print(f"  {key:<12} {ms:>7.0f} {kib:>7.0f} {elements:>9.0f} {ratio:>10.2f}{mark}"
              + (f"  error: {err}" if err else ""))


async def sessions_bench(args: argparse.Namespace, secret: str, page_name: str) -> None:
    """Single runs, then the concurrent levels on the app and the minimal page."""
    with tempfile.TemporaryDirectory(prefix="b12-minimal-") as tmp:
        script = Path(tmp) / "minimal.py"
        script.write_text(MINIMAL_PAGE)
        app, app_proc = start_single("serve.py", secret)
        try:
            minimal, minimal_proc = start_single(str(script), secret)
        except RuntimeError:
            stop(app_proc)
            raise
        try:
            await single_runs(app, minimal, args.repeat, args.timeout)
            print(f"\nconcurrent sessions on {args.page} and on the minimal page, rerunning "
                  f"for {args.duration:.0f} s\n('all first': seconds until every session's "
                  "first run had finished):")
            print(LEVEL_HEADER)
            levels: dict[tuple[str, int], Level] = {}
            for n in args.sessions:
                for label, server, path in (("minimal", minimal, ""),
                                            ("app", app, page_name)):
                    level = await concurrent(server.base, server.pids, n, path, "",
                                             args.duration, args.timeout)
                    levels[label, n] = level
                    print_level(label, level)
        finally:
            stop(app_proc)
            stop(minimal_proc)
    print("\nratios:")
    if ("app", 10) in levels:
        app10, min10 = levels["app", 10], levels["minimal", 10]
        ratio = app10.all_first / min10.all_first
        p95 = app10.quantile(0.95) / min10.quantile(0.95)
        print(f"  10 concurrent, every first run: app {fmt(app10.all_first)} s / minimal "
              f"{fmt(min10.all_first)} s = {ratio:.2f}x\n"
              f"    ({verdict(ratio, CONCURRENT_TARGET)}); p95 {p95:.2f}x")
    top = max(args.sessions)
    rss = levels["app", top].rss_per_session
    print(f"  RSS per added session ({top} sessions): {rss:.2f} MiB "
          f"({verdict(rss, RSS_TARGET_MIB)} MiB)")


BARE_PAGE = '''"""The minimal page and captions computing nothing: Streamlit's cost per element."""
import plotly.graph_objects as go
import streamlit as st

st.set_page_config(page_title="Bare", layout="wide")
st.title("Minimal page")
st.write("One chart of twenty bars.")
for i in range(%(captions)d):
    st.caption(f"Caption {i}")
figure = go.Figure(go.Bar(x=[f"group {i}" for i in range(20)], y=list(range(20))))
st.plotly_chart(figure)
'''


async def yardstick_bench(args: argparse.Namespace, secret: str) -> None:
    """The minimal page against itself plus `--yardstick` captions that compute nothing:
    single runs, 10 concurrent sessions, Streamlit's server time per element and the number
    of elements a page may have to meet the single-run and concurrent targets."""
    captions = args.yardstick
    with tempfile.TemporaryDirectory(prefix="b12-bare-") as tmp:
        servers: dict[str, tuple[Server, object]] = {}
        for label, text in (("minimal", MINIMAL_PAGE),
                            (f"+{captions} captions", BARE_PAGE % {"captions": captions})):
            script = Path(tmp) / f"{len(servers)}.py"
            script.write_text(text)
            servers[label] = start_single(str(script), secret)
        try:
            single: dict[str, Run] = {}
            levels: dict[str, Level] = {}
            for label, (server, _) in servers.items():
                await fresh_run(server.base, "", timeout=args.timeout)  # warm-up
                runs = [await fresh_run(server.base, "", timeout=args.timeout)
                        for _ in range(max(args.repeat, 5))]
                single[label] = Run(statistics.median(r.seconds for r in runs),
                                    int(statistics.median(r.nbytes for r in runs)),
                                    elements=int(statistics.median(r.elements for r in runs)))
                levels[label] = await concurrent(server.base, server.pids, 10, "", "",
                                                 args.duration, args.timeout)
        finally:
            for _, proc in servers.values():
                stop(proc)
    (base_label, bare_label) = list(servers)
    base, bare = single[base_label], single[bare_label]
    print(f"yardstick: the minimal page and the same page with {captions} captions more "
          "(no computation)")
    print(f"  {'page':<18} {'elements':>9} {'single ms':>10} {'x':>6} {'10 conc. s':>11} "
          f"{'x':>6} {'ms of server per run':>21}")
    per_run = {label: args.duration / max(1, len(level.runs)) * 1000
               for label, level in levels.items()}
    for label in servers:
        run, level = single[label], levels[label]
        print(f"  {label:<18} {run.elements:>9} {run.seconds * 1000:>10.0f} "
              f"{run.seconds / base.seconds:>6.2f} {fmt(level.all_first):>11} "
              f"{level.all_first / levels[base_label].all_first:>6.2f} "
              f"{per_run[label]:>21.1f}")
    extra = max(1, bare.elements - base.elements)
    per_element = (per_run[bare_label] - per_run[base_label]) / extra
    single_per_element = (bare.seconds - base.seconds) * 1000 / extra
    budget_concurrent = base.elements + (CONCURRENT_TARGET - 1) * per_run[base_label] / per_element
    budget_single = base.elements + (SINGLE_RUN_TARGET - 1) * base.seconds * 1000 / max(
        single_per_element, 1e-9)
    print(f"  Streamlit's cost per element: {per_element:.2f} ms of server time (10 sessions "
          f"busy), {single_per_element:.2f} ms of one run's time")
    print(f"  elements a page may draw: {budget_single:.0f} for a single run <= "
          f"{SINGLE_RUN_TARGET}x, {budget_concurrent:.0f} for 10 concurrent <= "
          f"{CONCURRENT_TARGET}x (the minimal page draws {base.elements})")


async def replicas_bench(args: argparse.Namespace, secret: str, page_name: str) -> None:
    """The largest level against one process, then through nginx in front of N replicas."""
    n = max(args.sessions)
    print(f"{n} concurrent sessions on {args.page}, each rerunning for {args.duration:.0f} s:")
    print(LEVEL_HEADER)
    app, proc = start_single("serve.py", secret)
    try:
        await fresh_run(app.base, page_name, timeout=args.timeout)  # warm-up
        one = await concurrent(app.base, app.pids, n, page_name, "", args.duration,
                               args.timeout)
    finally:
        stop(proc)
    print_level("one process", one)
    port = free_port()
    ports = [free_port() for _ in range(args.replicas)]
    with replicas.cluster(args.replicas, port, replica_ports=ports, secret=secret) as running:
        for p in running.ports:  # warm up every replica directly, as the one process was
            await fresh_run(f"http://127.0.0.1:{p}", page_name, timeout=args.timeout)
        pids = [p.pid for p in running.replicas]
        many = await concurrent(running.url, pids, n, page_name, "", args.duration,
                                args.timeout)
        # A websocket's log line is written when it closes: wait for all n.
        deadline = time.monotonic() + 10
        while True:
            served = [line.rsplit("upstream=", 1)[-1].strip()
                      for line in running.access_log.read_text().splitlines()
                      if "/_stcore/stream" in line]
            if len(served) >= n or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    print_level(f"nginx+{args.replicas} replicas", many)
    ratio = many.quantile(0.95) / one.quantile(0.95)
    split = " / ".join(str(served.count(f"127.0.0.1:{p}")) for p in running.ports)
    print(f"  sessions per replica: {split}")
    print(f"\nratio: p95 through nginx / one process = {ratio:.2f} "
          f"({verdict(ratio, REPLICA_P95_TARGET)})")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command line: sessions per level, seconds per level, page, replicas."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="1,10,50",
                        help="concurrent sessions per level, comma-separated (default 1,10,50)")
    parser.add_argument("--duration", type=float, default=15.0,
                        help="seconds each level's sessions keep rerunning (default 15)")
    parser.add_argument("--page", default="overview", choices=sorted(schema.PAGES),
                        help="page of the concurrent levels (default overview)")
    parser.add_argument("--repeat", type=int, default=3, help="fresh runs per page (3)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds one run or connect may take before it counts as an error")
    parser.add_argument("--replicas", type=int, default=0,
                        help="also run the largest level through nginx in front of N replicas")
    parser.add_argument("--yardstick", type=int, default=0, metavar="N",
                        help="instead: the minimal page against itself with N captions more "
                        "(Streamlit's cost per element and the element budget of the targets)")
    args = parser.parse_args(argv)
    try:
        args.sessions = sorted({int(s) for s in args.sessions.split(",") if s.strip()})
    except ValueError:
        parser.error(f"--sessions takes whole numbers separated by commas, got {args.sessions!r}")
    if not args.sessions or min(args.sessions) < 1:
        parser.error("--sessions needs at least one level of 1 or more sessions")
    if args.duration <= 0 or args.timeout <= 0 or args.repeat < 1:
        parser.error("--duration and --timeout must be positive, --repeat at least 1")
    if args.replicas == 1 or args.replicas < 0:
        parser.error("--replicas takes 2 or more")
    if args.yardstick < 0 or args.yardstick > 10_000:
        parser.error("--yardstick takes a number of captions from 1 to 10,000")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print figures."""
    args = parse_args(argv)
    secret = secrets.token_hex(32)  # the runs' own; the deployment's file is not touched
    page_name = schema.PAGES[args.page].url_path
    started = time.perf_counter()
    if args.yardstick:
        asyncio.run(yardstick_bench(args, secret))
    elif args.replicas:
        if replicas.find_nginx() is None:
            print("nginx is not installed: run `make nginx`", file=sys.stderr)
            return 1
        asyncio.run(replicas_bench(args, secret, page_name))
    else:
        asyncio.run(sessions_bench(args, secret, page_name))
    print(f"\n(total {time.perf_counter() - started:.0f} s on {len(schema.PAGES)} pages; "
          "figures move with the load of this shared machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
