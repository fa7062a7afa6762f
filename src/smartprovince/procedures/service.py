"""Writes of the procedures module: every change is a named function ``verb_noun(session, *, actor, ...)``.

Each function runs in the caller's transaction and, in that same transaction, appends the action to
the dossier's action log, writes one audit entry (``core.audit.record``) and publishes the event
``procedures.dossier.<verb>`` (``core.bus.publish``). If anything fails, nothing is written.

Rules enforced here (the API only parses and authorises):

* the verb must be allowed by the lifecycle (:mod:`.lifecycle`), else ``Conflict`` (409);
* an officer must *claim* (nhận xử lý) a dossier before any other officer action, and a claim held by
  another officer blocks the action with ``Conflict`` (409) until it is released or expires;
* an officer acts only inside the organisation subtree where they hold the verb's permission;
  the applicant acts only on their own dossier (``NotFound`` otherwise, like a missing dossier).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartprovince.core import audit, bus
from smartprovince.core.clock import VN_TZ, now
from smartprovince.core.errors import Conflict, Forbidden, NotFound, ValidationProblem
from smartprovince.core.ids import new_id
from smartprovince.core.security import Actor
from smartprovince.procedures import daily as _daily  # noqa: F401 - importing keeps the daily statistics table
from smartprovince.procedures import lifecycle, timing
from smartprovince.procedures.lifecycle import Status
from smartprovince.procedures.models import (
    Dossier,
    DossierAction,
    DossierAttachment,
    DossierCounter,
    DossierPayment,
    Procedure,
)

CLAIM_MINUTES = 240
"""A claim (khóa hồ sơ) lapses after this many minutes without an action, so a dossier is never stuck."""

CHANNELS = ("online", "counter", "post")
RETURN_METHODS = ("counter", "post", "electronic")
LOOKUP_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: easy to read on a printed receipt

# verb -> permission(s) an officer needs over the dossier's organisation (any one of them is enough)
VERB_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "receive": ("procedures.dossier.receive",),
    "refuse": ("procedures.dossier.receive",),
    "request_supplement": ("procedures.dossier.receive", "procedures.dossier.process"),
    "forward": ("procedures.dossier.process",),
    "request_fee": ("procedures.dossier.process", "procedures.dossier.receive"),
    "extend": ("procedures.dossier.process",),
    "refuse_withdrawal": ("procedures.dossier.process",),
    "stop": ("procedures.dossier.approve",),
    "finish": ("procedures.dossier.approve",),
    "return_result": ("procedures.dossier.return",),
    "claim": ("procedures.dossier.receive", "procedures.dossier.process", "procedures.dossier.approve",
              "procedures.dossier.return"),
    "release": ("procedures.dossier.receive", "procedures.dossier.process", "procedures.dossier.approve",
                "procedures.dossier.return"),
    # applicant verbs, when an officer does them at the counter on the applicant's behalf
    "supplement": ("procedures.dossier.receive",),
    "pay": ("procedures.dossier.receive",),
    "request_withdrawal": ("procedures.dossier.receive",),
}

EVENT_NAMES: dict[str, str] = {
    "submit": "submitted",
    "receive": "received",
    "refuse": "refused",
    "forward": "forwarded",
    "request_supplement": "supplement_requested",
    "supplement": "supplemented",
    "request_fee": "fee_requested",
    "pay": "paid",
    "request_withdrawal": "withdrawal_requested",
    "refuse_withdrawal": "withdrawal_refused",
    "stop": "stopped",
    "finish": "finished",
    "return_result": "returned",
    "claim": "claimed",
    "release": "released",
    "extend": "extended",
}
"""Verb → the last word of the event topic ``procedures.dossier.<word>``."""


# ------------------------------------------------------------------------------------------ helpers


def _actor_name(actor: Actor) -> str:
    return actor.display_name or actor.username or actor.kind


def officer_can(actor: Actor, verb: str, dossier: Dossier) -> bool:
    """True when ``actor`` holds one of the verb's permissions over the dossier's organisation."""
    return any(actor.can(p, dossier.agency_path) for p in VERB_PERMISSIONS.get(verb, ()))


def is_applicant(actor: Actor, dossier: Dossier) -> bool:
    """True when ``actor`` is the logged-in person who submitted ``dossier``."""
    return actor.id is not None and dossier.applicant_user_id == actor.id


def claim_active(dossier: Dossier, at: datetime) -> bool:
    """True when somebody holds a claim on the dossier that has not lapsed at ``at``."""
    return (
        dossier.claimed_by is not None
        and dossier.claimed_at is not None
        and dossier.claimed_at + timedelta(minutes=CLAIM_MINUTES) > at
    )


def verbs_of(session: Session, dossier_id: str) -> list[str]:
    """The verbs of a dossier's action log, in order."""
    return list(
        session.scalars(
            select(DossierAction.verb).where(DossierAction.dossier_id == dossier_id).order_by(DossierAction.seq)
        )
    )


