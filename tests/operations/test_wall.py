"""The daily counts the wall's areas table reads, counted from procedures, feedback and sensing events; the
wall page's live tiles. (The top KPI row reads the stored KPI values: ``test_wall_headline.py``.)"""

from __future__ import annotations

from smartprovince.operations import kpi


def test_kpis_count_events_of_other_modules_in_the_actors_scope(env, client, drain, make_user, login) -> None:  # type: ignore[no-untyped-def]
    due = "2026-03-05T10:00:00+00:00"
    env.publish(
        "procedures.dossier.received",
        {"id": "d1", "agency_code": "10891", "channel": "online", "received_at": "2026-03-01T02:00:00+00:00"},
    )
    env.publish("procedures.dossier.received", {"id": "d2", "agency_code": "296", "channel": "counter"})
    env.publish(
        "procedures.dossier.finished",
        {"id": "d1", "agency_code": "10891", "due_at": due, "finished_at": "2026-03-02T01:00:00+00:00"},
    )
    env.publish(
        "procedures.dossier.finished",
        {"id": "d2", "agency_code": "296", "due_at": due, "finished_at": "2026-03-06T01:00:00+00:00"},
    )
    env.publish("feedback.report.created", {"id": "r1", "category": "garbage", "unit_id": env.orgs["295"].id})
    env.publish("feedback.report.resolved", {"id": "r1", "unit_id": env.orgs["295"].id})
    env.publish(
        "sensing.alert.raised",
        {"alert_id": "a1", "observed_property": "pm2_5", "lat": 20.9, "lon": 106.3, "org_id": env.orgs["295"].id},
    )
    drain()
    from smartprovince import identity

    with env.db.session() as s:
        province = identity.actor_for_user(s, identity.get_user_by_username(s, "ioc"))
        district = identity.actor_for_user(s, identity.get_user_by_username(s, "huyen295"))
        whole, mine = kpi.wall_kpis(s, province), kpi.wall_kpis(s, district)
    assert (whole["dossiers_received"], whole["online_rate"], whole["on_time_rate"]) == (2, 50.0, 50.0)
    assert (whole["reports_received"], whole["reports_handled_rate"], whole["active_alerts"]) == (1, 100.0, 1)
    assert (mine["dossiers_received"], mine["on_time_rate"], mine["active_alerts"]) == (1, 100.0, 1)
    make_user("ioc.wall", role="ioc_operator", org="30")
    login("ioc.wall")
    page = client.get("/ioc/wall")
    assert page.status_code == 200
    assert "Cảnh báo cảm biến đang hiệu lực" in page.text and 'data-stream="/ioc/wall/feed?' in page.text
    assert page.text.count('id="tile-open"') == 1  # the incident tiles once, inside the refreshable block
    tiles = client.get("/ioc/wall/tiles")
    assert tiles.status_code == 200 and "<html" not in tiles.text
    assert "Cảnh báo cảm biến đang hiệu lực" in tiles.text and "Sự cố đang mở" in tiles.text


def test_start_up_warm_up_compiles_the_wall_templates(env, app, client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from smartprovince.operations import warmup

    monkeypatch.setenv("SMARTPROVINCE_IOC_WARM_UP", "0")
    warmup.warm_up(app)
    assert getattr(app.state, "jinja", None) is None or not app.state.jinja.cache  # off: nothing done
    monkeypatch.setenv("SMARTPROVINCE_IOC_WARM_UP", "1")
    warmup.warm_up(app)
    loaded = {t.name for t in app.state.jinja.cache.values()}
    for name in ("layout.html", "operations/wall.html", "operations/_wall_tiles.html", "operations/_wall_scripts.html"):
        assert name in loaded
    assert warmup.match_routes(app) == len(warmup.WALL_PATHS)  # every path the wall fetches is served
    assert client.get("/ioc/wall", headers=env.headers["operator"]).status_code == 200
