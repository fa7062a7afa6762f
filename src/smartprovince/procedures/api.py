"""HTTP API of the procedures module, under ``/api/v1/procedures``: parse, authorise, call the service, return."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from smartprovince.core.clock import local_now
from smartprovince.core.deps import DbSession
from smartprovince.core.errors import NotFound, Unauthorized, ValidationProblem
from smartprovince.core.pagination import CursorParams, Page, paginate
from smartprovince.core.security import Actor, authenticated, public, require
from smartprovince.core.storage import Storage
from smartprovince.procedures import catalog, queries, service, stats, vietqr, xlsx
from smartprovince.procedures.adapters import payment as payment_adapter
from smartprovince.procedures.config import get_procedures_settings
from smartprovince.procedures.models import Dossier, Procedure
from smartprovince.procedures.schemas import (
    ActionIn,
    DossierCreate,
    DossierDetail,
    DossierSummary,
    ImportOut,
    IntakeCreate,
    PaymentCallbackOut,
    PaymentOrderOut,
    ProcedurePublic,
    ProcedureSummary,
    SimulatedPaymentOut,
    StatsOut,
    TrackingPublic,
)

router = APIRouter(prefix="/procedures", tags=["procedures"])

ATTACHMENT_TYPES = ("application/pdf", "image/jpeg", "image/png")
"""File types accepted as dossier documents (real type checked from the bytes by core.storage)."""

OfficerVerb = Literal["claim", "release", "receive", "refuse", "forward", "request_supplement", "request_fee",
                      "refuse_withdrawal", "stop", "finish", "return_result", "extend"]
ApplicantVerb = Literal["supplement", "pay", "request_withdrawal"]


# ------------------------------------------------------------------------------------------ catalog


@router.get("/catalog", response_model=Page[ProcedureSummary], summary="Search the procedure catalog")
def list_procedures(
    session: DbSession,
    params: CursorParams = Depends(),
    q: str | None = Query(None, max_length=200, description="Words of the name, or a code"),
    field: str | None = Query(None, max_length=200),
    agency: str | None = Query(None, max_length=64),
    level: Literal["central", "province", "district", "commune"] | None = None,
    online: Literal["full", "partial", "none"] | None = None,
    essential: bool | None = None,
    _: Actor = Depends(public("the procedure catalog is public information")),
) -> Page[Any]:
    stmt = queries.catalog_query(q=q, field=field, agency=agency, level=level, online=online, essential=essential)
    return paginate(session, stmt, params, key=Procedure.code, into=ProcedureSummary)


@router.get("/catalog/{code}", response_model=ProcedurePublic, summary="One procedure (current or given version)")
def get_procedure(
    code: str, session: DbSession, version: int | None = Query(None, ge=1, le=100000),
    _: Actor = Depends(public("the procedure catalog is public information")),
) -> ProcedurePublic:
    return ProcedurePublic.model_validate(queries.get_procedure(session, code, version), from_attributes=True)


@router.post("/catalog/import", response_model=ImportOut, summary="Import procedures from a JSON or CSV file")
def import_catalog(
    session: DbSession,
    file: UploadFile = File(..., description="JSON ({'procedures': [...], 'superseded': {old code: new code}}) "
                                             "or CSV"),
    actor: Actor = Depends(require("procedures.catalog.manage")),
) -> ImportOut:
    data = file.file.read(5 * 1024 * 1024 + 1)
    if len(data) > 5 * 1024 * 1024:
        raise ValidationProblem("A catalog file may be at most 5 MB.")
    result = catalog.import_file(session, actor=actor, data=data, filename=file.filename or "",
                                 content_type=file.content_type or "")
    return ImportOut(**result.as_dict())


# ------------------------------------------------------------------------------------------ dossiers


@router.post("/dossiers", response_model=DossierDetail, status_code=201, summary="Submit a dossier online")
def submit_online(
    body: DossierCreate, session: DbSession, actor: Actor = Depends(require("procedures.dossier.submit")),
) -> DossierDetail:
    applicant = body.applicant
    if applicant is None:
        applicant_data = service.Applicant(name=actor.display_name or actor.username)
    else:
        applicant_data = service.Applicant(**applicant.model_dump())
    d = service.submit_dossier(session, actor=actor, submission=service.Submission(
        procedure_code=body.procedure_code, applicant=applicant_data, channel="online", agency_code=body.agency_code,
        form_data=body.form_data, note=body.note, reuse_attachment_ids=body.reuse_attachment_ids))
    return queries.detail(session, actor, d)


@router.post("/intake", response_model=DossierDetail, status_code=201, summary="Enter a counter or postal dossier")
def submit_counter(
    body: IntakeCreate, session: DbSession, actor: Actor = Depends(require("procedures.dossier.receive")),
) -> DossierDetail:
    d = service.submit_dossier(session, actor=actor, submission=service.Submission(
        procedure_code=body.procedure_code, applicant=service.Applicant(**body.applicant.model_dump()),
        channel=body.channel, agency_code=body.agency_code, form_data=body.form_data, note=body.note))
    return queries.detail(session, actor, d)


@router.get("/dossiers", response_model=Page[DossierSummary], summary="Dossiers of the officer's agencies")
def list_dossiers(
    session: DbSession,
    params: CursorParams = Depends(),
    view: Literal["all", "intake", "processing", "closed"] = "all",
    status: int | None = Query(None, ge=1, le=10),
    procedure: str | None = Query(None, max_length=40),
    agency: str | None = Query(None, max_length=64),
    q: str | None = Query(None, max_length=100),
    actor: Actor = Depends(require("procedures.dossier.read")),
) -> Page[Any]:
    stmt = queries.dossiers_query(actor, view=view, status=status, procedure=procedure, agency=agency, q=q)
    return paginate(session, stmt, params, key=Dossier.submitted_at, descending=True).map(queries.summary)


@router.get("/my-dossiers", response_model=Page[DossierSummary], summary="Dossiers I submitted")
def my_dossiers(
    session: DbSession, params: CursorParams = Depends(), actor: Actor = Depends(authenticated()),
) -> Page[Any]:
    stmt = queries.my_dossiers_query(actor)
    return paginate(session, stmt, params, key=Dossier.submitted_at, descending=True).map(queries.summary)


@router.get("/dossiers/{dossier_id}", response_model=DossierDetail, summary="One dossier with its timeline")
def get_dossier(dossier_id: str, session: DbSession, actor: Actor = Depends(authenticated())) -> DossierDetail:
    return queries.detail(session, actor, queries.access_dossier_by_id(session, actor, dossier_id))


OFFICER_DISPATCH = {
    "claim": lambda s, a, i, b: service.claim_dossier(s, actor=a, dossier_id=i),
    "release": lambda s, a, i, b: service.release_dossier(s, actor=a, dossier_id=i),
    "receive": lambda s, a, i, b: service.receive_dossier(s, actor=a, dossier_id=i, note=b.note),
    "refuse": lambda s, a, i, b: service.refuse_dossier(s, actor=a, dossier_id=i, reason=b.reason or b.note),
    "forward": lambda s, a, i, b: service.forward_dossier(s, actor=a, dossier_id=i, to_step=b.to_step,
                                                          to_unit=b.to_unit, note=b.note),
    "request_supplement": lambda s, a, i, b: service.request_supplement(s, actor=a, dossier_id=i,
                                                                        reason=b.reason or b.note),
    "request_fee": lambda s, a, i, b: service.request_fee(s, actor=a, dossier_id=i, amount=b.amount,
                                                          description=b.note),
    "refuse_withdrawal": lambda s, a, i, b: service.refuse_withdrawal(s, actor=a, dossier_id=i,
                                                                      reason=b.reason or b.note),
    "stop": lambda s, a, i, b: service.stop_dossier(s, actor=a, dossier_id=i, reason=b.reason or b.note),
    "finish": lambda s, a, i, b: service.finish_dossier(s, actor=a, dossier_id=i, result_note=b.note),
    "return_result": lambda s, a, i, b: service.return_result(s, actor=a, dossier_id=i, method=b.method or "",
                                                              note=b.note),
    "extend": lambda s, a, i, b: service.extend_dossier(s, actor=a, dossier_id=i, new_due_at=_need_date(b),
                                                        reason=b.reason or b.note),
}

APPLICANT_DISPATCH = {
    "supplement": lambda s, a, i, b: service.supplement_dossier(s, actor=a, dossier_id=i, note=b.note),
    "pay": lambda s, a, i, b: service.pay_fee(s, actor=a, dossier_id=i, method=b.method or "online"),
    "request_withdrawal": lambda s, a, i, b: service.request_withdrawal(s, actor=a, dossier_id=i,
                                                                        reason=b.reason or b.note),
}


def _need_date(body: ActionIn) -> Any:
    if body.new_due_at is None:
        raise ValidationProblem("new_due_at is required.",
                                errors=[{"loc": ["body", "new_due_at"], "msg": "required", "type": "missing"}])
    return body.new_due_at


@router.post("/dossiers/{dossier_id}/actions/{verb}", response_model=DossierDetail,
             summary="An officer action (claim first; 409 when not allowed in the current status)")
def officer_action(
    dossier_id: str, verb: OfficerVerb, session: DbSession, body: ActionIn | None = None,
    actor: Actor = Depends(require("procedures.dossier.read")),
) -> DossierDetail:
    queries.access_dossier_by_id(session, actor, dossier_id)
    OFFICER_DISPATCH[verb](session, actor, dossier_id, body or ActionIn())
    d = queries.access_dossier_by_id(session, actor, dossier_id)
    return queries.detail(session, actor, d)


@router.post("/dossiers/{dossier_id}/applicant/{verb}", response_model=DossierDetail,
             summary="An applicant action: hand in a supplement, pay, ask to withdraw")
def applicant_action(
    dossier_id: str, verb: ApplicantVerb, session: DbSession, body: ActionIn | None = None,
    actor: Actor = Depends(authenticated()),
) -> DossierDetail:
    queries.access_dossier_by_id(session, actor, dossier_id)
    APPLICANT_DISPATCH[verb](session, actor, dossier_id, body or ActionIn())
    return queries.detail(session, actor, queries.access_dossier_by_id(session, actor, dossier_id))


@router.post("/dossiers/{dossier_id}/attachments", response_model=DossierDetail, status_code=201,
             summary="Add a document file (PDF, JPEG, PNG)")
def upload_attachment(
    dossier_id: str, request: Request, session: DbSession,
    file: UploadFile = File(...),
    document_name: str = Form("", max_length=300),
    digitised: bool = Form(True),
    actor: Actor = Depends(authenticated()),
) -> DossierDetail:
    queries.access_dossier_by_id(session, actor, dossier_id)
    new = store_upload(request, file, document_name=document_name, digitised=digitised)
    d = service.attach_files(session, actor=actor, dossier_id=dossier_id, files=[new])
    return queries.detail(session, actor, d)


def store_upload(request: Request, file: UploadFile, *, document_name: str = "", digitised: bool = True
                 ) -> service.NewAttachment:
    """Check and store one uploaded file with ``core.storage``; 413/415 problems on bad files."""
    settings = request.app.state.settings
    data = file.file.read(int(settings.max_upload_bytes) + 1)
    stored = Storage(settings).save(data, filename=file.filename, content_type=file.content_type,
                                    allowed_types=ATTACHMENT_TYPES)
    return service.NewAttachment(document_name=document_name or stored.filename, filename=stored.filename,
                                 content_type=stored.content_type, size=stored.size, storage_key=stored.key,
                                 digitised=digitised)


@router.post("/dossiers/{dossier_id}/result", response_model=DossierDetail,
             summary="Approve with the electronic result files (multipart; the applicant downloads them)")
def finish_with_result(
    dossier_id: str, request: Request, session: DbSession,
    files: list[UploadFile] = File(...),
    note: str = Form("", max_length=2000),
    actor: Actor = Depends(require("procedures.dossier.approve")),
) -> DossierDetail:
    """Phê duyệt kèm kết quả điện tử — the ``finish`` action with the result as files (PDF, JPEG, PNG)."""
    queries.access_dossier_by_id(session, actor, dossier_id)
    stored = [store_upload(request, f, document_name="Kết quả") for f in files]
    service.finish_dossier(session, actor=actor, dossier_id=dossier_id, result_note=note, result_files=stored)
    return queries.detail(session, actor, queries.access_dossier_by_id(session, actor, dossier_id))


@router.get("/dossiers/{dossier_id}/attachments/{attachment_id}", summary="Download a document file",
            response_class=Response, responses={200: {"content": {"application/octet-stream": {}}}})
def download_attachment(
    dossier_id: str, attachment_id: str, request: Request, session: DbSession,
    actor: Actor = Depends(authenticated()),
) -> Response:
    d = queries.access_dossier_by_id(session, actor, dossier_id)
    att = queries.attachment_of(session, d, attachment_id)
    data = Storage(request.app.state.settings).open(att.storage_key)
    return Response(data, media_type=att.content_type, headers={
        "Content-Disposition": f'attachment; filename="{att.filename}"', "X-Content-Type-Options": "nosniff"})


@router.get("/lookup", response_model=TrackingPublic, summary="Follow a dossier by its code and lookup key")
async def lookup(
    request: Request,
    code: str = Query(..., min_length=5, max_length=60),
    key: str = Query(..., min_length=4, max_length=16),
    _: Actor = Depends(public("tracking by dossier code plus the secret lookup key printed on the receipt")),
) -> Response:
    # The busiest public route: one trip to the thread pool for the whole read (session, query, JSON)
    # instead of one for each of the session's start, the route and the session's end.
    body = await run_in_threadpool(queries.track_json, request.app.state.db, code, key)
    return Response(body, media_type="application/json")


# ------------------------------------------------------------------------------------------ statistics


@router.get("/stats", response_model=StatsOut, summary="Statistics per agency × procedure (Decision 766)",
            responses={200: {"content": {"text/csv": {}, xlsx.XLSX_MEDIA_TYPE: {}}}})
def get_stats(
    session: DbSession,
    date_from: date = Query(..., alias="from"),
    date_to: date = Query(..., alias="to"),
    agency: str | None = Query(None, max_length=64),
    procedure: str | None = Query(None, max_length=40),
    by: Literal["agency_procedure", "procedure", "agency"] = "agency_procedure",
    format: Literal["json", "csv", "xlsx"] = "json",
    actor: Actor = Depends(require("procedures.stats.read")),
) -> Any:
    if date_to < date_from:
        raise ValidationProblem("'to' must not be before 'from'.")
    if (date_to - date_from).days > 3660:
        raise ValidationProblem("The period may be at most ten years.")
    result = stats.compute(session, date_from, date_to, agency=agency, procedure=procedure,
                           scopes=actor.scopes("procedures.stats.read"), by=by)
    if format == "csv":
        return Response(stats.to_csv(result), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="tthc-{date_from}-{date_to}.csv"'})
    if format == "xlsx":
        return Response(xlsx.stats_workbook(result), media_type=xlsx.XLSX_MEDIA_TYPE, headers={
            "Content-Disposition": f'attachment; filename="tthc-{date_from}-{date_to}.xlsx"'})
    return result


@router.get("/worklist.xlsx", summary="The officer's worklist as an Excel file (XLSX)", response_class=Response,
            responses={200: {"content": {xlsx.XLSX_MEDIA_TYPE: {}}}})
def worklist_xlsx(session: DbSession, actor: Actor = Depends(require("procedures.dossier.read"))) -> Response:
    lists, marks, names = queries.worklist_with_marks(session, actor)
    day = local_now().date()
    return Response(xlsx.worklist_workbook(lists, marks, names), media_type=xlsx.XLSX_MEDIA_TYPE, headers={
        "Content-Disposition": f'attachment; filename="ho-so-{day}.xlsx"'})


# ------------------------------------------------------------------------------------------ fees

_PROBLEMS: dict[int | str, dict[str, Any]] = {401: {"description": "Bad signature"}, 404: {"description": "Not found"},
             409: {"description": "Conflict"}, 422: {"description": "Invalid"}}


def order_for(request: Request, dossier: Dossier, payment: Any) -> PaymentOrderOut:
    """The payment instructions of one fee request: VietQR text and the platform's pay page."""
    cfg = get_procedures_settings()
    payload = vietqr.build_payload(bank_bin=cfg.vietqr_bank_bin, account=cfg.vietqr_account, amount=payment.amount,
                                   purpose=dossier.code)
    pay_url = None
    if payment.status == "pending":
        try:
            pay_url = payment_adapter.platform_from_settings(cfg).create_order(payment_adapter.PaymentOrder(
                order_id=payment.id, amount=payment.amount, description=f"TTHC {dossier.code}",
                callback_url=callback_url(request))).pay_url
        except payment_adapter.PaymentError:
            pay_url = None  # the VietQR transfer still works; the platform page comes back when it does
    return PaymentOrderOut(
        payment_id=payment.id, dossier_code=dossier.code, amount=payment.amount, description=payment.description,
        status=payment.status, receipt_no=payment.receipt_no, bank_bin=cfg.vietqr_bank_bin, account=cfg.vietqr_account,
        account_name=cfg.vietqr_account_name, vietqr=payload,
        qr_url=f"/api/v1/procedures/dossiers/{dossier.id}/payments/{payment.id}/qr.svg", pay_url=pay_url)


