"""Request and response models of the procedures API (pydantic v2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from smartprovince.procedures.catalog import DocumentIn, FeeIn, StepIn

VERB_LABELS: dict[str, str] = {
    "submit": "Nộp hồ sơ",
    "claim": "Nhận xử lý",
    "release": "Trả lại hồ sơ chưa xử lý",
    "receive": "Tiếp nhận hồ sơ",
    "refuse": "Từ chối tiếp nhận",
    "forward": "Chuyển xử lý",
    "request_supplement": "Yêu cầu bổ sung",
    "supplement": "Bổ sung hồ sơ",
    "request_fee": "Yêu cầu nộp phí",
    "pay": "Thanh toán phí",
    "request_withdrawal": "Yêu cầu rút hồ sơ",
    "refuse_withdrawal": "Không đồng ý rút hồ sơ",
    "stop": "Dừng xử lý",
    "finish": "Phê duyệt kết quả",
    "return_result": "Trả kết quả",
    "extend": "Xin lỗi và hẹn lại ngày trả",
}
"""Vietnamese label of every action (English in web/i18n/en.json)."""

PUBLIC_NOTE_VERBS = frozenset({"refuse", "request_supplement", "request_fee", "stop", "extend", "refuse_withdrawal",
                               "return_result"})
"""Actions whose note is written for the applicant and shown on public tracking."""


class ProcedureSummary(BaseModel):
    """A line of the catalog."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    national_code: str | None
    version: int
    name: str
    field: str
    agency_code: str
    agency_name: str
    level: str
    online_level: str
    processing_time: float
    processing_unit: str
    is_essential: bool
    superseded_by: str | None = None  # the code that replaced this one (then it takes no new dossiers)


class ProcedurePublic(ProcedureSummary):
    """Everything a citizen reads before submitting: documents, fees, time, result, routing steps."""

    cutoff_hour: int | None
    fees: list[FeeIn]
    documents: list[DocumentIn]
    result_kind: str
    result_name: str
    steps: list[StepIn]
    legal_basis: str
    created_at: datetime


class ImportOut(BaseModel):
    """What a catalog import did."""

    created: list[str]
    updated: list[str]
    unchanged: list[str]
    superseded: list[str] = []  # old codes retired by the file's "superseded" object


