"""The analytics demo hook: definitions, a year of located incidents, reference values, then a real warehouse
sync and the warehouse KPIs for every month the warehouse holds, for the province and its districts."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from smartprovince.operations import kpi_engine
from smartprovince.operations.models import Incident


def test_demo_loads_fast_and_feeds_every_page(database, settings, make_org, client, make_user, login) -> None:  # type: ignore[no-untyped-def]
    make_org("30", "Tỉnh Hải Dương", "province")
    for code in ("288", "290", "299"):
        make_org(code, f"Huyện {code}", "district", parent="30")
    started = time.perf_counter()
    kpi_engine.load_demo(database, settings, lambda *a, **k: None)
    assert time.perf_counter() - started < 30
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Incident).where(Incident.source == "history")) == 3000
        values = s.scalars(select(kpi_engine.KpiValue).where(kpi_engine.KpiValue.kpi_code == "incidents_opened")
                           .order_by(kpi_engine.KpiValue.period)).all()
        province = [v for v in values if v.org_id == ""]
        assert len(province) >= 12 and all(v.value and v.value > 100 for v in province[1:-1])  # whole months
        districts = [v for v in values if v.org_id]
        assert len(districts) == 3 * len(province)  # and each district, from the same warehouse answers
        for v in province:
            assert v.value == sum(d.value or 0 for d in districts if d.period == v.period)
        mtta = s.scalars(select(kpi_engine.KpiValue).where(kpi_engine.KpiValue.kpi_code == "incidents_mtta",
                                                           kpi_engine.KpiValue.org_id == "")).all()
        assert mtta and all(v.value == 20.0 for v in mtta)  # the demo history is acknowledged after 20 minutes
    kpi_engine.load_demo(database, settings, lambda *a, **k: None)  # a second load adds nothing
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 3000
    login(make_user("lanhdao", role="provincial_leader", org="30"))
    assert "Số sự cố phát sinh" in client.get("/ioc/kpis").text
    hot = client.get("/api/v1/operations/hotspots?days=365&cell_m=2000").json()
    assert any(f["properties"]["class"].startswith("hot") for f in hot["features"])
    fc = client.get("/api/v1/operations/forecasts?days=120&horizon=7").json()
    assert fc["backtest"] is not None and fc["model"] == "ets_seasonal"
