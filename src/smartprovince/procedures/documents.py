"""Fill the PDF forms of :mod:`.forms` from a dossier, its procedure and its action log (reads only)."""

from __future__ import annotations

import math
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartprovince import identity
from smartprovince.core import calendar
from smartprovince.core.errors import NotFound
from smartprovince.procedures import forms, service
from smartprovince.procedures.models import Dossier, DossierAction, DossierAttachment, DossierPayment, Procedure

HANDOVER_VERBS = {"receive": "Tiếp nhận hồ sơ", "forward": "Chuyển bước", "request_fee": "Yêu cầu nộp phí",
                  "request_supplement": "Yêu cầu bổ sung", "finish": "Phê duyệt kết quả",
                  "return_result": "Trả kết quả", "refuse": "Từ chối", "stop": "Dừng xử lý"}


def _actions(session: Session, dossier_id: str) -> list[DossierAction]:
    return list(session.scalars(select(DossierAction).where(DossierAction.dossier_id == dossier_id)
                                .order_by(DossierAction.seq)))


def form_dossier(session: Session, d: Dossier) -> forms.FormDossier:
    """The printable facts of a dossier."""
    proc = session.get(Procedure, d.procedure_id)
    assert proc is not None
    org = identity.get_org(session, d.agency_org_id) if d.agency_org_id else None
    files = session.scalars(select(DossierAttachment.document_name).where(
        DossierAttachment.dossier_id == d.id, DossierAttachment.kind == "input")).all()
    docs = list(dict.fromkeys(files)) or [str(x.get("name", "")) for x in proc.documents or [] if x.get("required")]
    receiver = next((a.actor_name for a in _actions(session, d.id) if a.verb == "receive"), "")
    return forms.FormDossier(
        code=d.code, lookup_key=d.lookup_key, procedure_name=proc.name,
        agency_name=org.name if org else (proc.agency_name or d.agency_code), applicant_name=d.applicant_name,
        applicant_cccd=d.applicant_cccd, applicant_phone=d.applicant_phone, applicant_address=d.applicant_address,
        channel=d.channel, submitted_at=d.submitted_at, received_at=d.received_at, due_at=d.due_at,
        extended_due_at=d.extended_due_at, documents=docs, officer_name=receiver)


def handovers(session: Session, d: Dossier) -> list[forms.HandOver]:
    """Every hand-over of the dossier with the time allotted to the step it closes.

    A step's deadline is counted from the previous hand-over with the step's allotted working days
    (rounded up); without routing steps the dossier's own due date is the deadline.
    """
    proc = session.get(Procedure, d.procedure_id)
    steps = (proc.steps if proc else None) or []
    overall = service.effective_due(d)
    out: list[forms.HandOver] = []
    prev_at, step = None, 0
    for a in _actions(session, d.id):
        if a.verb not in HANDOVER_VERBS:
            continue
        due = overall
        if a.verb == "receive":
            due = None  # intake is the start of the clock
        elif prev_at is not None and steps and 0 <= step < len(steps):
            days = max(1, math.ceil(float(steps[step].get("days") or 0)))
            due = calendar.add_working_days(prev_at, days, session=session)
        label = HANDOVER_VERBS[a.verb]
        if steps and 0 <= step < len(steps) and a.verb in ("forward", "finish"):
            label = f"{steps[step].get('name', label)} → {label.lower()}"
        out.append(forms.HandOver(step=label, actor_name=a.actor_name, at=a.at, due=due, note=a.note))
        if a.verb == "forward":
            step = int((a.data or {}).get("to_step", step + 1))
        prev_at = a.at
    return out


def _last(session: Session, d: Dossier, verb: str) -> DossierAction | None:
    return next((a for a in reversed(_actions(session, d.id)) if a.verb == verb), None)


def render_form(session: Session, d: Dossier, kind: str, *, base_url: str) -> bytes:
    """The PDF of form ``kind`` for dossier ``d``; ``NotFound`` when that form does not apply (yet)."""
    fd = form_dossier(session, d)
    if kind == "receipt":
        if d.received_at is None:
            raise NotFound("The dossier has not been received yet.")
        url = base_url.rstrip("/") + "/portal/track?" + urlencode({"code": d.code, "key": d.lookup_key})
        return forms.receipt(fd, tracking_url=url)
    if kind == "supplement":
        a = _last(session, d, "request_supplement")
        if a is None:
            raise NotFound("No supplement was requested.")
        return forms.supplement(fd, reason=a.note, asked_at=a.at)
    if kind == "refusal":
        a = _last(session, d, "refuse")
        if a is None:
            raise NotFound("The dossier was not refused.")
        return forms.refusal(fd, reason=a.note, refused_at=a.at)
    if kind == "apology":
        a = _last(session, d, "extend")
        if a is None:
            raise NotFound("No apology-and-extension letter was issued.")
        return forms.apology(fd, reason=a.note, old_due=d.due_at, new_due=d.extended_due_at)
    if kind == "control":
        if d.received_at is None:
            raise NotFound("The dossier has not been received yet.")
        return forms.control_sheet(fd, handovers(session, d))
    raise NotFound("No such form.")


def render_fee_receipt(session: Session, d: Dossier, p: DossierPayment) -> bytes:
    """Biên lai thu phí, lệ phí of a paid fee; ``NotFound`` while it is unpaid."""
    if p.status != "paid" or not p.receipt_no:
        raise NotFound("This fee is not paid yet.")
    return forms.fee_receipt(form_dossier(session, d), receipt_no=p.receipt_no, amount=p.amount,
                             description=p.description, method=p.method, paid_at=p.paid_at,
                             provider_ref=p.provider_ref)