def state_of(session: Session, dossier: Dossier) -> lifecycle.State:
    """The dossier's state rebuilt from its action log."""
    return lifecycle.replay(verbs_of(session, dossier.id))


def effective_due(dossier: Dossier) -> datetime | None:
    """The date promised to the applicant now: the extension date when there is one."""
    return dossier.extended_due_at or dossier.due_at


def _event_payload(d: Dossier, *, verb: str, from_status: int | None, at: datetime, note: str) -> dict[str, Any]:
    # The fields the national public-service portal expects for a status change, and enough for IOC.
    return {
        "id": d.id,
        "code": d.code,
        "procedure_code": d.procedure_code,
        "agency_code": d.agency_code,
        "channel": d.channel,
        "verb": verb,
        "from_status": from_status,
        "status": d.status,
        "at": at,
        "submitted_at": d.submitted_at,
        "received_at": d.received_at,
        "due_at": d.due_at,
        "extended_due_at": d.extended_due_at,
        "finished_at": d.finished_at,
        "returned_at": d.returned_at,
        "fee_total": d.fee_total,
        "fee_paid": d.fee_paid,
        "paid_online": d.paid_online,
        "return_method": d.return_method,
        "note": note,
    }


def _append(
    session: Session,
    dossier: Dossier,
    *,
    actor: Actor,
    verb: str,
    note: str = "",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> DossierAction:
    """Apply ``verb`` to the dossier: check the lifecycle, log it, audit it, publish it."""
    at = at or now()
    verbs = verbs_of(session, dossier.id)
    before = lifecycle.replay(verbs) if verbs else None
    try:
        after = lifecycle.apply(before, verb)
    except lifecycle.IllegalTransition as exc:
        raise Conflict(str(exc), title="Action not allowed now", dossier_status=dossier.status, verb=verb) from exc
    from_status = int(before.status) if before else None
    dossier.status = int(after.status)
    dossier.supplement_requests = after.supplement_requests
    dossier.version = (dossier.version or 0) + 1
    row = DossierAction(
        id=new_id(),
        dossier_id=dossier.id,
        seq=len(verbs) + 1,
        verb=verb,
        from_status=from_status,
        to_status=int(after.status),
        actor_id=actor.id,
        actor_name=_actor_name(actor),
        at=at,
        note=note,
        data=_jsonable(data or {}),
    )
    session.add(row)
    session.flush()
    topic = f"procedures.dossier.{EVENT_NAMES[verb]}"
    audit.record(
        session,
        actor=actor,
        action=topic,
        object_type="procedures.dossier",
        object_id=dossier.id,
        data={"code": dossier.code, "from_status": from_status, "status": dossier.status, "note": note,
              **_jsonable(data or {})},
        org_path=dossier.agency_path or None,
    )
    bus.publish(session, topic, _event_payload(dossier, verb=verb, from_status=from_status, at=at, note=note),
                key=dossier.id)
    return row


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()}


def _require_officer(actor: Actor, verb: str, dossier: Dossier) -> None:
    if not officer_can(actor, verb, dossier):
        # Same answer as a missing dossier when the actor may not even read it.
        if not actor.can("procedures.dossier.read", dossier.agency_path):
            raise NotFound("No such dossier.")
        raise Forbidden(f"You may not '{verb}' dossiers of this agency.")


def _require_claim(actor: Actor, dossier: Dossier, at: datetime) -> None:
    if not claim_active(dossier, at):
        raise Conflict("Claim the dossier first (nhận xử lý), then act on it.", title="Dossier not claimed")
    if dossier.claimed_by != actor.id:
        raise Conflict(
            f"The dossier is being handled by {dossier.claimed_by_name or 'another officer'}.",
            title="Dossier claimed by another officer",
        )


def _require_applicant_or_counter(actor: Actor, verb: str, dossier: Dossier) -> None:
    if is_applicant(actor, dossier):
        return
    if actor.kind in ("officer", "system") and officer_can(actor, verb, dossier):
        return
    raise NotFound("No such dossier.")


def _lock_dossier(session: Session, dossier_id: str) -> Dossier:
    """Load a dossier for update (row lock on PostgreSQL; on SQLite the write lock is taken first)."""
    bus.begin_write(session)
    dossier = session.scalars(select(Dossier).where(Dossier.id == dossier_id).with_for_update()).first()
    if dossier is None:
        raise NotFound("No such dossier.")
    return dossier


def _officer_action(session: Session, *, actor: Actor, dossier_id: str, verb: str) -> tuple[Dossier, datetime]:
    dossier = _lock_dossier(session, dossier_id)
    _require_officer(actor, verb, dossier)
    # The lifecycle is checked before the claim and before the verb's own input checks, so an action
    # that is never possible in this status always answers 409, whatever else is wrong.
    if not lifecycle.can(verb, Status(dossier.status)) or (verb == "extend" and dossier.extended_due_at):
        raise Conflict(str(lifecycle.IllegalTransition(verb, Status(dossier.status))),
                       title="Action not allowed now", dossier_status=dossier.status, verb=verb)
    at = now()
    _require_claim(actor, dossier, at)
    return dossier, at


