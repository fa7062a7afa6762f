"""Web pages of the procedures module: the citizen portal (catalog, submit, track, my dossiers) and the
officer console (worklist, dossier page with timeline and actions, statistics)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from smartprovince.core.clock import VN_TZ, local_now, now
from smartprovince.core.deps import DbSession
from smartprovince.core.errors import NotFound, Problem
from smartprovince.core.pagination import CursorParams, paginate
from smartprovince.core.security import Actor, authenticated, public, require, verify_csrf
from smartprovince.procedures import lifecycle, queries, service, stats, timing
from smartprovince.procedures.api import store_upload
from smartprovince.procedures.models import Procedure
from smartprovince.procedures.schemas import VERB_LABELS, ActionIn
from smartprovince.web import redirect, render

router = APIRouter()

LEVEL_LABELS = {"central": "Trung ương", "province": "Cấp tỉnh", "district": "Cấp huyện", "commune": "Cấp xã"}
ONLINE_LABELS = {"full": "Toàn trình", "partial": "Một phần", "none": "Không trực tuyến"}
UNIT_LABELS = {"working_days": "ngày làm việc", "hours": "giờ làm việc", "calendar_days": "ngày"}
CHANNEL_LABELS = {"online": "Trực tuyến", "counter": "Trực tiếp", "post": "Bưu chính"}
TIMING_LABELS = timing.CLASS_LABELS


def _ctx(**extra: Any) -> dict[str, Any]:
    return {"level_labels": LEVEL_LABELS, "online_labels": ONLINE_LABELS, "unit_labels": UNIT_LABELS,
            "channel_labels": CHANNEL_LABELS, "verb_labels": VERB_LABELS, "status_label": queries.status_label,
            "timing_labels": TIMING_LABELS, **extra}


# ------------------------------------------------------------------------------------------ portal


@router.get("/portal/procedures")
def catalog_page(
    request: Request, session: DbSession, params: CursorParams = Depends(),
    q: str | None = Query(None, max_length=200), field: str | None = Query(None, max_length=200),
    _: Actor = Depends(public("the procedure catalog is public information")),
) -> Response:
    """Tìm thủ tục — search the catalog by words, code and field."""
    stmt = queries.catalog_query(q=q, field=field or None)
    page = paginate(session, stmt, params, key=Procedure.code)
    return render(request, "procedures/catalog.html", _ctx(page=page, q=q or "", field=field or "",
                                                            fields=queries.catalog_fields(session)))


@router.get("/portal/procedures/{code}")
def procedure_page(
    code: str, request: Request, session: DbSession,
    _: Actor = Depends(public("the procedure catalog is public information")),
) -> Response:
    """Chi tiết thủ tục — documents, fees, processing time, steps, result."""
    return render(request, "procedures/procedure.html", _ctx(p=queries.get_procedure(session, code)))


def _communes(session: Any, proc: Procedure) -> list[Any]:
    if proc.agency_code:
        return []
    from smartprovince import identity

    return list(session.scalars(select(identity.Organisation).where(identity.Organisation.level == proc.level)
                                .order_by(identity.Organisation.name)))


@router.get("/portal/procedures/{code}/submit")
def submit_form(
    code: str, request: Request, session: DbSession, actor: Actor = Depends(require("procedures.dossier.submit")),
) -> Response:
    """Nộp hồ sơ trực tuyến — the form (applicant, receiving commune, one file per document)."""
    proc = queries.get_procedure(session, code)
    if proc.superseded_by:  # a retired local code: the form of the code that replaced it
        return RedirectResponse(f"/portal/procedures/{proc.superseded_by}/submit", status_code=303)
    return render(request, "procedures/submit.html", _ctx(
        p=proc, places=_communes(session, proc), error=None, form={},
        reusable=queries.reusable_documents(session, actor)))


@router.post("/portal/procedures/{code}/submit")
async def submit_post(
    code: str, request: Request, session: DbSession, actor: Actor = Depends(require("procedures.dossier.submit")),
) -> Response:
    """Receive the submit form with its files; on success go to the dossier page."""
    form = await request.form()
    verify_csrf(request, str(form.get("csrf_token") or ""))
    proc = queries.get_procedure(session, code)
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    try:
        files = []
        for i, doc in enumerate(proc.documents or []):
            upload = form.get(f"doc_{i}")
            if upload is not None and not isinstance(upload, str) and upload.filename:
                files.append(store_upload(request, upload, document_name=doc["name"]))  # type: ignore[arg-type]
        d = service.submit_dossier(session, actor=actor, submission=service.Submission(
            procedure_code=code, channel="online", agency_code=values.get("agency_code") or None,
            applicant=service.Applicant(name=values.get("name", "").strip() or actor.display_name,
                                        cccd=values.get("cccd") or None, phone=values.get("phone") or None,
                                        email=values.get("email") or None, address=values.get("address", "")),
            note=values.get("note", ""), attachments=files,
            reuse_attachment_ids=[str(v) for v in form.getlist("reuse") if isinstance(v, str)]))
    except Problem as exc:
        session.rollback()
        return render(request, "procedures/submit.html",
                      _ctx(p=proc, places=_communes(session, proc), error=exc.detail or exc.title, form=values,
                           reusable=queries.reusable_documents(session, actor)),
                      status=exc.status)
    session.commit()
    return redirect(request, f"/portal/dossiers/{d.id}", message="Đã nộp hồ sơ {code}.", code=d.code)


@router.get("/portal/track")
def track_page(
    request: Request, session: DbSession, code: str = Query("", max_length=60), key: str = Query("", max_length=16),
    _: Actor = Depends(public("tracking needs the dossier code plus the secret lookup key from the receipt")),
) -> Response:
    """Tra cứu hồ sơ — by code and lookup key."""
    result, error = None, None
    if code and key:
        try:
            result = queries.track(session, code, key)
        except NotFound:
            error = "Không tìm thấy hồ sơ với mã và mã tra cứu này."
    return render(request, "procedures/track.html", _ctx(code=code, key=key, result=result, error=error),
                  status=404 if error else 200)


@router.get("/portal/dossiers")
def my_dossiers_page(
    request: Request, session: DbSession, params: CursorParams = Depends(), actor: Actor = Depends(authenticated()),
) -> Response:
    """Hồ sơ của tôi — the applicant's dossiers."""
    from smartprovince.procedures.models import Dossier

    page = paginate(session, queries.my_dossiers_query(actor), params, key=Dossier.submitted_at, descending=True)
    return render(request, "procedures/my_dossiers.html", _ctx(page=page))


