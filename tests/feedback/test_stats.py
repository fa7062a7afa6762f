"""The statistics kept on write (``feedback_stat``) always equal a recount of the reports, whatever happens
to the reports (property test over random sequences of service calls), and ``rebuild`` recounts."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from smartprovince.core.errors import Problem
from smartprovince.core.security import SYSTEM, Actor, Grant
from smartprovince.feedback import queries, service, stats
from smartprovince.feedback.models import Report, ReportStat

OFFICER = Actor(id=None, username="cb", kind="officer", display_name="Cán bộ", grants=(Grant("feedback.*", ""),))
CATS = ["road-damage", "waste", "flooding", "construction"]
AREAS = ["10891", "10894", "10507"]
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

ACTION = st.one_of(
    st.tuples(st.just("submit"), st.sampled_from(CATS), st.sampled_from(AREAS)),
    st.tuples(st.sampled_from(["accept", "update", "resolve", "reopen", "send_back"]), st.integers(0, 9)),
    st.tuples(st.just("rate"), st.integers(0, 9), st.integers(1, 5)),
    st.tuples(st.just("merge"), st.integers(0, 9), st.integers(0, 9)),
    st.tuples(st.just("assign"), st.integers(0, 9), st.sampled_from(["295", "so-xay-dung", "10894"])),
    st.tuples(st.just("time"), st.integers(1, 200)),
)


def _compare(database: Any) -> None:
    from smartprovince import identity

    with database.session() as s:
        district = identity.get_org_by_code(s, "295")
        assert district is not None
        leader = Actor(id=None, username="ld", kind="officer", display_name="Lãnh đạo huyện",
                       grants=(Grant("feedback.stats.read", district.path),))
        for by, actor in (("unit", SYSTEM), ("category", SYSTEM), ("unit", leader), ("category", leader)):
            kept = sorted((asdict(r) for r in queries.statistics(s, actor, by=by)), key=lambda d: d["key"])
            counted = sorted((asdict(r) for r in queries.statistics(s, actor, by=by, since=EPOCH)),
                             key=lambda d: d["key"])
            assert [a["key"] for a in kept] == [b["key"] for b in counted]
            for a, b in zip(kept, counted, strict=True):
                for k, v in a.items():
                    assert v == pytest.approx(b[k], abs=0.011), (by, a["key"], k)


def _run(database: Any, frozen_clock: list[datetime], action: tuple[Any, ...], ids: list[str]) -> None:
    verb = action[0]
    if verb == "time":
        frozen_clock[0] += timedelta(hours=action[1])
        with database.session() as s:
            service.check_sla(s)
        return
    with database.session() as s:
        if verb == "submit":
            r = service.submit_report(s, actor=SYSTEM, report=service.NewReport(
                category_code=action[1], description="Phản ánh", area_code=action[2], lat=20.95, lon=106.2))
            ids.append(r.id)
            return
        if not ids:
            return
        r = s.get(Report, ids[action[1] % len(ids)])
        assert r is not None
        try:
            if verb == "accept":
                service.accept_report(s, actor=OFFICER, report=r)
            elif verb == "update":
                service.update_report(s, actor=OFFICER, report=r, note="Đang xử lý")
            elif verb == "resolve":
                service.resolve_report(s, actor=OFFICER, report=r, note="Xong")
            elif verb == "reopen":
                service.reopen_report(s, actor=SYSTEM, report=r, reason="Chưa xong", follow_key=r.follow_key)
            elif verb == "send_back":
                service.send_back_report(s, actor=OFFICER, report=r, note="Không đúng đơn vị")
            elif verb == "rate":
                service.rate_report(s, actor=SYSTEM, report=r, rating=action[2], follow_key=r.follow_key)
            elif verb == "merge":
                into = s.get(Report, ids[action[2] % len(ids)])
                assert into is not None
                service.merge_reports(s, actor=OFFICER, report=r, into=into)
            elif verb == "assign":
                service.assign_report(s, actor=OFFICER, report=r, unit_code=action[2])
        except Problem:
            s.rollback()


@given(st.lists(ACTION, min_size=1, max_size=25))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_kept_statistics_equal_a_recount(database: Any, orgs: Any, frozen_clock: list[datetime],
                                         actions: list[tuple[Any, ...]]) -> None:
    ids: list[str] = []
    for action in actions:
        _run(database, frozen_clock, action, ids)
    _compare(database)


def test_rebuild_recounts_after_a_bulk_change(database: Any, orgs: Any, frozen_clock: list[datetime]) -> None:
    ids: list[str] = []
    for action in [("submit", "waste", "10891"), ("submit", "road-damage", "10507"), ("resolve", 0),
                   ("accept", 1), ("resolve", 1), ("rate", 1, 5)]:
        _run(database, frozen_clock, action, ids)
    with database.session() as s:
        s.execute(delete(ReportStat))  # as after a bulk insert that bypassed the ORM
    with database.session() as s:
        assert stats.rebuild(s) == 2
    _compare(database)