# ------------------------------------------------------------------------------------------ catalog


def current_procedure(session: Session, code: str) -> Procedure:
    """The current version of procedure ``code``; ``NotFound`` when the catalog has none, ``Conflict``
    (naming the new code) when the code was superseded — a retired code takes no new dossiers."""
    proc = session.scalars(select(Procedure).where(Procedure.code == code, Procedure.is_current.is_(True))).first()
    if proc is None:
        raise NotFound(f"No procedure with code {code!r}.")
    if proc.superseded_by:
        raise Conflict(f"Procedure {code} was replaced by {proc.superseded_by}; submit under the new code.",
                       title="Procedure superseded", superseded_by=proc.superseded_by)
    return proc


# ----------------------------------------------------------------------------------------- numbering


def next_sequence(session: Session, agency_code: str, day: date) -> int:
    """Take the next number of ``agency_code`` on ``day``; gap-free because it is part of the transaction.

    One ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` statement: the counter row stays locked until
    the transaction ends, so concurrent submissions queue on it, and a rolled-back submission gives
    its number back.
    """
    dialect = session.get_bind().dialect.name
    from sqlalchemy.dialects import postgresql, sqlite

    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(DossierCounter).values(agency_code=agency_code, day=day, last_seq=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[DossierCounter.agency_code, DossierCounter.day],
        set_={"last_seq": DossierCounter.last_seq + 1},
    ).returning(DossierCounter.last_seq)
    return int(session.execute(stmt).scalar_one())


def format_code(agency_code: str, day: date, seq: int) -> str:
    """``{agency code}-{yymmdd}-{4-digit sequence}`` (the sequence grows past 9999 if a day needs it)."""
    return f"{agency_code}-{day:%y%m%d}-{seq:04d}"


def new_lookup_key() -> str:
    """A short random key printed on the receipt; with the code it lets anybody follow the dossier."""
    return "".join(secrets.choice(LOOKUP_ALPHABET) for _ in range(8))


# ------------------------------------------------------------------------------------------ submit


@dataclass
class Applicant:
    """Người nộp hồ sơ — who applies (a citizen, or a business through its representative)."""

    name: str
    cccd: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str = ""


@dataclass
class NewAttachment:
    """A file to attach: already checked and stored by ``core.storage`` (``storage_key``)."""

    document_name: str
    filename: str
    content_type: str
    size: int
    storage_key: str
    digitised: bool = True


@dataclass
class Submission:
    """Everything needed to submit a dossier."""

    procedure_code: str
    applicant: Applicant
    channel: str = "online"
    agency_code: str | None = None
    form_data: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    attachments: list[NewAttachment] = field(default_factory=list)
    reuse_attachment_ids: list[str] = field(default_factory=list)


def resolve_agency(session: Session, proc: Procedure, agency_code: str | None) -> tuple[str, str | None, str]:
    """Which organisation receives a dossier of ``proc``: (code, organisation id or None, path).

    A procedure with a fixed agency (``agency_code`` set) is received there. A procedure whose
    ``agency_code`` is empty is received by the organisation of the procedure's level that the
    applicant chooses (e.g. the commune for civil-status procedures).
    """
    from smartprovince import identity

    code = proc.agency_code or (agency_code or "")
    if proc.agency_code and agency_code and agency_code != proc.agency_code:
        org = identity.get_org_by_code(session, agency_code)
        fixed = identity.get_org_by_code(session, proc.agency_code)
        if org is None or fixed is None or not org.path.startswith(fixed.path):
            raise ValidationProblem(
                f"This procedure is handled by {proc.agency_name}; choose that agency or one of its units.",
                errors=[{"loc": ["agency_code"], "msg": "not an agency of this procedure", "type": "value_error"}],
            )
        return org.code, org.id, org.path
    if not code:
        raise ValidationProblem(
            f"Choose the {proc.level} that receives this dossier (agency_code).",
            errors=[{"loc": ["agency_code"], "msg": "required for this procedure", "type": "missing"}],
        )
    org = identity.get_org_by_code(session, code)
    if org is None:
        if proc.agency_code:
            # An agency outside the organisation tree (the power company, the tax department): its
            # dossiers hang under the root of the tree, so only province-wide officers see them.
            roots = session.scalars(
                select(identity.Organisation.path).where(identity.Organisation.parent_id.is_(None)).limit(2)).all()
            return code, None, roots[0] if len(roots) == 1 else ""
        raise ValidationProblem(
            f"No organisation with code {code!r}.",
            errors=[{"loc": ["agency_code"], "msg": "unknown organisation", "type": "value_error"}],
        )
    if not proc.agency_code and org.level != proc.level:
        raise ValidationProblem(
            f"{org.name} is not a {proc.level}; this procedure is received at {proc.level} level.",
            errors=[{"loc": ["agency_code"], "msg": f"must be a {proc.level}", "type": "value_error"}],
        )
    return org.code, org.id, org.path