def callback_url(request: Request) -> str:
    """Where the payment platform must post its callback."""
    cfg = get_procedures_settings()
    return cfg.payment_callback_url or str(request.base_url).rstrip("/") + "/api/v1/procedures/payments/callback"


@router.get("/dossiers/{dossier_id}/payments/{payment_id}", response_model=PaymentOrderOut,
            summary="How to pay a fee request (VietQR, payment page)", responses={404: _PROBLEMS[404]})
def get_payment(
    dossier_id: str, payment_id: str, request: Request, session: DbSession, actor: Actor = Depends(authenticated()),
) -> PaymentOrderOut:
    d = queries.access_dossier_by_id(session, actor, dossier_id)
    return order_for(request, d, queries.payment_of(session, d, payment_id))


@router.get("/dossiers/{dossier_id}/payments/{payment_id}/qr.svg", summary="The VietQR of a fee request (SVG)",
            response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}, 404: _PROBLEMS[404]})
def get_payment_qr(
    dossier_id: str, payment_id: str, session: DbSession, actor: Actor = Depends(authenticated()),
) -> Response:
    d = queries.access_dossier_by_id(session, actor, dossier_id)
    p = queries.payment_of(session, d, payment_id)
    cfg = get_procedures_settings()
    payload = vietqr.build_payload(bank_bin=cfg.vietqr_bank_bin, account=cfg.vietqr_account, amount=p.amount,
                                   purpose=d.code)
    return Response(vietqr.qr_svg(payload), media_type="image/svg+xml", headers={"Cache-Control": "private"})


