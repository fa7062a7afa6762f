"""The live feed: server-sent events from the API (JSON) and for the console page (HTML)."""

from __future__ import annotations

import json


def _events(text: str) -> list[dict[str, str]]:
    out = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            if name in ("id", "event", "data"):
                fields[name] = fields.get(name, "") + value
        if "data" in fields:
            out.append(fields)
    return out


def test_api_stream_sends_new_entries_in_order_and_resumes_after_last_event_id(env, client) -> None:  # type: ignore[no-untyped-def]
    h = env.headers["operator"]
    start = client.get("/api/v1/operations/incidents/stream", params={"timeout": 0}, headers=h)
    assert start.status_code == 200 and start.headers["content-type"].startswith("text/event-stream")
    assert _events(start.text) == []  # a new stream starts from now
    r = client.post(
        "/api/v1/operations/incidents",
        headers=h,
        json={"category": "fire", "title": "Cháy xưởng gỗ", "lat": 20.9, "lon": 106.3, "org_id": env.orgs["295"].id},
    )
    inc = r.json()
    client.post(f"/api/v1/operations/incidents/{inc['id']}/actions", json={"verb": "acknowledge"}, headers=h)
    r = client.get("/api/v1/operations/incidents/stream", params={"timeout": 0, "after": ""}, headers=h)
    events = _events(r.text)
    assert [e["event"] for e in events] == ["incident", "incident"]
    data = [json.loads(e["data"]) for e in events]
    assert [d["kind"] for d in data] == ["opened", "acknowledge"]
    assert data[1]["incident"]["status"] == "acknowledged" and data[0]["incident"]["severity"] == "critical"
    # a reconnecting EventSource sends Last-Event-ID and gets only what follows
    r = client.get(
        "/api/v1/operations/incidents/stream", params={"timeout": 0}, headers={**h, "Last-Event-ID": events[0]["id"]}
    )
    assert [json.loads(e["data"])["kind"] for e in _events(r.text)] == ["acknowledge"]


def test_stream_is_scoped_and_refused_without_permission(env, client) -> None:  # type: ignore[no-untyped-def]
    client.post(
        "/api/v1/operations/incidents",
        headers=env.headers["operator"],
        json={"category": "fire", "title": "Cháy", "org_id": env.orgs["295"].id},
    )
    params = {"timeout": 0, "after": ""}
    mine = _events(
        client.get("/api/v1/operations/incidents/stream", params=params, headers=env.headers["district"]).text
    )
    other = _events(
        client.get("/api/v1/operations/incidents/stream", params=params, headers=env.headers["other_district"]).text
    )
    assert len(mine) == 1 and other == []
    assert (
        client.get("/api/v1/operations/incidents/stream", params=params, headers=env.headers["citizen"]).status_code
        == 403
    )
    assert client.get("/api/v1/operations/incidents/stream", params=params).status_code == 401


def test_page_feed_sends_html_lines_for_htmx(env, client) -> None:  # type: ignore[no-untyped-def]
    client.post(
        "/api/v1/operations/incidents",
        headers=env.headers["operator"],
        json={"category": "flooding", "title": "Ngập sâu phố Chi Lăng", "lat": 20.94, "lon": 106.32},
    )
    r = client.get("/ioc/incidents/feed", params={"timeout": 0, "after": ""}, headers=env.headers["operator"])
    [event] = _events(r.text)
    assert event["event"] == "incident"
    assert 'class="feed-item sev-high"' in event["data"] and "Ngập sâu phố Chi Lăng" in event["data"]
    assert "Mở sự cố" in event["data"] and "\n" not in event["data"]


def test_open_wall_is_told_when_a_kpi_value_is_computed(env, client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The wall's stream sends a ``kpi`` message when a KPI value is stored while it is open (the tiles
    reload), and none while nothing changes."""
    import threading

    from smartprovince.core.security import SYSTEM
    from smartprovince.operations import kpi_engine, live

    monkeypatch.setattr(live, "KPI_POLL_SECONDS", 0.0)
    monkeypatch.setattr(live, "POLL_SECONDS", 0.05)
    with env.db.session() as s:
        kpi_engine.load_definitions(s, actor=SYSTEM)
    h = env.headers["operator"]
    quiet = _events(client.get("/ioc/wall/feed", params={"timeout": 0.5}, headers=h).text)
    assert [e["event"] for e in quiet] == []

    def compute() -> None:
        with env.db.session() as s:
            kpi_engine.compute_kpi(s, actor=SYSTEM, code="health_insurance_coverage", period="2022", org_id=None)

    timer = threading.Timer(0.5, compute)
    timer.start()
    try:
        events = _events(client.get("/ioc/wall/feed", params={"timeout": 2.5}, headers=h).text)
    finally:
        timer.join()
    assert [(e["event"], json.loads(e["data"])) for e in events] == [("kpi", {"changed": True})]
