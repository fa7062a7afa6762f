"""The daily statistics table: the figures read from it equal those counted from the dossiers.

A hypothesis property test writes random dossiers through the ORM (so the table is kept by the
mapper events, like the service functions keep it), changes some of them, and compares
``stats.compute`` (daily table + open dossiers) with ``stats.compute_from_dossiers`` for random
periods, agencies and scopes; ``daily.rebuild`` must then give the same table.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from smartprovince.procedures import daily, demo, service, stats
from smartprovince.procedures.models import DailyStats, Dossier, MonthlyOpenStats, Procedure

BASE = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 5, 3, 0, tzinfo=UTC)

dossier_st = st.fixed_dictionaries({
    "agency": st.integers(0, 2),
    "procedure": st.integers(0, 1),
    "online": st.booleans(),
    "received_h": st.one_of(st.none(), st.integers(0, 55 * 24)),
    "due_h": st.integers(1, 20 * 24),
    "end": st.sampled_from(["open", "finished", "closed"]),
    "end_h": st.integers(0, 25 * 24),
    "supplements": st.integers(0, 3),
    "fee": st.booleans(),
    "paid_online": st.booleans(),
    "digitised": st.booleans(),
    "change": st.sampled_from(["none", "finish", "pay", "digitise", "supplement"]),
})
period_st = st.tuples(st.integers(-10, 90), st.integers(0, 80))


def _places(env) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    from smartprovince import identity

    with env.db.session() as s:
        return [(c, identity.get_org_by_code(s, c).path) for c in ("10792", "10795", "cong-an-tinh")]


def _compare(env, date_from: date, date_to: date, **kw) -> None:  # type: ignore[no-untyped-def]
    with env.db.session() as s:
        fast = stats.compute(s, date_from, date_to, **kw).model_dump()
        slow = stats.compute_from_dossiers(s, date_from, date_to, **kw).model_dump()
    for out in (fast, slow):
        for row in [*out["rows"], out["total"]]:
            row["avg"] = row.pop("avg_processing_days")
    fast_avgs = [r.pop("avg") for r in [*fast["rows"], fast["total"]]]
    slow_avgs = [r.pop("avg") for r in [*slow["rows"], slow["total"]]]
    assert fast == slow, (date_from, date_to, kw)
    for a, b in zip(fast_avgs, slow_avgs, strict=True):
        assert (a is None and b is None) or abs(a - b) < 0.011


def _table(env) -> dict:  # type: ignore[no-untyped-def]
    with env.db.session() as s:
        out = {}
        for r in s.scalars(select(DailyStats)):
            values = {f: getattr(r, f) for f in daily.COUNT_FIELDS}
            if any(values.values()):
                out[(r.day, r.agency_code, r.procedure_code, r.agency_path)] = (
                    values, round(r.processing_seconds, 3))
        # The monthly open / past-due sums are the daily differences added up by month.
        months: dict = {}
        for (day, *rest), (values, _) in out.items():
            m = months.setdefault((day.replace(day=1), *rest), [0, 0])
            m[0] += values["open_delta"]
            m[1] += values["overdue_delta"]
        stored = {(r.month, r.agency_code, r.procedure_code, r.agency_path): [r.open_delta, r.overdue_delta]
                  for r in s.scalars(select(MonthlyOpenStats)) if r.open_delta or r.overdue_delta}
        assert stored == {k: v for k, v in months.items() if any(v)}
        return out


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dossiers=st.lists(dossier_st, max_size=25), periods=st.lists(period_st, min_size=1, max_size=4))
def test_daily_table_equals_recount_from_dossiers(env, frozen_clock, dossiers, periods):
    frozen_clock[0] = NOW
    places = _places(env)
    with env.db.session() as s:
        procs = [service.current_procedure(s, c) for c in ("1.001193", "1.000894")]
        proc_ids = [(p.id, p.code) for p in procs]
        s.execute(delete(Dossier))
        s.execute(delete(DailyStats))
        s.execute(delete(MonthlyOpenStats))
    ids = []
    with env.db.session() as s:
        for i, g in enumerate(dossiers):
            code, path = places[g["agency"]]
            pid, pcode = proc_ids[g["procedure"]]
            received = None if g["received_h"] is None else BASE + timedelta(hours=g["received_h"])
            due = received + timedelta(hours=g["due_h"]) if received else None
            end = received + timedelta(hours=g["end_h"]) if received else None
            if end is not None and end > NOW:
                end = NOW
            d = Dossier(
                code=f"T-{i}", lookup_key="K", procedure_id=pid, procedure_code=pcode, agency_code=code,
                agency_path=path, channel="online" if g["online"] else "counter", status=4,
                applicant_name="A", submitted_at=received or BASE, received_at=received, due_at=due,
                finished_at=end if g["end"] == "finished" else None,
                closed_at=end if g["end"] == "closed" else None,
                supplement_requests=g["supplements"], fee_total=50_000 if g["fee"] else 0,
                paid_online=g["paid_online"], digitised=g["digitised"])
            s.add(d)
            s.flush()
            ids.append((d.id, g["change"]))
    # Later changes go through the ORM too: the mapper events move the contributions.
    with env.db.session() as s:
        for did, change in ids:
            d = s.get(Dossier, did)
            assert d is not None
            if change == "finish" and d.finished_at is None and d.closed_at is None and d.received_at is not None:
                d.finished_at = min(NOW, d.received_at + timedelta(days=3))
            elif change == "pay":
                d.paid_online = not d.paid_online
            elif change == "digitise":
                d.digitised = not d.digitised
            elif change == "supplement" and d.finished_at is None and d.closed_at is None:
                d.supplement_requests += 1
                if d.due_at is not None:
                    d.due_at += timedelta(days=2)
    for start, length in periods:
        first = date(2026, 1, 1) + timedelta(days=start)
        _compare(env, first, first + timedelta(days=length))
    for k in range(0, 70, 5):  # every period end, where open dossiers are judged
        _compare(env, date(2026, 1, 1) + timedelta(days=k), date(2026, 1, 1) + timedelta(days=k))
    first, last = date(2026, 1, 1), date(2026, 3, 31)
    _compare(env, first, last, agency="296")
    _compare(env, first, last, agency="cong-an-tinh", by="procedure")
    _compare(env, first, last, scopes=[places[0][1]], by="agency")
    _compare(env, first, last, procedure="1.000894", scopes=[])
    incremental = _table(env)
    with env.db.session() as s:
        daily.rebuild(s)
    assert _table(env) == incremental


def test_service_transitions_keep_the_table(env, frozen_clock):
    """Dossiers moved through the service functions: the table equals a rebuild from the dossiers."""
    def do(who, fn, did, **kw):  # type: ignore[no-untyped-def]
        with env.db.session() as s:
            return fn(s, actor=env.actor(who), dossier_id=did, **kw)

    made = []
    for _ in range(3):
        with env.db.session() as s:
            d = service.submit_dossier(s, actor=env.actor("congdan"), submission=service.Submission(
                procedure_code="1.001193", agency_code="10792", applicant=service.Applicant(name="Lê Văn An")))
            made.append(d.id)
    for did in made:
        do("motcua", service.claim_dossier, did)
        do("motcua", service.receive_dossier, did)
    do("motcua", service.claim_dossier, made[0])
    do("motcua", service.forward_dossier, made[0])
    frozen_clock[0] += timedelta(days=3)
    do("lanhdao", service.claim_dossier, made[0])
    do("lanhdao", service.finish_dossier, made[0])
    do("motcua", service.claim_dossier, made[1])
    do("motcua", service.request_supplement, made[1], reason="Thiếu giấy tờ")
    do("congdan", service.supplement_dossier, made[1])
    frozen_clock[0] += timedelta(days=10)
    incremental = _table(env)
    assert sum(v["received"] for v, _ in incremental.values()) == 3
    with env.db.session() as s:
        daily.rebuild(s)
    assert _table(env) == incremental
    _compare(env, date(2026, 3, 1), date(2026, 3, 3))
    _compare(env, date(2026, 3, 1), date(2026, 3, 31))


def test_demo_bulk_load_fills_the_table(env, monkeypatch):
    real = demo.demo_figures()
    small = {**real, "services": {"1.004222": {"online": 45, "received": 50},
                                  "1.001193": {"online": 10, "received": 21}}}
    monkeypatch.setattr(demo, "demo_figures", lambda: small)
    assert demo.load_history(env.db) == 71
    bulk = _table(env)
    with env.db.session() as s:
        assert s.scalar(select(func.sum(DailyStats.received))) == 71
        assert s.scalar(select(func.count()).select_from(Procedure)) >= 25
        daily.rebuild(s)
    assert _table(env) == bulk
    for last in (date(2023, 3, 31), date(2023, 6, 15)):
        _compare(env, date(2023, 1, 1), last)


def test_rebuild_stats_command(env, settings, monkeypatch):
    from typer.testing import CliRunner

    from smartprovince.procedures.cli import cli
    from smartprovince.settings import get_settings

    with env.db.session() as s:
        d = service.submit_dossier(s, actor=env.actor("congdan"), submission=service.Submission(
            procedure_code="1.001193", agency_code="10792", applicant=service.Applicant(name="Lê Văn An")))
        did = d.id
    with env.db.session() as s:
        service.claim_dossier(s, actor=env.actor("motcua"), dossier_id=did)
    with env.db.session() as s:
        service.receive_dossier(s, actor=env.actor("motcua"), dossier_id=did)
    before = _table(env)
    with env.db.session() as s:
        s.execute(delete(DailyStats))
        s.execute(delete(MonthlyOpenStats))
    monkeypatch.setenv("SMARTPROVINCE_DATABASE_URL", settings.db_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["rebuild-stats"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "1 dossiers" in result.output
    assert _table(env) == before and before


def test_daily_counts_for_the_ioc_include_the_bulk_history(env, monkeypatch):
    import smartprovince.procedures as procedures
    from smartprovince import identity

    real = demo.demo_figures()
    small = {**real, "services": {"1.001193": {"online": 12, "received": 30}}}
    monkeypatch.setattr(demo, "demo_figures", lambda: small)
    demo.load_history(env.db)
    with env.db.session() as s:
        rows = procedures.daily_counts(s, date(2023, 1, 1), date(2023, 12, 31))
        assert sum(r.received for r in rows) == 30 and sum(r.received_online for r in rows) == 12
        assert sum(r.finished for r in rows) == 30
        assert all(r.finished == r.finished_in_time + r.finished_late for r in rows)
        district = identity.get_org_by_code(s, "296")
        assert district is not None
        inside = procedures.daily_counts(s, date(2023, 1, 1), date(2023, 12, 31), path_prefix=district.path)
        assert 0 < sum(r.received for r in inside) <= 30
        assert {r.agency_code for r in inside} <= {"10792", "10795"}
        assert procedures.daily_counts(s, date(2024, 1, 1), date(2024, 1, 31)) == []


def test_upgrade_fills_the_tables_from_existing_dossiers(env, settings, monkeypatch):
    """An installation with dossiers upgraded to these migrations gets the same tables as a rebuild."""
    from smartprovince.core.migrate import downgrade, upgrade

    if not settings.db_url.startswith("sqlite"):
        return  # one backend is enough for the data step; the schema is checked on both elsewhere
    real = demo.demo_figures()
    monkeypatch.setattr(demo, "demo_figures", lambda: {**real, "services": {"1.001193": {"online": 9, "received": 20}}})
    demo.load_history(env.db)
    with env.db.session() as s:
        daily.rebuild(s)
    before = _table(env)
    env.db.dispose()
    downgrade(settings.db_url, "procedures_0001")
    from sqlalchemy import create_engine, inspect

    engine = create_engine(settings.db_url)
    assert "procedure_stats_daily" not in inspect(engine).get_table_names()
    engine.dispose()
    upgrade(settings.db_url)
    assert _table(env) == before and before
