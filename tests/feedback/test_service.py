"""Service-level behaviour: duplicates and merging, the SLA job, reopening, notifications by e-mail
(through a real local SMTP server), the in-app inbox and the SMS simulator."""

from __future__ import annotations

import email
import email.policy
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select

from smartprovince.core import clock
from smartprovince.core.bus import Event, OutboxEvent
from smartprovince.core.errors import Conflict
from smartprovince.core.security import SYSTEM, Actor, Grant
from smartprovince.feedback import events, notify, service
from smartprovince.feedback.config import FeedbackSettings
from smartprovince.feedback.models import Notification, Report

OFFICER = Actor(id=None, username="cb", kind="officer", display_name="Cán bộ", grants=(Grant("feedback.*", ""),))


def _new(s: Any, **kw: Any) -> Report:
    fields = {"category_code": "road-damage", "description": "Ổ gà", "lat": 20.95, "lon": 106.20,
              "area_code": "10891", **kw}
    return service.submit_report(s, actor=SYSTEM, report=service.NewReport(**fields))


def test_duplicates_are_suggested_and_merged_reports_share_status(database: Any, orgs: Any,
                                                                  frozen_clock: list[datetime]) -> None:
    with database.session() as s:
        first = _new(s, reporter_email="a@example.vn")
        near = _new(s, lat=20.9503, lon=106.2002, reporter_email="b@example.vn")  # ~35 m away
        far = _new(s, lat=20.96, lon=106.20)  # ~1.1 km away
        other_cat = _new(s, category_code="waste", lat=20.95, lon=106.20)
        assert near.duplicate_of_id == first.id
        assert far.duplicate_of_id is None and other_cat.duplicate_of_id is None
        frozen_clock[0] += timedelta(hours=80)  # outside road damage's 72-hour window
        late = _new(s, lat=20.9501, lon=106.2001)
        assert late.duplicate_of_id is None

        service.merge_reports(s, actor=OFFICER, report=near, into=first)
        with pytest.raises(Conflict):
            service.merge_reports(s, actor=OFFICER, report=other_cat, into=first)
        with pytest.raises(Conflict):
            service.accept_report(s, actor=OFFICER, report=near)  # act on the main report instead
        service.accept_report(s, actor=OFFICER, report=first)
        service.resolve_report(s, actor=OFFICER, report=first, note="Đã vá")
        s.refresh(near)
        assert (first.status, near.status) == ("resolved", "resolved")
        first_id, near_id = first.id, near.id

    with database.session() as s:  # run the notification handler on the 'resolved' event, as the bus would
        for ev in s.scalars(select(OutboxEvent).where(OutboxEvent.topic == "feedback.report.resolved")):
            events.on_report_event(s, Event.from_row(ev))
    with database.session() as s:
        emails = s.scalars(select(Notification).where(Notification.channel == "email"))
        told = {(n.report_id, n.address) for n in emails}
    assert told == {(first_id, "a@example.vn"), (near_id, "b@example.vn")}


def test_sla_warning_escalation_and_auto_close(database: Any, orgs: Any, frozen_clock: list[datetime]) -> None:
    with database.session() as s:
        r = _new(s, category_code="flooding")  # 24 hours, district unit
        assert r.due_at == frozen_clock[0] + timedelta(hours=24)
        rid = r.id
    frozen_clock[0] += timedelta(hours=20)  # 83 % of the time allowed
    with database.session() as s:
        res = service.check_sla(s)
        assert res.warned == [rid] and not res.escalated
        assert service.check_sla(s).warned == []  # warned once
    frozen_clock[0] += timedelta(hours=5)
    with database.session() as s:
        assert service.check_sla(s).escalated == [rid]
        r = s.get(Report, rid)
        assert r.escalation_level == 1 and r.unit_id == orgs["30"].id  # district 295 -> province
        service.accept_report(s, actor=OFFICER, report=r)
        service.resolve_report(s, actor=OFFICER, report=r, note="Đã bơm thoát nước")
    frozen_clock[0] += timedelta(days=service.REOPEN_DAYS, hours=1)
    with database.session() as s:
        assert service.check_sla(s).closed == [rid]
        assert s.get(Report, rid).status == "closed"


