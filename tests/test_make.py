"""`make run` serves the dashboard: the README's first command answers on its health endpoint."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import urllib.request

import pytest

from tests.live_server import ROOT, free_port, wait_healthy


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_serves_the_app() -> None:
    port = free_port()
    # The venv and data exist already (make test made them), so this exercises the run recipe.
    proc = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, timeout=90)
        with urllib.request.urlopen(f"{base}/_stcore/health", timeout=5) as r:
            assert r.read().strip() == b"ok"
        with urllib.request.urlopen(f"{base}/", timeout=5) as r:
            assert r.status == 200
            # serve.py's middleware: make run serves the hardened st.App, on 127.0.0.1 by
            # default (the URL above answers without any address setting).
            assert r.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