async def raw_body(request: Request) -> bytes:
    """The request body exactly as sent (the signature covers these bytes)."""
    return await request.body()


@router.post("/payments/callback", response_model=PaymentCallbackOut, responses=_PROBLEMS,
             summary="Payment platform callback (HMAC-SHA256 signature in X-Signature)")
def payment_callback(
    request: Request, session: DbSession, body: bytes = Depends(raw_body),
    _: Actor = Depends(public("called by the payment platform; authenticated by the HMAC signature of the body")),
) -> PaymentCallbackOut:
    cfg = get_procedures_settings()
    if len(body) > 64 * 1024 or not payment_adapter.verify(
            cfg.payment_secret, body, request.headers.get(payment_adapter.SIGNATURE_HEADER)):
        raise Unauthorized("The callback signature is missing or wrong.")
    try:
        data = payment_adapter.parse_callback(body)
    except ValueError as exc:
        raise ValidationProblem(f"Bad callback: {exc}") from exc
    if data["status"] != "paid":
        return PaymentCallbackOut(order_id=data["order_id"], status=str(data["status"])[:20], receipt_no=None)
    from dataclasses import replace

    from smartprovince.core.security import SYSTEM

    platform = replace(SYSTEM, username="payment-platform", display_name="Cổng thanh toán")
    p = service.confirm_online_payment(session, actor=platform, order_id=data["order_id"],
                                       provider_ref=data["provider_ref"], amount=data["amount"])
    return PaymentCallbackOut(order_id=p.id, status=p.status, receipt_no=p.receipt_no)