@router.get("/portal/dossiers/{dossier_id}")
def my_dossier_page(
    dossier_id: str, request: Request, session: DbSession, actor: Actor = Depends(authenticated()),
) -> Response:
    """One dossier for its applicant: status, timeline, files, and the applicant's actions."""
    d = queries.access_dossier_by_id(session, actor, dossier_id)
    return render(request, "procedures/dossier.html", _ctx(d=queries.detail(session, actor, d), console=False,
                                                            urgency="ok"))


@router.post("/portal/dossiers/{dossier_id}/{verb}")
async def applicant_post(
    dossier_id: str, verb: str, request: Request, session: DbSession, actor: Actor = Depends(authenticated()),
) -> Response:
    """Applicant actions from the dossier page: supplement (with files), pay, ask to withdraw."""
    form = await request.form()
    verify_csrf(request, str(form.get("csrf_token") or ""))
    queries.access_dossier_by_id(session, actor, dossier_id)
    if verb not in lifecycle.APPLICANT_VERBS or verb == "submit":
        raise NotFound("No such action.")
    note = str(form.get("note") or "")
    if verb == "pay":  # online fees are paid at the payment platform, confirmed by its signed callback
        d = queries.access_dossier_by_id(session, actor, dossier_id)
        pending = queries.pending_payment(session, d)
        if pending is None:
            return redirect(request, f"/portal/dossiers/{dossier_id}", message="Không có khoản phí chờ thanh toán.",
                            kind="error")
        return redirect(request, f"/portal/dossiers/{dossier_id}/payments/{pending.id}")
    try:
        if verb == "supplement":
            files = [store_upload(request, f, document_name="Bổ sung") for f in form.getlist("files")  # type: ignore[arg-type]
                     if not isinstance(f, str) and f.filename]
            service.supplement_dossier(session, actor=actor, dossier_id=dossier_id, attachments=files, note=note)
        elif verb == "pay":
            service.pay_fee(session, actor=actor, dossier_id=dossier_id, method="online")
        else:
            service.request_withdrawal(session, actor=actor, dossier_id=dossier_id, reason=note)
    except Problem as exc:
        session.rollback()
        return redirect(request, f"/portal/dossiers/{dossier_id}", message=exc.detail or exc.title, kind="error")
    session.commit()
    return redirect(request, f"/portal/dossiers/{dossier_id}", message="Đã thực hiện: {action}.",
                    action=VERB_LABELS[verb])