def test_working_day_deadline_uses_the_calendar(database: Any, orgs: Any, frozen_clock: list[datetime]) -> None:
    frozen_clock[0] = datetime(2026, 4, 24, 3, 0, tzinfo=UTC)  # Friday before Giỗ Tổ (27/4) and 30/4–1/5
    with database.session() as s:
        r = _new(s, category_code="street-lighting")  # 3 working days
        assert r.due_at.astimezone(clock.VN_TZ).date().isoformat() == "2026-05-04"  # Tue 28, Wed 29, then Mon 4 May


def test_reopen_only_within_the_period_and_only_by_the_reporter(database: Any, orgs: Any,
                                                                 frozen_clock: list[datetime]) -> None:
    with database.session() as s:
        r = _new(s)
        service.accept_report(s, actor=OFFICER, report=r)
        service.resolve_report(s, actor=OFFICER, report=r, note="Xong")
        with pytest.raises(Exception, match="reporter"):
            service.reopen_report(s, actor=SYSTEM, report=r, reason="Chưa sửa", follow_key="sai")
        frozen_clock[0] += timedelta(days=2)
        service.reopen_report(s, actor=SYSTEM, report=r, reason="Vẫn còn ổ gà", follow_key=r.follow_key)
        assert r.status == "in_progress" and r.reopen_count == 1
        service.resolve_report(s, actor=OFFICER, report=r, note="Xong lần 2")
        frozen_clock[0] += timedelta(days=service.REOPEN_DAYS + 1)
        with pytest.raises(Conflict):
            service.reopen_report(s, actor=SYSTEM, report=r, reason="Lại hỏng", follow_key=r.follow_key)


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's API
        self.messages.append(envelope)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Any:
    handler = _Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, handler
    controller.stop()


def test_notifications_email_inbox_and_sms(client: TestClient, app: Any, database: Any, orgs: Any, drain: Any,
                                           make_user: Any, login: Any, smtp_server: Any) -> None:
    controller, handler = smtp_server
    citizen = make_user("dan", role="citizen", kind="citizen", email="dan@example.vn")
    login(citizen)
    r = client.post("/api/v1/feedback/reports", json={"category": "waste", "description": "Rác đầy ngõ 5",
                                                      "area_code": "10891", "phone": "0911222333"})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    with database.session() as s:
        rep = s.get(Report, rid)
        service.accept_report(s, actor=OFFICER, report=rep)
        service.resolve_report(s, actor=OFFICER, report=rep, note="Đã thu gom")
    drain()
    cfg = FeedbackSettings(smtp_host=controller.hostname, smtp_port=controller.port, public_url="http://sp.test")
    notify.SIMULATOR.sent.clear()
    sent = notify.deliver_pending(database, cfg)
    assert sent >= 4
    for _ in range(50):
        if len(handler.messages) >= 3:
            break
        time.sleep(0.05)
    assert {m.rcpt_tos[0] for m in handler.messages} == {"dan@example.vn"}
    parsed = [email.message_from_bytes(m.content, policy=email.policy.default) for m in handler.messages]
    bodies = [msg.get_content() for msg in parsed]  # type: ignore[attr-defined]
    assert any("Phản ánh" in str(msg["subject"]) for msg in parsed)
    assert len(bodies) == 3  # created, accepted, resolved
    link = f"{app.state.feedback_config.public_url}/portal/feedback/"
    assert all(link in b for b in bodies)
    assert [to for to, _ in notify.SIMULATOR.sent] == ["0911222333", "0911222333"]  # created and resolved
    assert notify.deliver_pending(database, cfg) == 0  # nothing sent twice

    inbox = client.get("/api/v1/feedback/inbox").json()
    assert len(inbox) == 3 and all(n["report_id"] == rid for n in inbox)


def test_email_waits_when_smtp_is_down(database: Any, orgs: Any) -> None:
    with database.session() as s:
        r = _new(s, reporter_email="x@example.vn")
        notify.queue_for_event(s, event_id="e1", report_id=r.id, action="created", note=None, cfg=FeedbackSettings())
    cfg = FeedbackSettings(smtp_host="127.0.0.1", smtp_port=_free_port())
    assert notify.deliver_pending(database, cfg) == 0
    with database.session() as s:
        n = s.scalars(select(Notification).where(Notification.channel == "email")).one()
        assert n.status == "pending" and n.attempts == 1 and n.error