def simulate_payment(request: Request, session: Any, actor: Actor, order_id: str) -> int:
    """The simulator's "payer confirms": send the platform's signed callback to our callback URL."""
    cfg = get_procedures_settings()
    if cfg.payment_backend != "simulator":
        raise NotFound("The payment simulator is switched off.")
    from smartprovince.procedures.models import DossierPayment

    p = session.get(DossierPayment, order_id)
    if p is None:
        raise NotFound("No such payment order.")
    queries.access_dossier_by_id(session, actor, p.dossier_id)  # only someone who may see the dossier pays here
    sim = payment_adapter.SimulatedPaymentPlatform(cfg.payment_secret)
    body, headers = sim.build_callback(order_id=p.id, amount=p.amount)
    session.rollback()  # end our read transaction before the callback writes (SQLite has one writer)
    return payment_adapter.deliver_callback(callback_url(request), body, headers)


@router.post("/payment-simulator/orders/{order_id}/pay", response_model=SimulatedPaymentOut,
             responses={404: _PROBLEMS[404]},
             summary="Payment simulator: pay an order (posts the signed callback like the platform)")
def simulator_pay(
    order_id: str, request: Request, session: DbSession, actor: Actor = Depends(authenticated()),
) -> SimulatedPaymentOut:
    return SimulatedPaymentOut(order_id=order_id, callback_status=simulate_payment(request, session, actor, order_id))


