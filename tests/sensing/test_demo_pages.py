"""Demo stations of Hải Dương, their alerts, and the pages people use (map, station, alert board)."""

from __future__ import annotations

import sqlalchemy as sa

from smartprovince.core.bus import OutboxEvent
from smartprovince.sensing import demo
from smartprovince.sensing.models import Alert, Thing


def test_demo_has_stations_history_and_alerts_that_fired(client, database, make_user, login) -> None:  # type: ignore[no-untyped-def]
    demo.load(database, None, lambda *a, **k: None)
    demo.load(database, None, lambda *a, **k: None)  # a second run adds nothing
    with database.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Thing)) == 13
        states = {a.state for a in s.scalars(sa.select(Alert))}
        topics = set(s.scalars(sa.select(OutboxEvent.topic).where(OutboxEvent.topic.like("sensing.alert.%"))))
    assert states == {"active", "cleared"}  # the flood on the Luộc is still above alarm level I
    assert topics == {"sensing.alert.raised", "sensing.alert.cleared"}

    page = client.get("/portal/sensing", headers={"accept": "text/html"})
    assert page.status_code == 200
    for name in ("Trạm không khí Sao Đỏ", "Trạm mực nước Phả Lại — sông Thái Bình", "Bộ đếm xe QL5 — Cẩm Giàng",
                 "Bãi đỗ xe Quảng trường Thống Nhất", "sensing-map"):
        assert name in page.text
    stations = client.get("/api/v1/sensing/stations?kind=air").json()["items"]
    assert len(stations) == 4 and all(len(s["values"]) == 6 for s in stations)
    sao_do = next(s for s in stations if s["name"] == "Trạm không khí Sao Đỏ")
    aqi = client.get(f"/api/v1/sensing/stations/{sao_do['id']}/aqi").json()
    assert aqi["hourly"]["aqi"] is not None and aqi["daily"]["band"] in ("Tốt", "Trung bình", "Kém", "Xấu")
    station = client.get(f"/portal/sensing/{sao_do['id']}", headers={"accept": "text/html"})
    assert station.status_code == 200 and "VN_AQI" in station.text and "echarts" in station.text
    assert client.get("/portal/sensing/99999", headers={"accept": "text/html"}).status_code == 404

    # The alert board is for officers; the IOC operator sees the active flood alert.
    assert client.get("/console/sensing/alerts", headers={"accept": "text/html"},
                      follow_redirects=False).status_code in (302, 303)
    login(make_user("ioc.op", role="ioc_operator"))
    board = client.get("/console/sensing/alerts", headers={"accept": "text/html"})
    assert board.status_code == 200
    assert "Quang Khải vượt báo động I" in board.text
