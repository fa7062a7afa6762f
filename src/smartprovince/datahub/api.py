"""HTTP API of the data hub under ``/api/v1/datahub``: parse, authorise, call the service, return."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from sqlalchemy.orm import Session

from smartprovince.core.deps import AppSettings, DbSession
from smartprovince.core.errors import NotFound, PayloadTooLarge, ValidationProblem
from smartprovince.core.security import Actor, public, require
from smartprovince.datahub import codelists, queries, service, sources, store
from smartprovince.datahub.schemas import (
    CodeListCreate,
    CodeListPublic,
    CodeListSummary,
    CodeListVersionCreate,
    CodeListVersionPublic,
    DatasetCreate,
    DatasetPublic,
    DatasetUpdate,
    LoadPublic,
    PullRunPublic,
    QualityPublic,
    RecordsOut,
    SourceIn,
    SourcePublic,
)

router = APIRouter(prefix="/datahub", tags=["datahub"])


def dataset_out(session: Session, actor: Actor, view: queries.DatasetView) -> DatasetPublic:
    """The caller's view of a dataset: personal fields are listed only for officers who may read them."""
    ds = view.dataset
    internal = queries.can_read_internal(actor, view.org.path)
    fields = [f.as_dict() for f in (view.fields if internal else view.public_fields)]
    q = queries.latest_quality(session, ds.id)
    return DatasetPublic(
        id=ds.id, name=ds.name, title=ds.title, title_en=ds.title_en, description=ds.description,
        sector=ds.sector, organisation=view.org.name, organisation_code=view.org.code, public=ds.public,
        licence=ds.licence, frequency=ds.frequency, tags=ds.tags, fields=fields, key=ds.key,
        row_count=ds.row_count, created_at=ds.created_at, updated_at=ds.updated_at,
        data_updated_at=ds.data_updated_at, quality=QualityPublic.model_validate(q) if q else None)


@router.get("/datasets", response_model=list[DatasetPublic], summary="Datasets the caller may see")
def list_datasets(
    session: DbSession,
    sector: str | None = Query(None, max_length=40),
    _actor: Actor = Depends(public("public datasets are open data; internal ones need datahub.dataset.read")),
) -> list[DatasetPublic]:
    views = queries.visible_datasets(session, _actor)
    return [dataset_out(session, _actor, v) for v in views if sector is None or v.dataset.sector == sector]


@router.get("/datasets/{name}", response_model=DatasetPublic, summary="One dataset's definition and state")
def get_dataset(
    name: str, session: DbSession,
    actor: Actor = Depends(public("public datasets are open data; internal ones need datahub.dataset.read")),
) -> DatasetPublic:
    return dataset_out(session, actor, queries.access_dataset(session, actor, name))


@router.post("/datasets", response_model=DatasetPublic, status_code=201, summary="Define a dataset")
def create_dataset(body: DatasetCreate, session: DbSession,
                   actor: Actor = Depends(require("datahub.dataset.manage"))) -> DatasetPublic:
    values = body.model_dump()
    values["fields"] = [f.model_dump() for f in body.fields]
    ds = service.define_dataset(session, actor=actor, **values)
    return dataset_out(session, actor, queries.access_dataset(session, actor, ds.id))


@router.patch("/datasets/{name}", response_model=DatasetPublic, summary="Change a dataset's definition")
def patch_dataset(name: str, body: DatasetUpdate, session: DbSession,
                  actor: Actor = Depends(require("datahub.dataset.manage"))) -> DatasetPublic:
    values = body.model_dump(exclude_none=True)
    if body.fields is not None:
        values["fields"] = [f.model_dump() for f in body.fields]
    ds = service.update_dataset(session, actor=actor, name=name, **values)
    return dataset_out(session, actor, queries.access_dataset(session, actor, ds.id))


@router.post("/datasets/{name}/loads", response_model=LoadPublic, status_code=201,
             summary="Upload a CSV, XLSX or JSON file; returns the row-by-row validation report")
