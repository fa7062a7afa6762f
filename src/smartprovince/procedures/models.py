"""Tables of the administrative-procedure module (thủ tục hành chính).

* :class:`Procedure` — one *version* of a procedure in the catalog; a dossier points at the version
  it was received under, so later edits never change old dossiers.
* :class:`Dossier` — hồ sơ, one application; its status is a cache of its action log.
* :class:`DossierAction` — the append-only action log (nhật ký xử lý).
* :class:`DossierCounter` — one row per agency per day; gives gap-free dossier codes.
* :class:`DossierAttachment` — a file of the dossier (thành phần hồ sơ), digitised or not.
* :class:`DossierPayment` — a fee payment request and its outcome (used by the fee features).
* :class:`DailyStats` — the daily aggregate behind the statistics (kept by :mod:`.daily`), and
  :class:`MonthlyOpenStats` — its open / past-due differences summed by month.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from smartprovince.core.db import Base, UTCDateTime
from smartprovince.core.ids import new_id


class Procedure(Base):
    """Thủ tục hành chính — one version of a procedure of the catalog.

    ``code`` is the catalog key (the national code when there is one, else a local code that starts
    with ``HD-``); ``version`` grows by one each time an import changes the content. Exactly one
    version per code has ``is_current`` true; new dossiers use it. A code retired in favour of another
    (``superseded_by``, on every version) is hidden from the public catalog and takes no new dossiers.
    """

    __tablename__ = "procedure"
    __table_args__ = (
        UniqueConstraint("code", "version", name="uq_procedure_code_version"),
        Index("ix_procedure_current", "is_current", "code"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(40), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    national_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    name: Mapped[str] = mapped_column(String(500))
    field: Mapped[str] = mapped_column(String(200), index=True)  # lĩnh vực
    agency_code: Mapped[str] = mapped_column(String(40), index=True)  # cơ quan thực hiện (organisation code)
    agency_name: Mapped[str] = mapped_column(String(300), default="")
    level: Mapped[str] = mapped_column(String(20))  # province | district | commune | central
    online_level: Mapped[str] = mapped_column(String(10))  # full | partial | none
    processing_time: Mapped[float] = mapped_column(Numeric(8, 2))
    processing_unit: Mapped[str] = mapped_column(String(20))  # working_days | hours | calendar_days
    cutoff_hour: Mapped[int | None] = mapped_column(Integer, nullable=True)
    fees: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{name, amount_vnd, online_amount_vnd}]
    documents: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{name, copies, required}]
    result_kind: Mapped[str] = mapped_column(String(20), default="paper")  # paper | electronic
    result_name: Mapped[str] = mapped_column(String(300), default="")
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{name, role, unit, days}]
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    is_essential: Mapped[bool] = mapped_column(Boolean, default=False)  # one of Project 06's 25 services
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Thay thế bởi — the code that replaces this one (a local code retired for the national code): the
    # procedure leaves the public catalog and takes no new dossiers; the dossiers it has keep it.
    superseded_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DossierCounter(Base):
    """Bộ đếm số hồ sơ — the last sequence number used by one agency on one (local) day."""

    __tablename__ = "procedure_dossier_counter"

    agency_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)


class Dossier(Base):
    """Hồ sơ — an application for an administrative procedure.

    ``status`` is the national status code (1–10) and is always equal to the replay of the action
    log. ``due_at`` is set when the one-stop desk accepts the dossier; ``extended_due_at`` after the
    one apology-and-extension letter. ``agency_path`` copies the receiving organisation's path so
    permission checks by subtree need no join.
    """

    __tablename__ = "procedure_dossier"
    __table_args__ = (
        Index("ix_procedure_dossier_agency_status_due", "agency_path", "status", "due_at"),
        Index("ix_procedure_dossier_received", "received_at", "agency_code", "procedure_code"),
        Index("ix_procedure_dossier_applicant", "applicant_user_id", "submitted_at"),
        # Only the dossiers still open (few): the statistics count them live, the rest from the daily table.
        Index("ix_procedure_dossier_open", "received_at",
              sqlite_where=text("finished_at IS NULL AND closed_at IS NULL"),
              postgresql_where=text("finished_at IS NULL AND closed_at IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    lookup_key: Mapped[str] = mapped_column(String(16))
    procedure_id: Mapped[str] = mapped_column(ForeignKey("procedure.id"))
    procedure_code: Mapped[str] = mapped_column(String(40))
    agency_code: Mapped[str] = mapped_column(String(40))
    agency_org_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    agency_path: Mapped[str] = mapped_column(String(1024), default="")
    channel: Mapped[str] = mapped_column(String(10))  # online | counter | post
    status: Mapped[int] = mapped_column(Integer)
    applicant_user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    applicant_name: Mapped[str] = mapped_column(String(200))
    applicant_cccd: Mapped[str | None] = mapped_column(String(12), nullable=True)
    applicant_phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    applicant_email: Mapped[str | None] = mapped_column(String(200), nullable=True)
    applicant_address: Mapped[str] = mapped_column(String(400), default="")
    form_data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    extended_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # refused / stopped
    supplement_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    supplement_requests: Mapped[int] = mapped_column(Integer, default=0)
    supplement_days: Mapped[int] = mapped_column(Integer, default=0)  # working days spent waiting, excluded
    current_step: Mapped[int] = mapped_column(Integer, default=0)
    current_unit: Mapped[str] = mapped_column(String(200), default="")
    claimed_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    claimed_by_name: Mapped[str] = mapped_column(String(200), default="")
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    fee_total: Mapped[int] = mapped_column(Integer, default=0)  # VND requested
    fee_paid: Mapped[int] = mapped_column(Integer, default=0)  # VND paid
    paid_online: Mapped[bool] = mapped_column(Boolean, default=False)
    digitised: Mapped[bool] = mapped_column(Boolean, default=False)  # every attachment digitised
    return_method: Mapped[str | None] = mapped_column(String(20), nullable=True)  # counter | post | electronic
    result_note: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)  # optimistic check for concurrent writes


class DossierAction(Base):
    """Nhật ký xử lý — one action in a dossier's life; rows are only ever added.

    ``seq`` numbers the actions of a dossier from 1; the pair is unique, so two concurrent writers
    cannot both append action N.
    """

    __tablename__ = "procedure_dossier_action"
    __table_args__ = (UniqueConstraint("dossier_id", "seq", name="uq_procedure_dossier_action_seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("procedure_dossier.id"))  # indexed by (dossier_id, seq)
    seq: Mapped[int] = mapped_column(Integer)
    verb: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    to_status: Mapped[int] = mapped_column(Integer)
    actor_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DossierAttachment(Base):
    """Thành phần hồ sơ — one file given with the dossier (or reused from the citizen's earlier files)."""

    __tablename__ = "procedure_dossier_attachment"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("procedure_dossier.id"), index=True)
    document_name: Mapped[str] = mapped_column(String(300))  # which required document this is
    filename: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64), default="")
    digitised: Mapped[bool] = mapped_column(Boolean, default=True)
    reused_from_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    kind: Mapped[str] = mapped_column(String(20), default="input")  # input | supplement | result
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    uploaded_by: Mapped[str | None] = mapped_column(String(32), nullable=True)


