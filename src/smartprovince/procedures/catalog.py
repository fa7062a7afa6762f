"""Danh mục thủ tục — the procedure catalog as versioned data, imported from JSON or CSV.

An import row describes one procedure (see :class:`ProcedureIn`). For each row:

* no procedure with that code yet → version 1 is created;
* the current version has exactly the same content → nothing changes;
* the content differs → a new version is added and becomes current; dossiers already received keep
  pointing at the version they were received under.

JSON: ``{"procedures": [ {...}, ... ]}`` or a plain list. CSV: one row per procedure with the column
names of :class:`ProcedureIn`; the list fields ``fees``, ``documents`` and ``steps`` hold JSON text
(``documents`` may also be plain names separated by ``;``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from smartprovince.core import audit, bus
from smartprovince.core.clock import now
from smartprovince.core.errors import ValidationProblem
from smartprovince.core.ids import new_id
from smartprovince.core.security import Actor
from smartprovince.procedures.models import Procedure


class FeeIn(BaseModel):
    """Phí, lệ phí — one fee of a procedure, in VND; online submissions may pay a lower amount."""

    name: str = Field(min_length=1, max_length=300)
    amount_vnd: int = Field(ge=0)
    online_amount_vnd: int | None = Field(None, ge=0)


class DocumentIn(BaseModel):
    """Thành phần hồ sơ — one required (or optional) document."""

    name: str = Field(min_length=1, max_length=300)
    copies: int = Field(1, ge=0, le=20)
    required: bool = True


class StepIn(BaseModel):
    """Bước xử lý — one routing step: who handles it and how long it may take (working days)."""

    name: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=60)
    unit: str = Field("", max_length=200)
    days: float = Field(0, ge=0, le=365)


class ProcedureIn(BaseModel):
    """One procedure of an import file."""

    code: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9.\-_]+$")
    national_code: str | None = Field(None, max_length=40)
    name: str = Field(min_length=1, max_length=500)
    field: str = Field(min_length=1, max_length=200)
    agency_code: str = Field("", max_length=40)
    agency_name: str = Field("", max_length=300)
    level: Literal["central", "province", "district", "commune"]
    online_level: Literal["full", "partial", "none"]
    processing_time: Decimal = Field(ge=0, le=1000)
    processing_unit: Literal["working_days", "hours", "calendar_days"]
    cutoff_hour: int | None = Field(None, ge=0, le=23)
    fees: list[FeeIn] = Field(default_factory=list)
    documents: list[DocumentIn] = Field(default_factory=list)
    result_kind: Literal["paper", "electronic"] = "paper"
    result_name: str = Field("", max_length=300)
    steps: list[StepIn] = Field(default_factory=list)
    legal_basis: str = ""
    is_essential: bool = False
    sort_order: int = 0

    @field_validator("national_code", "cutoff_hour", mode="before")
    @classmethod
    def _empty_is_none(cls, v: Any) -> Any:
        return None if v == "" else v

    @model_validator(mode="after")
    def _whole_working_days(self) -> ProcedureIn:
        if self.processing_unit == "working_days" and self.processing_time != int(self.processing_time):
            raise ValueError("processing_time in working_days must be a whole number")
        return self

    def content(self) -> dict[str, Any]:
        """The fields stored on a version, in a form that compares equal when nothing changed."""
        data = self.model_dump(mode="json")
        data["processing_time"] = float(self.processing_time)
        return data


@dataclass
class ImportResult:
    """What an import did: codes created, codes given a new version, codes unchanged, codes retired."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "superseded": self.superseded}