def _same_name(a: str, b: str) -> bool:
    import unicodedata

    def norm(x: str) -> str:
        return " ".join(unicodedata.normalize("NFC", x).split()).casefold()

    return norm(a) == norm(b)


def citizen_account_for(session: Session, *, cccd: str | None, name: str) -> str | None:
    """The account of the citizen a counter or postal dossier is for, so that they follow it after
    logging in (tra cứu sau khi đăng nhập bằng CCCD).

    Linked only when an active citizen account holds this CCCD (unique among users) *and* its full
    name is the applicant's name (case and spaces aside): a mistyped number at the desk then links
    nobody rather than the wrong person.
    """
    from smartprovince import identity

    if not cccd or not cccd.strip():
        return None
    user = session.scalars(select(identity.User).where(
        identity.User.cccd == cccd.strip(), identity.User.kind == "citizen", identity.User.active.is_(True),
    )).first()
    if user is None or not _same_name(user.full_name or "", name):
        return None
    return str(user.id)


def submit_dossier(session: Session, *, actor: Actor, submission: Submission) -> Dossier:
    """Nộp hồ sơ — create a dossier in status 1 (submitted) and give it its code and lookup key.

    Online dossiers are submitted by a logged-in citizen for themselves. Counter and postal dossiers
    are entered by a one-stop officer who holds ``procedures.dossier.receive`` over the receiving
    agency. The dossier keeps the procedure version current at this moment. A counter or postal
    dossier whose CCCD and name are those of a citizen account is linked to it
    (:func:`citizen_account_for`), so the citizen sees it after logging in.
    """
    s = submission
    bus.begin_write(session)  # the counter row is written below; on SQLite queue for the lock now
    if s.channel not in CHANNELS:
        raise ValidationProblem(f"channel must be one of {', '.join(CHANNELS)}.")
    if not s.applicant.name.strip():
        raise ValidationProblem(
            "The applicant's name is required.",
            errors=[{"loc": ["applicant", "name"], "msg": "required", "type": "missing"}],
        )
    proc = current_procedure(session, s.procedure_code)
    if s.channel == "online" and proc.online_level == "none":
        raise Conflict("This procedure cannot be submitted online; go to the one-stop desk.")
    agency_code, org_id, path = resolve_agency(session, proc, s.agency_code)
    if s.channel == "online":
        if actor.kind != "citizen":
            raise ValidationProblem(
                "Online dossiers are submitted by the applicant; officers use channel counter or post.")
        applicant_user_id: str | None = actor.id
    else:
        if not actor.can("procedures.dossier.receive", path):
            raise NotFound("No such agency for you.")
        applicant_user_id = citizen_account_for(session, cccd=s.applicant.cccd, name=s.applicant.name)
    at = now()
    day = at.astimezone(VN_TZ).date()
    seq = next_sequence(session, agency_code, day)
    dossier = Dossier(
        id=new_id(),
        code=format_code(agency_code, day, seq),
        lookup_key=new_lookup_key(),
        procedure_id=proc.id,
        procedure_code=proc.code,
        agency_code=agency_code,
        agency_org_id=org_id,
        agency_path=path,
        channel=s.channel,
        status=int(Status.SUBMITTED),
        applicant_user_id=applicant_user_id,
        applicant_name=s.applicant.name.strip(),
        applicant_cccd=s.applicant.cccd,
        applicant_phone=s.applicant.phone,
        applicant_email=s.applicant.email,
        applicant_address=s.applicant.address,
        form_data=s.form_data,
        note=s.note,
        submitted_at=at,
        supplement_requests=0,
        supplement_days=0,
        current_step=0,
        current_unit=(proc.steps[0]["unit"] if proc.steps else ""),
        claimed_by_name="",
        fee_total=0,
        fee_paid=0,
        paid_online=False,
        digitised=False,
        result_note="",
        version=0,
    )
    session.add(dossier)
    session.flush()
    _add_attachments(session, dossier, actor=actor, files=s.attachments, kind="input", at=at)
    _reuse_attachments(session, dossier, actor=actor, ids=s.reuse_attachment_ids, at=at)
    _refresh_digitised(session, dossier)
    _append(session, dossier, actor=actor, verb="submit", note=s.note, at=at,
            data={"channel": s.channel, "procedure_version": proc.version})
    return dossier


def _add_attachments(
    session: Session, dossier: Dossier, *, actor: Actor, files: list[NewAttachment], kind: str, at: datetime
) -> None:
    for f in files:
        session.add(
            DossierAttachment(
                id=new_id(),
                dossier_id=dossier.id,
                document_name=f.document_name or f.filename,
                filename=f.filename,
                content_type=f.content_type,
                size=f.size,
                storage_key=f.storage_key,
                sha256=f.storage_key if len(f.storage_key) == 64 else "",
                digitised=f.digitised,
                kind=kind,
                uploaded_at=at,
                uploaded_by=actor.id,
            )
        )
    session.flush()