def upload(
    name: str, session: DbSession, settings: AppSettings,
    file: UploadFile = File(..., description="CSV (UTF-8), XLSX (first sheet) or JSON (list of objects)"),
    skip_invalid: bool = Form(False, description="Store the valid rows even when some rows have errors"),
    mode: Literal["replace", "append", "upsert"] = Form(
        "replace", description="replace the dataset, append rows (a stored key is an error) or upsert by key"),
    actor: Actor = Depends(require("datahub.dataset.manage")),
) -> LoadPublic:
    data = file.file.read(service.MAX_UPLOAD_BYTES + 1)
    if len(data) > service.MAX_UPLOAD_BYTES:
        raise PayloadTooLarge("A file may be at most 200 MB; use the command line for bigger files.")
    load = service.load_file(session, actor=actor, name=name, source=data, filename=file.filename or "",
                             data_dir=settings.data_dir, skip_invalid=skip_invalid, mode=mode)
    return LoadPublic.model_validate(load)


@router.get("/datasets/{name}/source", response_model=SourcePublic, summary="The agency API the dataset is pulled from")
def get_source(name: str, session: DbSession, actor: Actor = Depends(require("datahub.dataset.manage"))) -> Any:
    view = queries.access_dataset(session, actor, name, manage=True)
    src = sources.get_source(session, view.dataset.id)
    if src is None:
        raise NotFound("The dataset has no source.")
    return src


@router.put("/datasets/{name}/source", response_model=SourcePublic,
            summary="Declare or change the dataset's agency API source and schedule")
def put_source(name: str, body: SourceIn, session: DbSession,
               actor: Actor = Depends(require("datahub.dataset.manage"))) -> Any:
    return sources.set_source(session, actor=actor, name=name, **body.model_dump())


@router.delete("/datasets/{name}/source", status_code=204, summary="Stop pulling the dataset")
def delete_source(name: str, session: DbSession, actor: Actor = Depends(require("datahub.dataset.manage"))) -> Response:
    sources.remove_source(session, actor=actor, name=name)
    return Response(status_code=204)


@router.post("/datasets/{name}/pulls", response_model=PullRunPublic, status_code=201,
             summary="Pull the dataset from its source now; returns the run (see its load for the report)")
def pull_now(name: str, request: Request, session: DbSession, settings: AppSettings,
             actor: Actor = Depends(require("datahub.dataset.manage"))) -> Any:
    return sources.pull(session, actor=actor, name=name, data_dir=settings.data_dir,
                        config=request.app.state.datahub_config, trigger="manual")


@router.get("/datasets/{name}/pulls", response_model=list[PullRunPublic], summary="The latest pulls, newest first")
def list_pulls(name: str, session: DbSession, actor: Actor = Depends(require("datahub.dataset.manage"))) -> Any:
    view = queries.access_dataset(session, actor, name, manage=True)
    return sources.runs_of(session, view.dataset.id)


@router.get("/datasets/{name}/loads/{load_id}", response_model=LoadPublic, summary="One load's validation report")
def get_load(name: str, load_id: str, session: DbSession,
             actor: Actor = Depends(require("datahub.dataset.manage"))) -> LoadPublic:
    view = queries.access_dataset(session, actor, name, manage=True)
    return LoadPublic.model_validate(queries.get_load(session, view, load_id))


@router.get("/datasets/{name}/quality", response_model=list[QualityPublic], summary="Quality scores over time")
def get_quality(name: str, session: DbSession,
                actor: Actor = Depends(public("quality scores of public datasets are public"))) -> list[QualityPublic]:
    view = queries.access_dataset(session, actor, name)
    return [QualityPublic.model_validate(q) for q in queries.quality_history(session, view.dataset.id)]


@router.post("/datasets/{name}/quality", response_model=QualityPublic, status_code=201,
             summary="Measure the quality scores again now")
