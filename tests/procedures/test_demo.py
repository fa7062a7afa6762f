"""Demo data: the shipped figures are the plan's table, and loading them reproduces it in the statistics."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from smartprovince.procedures import demo, service, stats
from smartprovince.procedures.models import Dossier


def test_shipped_figures_are_the_plans_table():
    fig = demo.demo_figures()
    s = fig["services"]
    assert len(s) == 25
    assert s["1.004222"] == {"online": 51985, "received": 55029}  # đăng ký thường trú
    assert sum(v["online"] for v in s.values()) == 209404
    assert sum(v["received"] for v in s.values()) == 270448
    assert fig["expected_total"] == {"online": 209404, "received": 270448}


def test_history_reproduces_the_figures_in_the_statistics(env, monkeypatch):
    real = demo.demo_figures()
    small = {**real, "services": {
        "1.004222": {"online": 95, "received": 100}, "1.001193": {"online": 30, "received": 41},
        "HD-06-15": {"online": 7, "received": 9}, "HD-06-08": {"online": 0, "received": 0},
        "HD-06-16": {"online": 4, "received": 4}}}
    monkeypatch.setattr(demo, "demo_figures", lambda: small)
    seen = []
    province, other_commune = env.actor("tinh"), env.actor("motcua.khac")
    assert demo.load_history(env.db, lambda msg, done, total: seen.append((done, total))) == 154
    assert seen[-1] == (154, 154)
    with env.db.session() as s:
        out = stats.compute(s, date(2023, 1, 1), date(2023, 6, 15))
        by_proc: dict[str, list[int]] = {}
        for r in out.rows:
            acc = by_proc.setdefault(r.procedure_code, [0, 0])
            acc[0] += r.received_online
            acc[1] += r.received
        assert by_proc == {"1.004222": [95, 100], "1.001193": [30, 41], "HD-06-15": [7, 9], "HD-06-16": [4, 4]}
        assert (out.total.received_online, out.total.received) == (136, 154)
        # The provincial leader sees everything, also the power company's dossiers (outside the tree);
        # a commune officer sees none of them.
        leader = stats.compute(s, date(2023, 1, 1), date(2023, 6, 15),
                               scopes=province.scopes("procedures.stats.read"))
        assert leader.total.received == 154
        commune = stats.compute(s, date(2023, 1, 1), date(2023, 6, 15), procedure="HD-06-16",
                                scopes=other_commune.scopes("procedures.stats.read"))
        assert commune.total.received == 0
        # Everything is finished and returned by now, so worklists are not flooded with 2023 dossiers.
        assert s.scalar(select(func.count()).select_from(Dossier).where(Dossier.status != 10)) == 0
        assert out.total.finished_late > 0 and out.total.finished_early > out.total.finished_late
        # Civil-status dossiers are spread over the communes; codes are unique and logs replay to the status.
        assert len({r.agency_code for r in out.rows if r.procedure_code == "1.001193"}) > 1
        assert s.scalar(select(func.count(func.distinct(Dossier.code)))) == 154
        for d in s.scalars(select(Dossier).limit(40)):
            assert service.check_status_consistent(s, d)