def _reuse_attachments(session: Session, dossier: Dossier, *, actor: Actor, ids: list[str], at: datetime) -> None:
    """Tái sử dụng giấy tờ — copy files the same citizen gave with an earlier dossier (no new upload)."""
    if not ids:
        return
    if actor.kind != "citizen" or actor.id is None:
        raise ValidationProblem("Only the applicant can reuse their earlier documents.")
    rows = session.scalars(
        select(DossierAttachment)
        .join(Dossier, Dossier.id == DossierAttachment.dossier_id)
        .where(DossierAttachment.id.in_(ids), Dossier.applicant_user_id == actor.id)
    ).all()
    if len(rows) != len(set(ids)):
        raise ValidationProblem(
            "Some documents to reuse are not yours or do not exist.",
            errors=[{"loc": ["reuse_attachment_ids"], "msg": "unknown document", "type": "value_error"}],
        )
    for r in rows:
        session.add(
            DossierAttachment(
                id=new_id(), dossier_id=dossier.id, document_name=r.document_name, filename=r.filename,
                content_type=r.content_type, size=r.size, storage_key=r.storage_key, sha256=r.sha256,
                digitised=r.digitised, reused_from_id=r.id, kind="input", uploaded_at=at, uploaded_by=actor.id,
            )
        )
    session.flush()


def _refresh_digitised(session: Session, dossier: Dossier) -> None:
    # Decision 766: a dossier counts as digitised when its input components are all digitised files.
    flags = list(session.scalars(
        select(DossierAttachment.digitised)
        .where(DossierAttachment.dossier_id == dossier.id, DossierAttachment.kind != "result")
    ))
    dossier.digitised = bool(flags) and all(flags)


def attach_files(session: Session, *, actor: Actor, dossier_id: str, files: list[NewAttachment]) -> Dossier:
    """Đính kèm — add files to a dossier: the applicant while it waits at the desk or for a supplement,
    or a one-stop officer of the agency while it is open. Writes an audit entry and the event
    ``procedures.dossier.attached`` (no status change, so no action-log row)."""
    dossier = _lock_dossier(session, dossier_id)
    if is_applicant(actor, dossier):
        if dossier.status not in (Status.SUBMITTED, Status.SUPPLEMENT_REQUESTED):
            raise Conflict("Files can be added only before the dossier is received or when a supplement is asked.",
                           title="Action not allowed now")
    elif officer_can(actor, "receive", dossier):
        if dossier.status not in {int(s) for s in lifecycle.OPEN}:
            raise Conflict("The dossier is closed.", title="Action not allowed now")
    else:
        raise NotFound("No such dossier.")
    if not files:
        raise ValidationProblem("No file was given.")
    at = now()
    kind = "supplement" if dossier.status == Status.SUPPLEMENT_REQUESTED else "input"
    _add_attachments(session, dossier, actor=actor, files=files, kind=kind, at=at)
    _refresh_digitised(session, dossier)
    names = [f.filename for f in files]
    audit.record(session, actor=actor, action="procedures.dossier.attached", object_type="procedures.dossier",
                 object_id=dossier.id, data={"code": dossier.code, "files": names},
                 org_path=dossier.agency_path or None)
    bus.publish(session, "procedures.dossier.attached", {"id": dossier.id, "code": dossier.code, "files": names,
                                                         "at": at}, key=dossier.id)
    return dossier


# ------------------------------------------------------------------------------------------ officer


def claim_dossier(session: Session, *, actor: Actor, dossier_id: str) -> Dossier:
    """Nhận xử lý — lock the dossier for ``actor`` so no other officer acts on it meanwhile."""
    dossier = _lock_dossier(session, dossier_id)
    _require_officer(actor, "claim", dossier)
    at = now()
    if claim_active(dossier, at) and dossier.claimed_by != actor.id:
        raise Conflict(
            f"The dossier is being handled by {dossier.claimed_by_name or 'another officer'}.",
            title="Dossier claimed by another officer",
        )
    dossier.claimed_by = actor.id
    dossier.claimed_by_name = _actor_name(actor)
    dossier.claimed_at = at
    _append(session, dossier, actor=actor, verb="claim", at=at)
    return dossier


def release_dossier(session: Session, *, actor: Actor, dossier_id: str) -> Dossier:
    """Trả khóa — give the claim back without acting (only the holder, or after the claim lapsed)."""
    dossier = _lock_dossier(session, dossier_id)
    _require_officer(actor, "release", dossier)
    at = now()
    _require_claim(actor, dossier, at)
    _clear_claim(dossier)
    _append(session, dossier, actor=actor, verb="release", at=at)
    return dossier