def remeasure(name: str, session: DbSession,
              actor: Actor = Depends(require("datahub.dataset.manage"))) -> QualityPublic:
    return QualityPublic.model_validate(service.measure_quality(session, actor=actor, name=name))


@router.get("/datasets/{name}/records", response_model=RecordsOut, summary="Filter, search and page records")
def get_records(
    name: str, session: DbSession, settings: AppSettings,
    q: str | None = Query(None, max_length=200, description="Words to find in text fields"),
    filters: str | None = Query(None, max_length=2000, description='JSON object, e.g. {"district": "288"}'),
    sort: str | None = Query(None, max_length=200, description="'field asc' or 'field desc', comma-separated"),
    fields: str | None = Query(None, max_length=2000, description="Comma-separated field names"),
    limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=100_000_000),
    actor: Actor = Depends(public("records of public datasets are open data; personal fields need permission")),
) -> RecordsOut:
    view = queries.access_dataset(session, actor, name)
    internal = queries.can_read_internal(actor, view.org.path)
    allowed = view.fields if internal else view.public_fields
    parsed = parse_filters(filters)
    path = service.snapshot_file(view, settings.data_dir, public=not internal)
    result = store.search(path, allowed, filters=parsed, q=q, sort=sort, limit=limit, offset=offset,
                          fields=[f.strip() for f in fields.split(",") if f.strip()] if fields else None)
    return RecordsOut(fields=result.fields, records=result.records, total=result.total, limit=limit, offset=offset)


def parse_filters(text: str | None) -> dict[str, Any]:
    """Read a JSON filter object; a clear 422 when it is not one."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise ValidationProblem("filters must be a JSON object.") from None
    if not isinstance(value, dict):
        raise ValidationProblem("filters must be a JSON object.")
    return value


# ------------------------------------------------------------------------------------- category lists


def _codelist_summary(session: Session, cl: Any) -> CodeListSummary:
    vs = codelists.versions(session, cl)
    from smartprovince.core.clock import local_now

    current = codelists.version_on(session, cl.code, local_now().date())
    return CodeListSummary(code=cl.code, name=cl.name, name_en=cl.name_en,
                           current_version=current.version if current else None,
                           items=len(current.items) if current else (len(vs[0].items) if vs else 0))


@router.get("/codelists", response_model=list[CodeListSummary], summary="Shared category lists")
def list_codelists(session: DbSession,
                   _: Actor = Depends(public("shared category lists are public reference data"))) -> list[Any]:
    return [_codelist_summary(session, cl) for cl in codelists.list_codelists(session)]


@router.get("/codelists/{code}", response_model=CodeListPublic, summary="A category list with all versions")
def get_codelist(code: str, session: DbSession,
                 _: Actor = Depends(public("shared category lists are public reference data"))) -> CodeListPublic:
    cl = codelists.get_codelist(session, code)
    return CodeListPublic(code=cl.code, name=cl.name, name_en=cl.name_en, description=cl.description,
                          versions=[CodeListVersionPublic.model_validate(v) for v in codelists.versions(session, cl)])


@router.post("/codelists", response_model=CodeListSummary, status_code=201, summary="Create a category list")
def create_codelist(body: CodeListCreate, session: DbSession,
                    actor: Actor = Depends(require("datahub.codelist.manage"))) -> CodeListSummary:
    cl = codelists.create_codelist(session, actor=actor, **body.model_dump())
    return _codelist_summary(session, cl)


@router.post("/codelists/{code}/versions", response_model=CodeListVersionPublic, status_code=201,
             summary="Publish a new version of a category list")
def publish_version(code: str, body: CodeListVersionCreate, session: DbSession,
                    actor: Actor = Depends(require("datahub.codelist.manage"))) -> CodeListVersionPublic:
    v = codelists.publish_version(session, actor=actor, code=code,
                                  items=[i.model_dump(exclude_none=True) for i in body.items],
                                  effective_from=body.effective_from, note=body.note)
    return CodeListVersionPublic.model_validate(v)
