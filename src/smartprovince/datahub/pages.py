"""Web pages of the data hub: the open-data portal (home, search, dataset page, downloads) and the
officer console (dataset list, definition form, upload, validation report, category lists)."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import date, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from smartprovince import identity
from smartprovince.core.clock import local_now
from smartprovince.core.deps import AppSettings, DbSession
from smartprovince.core.errors import NotFound, Problem
from smartprovince.core.security import Actor, public, require, verify_csrf
from smartprovince.datahub import codelists, quality, queries, service, sources, store
from smartprovince.datahub.ckan import MEDIA_TYPES
from smartprovince.datahub.fields import normalise_text
from smartprovince.web import redirect, render

router = APIRouter()

_PUBLIC = public("the open-data portal shows public datasets without personal fields")
STATUS_LABELS = {"loaded": "Đã nạp", "partial": "Nạp một phần", "rejected": "Bị từ chối", "failed": "Lỗi kết nối"}
MODE_LABELS = {"replace": "Thay thế toàn bộ", "append": "Thêm dòng mới", "upsert": "Cập nhật theo khóa"}
TRIGGER_LABELS = {"schedule": "Theo lịch", "manual": "Kéo ngay", "cli": "Dòng lệnh"}
CODE_LABELS = {
    "missing": "Thiếu giá trị bắt buộc", "bad_type": "Sai kiểu dữ liệu", "out_of_range": "Ngoài khoảng cho phép",
    "not_in_codelist": "Không có trong danh mục", "duplicate_key": "Trùng khóa", "missing_column": "Thiếu cột",
    "unknown_column": "Cột không thuộc bộ dữ liệu", "extra_cells": "Thừa ô", "too_long": "Quá dài",
    "not_object": "Không phải đối tượng JSON", "empty": "Tệp không có dữ liệu",
    "looks_personal": "Có thể là dữ liệu cá nhân",
}
TYPE_LABELS = {"string": "Văn bản tự do", "integer": "Số nguyên", "number": "Số", "boolean": "Đúng/Sai", "date": "Ngày",
               "code": "Mã danh mục"}
FIELDS_EXAMPLE = json.dumps([
    {"name": "ma", "title": "Mã", "title_en": "Code"},
    {"name": "ten", "title": "Tên", "title_en": "Name", "required": True},
    {"name": "huyen", "title": "Huyện", "type": "code", "codelist": "don-vi-hanh-chinh"},
    {"name": "so_luong", "title": "Số lượng", "type": "integer", "unit": "cái", "minimum": 0},
    {"name": "dien_thoai", "title": "Điện thoại", "personal": True},
], ensure_ascii=False, indent=2)


def _ctx(**extra: Any) -> dict[str, Any]:
    return {"sectors": service.SECTORS, "licences": service.LICENCES, "frequencies": quality.FREQUENCY_LABELS,
            "status_labels": STATUS_LABELS, "code_labels": CODE_LABELS, "type_labels": TYPE_LABELS,
            "mode_labels": MODE_LABELS, "trigger_labels": TRIGGER_LABELS, **extra}


# ------------------------------------------------------------------------------------------ portal


def _matches(view: queries.DatasetView, q: str, sector: str, org: str, tag: str) -> bool:
    ds = view.dataset
    if sector and ds.sector != sector:
        return False
    if org and view.org.code != org:
        return False
    if tag and tag not in ds.tags:
        return False
    text = " ".join([ds.name, ds.title, ds.title_en, ds.description, " ".join(ds.tags), view.org.name]).casefold()
    return all(w.casefold() in text for w in q.split())


@router.get("/opendata")
def portal_home(request: Request, session: DbSession, _: Actor = Depends(_PUBLIC)) -> Response:
    """Cổng dữ liệu mở — counts by sector, newest datasets, search."""
    views = queries.public_datasets(session)
    by_sector = Counter(v.dataset.sector for v in views)
    orgs = Counter(v.org.name for v in views)
    rows = sum(v.dataset.row_count for v in views)
    return render(request, "datahub/home.html", _ctx(views=views[:6], by_sector=by_sector, total=len(views),
                                                      org_count=len(orgs), rows=rows))


@router.get("/opendata/search")
def portal_search(
    request: Request, session: DbSession, q: str = Query("", max_length=200), sector: str = Query("", max_length=40),
    org: str = Query("", max_length=64), tag: str = Query("", max_length=60), _: Actor = Depends(_PUBLIC),
) -> Response:
    """Tìm bộ dữ liệu — by words, sector, agency and tag."""
    views = queries.public_datasets(session)
    found = [v for v in views if _matches(v, q, sector, org, tag)]
    agencies = sorted({(v.org.code, v.org.name) for v in views}, key=lambda x: x[1])
    tags = sorted({t for v in views for t in v.dataset.tags})
    return render(request, "datahub/search.html", _ctx(found=found, q=q, sector=sector, org=org, tag=tag,
                                                        agencies=agencies, tags=tags))


@router.get("/opendata/{name}")
def dataset_page(request: Request, name: str, session: DbSession, settings: AppSettings,
                 _: Actor = Depends(_PUBLIC)) -> Response:
    """Trang bộ dữ liệu — metadata, fields, preview, quality, downloads, API examples."""
    view = _public_view(session, name)
    preview = store.search(service.snapshot_file(view, settings.data_dir, public=True), view.public_fields, limit=20)
    history = queries.quality_history(session, view.dataset.id)
    base = str(request.base_url).rstrip("/")
    # The public sees the schedule and each pull's outcome and counts, never the agency URL or errors.
    source = sources.get_source(session, view.dataset.id)
    runs = sources.runs_of(session, view.dataset.id, limit=5) if source is not None else []
    return render(request, "datahub/dataset.html", _ctx(view=view, fields=view.public_fields, preview=preview,
                                                         quality=history[-1] if history else None, history=history,
                                                         base=base, source=source, runs=runs))


def _public_view(session: Any, name: str) -> queries.DatasetView:
    for v in queries.public_datasets(session):
        if v.dataset.name == name:
            return v
    raise NotFound("No such public dataset.")


@router.get("/opendata/{name}/download/{fmt}")
def download(name: str, fmt: Literal["csv", "json", "parquet"], session: DbSession, settings: AppSettings,
             _: Actor = Depends(_PUBLIC)) -> Response:
    """Tải dữ liệu — CSV, JSON or Parquet of the public columns, streamed from a file (bounded memory)."""
    view = _public_view(session, name)
    path = service.snapshot_file(view, settings.data_dir, public=True)
    if path is None:
        raise NotFound("The dataset has no data yet.")
    filename = f"{view.dataset.name}.{fmt}"
    if fmt == "parquet":
        return FileResponse(path, media_type=MEDIA_TYPES[fmt], filename=filename)
    columns = ["_id"] + [f.name for f in view.public_fields]
    # A sync generator: Starlette iterates it in a worker thread, piece by piece (bounded memory).
    return StreamingResponse(store.export_stream(path, fmt, columns),
                             media_type=MEDIA_TYPES[fmt] + ("; charset=utf-8" if fmt == "csv" else ""),
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# ----------------------------------------------------------------------------------------- console

_MANAGE = require("datahub.dataset.manage")


def _manageable_orgs(session: Any, actor: Actor) -> list[Any]:
    rows = session.scalars(select(identity.Organisation).where(
        identity.Organisation.level.in_(("department", "body", "unit", "district", "province")))
        .order_by(identity.Organisation.name))
    return [o for o in rows if actor.can(queries.MANAGE, o.path)]


@router.get("/console/datahub")
def console_list(request: Request, session: DbSession, actor: Actor = Depends(_MANAGE)) -> Response:
    """Kho dữ liệu — every dataset the officer may see, with its last load and quality."""
    views = queries.visible_datasets(session, actor)
    rows = [(v, queries.latest_quality(session, v.dataset.id), queries.can_manage(actor, v.org.path)) for v in views]
    return render(request, "datahub/console.html", _ctx(rows=rows))


# ------------------------------------------------------------------------------------ category lists

_CODELIST_PERMISSION = "datahub.codelist.manage"
_MANAGE_CODELISTS = require(_CODELIST_PERMISSION)
MAX_ITEMS_SHOWN = 5000
# Column names accepted in the header of a category-list CSV (English or Vietnamese without accents).
ITEM_COLUMNS = {"code": "code", "ma": "code", "name": "label", "label": "label", "ten": "label",
                "parent": "parent", "ma_cha": "parent"}


class FormError(Exception):
    """A mistake in a form the officer sent: Vietnamese ``text`` (translated when shown) and its values."""

    def __init__(self, text: str, **values: Any) -> None:
        super().__init__(text)
        self.text = text
        self.values = {k: str(v) for k, v in values.items()}

    def shown(self) -> dict[str, Any]:
        return {"text": self.text, "values": self.values}


def _items_text(items: list[dict[str, Any]]) -> str:
    """The items as ``code,name[,parent]`` lines (CSV quoting), as the officer types them."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for item in items:
        writer.writerow([item["code"], item.get("label", "")] + ([item["parent"]] if item.get("parent") else []))
    return buf.getvalue()


