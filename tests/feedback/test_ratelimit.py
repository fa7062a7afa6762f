"""Rate limits held in the database: shared by processes, sliding, 429 problem+json with Retry-After, and the
hotline desk's exemption."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from smartprovince.core.errors import TooManyRequests
from smartprovince.feedback import ratelimit
from smartprovince.feedback.models import RateWindow

T0 = datetime(2026, 12, 2, 8, 0, 0, tzinfo=UTC)  # the start of a minute


def _body(**extra: Any) -> dict[str, Any]:
    return {"category": "waste", "description": "Rác đổ trộm bên đường", "area_code": "10891", **extra}


def _accepted(database: Any, key: str, limit: int, at: datetime) -> bool:
    try:
        ratelimit.hit(database, key, limit, at=at)
    except TooManyRequests:
        return False
    return True


def test_window_slides_and_refusals_are_not_counted(database: Any) -> None:
    # 5 a minute: five pass at the start of a minute, the sixth is refused with a retry time
    assert all(_accepted(database, "ip:a", 5, T0 + timedelta(seconds=i)) for i in range(5))
    with pytest.raises(TooManyRequests) as refused:
        ratelimit.hit(database, "ip:a", 5, at=T0 + timedelta(seconds=10))
    assert refused.value.status == 429 and refused.value.extra["retry_after"] == 50 + 12
    for _ in range(20):  # hammering while refused does not move the window
        assert not _accepted(database, "ip:a", 5, T0 + timedelta(seconds=30))
    with database.session() as s:
        assert s.scalar(select(RateWindow.hits).where(RateWindow.key == "ip:a")) == 5
    # 15 s into the next minute the previous minute still weighs 5 × 45/60 = 3.75: one more passes, not two
    assert _accepted(database, "ip:a", 5, T0 + timedelta(seconds=75))
    assert not _accepted(database, "ip:a", 5, T0 + timedelta(seconds=76))
    # another key has its own counter
    assert _accepted(database, "ip:b", 5, T0 + timedelta(seconds=76))
    # the periodic job forgets counters older than the previous minute
    with database.session() as s:
        assert ratelimit.prune(s, at=T0 + timedelta(minutes=3)) == 3
        assert s.scalar(select(func.count()).select_from(RateWindow)) == 0


def _estimate(prev: int, cur: int, elapsed: float, wait: float, window: int = 60) -> float:
    t = elapsed + wait
    if t < window:
        return prev * (1 - t / window) + cur
    u = t - window
    return cur * (1 - u / window) if u < window else 0.0


@given(st.integers(0, 500), st.integers(0, 500), st.floats(0, 59.999), st.integers(1, 300))
@settings(max_examples=300)
def test_retry_after_is_when_one_more_request_fits(prev: int, cur: int, elapsed: float, limit: int) -> None:
    if _estimate(prev, cur, elapsed, 0) + 1 <= limit:
        return  # not refused
    wait = ratelimit.retry_after(prev, cur, elapsed, limit)
    assert 1 <= wait <= 120
    assert _estimate(prev, cur, elapsed, wait) + 1 <= limit + 1e-9
    if wait > 1:  # and not a second earlier
        assert _estimate(prev, cur, elapsed, wait - 1) + 1 > limit - 1e-9


def test_processes_share_one_limit(database: Any, settings: Any) -> None:
    """Two OS processes hit the same key at once: together they get exactly the limit, not twice it."""
    code = textwrap.dedent(f"""
        from datetime import datetime, UTC
        from smartprovince.core.db import Database
        from smartprovince.core.errors import TooManyRequests
        from smartprovince.feedback import ratelimit
        db = Database({settings.db_url!r})
        ok = 0
        for _ in range(15):
            try:
                ratelimit.hit(db, "client:shared", 20, at=datetime(2026, 12, 2, 8, 0, 30, tzinfo=UTC))
                ok += 1
            except TooManyRequests:
                pass
        print(ok)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    counts = [int(p.communicate(timeout=120)[0].strip()) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(counts) == 20, counts
    with database.session() as s:
        assert s.scalar(select(RateWindow.hits).where(RateWindow.key == "client:shared")) == 20


def test_api_says_429_with_retry_after_and_two_apps_count_together(app: Any, client: TestClient, orgs: Any) -> None:
    from smartprovince.app import create_app

    other = TestClient(create_app(app.state.settings, db=app.state.db))  # a second API process, same database
    for i in range(10):
        assert (client if i % 2 else other).post("/api/v1/feedback/reports", json=_body()).status_code == 201
    for c in (client, other):
        r = c.post("/api/v1/feedback/reports", json=_body())
        assert r.status_code == 429
        assert r.headers["content-type"].startswith("application/problem+json")
        assert 1 <= int(r.headers["retry-after"]) <= 120
        assert r.json()["status"] == 429 and r.json()["retry_after"] == int(r.headers["retry-after"])
    # the web form says the same, in the page
    page = client.get("/portal/feedback/new")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    r = client.post("/portal/feedback/new", data={**_body(), "csrf_token": csrf.group(1)})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "Quá nhiều yêu cầu" in r.text


def test_hotline_desk_is_not_limited(client: TestClient, orgs: Any, make_user: Any, login: Any,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "USER_PER_MINUTE", 3)
    citizen = make_user("dan.an", role="citizen", kind="citizen")
    login(citizen)
    for _ in range(3):
        assert client.post("/api/v1/feedback/reports", json=_body()).status_code == 201
    assert client.post("/api/v1/feedback/reports", json=_body()).status_code == 429
    client.cookies.clear()
    desk = make_user("tongdai.1022", role="onestop_officer", org="30")  # holds feedback.report.intake
    login(desk)
    for _ in range(8):  # a burst of callers' reports typed in by the desk
        assert client.post("/api/v1/feedback/reports", json=_body()).status_code == 201
