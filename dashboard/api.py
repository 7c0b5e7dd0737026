"""The data API, a twin of every page with a table: ``/api/<page>.csv?<the page's query>``
returns exactly the table that page shows for that link, ``.json`` the same rows as records,
``.metadata.json`` what the table is (definition, filters, units, rows, data build, sources,
citation). A plain Starlette app (no streamlit), mounted by serve.py under ``/api``.

The query is read by state.check_query, the pages' own registry, but strictly: an unknown
or invalid parameter is answered 400 with a JSON body naming each one, never a default.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dashboard import aggregate, citation, data, model, schema, state, tables
from dashboard.data import DataError
from dashboard.format import table_bytes

PREFIX = "/api"  # where serve.py mounts it; the links it gives are under it
FORMATS: tuple[str, ...] = ("csv", "json", "metadata.json")
# Frames each page's table is built from (data.load_dataset names).
# Pages that read the prevalence model also need what it is fitted on (tables.fit_model).
_MODEL_FRAMES = ("studies", "countries", "diet_shares")
PAGE_FRAMES: dict[str, tuple[str, ...]] = {
    "overview": (*_MODEL_FRAMES, "population"),
    "explore": ("studies",),
    "evidence": ("studies",),
    "cutoffs": ("studies",),
    "burden": (*_MODEL_FRAMES, "population", "standard_populations"),
    "model": _MODEL_FRAMES,
    "profile": (*_MODEL_FRAMES, "population"),
    "methods": ("studies", "diet_shares", "standard_populations"),
}
if set(PAGE_FRAMES) != set(state.DATA_PAGES) or set(PAGE_FRAMES) - set(tables.TABLE_INFO):
    raise RuntimeError("api.PAGE_FRAMES, state.DATA_PAGES and tables.TABLE_INFO disagree")
CSV_TYPE = "text/csv; charset=utf-8"
log = logging.getLogger(__name__)


def _current_build() -> str:
    return data.build_id(data.load_manifest())


@functools.lru_cache(maxsize=2)
def _frames(build: str) -> dict[str, pd.DataFrame]:
    """Every bundled frame of one build, loaded (and verified) once per process."""
    del build
    names = sorted({n for names in PAGE_FRAMES.values() for n in names})
    return {name: data.load_dataset(name) for name in names}


@functools.lru_cache(maxsize=8)
def _fit(build: str, definition: str) -> model.Model:
    """The prevalence model of one fit (tables.model_definition), once per build."""
    return tables.fit_model(_frames(build), definition)


@functools.lru_cache(maxsize=128)
def _table(build: str, view: state.State) -> pd.DataFrame:
    """tables.page_table of a view, once per build and view (the Burden figures take a
    second), with the model fitted once per build and definition."""
    return tables.page_table(view.page, _frames(build), view,
                             fit=lambda d: _fit(build, tables.model_definition(d)))


def _query(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        out.setdefault(key, []).append(value)
    return out


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _root(request: Request) -> str:
    """The app root as this client called it (the API's own links)."""
    root = str(request.base_url).rstrip("/")
    mount = request.scope.get("root_path", "")
    return root[: -len(mount)] if mount and root.endswith(mount) else root


def _view_citation(view: state.State, build: str) -> citation.Citation:
    public = citation.public_url()
    return citation.make_citation(build, state.share_url(view, public) if public else None)


def _definition(view: state.State) -> dict[str, Any] | None:
    values = view.as_dict()
    if "def" not in values:
        return None
    d = schema.DEFINITIONS_BY_ID.get(values["def"])
    return {"id": values["def"], "label": aggregate.definition_label(values["def"]),
            "status": values.get("status"), "rationale": d.rationale if d else None}


def _sources(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    extra = [{"name": f"{author}: {title}", "citation": f"{author} ({year}). {title}.", "url": url}
             for author, year, title, url, _ in (citation.NATURAL_EARTH, citation.MODEL)]
    return [*manifest.get("sources", []), *extra]


def metadata(view: state.State, frame: pd.DataFrame, build: str, root: str,
             manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The ``.metadata.json`` of a view's table (also the sidecar of the pages' downloads)."""
    info = tables.TABLE_INFO[view.page]
    query = state.to_query(view, include_defaults=True)
    units = {c: info.units[c] for c in frame.columns if c in info.units}
    return {
        "page": view.page,
        "title": info.title,
        "row": info.row,
        "definition": _definition(view),
        "filters": query,
        "columns": [{"name": str(c), "dtype": str(frame[c].dtype), "unit": units.get(c)}
                    for c in frame.columns],
        "units": units,
        "intervals": "95% (confidence intervals for published and pooled estimates, "
                     "uncertainty intervals for modelled figures)",
        "rows": len(frame),
        **({"view_notes": dict(frame.attrs)} if frame.attrs else {}),
        "data_build": build,
        "schema_version": manifest.get("schema_version"),
        "sources": _sources(manifest),
        # Every publication, survey and reference table behind the figures, one row each.
        "bibliography": state.data_url(state.default_state("methods"), root, "csv"),
        "citation": _view_citation(view, build).as_dict(),
        "urls": {"view": state.share_url(view, root),
                 **{fmt: state.data_url(view, root, fmt) for fmt in FORMATS}},
    }


async def _serve(request: Request) -> Response:
    # "explore.metadata.json": the page is up to the first dot.
    page, _, fmt = request.path_params["name"].partition(".")
    if page not in state.DATA_PAGES:
        return _error(404, f"no data for page {page!r}", pages=list(state.DATA_PAGES))
    if fmt not in FORMATS:
        return _error(404, f"no format {fmt!r}", formats=list(FORMATS))
    try:
        build = await run_in_threadpool(_current_build)
        frames = await run_in_threadpool(_frames, build)
    except DataError as err:
        return _error(503, "the datasets could not be loaded", detail=str(err))
    choices = tables.page_choices(page, frames["studies"])
    view, problems = state.check_query(page, _query(request), choices)
    if not problems:
        problems = tables.view_problems(page, frames, view)
    if problems:
        return _error(400, "invalid query", page=page,
                      parameters=[{"name": k, "problem": v} for k, v in problems.items()],
                      help=f"{PREFIX}/ lists each page's parameters")
    try:
        frame = await run_in_threadpool(_table, build, view)
    except tables.ViewError as err:
        return _error(422, "this view cannot be computed", page=page, detail=str(err))
    root = _root(request)
    public = citation.public_url()
    headers = {"link": citation.link_header(state.share_url(view, public) if public else None,
                                            state.data_url(view, root, "metadata.json")),
               "x-data-build": build, "cache-control": "public, max-age=300"}
    if fmt == "csv":
        headers["content-disposition"] = f'inline; filename="b12-{page}.csv"'
        return Response(table_bytes(frame, "csv"), media_type=CSV_TYPE, headers=headers)
    if fmt == "json":
        body = frame.to_json(orient="records", date_format="iso", force_ascii=False)
        return Response(body, media_type="application/json", headers=headers)
    manifest = await run_in_threadpool(data.load_manifest)
    return JSONResponse(metadata(view, frame, build, root, manifest), headers=headers)


def index_document(root: str = "") -> dict[str, Any]:
    """``/api/``: the endpoints and each page's parameters (state.PARAMETERS)."""
    pages = {}
    for page in state.DATA_PAGES:
        pages[page] = {
            "title": tables.TABLE_INFO[page].title,
            **{fmt: f"{root}{PREFIX}/{page}.{fmt}" for fmt in FORMATS},
            "parameters": [{"name": p.name, "label": p.label,
                            "values": p.values or ", ".join(p.allowed),
                            "default": state.to_query(state.default_state(page),
                                                      include_defaults=True).get(p.name)}
                           for p in state.PAGE_PARAMS[page]],
        }
    return {"name": citation.PROJECT, "version": citation.project_metadata()["version"],
            "formats": list(FORMATS), "pages": pages,
            "errors": "400: invalid query (or a value the data cannot take), body names "
                      "each parameter; 404: unknown page or format; 422: a valid view the "
                      "model cannot compute"}


async def _index(request: Request) -> Response:
    return JSONResponse(index_document(_root(request)))


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Logged on the server; the client gets no traceback.
    log.exception("data API error on %s", request.url.path, exc_info=exc)
    return _error(500, "internal error")


def create_app() -> Starlette:
    """The API app: GET only, CORS open to every origin (read-only public data)."""
    return Starlette(
        routes=[Route("/", _index, methods=["GET"]),
                Route("/{name:str}", _serve, methods=["GET"])],
        middleware=[Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET"],
                               expose_headers=["Link", "X-Data-Build"])],
        exception_handlers={Exception: _internal_error},
    )


api = create_app()


def dumps(document: Mapping[str, Any]) -> str:
    """JSON as the sidecar files of the pages' downloads write it."""
    return json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"

