"""Replicas behind nginx (deploy/replicas.py): the rendered config, the shared cookie secret,
and two live replicas that serve browser sessions, each upload reaching its session's
replica."""

from __future__ import annotations

import re
import secrets
import stat
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest

from deploy import replicas
from tests import screenshots as driver
from tests.live_server import CHROMIUM, free_port

ROOT = Path(__file__).resolve().parent.parent
MICRODATA = ROOT / "tests" / "golden" / "survey_microdata.csv"
WAIT_MS = 60_000
MAX_BROWSERS = 12  # new browser contexts until both replicas have a session: 2^-11 to miss
LOG_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" (?P<status>\d{3}) \d+ '
                      r"key=(?P<key>\S*) upstream=(?P<upstream>.*)$")
NGINX = replicas.find_nginx()
needs_nginx = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed and could not be: `make nginx` installs "
    "Debian's nginx (apt-get install -y nginx), which make test runs first")


def test_config_names_every_replica_with_cookie_affinity_and_websocket_upgrade(tmp_path):
    conf = replicas.render_nginx_conf("127.0.0.1:8501", [8502, 8503, 8504], tmp_path)
    servers = re.findall(r"^\s*server (127\.0\.0\.1:\d+) ", conf, flags=re.M)
    assert servers == ["127.0.0.1:8502", "127.0.0.1:8503", "127.0.0.1:8504"]
    assert "hash $b12_replica consistent;" in conf
    assert "ip_hash" not in conf.split("upstream b12_replicas", 1)[1]
    assert "listen 127.0.0.1:8501;" in conf
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_set_header Host $http_host;" in conf
    assert f"pid {tmp_path.resolve()}/nginx.pid;" in conf
    assert "{{" not in conf


@pytest.mark.parametrize(("ports", "message"), [([], "at least one"), ([0], "1-65535"),
                                                ([8502, 70000], "1-65535")])
def test_config_refuses_bad_ports(tmp_path, ports, message):
    with pytest.raises(ValueError, match=message):
        replicas.render_nginx_conf("8501", ports, tmp_path)


@needs_nginx
def test_nginx_accepts_the_rendered_config(tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text(replicas.render_nginx_conf(f"127.0.0.1:{free_port()}", [free_port()],
                                               tmp_path))
    result = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(conf),
                             "-e", str(tmp_path / "error.log")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_cookie_secret_is_generated_once_owner_only(tmp_path):
    path = tmp_path / ".streamlit" / "cookie_secret"
    first = replicas.ensure_cookie_secret(path)
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert replicas.ensure_cookie_secret(path) == first


def test_cookie_secret_file_is_ignored_by_git():
    ignored = subprocess.run(["git", "check-ignore", "-q", str(replicas.COOKIE_SECRET)],
                             cwd=ROOT, timeout=30)
    assert ignored.returncode == 0


def test_make_serve_starts_the_replicas_behind_nginx():
    dry = subprocess.run(["make", "-n", "serve", "REPLICAS=3", "PORT=9000"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert "-m deploy.replicas --replicas 3 --port 9000 --address 127.0.0.1" in dry.stdout


def test_zero_replicas_is_refused_with_a_message():
    with pytest.raises(ValueError, match="at least 1"), replicas.cluster(0, free_port()):
        pass


def _log(path: Path) -> list[dict[str, str]]:
    rows = []
    for line in path.read_text().splitlines():
        match = LOG_LINE.search(line)
        if match:
            rows.append(match.groupdict())
    return rows


@pytest.mark.browser
@needs_nginx
def test_two_replicas_serve_sessions_and_each_upload_reaches_its_session():
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium`")
    external: list[str] = []  # what the pages tried to fetch beyond localhost
    port, ports = free_port(), [free_port(), free_port()]
    secret = secrets.token_hex(32)  # the test's own: the deployment's file is left alone
    with replicas.cluster(2, port, replica_ports=ports, secret=secret) as running, \
            playwright.sync_playwright() as pw:
        browser = driver.launch(pw)
        try:
            # A new browser context is a new viewer: no cookie, so nginx picks its replica.
            by_replica: dict[str, object] = {}
            for _ in range(MAX_BROWSERS):
                context = driver.offline_context(browser, blocked=external)
                page = context.new_page()
                page.set_default_timeout(WAIT_MS)
                page.goto(f"{running.url}/your-data")
                page.get_by_text("Upload a file to begin").wait_for()
                key = next(c["value"] for c in context.cookies() if c["name"] == "b12_replica")
                upstream = next(r["upstream"] for r in _log(running.access_log)
                                if r["key"] == key)
                by_replica.setdefault(upstream, page)
                if len(by_replica) == 2:
                    break
            assert sorted(by_replica) == sorted(f"127.0.0.1:{p}" for p in ports)
            # One upload per replica, each read by the session it was sent from.
            for page in by_replica.values():
                page.locator("input[type=file]").set_input_files(str(MICRODATA))
                page.get_by_role("button", name="Confirm mapping").click()
                page.get_by_role("heading",
                                 name="Prevalence of Serum B12 < 148 pmol/L").wait_for()
        finally:
            browser.close()
        # A websocket's line is written when it closes (the browser has closed).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            rows = _log(running.access_log)
            if sum(r["path"] == "/_stcore/stream" for r in rows) >= 2:
                break
            time.sleep(0.2)

    uploads = [r for r in rows if r["path"].startswith("/_stcore/upload_file/")]
    assert len(uploads) >= 2, rows
    assert all(r["status"] in ("200", "204") for r in uploads), uploads
    served: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        served[r["key"]].add(r["upstream"])
    for r in uploads:  # the upload, its session's websocket and its page: one replica
        assert served[r["key"]] == {r["upstream"]}, (r, served[r["key"]])
    streams = {r["upstream"] for r in rows if r["path"] == "/_stcore/stream"}
    assert streams == {f"127.0.0.1:{p}" for p in ports}
    assert external == [], external


def test_kubernetes_manifest_matches_the_nginx_setup():
    manifest = (ROOT / "deploy" / "kubernetes.yaml").read_text()
    config = (ROOT / ".streamlit" / "config.toml").read_text()
    upload_mb = re.search(r"^maxUploadSize = (\d+)", config, flags=re.M).group(1)
    assert 'nginx.ingress.kubernetes.io/affinity: "cookie"' in manifest
    assert 'session-cookie-name: "b12_replica"' in manifest
    assert f'proxy-body-size: "{upload_mb}m"' in manifest
    assert f"client_max_body_size {upload_mb}m;" in replicas.TEMPLATE.read_text()
    assert manifest.count("path: /_stcore/health") == 2  # readiness and liveness
    assert f"name: {replicas.COOKIE_SECRET_ENV}" in manifest
