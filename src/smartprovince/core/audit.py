"""Audit log (nhật ký kiểm toán) — who did what to which object, kept so that changes can be detected.

Every write of the platform calls ``record(session, actor=..., action=..., object_type=...,
object_id=..., data=...)`` in the same transaction as the change itself, so the change and its audit
entry are committed together or not at all.

The log is *append-only* and *hash-chained*:

* each entry has a sequence number ``seq`` (1, 2, 3 … without gaps) and stores ``prev_hash``, the
  hash of the entry before it (64 zeros for the first one);
* its own ``hash`` is the SHA-256 of the canonical JSON of all its fields (including ``prev_hash``);
* the ``audit_head`` row keeps the last ``seq`` and ``hash``. Writers lock this row first (an
  ``UPDATE`` takes a row lock on PostgreSQL and the write lock on SQLite), so two transactions can
  never append to the same point and fork the chain;
* database triggers refuse ``UPDATE`` and ``DELETE`` (and ``TRUNCATE`` on PostgreSQL) of entries.

``verify(session)`` walks the chain and reports the first entry that is broken: changed content,
a missing entry, entries moved, or missing entries at the end. Someone with full database rights can
drop the triggers, but cannot change history without ``verify`` noticing (unless they rewrite every
hash after the change — copy the head hash somewhere safe, e.g. a printed report, to catch that too).

The ``data`` of an entry may contain personal data (a citizen's name in a dossier): it is stored
here, readable only by holders of ``core.audit.read``, and is never written to the logs.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Connection,
    Index,
    Integer,
    Select,
    String,
    Table,
    Text,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from smartprovince.core import clock
from smartprovince.core.db import Base, UTCDateTime
from smartprovince.core.ids import new_id
from smartprovince.core.logs import get_request_id
from smartprovince.core.security import SYSTEM, Actor

log = logging.getLogger("smartprovince.audit")

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first entry."""
HASH_VERSION = 1
"""Version of the hashed field layout; stored inside the hashed JSON so the layout can evolve."""


class AuditEntry(Base):
    """Mục nhật ký kiểm toán — one audit entry: an action of an actor on an object, hash-chained."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_object", "object_type", "object_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[str | None] = mapped_column(String(32), index=True)
    actor_name: Mapped[str] = mapped_column(String(150))
    actor_kind: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(100), index=True)
    object_type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str] = mapped_column(String(200))
    org_path: Mapped[str | None] = mapped_column(String(1000), index=True)
    data: Mapped[str | None] = mapped_column(Text)  # canonical JSON text, exactly as hashed
    request_id: Mapped[str | None] = mapped_column(String(128))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    @property
    def data_value(self) -> Any:
        """``data`` decoded from its stored JSON text (``None`` when the entry has no data)."""
        return None if self.data is None else json.loads(self.data)


class AuditHead(Base):
    """Đầu chuỗi — the single row (id 1) holding the last sequence number and hash of the chain."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


# ------------------------------------------------------------------------------------------ hashing


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"audit data cannot contain a {type(value).__name__}")


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 text kept as is (same input → same text)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(entry: Any) -> str:
    """The SHA-256 (hex) of an entry's fields: what ``entry.hash`` must be for an untouched entry.

    ``entry`` is an ``AuditEntry`` or a row of the ``audit_log`` table.
    """
    fields = {
        "v": HASH_VERSION,
        "seq": entry.seq,
        "id": entry.id,
        "occurred_at": _timestamp(entry.occurred_at),
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name,
        "actor_kind": entry.actor_kind,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "org_path": entry.org_path,
        "data": entry.data,
        "request_id": entry.request_id,
        "prev_hash": entry.prev_hash,
    }
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------------------------- record


_HEAD: Table = AuditHead.__table__  # type: ignore[assignment]
_LOG: Table = AuditEntry.__table__  # type: ignore[assignment]
# Built once: record() runs inside every write of the platform, so it should cost little.
_BUMP_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq + 1).returning(_HEAD.c.seq, _HEAD.c.hash)
_SET_HEAD_HASH = update(_HEAD).where(_HEAD.c.id == 1).values(hash=bindparam("new_hash"))
_INSERT_ENTRY = insert(_LOG)