def _clear_claim(dossier: Dossier) -> None:
    dossier.claimed_by = None
    dossier.claimed_by_name = ""
    dossier.claimed_at = None


def receive_dossier(session: Session, *, actor: Actor, dossier_id: str, note: str = "") -> Dossier:
    """Tiếp nhận — accept a submitted dossier; the due date is computed from the calendar now."""
    dossier, at = _officer_action(session, actor=actor, dossier_id=dossier_id, verb="receive")
    proc = session.get(Procedure, dossier.procedure_id)
    assert proc is not None
    dossier.received_at = at
    dossier.due_at = timing.compute_due(at, proc.processing_time, proc.processing_unit, cutoff_hour=proc.cutoff_hour,
                                        session=session)
    _append(session, dossier, actor=actor, verb="receive", note=note, at=at, data={"due_at": dossier.due_at})
    return dossier


def refuse_dossier(session: Session, *, actor: Actor, dossier_id: str, reason: str) -> Dossier:
    """Từ chối tiếp nhận — refuse a submitted dossier (the reason is sent to the applicant)."""
    _require_reason(reason)
    dossier, at = _officer_action(session, actor=actor, dossier_id=dossier_id, verb="refuse")
    dossier.closed_at = at
    _clear_claim(dossier)
    _append(session, dossier, actor=actor, verb="refuse", note=reason, at=at)
    return dossier


def forward_dossier(
    session: Session, *, actor: Actor, dossier_id: str, to_step: int | None = None, to_unit: str | None = None,
    note: str = "",
) -> Dossier:
    """Chuyển xử lý — hand the dossier to the next routing step (or a named step / another unit).

    The claim is released so that somebody at the next step can take it.
    """
    dossier, at = _officer_action(session, actor=actor, dossier_id=dossier_id, verb="forward")
    proc = session.get(Procedure, dossier.procedure_id)
    assert proc is not None
    steps = proc.steps or []
    target = min(dossier.current_step + 1, max(len(steps) - 1, 0)) if to_step is None else to_step
    if steps and not 0 <= target < len(steps):
        raise ValidationProblem(
            f"This procedure has steps 0 to {len(steps) - 1}.",
            errors=[{"loc": ["to_step"], "msg": "no such step", "type": "value_error"}],
        )
    if not steps:
        target = max(target, 0)
    unit = (to_unit or "").strip() or (steps[target]["unit"] if steps else "")
    from_step, from_unit = dossier.current_step, dossier.current_unit
    dossier.current_step = target
    dossier.current_unit = unit
    _clear_claim(dossier)
    _append(session, dossier, actor=actor, verb="forward", note=note, at=at,
            data={"from_step": from_step, "from_unit": from_unit, "to_step": target, "to_unit": unit})
    return dossier


def request_supplement(session: Session, *, actor: Actor, dossier_id: str, reason: str) -> Dossier:
    """Yêu cầu bổ sung — ask the applicant for more documents; the processing clock stops meanwhile."""
    _require_reason(reason)
    dossier, at = _officer_action(session, actor=actor, dossier_id=dossier_id, verb="request_supplement")
    dossier.supplement_requested_at = at
    _clear_claim(dossier)  # waiting for the applicant: nobody holds the dossier meanwhile
    _append(session, dossier, actor=actor, verb="request_supplement", note=reason, at=at)
    return dossier


def supplement_dossier(
    session: Session, *, actor: Actor, dossier_id: str, attachments: list[NewAttachment] | None = None,
    note: str = "",
) -> Dossier:
    """Bổ sung hồ sơ — the applicant hands in what was asked; the due date moves by the waiting time."""
    dossier = _lock_dossier(session, dossier_id)
    _require_applicant_or_counter(actor, "supplement", dossier)
    at = now()
    if dossier.status != Status.SUPPLEMENT_REQUESTED:
        raise Conflict(f"Action 'supplement' is not allowed from status {dossier.status}.",
                       title="Action not allowed now")
    _add_attachments(session, dossier, actor=actor, files=attachments or [], kind="supplement", at=at)
    _refresh_digitised(session, dossier)
    data: dict[str, Any] = {"files": len(attachments or [])}
    if dossier.due_at is not None and dossier.supplement_requested_at is not None:
        new_due, days = timing.shift_for_supplement(dossier.due_at, dossier.supplement_requested_at, at,
                                                    session=session)
        dossier.due_at = new_due
        if dossier.extended_due_at is not None:
            dossier.extended_due_at, _ = timing.shift_for_supplement(
                dossier.extended_due_at, dossier.supplement_requested_at, at, session=session)
        dossier.supplement_days += days
        data.update({"due_at": new_due, "waited_working_days": days})
    dossier.supplement_requested_at = None
    _append(session, dossier, actor=actor, verb="supplement", note=note, at=at, data=data)
    return dossier


