"""N Streamlit replicas of serve.py behind Debian's nginx with session affinity
(`make serve REPLICAS=N`, `python -m deploy.replicas --replicas N --port PORT`).

The replicas listen on consecutive ports after nginx's, on 127.0.0.1 only, and share one
`server.cookieSecret` (generated once into the git-ignored `.streamlit/cookie_secret`). nginx
runs unprivileged from a folder of its own (`.serve/` for `make serve`, a temporary folder in
tests and benchmarks) with the config rendered from `deploy/nginx.conf.template`. Every process
is probed on `/_stcore/health` before the address is announced.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
COOKIE_SECRET = ROOT / ".streamlit" / "cookie_secret"
COOKIE_SECRET_ENV = "STREAMLIT_SERVER_COOKIE_SECRET"
NGINX_CANDIDATES = ("nginx", "/usr/sbin/nginx")
HEALTH = "/_stcore/health"


def render_nginx_conf(listen: str, ports: Sequence[int], prefix: Path | str,
                      template: str | None = None) -> str:
    """The nginx config for replicas on 127.0.0.1:`ports`, listening on `listen`
    ("8501" or "0.0.0.0:8501"), writing pid, logs and temp files under `prefix`."""
    if not ports:
        raise ValueError("at least one replica port is needed")
    if any(not 0 < int(p) < 65536 for p in ports):
        raise ValueError(f"replica ports must be 1-65535, got {list(ports)}")
    text = TEMPLATE.read_text() if template is None else template
    servers = "\n".join(f"        server 127.0.0.1:{int(p)} max_fails=1 fail_timeout=10s;"
                        for p in ports)
    return (text.replace("{{LISTEN}}", str(listen))
                .replace("{{PREFIX}}", str(Path(prefix).resolve()))
                .replace("{{SERVERS}}", servers))


def ensure_cookie_secret(path: Path = COOKIE_SECRET) -> str:
    """The replicas' shared cookie secret: read from `path`, or generated (256 bits) into it
    with owner-only permissions when absent."""
    if path.exists():
        secret = path.read_text().strip()
        if secret:
            return secret
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret


def find_nginx() -> str | None:
    """Path of the nginx binary (Debian installs it in /usr/sbin, often not on PATH)."""
    for name in NGINX_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def wait_healthy(base_url: str, timeout: float = 90.0,
                 procs: Sequence[subprocess.Popen] = ()) -> None:
    """Block until `base_url` answers ok on /_stcore/health, or raise with the reason
    (at once when one of `procs` has exited)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before "
                                   f"{base_url} was healthy")
        try:
            with urllib.request.urlopen(base_url + HEALTH, timeout=2) as r:
                if r.status == 200 and r.read().strip() == b"ok":
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.3)
    raise RuntimeError(f"{base_url}{HEALTH} did not answer ok within {timeout:.0f} s: {last}")


def start_replica(port: int, secret: str, script: str = "serve.py",
                  quiet: bool = True) -> subprocess.Popen:
    """One `streamlit run SCRIPT` on 127.0.0.1:`port` with the shared cookie secret."""
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    env[COOKIE_SECRET_ENV] = secret  # in the environment, not on a command line `ps` shows
    cmd = [sys.executable, "-m", "streamlit", "run", script,
           "--server.port", str(port), "--server.address", "127.0.0.1",
           "--server.headless", "true"]
    out = subprocess.DEVNULL if quiet else None
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=out)


@dataclass
class Cluster:
    """Running replicas behind nginx: the public URL, the replicas' ports and processes."""

    url: str
    ports: list[int]
    replicas: list[subprocess.Popen]
    nginx: subprocess.Popen
    prefix: Path

    @property
    def access_log(self) -> Path:
        """nginx's access log: one line per request with its affinity key and replica."""
        return self.prefix / "access.log"


def _stop(procs: Sequence[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextlib.contextmanager
def cluster(replicas: int, port: int, replica_ports: Sequence[int] | None = None,
            address: str = "127.0.0.1", prefix: Path | None = None,
            secret: str | None = None, quiet: bool = True) -> Iterator[Cluster]:
    """Start `replicas` app processes (on `replica_ports`, default port+1 ... port+N) and nginx
    on address:port in front of them; yield the Cluster once all answer on /_stcore/health;
    stop them all on exit."""
    if replicas < 1:
        raise ValueError(f"REPLICAS must be at least 1, got {replicas}")
    nginx_bin = find_nginx()
    if nginx_bin is None:
        raise RuntimeError("nginx is not installed: `make nginx` (apt-get install -y nginx)")
    ports = list(replica_ports or range(port + 1, port + 1 + replicas))
    if len(ports) != replicas:
        raise ValueError(f"{replicas} replicas need {replicas} ports, got {ports}")
    secret = secret or ensure_cookie_secret()
    own_prefix = prefix is None
    root = Path(tempfile.mkdtemp(prefix="b12-nginx-")) if own_prefix else Path(prefix)
    root.mkdir(parents=True, exist_ok=True)
    conf = root / "nginx.conf"
    listen = f"{address}:{port}"
    conf.write_text(render_nginx_conf(listen, ports, root))
    procs = [start_replica(p, secret, quiet=quiet) for p in ports]
    nginx: subprocess.Popen | None = None
    try:
        for p, proc in zip(ports, procs, strict=True):
            wait_healthy(f"http://127.0.0.1:{p}", procs=[proc])
        nginx = subprocess.Popen([nginx_bin, "-p", str(root), "-c", str(conf), "-e",
                                  str(root / "error.log")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        host = "127.0.0.1" if address in ("0.0.0.0", "::", "") else address
        url = f"http://{host}:{port}"
        try:
            wait_healthy(url, timeout=30, procs=[nginx])
        except RuntimeError as exc:
            log = root / "error.log"
            tail = log.read_text()[-600:] if log.exists() else ""
            raise RuntimeError(f"{exc}\nnginx error log {log}:\n{tail}") from None
        yield Cluster(url, ports, procs, nginx, root)
    finally:
        _stop(([nginx] if nginx is not None else []) + procs)
        if own_prefix:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """`make serve`: run until interrupted; print where the dashboard answers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--port", type=int, default=8501, help="nginx's port")
    parser.add_argument("--address", default="127.0.0.1", help="nginx's listen address")
    args = parser.parse_args(argv)
    if args.replicas < 1:
        parser.error(f"--replicas must be at least 1, got {args.replicas}")
    if find_nginx() is None:
        print("nginx is not installed: run `make nginx`", file=sys.stderr)
        return 1
    stop = {"now": False}

    def on_signal(signum, frame) -> None:  # noqa: ARG001 (signal handler signature)
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    prefix = ROOT / ".serve"
    try:
        with cluster(args.replicas, args.port, address=args.address, prefix=prefix,
                     quiet=False) as running:
            print(f"serving on http://{args.address}:{args.port}: nginx in front of "
                  f"{args.replicas} replicas on 127.0.0.1:{running.ports[0]}-{running.ports[-1]} "
                  f"(logs in {prefix})", flush=True)
            while not stop["now"]:
                dead = [p for p in running.replicas + [running.nginx] if p.poll() is not None]
                if dead:
                    print(f"{dead[0].args[0]} exited with {dead[0].returncode}; stopping",
                          file=sys.stderr)
                    return 1
                time.sleep(0.5)
    except (RuntimeError, ValueError) as exc:
        print(f"make serve: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