@router.get("/portal/dossiers/{dossier_id}/payments/{payment_id}")
def payment_page(
    dossier_id: str, payment_id: str, request: Request, session: DbSession, actor: Actor = Depends(authenticated()),
) -> Response:
    """Thanh toán phí — the VietQR to scan with any bank app, or the payment platform's page."""
    from smartprovince.procedures.api import order_for

    d = queries.access_dossier_by_id(session, actor, dossier_id)
    order = order_for(request, d, queries.payment_of(session, d, payment_id))
    return render(request, "procedures/payment.html", _ctx(d=d, order=order))


@router.get("/portal/payment-simulator/{order_id}")
def simulator_page(
    order_id: str, request: Request, session: DbSession, actor: Actor = Depends(authenticated()),
) -> Response:
    """Cổng thanh toán (mô phỏng) — stands in for the payment platform's page on a test installation."""
    from smartprovince.procedures.config import get_procedures_settings
    from smartprovince.procedures.models import DossierPayment

    p = session.get(DossierPayment, order_id)
    if p is None or get_procedures_settings().payment_backend != "simulator":
        raise NotFound("No such payment order.")
    d = queries.access_dossier_by_id(session, actor, p.dossier_id)
    return render(request, "procedures/payment_simulator.html", _ctx(d=d, p=p))


@router.post("/portal/payment-simulator/{order_id}")
async def simulator_confirm(
    order_id: str, request: Request, session: DbSession, actor: Actor = Depends(authenticated()),
) -> Response:
    """The payer confirms on the simulator: it sends the platform's signed callback, then we go back."""
    from starlette.concurrency import run_in_threadpool

    from smartprovince.procedures.api import simulate_payment
    from smartprovince.procedures.models import DossierPayment

    form = await request.form()
    verify_csrf(request, str(form.get("csrf_token") or ""))
    p = session.get(DossierPayment, order_id)
    if p is None:
        raise NotFound("No such payment order.")
    dossier_id = p.dossier_id
    # The callback is an HTTP request to this same server: send it from a worker thread so the
    # event loop stays free to answer it.
    status = await run_in_threadpool(simulate_payment, request, session, actor, order_id)
    back = f"/portal/dossiers/{dossier_id}"
    if 200 <= status < 300:
        return redirect(request, back, message="Thanh toán thành công. Biên lai đã được gửi vào hồ sơ.")
    return redirect(request, back, message="Cổng thanh toán chưa xác nhận, vui lòng thử lại.", kind="error")


# ------------------------------------------------------------------------------------------ console