class ApplicantIn(BaseModel):
    """Người nộp — the applicant's contact details."""

    name: str = Field(min_length=1, max_length=200)
    cccd: str | None = Field(None, pattern=r"^\d{12}$")
    phone: str | None = Field(None, pattern=r"^\+?\d{8,15}$")
    email: str | None = Field(None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")
    address: str = Field("", max_length=400)


class DossierCreate(BaseModel):
    """Submit a dossier online (citizen). Files are added afterwards with the attachments endpoint."""

    procedure_code: str = Field(min_length=1, max_length=40)
    agency_code: str | None = Field(None, max_length=64, description="Receiving organisation (commune etc.) "
                                    "when the procedure's agency is chosen by the applicant.")
    applicant: ApplicantIn | None = Field(None, description="Default: the logged-in citizen.")
    form_data: dict[str, Any] = Field(default_factory=dict)
    note: str = Field("", max_length=2000)
    reuse_attachment_ids: list[str] = Field(default_factory=list, max_length=50)


class IntakeCreate(BaseModel):
    """Enter a counter or postal dossier (one-stop officer)."""

    procedure_code: str = Field(min_length=1, max_length=40)
    channel: Literal["counter", "post"] = "counter"
    agency_code: str | None = Field(None, max_length=64)
    applicant: ApplicantIn
    form_data: dict[str, Any] = Field(default_factory=dict)
    note: str = Field("", max_length=2000)


class ActionIn(BaseModel):
    """Parameters of an action; each verb reads the ones it needs."""

    note: str = Field("", max_length=2000)
    reason: str = Field("", max_length=2000, description="Required by refuse, request_supplement, stop, extend, "
                        "refuse_withdrawal and request_withdrawal.")
    to_step: int | None = Field(None, ge=0, le=100, description="forward: the routing step (default: next).")
    to_unit: str | None = Field(None, max_length=200, description="forward: another unit's name.")
    amount: int | None = Field(None, gt=0, le=10_000_000_000, description="request_fee: VND (default: the fees).")
    method: str | None = Field(None, max_length=20, description="return_result: counter|post|electronic; "
                               "pay: online|counter.")
    new_due_at: datetime | None = Field(None, description="extend: the new date promised.")


class ActionPublic(BaseModel):
    """One entry of a dossier's timeline."""

    seq: int
    verb: str
    label: str
    from_status: int | None
    to_status: int
    status_label: str
    at: datetime
    actor_name: str | None = None
    note: str = ""


class AttachmentPublic(BaseModel):
    """A file of the dossier."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    document_name: str
    filename: str
    content_type: str
    size: int
    digitised: bool
    kind: str
    reused_from_id: str | None
    uploaded_at: datetime


class PaymentPublic(BaseModel):
    """A fee request and whether it is paid."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    amount: int
    description: str
    status: str
    method: str | None
    requested_at: datetime
    paid_at: datetime | None
    receipt_no: str | None


class DossierSummary(BaseModel):
    """A line of a dossier list."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    code: str
    procedure_code: str
    agency_code: str
    channel: str
    status: int
    status_label: str = ""
    applicant_name: str
    submitted_at: datetime
    received_at: datetime | None
    due_at: datetime | None
    extended_due_at: datetime | None
    finished_at: datetime | None
    claimed_by_name: str = ""
    current_unit: str = ""


class DossierDetail(DossierSummary):
    """A dossier with its procedure name, timeline, files, payments and the actions allowed now."""

    procedure_name: str
    procedure_version: int
    lookup_key: str | None = None
    applicant_cccd: str | None
    applicant_phone: str | None
    applicant_email: str | None
    applicant_address: str
    form_data: dict[str, Any]
    note: str
    returned_at: datetime | None
    supplement_requests: int
    supplement_days: int
    current_step: int
    fee_total: int
    fee_paid: int
    digitised: bool
    return_method: str | None
    result_note: str
    timing: str | None
    actions: list[ActionPublic]
    attachments: list[AttachmentPublic]
    payments: list[PaymentPublic]
    allowed_actions: list[str]


class TrackingPublic(BaseModel):
    """What anybody with the code and the lookup key sees (tra cứu hồ sơ): no personal data beyond initials."""

    code: str
    procedure_code: str
    procedure_name: str
    agency_code: str
    channel: str
    status: int
    status_label: str
    applicant_initials: str
    submitted_at: datetime
    received_at: datetime | None
    due_at: datetime | None
    extended_due_at: datetime | None
    finished_at: datetime | None
    returned_at: datetime | None
    fee_total: int
    fee_paid: int
    timeline: list[ActionPublic]


class StatsRow(BaseModel):
    """Statistics of one agency × procedure over the period (Decision 766 definitions)."""

    agency_code: str
    procedure_code: str
    procedure_name: str
    received: int
    received_online: int
    finished: int
    finished_early: int
    finished_on_time: int
    finished_late: int
    open_within_due: int
    open_overdue: int
    stopped_or_refused: int
    fee_dossiers: int
    paid_online: int
    digitised: int
    avg_processing_days: float | None
    online_rate: float | None
    on_time_rate: float | None
    online_payment_rate: float | None
    digitisation_rate: float | None


class StatsOut(BaseModel):
    """Statistics for a period: one row per agency × procedure, and the total."""

    date_from: str
    date_to: str
    agency: str | None
    rows: list[StatsRow]
    total: StatsRow


class PaymentOrderOut(BaseModel):
    """How to pay one fee request: the VietQR text, the QR image link and the platform's pay page."""

    payment_id: str
    dossier_code: str
    amount: int
    description: str
    status: str
    receipt_no: str | None
    bank_bin: str
    account: str
    account_name: str
    vietqr: str = Field(description="EMVCo (NAPAS VietQR) payload text, CRC16 included")
    qr_url: str = Field(description="The VietQR as an SVG image")
    pay_url: str | None = Field(description="The payment platform's page for this order (None once paid)")


class PaymentCallbackOut(BaseModel):
    """Our answer to the payment platform's callback."""

    order_id: str
    status: str
    receipt_no: str | None


class SimulatedPaymentOut(BaseModel):
    """What the payment simulator did: the callback it sent and the answer it got."""

    order_id: str
    callback_status: int