# ------------------------------------------------------------------------------------------ PDF forms


def _pdf(data: bytes, filename: str) -> Response:
    return Response(data, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{filename}"', "X-Content-Type-Options": "nosniff"})


@router.get("/dossiers/{dossier_id}/forms/{kind}.pdf", summary="A printable form of the dossier (PDF, Vietnamese)",
            response_class=Response, responses={200: {"content": {"application/pdf": {}}}, 404: _PROBLEMS[404]})
def get_form(
    dossier_id: str, kind: Literal["receipt", "supplement", "refusal", "apology", "control"], request: Request,
    session: DbSession, actor: Actor = Depends(authenticated()),
) -> Response:
    from smartprovince.procedures import documents

    d = queries.access_dossier_by_id(session, actor, dossier_id)
    data = documents.render_form(session, d, kind, base_url=str(request.base_url))
    return _pdf(data, f"{kind}-{d.code}.pdf")


@router.get("/dossiers/{dossier_id}/payments/{payment_id}/receipt.pdf", summary="Fee receipt of a paid fee (PDF)",
            response_class=Response, responses={200: {"content": {"application/pdf": {}}}, 404: _PROBLEMS[404]})
def get_fee_receipt(
    dossier_id: str, payment_id: str, session: DbSession, actor: Actor = Depends(authenticated()),
) -> Response:
    from smartprovince.procedures import documents

    d = queries.access_dossier_by_id(session, actor, dossier_id)
    p = queries.payment_of(session, d, payment_id)
    return _pdf(documents.render_fee_receipt(session, d, p), f"bien-lai-{p.receipt_no}.pdf")