def _lock_head(connection: Connection) -> tuple[int, str]:
    """Take the chain lock and reserve the next sequence number; return ``(seq, prev_hash)``.

    The ``UPDATE`` comes first on purpose: it locks the head row (PostgreSQL) or takes the database
    write lock (SQLite) *before* we read, so a concurrent writer waits here until we commit and then
    reads our hash.
    """
    row = connection.execute(_BUMP_HEAD).first()
    if row is not None:
        return int(row.seq), str(row.hash)
    # No head row: only acceptable on an empty log (e.g. a database created without the migration).
    if connection.execute(select(func.count()).select_from(_LOG)).scalar():
        raise RuntimeError("audit_head row is missing while audit entries exist; run `smartprovince audit verify`")
    connection.execute(insert(_HEAD).values(id=1, seq=1, hash=GENESIS_HASH))
    return 1, GENESIS_HASH


def record(
    session: Session,
    *,
    actor: Actor | None,
    action: str,
    object_type: str,
    object_id: Any,
    data: Any = None,
    org_path: str | None = None,
) -> AuditEntry:
    """Append an audit entry in the caller's transaction and return it.

    * ``actor`` — who acted (``None`` means the system);
    * ``action`` — what happened, usually the event topic or ``module.noun.verb``
      (``procedures.dossier.received``);
    * ``object_type`` / ``object_id`` — what it happened to (``dossier``, its id);
    * ``data`` — JSON-serialisable details (changed fields, a reason); dates, decimals and UUIDs are
      turned into strings. May contain personal data: it is stored, never logged;
    * ``org_path`` — materialised path of the organisation the object belongs to; decides which
      auditors (scoped ``core.audit.read``) can see the entry. ``None`` = visible to province-wide
      auditors only.

    The entry is committed or rolled back together with the caller's change. The returned object
    is not attached to the session (entries are never changed); read it, don't modify it.
    """
    if not action or not object_type:
        raise ValueError("audit record needs an action and an object_type")
    who = actor or SYSTEM
    data_text = None if data is None else canonical_json(data)
    # The session's own connection: same transaction as the caller's change.
    connection = session.connection()
    seq, prev_hash = _lock_head(connection)
    entry = AuditEntry(
        id=new_id(),
        seq=seq,
        # Microsecond precision survives both databases unchanged, so the hash can be recomputed.
        occurred_at=clock.now().astimezone(UTC),
        actor_id=who.id,
        actor_name=(who.username or who.kind)[:150],
        actor_kind=who.kind,
        action=action[:100],
        object_type=object_type[:100],
        object_id=str(object_id)[:200],
        org_path=org_path,
        data=data_text,
        request_id=get_request_id(),
        prev_hash=prev_hash,
    )
    entry.hash = entry_hash(entry)
    connection.execute(_INSERT_ENTRY, {c.key: getattr(entry, c.key) for c in _LOG.columns})
    connection.execute(_SET_HEAD_HASH, {"new_hash": entry.hash})
    # Only ids and the action: the data may hold personal details.
    log.debug("audit %s on %s %s (seq %s)", entry.action, entry.object_type, entry.object_id, entry.seq)
    return entry


# ------------------------------------------------------------------------------------------- verify


@dataclass(frozen=True)
class BrokenEntry:
    """Where the chain breaks first: the entry's ``seq`` and ``id`` (``None`` when entries are missing at the end)."""

    seq: int
    id: str | None
    reason: str


