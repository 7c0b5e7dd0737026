"""serve.py: the dashboard behind security headers, with metrics closed (a live server)."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from dashboard import server
from tests.live_server import streamlit_server

EXPECTED = {
    "Content-Security-Policy": "frame-ancestors 'self'",
    "X-Frame-Options": "SAMEORIGIN",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with streamlit_server("serve.py") as url:
        yield url


@pytest.mark.parametrize("path", ["/", "/_stcore/health", "/explore", "/static/nope.js"])
def test_every_response_carries_the_security_headers(base, path):
    try:
        response = urllib.request.urlopen(f"{base}{path}", timeout=10)
    except urllib.error.HTTPError as err:  # a 404 carries them too
        response = err
    with response:
        for name, value in EXPECTED.items():
            assert response.headers[name] == value, name


def test_the_app_is_served(base):
    with urllib.request.urlopen(f"{base}/_stcore/health", timeout=10) as r:
        assert r.read().strip() == b"ok"
    with urllib.request.urlopen(f"{base}/", timeout=10) as r:
        assert r.status == 200
        assert b"<div id=\"root\">" in r.read()


def test_metrics_are_closed(base):
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{base}/_stcore/metrics", timeout=10)
    assert info.value.code == 404


async def _call(middleware: server.SecurityHeaders, path: str) -> list[dict]:
    sent: list[dict] = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"x-frame-options", b"ALLOWALL")]})
        await send({"type": "http.response.body", "body": b"metrics"})

    async def receive():
        return {"type": "http.request"}

    async def send(message):
        sent.append(message)

    middleware.app = app
    await middleware({"type": "http", "path": path}, receive, send)
    return sent


def test_frame_ancestors_are_configurable_and_metrics_can_be_opened():
    middleware = server.SecurityHeaders(None, frame_ancestors="https://intranet.example",
                                        metrics=True)
    start, body = asyncio.run(_call(middleware, "/_stcore/metrics"))
    headers = dict(start["headers"])
    assert headers[b"content-security-policy"] == b"frame-ancestors https://intranet.example"
    # X-Frame-Options cannot name an origin list, and the app's own value is replaced.
    assert b"x-frame-options" not in headers
    assert body["body"] == b"metrics"


def test_frame_ancestors_from_the_environment(monkeypatch):
    monkeypatch.setenv(server.FRAME_ANCESTORS_ENV, "'none'")
    start, _ = asyncio.run(_call(server.SecurityHeaders(None), "/"))
    headers = dict(start["headers"])
    assert headers[b"content-security-policy"] == b"frame-ancestors 'none'"
    assert headers[b"x-frame-options"] == b"DENY"


def test_config_turns_the_file_watcher_off_and_matches_the_session_ttl():
    import tomllib

    from tests.live_server import ROOT

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert config["fileWatcherType"] == "none"
    assert config["disconnectedSessionTTL"] == server.RELEASE_SECONDS


def test_the_data_api_is_served_with_cors_on_api_only(base):
    request = urllib.request.Request(f"{base}/api/explore.csv?diet=vegan",
                                     headers={"Origin": "https://elsewhere.example"})
    with urllib.request.urlopen(request, timeout=30) as r:
        assert r.headers["Content-Type"].startswith("text/csv")
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert 'rel="describedby"' in r.headers["Link"]
        assert r.read().startswith(b"row_id,study_id,")
    page = urllib.request.Request(f"{base}/explore",
                                  headers={"Origin": "https://elsewhere.example"})
    with urllib.request.urlopen(page, timeout=10) as r:
        assert "Access-Control-Allow-Origin" not in r.headers
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{base}/api/explore.csv?diet=bogus", timeout=10)
    assert info.value.code == 400
    assert b'"name":"diet"' in info.value.read()
    with urllib.request.urlopen(f"{base}/api/explore.metadata.json", timeout=10) as r:
        assert b'"urls"' in r.read()
