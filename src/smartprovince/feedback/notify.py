"""Thông báo — tell reporters about their reports: in-app inbox, e-mail over SMTP, SMS.

1. The bus handler ``feedback.notify`` (in ``events.py``) turns each ``feedback.report.*`` event a
   reporter should know about into rows of ``feedback_notification`` — one per channel and per
   reporter (a merged report's reporters are all told). This table is the outbox of the sender.
2. :func:`deliver_pending` sends pending e-mails over SMTP and SMS through the gateway adapter,
   marks them sent, and retries failures up to ``MAX_ATTEMPTS`` times. The app runs it every few
   seconds in a background thread; tests call it directly.

No real SMS provider is reachable from this platform's networks: :class:`SmsSimulator` is the only
adapter shipped. A provider adapter implements :class:`SmsGateway` (one ``send`` method).
"""

from __future__ import annotations

import logging
import smtplib
import threading
from email.message import EmailMessage
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartprovince.core import clock
from smartprovince.core.db import Database
from smartprovince.core.ids import new_id
from smartprovince.core.logs import mask_pii
from smartprovince.feedback.config import FeedbackSettings
from smartprovince.feedback.lifecycle import ACTION_LABELS, STATUS_LABELS
from smartprovince.feedback.models import Notification, Report

log = logging.getLogger("smartprovince.feedback.notify")

MAX_ATTEMPTS = 5
TOLD_ACTIONS = frozenset({"created", "accepted", "updated", "resolved", "merged", "reopened", "closed", "escalated"})


class SmsGateway(Protocol):
    """An SMS provider: send ``text`` to the phone number ``to`` or raise."""

    def send(self, to: str, text: str) -> None: ...


class SmsSimulator:
    """Keeps the messages in memory (``sent``) and logs them masked; for development and tests."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def send(self, to: str, text: str) -> None:
        with self._lock:
            self.sent.append((to, text))
        log.info("SMS (simulated) to %s: %s", mask_pii(to), text[:80])


SIMULATOR = SmsSimulator()


def sms_gateway(cfg: FeedbackSettings) -> SmsGateway:
    """The SMS adapter named by the settings."""
    if cfg.sms_backend == "simulator":
        return SIMULATOR
    raise ValueError(f"unknown SMS backend {cfg.sms_backend!r}")


def _message(report: Report, action: str, note: str | None, cfg: FeedbackSettings) -> tuple[str, str]:
    status = STATUS_LABELS.get(report.status, report.status)
    what = ACTION_LABELS.get(action, action)
    subject = f"Phản ánh {report.code}: {what}"
    link = f"{cfg.public_url.rstrip('/')}/portal/feedback/{report.code}"
    lines = [f"Phản ánh {report.code} của bạn: {what}.", f"Trạng thái: {status}."]
    if note:
        lines.append(f"Ghi chú: {note}")
    lines.append(f"Xem chi tiết: {link}")
    if action == "resolved":
        lines.append(f"Bạn có thể đánh giá kết quả hoặc mở lại phản ánh: {link}?key={report.follow_key}")
    elif action == "created":
        lines.append(f"Mã theo dõi để đánh giá hoặc mở lại: {link}?key={report.follow_key}")
    return subject, "\n".join(lines)


def queue_for_event(session: Session, *, event_id: str, report_id: str, action: str, note: str | None,
                    cfg: FeedbackSettings) -> int:
    """Write the notifications of one event (the handler's work); returns how many rows."""
    if action not in TOLD_ACTIONS:
        return 0
    main = session.get(Report, report_id)
    if main is None:
        return 0
    if main.merged_into_id and action != "merged":
        return 0
    people = [main, *session.scalars(select(Report).where(Report.merged_into_id == main.id))]
    count = 0
    for r in people:
        subject, body = _message(r if r.id == main.id else main, action, note, cfg)
        now = clock.now()
        if r.reporter_user_id:
            session.add(Notification(id=new_id(), event_id=event_id, report_id=r.id, channel="inbox",
                                     user_id=r.reporter_user_id, subject=subject, body=body, status="sent",
                                     attempts=0, created_at=now, sent_at=now))
            count += 1
        if r.reporter_email:
            session.add(Notification(id=new_id(), event_id=event_id, report_id=r.id, channel="email",
                                     address=r.reporter_email, subject=subject, body=body, status="pending",
                                     attempts=0, created_at=now))
            count += 1
        if r.reporter_phone and action in ("created", "resolved"):
            session.add(Notification(id=new_id(), event_id=event_id, report_id=r.id, channel="sms",
                                     address=r.reporter_phone, subject=subject, body=subject, status="pending",
                                     attempts=0, created_at=now))
            count += 1
    return count


def _send_email(cfg: FeedbackSettings, to: str, subject: str, body: str) -> None:
    msg = EmailMessage()
    msg["From"] = cfg.mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    with smtplib.SMTP(cfg.smtp_host or "", cfg.smtp_port, timeout=15) as smtp:
        if cfg.smtp_starttls:
            smtp.starttls()
        if cfg.smtp_user:
            smtp.login(cfg.smtp_user, cfg.smtp_password or "")
        smtp.send_message(msg)


def deliver_pending(db: Database, cfg: FeedbackSettings, *, limit: int = 100) -> int:
    """Send pending e-mails and SMS; returns how many were sent. E-mails wait while no SMTP host is set."""
    channels = ["sms"] + (["email"] if cfg.smtp_host else [])
    with db.session(write=False) as s:
        rows = list(s.execute(select(Notification.id, Notification.channel, Notification.address,
                                     Notification.subject, Notification.body)
                              .where(Notification.status == "pending", Notification.channel.in_(channels))
                              .order_by(Notification.created_at).limit(limit)).all())
    sent = 0
    for row in rows:
        error = None
        try:
            if row.channel == "email":
                _send_email(cfg, row.address or "", row.subject, row.body)
            else:
                sms_gateway(cfg).send(row.address or "", row.body)
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            log.warning("notification %s failed: %s", row.id, mask_pii(error))
        with db.session() as s:
            n = s.get(Notification, row.id)
            if n is None or n.status != "pending":
                continue
            n.attempts += 1
            if error is None:
                n.status, n.sent_at, n.error = "sent", clock.now(), None
                sent += 1
            else:
                n.error = error
                if n.attempts >= MAX_ATTEMPTS:
                    n.status = "failed"
    return sent


def inbox(session: Session, user_id: str, *, limit: int = 50) -> list[Notification]:
    """Hộp thư — a user's in-app notifications, newest first."""
    return list(session.scalars(select(Notification).where(Notification.user_id == user_id,
                                                           Notification.channel == "inbox")
                                .order_by(Notification.created_at.desc()).limit(limit)))
