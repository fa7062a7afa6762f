"""Reads of the data hub, and the one way to fetch a dataset a caller may see (truy vấn)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from smartprovince import identity
from smartprovince.core.errors import NotFound
from smartprovince.core.security import Actor
from smartprovince.datahub.fields import FieldDef
from smartprovince.datahub.models import Dataset, Load, QualityScore

READ = "datahub.dataset.read"
MANAGE = "datahub.dataset.manage"


@dataclass(frozen=True)
class DatasetView:
    """A dataset with its publishing organisation, as one caller sees it."""

    dataset: Dataset
    org: Any  # identity.Organisation

    @property
    def fields(self) -> list[FieldDef]:
        return [FieldDef.parse(f) for f in self.dataset.fields]

    @property
    def public_fields(self) -> list[FieldDef]:
        """Fields that may leave the platform: never the personal-data ones."""
        return [f for f in self.fields if not f.personal]


def can_read_internal(actor: Actor, org_path: str) -> bool:
    return actor.can(READ, org_path) or actor.can(MANAGE, org_path)


def can_manage(actor: Actor, org_path: str) -> bool:
    return actor.can(MANAGE, org_path)


def visible_stmt(actor: Actor) -> Any:
    """Datasets the actor may see: public ones, plus internal ones of organisations in its scope."""
    stmt = select(Dataset).join(identity.Organisation, identity.Organisation.id == Dataset.org_id)
    scopes = sorted(set(actor.scopes(READ)) | set(actor.scopes(MANAGE)))
    if "" in scopes:
        return stmt
    conditions: list[Any] = [Dataset.public.is_(True)]
    conditions += [identity.Organisation.path.startswith(p) for p in scopes]
    return stmt.where(or_(*conditions))


def access_dataset(session: Session, actor: Actor, name_or_id: str, *, manage: bool = False) -> DatasetView:
    """The dataset by name or id if the actor may see it (or manage it); the same ``NotFound`` otherwise."""
    ds = session.scalar(select(Dataset).where(or_(Dataset.name == name_or_id, Dataset.id == name_or_id)))
    if ds is None:
        raise NotFound("No such dataset.")
    org = identity.get_org(session, ds.org_id)
    path = org.path if org is not None else ""
    if manage and not can_manage(actor, path):
        raise NotFound("No such dataset.")
    if not ds.public and not can_read_internal(actor, path):
        raise NotFound("No such dataset.")
    return DatasetView(dataset=ds, org=org)


def public_datasets(session: Session) -> list[DatasetView]:
    """Every public dataset with its organisation, newest first (for the portal, CKAN and DCAT)."""
    rows = session.execute(
        select(Dataset, identity.Organisation).join(identity.Organisation, identity.Organisation.id == Dataset.org_id)
        .where(Dataset.public.is_(True)).order_by(Dataset.created_at.desc(), Dataset.id.desc())
    ).all()
    return [DatasetView(dataset=d, org=o) for d, o in rows]


def visible_datasets(session: Session, actor: Actor) -> list[DatasetView]:
    rows = session.scalars(visible_stmt(actor).order_by(Dataset.created_at.desc(), Dataset.id.desc())).all()
    return [DatasetView(dataset=d, org=identity.get_org(session, d.org_id)) for d in rows]


def latest_quality(session: Session, dataset_id: str) -> QualityScore | None:
    return session.scalar(select(QualityScore).where(QualityScore.dataset_id == dataset_id)
                          .order_by(QualityScore.measured_at.desc(), QualityScore.id.desc()).limit(1))


def quality_history(session: Session, dataset_id: str, limit: int = 50) -> list[QualityScore]:
    rows = session.scalars(select(QualityScore).where(QualityScore.dataset_id == dataset_id)
                           .order_by(QualityScore.measured_at.desc(), QualityScore.id.desc()).limit(limit)).all()
    return list(reversed(rows))


def loads_of(session: Session, dataset_id: str, limit: int = 20) -> list[Load]:
    return list(session.scalars(select(Load).where(Load.dataset_id == dataset_id)
                                .order_by(Load.created_at.desc(), Load.id.desc()).limit(limit)))


def get_load(session: Session, view: DatasetView, load_id: str) -> Load:
    load = session.get(Load, load_id)
    if load is None or load.dataset_id != view.dataset.id:
        raise NotFound("No such load.")
    return load
