"""Danh mục dùng chung — shared category lists with versions and effective dates.

A list (administrative units, agencies, ethnic groups, procedure fields …) has numbered versions.
Each version holds all items and is valid from ``effective_from``; publishing a new version closes
the previous one the day before. A dataset column of type ``code`` is checked against the version
in force on the day of the load.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from smartprovince.core import audit, bus
from smartprovince.core.errors import Conflict, NotFound, ValidationProblem
from smartprovince.core.security import Actor
from smartprovince.datahub.fields import normalise_text
from smartprovince.datahub.models import CodeList, CodeListVersion

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,59}$")


def get_codelist(session: Session, code: str) -> CodeList:
    """The list with this code, or ``NotFound``."""
    row = session.scalar(select(CodeList).where(CodeList.code == code))
    if row is None:
        raise NotFound(f"No category list {code!r}.")
    return row


def list_codelists(session: Session) -> list[CodeList]:
    return list(session.scalars(select(CodeList).order_by(CodeList.code)))


def versions(session: Session, codelist: CodeList) -> list[CodeListVersion]:
    return list(session.scalars(select(CodeListVersion).where(CodeListVersion.codelist_id == codelist.id)
                                .order_by(CodeListVersion.version.desc())))


def version_on(session: Session, code: str, day: date) -> CodeListVersion | None:
    """The version of list ``code`` in force on ``day`` (``None`` if none was in force)."""
    cl = session.scalar(select(CodeList).where(CodeList.code == code))
    if cl is None:
        return None
    return session.scalar(select(CodeListVersion).where(
        CodeListVersion.codelist_id == cl.id, CodeListVersion.effective_from <= day,
        or_(CodeListVersion.effective_to.is_(None), CodeListVersion.effective_to >= day),
    ).order_by(CodeListVersion.version.desc()).limit(1))


def codes_on(session: Session, code: str, day: date) -> set[str] | None:
    """The valid codes of list ``code`` on ``day``; ``None`` when the list does not exist."""
    v = version_on(session, code, day)
    if v is None:
        return None if session.scalar(select(CodeList.id).where(CodeList.code == code)) is None else set()
    return {str(item["code"]) for item in v.items}


def _clean_items(items: Any) -> list[dict[str, str]]:
    if not isinstance(items, list) or not items:
        raise ValidationProblem("A version needs a non-empty list of items {code, label}.")
    if len(items) > 50_000:
        raise ValidationProblem("A version may have at most 50,000 items.")
    out, seen = [], set()
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not str(item.get("code") or "").strip():
            raise ValidationProblem(f"Item {i} needs a code.")
        code = normalise_text(str(item["code"]))[:100]
        if code in seen:
            raise ValidationProblem(f"Code {code!r} appears twice.")
        seen.add(code)
        entry = {"code": code, "label": normalise_text(str(item.get("label") or code))[:300]}
        if item.get("parent"):
            entry["parent"] = normalise_text(str(item["parent"]))[:100]
        out.append(entry)
    return out


def create_codelist(session: Session, *, actor: Actor, code: str, name: str, name_en: str = "",
                    description: str = "") -> CodeList:
    """Tạo danh mục — create an empty category list (versions are added with :func:`publish_version`)."""
    if not CODE_RE.match(code or ""):
        raise ValidationProblem("The list code must be 2–60 lowercase letters, digits, - or _.")
    if not normalise_text(name or ""):
        raise ValidationProblem("The list needs a name.")
    if session.scalar(select(CodeList.id).where(CodeList.code == code)) is not None:
        raise Conflict(f"A category list {code!r} already exists.")
    cl = CodeList(code=code, name=normalise_text(name)[:200], name_en=normalise_text(name_en)[:200],
                  description=description[:2000])
    session.add(cl)
    session.flush()
    audit.record(session, actor=actor, action="datahub.codelist.created", object_type="codelist", object_id=cl.id,
                 data={"code": code, "name": cl.name})
    bus.publish(session, "datahub.codelist.created", {"codelist_id": cl.id, "code": code}, key=cl.id)
    return cl


def publish_version(session: Session, *, actor: Actor, code: str, items: Any, effective_from: date,
                    note: str = "") -> CodeListVersion:
    """Ban hành phiên bản — add a new version of list ``code`` valid from ``effective_from``.

    The previous open version ends the day before. A version may not start on or before the start
    of the latest version (history is not rewritten).
    """
    cl = get_codelist(session, code)
    clean = _clean_items(items)
    latest = session.scalar(select(CodeListVersion).where(CodeListVersion.codelist_id == cl.id)
                            .order_by(CodeListVersion.version.desc()).limit(1))
    if latest is not None and effective_from <= latest.effective_from:
        raise Conflict(f"The new version must start after {latest.effective_from.isoformat()}.")
    if latest is not None:
        latest.effective_to = effective_from - timedelta(days=1)
    v = CodeListVersion(codelist_id=cl.id, version=(latest.version + 1) if latest else 1,
                        effective_from=effective_from, items=clean, note=note[:500])
    session.add(v)
    session.flush()
    audit.record(session, actor=actor, action="datahub.codelist.version_published", object_type="codelist",
                 object_id=cl.id, data={"code": code, "version": v.version, "items": len(clean),
                                        "effective_from": effective_from})
    bus.publish(session, "datahub.codelist.version_published",
                {"codelist_id": cl.id, "code": code, "version": v.version, "effective_from": effective_from},
                key=cl.id)
    return v
