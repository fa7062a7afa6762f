"""CKAN Action API (API dữ liệu mở tương thích CKAN) at ``/api/3/action/<name>`` and ``/api/action/<name>``.

Developers use the tools they know: ``ckanapi``, CKAN's own JavaScript client, harvesters. Answers
use CKAN's envelope ``{"help", "success", "result"}`` and, on failure, ``{"help", "success": false,
"error": {"__type", "message"}}`` with CKAN's status codes (400, 403, 404, 409). Only public datasets
and never personal-data fields are served here, whoever calls.

Datasets map to CKAN packages; the publishing organisation to a CKAN organization; the sector to a
CKAN group; each dataset has three resources (CSV with the DataStore, JSON, Parquet) whose ids are
``<dataset id>-csv`` etc.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from smartprovince.core.deps import AppSettings, DbSession
from smartprovince.core.errors import Problem
from smartprovince.core.security import Actor, public
from smartprovince.datahub import queries, service, store
from smartprovince.datahub.fields import CKAN_TYPES
from smartprovince.datahub.queries import DatasetView
from smartprovince.settings import Settings

router = APIRouter(tags=["ckan"], include_in_schema=False)

CKAN_VERSION = "2.10.4"
RESOURCE_FORMATS = {"csv": "CSV", "json": "JSON", "parquet": "Parquet"}
MEDIA_TYPES = {"csv": "text/csv", "json": "application/json", "parquet": "application/vnd.apache.parquet"}
_FQ = re.compile(r'([+-]?)([A-Za-z_]+):("([^"]*)"|\S+)')


class CkanError(Exception):
    """A CKAN-style failure: ``kind`` becomes ``error.__type``."""

    def __init__(self, status: int, kind: str, message: str = "", *, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.extra = status, kind, message, fields or {}


def _iso(value: datetime | None) -> str | None:
    return value.replace(tzinfo=None).isoformat() if value else None


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def organization_dict(org: Any, count: int | None = None) -> dict[str, Any]:
    out = {"id": org.id, "name": org.code, "title": org.name, "display_name": org.name, "type": "organization",
           "state": "active", "is_organization": True, "approval_status": "approved", "description": "",
           "image_url": "", "created": _iso(org.created_at)}
    if count is not None:
        out["package_count"] = count
    return out


def group_dict(sector: str, count: int | None = None) -> dict[str, Any]:
    title = service.SECTORS[sector]
    out = {"id": sector, "name": sector, "title": title, "display_name": title, "type": "group", "state": "active",
           "is_organization": False, "approval_status": "approved", "description": "", "image_url": ""}
    if count is not None:
        out["package_count"] = count
    return out


def resource_dict(base: str, view: DatasetView, fmt: str, position: int) -> dict[str, Any]:
    ds = view.dataset
    return {
        "id": f"{ds.id}-{fmt}", "package_id": ds.id, "name": f"{ds.title} ({RESOURCE_FORMATS[fmt]})",
        "description": "", "format": RESOURCE_FORMATS[fmt], "mimetype": MEDIA_TYPES[fmt],
        "url": f"{base}/opendata/{ds.name}/download/{fmt}", "url_type": "datastore" if fmt == "csv" else None,
        "datastore_active": fmt == "csv", "position": position, "state": "active",
        "created": _iso(ds.created_at), "last_modified": _iso(ds.data_updated_at),
        "metadata_modified": _iso(ds.updated_at),
    }


def package_dict(base: str, view: DatasetView) -> dict[str, Any]:
    ds = view.dataset
    resources = [resource_dict(base, view, fmt, i) for i, fmt in enumerate(RESOURCE_FORMATS)]
    return {
        "id": ds.id, "name": ds.name, "title": ds.title, "notes": ds.description, "type": "dataset",
        "state": "active", "private": False, "license_id": ds.licence,
        "license_title": service.LICENCES.get(ds.licence, ds.licence), "owner_org": view.org.id,
        "organization": organization_dict(view.org), "author": view.org.name, "maintainer": view.org.name,
        "metadata_created": _iso(ds.created_at), "metadata_modified": _iso(ds.updated_at),
        "tags": [{"name": t, "display_name": t, "state": "active"} for t in ds.tags],
        "groups": [group_dict(ds.sector)], "resources": resources, "num_resources": len(resources),
        "num_tags": len(ds.tags), "url": f"{base}/opendata/{ds.name}", "version": str(ds.snapshot or ""),
        "extras": [{"key": "frequency", "value": ds.frequency}, {"key": "sector", "value": ds.sector},
                   {"key": "title_en", "value": ds.title_en}, {"key": "row_count", "value": str(ds.row_count)}],
    }


# ------------------------------------------------------------------------------------------ helpers


def _int(params: dict[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise CkanError(409, "Validation Error", fields={name: ["Invalid integer"]}) from None
    if value < lo:
        raise CkanError(409, "Validation Error", fields={name: [f"Must be a natural number >= {lo}"]})
    return min(value, hi)


def _bool(params: dict[str, Any], name: str, default: bool) -> bool:
    """CKAN's ``boolean_validator``: true, yes, t, y, 1 (any case) are true; any other text is false."""
    raw = params.get(name, default)
    if isinstance(raw, bool):
        return raw
    return str(raw).strip().lower() in ("true", "yes", "t", "y", "1")