def request_fee(
    session: Session, *, actor: Actor, dossier_id: str, amount: int | None = None, description: str = ""
) -> DossierPayment:
    """Yêu cầu nộp phí — ask the applicant to pay; by default the procedure's fees (online rate if online)."""
    dossier, at = _officer_action(session, actor=actor, dossier_id=dossier_id, verb="request_fee")
    if amount is None:
        proc = session.get(Procedure, dossier.procedure_id)
        assert proc is not None
        key = "online_amount_vnd" if dossier.channel == "online" else "amount_vnd"
        amount = sum(int(f.get(key, f.get("amount_vnd", 0)) or 0) for f in proc.fees or [])
        description = description or "; ".join(str(f.get("name", "")) for f in proc.fees or [])
    if amount <= 0:
        raise ValidationProblem("The fee must be more than 0 VND.",
                                errors=[{"loc": ["amount"], "msg": "must be > 0", "type": "value_error"}])
    payment = DossierPayment(id=new_id(), dossier_id=dossier.id, amount=int(amount), description=description,
                             status="pending", requested_at=at)
    session.add(payment)
    dossier.fee_total += int(amount)
    _clear_claim(dossier)
    _append(session, dossier, actor=actor, verb="request_fee", note=description, at=at,
            data={"payment_id": payment.id, "amount": int(amount)})
    return payment


def pay_fee(
    session: Session, *, actor: Actor, dossier_id: str, method: str = "online", provider_ref: str | None = None,
    payment_id: str | None = None,
) -> Dossier:
    """Thanh toán — record that the pending fee is paid; the dossier goes back to processing.

    Two ways in: an officer records a payment made at the counter (``method="counter"``), or the
    payment platform's verified callback records an online payment (``actor`` is ``SYSTEM`` and
    ``provider_ref`` is the platform's transaction id). An applicant cannot declare an online payment
    themselves. Repeating the same ``provider_ref`` (a platform calling back twice) changes nothing.
    """
    if method not in ("online", "counter"):
        raise ValidationProblem("method must be online or counter.")
    if provider_ref:
        done = session.scalars(select(DossierPayment).where(DossierPayment.provider_ref == provider_ref)).first()
        if done is not None and done.status == "paid":
            dossier = session.get(Dossier, done.dossier_id)
            assert dossier is not None
            return dossier
    dossier = _lock_dossier(session, dossier_id)
    _require_applicant_or_counter(actor, "pay", dossier)
    if dossier.status != Status.FEES_DUE:
        raise Conflict(f"Action 'pay' is not allowed from status {dossier.status}.", title="Action not allowed now")
    if actor.kind != "system" and (method == "online" or actor.kind != "officer"):
        raise Forbidden("Online payments are confirmed by the payment platform; pay with the VietQR code or the "
                        "payment page. Counter payments are recorded by the one-stop officer.")
    at = now()
    stmt = select(DossierPayment).where(DossierPayment.dossier_id == dossier.id, DossierPayment.status == "pending")
    if payment_id:
        stmt = stmt.where(DossierPayment.id == payment_id)
    payment = session.scalars(stmt.order_by(DossierPayment.requested_at.desc())).first()
    if payment is None:
        raise Conflict("No fee is waiting for payment.")
    payment.status = "paid"
    payment.method = method
    payment.provider_ref = provider_ref
    payment.paid_at = at
    payment.receipt_no = f"BL-{dossier.code}-{payment.id[-6:].upper()}"
    dossier.fee_paid += payment.amount
    dossier.paid_online = dossier.paid_online or method == "online"
    _append(session, dossier, actor=actor, verb="pay", at=at,
            data={"payment_id": payment.id, "amount": payment.amount, "method": method,
                  "provider_ref": provider_ref, "receipt_no": payment.receipt_no})
    return dossier


def confirm_online_payment(
    session: Session, *, actor: Actor, order_id: str, provider_ref: str, amount: int
) -> DossierPayment:
    """Ghi nhận thanh toán trực tuyến — apply a *verified* payment-platform callback.

    ``order_id`` is our payment id. The same ``provider_ref`` again returns the same payment and
    writes nothing. A different amount is refused (422); a payment already settled by another
    transaction answers 409, so the platform can refund it.
    """
    done = session.scalars(select(DossierPayment).where(DossierPayment.provider_ref == provider_ref)).first()
    if done is not None:
        if done.id != order_id:
            raise Conflict("This transaction id was already used for another order.")
        return done
    payment = session.get(DossierPayment, order_id)
    if payment is None:
        raise NotFound("No such payment order.")
    if payment.status != "pending":
        raise Conflict("This order is already settled.", title="Order already settled")
    if int(amount) != payment.amount:
        raise ValidationProblem(f"The amount paid ({amount} VND) differs from the order ({payment.amount} VND).")
    pay_fee(session, actor=actor, dossier_id=payment.dossier_id, method="online", provider_ref=provider_ref,
            payment_id=payment.id)
    return payment