@dataclass(frozen=True)
class AuditVerification:
    """Result of ``verify``: how many entries were checked and the first broken one (``None`` = intact)."""

    count: int
    broken: BrokenEntry | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def count_entries(session: Session) -> int:
    """Number of entries in the audit log."""
    return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def verify(
    session: Session,
    *,
    batch_size: int = 2000,
    on_progress: Callable[[int], None] | None = None,
) -> AuditVerification:
    """Walk the whole chain in ``seq`` order and return the first broken entry (if any).

    An entry is broken when its content no longer matches its hash (edited), its ``seq`` is not the
    next number (an entry before it was deleted, or entries were reordered), or its ``prev_hash`` is
    not the hash of the entry before it. Entries deleted at the end are found by comparing with the
    head row. ``on_progress(checked)`` is called after each batch (for progress bars).
    """
    # The head is read first: entries appended while we walk (seq above the head we saw) are left for
    # the next run, so a busy log is never reported as broken.
    head = session.execute(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)).first()
    if head is None:
        first = session.execute(select(_LOG.c.seq, _LOG.c.id).order_by(_LOG.c.seq).limit(1)).first()
        if first is None:
            return AuditVerification(0, None)
        return AuditVerification(0, BrokenEntry(first.seq, first.id, "the chain head row is missing"))
    end_seq = int(head.seq)
    expected_seq = 1
    expected_prev = GENESIS_HASH
    checked = 0
    last_seq = None
    while True:
        # Plain rows, not ORM objects: nothing piles up in the session's identity map on long logs.
        # Rows with a seq below 1 can only come from tampering; they are read too.
        stmt = select(_LOG).where(_LOG.c.seq <= end_seq).order_by(_LOG.c.seq).limit(batch_size)
        if last_seq is not None:
            stmt = stmt.where(_LOG.c.seq > last_seq)
        rows = session.execute(stmt).all()
        if not rows:
            break
        for entry in rows:
            if entry_hash(entry) != entry.hash:
                return AuditVerification(checked, BrokenEntry(entry.seq, entry.id, "content does not match its hash"))
            if entry.seq != expected_seq:
                reason = f"sequence number {entry.seq} where {expected_seq} was expected (entries missing or moved)"
                return AuditVerification(checked, BrokenEntry(entry.seq, entry.id, reason))
            if entry.prev_hash != expected_prev:
                reason = "prev_hash is not the hash of the entry before it (entries changed, removed or moved)"
                return AuditVerification(checked, BrokenEntry(entry.seq, entry.id, reason))
            expected_prev = entry.hash
            expected_seq += 1
            checked += 1
        last_seq = rows[-1].seq
        if on_progress:
            on_progress(checked)
    if checked != end_seq:
        reason = (
            f"the log ends at entry {checked} but the chain head records entry {end_seq} (entries missing at the end)"
        )
        return AuditVerification(checked, BrokenEntry(checked + 1, None, reason))
    if head.hash != expected_prev:
        return AuditVerification(
            checked, BrokenEntry(checked, None, f"the chain head's hash does not match entry {checked}")
        )
    # Entries above the head we read are fine if they were committed meanwhile (the head moves in the
    # same transaction as its entry, so read the entries first, then the head). Any other is forged.
    beyond = session.execute(
        select(_LOG.c.seq, _LOG.c.id).where(_LOG.c.seq > end_seq).order_by(_LOG.c.seq.desc()).limit(1)
    ).first()
    if beyond is not None:
        now_head = session.execute(select(_HEAD.c.seq).where(_HEAD.c.id == 1)).scalar()
        if now_head is None or beyond.seq > now_head:
            reason = f"entry {beyond.seq} lies after the chain head (entry {now_head}): it was added outside the log"
            return AuditVerification(checked, BrokenEntry(beyond.seq, beyond.id, reason))
    return AuditVerification(checked, None)


# -------------------------------------------------------------------------------------------- query


def entries_query(
    actor: Actor,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    actor_ref: str | None = None,
    action: str | None = None,
) -> Select[Any]:
    """The audit entries ``actor`` may read (``core.audit.read`` scopes), filtered.

    ``actor_ref`` matches the acting user's id or username. Entries without an ``org_path`` are
    visible only to actors who hold the permission province-wide.
    """
    stmt = select(AuditEntry)
    scopes = actor.scopes("core.audit.read")
    if not scopes:
        return stmt.where(AuditEntry.id.is_(None))  # nothing
    if "" not in scopes:
        stmt = stmt.where(or_(*(AuditEntry.org_path.startswith(p, autoescape=True) for p in scopes)))
    if object_type:
        stmt = stmt.where(AuditEntry.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEntry.object_id == object_id)
    if actor_ref:
        stmt = stmt.where(or_(AuditEntry.actor_id == actor_ref, AuditEntry.actor_name == actor_ref))
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return stmt
