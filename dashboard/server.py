"""What the deployed server adds around Streamlit: security headers, a closed metrics
endpoint and memory given back after sessions end (pure ASGI; no streamlit import)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import os
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Environment settings of a deployment (README, Deployment).
FRAME_ANCESTORS_ENV = "B12_FRAME_ANCESTORS"  # who may embed the dashboard in a frame
METRICS_ENV = "B12_METRICS"  # "1" opens Streamlit's /_stcore/metrics
DEFAULT_FRAME_ANCESTORS = "'self'"
METRICS_PATH = "/_stcore/metrics"
# Referrer-Policy same-origin: a link out (DOI, PubMed) does not carry the view's URL, with
# its filters and file fingerprint, to another site.
REFERRER_POLICY = "same-origin"
# Seconds between returns of freed memory to the system, matching
# server.disconnectedSessionTTL in .streamlit/config.toml: a closed tab's upload is released
# within two periods.
RELEASE_SECONDS = 30


def security_headers(frame_ancestors: str = DEFAULT_FRAME_ANCESTORS) -> list[tuple[str, str]]:
    """The headers every HTTP response carries (CSP frame-ancestors; X-Frame-Options for
    browsers without CSP when the policy is 'self' or 'none'; nosniff; Referrer-Policy)."""
    headers = [
        ("content-security-policy", f"frame-ancestors {frame_ancestors}"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", REFERRER_POLICY),
    ]
    legacy = {"'self'": "SAMEORIGIN", "'none'": "DENY"}.get(frame_ancestors.strip())
    if legacy:
        headers.append(("x-frame-options", legacy))
    return headers


class SecurityHeaders:
    """ASGI middleware: adds security_headers() to every HTTP response and answers 404 on
    the metrics endpoint unless it is opened. WebSocket traffic passes untouched."""

    def __init__(self, app: ASGIApp, frame_ancestors: str | None = None,
                 metrics: bool | None = None) -> None:
        self.app = app
        ancestors = frame_ancestors or os.environ.get(FRAME_ANCESTORS_ENV, "").strip()
        self.headers = [(k.encode(), v.encode())
                        for k, v in security_headers(ancestors or DEFAULT_FRAME_ANCESTORS)]
        self.metrics = os.environ.get(METRICS_ENV) == "1" if metrics is None else metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.metrics and scope.get("path", "").rstrip("/").endswith(METRICS_PATH):
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"text/plain"), *self.headers]})
            await send({"type": "http.response.body", "body": b"Not found"})
            return
        # The app's own framing header gives way to the configured policy.
        names = {k for k, _ in self.headers} | {b"x-frame-options"}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = [*kept, *self.headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def release_memory() -> None:
    """Collect garbage and hand freed heap back to the system (glibc malloc_trim, pyarrow's
    pool): without it a process keeps the peak of a closed session's upload."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with contextlib.suppress(ImportError):
        import pyarrow as pa

        pa.default_memory_pool().release_unused()


@contextlib.asynccontextmanager
async def memory_release_lifespan(app: object) -> AsyncIterator[None]:
    """st.App lifespan: release_memory every RELEASE_SECONDS while the server runs."""
    del app

    async def loop() -> None:
        while True:
            await asyncio.sleep(RELEASE_SECONDS)
            await asyncio.to_thread(release_memory)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