def parse_catalog(data: bytes, *, filename: str = "", content_type: str = "") -> list[ProcedureIn]:
    """Read a JSON or CSV catalog file; ``ValidationProblem`` (422) names every bad row and field."""
    text = _decode(data)
    is_json = filename.lower().endswith(".json") or "json" in content_type or text.lstrip()[:1] in ("{", "[")
    raw_rows = _json_rows(text) if is_json else _csv_rows(text)
    rows: list[ProcedureIn] = []
    errors: list[dict[str, Any]] = []
    for i, raw in enumerate(raw_rows):
        try:
            rows.append(ProcedureIn.model_validate(raw))
        except ValidationError as exc:
            for e in exc.errors():
                loc = ["procedures", i, *[str(p) for p in e["loc"]]]
                errors.append({"loc": loc, "msg": e["msg"], "type": e["type"]})
    seen: set[str] = set()
    for i, r in enumerate(rows):
        if r.code in seen:
            msg = f"code {r.code} appears twice"
            errors.append({"loc": ["procedures", i, "code"], "msg": msg, "type": "value_error"})
        seen.add(r.code)
    if errors:
        raise ValidationProblem(f"{len(errors)} problem(s) in the catalog file; nothing was imported.",
                                errors=errors[:200])
    if not rows:
        raise ValidationProblem("The catalog file has no procedures.")
    return rows


_CODE = r"^[A-Za-z0-9.\-_]+$"


def parse_superseded(data: bytes) -> dict[str, str]:
    """The ``"superseded": {old code: new code}`` object of a JSON catalog file (empty for CSV or a list).

    It retires old codes in favour of new ones (see :func:`supersede_procedures`); 422 when malformed.
    """
    text = _decode(data)
    if text.lstrip()[:1] != "{":
        return {}
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationProblem(f"The file is not valid JSON: {exc.msg} (line {exc.lineno}).") from exc
    raw = doc.get("superseded", {}) if isinstance(doc, dict) else {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and re.match(_CODE, k) and re.match(_CODE, v)
        and len(k) <= 40 and len(v) <= 40 and k != v for k, v in raw.items()
    ):
        raise ValidationProblem("'superseded' must map old procedure codes to other, new codes "
                                "(letters, digits, '.', '-', '_'; at most 40 characters).")
    return dict(raw)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationProblem("The file is not UTF-8 text.") from exc


def _json_rows(text: str) -> list[Any]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationProblem(f"The file is not valid JSON: {exc.msg} (line {exc.lineno}).") from exc
    rows = doc.get("procedures") if isinstance(doc, dict) else doc
    if not isinstance(rows, list):
        raise ValidationProblem("A JSON catalog is a list of procedures or an object with a 'procedures' list.")
    return rows