class DossierPayment(Base):
    """Thanh toán phí, lệ phí — a fee payment request for a dossier and its outcome."""

    __tablename__ = "procedure_dossier_payment"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("procedure_dossier.id"), index=True)
    amount: Mapped[int] = mapped_column(Integer)  # VND
    description: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | paid | cancelled
    method: Mapped[str | None] = mapped_column(String(20), nullable=True)  # online | counter
    provider_ref: Mapped[str | None] = mapped_column(String(100), nullable=True, unique=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    receipt_no: Mapped[str | None] = mapped_column(String(60), nullable=True)


class DailyStats(Base):
    """Thống kê ngày — what happened to one procedure's dossiers at one agency on one local day."""

    __tablename__ = "procedure_stats_daily"
    __table_args__ = (Index("ix_procedure_stats_daily_path", "agency_path", "day"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    agency_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    procedure_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    agency_path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    received: Mapped[int] = mapped_column(Integer, default=0)
    received_online: Mapped[int] = mapped_column(Integer, default=0)
    fee_dossiers: Mapped[int] = mapped_column(Integer, default=0)
    paid_online: Mapped[int] = mapped_column(Integer, default=0)
    digitised: Mapped[int] = mapped_column(Integer, default=0)
    finished: Mapped[int] = mapped_column(Integer, default=0)
    finished_early: Mapped[int] = mapped_column(Integer, default=0)
    finished_late: Mapped[int] = mapped_column(Integer, default=0)
    processing_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    stopped_or_refused: Mapped[int] = mapped_column(Integer, default=0)
    open_delta: Mapped[int] = mapped_column(Integer, default=0)
    overdue_delta: Mapped[int] = mapped_column(Integer, default=0)


class MonthlyOpenStats(Base):
    """Thống kê tháng — the monthly sums of :class:`DailyStats`' open / past-due differences.

    The dossiers open at the end of a day D are the sum of the differences of every day up to D: the
    months before D's month are read here (a few thousand rows), only D's own month day by day.
    """

    __tablename__ = "procedure_stats_monthly_open"

    month: Mapped[date] = mapped_column(Date, primary_key=True)  # the first day of the month
    agency_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    procedure_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    agency_path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    open_delta: Mapped[int] = mapped_column(Integer, default=0)
    overdue_delta: Mapped[int] = mapped_column(Integer, default=0)
