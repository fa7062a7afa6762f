"""Reads about the logged-in person for the console and profile pages (through identity's public interface)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from smartprovince.core.security import Actor

LEVEL_LABELS: dict[str, str] = {
    "province": "Tỉnh",
    "department": "Sở, ban, ngành",
    "district": "Cấp huyện",
    "commune": "Cấp xã",
    "unit": "Đơn vị cơ sở",
    "body": "Cơ quan",
    "other": "Khác",
}


def org_chain(session: Session, org: Any) -> list[Any]:
    """The organisation and its ancestors, from the root down (read from the materialised path)."""
    from smartprovince import identity

    if org is None:
        return []
    ids = [p for p in (org.path or "").strip("/").split("/") if p]
    chain = [identity.get_org(session, i) for i in ids]
    return [o for o in chain if o is not None] or [org]


def officer_summary(session: Session, actor: Actor) -> dict[str, Any]:
    """The actor's user record, organisation (with its ancestors) and role assignments."""
    from smartprovince import identity

    user = session.get(identity.User, actor.id) if actor.id else None
    org = identity.get_org(session, actor.org_id) if actor.org_id else None
    roles = []
    if user is not None:
        for a in user.assignments:
            roles.append(
                {
                    "name": a.role.name,
                    "code": a.role.code,
                    "scope": a.scope_org.name if a.scope_org is not None else None,
                }
            )
    return {"user": user, "org": org, "chain": org_chain(session, org), "roles": roles}
