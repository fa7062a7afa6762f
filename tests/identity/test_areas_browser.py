"""SP.map (web/static/js/maps.js) in headless Chromium: without a tile server it draws the district
outlines from /api/v1/areas; with one it adds the tile layer and no outline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from smartprovince import identity
from smartprovince.app import create_app
from smartprovince.core.db import Database
from smartprovince.core.security import SYSTEM
from smartprovince.settings import Settings

MAP_PAGE_SCRIPT = """
async () => {
  await new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = "/static/vendor/leaflet/leaflet.js";
    s.onload = resolve; s.onerror = reject;
    document.head.appendChild(s);
  });
  const css = document.createElement("link");
  css.rel = "stylesheet"; css.href = "/static/vendor/leaflet/leaflet.css";
  document.head.appendChild(css);
  document.querySelector("main").innerHTML = '<div id="m" style="height:560px"></div>';
  const map = SP.map("m");
  const layer = await map.spOutlines;
  const communes = await SP.areas("level=commune");
  L.geoJSON(communes, {style: () => ({color: "#c0392b", weight: 0.6, fill: false})}).addTo(map);
  return {tiles: SP.mapTileUrl, outlines: layer ? layer.getLayers().length : 0,
          communes: communes.features.length,
          tileLayers: document.querySelectorAll("#m .leaflet-tile-container").length};
}
"""


@pytest.fixture
def hai_duong(database: Database) -> Database:
    with database.session() as s:
        identity.load_organisations(s, "hai-duong", actor=SYSTEM)
    return database


def _app(settings: Settings, database: Database, tile_url: str) -> Any:
    return create_app(settings.model_copy(update={"map_tile_url": tile_url}), db=database)


def test_map_without_tiles_draws_the_district_outlines(
    page: Any, serve: Any, settings: Settings, hai_duong: Database, shots: Path
) -> None:
    base = serve(_app(settings, hai_duong, ""))
    page.goto(base + "/")
    result = page.evaluate(MAP_PAGE_SCRIPT)
    assert result == {"tiles": "", "outlines": 12, "communes": 207, "tileLayers": 0}
    labels = page.locator("#m .sp-area-label").all_inner_texts()
    assert "Huyện Cẩm Giàng" in labels and len(labels) == 12
    page.locator("#m").screenshot(path=str(shots / "areas-map-no-tiles.png"))


def test_map_with_a_tile_server_adds_tiles_and_no_outline(
    page: Any, serve: Any, settings: Settings, hai_duong: Database
) -> None:
    tiles: list[str] = []
    # No network in tests: answer every tile request locally and count them.
    page.route("http://tiles.invalid/**", lambda route: (tiles.append(route.request.url), route.fulfill(status=204)))
    base = serve(_app(settings, hai_duong, "http://tiles.invalid/{z}/{x}/{y}.png"))
    page.goto(base + "/")
    result = page.evaluate(MAP_PAGE_SCRIPT)
    assert result["tiles"] == "http://tiles.invalid/{z}/{x}/{y}.png"
    assert result["outlines"] == 0 and result["tileLayers"] == 1
    page.wait_for_timeout(300)
    assert tiles, "the map asked the configured tile server for tiles"


DRILL_SCRIPT = """
async () => {
  await new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = "/static/vendor/leaflet/leaflet.js";
    s.onload = resolve; s.onerror = reject;
    document.head.appendChild(s);
  });
  const css = document.createElement("link");
  css.rel = "stylesheet"; css.href = "/static/vendor/leaflet/leaflet.css";
  document.head.appendChild(css);
  document.querySelector("main").innerHTML = '<div id="m" style="height:560px"></div>';
  const clicked = [];
  const map = SP.map("m", {drill: true, onArea: (p) => clicked.push(p.name)});
  const layer = await map.spOutlines;
  const district = layer.getLayers().find((l) => l.feature.properties.code === "295");
  district.fire("click");
  const communes = await map.spDrill(district.feature.properties.id);
  await new Promise((r) => setTimeout(r, 400));
  window.spTestMap = map;
  return {clicked, names: communes.getLayers().map((l) => l.feature.properties.name), zoom: map.getZoom()};
}
"""

BACK_SCRIPT = """
async () => {
  await window.spTestMap.spShowProvince();
  await new Promise((r) => setTimeout(r, 400));
  return window.spTestMap.getZoom();
}
"""


def test_drill_down_from_a_district_to_its_communes(
    page: Any, serve: Any, settings: Settings, hai_duong: Database, shots: Path
) -> None:
    base = serve(_app(settings, hai_duong, ""))
    page.goto(base + "/")
    result = page.evaluate(DRILL_SCRIPT)
    assert result["clicked"] == ["Huyện Cẩm Giàng"]
    assert "Thị trấn Lai Cách" in result["names"] and len(result["names"]) == 15
    page.locator("#m").screenshot(path=str(shots / "areas-map-drill-cam-giang.png"))
    assert page.evaluate(BACK_SCRIPT) < result["zoom"]