@router.get("/console/procedures")
def worklist_page(
    request: Request, session: DbSession, actor: Actor = Depends(require("procedures.dossier.read")),
) -> Response:
    """Danh sách hồ sơ — waiting at the desk, in processing (by due date, late ones marked), to return."""
    lists, marks, names = queries.worklist_with_marks(session, actor)
    return render(request, "procedures/worklist.html", _ctx(lists=lists, marks=marks, names=names,
                                                             late=sum(1 for v in marks.values() if v == "late"),
                                                             nearly=sum(1 for v in marks.values()
                                                                        if v == "nearly_late")))


@router.get("/console/procedures/dossiers/{dossier_id}")
def officer_dossier_page(
    dossier_id: str, request: Request, session: DbSession, actor: Actor = Depends(require("procedures.dossier.read")),
) -> Response:
    """Trang hồ sơ — details, timeline and the action buttons the officer may use now."""
    d = queries.access_dossier_by_id(session, actor, dossier_id)
    detail = queries.detail(session, actor, d)
    proc = session.get(Procedure, d.procedure_id)
    return render(request, "procedures/dossier.html", _ctx(
        d=detail, console=True, urgency=queries.urgency(d, session=session), steps=proc.steps if proc else [],
        suggested_due=(service.effective_due(d) or now()) + timedelta(days=3)))


@router.post("/console/procedures/dossiers/{dossier_id}/{verb}")
async def officer_post(
    dossier_id: str, verb: str, request: Request, session: DbSession,
    actor: Actor = Depends(require("procedures.dossier.read")),
) -> Response:
    """Do one officer action from the dossier page, then come back to it with a message."""
    from smartprovince.procedures.api import OFFICER_DISPATCH

    form = await request.form()
    verify_csrf(request, str(form.get("csrf_token") or ""))
    queries.access_dossier_by_id(session, actor, dossier_id)
    if verb not in OFFICER_DISPATCH:
        raise NotFound("No such action.")
    raw = {k: v for k, v in form.items() if isinstance(v, str) and v != "" and k != "csrf_token"}
    back = f"/console/procedures/dossiers/{dossier_id}"
    try:
        if "new_due_date" in raw:
            raw["new_due_at"] = datetime.combine(date.fromisoformat(raw.pop("new_due_date")), time(17),
                                                 tzinfo=VN_TZ).isoformat()
        body = ActionIn.model_validate(raw)
        results = [store_upload(request, f, document_name="Kết quả") for f in form.getlist("files")  # type: ignore[arg-type]
                   if verb == "finish" and not isinstance(f, str) and f.filename]
        if results:  # the electronic result, for the applicant to download
            service.finish_dossier(session, actor=actor, dossier_id=dossier_id, result_note=body.note,
                                   result_files=results)
        else:
            OFFICER_DISPATCH[verb](session, actor, dossier_id, body)
    except Problem as exc:
        session.rollback()
        return redirect(request, back, message=exc.detail or exc.title, kind="error")
    except ValueError:
        session.rollback()
        return redirect(request, back, message="Dữ liệu nhập không hợp lệ.", kind="error")
    session.commit()
    return redirect(request, back, message="Đã thực hiện: {action}.", action=VERB_LABELS[verb])


@router.get("/console/procedures/stats")
def stats_page(
    request: Request, session: DbSession,
    date_from: date | None = Query(None, alias="from"), date_to: date | None = Query(None, alias="to"),
    agency: str | None = Query(None, max_length=64),
    by: str = Query("procedure", pattern="^(procedure|agency|agency_procedure)$"),
    actor: Actor = Depends(require("procedures.stats.read")),
) -> Response:
    """Thống kê — Decision 766 figures per agency × procedure, with a CSV download."""
    today = local_now().date()
    first = date_from or date(today.year, 1, 1)
    last = date_to or today
    if last < first:
        first, last = last, first
    result = stats.compute(session, first, last, agency=agency or None, scopes=actor.scopes("procedures.stats.read"),
                           by=by)
    return render(request, "procedures/stats.html", _ctx(result=result, first=first, last=last, agency=agency or "",
                                                          by=by))
