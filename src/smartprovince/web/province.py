"""Facts about the province this install serves, read from the organisation tree (data, never code)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

# Levels counted on the home page, with their Vietnamese labels (translated in the template).
FACT_LEVELS: tuple[tuple[str, str], ...] = (
    ("district", "Đơn vị hành chính cấp huyện"),
    ("commune", "Xã, phường, thị trấn"),
    ("department", "Sở, ban, ngành"),
)


def _province(session: Session, code: str) -> Any:
    from smartprovince import identity

    return identity.get_org_by_code(session, code)


def province_name(request: Request, session: Session) -> str | None:
    """The province's name (e.g. "Tỉnh Hải Dương"), or None before the organisation tree is loaded."""
    cached = getattr(request.app.state, "province_name", None)
    if cached:
        return cached
    org = _province(session, request.app.state.settings.province_code)
    if org is None:
        return None
    request.app.state.province_name = org.name
    return org.name


def province_facts(request: Request, session: Session) -> list[dict[str, Any]]:
    """Counts of organisations by level inside the province (empty before the tree is loaded)."""
    from smartprovince import identity

    org = _province(session, request.app.state.settings.province_code)
    if org is None:
        return []
    model = identity.Organisation
    rows = session.execute(
        select(model.level, func.count())
        .where(model.path.startswith(org.path), model.active.is_(True))
        .group_by(model.level)
    ).all()
    counts = {level: n for level, n in rows}
    return [{"label": label, "value": counts.get(level, 0)} for level, label in FACT_LEVELS if counts.get(level)]