def _parse_items(text: str, *, header_required: bool) -> list[dict[str, str]]:
    """Items ``{code, label[, parent]}`` from CSV text; the header line is ``code,name[,parent]``.

    Without a header (the text box) the columns are code, name and parent in this order.
    Raises ``FormError`` with the line number of the first mistake.
    """
    if "\x00" in text:
        raise FormError("Tệp không phải là tệp CSV (văn bản).")
    try:
        rows = [(n, row) for n, row in enumerate(csv.reader(io.StringIO(text)), start=1)
                if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise FormError("Không đọc được CSV: {reason}.", reason=exc) from None
    columns = ["code", "label", "parent"]
    first = [normalise_text(c).casefold().lstrip("\ufeff") for c in rows[0][1]] if rows else []
    if first and first[0] in ITEM_COLUMNS:
        unknown = [c for c in first if c not in ITEM_COLUMNS]
        if unknown:
            raise FormError("Cột không được hỗ trợ: {columns}. Chỉ dùng các cột code, name, parent.",
                            columns=", ".join(unknown))
        columns = [ITEM_COLUMNS[c] for c in first]
        if "code" not in columns or len(set(columns)) != len(columns):
            raise FormError("Dòng tiêu đề phải có cột code (và name), mỗi cột một lần.")
        rows = rows[1:]
    elif header_required:
        raise FormError("Dòng đầu của tệp CSV phải là tiêu đề code,name.")
    if not rows:
        raise FormError("Phiên bản cần ít nhất một mục (mã, tên).")
    if len(rows) > 50_000:
        raise FormError("Một phiên bản có tối đa 50.000 mục.")
    items: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        if len(row) > len(columns):
            raise FormError("Dòng {line}: thừa cột (chỉ có {n} cột: mã, tên, mã cha).", line=line, n=len(columns))
        values = {col: normalise_text(cell) for col, cell in zip(columns, row, strict=False)}
        code = values.get("code", "")
        if not code:
            raise FormError("Dòng {line}: thiếu mã.", line=line)
        if len(code) > 100:
            raise FormError("Dòng {line}: mã dài quá 100 ký tự.", line=line)
        if code in seen:
            raise FormError("Mã {code} xuất hiện hai lần (dòng {first} và dòng {line}).", code=code,
                            first=seen[code], line=line)
        seen[code] = line
        item = {"code": code, "label": values.get("label") or code}
        if values.get("parent"):
            item["parent"] = values["parent"]
        items.append(item)
    return items


async def _version_items(form: Any, settings: Any) -> list[dict[str, str]]:
    """The items of a new version: from the uploaded CSV file or from the text box, never both."""
    upload = form.get("file")
    text = str(form.get("items") or "")
    has_file = upload is not None and not isinstance(upload, str) and bool(upload.filename)
    if has_file and text.strip():
        raise FormError("Chọn một trong hai: tải tệp CSV hoặc nhập các mục vào ô văn bản.")
    if not has_file:
        if not text.strip():
            raise FormError("Phiên bản cần ít nhất một mục (mã, tên).")
        return _parse_items(text, header_required=False)
    limit = int(settings.max_upload_bytes)
    if not upload.filename.lower().endswith((".csv", ".txt")):
        raise FormError("Chỉ nhận tệp CSV (.csv).")
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise FormError("Tệp lớn quá {mb} MB.", mb=f"{limit / (1024 * 1024):g}")
    try:
        decoded = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FormError("Tệp phải được lưu với mã hóa UTF-8.") from None
    return _parse_items(decoded, header_required=True)


def _effective_from(value: str, latest: Any) -> date:
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise FormError("Nhập ngày bắt đầu hiệu lực (ngày/tháng/năm).") from None
    if latest is not None and day <= latest.effective_from:
        raise FormError("Phiên bản mới phải có hiệu lực sau ngày {day} (ngày bắt đầu của phiên bản {version}).",
                        day=latest.effective_from.strftime("%d/%m/%Y"), version=latest.version)
    return day


def _codelists_page(request: Request, session: Any, actor: Actor, *, create_form: dict[str, str] | None = None,
                    create_error: FormError | None = None, publish_code: str = "",
                    publish_form: dict[str, str] | None = None, publish_error: FormError | None = None,
                    status: int = 200) -> Response:
    today = local_now().date()
    copy = request.query_params.get("copy", "")
    lists = []
    for cl in codelists.list_codelists(session):
        vs = codelists.versions(session, cl)
        current = codelists.version_on(session, cl.code, today)
        form = publish_form if cl.code == publish_code and publish_form is not None else {}
        if cl.code == copy and (current or vs):
            form = {"items": _items_text((current or vs[0]).items)}
        lists.append({"list": cl, "versions": vs, "current": current, "form": form,
                      "min_date": (vs[0].effective_from + timedelta(days=1)).isoformat() if vs else "",
                      "error": publish_error.shown() if publish_error and cl.code == publish_code else None,
                      "open": cl.code in (publish_code, copy)})
    return render(request, "datahub/codelists.html", _ctx(
        lists=lists, can_manage=actor.has(_CODELIST_PERMISSION), today=today.isoformat(),
        create_form=create_form or {}, create_error=create_error.shown() if create_error else None), status=status)


@router.get("/console/datahub/codelists")
def console_codelists(request: Request, session: DbSession, actor: Actor = Depends(_MANAGE)) -> Response:
    """Danh mục dùng chung — lists, their versions and effective dates; forms for those who manage them."""
    return _codelists_page(request, session, actor)


@router.post("/console/datahub/codelists")
async def codelist_create_post(request: Request, session: DbSession,
                               actor: Actor = Depends(_MANAGE_CODELISTS)) -> Response:
    """Tạo danh mục — a new, empty category list."""
    form = await request.form()
    verify_csrf(request, str(form.get("csrf_token") or ""))
    values = {k: str(v) for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    code = values.get("code", "").strip()
    try:
        if not codelists.CODE_RE.match(code):
            raise FormError("Mã danh mục gồm 2–60 ký tự: chữ thường không dấu, số, gạch ngang hoặc gạch dưới.")
        if not normalise_text(values.get("name", "")):
            raise FormError("Nhập tên danh mục.")
        if any(cl.code == code for cl in codelists.list_codelists(session)):
            raise FormError("Đã có danh mục mã {code}.", code=code)
        codelists.create_codelist(session, actor=actor, code=code, name=values.get("name", ""),
                                  name_en=values.get("name_en", ""), description=values.get("description", ""))
    except (FormError, Problem) as exc:
        session.rollback()
        error = exc if isinstance(exc, FormError) else FormError("Không tạo được danh mục: {reason}",
                                                                 reason=exc.detail or exc.title)
        return _codelists_page(request, session, actor, create_form=values, create_error=error, status=422)
    return redirect(request, f"/console/datahub/codelists#cl-{code}",
                    message="Đã tạo danh mục {code}. Hãy công bố phiên bản đầu tiên.", code=code)


@router.post("/console/datahub/codelists/{code}/versions")
async def codelist_publish_post(request: Request, code: str, session: DbSession, settings: AppSettings,
                                actor: Actor = Depends(_MANAGE_CODELISTS)) -> Response:
    """Công bố phiên bản mới — items from a CSV file or the text box, in force from the chosen day."""
    # The text box may hold a list as large as an uploaded file (Starlette's default part limit is 1 MB).
    form = await request.form(max_part_size=int(settings.max_upload_bytes))
    verify_csrf(request, str(form.get("csrf_token") or ""))
    cl = codelists.get_codelist(session, code)
    values = {k: str(v) for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    vs = codelists.versions(session, cl)
    try:
        day = _effective_from(values.get("effective_from", ""), vs[0] if vs else None)
        items = await _version_items(form, settings)
        version = codelists.publish_version(session, actor=actor, code=code, items=items, effective_from=day,
                                            note=values.get("note", "").strip())
    except (FormError, Problem) as exc:
        session.rollback()
        error = exc if isinstance(exc, FormError) else FormError("Không công bố được phiên bản: {reason}",
                                                                 reason=exc.detail or exc.title)
        return _codelists_page(request, session, actor, publish_code=code, publish_form=values,
                               publish_error=error, status=422)
    return redirect(request, f"/console/datahub/codelists#cl-{code}",
                    message="Đã công bố phiên bản {version} của danh mục {code}, hiệu lực từ {day} ({n} mục).",
                    version=version.version, code=code, day=day.strftime("%d/%m/%Y"), n=len(items))


@router.get("/console/datahub/codelists/{code}")
def codelist_page(request: Request, code: str, session: DbSession, version: int | None = Query(None, ge=1),
                  actor: Actor = Depends(_MANAGE)) -> Response:
    """Một danh mục — its versions and the items of one version (the one in force today by default)."""
    cl = codelists.get_codelist(session, code)
    vs = codelists.versions(session, cl)
    current = codelists.version_on(session, code, local_now().date())
    if version is None:
        shown = current or (vs[0] if vs else None)
    else:
        shown = next((v for v in vs if v.version == version), None)
        if shown is None:
            raise NotFound("No such version.")
    return render(request, "datahub/codelist.html", _ctx(
        cl=cl, versions=vs, current=current, shown=shown, limit=MAX_ITEMS_SHOWN,
        can_manage=actor.has(_CODELIST_PERMISSION)))


@router.get("/console/datahub/new")
def define_form(request: Request, session: DbSession, actor: Actor = Depends(_MANAGE)) -> Response:
    """Định nghĩa bộ dữ liệu — the form."""
    return render(request, "datahub/define.html", _ctx(orgs=_manageable_orgs(session, actor), error=None,
                                                        form={"fields": FIELDS_EXAMPLE, "public": "on"}))


@router.post("/console/datahub/new")
async def define_post(request: Request, session: DbSession, actor: Actor = Depends(_MANAGE)) -> Response:
    """Save the definition; on success go to the upload page."""
    form = await request.form()
    verify_csrf(request, str(form.get("csrf_token") or ""))
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    try:
        try:
            fields = json.loads(values.get("fields") or "")
        except ValueError:
            raise Problem("Danh sách trường phải là JSON hợp lệ.", status=422) from None
        ds = service.define_dataset(
            session, actor=actor, name=values.get("name", "").strip(), org_id=values.get("org_id", ""),
            title=values.get("title", ""), title_en=values.get("title_en", ""),
            description=values.get("description", ""), description_en=values.get("description_en", ""),
            sector=values.get("sector"), public=values.get("public") == "on", licence=values.get("licence"),
            frequency=values.get("frequency"), fields=fields,
            tags=[t.strip() for t in values.get("tags", "").split(",") if t.strip()],
            key=[k.strip() for k in values.get("key", "").split(",") if k.strip()])
    except Problem as exc:
        session.rollback()
        return render(request, "datahub/define.html", _ctx(orgs=_manageable_orgs(session, actor),
                                                            error=exc.detail or exc.title, form=values), status=422)
    return redirect(request, f"/console/datahub/{ds.name}/upload", message="Đã lưu định nghĩa bộ dữ liệu.")


def _upload_page(request: Request, session: Any, view: queries.DatasetView, *, error: str | None = None,
                 source_error: str | None = None, source_form: dict[str, Any] | None = None,
                 status: int = 200) -> Response:
    src = sources.get_source(session, view.dataset.id)
    form = source_form if source_form is not None else (
        {"url": src.url, "format": src.format, "auth_header": src.auth_header, "auth_secret": src.auth_secret,
         "every_minutes": src.every_minutes or "", "cron": src.cron, "mode": src.mode,
         "enabled": "on" if src.enabled else ""} if src is not None else {"format": "json", "mode": "replace",
                                                                            "every_minutes": "60", "enabled": "on"})
    return render(request, "datahub/upload.html", _ctx(
        view=view, loads=queries.loads_of(session, view.dataset.id), fields=view.fields, error=error, source=src,
        source_form=form, source_error=source_error, runs=sources.runs_of(session, view.dataset.id)), status=status)


@router.get("/console/datahub/{name}/upload")
def upload_form(request: Request, name: str, session: DbSession, actor: Actor = Depends(_MANAGE)) -> Response:
    """Nạp dữ liệu — the upload form, the dataset's source and schedule, previous loads and pulls."""
    view = queries.access_dataset(session, actor, name, manage=True)
    return _upload_page(request, session, view)


@router.post("/console/datahub/{name}/upload")
async def upload_post(request: Request, name: str, session: DbSession, settings: AppSettings,
                      actor: Actor = Depends(_MANAGE)) -> Response:
    """Check and load the file; always show the validation report."""
    form = await request.form()
    verify_csrf(request, str(form.get("csrf_token") or ""))
    upload = form.get("file")
    view = queries.access_dataset(session, actor, name, manage=True)
    if upload is None or isinstance(upload, str) or not upload.filename:
        return _upload_page(request, session, view, error="Chọn tệp để nạp.", status=422)
    data = await upload.read(service.MAX_UPLOAD_BYTES + 1)
    if len(data) > service.MAX_UPLOAD_BYTES:
        return _upload_page(request, session, view, status=413,
                            error="Tệp lớn quá 200 MB: hãy nạp bằng lệnh smartprovince datahub load.")
    try:
        load = service.load_file(session, actor=actor, name=name, source=data, filename=upload.filename,
                                 data_dir=settings.data_dir, skip_invalid=form.get("skip_invalid") == "on",
                                 mode=str(form.get("mode") or "replace"))
    except Problem as exc:
        session.rollback()
        return _upload_page(request, session, view, error=exc.detail or exc.title, status=422)
    return redirect(request, f"/console/datahub/{name}/loads/{load.id}")


@router.post("/console/datahub/{name}/source")
async def source_post(request: Request, name: str, session: DbSession, actor: Actor = Depends(_MANAGE)) -> Response:
    """Lưu nguồn dữ liệu — the agency API, its secret's name, the schedule and the load mode."""
    form = await request.form()
    verify_csrf(request, str(form.get("csrf_token") or ""))
    view = queries.access_dataset(session, actor, name, manage=True)
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    every = values.get("every_minutes", "").strip()
    try:
        if every and not every.isdigit():
            raise Problem("Số phút phải là số nguyên dương.", status=422)
        sources.set_source(session, actor=actor, name=name, url=values.get("url", ""),
                           format=values.get("format", "json"), auth_header=values.get("auth_header", ""),
                           auth_secret=values.get("auth_secret", ""), every_minutes=int(every) if every else None,
                           cron=values.get("cron", ""), mode=values.get("mode", "replace"),
                           enabled=values.get("enabled") == "on")
    except Problem as exc:
        session.rollback()
        return _upload_page(request, session, view, source_error=exc.detail or exc.title, source_form=values,
                            status=422)
    return redirect(request, f"/console/datahub/{name}/upload", message="Đã lưu nguồn dữ liệu.")


@router.post("/console/datahub/{name}/pull")
async def pull_post(request: Request, name: str, session: DbSession, settings: AppSettings,
                    actor: Actor = Depends(_MANAGE)) -> Response:
    """Kéo ngay — pull from the source now; show the load report, or the page with the failed run."""
    form = await request.form()
    verify_csrf(request, str(form.get("csrf_token") or ""))
    view = queries.access_dataset(session, actor, name, manage=True)
    try:
        run = await run_in_threadpool(sources.pull, session, actor=actor, name=name, data_dir=settings.data_dir,
                                      config=request.app.state.datahub_config, trigger="manual")
    except Problem as exc:
        session.rollback()
        return _upload_page(request, session, view, source_error=exc.detail or exc.title, status=422)
    if run.load_id:
        return redirect(request, f"/console/datahub/{name}/loads/{run.load_id}")
    return redirect(request, f"/console/datahub/{name}/upload", message="Kéo dữ liệu không thành công.",
                    kind="error")


@router.get("/console/datahub/{name}/loads/{load_id}")
def report_page(request: Request, name: str, load_id: str, session: DbSession,
                actor: Actor = Depends(_MANAGE)) -> Response:
    """Báo cáo kiểm tra — every problem of one load, row by row."""
    view = queries.access_dataset(session, actor, name, manage=True)
    load = queries.get_load(session, view, load_id)
    titles = {f.name: f.title for f in view.fields}
    return render(request, "datahub/report.html", _ctx(view=view, load=load, titles=titles,
                                                        quality=queries.latest_quality(session, view.dataset.id)))
