"""World map geometry: TopoJSON decoding on a tiny topology, ISO3 codes, the shipped file."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pycountry
import pytest

from dashboard import geo

# A 1 x 1 degree square at (10, 20) from two arcs, quantized with scale (0.5, 0.25) and
# translate (10, 20). Arc 0 deltas (0,0),(2,0),(0,4) -> cumulative (0,0),(2,0),(2,4) ->
# lon = x*0.5+10, lat = y*0.25+20 -> (10,20),(11,20),(11,21). Arc 1 deltas (2,4),(-2,0),(0,-4)
# -> (2,4),(0,4),(0,0) -> (11,21),(10,21),(10,20).
TOPOLOGY = {
    "type": "Topology",
    "transform": {"scale": [0.5, 0.25], "translate": [10, 20]},
    "arcs": [[[0, 0], [2, 0], [0, 4]], [[2, 4], [-2, 0], [0, -4]]],
    "objects": {
        "countries": {
            "type": "GeometryCollection",
            "geometries": [
                {"type": "Polygon", "id": "250", "properties": {"name": "France"},
                 "arcs": [[0, 1]]},
                # ~0 = -1 walks arc 0 backwards, ~1 = -2 arc 1 backwards
                {"type": "Polygon", "id": "276", "properties": {"name": "Germany"},
                 "arcs": [[-1, -2]]},
                {"type": "MultiPolygon", "properties": {"name": "Kosovo"},
                 "arcs": [[[0, 1]], [[-1, -2]]]},
                {"type": None, "id": "999", "properties": {"name": "No geometry"}},
            ],
        }
    },
}
SQUARE = [[10.0, 20.0], [11.0, 20.0], [11.0, 21.0], [10.0, 21.0], [10.0, 20.0]]
SQUARE_REVERSED = [[11.0, 21.0], [11.0, 20.0], [10.0, 20.0], [10.0, 21.0], [11.0, 21.0]]


def test_topojson_to_geojson_decodes_arcs():
    fc = geo.topojson_to_geojson(TOPOLOGY)
    assert [f.get("id") for f in fc["features"]] == ["250", "276", None]  # no-geometry dropped
    france, germany, kosovo = fc["features"]
    assert france == {"type": "Feature", "id": "250", "properties": {"name": "France"},
                      "geometry": {"type": "Polygon", "coordinates": [SQUARE]}}
    # orientation is kept, not rewound
    assert germany["geometry"]["coordinates"] == [SQUARE_REVERSED]
    assert kosovo["geometry"] == {"type": "MultiPolygon",
                                  "coordinates": [[SQUARE], [SQUARE_REVERSED]]}


def test_untransformed_topology_and_rounding():
    topo = {
        "type": "Topology",
        "arcs": [[[0.12344, 0.0], [1.0, 0.0], [1.0, 1.00049], [0.0, 1.0], [0.12344, 0.0]]],
        "objects": {"x": {"type": "Polygon", "arcs": [[0]]}},
    }
    fc = geo.topojson_to_geojson(topo, "x", precision=3)
    assert fc["features"][0]["geometry"]["coordinates"] == [
        [[0.123, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.123, 0.0]]
    ]


def test_rings_that_collapse_are_dropped():
    # the whole square is 1 x 1 degree; at 0 decimals it stays, at -1 (tens) it collapses
    assert geo.topojson_to_geojson(TOPOLOGY, precision=0)["features"][0]["geometry"][
        "coordinates"] == [SQUARE]
    assert geo.topojson_to_geojson(TOPOLOGY, precision=-1)["features"] == []


@pytest.mark.parametrize(
    ("topology", "object_name", "message"),
    [
        ({"type": "FeatureCollection"}, "countries", "not a TopoJSON topology"),
        ([], "countries", "not a TopoJSON topology"),
        ({"type": "Topology", "arcs": [], "objects": {"land": {}}}, "countries",
         "no object 'countries' \\(it has land\\)"),
        ({"type": "Topology", "arcs": [[[0, 0], [1, 1]]],
          "objects": {"c": {"type": "LineString", "arcs": [0]}}}, "c",
         "unsupported TopoJSON geometry type 'LineString'"),
    ],
)
def test_bad_topology_is_a_clear_error(topology, object_name, message):
    with pytest.raises(ValueError, match=message):
        geo.topojson_to_geojson(topology, object_name)


def test_assign_iso3_maps_numeric_and_uncoded_units():
    fc = geo.assign_iso3(geo.topojson_to_geojson(TOPOLOGY))
    assert [(f["id"], f["properties"]) for f in fc["features"]] == [
        ("DEU", {"iso3": "DEU", "name": "Germany"}),
        ("FRA", {"iso3": "FRA", "name": "France"}),
        ("XKX", {"iso3": "XKX", "name": "Kosovo"}),
    ]


def test_assign_iso3_names_what_it_cannot_map():
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "999", "properties": {"name": "Atlantis"}, "geometry": {}},
    ]}
    with pytest.raises(ValueError, match=r"no ISO3 code for: Atlantis \(id '999'\)"):
        geo.assign_iso3(fc)


def _tarball(path: Path, topology: dict, member: str = geo.WORLD_ATLAS_MEMBER) -> Path:
    data = json.dumps(topology).encode()
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return path


def test_build_world_and_load_world_round_trip(tmp_path):
    tgz = _tarball(tmp_path / "world-atlas.tgz", TOPOLOGY)
    out = tmp_path / "geo" / "world.geojson"
    assert geo.main([str(tgz), "--out", str(out)]) == 0
    text = out.read_text()
    assert text.count("\n") == 1 + 3 + 1  # header line, 3 feature lines, closing line
    loaded = geo.load_world(out)
    assert [f["id"] for f in loaded["features"]] == ["DEU", "FRA", "XKX"]
    assert geo.dumps(loaded) == text
    # deterministic: a second build writes the same bytes
    geo.build_world(tgz, out)
    assert out.read_text() == text


def test_build_world_refuses_another_tarball(tmp_path):
    tgz = _tarball(tmp_path / "other.tgz", TOPOLOGY, member="package/land-110m.json")
    with pytest.raises(ValueError, match="has no package/countries-110m.json"):
        geo.build_world(tgz, tmp_path / "x.geojson")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "world map geometry missing"),
        ("{not json", "is not valid JSON"),
        ('{"type": "Topology"}', "is not a GeoJSON FeatureCollection"),
        ('{"type": "FeatureCollection", "features": [{"properties": {}}]}', "have no iso3"),
    ],
)
def test_load_world_errors(tmp_path, content, message):
    path = tmp_path / "world.geojson"
    if content is not None:
        path.write_text(content)
    with pytest.raises((FileNotFoundError, ValueError), match=message):
        geo.load_world(path)


# --- the shipped file --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world():
    return geo.load_world()


def test_shipped_world_is_small_complete_and_canonical(world):
    assert geo.WORLD_GEOJSON.stat().st_size < 1_000_000
    ids = [f["id"] for f in world["features"]]
    assert len(ids) == 177  # Natural Earth 1:110m Admin 0 units in world-atlas 2.0.2
    assert ids == sorted(set(ids))
    for iso3 in ids:
        assert pycountry.countries.get(alpha_3=iso3) or iso3 in geo.UNCODED_UNITS.values()
    assert {"USA", "IND", "BRA", "DEU", "NGA", "AUS", "FJI", "RUS"} <= set(ids)
    lon_min, lat_min, lon_max, lat_max = geo.bounds(world)
    assert -180 <= lon_min < lon_max <= 180
    assert -90 <= lat_min < lat_max <= 90
    assert geo.dumps(world) == geo.WORLD_GEOJSON.read_text(encoding="utf-8")


def test_shipped_world_keeps_d3_winding(world):
    """Exterior rings clockwise in lon/lat (d3-geo), i.e. negative shoelace area."""

    def signed_area(ring):
        return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False))

    germany = next(f for f in world["features"] if f["id"] == "DEU")
    assert signed_area(germany["geometry"]["coordinates"][0]) < 0
