"""The shipped world map: TopoJSON -> GeoJSON conversion and loading of data/geo/."""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pycountry

from dashboard import schema

GEO_DIR = schema.DATA_DIR / "geo"
WORLD_GEOJSON = GEO_DIR / "countries-110m.geojson"
# The file inside the world-atlas npm tarball (Natural Earth 1:110m Admin 0 countries).
WORLD_ATLAS_MEMBER = "package/countries-110m.json"
# Decimal places kept: 0.001 degree is about 100 m, far below the 1:110m generalisation.
PRECISION = 3

# Natural Earth units without an ISO 3166-1 numeric code, by their world-atlas name: Kosovo
# takes XKX, the user-assigned code the European Commission, World Bank and UN WPP use;
# Northern Cyprus and Somaliland take their Natural Earth ADM0_A3 codes, which no data
# source of this product uses (their areas are drawn but never coloured).
UNCODED_UNITS: dict[str, str] = {"Kosovo": "XKX", "N. Cyprus": "CYN", "Somaliland": "SOL"}


# --- TopoJSON decoding (Bostock, TopoJSON Format Specification 1.0) -----------------------------


def _decode_arcs(topology: dict[str, Any]) -> list[list[tuple[float, float]]]:
    """Absolute positions of every arc: undo delta encoding and the quantization transform."""
    transform = topology.get("transform")
    arcs = []
    for arc in topology["arcs"]:
        if transform is None:
            arcs.append([(float(p[0]), float(p[1])) for p in arc])
            continue
        (sx, sy), (tx, ty) = transform["scale"], transform["translate"]
        x = y = 0
        points = []
        for p in arc:
            x += p[0]
            y += p[1]
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def _ring(indices: Sequence[int], arcs: list[list[tuple[float, float]]]) -> list[tuple]:
    """A ring from arc indices; ~i (negative) walks arc i backwards; shared ends kept once."""
    points: list[tuple[float, float]] = []
    for index in indices:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc if not points else arc[1:])
    return points


def _rounded_ring(points: list[tuple], precision: int) -> list[list[float]] | None:
    """Ring with coordinates rounded and repeated points dropped; None when it collapses."""
    out: list[list[float]] = []
    for x, y in points:
        p = [round(x, precision), round(y, precision)]
        if not out or p != out[-1]:
            out.append(p)
    if len(out) >= 2 and out[0] == out[-1]:
        out.pop()
    if len(out) < 3:
        return None
    return [*out, out[0]]


def _polygon(rings: Sequence[Sequence[int]], arcs, precision: int) -> list | None:
    decoded = [_rounded_ring(_ring(r, arcs), precision) for r in rings]
    if not decoded or decoded[0] is None:
        return None  # the exterior collapsed: the whole polygon is below the precision
    return [r for r in decoded if r is not None]


def _geometry(obj: dict[str, Any], arcs, precision: int) -> dict[str, Any] | None:
    kind = obj.get("type")
    if kind == "Polygon":
        polygon = _polygon(obj["arcs"], arcs, precision)
        return None if polygon is None else {"type": "Polygon", "coordinates": polygon}
    if kind == "MultiPolygon":
        polygons = [p for p in (_polygon(r, arcs, precision) for r in obj["arcs"]) if p]
        if not polygons:
            return None
        if len(polygons) == 1:
            return {"type": "Polygon", "coordinates": polygons[0]}
        return {"type": "MultiPolygon", "coordinates": polygons}
    if kind is None:
        return None
    raise ValueError(f"unsupported TopoJSON geometry type {kind!r} (only polygons are mapped)")


