"""Reads of the procedures module: catalog search, access checks, dossier lists, detail and tracking.

``access_dossier_by_id`` is the only way a route gets a dossier: it raises the same ``NotFound`` for
a dossier that does not exist and for one the actor may not see.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, false, or_, select
from sqlalchemy.orm import Session

from smartprovince.core.clock import now
from smartprovince.core.db import Database
from smartprovince.core.errors import NotFound
from smartprovince.core.security import Actor
from smartprovince.procedures import lifecycle, service, timing
from smartprovince.procedures.lifecycle import STATUS_LABELS, Status
from smartprovince.procedures.models import Dossier, DossierAction, DossierAttachment, DossierPayment, Procedure
from smartprovince.procedures.schemas import (
    PUBLIC_NOTE_VERBS,
    VERB_LABELS,
    ActionPublic,
    AttachmentPublic,
    DossierDetail,
    DossierSummary,
    PaymentPublic,
    TrackingPublic,
)

READ = "procedures.dossier.read"


def status_label(status: int) -> str:
    """Vietnamese name of a national status code."""
    try:
        return STATUS_LABELS[Status(status)]
    except ValueError:
        return str(status)


# ------------------------------------------------------------------------------------------ catalog


def catalog_query(
    *, q: str | None = None, field: str | None = None, agency: str | None = None, level: str | None = None,
    online: str | None = None, essential: bool | None = None,
) -> Select[Any]:
    """Current procedures matching the filters (``q`` searches name and codes, case-insensitive).

    Superseded codes are left out: the public catalog shows only the code that replaced them.
    """
    stmt = select(Procedure).where(Procedure.is_current.is_(True), Procedure.superseded_by.is_(None))
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(Procedure.name.ilike(like), Procedure.code.ilike(like),
                              Procedure.national_code.ilike(like), Procedure.field.ilike(like)))
    if field:
        stmt = stmt.where(Procedure.field == field)
    if agency:
        stmt = stmt.where(Procedure.agency_code == agency)
    if level:
        stmt = stmt.where(Procedure.level == level)
    if online:
        stmt = stmt.where(Procedure.online_level == online)
    if essential is not None:
        stmt = stmt.where(Procedure.is_essential.is_(essential))
    return stmt


def get_procedure(session: Session, code: str, version: int | None = None) -> Procedure:
    """The current version of ``code`` (or the given ``version``); ``NotFound`` when missing."""
    stmt = select(Procedure).where(Procedure.code == code)
    stmt = stmt.where(Procedure.version == version) if version else stmt.where(Procedure.is_current.is_(True))
    proc = session.scalars(stmt).first()
    if proc is None:
        raise NotFound(f"No procedure with code {code!r}" + (f" version {version}." if version else "."))
    return proc


def catalog_fields(session: Session) -> list[str]:
    """The fields (lĩnh vực) of the current catalog, sorted."""
    return sorted(set(session.scalars(select(Procedure.field).where(Procedure.is_current.is_(True),
                                                                    Procedure.superseded_by.is_(None)))))


# ------------------------------------------------------------------------------------------ dossiers


def scope_condition(actor: Actor, permission: str = READ) -> Any:
    """SQL condition: dossiers whose agency lies in a subtree where ``actor`` holds ``permission``."""
    scopes = actor.scopes(permission)
    if not scopes:
        return false()
    if "" in scopes:
        return Dossier.id.is_not(None)
    return or_(*[path_in_subtree(p) for p in scopes])


def path_in_subtree(prefix: str) -> Any:
    """``agency_path`` starts with ``prefix``, written as a range so the index is used.

    Materialised paths hold only ``/`` and hex digits; ``~`` sorts after all of them.
    """
    return and_(Dossier.agency_path >= prefix, Dossier.agency_path < prefix + "~")


def can_read(actor: Actor, dossier: Dossier) -> bool:
    """True when ``actor`` may see ``dossier``: an officer in scope, or its applicant."""
    return service.is_applicant(actor, dossier) or actor.can(READ, dossier.agency_path)


def access_dossier_by_id(session: Session, actor: Actor, dossier_id: str) -> Dossier:
    """The dossier ``dossier_id`` if ``actor`` may see it; the same ``NotFound`` otherwise."""
    dossier = session.get(Dossier, dossier_id) if len(dossier_id) <= 32 else None
    if dossier is None or not can_read(actor, dossier):
        raise NotFound("No such dossier.")
    return dossier


def dossiers_query(
    actor: Actor, *, view: str = "all", status: int | None = None, procedure: str | None = None,
    agency: str | None = None, q: str | None = None,
) -> Select[Any]:
    """Dossiers an officer may read. ``view``: ``intake`` (waiting at the desk), ``processing`` (open
    with a due date), ``closed`` or ``all``."""
    stmt = select(Dossier).where(scope_condition(actor))
    if view == "intake":
        stmt = stmt.where(Dossier.status == int(Status.SUBMITTED))
    elif view == "processing":
        open_received = [int(s) for s in lifecycle.OPEN if s != Status.SUBMITTED]
        stmt = stmt.where(Dossier.status.in_(open_received), Dossier.due_at.is_not(None))
    elif view == "closed":
        stmt = stmt.where(Dossier.status.in_([3, 8, 9, 10]))
    if status is not None:
        stmt = stmt.where(Dossier.status == status)
    if procedure:
        stmt = stmt.where(Dossier.procedure_code == procedure)
    if agency:
        stmt = stmt.where(Dossier.agency_code == agency)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(Dossier.code.ilike(like), Dossier.applicant_name.ilike(like)))
    return stmt


def my_dossiers_query(actor: Actor) -> Select[Any]:
    """Dossiers the logged-in applicant submitted."""
    return select(Dossier).where(Dossier.applicant_user_id == actor.id) if actor.id else select(Dossier).where(false())


def worklist(session: Session, actor: Actor, *, limit: int = 200) -> dict[str, list[Dossier]]:
    """The officer's worklist: dossiers waiting at the desk (oldest first) and dossiers in processing
    sorted by due date (the most urgent first)."""
    intake = session.scalars(
        dossiers_query(actor, view="intake").order_by(Dossier.submitted_at).limit(limit)
    ).all()
    processing = session.scalars(
        dossiers_query(actor, view="processing").order_by(Dossier.due_at, Dossier.id).limit(limit)
    ).all()
    finished = session.scalars(
        dossiers_query(actor, status=int(Status.FINISHED)).order_by(Dossier.finished_at).limit(limit)
    ).all()
    return {"intake": list(intake), "processing": list(processing), "finished": list(finished)}


def worklist_with_marks(
    session: Session, actor: Actor
) -> tuple[dict[str, list[Dossier]], dict[str, str], dict[str, str]]:
    """The worklist, the urgency mark of each dossier in processing, and procedure names by version id."""
    lists = worklist(session, actor)
    at = now()
    marks = {d.id: urgency(d, at, session=session) for d in lists["processing"]}
    ids = {d.procedure_id for items in lists.values() for d in items}
    names = dict(session.execute(select(Procedure.id, Procedure.name).where(Procedure.id.in_(ids))).all())
    return lists, marks, names


def urgency(dossier: Dossier, at: datetime | None = None, *, session: Session | None = None) -> str:
    """``late``, ``nearly_late`` or ``ok`` for an open dossier (for the worklist marks)."""
    at = at or now()
    due = service.effective_due(dossier)
    if due is None or dossier.status not in {int(s) for s in lifecycle.OPEN}:
        return "ok"
    if due < at:
        return "late"
    return "nearly_late" if timing.is_nearly_late(due, at, session=session) else "ok"


def summary(d: Dossier) -> DossierSummary:
    """A dossier as a list line."""
    out = DossierSummary.model_validate(d)
    out.status_label = status_label(d.status)
    return out


def _timeline(session: Session, dossier_id: str, *, public: bool) -> list[ActionPublic]:
    rows = session.scalars(
        select(DossierAction).where(DossierAction.dossier_id == dossier_id).order_by(DossierAction.seq)
    ).all()
    out = []
    for a in rows:
        if public and a.verb in ("claim", "release"):
            continue
        out.append(ActionPublic(
            seq=a.seq, verb=a.verb, label=VERB_LABELS.get(a.verb, a.verb), from_status=a.from_status,
            to_status=a.to_status, status_label=status_label(a.to_status), at=a.at,
            actor_name=None if public else a.actor_name,
            note=a.note if (not public or a.verb in PUBLIC_NOTE_VERBS) else "",
        ))
    return out


def allowed_actions(session: Session, actor: Actor, dossier: Dossier) -> list[str]:
    """Verbs ``actor`` may do now on ``dossier`` (buttons of the dossier page)."""
    state = service.state_of(session, dossier)
    verbs = lifecycle.allowed_verbs(state)
    at = now()
    out = []
    holds = service.claim_active(dossier, at) and dossier.claimed_by == actor.id
    other = service.claim_active(dossier, at) and dossier.claimed_by != actor.id
    for v in verbs:
        if v in lifecycle.APPLICANT_VERBS:
            if service.is_applicant(actor, dossier):
                out.append(v)
            continue
        if not service.officer_can(actor, v, dossier):
            continue
        free = not holds and not other
        if (v == "claim" and free) or (v != "claim" and holds):
            out.append(v)
    return out


def detail(session: Session, actor: Actor, dossier: Dossier) -> DossierDetail:
    """Everything about a dossier for its applicant or an officer."""
    proc = session.get(Procedure, dossier.procedure_id)
    assert proc is not None
    attachments = session.scalars(
        select(DossierAttachment)
        .where(DossierAttachment.dossier_id == dossier.id)
        .order_by(DossierAttachment.uploaded_at)
    ).all()
    payments = session.scalars(
        select(DossierPayment).where(DossierPayment.dossier_id == dossier.id).order_by(DossierPayment.requested_at)
    ).all()
    base = summary(dossier).model_dump()
    return DossierDetail(
        **base,
        procedure_name=proc.name,
        procedure_version=proc.version,
        lookup_key=dossier.lookup_key if can_read(actor, dossier) else None,
        applicant_cccd=dossier.applicant_cccd,
        applicant_phone=dossier.applicant_phone,
        applicant_email=dossier.applicant_email,
        applicant_address=dossier.applicant_address,
        form_data=dossier.form_data or {},
        note=dossier.note,
        returned_at=dossier.returned_at,
        supplement_requests=dossier.supplement_requests,
        supplement_days=dossier.supplement_days,
        current_step=dossier.current_step,
        fee_total=dossier.fee_total,
        fee_paid=dossier.fee_paid,
        digitised=dossier.digitised,
        return_method=dossier.return_method,
        result_note=dossier.result_note,
        timing=timing.classify(due_at=dossier.due_at, finished_at=dossier.finished_at,
                               supplement_requests=dossier.supplement_requests, at=now()),
        actions=_timeline(session, dossier.id, public=False),
        attachments=[AttachmentPublic.model_validate(a) for a in attachments],
        payments=[PaymentPublic.model_validate(p) for p in payments],
        allowed_actions=allowed_actions(session, actor, dossier),
    )


def _initials(name: str) -> str:
    parts = [p for p in name.split() if p]
    return ".".join(p[0].upper() for p in parts) + "." if parts else ""


_TRACK_COLUMNS = (
    Dossier.code, Dossier.lookup_key, Dossier.procedure_code, Dossier.agency_code, Dossier.channel, Dossier.status,
    Dossier.applicant_name, Dossier.submitted_at, Dossier.received_at, Dossier.due_at, Dossier.extended_due_at,
    Dossier.finished_at, Dossier.returned_at, Dossier.fee_total, Dossier.fee_paid, Procedure.name,
    DossierAction.seq, DossierAction.verb, DossierAction.from_status, DossierAction.to_status, DossierAction.at,
    DossierAction.note,
)
_TRACK = (
    select(*_TRACK_COLUMNS)
    .join(Procedure, Procedure.id == Dossier.procedure_id)
    .outerjoin(DossierAction, DossierAction.dossier_id == Dossier.id)
    .where(Dossier.code == bindparam("code"))
    .order_by(DossierAction.seq)
)
"""Built once: composing the statement took longer than running it."""


def track(session: Session, code: str, key: str) -> TrackingPublic:
    """Tra cứu — the public view of a dossier given its code and lookup key (same 404 for any mistake).

    This is the busiest public route, so it is one indexed query (dossier by its unique code, its
    procedure version, its action log by ``(dossier_id, seq)``) that reads only the columns shown.
    """
    # Core execution on the session's connection: the ORM's result machinery is not needed for plain columns.
    rows = session.connection().execute(_TRACK, {"code": code.strip()}).all()
    d = rows[0] if rows else None
    if d is None or not hmac.compare_digest(d.lookup_key.upper(), (key or "").strip().upper()):
        raise NotFound("No dossier with this code and lookup key.")
    timeline = [
        ActionPublic(seq=a.seq, verb=a.verb, label=VERB_LABELS.get(a.verb, a.verb), from_status=a.from_status,
                     to_status=a.to_status, status_label=status_label(a.to_status), at=a.at, actor_name=None,
                     note=a.note if a.verb in PUBLIC_NOTE_VERBS else "")
        for a in rows if a.seq is not None and a.verb not in ("claim", "release")
    ]
    return TrackingPublic(
        code=d.code, procedure_code=d.procedure_code, procedure_name=d.name,
        agency_code=d.agency_code, channel=d.channel, status=d.status,
        status_label=status_label(d.status), applicant_initials=_initials(d.applicant_name),
        submitted_at=d.submitted_at, received_at=d.received_at, due_at=d.due_at,
        extended_due_at=d.extended_due_at, finished_at=d.finished_at, returned_at=d.returned_at,
        fee_total=d.fee_total, fee_paid=d.fee_paid, timeline=timeline,
    )


def track_json(db: Database, code: str, key: str) -> bytes:
    """``track`` in its own read-only session, as the JSON body of ``GET /lookup`` (``NotFound`` as there)."""
    with db.session(write=False) as session:
        return track(session, code, key).model_dump_json().encode()


def attachment_of(session: Session, dossier: Dossier, attachment_id: str) -> DossierAttachment:
    """A file of ``dossier`` (the caller has already checked access to the dossier)."""
    att = session.get(DossierAttachment, attachment_id) if len(attachment_id) <= 32 else None
    if att is None or att.dossier_id != dossier.id:
        raise NotFound("No such file.")
    return att


def reusable_documents(session: Session, actor: Actor, *, limit: int = 30) -> list[DossierAttachment]:
    """Files this applicant gave with earlier dossiers (newest first, one per stored file), to reuse."""
    if actor.id is None:
        return []
    rows = session.scalars(
        select(DossierAttachment)
        .join(Dossier, Dossier.id == DossierAttachment.dossier_id)
        .where(Dossier.applicant_user_id == actor.id, DossierAttachment.kind != "result")
        .order_by(DossierAttachment.uploaded_at.desc())
        .limit(limit * 3)
    ).all()
    seen: set[str] = set()
    out = []
    for r in rows:
        if r.storage_key in seen:
            continue
        seen.add(r.storage_key)
        out.append(r)
    return out[:limit]


def payment_of(session: Session, dossier: Dossier, payment_id: str) -> DossierPayment:
    """A payment of ``dossier`` (already access-checked); the same ``NotFound`` for missing and foreign ids."""
    payment = session.get(DossierPayment, payment_id)
    if payment is None or payment.dossier_id != dossier.id:
        raise NotFound("No such payment.")
    return payment


def pending_payment(session: Session, dossier: Dossier) -> DossierPayment | None:
    """The newest fee request of ``dossier`` still waiting to be paid, if any."""
    return session.scalars(
        select(DossierPayment)
        .where(DossierPayment.dossier_id == dossier.id, DossierPayment.status == "pending")
        .order_by(DossierPayment.requested_at.desc())
    ).first()
