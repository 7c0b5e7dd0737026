"""The dashboard as served (`make run`, `streamlit run serve.py`): app.py inside an st.App
with the deployment's middleware, and the place where further routes are mounted.

Routes go in ROUTES, e.g. a data API: ``Mount("/api", app=api)``. Streamlit refuses paths
under its own prefixes (/_stcore/, /media/, /component/). MIDDLEWARE wraps every route.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount

from dashboard.api import api
from dashboard.server import SecurityHeaders, memory_release_lifespan

APP = Path(__file__).resolve().parent / "app.py"
# The data API (dashboard/api.py): /api/<page>.csv|.json|.metadata.json?<the page's query>.
ROUTES: list[BaseRoute] = [Mount("/api", app=api)]
MIDDLEWARE: list[Middleware] = [Middleware(SecurityHeaders)]

app = st.App(APP, routes=ROUTES, middleware=MIDDLEWARE, lifespan=memory_release_lifespan)

if __name__ == "__main__":
    app.run()