def topojson_to_geojson(
    topology: dict[str, Any], object_name: str = "countries", precision: int = PRECISION
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of one TopoJSON object, coordinates rounded.

    Ring orientation is kept as in the topology: world-atlas follows d3-geo's spherical
    convention (exterior rings clockwise), which plotly's geo subplots also use; "rewinding"
    to RFC 7946 order would make each country cover the rest of the globe. Each feature keeps
    the object's ``id`` and ``properties``. Geometries that collapse at this precision are
    dropped. Raises ValueError on input that is not a topology holding ``object_name``.
    """
    if not isinstance(topology, dict) or topology.get("type") != "Topology":
        raise ValueError("not a TopoJSON topology (type must be 'Topology')")
    objects = topology.get("objects", {})
    if object_name not in objects:
        raise ValueError(
            f"topology has no object {object_name!r} (it has {', '.join(objects) or 'none'})"
        )
    arcs = _decode_arcs(topology)
    collection = objects[object_name]
    members = collection.get("geometries", [collection])
    features = []
    for obj in members:
        geometry = _geometry(obj, arcs, precision)
        if geometry is None:
            continue
        feature: dict[str, Any] = {"type": "Feature"}
        if "id" in obj:
            feature["id"] = obj["id"]
        feature["properties"] = dict(obj.get("properties", {}))
        feature["geometry"] = geometry
        features.append(feature)
    return {"type": "FeatureCollection", "features": features}


def assign_iso3(collection: dict[str, Any]) -> dict[str, Any]:
    """The collection with ``properties.iso3`` (and ``name``) on every feature, ids as ISO3.

    Numeric ISO 3166-1 ids map through pycountry; units without one through
    ``UNCODED_UNITS``. A feature that maps to nothing is an error naming it.
    """
    features, unknown = [], []
    for feature in collection["features"]:
        props = dict(feature.get("properties", {}))
        name = props.get("name", "")
        numeric = feature.get("id")
        country = pycountry.countries.get(numeric=str(numeric)) if numeric else None
        iso3 = country.alpha_3 if country is not None else UNCODED_UNITS.get(name)
        if iso3 is None:
            unknown.append(f"{name or '?'} (id {numeric!r})")
            continue
        features.append({
            "type": "Feature",
            "id": iso3,
            "properties": {"iso3": iso3, "name": name},
            "geometry": feature["geometry"],
        })
    if unknown:
        raise ValueError(f"no ISO3 code for: {', '.join(unknown)}")
    features.sort(key=lambda f: f["id"])
    return {"type": "FeatureCollection", "features": features}


def dumps(collection: dict[str, Any]) -> str:
    """Compact, deterministic GeoJSON text with one feature per line (readable diffs)."""
    lines = [json.dumps(f, separators=(",", ":"), ensure_ascii=False)
             for f in collection["features"]]
    return '{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n"


def bounds(collection: dict[str, Any]) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) over every coordinate."""
    xs: list[float] = []
    ys: list[float] = []

    def walk(coords: Any) -> None:
        if coords and isinstance(coords[0], (int, float)):
            xs.append(coords[0])
            ys.append(coords[1])
        else:
            for c in coords:
                walk(c)

    for f in collection["features"]:
        walk(f["geometry"]["coordinates"])
    if not xs:
        return (math.nan,) * 4  # type: ignore[return-value]
    return min(xs), min(ys), max(xs), max(ys)


# --- the shipped file --------------------------------------------------------------------------


def load_world(path: Path = WORLD_GEOJSON) -> dict[str, Any]:
    """The committed world GeoJSON (cache it in the caller; about 0.5 MB parsed)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"world map geometry missing: {path} (regenerate with "
            "`python -m dashboard.geo <world-atlas-2.0.2.tgz>`, see data/geo/README.md)"
        ) from None
    try:
        collection = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"world map geometry {path} is not valid JSON: {exc}") from None
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise ValueError(f"world map geometry {path} is not a GeoJSON FeatureCollection")
    missing = [i for i, f in enumerate(collection.get("features", []))
               if not f.get("properties", {}).get("iso3")]
    if missing:
        raise ValueError(f"world map geometry {path}: features {missing[:5]} have no iso3")
    return collection


def build_world(tarball: Path, out: Path = WORLD_GEOJSON) -> dict[str, Any]:
    """Regenerate the shipped GeoJSON from a world-atlas npm tarball (`npm pack world-atlas`)."""
    with tarfile.open(tarball, "r:gz") as archive:
        try:
            member = archive.extractfile(WORLD_ATLAS_MEMBER)
        except KeyError:
            member = None
        if member is None:
            raise ValueError(f"{tarball} has no {WORLD_ATLAS_MEMBER}: is it world-atlas 2?")
        topology = json.load(io.TextIOWrapper(member, encoding="utf-8"))
    collection = assign_iso3(topojson_to_geojson(topology, "countries", PRECISION))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(dumps(collection), encoding="utf-8")
    tmp.replace(out)  # atomic: a reader never sees half a file
    return collection


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dashboard.geo", description=build_world.__doc__
    )
    parser.add_argument("tarball", type=Path, help="world-atlas-2.0.2.tgz from `npm pack`")
    parser.add_argument("--out", type=Path, default=WORLD_GEOJSON)
    args = parser.parse_args(argv)
    collection = build_world(args.tarball, args.out)
    size = args.out.stat().st_size
    print(f"wrote {args.out}: {len(collection['features'])} features, {size / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