def _optional_int(params: dict[str, Any], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise CkanError(409, "Validation Error", fields={name: ["Invalid integer"]}) from None


def _json_param(params: dict[str, Any], name: str, default: Any) -> Any:
    raw = params.get(name, default)
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            raise CkanError(409, "Validation Error", fields={name: ["Invalid JSON"]}) from None
    return raw


def _find_package(session: Session, ident: Any) -> DatasetView:
    if not ident or not isinstance(ident, str):
        raise CkanError(409, "Validation Error", fields={"id": ["Missing value"]})
    for view in queries.public_datasets(session):
        if ident in (view.dataset.id, view.dataset.name):
            return view
    raise CkanError(404, "Not Found Error", "Not found")


def _find_resource(session: Session, ident: Any) -> tuple[DatasetView, str]:
    if not ident or not isinstance(ident, str):
        raise CkanError(409, "Validation Error", fields={"id": ["Missing value"]})
    base, _, fmt = ident.rpartition("-")
    if fmt not in RESOURCE_FORMATS:
        base, fmt = ident, "csv"  # a dataset id or name stands for its DataStore resource
    for view in queries.public_datasets(session):
        if base in (view.dataset.id, view.dataset.name):
            return view, fmt
    raise CkanError(404, "Not Found Error", "Not found: Resource was not found.")


def _matches_fq(view: DatasetView, fq: str) -> bool:
    for sign, key, raw, quoted in _FQ.findall(fq or ""):
        value = quoted if quoted else raw
        ds = view.dataset
        candidates = {
            "organization": [view.org.code], "owner_org": [view.org.id], "tags": ds.tags, "groups": [ds.sector],
            "res_format": list(RESOURCE_FORMATS.values()), "license_id": [ds.licence], "name": [ds.name],
            "id": [ds.id],
        }.get(key)
        if candidates is None:
            raise CkanError(409, "Search Query Error", f"Search Query Error: unknown field {key!r} in fq")
        hit = value in candidates
        if (sign == "-" and hit) or (sign != "-" and not hit):
            return False
    return True


def _matches_q(view: DatasetView, q: str) -> bool:
    if not q or q.strip() in ("*:*", "*"):
        return True
    ds = view.dataset
    text = " ".join([ds.name, ds.title, ds.title_en, ds.description, ds.description_en, " ".join(ds.tags),
                     view.org.name, service.SECTORS.get(ds.sector, "")]).casefold()
    return all(word.casefold() in text for word in q.split())


def _facet_values(view: DatasetView, field: str) -> list[tuple[str, str]]:
    ds = view.dataset
    if field == "organization":
        return [(view.org.code, view.org.name)]
    if field == "groups":
        return [(ds.sector, service.SECTORS[ds.sector])]
    if field == "tags":
        return [(t, t) for t in ds.tags]
    if field == "license_id":
        return [(ds.licence, service.LICENCES.get(ds.licence, ds.licence))]
    if field == "res_format":
        return [(v, v) for v in RESOURCE_FORMATS.values()]
    return []


_SORT_KEYS: dict[str, Callable[[DatasetView], Any]] = {
    "name": lambda v: v.dataset.name, "title_string": lambda v: v.dataset.title.casefold(),
    "metadata_modified": lambda v: v.dataset.updated_at, "metadata_created": lambda v: v.dataset.created_at,
    "score": lambda v: 0,
}


def _sorted(views: list[DatasetView], sort: str) -> list[DatasetView]:
    parts = [p.strip().split() for p in (sort or "").split(",") if p.strip()]
    for bits in reversed(parts):
        if bits[0] not in _SORT_KEYS or len(bits) > 2 or (len(bits) == 2 and bits[1] not in ("asc", "desc")):
            raise CkanError(409, "Search Query Error", f"Search Query Error: cannot sort by {' '.join(bits)!r}")
        views = sorted(views, key=_SORT_KEYS[bits[0]], reverse=len(bits) == 2 and bits[1] == "desc")
    return views


# ------------------------------------------------------------------------------------------ actions


def status_show(session: Session, params: dict[str, Any], base: str, settings: Settings) -> Any:
    return {"ckan_version": CKAN_VERSION, "site_title": "Dữ liệu mở — Nền tảng tỉnh thông minh", "site_url": base,
            "site_description": "Cổng dữ liệu mở của tỉnh", "locale_default": "vi", "extensions": ["datastore", "dcat"]}


def package_list(session: Session, params: dict[str, Any], base: str, settings: Settings) -> Any:
    limit = _int(params, "limit", 1000, 0, 1000)
    offset = _int(params, "offset", 0, 0, 10**9)
    names = sorted(v.dataset.name for v in queries.public_datasets(session))
    return names[offset:offset + limit]


def package_show(session: Session, params: dict[str, Any], base: str, settings: Settings) -> Any:
    return package_dict(base, _find_package(session, params.get("id") or params.get("name_or_id")))


def package_search(session: Session, params: dict[str, Any], base: str, settings: Settings) -> Any:
    rows = _int(params, "rows", 10, 0, 1000)
    start = _int(params, "start", 0, 0, 10**9)
    q = str(params.get("q") or "")
    fq = str(params.get("fq") or "")
    facet_fields = _json_param(params, "facet.field", [])
    if not isinstance(facet_fields, list):
        raise CkanError(409, "Validation Error", fields={"facet.field": ["Must be a JSON list"]})
    facet_limit = _int(params, "facet.limit", 50, -1, 1000)
    matched = [v for v in queries.public_datasets(session) if _matches_q(v, q) and _matches_fq(v, fq)]
    matched = _sorted(matched, str(params.get("sort") or "score desc, metadata_modified desc"))
    facets: dict[str, dict[str, int]] = {}
    search_facets: dict[str, Any] = {}
    for field in facet_fields:
        counts: Counter[str] = Counter()
        titles: dict[str, str] = {}
        for v in matched:
            for name, title in _facet_values(v, str(field)):
                counts[name] += 1
                titles[name] = title
        items = counts.most_common(None if facet_limit < 0 else facet_limit)
        facets[str(field)] = dict(items)
        search_facets[str(field)] = {"title": str(field), "items": [
            {"name": n, "display_name": titles[n], "count": c} for n, c in items]}
    return {"count": len(matched), "sort": params.get("sort") or "score desc, metadata_modified desc",
            "results": [package_dict(base, v) for v in matched[start:start + rows]], "facets": facets,
            "search_facets": search_facets}


def organization_list(session: Session, params: dict[str, Any], base: str, settings: Settings) -> Any:
    counts: Counter[str] = Counter()
    orgs: dict[str, Any] = {}
    for v in queries.public_datasets(session):
        counts[v.org.code] += 1
        orgs[v.org.code] = v.org
    names = sorted(orgs)
    if str(params.get("all_fields", "")).lower() in ("true", "1"):
        return [organization_dict(orgs[n], counts[n]) for n in names]
    return names


def organization_show(session: Session, params: dict[str, Any], base: str, settings: Settings) -> Any:
    ident = params.get("id")
    if not ident:
        raise CkanError(409, "Validation Error", fields={"id": ["Missing value"]})
    views = [v for v in queries.public_datasets(session) if ident in (v.org.id, v.org.code)]
    if not views:
        raise CkanError(404, "Not Found Error", "Not found: Organization was not found.")
    out = organization_dict(views[0].org, len(views))
    if str(params.get("include_datasets", "")).lower() in ("true", "1"):
        out["packages"] = [package_dict(base, v) for v in views]
    return out


def group_list(session: Session, params: dict[str, Any], base: str, settings: Settings) -> Any:
    counts = Counter(v.dataset.sector for v in queries.public_datasets(session))
    names = sorted(counts)
    if str(params.get("all_fields", "")).lower() in ("true", "1"):
        return [group_dict(n, counts[n]) for n in names]
    return names


def tag_list(session: Session, params: dict[str, Any], base: str, settings: Settings) -> Any:
    query = str(params.get("query") or "").casefold()
    tags = sorted({t for v in queries.public_datasets(session) for t in v.dataset.tags})
    return [t for t in tags if query in t.casefold()]


def resource_show(session: Session, params: dict[str, Any], base: str, settings: Settings) -> Any:
    view, fmt = _find_resource(session, params.get("id"))
    return resource_dict(base, view, fmt, list(RESOURCE_FORMATS).index(fmt))


def datastore_search(session: Session, params: dict[str, Any], base: str, settings: Settings) -> Any:
    view, _fmt = _find_resource(session, params.get("resource_id") or params.get("id"))
    limit = _int(params, "limit", 100, 0, 32000)
    offset = _int(params, "offset", 0, 0, 10**9)
    filters = _json_param(params, "filters", {})
    if not isinstance(filters, dict):
        raise CkanError(409, "Validation Error", fields={"filters": ["Must be a JSON object"]})
    fields = params.get("fields")
    if isinstance(fields, str):
        fields = [f.strip() for f in fields.split(",") if f.strip()]
    sort = params.get("sort")
    q = params.get("q")
    if isinstance(q, dict):
        q = " ".join(str(v) for v in q.values())
    include_total = _bool(params, "include_total", True)
    threshold = _optional_int(params, "total_estimation_threshold")
    allowed = view.public_fields
    try:
        result = store.search(service.snapshot_file(view, settings.data_dir, public=True), allowed,
                              filters=filters, q=str(q) if q else None, fields=fields or None,
                              sort=str(sort) if sort else None, limit=limit, offset=offset,
                              include_total=include_total, total_estimation_threshold=threshold)
    except Problem as exc:
        field = str(exc.extra.get("field") or "query")
        raise CkanError(409, "Validation Error", fields={field: [exc.detail]}) from None
    types = {f.name: CKAN_TYPES[f.type] for f in allowed} | {"_id": "int"}
    rid = f"{view.dataset.id}-csv"
    path = f"/api/3/action/datastore_search?resource_id={rid}"
    out = {"resource_id": rid, "fields": [{"id": n, "type": types[n]} for n in result.fields],
           "records": result.records, "limit": limit, "offset": offset, "records_format": "objects",
           "include_total": include_total, "total_estimation_threshold": threshold,
           "_links": {"start": path, "next": f"{path}&offset={offset + limit}"}}
    if include_total:  # as CKAN: no count asked for, no ``total`` in the answer
        out |= {"total": result.total, "total_was_estimated": result.total_was_estimated}
    return out


ACTIONS: dict[str, Callable[[Session, dict[str, Any], str, Settings], Any]] = {
    f.__name__: f for f in (status_show, package_list, package_show, package_search, organization_list,
                            organization_show, group_list, tag_list, resource_show, datastore_search)
}


async def _params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        body = await request.body()
        if body:
            ctype = request.headers.get("content-type", "")
            if ctype.startswith(("application/x-www-form-urlencoded", "multipart/")):
                form = await request.form()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
            else:
                try:
                    data = json.loads(body)
                except ValueError:
                    raise CkanError(400, "Bad request", "Bad request - JSON Error: could not read the body") from None
                if not isinstance(data, dict):
                    raise CkanError(400, "Bad request", "Bad request - JSON Error: the body must be a JSON object")
                params.update(data)
    return params


def _envelope(base: str, name: str, status: int, **body: Any) -> JSONResponse:
    return JSONResponse({"help": f"{base}/api/3/action/help_show?name={name}", **body}, status_code=status)


async def _call(name: str, request: Request, session: Session, settings: Settings) -> JSONResponse:
    base = _base(request)
    action = ACTIONS.get(name)
    try:
        if action is None:
            raise CkanError(400, "Bad request", f"Bad request - Action name not known: {name}")
        params = await _params(request)
        result = await run_in_threadpool(action, session, params, base, settings)
    except CkanError as exc:
        error = {"__type": exc.kind, **({"message": exc.message} if exc.message else {}), **exc.extra}
        return _envelope(base, name, exc.status, success=False, error=error)
    except Problem as exc:
        kinds = {404: "Not Found Error", 403: "Authorization Error", 401: "Authorization Error"}
        status = exc.status if exc.status in kinds else 409
        return _envelope(base, name, status, success=False,
                         error={"__type": kinds.get(exc.status, "Validation Error"), "message": exc.detail or ""})
    return _envelope(base, name, 200, success=True, result=result)


_PUBLIC = public("the CKAN-compatible open-data API serves only public datasets without personal fields")


@router.get("/api/3/action/{name}")
@router.post("/api/3/action/{name}")
async def action_v3(name: str, request: Request, session: DbSession, settings: AppSettings,
                    _: Actor = Depends(_PUBLIC)) -> JSONResponse:
    """One CKAN action (version 3 path)."""
    return await _call(name, request, session, settings)


@router.get("/api/action/{name}")
@router.post("/api/action/{name}")
async def action(name: str, request: Request, session: DbSession, settings: AppSettings,
                 _: Actor = Depends(_PUBLIC)) -> JSONResponse:
    """One CKAN action (the unversioned path that ``ckanapi`` calls)."""
    return await _call(name, request, session, settings)
