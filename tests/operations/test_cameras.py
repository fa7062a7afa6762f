"""The central camera registry: demo data, scoping, health by heartbeat and by bus event, the record page."""

from __future__ import annotations

from datetime import timedelta

from smartprovince.core.security import SYSTEM
from smartprovince.operations import cameras


def _register(env, code: str, owner: str, **extra) -> None:  # type: ignore[no-untyped-def]
    with env.db.session() as s:
        cameras.register_camera(
            s,
            actor=SYSTEM,
            data=cameras.CameraIn(code=code, name=f"Camera {code}", lat=20.94, lon=106.33, owner=owner, **extra),
        )


def test_registry_scoping_and_geojson(env, client) -> None:  # type: ignore[no-untyped-def]
    _register(env, "CG-1", "295", stream_url="rtsp://10.30.1.10:554/Streaming/Channels/101")
    _register(env, "BG-1", "296", stream_url="https://video.example.invalid/hls/bg-1/index.m3u8")
    _register(env, "GT-1", "so-giao-thong-van-tai")
    whole = client.get("/api/v1/operations/cameras", headers=env.headers["operator"]).json()
    assert {f["properties"]["code"] for f in whole["features"]} == {"CG-1", "BG-1", "GT-1"}
    assert whole["features"][0]["geometry"]["coordinates"] == [106.33, 20.94]
    assert whole["features"][0]["properties"]["url"].startswith("/ioc/cameras/")
    mine = client.get("/api/v1/operations/cameras", headers=env.headers["district"]).json()
    assert [f["properties"]["code"] for f in mine["features"]] == ["CG-1"]
    area = client.get(f"/api/v1/operations/cameras?area={env.orgs['296'].id}", headers=env.headers["operator"])
    assert [f["properties"]["code"] for f in area.json()["features"]] == ["BG-1"]
    assert client.get("/api/v1/operations/cameras/BG-1", headers=env.headers["district"]).status_code == 404
    one = client.get("/api/v1/operations/cameras/BG-1", headers=env.headers["operator"]).json()
    assert (one["stream_kind"], one["status"]) == ("hls", "unknown")
    assert client.get("/api/v1/operations/cameras", headers=env.headers["citizen"]).status_code == 403


def test_stream_urls_never_carry_credentials(env) -> None:  # type: ignore[no-untyped-def]
    import pytest
    from pydantic import ValidationError

    for url in ("rtsp://admin:123456@10.0.0.1/stream", "ftp://x/y", "https://x/video.mp4"):
        with pytest.raises(ValidationError):
            cameras.CameraIn(code="X-1", name="X", lat=1, lon=1, owner="30", stream_url=url)


def test_health_by_heartbeat_and_bus_event(env, client, drain, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    _register(env, "CG-1", "295")
    h = env.headers["operator"]
    r = client.post("/api/v1/operations/cameras/CG-1/heartbeat", headers=h, json={"status": "online"})
    assert r.status_code == 200 and r.json()["status"] == "online"
    assert (
        client.post("/api/v1/operations/cameras/CG-1/heartbeat", headers=env.headers["district"], json={}).status_code
        == 403
    )  # leaders read cameras; gateways and operators report
    assert client.post("/api/v1/operations/cameras/NOPE/heartbeat", headers=h, json={}).status_code == 404
    assert (
        client.post("/api/v1/operations/cameras/CG-1/heartbeat", headers=h, json={"status": "burning"}).status_code
        == 422
    )
    frozen_clock[0] += timedelta(minutes=cameras.STALE_MINUTES + 1)
    assert client.get("/api/v1/operations/cameras/CG-1", headers=h).json()["status"] == "offline"  # silent too long
    env.publish("cameras.status", {"code": "CG-1", "status": "online"})
    env.publish("cameras.status", {"code": "UNKNOWN", "status": "online"})  # ignored
    env.publish("cameras.status", {"status": "online"})  # ignored
    drain()
    assert client.get("/api/v1/operations/cameras/CG-1", headers=h).json()["status"] == "online"
    env.publish("cameras.status", {"code": "CG-1", "status": "offline"})
    drain()
    cam = client.get("/api/v1/operations/cameras/CG-1", headers=h).json()
    assert cam["status"] == "offline" and cam["last_seen_at"] is not None


def test_camera_record_page_and_demo(env, client, make_user, login, database) -> None:  # type: ignore[no-untyped-def]
    cameras.load_demo(database, None, lambda *a, **k: None)
    # the small test tree holds the owners of the Cẩm Giàng and Bình Giang cameras and of the transport ones
    with env.db.session() as s:
        codes = [c.code for c in cameras.cameras_for(s, SYSTEM)]
    assert "HD-CG-001" in codes and "HD-BG-001" in codes and "HD-TP-004" in codes and "HD-CL-001" not in codes
    assert len(cameras.bundled_cameras()) == 30
    make_user("ioc.cam", role="ioc_operator", org="30")
    login("ioc.cam")
    page = client.get("/ioc/cameras/HD-CG-001")
    assert page.status_code == 200
    assert "Thị trấn Lai Cách – Quốc lộ 5" in page.text and "Huyện Cẩm Giàng" in page.text and "RTSP" in page.text
    assert client.get("/ioc/cameras/NOPE").status_code == 404


def test_demo_heartbeats_keep_working_cameras_online(env, client, database, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    """The demo's gateway simulator: without it every demo camera is offline ten minutes after loading."""
    cameras.load_demo(database, None, lambda *a, **k: None)
    h = env.headers["operator"]
    frozen_clock[0] += timedelta(minutes=cameras.STALE_MINUTES + 5)

    def statuses() -> dict[str, str]:
        feats = client.get("/api/v1/operations/cameras", headers=h).json()["features"]
        return {f["properties"]["code"]: f["properties"]["status"] for f in feats}

    assert set(statuses().values()) == {"offline"}  # nobody heard from them
    sent = cameras.send_demo_heartbeats(database)
    now_seen = statuses()
    by_design = {c["code"] for n, c in enumerate(cameras.bundled_cameras()) if not cameras.demo_online(n)}
    assert sent == len([c for c in now_seen if c not in by_design]) > 0
    assert all(st == ("offline" if code in by_design else "online") for code, st in now_seen.items())
    assert any(code in by_design for code in now_seen)  # the broken ones stay broken


def test_demo_heartbeat_thread_runs_only_when_serving_the_demo(database) -> None:  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    cameras.load_demo(database, None, lambda *a, **k: None)
    for env_name, demo, runs in (("test", True, False), ("production", True, False), ("development", False, False)):
        settings = SimpleNamespace(environment=env_name, load_demo=demo)
        app = SimpleNamespace(state=SimpleNamespace(settings=settings, db=database))
        cameras.start_demo_heartbeats(app)
        assert hasattr(app.state, "demo_camera_heartbeats") is runs
    settings = SimpleNamespace(environment="development", load_demo=True)
    app = SimpleNamespace(state=SimpleNamespace(settings=settings, db=database))
    cameras.start_demo_heartbeats(app)
    sim = app.state.demo_camera_heartbeats
    try:
        for _ in range(100):
            if sim.rounds:
                break
            sim.stop_event.wait(0.05)
        assert sim.rounds >= 1
    finally:
        cameras.stop_demo_heartbeats(app)
    assert not sim.thread.is_alive()
