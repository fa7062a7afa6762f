"""Statistics with the Decision 766 formulas, through the service, the API (JSON, CSV) and the CLI."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from smartprovince.procedures import service, stats

MON_9H = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 2 March 2026, 09:00 in Vietnam; birth due Tue 17:00


def _run(env, frozen_clock, *, finish_after: timedelta | None, supplements: int = 0) -> None:
    def do(who, fn, did, **kw):
        with env.db.session() as s:
            return fn(s, actor=env.actor(env.users[who].username), dossier_id=did, **kw)

    frozen_clock[0] = MON_9H
    with env.db.session() as s:
        d = service.submit_dossier(s, actor=env.actor("congdan"), submission=service.Submission(
            procedure_code="1.001193", agency_code="10792", applicant=service.Applicant(name="Lê Văn An")))
    do("onestop", service.claim_dossier, d.id)
    do("onestop", service.receive_dossier, d.id)
    do("onestop", service.forward_dossier, d.id)
    for _ in range(supplements):
        do("onestop", service.claim_dossier, d.id)
        do("onestop", service.request_supplement, d.id, reason="Thiếu giấy tờ")
        do("citizen", service.supplement_dossier, d.id)
    if finish_after is not None:
        frozen_clock[0] = MON_9H + finish_after
        do("leader", service.claim_dossier, d.id)
        do("leader", service.finish_dossier, d.id)


def test_early_on_time_late_and_open_dossiers(env, frozen_clock):
    _run(env, frozen_clock, finish_after=timedelta(hours=2))  # Monday → early
    _run(env, frozen_clock, finish_after=timedelta(days=1, hours=5))  # Tuesday 14:00 → on time
    _run(env, frozen_clock, finish_after=timedelta(days=2))  # Wednesday → late
    _run(env, frozen_clock, finish_after=timedelta(hours=3), supplements=2)  # two supplement requests → late
    _run(env, frozen_clock, finish_after=None)  # still open
    frozen_clock[0] = datetime(2026, 3, 31, tzinfo=UTC)
    with env.db.session() as s:
        out = stats.compute(s, date(2026, 3, 1), date(2026, 3, 2))
        assert len(out.rows) == 1
        r = out.rows[0]
        assert (r.received, r.received_online) == (5, 5)
        # Finished in the period (1–2 March): the early ones only; the others finished on 3 and 4 March.
        assert (r.finished, r.finished_early, r.finished_late) == (2, 1, 1)
        assert (r.open_within_due, r.open_overdue) == (3, 0)
        whole = stats.compute(s, date(2026, 3, 1), date(2026, 3, 31)).total
        assert (whole.finished_early, whole.finished_on_time, whole.finished_late) == (1, 1, 2)
        assert whole.open_overdue == 1 and whole.open_within_due == 0
        assert whole.on_time_rate == 40.0  # (1 early + 1 on time) / (4 finished + 1 open past due)
        assert whole.online_rate == 100.0 and whole.digitisation_rate == 0.0


def test_stats_api_json_csv_and_permissions(env, frozen_clock, api, client):
    _run(env, frozen_clock, finish_after=timedelta(hours=2))
    r = client.get("/api/v1/procedures/stats", params={"from": "2026-03-01", "to": "2026-03-31"},
                   headers=api("leader"))
    assert r.status_code == 200, r.text
    assert r.json()["total"]["finished_early"] == 1
    r = client.get("/api/v1/procedures/stats", params={"from": "2026-03-01", "to": "2026-03-31", "format": "csv"},
                   headers=api("leader"))
    assert r.headers["content-type"].startswith("text/csv")
    lines = r.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("agency_code,procedure_code,procedure_name,received")
    assert lines[1].startswith("10792,1.001193,Đăng ký khai sinh,1,1")
    # The other commune's officer sees nothing of this commune.
    other = client.get("/api/v1/procedures/stats", params={"from": "2026-03-01", "to": "2026-03-31"},
                       headers=api("other_commune")).json()
    assert other["rows"] == [] and other["total"]["received"] == 0
    assert client.get("/api/v1/procedures/stats", params={"from": "2026-03-01", "to": "2026-03-31"},
                      headers=api("citizen")).status_code == 403
    bad = client.get("/api/v1/procedures/stats", params={"from": "2026-03-31", "to": "2026-03-01"},
                     headers=api("leader"))
    assert bad.status_code == 422


def test_cli_prints_csv_and_json(env, frozen_clock, settings, monkeypatch):
    import json

    from typer.testing import CliRunner

    from smartprovince.procedures.cli import cli

    _run(env, frozen_clock, finish_after=timedelta(hours=2))
    monkeypatch.setenv("SMARTPROVINCE_DATABASE_URL", settings.db_url)
    from smartprovince.settings import get_settings

    get_settings.cache_clear()
    try:
        runner = CliRunner()
        res = runner.invoke(cli, ["stats", "--from", "2026-03-01", "--to", "2026-03-31", "--format", "json"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["total"]["received"] == 1
        res = runner.invoke(cli, ["stats", "--from", "2026-03-01", "--to", "2026-03-31", "--agency", "296"])
        assert res.exit_code == 0 and "10792,1.001193" in res.stdout
        res = runner.invoke(cli, ["stats", "--from", "2026-03-01", "--to", "2026-03-31", "--agency", "10795"])
        assert "10792" not in res.stdout
        res = runner.invoke(cli, ["stats", "--from", "nope", "--to", "2026-03-31"])
        assert res.exit_code != 0
    finally:
        get_settings.cache_clear()
