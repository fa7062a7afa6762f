"""Tables of the feedback module (phản ánh hiện trường — citizen reports)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from smartprovince.core.clock import now
from smartprovince.core.db import Base, UTCDateTime
from smartprovince.core.ids import new_id


class Report(Base):
    """Phản ánh — one report of a problem in a public place, sent by a citizen.

    ``unit_id`` / ``unit_path`` is the organisation that must handle it (found by routing);
    ``area_id`` the commune where the problem is. The reporter's contact (name, e-mail, phone) is
    private: it is never put in a public response. ``token`` is the Open311 token given to the
    client at submission; ``follow_key`` is a secret that lets a reporter without an account rate
    or reopen the report.
    """

    __tablename__ = "feedback_report"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    token: Mapped[str] = mapped_column(String(40), unique=True)
    follow_key: Mapped[str] = mapped_column(String(40))
    category_code: Mapped[str] = mapped_column(String(64), index=True)
    description: Mapped[str] = mapped_column(Text)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(500))
    area_id: Mapped[str | None] = mapped_column(ForeignKey("identity_organisation.id"))
    unit_id: Mapped[str] = mapped_column(ForeignKey("identity_organisation.id"), index=True)
    unit_path: Mapped[str] = mapped_column(String(1024), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    client_id: Mapped[str | None] = mapped_column(String(32))
    reporter_user_id: Mapped[str | None] = mapped_column(ForeignKey("identity_user.id"), index=True)
    reporter_name: Mapped[str | None] = mapped_column(String(200))
    reporter_email: Mapped[str | None] = mapped_column(String(254))
    reporter_phone: Mapped[str | None] = mapped_column(String(20))
    merged_into_id: Mapped[str | None] = mapped_column(ForeignKey("feedback_report.id"), index=True)
    duplicate_of_id: Mapped[str | None] = mapped_column(String(32))
    status_note: Mapped[str | None] = mapped_column(Text)
    rating: Mapped[int | None] = mapped_column(Integer)
    # Hours from receipt to acknowledgement / resolution, kept when they happen so statistics are plain sums.
    ack_hours: Mapped[float | None] = mapped_column(Float)
    resolve_hours: Mapped[float | None] = mapped_column(Float)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # Covering index of the public map's viewport query and the duplicate search (migration feedback_0002).
        Index("ix_feedback_report_map", "lat", "lon", "merged_into_id", "status", "category_code", "created_at",
              "id", "code"),
        # The same, ordered by time: wide map viewports read it newest first (migration feedback_0004).
        Index("ix_feedback_report_recent", "created_at", "lat", "lon", "merged_into_id", "status", "category_code",
              "id", "code"),
        # Covering index of the statistics (migration feedback_0002): every column they read.
        Index("ix_feedback_report_stats", "merged_into_id", "unit_id", "category_code", "status", "resolved_at",
              "due_at", "rating", "ack_hours", "resolve_hours", "created_at", "unit_path"),
    )


class ReportMedia(Base):
    """A photo attached to a report: sent by the reporter (``kind`` report) or by the officer (result).

    The stored bytes are already cleaned: EXIF data (location, camera) is removed before storing.
    """

    __tablename__ = "feedback_media"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    report_id: Mapped[str] = mapped_column(ForeignKey("feedback_report.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    key: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class ReportActivity(Base):
    """Dòng thời gian — one step in a report's timeline (who did what, the status after it, a note)."""

    __tablename__ = "feedback_activity"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    report_id: Mapped[str] = mapped_column(ForeignKey("feedback_report.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    action: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    unit_name: Mapped[str | None] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(Text)


class ApiClient(Base):
    """An Open311 client application with its API key (only a SHA-256 hash of the key is kept)."""

    __tablename__ = "feedback_api_client"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    rate_per_minute: Mapped[int] = mapped_column(Integer, default=60)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Notification(Base):
    """Thông báo — a message to a reporter; the table is the outbox of the notification sender.

    ``channel`` is ``inbox`` (shown in the platform to a logged-in user), ``email`` or ``sms``.
    ``status`` goes ``pending`` → ``sent`` (or ``failed`` after several attempts).
    """

    __tablename__ = "feedback_notification"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    event_id: Mapped[str] = mapped_column(String(32))
    report_id: Mapped[str] = mapped_column(ForeignKey("feedback_report.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("identity_user.id"), index=True)
    address: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RateWindow(Base):
    """Bộ đếm giới hạn tần suất — how many requests one client (``key``) made in one minute (``slot`` =
    Unix time // 60). Shared by every API process; rows older than the previous minute are pruned."""

    __tablename__ = "feedback_rate_window"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    slot: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)


class ReportStat(Base):
    """Số liệu tổng hợp — the statistics of one (unit, category), kept up to date on every write.

    Each report (not merged into another) adds its contribution to the row of its unit and category:
    1 to ``total``, 1 to ``handled`` when resolved or closed, 1 to ``on_time`` when resolved by its
    deadline, its rating, its hours to acknowledge and to resolve. ``stats.py`` applies the difference
    before every flush, in the same transaction as the report's change, so the statistics page reads a
    few thousand rows instead of every report. ``smartprovince feedback rebuild-stats`` recounts.
    """

    __tablename__ = "feedback_stat"

    unit_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    unit_path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    category_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    handled: Mapped[int] = mapped_column(Integer, default=0)
    on_time: Mapped[int] = mapped_column(Integer, default=0)
    rated: Mapped[int] = mapped_column(Integer, default=0)
    satisfied: Mapped[int] = mapped_column(Integer, default=0)
    rating_sum: Mapped[int] = mapped_column(Integer, default=0)
    ack_sum: Mapped[float] = mapped_column(Float, default=0.0)
    ack_n: Mapped[int] = mapped_column(Integer, default=0)
    res_sum: Mapped[float] = mapped_column(Float, default=0.0)
    res_n: Mapped[int] = mapped_column(Integer, default=0)