def request_withdrawal(session: Session, *, actor: Actor, dossier_id: str, reason: str) -> Dossier:
    """Yêu cầu rút hồ sơ — the applicant asks to withdraw; an officer then stops it or refuses."""
    _require_reason(reason)
    dossier = _lock_dossier(session, dossier_id)
    _require_applicant_or_counter(actor, "request_withdrawal", dossier)
    _append(session, dossier, actor=actor, verb="request_withdrawal", note=reason)
    return dossier


def refuse_withdrawal(session: Session, *, actor: Actor, dossier_id: str, reason: str) -> Dossier:
    """Không đồng ý rút — processing goes on where it was."""
    _require_reason(reason)
    dossier, at = _officer_action(session, actor=actor, dossier_id=dossier_id, verb="refuse_withdrawal")
    _append(session, dossier, actor=actor, verb="refuse_withdrawal", note=reason, at=at)
    return dossier


def stop_dossier(session: Session, *, actor: Actor, dossier_id: str, reason: str) -> Dossier:
    """Dừng xử lý — stop for good (withdrawn, or cannot be handled); the reason goes to the applicant."""
    _require_reason(reason)
    dossier, at = _officer_action(session, actor=actor, dossier_id=dossier_id, verb="stop")
    dossier.closed_at = at
    _clear_claim(dossier)
    _append(session, dossier, actor=actor, verb="stop", note=reason, at=at)
    return dossier


def finish_dossier(session: Session, *, actor: Actor, dossier_id: str, result_note: str = "",
                   result_files: list[NewAttachment] | None = None) -> Dossier:
    """Phê duyệt, hoàn thành — the result is ready; timing (early / on time / late) is fixed now."""
    dossier, at = _officer_action(session, actor=actor, dossier_id=dossier_id, verb="finish")
    _add_attachments(session, dossier, actor=actor, files=result_files or [], kind="result", at=at)
    dossier.finished_at = at
    dossier.result_note = result_note
    _clear_claim(dossier)  # the one-stop desk returns the result; it claims the dossier for that
    klass = timing.classify(due_at=dossier.due_at, finished_at=at, supplement_requests=dossier.supplement_requests,
                            at=at)
    _append(session, dossier, actor=actor, verb="finish", note=result_note, at=at, data={"timing": klass})
    return dossier


def return_result(session: Session, *, actor: Actor, dossier_id: str, method: str, note: str = "") -> Dossier:
    """Trả kết quả — hand the result to the applicant at the counter, by post or electronically."""
    if method not in RETURN_METHODS:
        raise ValidationProblem(f"method must be one of {', '.join(RETURN_METHODS)}.",
                                errors=[{"loc": ["method"], "msg": "unknown method", "type": "value_error"}])
    dossier, at = _officer_action(session, actor=actor, dossier_id=dossier_id, verb="return_result")
    dossier.returned_at = at
    dossier.return_method = method
    _clear_claim(dossier)
    _append(session, dossier, actor=actor, verb="return_result", note=note, at=at, data={"method": method})
    return dossier


def extend_dossier(session: Session, *, actor: Actor, dossier_id: str, new_due_at: datetime, reason: str) -> Dossier:
    """Thư xin lỗi và hẹn lại — the one apology-and-extension letter; records the new date promised."""
    _require_reason(reason)
    if new_due_at.tzinfo is None:
        raise ValidationProblem("new_due_at must carry a time zone.",
                                errors=[{"loc": ["new_due_at"], "msg": "naive datetime", "type": "value_error"}])
    dossier, at = _officer_action(session, actor=actor, dossier_id=dossier_id, verb="extend")
    current = effective_due(dossier)
    if current is None or new_due_at <= current:
        raise ValidationProblem("The new date must be later than the current due date.",
                                errors=[{"loc": ["new_due_at"], "msg": "not later than due date",
                                         "type": "value_error"}])
    dossier.extended_due_at = new_due_at
    _append(session, dossier, actor=actor, verb="extend", note=reason, at=at, data={"new_due_at": new_due_at})
    return dossier


def _require_reason(reason: str | None) -> None:
    if not reason or not reason.strip():
        raise ValidationProblem("A reason is required.",
                                errors=[{"loc": ["reason"], "msg": "required", "type": "missing"}])


OFFICER_ACTIONS = {
    "claim", "release", "receive", "refuse", "forward", "request_supplement", "request_fee", "refuse_withdrawal",
    "stop", "finish", "return_result", "extend",
}


def check_status_consistent(session: Session, dossier: Dossier) -> bool:
    """True when the stored status equals the replay of the action log (used by tests and checks)."""
    return int(state_of(session, dossier).status) == dossier.status


__all__ = [
    "Applicant", "NewAttachment", "Submission", "submit_dossier", "claim_dossier", "release_dossier",
    "receive_dossier", "refuse_dossier", "forward_dossier", "request_supplement", "supplement_dossier",
    "request_fee", "pay_fee", "request_withdrawal", "refuse_withdrawal", "stop_dossier", "finish_dossier",
    "return_result", "extend_dossier",
]
