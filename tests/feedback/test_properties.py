"""Property tests (hypothesis): the report lifecycle as a state machine, routing, deadlines, distances."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartprovince.core.errors import Conflict
from smartprovince.feedback import categories, lifecycle, service

ACTIONS = list(lifecycle.TRANSITIONS)


@given(st.lists(st.sampled_from(ACTIONS), max_size=30))
def test_lifecycle_never_leaves_the_known_statuses(actions: list[str]) -> None:
    status = "submitted"
    resolved_once = False
    for action in actions:
        try:
            after = lifecycle.next_status(status, action)
        except Conflict:
            assert status not in lifecycle.TRANSITIONS[action][0]
            continue
        assert after in lifecycle.STATUSES
        if after == "resolved":
            resolved_once = True
        # closing needs a resolution first; a rating or reopening needs one too
        if action in ("rate", "reopen", "close"):
            assert resolved_once
        status = after


@given(st.sampled_from(lifecycle.STATUSES), st.sampled_from(ACTIONS))
def test_open311_status_is_open_or_closed(status: str, action: str) -> None:
    assert lifecycle.open311_status(status) in ("open", "closed")
    assert (lifecycle.open311_status(status) == "closed") == (status in lifecycle.DONE_STATUSES)


@given(st.floats(-80, 80), st.floats(-179, 179), st.floats(-80, 80), st.floats(-179, 179))
def test_distance_is_symmetric_and_non_negative(a: float, b: float, c: float, d: float) -> None:
    x, y = service.distance_m(a, b, c, d), service.distance_m(c, d, a, b)
    assert x >= 0 and abs(x - y) < 1e-6 * max(1.0, x)
    assert service.distance_m(a, b, a, b) == pytest.approx(0, abs=1e-6)


@given(st.sampled_from([c.code for c in categories.all_categories()]),
       st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 1), timezones=st.just(UTC)))
@settings(max_examples=60, deadline=None)
def test_deadline_is_after_receipt_and_within_bounds(code: str, start: datetime) -> None:
    cat = categories.get_category(code)
    assert cat is not None
    due = service.due_at_for(cat, start)
    assert due > start
    if cat.sla_hours is not None:
        assert due - start == timedelta(hours=cat.sla_hours)
    else:
        # n working days never take more than n weeks plus the longest holiday (Tết, ~9 days)
        assert due - start <= timedelta(days=7 * (cat.sla_working_days or 0) + 12)


@pytest.fixture
def routed(database: Any, orgs: Any) -> Any:
    def _route(code: str, area: str | None) -> str:
        from smartprovince import identity

        with database.session() as s:
            org = identity.get_org_by_code(s, area) if area else None
            cat = categories.get_category(code)
            assert cat is not None
            return str(service.route(s, cat, org).code)

    return _route


def test_routing_always_finds_a_unit_and_follows_the_rules(routed: Any) -> None:
    areas = [None, "10891", "10894", "10507", "295", "288"]
    commune_district = {"10891": "295", "10894": "295", "10507": "288"}
    for cat in categories.all_categories():
        for area in areas:
            unit = routed(cat.code, area)
            override = cat.areas.get(area or "") or cat.areas.get(commune_district.get(area or "", ""))
            if override:
                assert unit == override
            elif cat.unit == "commune":
                expected = area if area in commune_district else "trung-tam-giam-sat-dieu-hanh-thong-minh"
                assert unit == expected, (cat.code, area)
            elif cat.unit == "district":
                expected = commune_district.get(area or "", area if area in ("295", "288") else None)
                assert unit == (expected or "trung-tam-giam-sat-dieu-hanh-thong-minh"), (cat.code, area)
            elif cat.unit in ("so-tai-nguyen-va-moi-truong", "so-xay-dung"):
                assert unit == cat.unit
            else:  # a unit the test tree does not have: the dispatcher takes it
                assert unit == "trung-tam-giam-sat-dieu-hanh-thong-minh"


# ----------------------------------------------------------------------------- routing by point

# A fake of ``identity.locate`` (commune boundaries are the identity module's data): three vertical strips
# of the province, and nothing north of 21.1° (outside every commune).
STRIPS = [(106.25, "10891"), (106.35, "10894"), (106.70, "10507")]


def _fake_locate(session: Any, lon: float, lat: float) -> Any:
    from smartprovince import identity

    if lat > 21.1:
        return None
    code = next((c for edge, c in STRIPS if lon < edge), None)
    return identity.get_org_by_code(session, code) if code else None


def _expected_area(lat: float | None, lon: float | None, picked: str | None) -> str | None:
    if lat is not None and lon is not None and lat <= 21.1:
        located = next((c for edge, c in STRIPS if lon < edge), None)
        if located:
            return located
    return picked


@given(st.sampled_from([c.code for c in categories.all_categories()]),
       st.one_of(st.none(), st.tuples(st.floats(20.5, 21.3), st.floats(106.0, 106.8))),
       st.sampled_from([None, "10891", "10894", "10507", "295", "288"]))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_routing_by_point_then_picked_commune_then_category_default(
        database: Any, orgs: Any, monkeypatch: pytest.MonkeyPatch, code: str,
        point: tuple[float, float] | None, picked: str | None) -> None:
    from smartprovince import identity

    monkeypatch.setattr(identity, "locate", _fake_locate, raising=False)
    lat, lon = point if point else (None, None)
    cat = categories.get_category(code)
    assert cat is not None
    with database.session() as s:
        area = service.report_area(s, lat=lat, lon=lon, area_code=picked, address=None)
        expected = _expected_area(lat, lon, picked)
        assert (area.code if area else None) == expected
        # the unit is the one routing gives for that area: the point never makes a report unroutable
        unit = service.route(s, cat, area)
        expected_org = identity.get_org_by_code(s, expected) if expected else None
        assert unit.code == service.route(s, cat, expected_org).code
        assert unit.active


def test_submitted_point_decides_the_commune(client: Any, orgs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from smartprovince import identity

    monkeypatch.setattr(identity, "locate", _fake_locate, raising=False)
    body = {"category": "street-lighting", "description": "Đèn đường tắt", "lat": 20.95, "lon": 106.5,
            "area_code": "10891"}  # the reporter picked Lai Cách, but the point is in Cẩm Thượng (288)
    r = client.post("/api/v1/feedback/reports", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["unit_name"] == "Thành phố Hải Dương"  # street lighting is a district job
    monkeypatch.delattr(identity, "locate")  # an installation without commune areas: the picked commune
    r = client.post("/api/v1/feedback/reports", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["unit_name"] == "Huyện Cẩm Giàng"


def test_address_names_the_commune_when_there_is_no_point_nor_pick(database: Any, orgs: Any,
                                                                    make_org: Any) -> None:
    with database.session() as s:
        found = service.area_from_address(s, "Số 12 đường Thanh Niên, Thị trấn Lai Cách, huyện Cẩm Giàng")
        assert found is not None and found.code == "10891"
        assert service.area_from_address(s, "số 5 phố Lai Cách") is None  # a street, not "thị trấn Lai Cách"
        assert service.area_from_address(s, None) is None
    # two communes of the same name: the district in the address decides, else nobody guesses
    make_org("10999", "Xã Cẩm Hưng", "commune", parent="288")
    with database.session() as s:
        assert service.area_from_address(s, "thôn Hoàng Xá, xã Cẩm Hưng") is None
        found = service.area_from_address(s, "thôn Hoàng Xá, xã Cẩm Hưng, Huyện Cẩm Giàng")
        assert found is not None and found.code == "10894"
        area = service.report_area(s, lat=None, lon=None, area_code=None,
                                   address="Xã Cẩm Hưng, Thành phố Hải Dương")
        assert area is not None and area.code == "10999"
