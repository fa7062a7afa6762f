"""The demo hook loads reproducible reports through the service functions and an Open311 key (0600)."""

from __future__ import annotations

import stat
from typing import Any

from rich.console import Console
from sqlalchemy import func, select

from smartprovince import identity
from smartprovince.core.security import SYSTEM
from smartprovince.demo import loader
from smartprovince.feedback import demo, queries
from smartprovince.feedback.models import ApiClient, Report


def test_demo_loads_once(database: Any, settings: Any) -> None:
    with database.session() as s:
        identity.load_organisations(s, "hai-duong", actor=SYSTEM)
    calls: list[tuple[Any, ...]] = []
    demo.load(database, settings, lambda *a, **k: calls.append(a))
    demo.load(database, settings, lambda *a, **k: calls.append(a))  # second start: nothing new
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Report)) == demo.COUNT
        assert s.scalar(select(func.count()).select_from(ApiClient)) == 1
        rows = {r.key: r for r in queries.statistics(s, SYSTEM, by="category")}
        lai_cach = identity.get_org_by_code(s, "10891")
        assert s.scalar(select(func.count()).select_from(Report).where(Report.area_id == lai_cach.id)) >= 40
    assert sum(r.total for r in rows.values()) == demo.COUNT
    handled = sum(r.handled for r in rows.values()) / demo.COUNT
    assert handled > 0.85
    key_file = settings.data_dir / "open311-demo-key.txt"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and key_file.read_text().startswith("o311_")

    # `make run` / `demo accounts` print the key with the demo accounts (not only during the first load)
    console = Console(record=True, width=200)
    loader.print_accounts(settings, console)
    assert key_file.read_text().strip() in console.export_text()


def test_demo_loads_with_the_demo_citizen(database: Any, settings: Any) -> None:
    """With the demo citizen present (as in `make run`), some reports are the citizen's own and every hotline
    report is typed in for a caller: the citizen never uses the intake channel (it would be a 403)."""
    with database.session() as s:
        identity.load_organisations(s, "hai-duong", actor=SYSTEM)
        citizen = identity.service.create_user(
            s, actor=SYSTEM, username="congdan", password=None, full_name="Nguyễn Thị Hoa", kind="citizen")
        citizen_id = citizen.id
    demo.load(database, settings, lambda *a, **k: None)
    with database.session() as s:
        own = s.scalars(select(Report.channel).where(Report.reporter_user_id == citizen_id)).all()
        assert own and "hotline" not in own
        assert s.scalar(select(func.count()).select_from(Report).where(Report.channel == "hotline")) > 0
