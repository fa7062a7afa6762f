"""Writes of the data hub (nghiệp vụ): define a dataset, load a file, measure quality.

Every function takes the caller's session and a keyword-only ``actor``, checks the actor, changes
rows, writes an audit entry and publishes its event in the same transaction.

A load replaces the dataset's records as a whole (the file is the dataset's current state, as sector
agencies deliver it), appends rows, or upserts them by key. A file with errors is rejected and
nothing changes, unless the officer asks to skip invalid rows (``skip_invalid``); the row-by-row
report is kept either way.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from smartprovince import identity
from smartprovince.core import audit, bus
from smartprovince.core.clock import local_now, now
from smartprovince.core.errors import Conflict, NotFound, ValidationProblem
from smartprovince.core.security import Actor
from smartprovince.datahub import codelists, ingest, quality, store
from smartprovince.datahub.fields import parse_fields
from smartprovince.datahub.models import Dataset, Load, QualityScore, Record
from smartprovince.datahub.queries import MANAGE, DatasetView, access_dataset, latest_quality

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,99}$")
# Names that are console paths themselves (/console/datahub/codelists/…, /console/datahub/new): a dataset
# of that name would lose its pages to those routes.
RESERVED_NAMES = frozenset({"codelists", "new"})
# Largest file accepted by an upload over HTTP (API and console); bigger files go through the command line.
# The console's message names the figure: change both together.
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
SECTORS = {
    "education": "Giáo dục",
    "health": "Y tế",
    "tourism": "Du lịch",
    "agriculture": "Nông nghiệp",
    "transport": "Giao thông",
    "environment": "Tài nguyên và môi trường",
    "economy": "Kinh tế",
    "society": "Văn hóa, xã hội",
    "administration": "Hành chính công",
}
LICENCES = {
    "CC-BY-4.0": "Creative Commons Attribution 4.0",
    "CC0-1.0": "Creative Commons Zero 1.0",
    "ODC-BY-1.0": "Open Data Commons Attribution 1.0",
    "internal": "Chỉ dùng nội bộ",
}
DEFINITION_KEYS = ("title", "title_en", "description", "description_en", "sector", "public", "licence",
                   "frequency", "tags", "fields", "key")


def _check_meta(values: dict[str, Any]) -> None:
    if not str(values.get("title") or "").strip():
        raise ValidationProblem("A dataset needs a title.")
    if values.get("sector") not in SECTORS:
        raise ValidationProblem(f"Sector must be one of {', '.join(SECTORS)}.", field="sector")
    if values.get("licence") not in LICENCES:
        raise ValidationProblem(f"Licence must be one of {', '.join(LICENCES)}.", field="licence")
    if values.get("frequency") not in quality.FREQUENCY_DAYS:
        raise ValidationProblem(f"Frequency must be one of {', '.join(quality.FREQUENCY_DAYS)}.", field="frequency")
    if values.get("public") and values.get("licence") == "internal":
        raise ValidationProblem("A public dataset needs an open licence.", field="licence")
    tags = values.get("tags") or []
    if not isinstance(tags, list) or len(tags) > 30 or not all(isinstance(t, str) and 0 < len(t) <= 60 for t in tags):
        raise ValidationProblem("Tags must be a list of at most 30 short words.", field="tags")


def _clean_definition(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    _check_meta(values)
    fields, key = parse_fields(values.get("fields"), values.get("key"))
    for f in fields:
        if f.codelist:
            codelists.get_codelist(session, f.codelist)  # NotFound names the missing list
    return {
        "title": str(values["title"]).strip()[:300], "title_en": str(values.get("title_en") or "").strip()[:300],
        "description": str(values.get("description") or "")[:10000],
        "description_en": str(values.get("description_en") or "")[:10000],
        "sector": values["sector"], "public": bool(values.get("public")), "licence": values["licence"],
        "frequency": values["frequency"], "tags": sorted({t.strip().lower() for t in values.get("tags") or []}),
        "fields": [f.as_dict() for f in fields], "key": key,
    }


def define_dataset(session: Session, *, actor: Actor, name: str, org_id: str, **values: Any) -> Dataset:
    """Định nghĩa bộ dữ liệu — create a dataset definition published by organisation ``org_id``.

    ``values`` holds the keys of ``DEFINITION_KEYS``. The actor must hold ``datahub.dataset.manage``
    over the organisation.
    """
    if not NAME_RE.match(name or ""):
        raise ValidationProblem("The dataset name must be 2–100 lowercase letters, digits, - or _.", field="name")
    if name in RESERVED_NAMES:
        raise ValidationProblem(f"The dataset name {name!r} is reserved (a console path).", field="name")
    org = identity.get_org(session, org_id) or identity.get_org_by_code(session, org_id)
    if org is None or not actor.can(MANAGE, org.path):
        raise ValidationProblem("Unknown organisation, or not one you manage data for.", field="org_id")
    if session.scalar(select(Dataset.id).where(Dataset.name == name)) is not None:
        raise Conflict(f"A dataset named {name!r} already exists.")
    clean = _clean_definition(session, {**{"licence": "CC-BY-4.0", "frequency": "monthly", "public": True}, **values})
    ds = Dataset(name=name, org_id=org.id, **clean)
    session.add(ds)
    session.flush()
    audit.record(session, actor=actor, action="datahub.dataset.defined", object_type="dataset", object_id=ds.id,
                 data={"name": name, "public": ds.public, "fields": len(ds.fields)}, org_path=org.path)
    bus.publish(session, "datahub.dataset.defined", {"dataset_id": ds.id, "name": name, "public": ds.public},
                key=ds.id)
    return ds


def update_dataset(session: Session, *, actor: Actor, name: str, **values: Any) -> Dataset:
    """Sửa định nghĩa — change a dataset's metadata or fields.

    Fields may be added, retitled or flagged; a change that removes a field or changes a type while
    records exist is refused (reload the data with the new definition under a new dataset instead).
    """
    view = access_dataset(session, actor, name, manage=True)
    ds = view.dataset
    merged = {k: getattr(ds, k) for k in DEFINITION_KEYS} | {k: v for k, v in values.items() if k in DEFINITION_KEYS}
    clean = _clean_definition(session, merged)
    if ds.row_count:
        old = {f["name"]: f["type"] for f in ds.fields}
        new = {f["name"]: f for f in clean["fields"]}
        for fname, ftype in old.items():
            if fname not in new or new[fname]["type"] != ftype:
                raise Conflict(f"Field {fname!r} has data; it cannot be removed or change type.")
        for fname, f in new.items():
            if fname not in old and f["required"]:
                raise Conflict(f"New field {fname!r} cannot be required while records exist.")
    changed = sorted(k for k, v in clean.items() if getattr(ds, k) != v)
    for k, v in clean.items():
        setattr(ds, k, v)
    ds.updated_at = now()
    audit.record(session, actor=actor, action="datahub.dataset.updated", object_type="dataset", object_id=ds.id,
                 data={"changed": changed}, org_path=view.org.path)
    bus.publish(session, "datahub.dataset.updated", {"dataset_id": ds.id, "name": ds.name, "changed": changed},
                key=ds.id)
    return ds


LOAD_MODES = ("replace", "append", "upsert")


def load_file(session: Session, *, actor: Actor, name: str, source: bytes | Path, filename: str, data_dir: Path,
              skip_invalid: bool = False, mode: str = "replace") -> Load:
    """Nạp dữ liệu — check an uploaded file row by row and, if it passes, store it.

    ``mode``: ``replace`` — the file is the whole dataset; ``append`` — add the rows (a key that is
    already stored is a ``duplicate_key`` error); ``upsert`` — a row whose key is stored replaces
    that record (keeping its ``_id``), other rows are added (needs a key). Returns the :class:`Load`
    with its report (also when the file is rejected; then nothing changed). ``data_dir`` is where
    the Parquet snapshots live (``Settings.data_dir``).
    """
    if mode not in LOAD_MODES:
        raise ValidationProblem(f"Load mode must be one of {', '.join(LOAD_MODES)}.", field="mode")
    view = access_dataset(session, actor, name, manage=True)
    ds = view.dataset
    fields = view.fields
    if mode == "upsert" and not ds.key:
        raise ValidationProblem("An upsert needs a dataset with a key.", field="mode")
    previous = snapshot_file(view, data_dir, public=False) if mode != "replace" else None
    with ingest.open_upload(source) as stream:
        head = stream.read(8)
        stream.seek(0)
        fmt = ingest.detect_format(filename, head)
        today = local_now().date()
        codes: dict[str, set[str]] = {}
        for f in fields:
            if f.codelist and f.codelist not in codes:
                found = codelists.codes_on(session, f.codelist, today)
                if found is None:
                    raise ValidationProblem(f"Category list {f.codelist!r} no longer exists.")
                codes[f.codelist] = found
        with tempfile.TemporaryDirectory(prefix="datahub-load-") as tmp:
            ndjson = Path(tmp) / "rows.ndjson"
            with ndjson.open("wb") as out:
                report = ingest.validate_rows(ingest.read_rows(stream, fmt), fields, codes, out)
            prep = store.prepare(ndjson, fields, ds.key)
            try:
                for row_no, key_text in prep.duplicate_rows:
                    report.add(row_no, ",".join(ds.key), "duplicate_key", "the key repeats an earlier row",
                               key_text)
                report.valid_rows -= len(prep.duplicate_rows)
                repeated = {r for r, _ in prep.duplicate_rows}
                stored = [(r, k) for r, k in (store.existing_keys(prep, fields, ds.key, previous)
                                              if mode == "append" else []) if r not in repeated]
                for row_no, key_text in stored:
                    report.add(row_no, ",".join(ds.key), "duplicate_key", "the key is already in the dataset",
                               key_text)
                report.valid_rows -= len(stored)
                if report.error_count == 0 and report.total_rows > 0:
                    status = "loaded"
                elif skip_invalid and report.valid_rows > 0 and not any(
                        e["code"] == "missing_column" for e in report.errors):
                    status = "partial"
                else:
                    status = "rejected"
                if report.total_rows == 0:
                    report.add(0, None, "empty", "the file has no data rows")
                report.errors.sort(key=lambda e: e["row"])  # stable: a row's problems stay in column order
                load = Load(dataset_id=ds.id, filename=filename[:300], file_format=fmt, status=status,
                            total_rows=report.total_rows, valid_rows=max(0, report.valid_rows),
                            error_count=report.error_count, errors=report.errors,
                            created_by=actor.username or actor.kind, mode=mode)
                session.add(load)
                session.flush()
                if status != "rejected":
                    store.prune_snapshots(data_dir, ds.id, keep_from=ds.snapshot)
                    snapshot = ds.snapshot + 1
                    full = store.snapshot_path(data_dir, ds.id, snapshot, public=False)
                    public = store.snapshot_path(data_dir, ds.id, snapshot, public=True)
                    excluded = {r for r, _ in prep.duplicate_rows} | {r for r, _ in stored}
                    ds.row_count = store.write_snapshot(prep, fields, excluded, full, public, mode=mode, key=ds.key,
                                                        previous=previous)
                    if previous is None:
                        session.execute(delete(Record).where(Record.dataset_id == ds.id))
                    else:
                        _delete_records(session, ds.id, store.replaced_ids(prep))
                    _insert_records(session, ds.id, store.iter_final(prep, fields))
                    ds.snapshot = snapshot
                    ds.data_updated_at = now()
                    ds.updated_at = ds.data_updated_at
            finally:
                prep.con.close()
    if status != "rejected":
        scores = quality.compute(
            total_rows=report.total_rows, valid_rows=max(0, report.valid_rows), filled_cells=report.filled_cells,
            total_cells=report.total_cells, duplicate_rows=len(prep.duplicate_rows),
            normalised_cells=report.normalised_cells, text_cells=report.text_cells,
            last_update=ds.data_updated_at, at=now(), frequency=ds.frequency)
        _store_scores(session, ds, scores, {"load_id": load.id, "rows": ds.row_count,
                                            "duplicates": len(prep.duplicate_rows),
                                            "normalised_cells": report.normalised_cells})
    topic = "datahub.dataset.loaded" if status != "rejected" else "datahub.load.rejected"
    audit.record(session, actor=actor, action=topic, object_type="dataset", object_id=ds.id,
                 data={"load_id": load.id, "status": status, "mode": mode, "rows": report.total_rows,
                       "valid": load.valid_rows, "errors": report.error_count}, org_path=view.org.path)
    bus.publish(session, topic, {"dataset_id": ds.id, "name": ds.name, "load_id": load.id, "status": status,
                                 "row_count": ds.row_count}, key=ds.id)
    return load


def _insert_records(session: Session, dataset_id: str, batches: Iterator[list[dict[str, Any]]]) -> None:
    """Bulk-insert records whose ``data`` is already JSON text (no per-row ORM or JSON work in Python)."""
    cast = "CAST(:data AS JSON)" if session.get_bind().dialect.name == "postgresql" else ":data"
    stmt = text(f"INSERT INTO datahub_record (dataset_id, row_no, key_text, data) "  # noqa: S608 - fixed text
                f"VALUES (:dataset_id, :row_no, :key_text, {cast})")
    for batch in batches:
        for row in batch:
            row["dataset_id"] = dataset_id
        session.execute(stmt, batch)


def _delete_records(session: Session, dataset_id: str, row_nos: list[int]) -> None:
    """Remove the records an upsert replaces (in batches; they are written again from the new file)."""
    for start in range(0, len(row_nos), 500):
        chunk = row_nos[start:start + 500]
        session.execute(delete(Record).where(Record.dataset_id == dataset_id, Record.row_no.in_(chunk)))


def _store_scores(session: Session, ds: Dataset, scores: quality.Scores, details: dict[str, Any]) -> QualityScore:
    row = QualityScore(dataset_id=ds.id, measured_at=now(), correct=scores.correct, complete=scores.complete,
                       clean=scores.clean, live=scores.live, overall=scores.overall, details=details)
    session.add(row)
    session.flush()
    return row


def measure_quality(session: Session, *, actor: Actor, name: str) -> QualityScore:
    """Đo lại chất lượng — store today's scores (the "sống" score changes with time, the others with loads)."""
    view = access_dataset(session, actor, name, manage=True)
    ds = view.dataset
    last = latest_quality(session, ds.id)
    if last is None:
        raise NotFound("The dataset has no loaded data to measure yet.")
    scores = quality.Scores(correct=last.correct, complete=last.complete, clean=last.clean,
                            live=quality.live_score(ds.data_updated_at, now(), ds.frequency))
    row = _store_scores(session, ds, scores, {**last.details, "remeasured": True})
    audit.record(session, actor=actor, action="datahub.quality.measured", object_type="dataset", object_id=ds.id,
                 data={"overall": row.overall}, org_path=view.org.path)
    bus.publish(session, "datahub.quality.measured", {"dataset_id": ds.id, "name": ds.name,
                                                      "overall": row.overall}, key=ds.id)
    return row


def snapshot_file(view: DatasetView, data_dir: Path, *, public: bool) -> Path | None:
    """The current Parquet snapshot of a dataset (public = without personal fields), if data is loaded."""
    if not view.dataset.snapshot:
        return None
    path = store.snapshot_path(data_dir, view.dataset.id, view.dataset.snapshot, public=public)
    return path if path.exists() else None