def _csv_rows(text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    out: list[dict[str, Any]] = []
    for line, row in enumerate(reader, start=2):
        item: dict[str, Any] = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        for key in ("fees", "documents", "steps"):
            value = item.get(key, "")
            if not value:
                item[key] = []
            elif value.startswith("["):
                try:
                    item[key] = json.loads(value)
                except json.JSONDecodeError as exc:
                    raise ValidationProblem(f"Line {line}: column {key} is not valid JSON.") from exc
            elif key == "documents":
                item[key] = [{"name": n.strip()} for n in value.split(";") if n.strip()]
            else:
                raise ValidationProblem(f"Line {line}: column {key} must be a JSON list.")
        item["is_essential"] = str(item.get("is_essential", "")).lower() in ("1", "true", "yes", "x")
        if item.get("sort_order", "") == "":
            item.pop("sort_order", None)
        out.append(item)
    return out


def _stored_content(p: Procedure) -> dict[str, Any]:
    return {
        "code": p.code, "national_code": p.national_code, "name": p.name, "field": p.field,
        "agency_code": p.agency_code, "agency_name": p.agency_name, "level": p.level,
        "online_level": p.online_level, "processing_time": float(p.processing_time),
        "processing_unit": p.processing_unit, "cutoff_hour": p.cutoff_hour, "fees": p.fees,
        "documents": p.documents, "result_kind": p.result_kind, "result_name": p.result_name, "steps": p.steps,
        "legal_basis": p.legal_basis, "is_essential": p.is_essential, "sort_order": p.sort_order,
    }


def import_procedures(session: Session, *, actor: Actor, rows: list[ProcedureIn]) -> ImportResult:
    """Nhập danh mục — create or version the procedures in ``rows`` (one audit entry and event per change)."""
    result = ImportResult()
    codes = [r.code for r in rows]
    current = {
        p.code: p
        for p in session.scalars(select(Procedure).where(Procedure.code.in_(codes), Procedure.is_current.is_(True)))
    }
    at = now()
    for r in rows:
        content = r.content()
        old = current.get(r.code)
        if old is not None and _stored_content(old) == _normalised(content):
            result.unchanged.append(r.code)
            continue
        version = 1
        if old is not None:
            old.is_current = False
            version = old.version + 1
            session.flush()
        p = Procedure(id=new_id(), version=version, is_current=True, created_at=at, **content)
        session.add(p)
        session.flush()
        verb = "created" if old is None else "versioned"
        (result.created if old is None else result.updated).append(r.code)
        audit.record(session, actor=actor, action=f"procedures.procedure.{verb}", object_type="procedures.procedure",
                     object_id=p.id, data={"code": p.code, "version": version})
        bus.publish(session, f"procedures.procedure.{verb}",
                    {"id": p.id, "code": p.code, "version": version, "name": p.name}, key=p.code)
    return result


def supersede_procedures(session: Session, *, actor: Actor, replacements: dict[str, str],
                         result: ImportResult | None = None) -> ImportResult:
    """Thay thế thủ tục — retire each old code of ``replacements`` in favour of its new code.

    Every version of the old code gets ``superseded_by``: it leaves the public catalog and takes no
    new dossiers, while the dossiers received under it keep it (tracking, statistics, forms). A code
    is retired only when its new code is in the catalog (and is not itself retired); an old code that
    is missing or already retired is left as it is, so loading the same file again changes nothing.
    """
    result = result or ImportResult()
    if not replacements:
        return result
    live = set(session.scalars(select(Procedure.code).where(
        Procedure.code.in_(replacements.values()), Procedure.is_current.is_(True),
        Procedure.superseded_by.is_(None))))
    at = now()
    for old, new in replacements.items():
        versions = list(session.scalars(select(Procedure).where(Procedure.code == old,
                                                                Procedure.superseded_by.is_(None))))
        if not versions or new not in live:
            continue
        for p in versions:
            p.superseded_by, p.superseded_at = new, at
        session.flush()
        result.superseded.append(old)
        audit.record(session, actor=actor, action="procedures.procedure.superseded", object_type="procedures.procedure",
                     object_id=versions[-1].id, data={"code": old, "superseded_by": new})
        bus.publish(session, "procedures.procedure.superseded", {"code": old, "superseded_by": new}, key=old)
    return result


def _normalised(content: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(content, ensure_ascii=False))


def essential_services_rows() -> list[ProcedureIn]:
    """The 25 essential online services of Project 06, shipped with the platform."""
    data = resources.files("smartprovince.procedures").joinpath("data/essential_services.json").read_bytes()
    return parse_catalog(data, filename="essential_services.json")


def import_file(session: Session, *, actor: Actor, data: bytes, filename: str = "",
                content_type: str = "") -> ImportResult:
    """Import a JSON or CSV catalog file: its procedures, then the retirements of its ``superseded`` object.

    The whole file is checked before anything is written (``ValidationProblem`` names every problem).
    """
    rows = parse_catalog(data, filename=filename, content_type=content_type)
    replacements = parse_superseded(data)
    result = import_procedures(session, actor=actor, rows=rows)
    return supersede_procedures(session, actor=actor, replacements=replacements, result=result)


def load_essential_services(session: Session, *, actor: Actor) -> ImportResult:
    """Import (or update) the 25 essential services and retire the local codes they replace (re-seed)."""
    data = resources.files("smartprovince.procedures").joinpath("data/essential_services.json").read_bytes()
    return import_file(session, actor=actor, data=data, filename="essential_services.json")
