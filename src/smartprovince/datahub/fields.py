"""Field definitions and the check of one value (kiểm tra giá trị) against its field.

A dataset's ``fields`` are data: a list of dictionaries read by :class:`FieldDef`. Types:

* ``string`` — text; normalised to Unicode NFC with single spaces (Vietnamese text typed on
  different keyboards looks the same but is stored differently otherwise);
* ``integer`` / ``number`` — whole or decimal numbers, optional ``minimum`` / ``maximum``;
* ``boolean`` — true/false, 1/0, có/không;
* ``date`` — ``YYYY-MM-DD`` (also ``DD/MM/YYYY``, the Vietnamese habit);
* ``code`` — a code from a shared category list (``codelist``), checked against the version in
  force on the day of the load.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from smartprovince.core.errors import ValidationProblem

FIELD_TYPES = ("string", "integer", "number", "boolean", "date", "code")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
DUCKDB_TYPES = {"string": "VARCHAR", "integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN",
                "date": "DATE", "code": "VARCHAR"}
CKAN_TYPES = {"string": "text", "integer": "int", "number": "numeric", "boolean": "bool", "date": "date",
              "code": "text"}
_TRUE = {"true", "1", "yes", "có", "co", "x"}
_FALSE = {"false", "0", "no", "không", "khong"}
_SPACES = re.compile(r"\s+")
_OTHER_SPACE = re.compile(r"[^\S ]")


@dataclass(frozen=True)
class FieldDef:
    """Định nghĩa trường — one column of a dataset."""

    name: str
    title: str
    type: str = "string"
    title_en: str = ""
    unit: str = ""
    required: bool = False
    codelist: str | None = None
    personal: bool = False
    minimum: float | None = None
    maximum: float | None = None
    description: str = ""
    indexed: bool = False

    @property
    def filter_index(self) -> bool:
        """Whether the public snapshot gets an index copy for filters on this field: declared
        ``indexed``, or a category-list code (few distinct values, the usual filter)."""
        return (self.indexed or self.type == "code") and not self.personal

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> FieldDef:
        """Read and check a field definition; raises ``ValidationProblem`` with a clear message."""
        if not isinstance(raw, dict):
            raise ValidationProblem("Each field must be an object with at least 'name' and 'title'.")
        name = str(raw.get("name") or "")
        if not NAME_RE.match(name):
            raise ValidationProblem(f"Field name {name!r} must be lowercase letters, digits and _ (max 63).")
        ftype = str(raw.get("type") or "string")
        if ftype not in FIELD_TYPES:
            raise ValidationProblem(f"Field {name}: type must be one of {', '.join(FIELD_TYPES)}.")
        codelist = raw.get("codelist") or None
        if ftype == "code" and not codelist:
            raise ValidationProblem(f"Field {name}: a 'code' field needs a 'codelist'.")
        bounds: dict[str, float | None] = {}
        for bound in ("minimum", "maximum"):
            value = raw.get(bound)
            if value is not None:
                if ftype not in ("integer", "number") or isinstance(value, bool):
                    raise ValidationProblem(f"Field {name}: {bound} applies to numbers only.")
                try:
                    bounds[bound] = float(value)
                except (TypeError, ValueError):
                    raise ValidationProblem(f"Field {name}: {bound} must be a number.") from None
        return cls(name=name, title=str(raw.get("title") or name)[:200], type=ftype,
                   title_en=str(raw.get("title_en") or "")[:200], unit=str(raw.get("unit") or "")[:40],
                   required=bool(raw.get("required", False)), codelist=str(codelist) if codelist else None,
                   personal=bool(raw.get("personal", False)), minimum=bounds.get("minimum"),
                   maximum=bounds.get("maximum"), description=str(raw.get("description") or "")[:500],
                   indexed=bool(raw.get("indexed", False)))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "title": self.title, "type": self.type}
        for attr in ("title_en", "unit", "codelist", "description", "minimum", "maximum"):
            value = getattr(self, attr)
            if value not in (None, ""):
                out[attr] = value
        out["required"] = self.required
        out["personal"] = self.personal
        if self.indexed:
            out["indexed"] = True
        return out


def parse_fields(raw_fields: Any, key: Any) -> tuple[list[FieldDef], list[str]]:
    """Check a whole definition: at least one field, unique names, a key made of required fields."""
    if not isinstance(raw_fields, list) or not raw_fields:
        raise ValidationProblem("A dataset needs a non-empty list of fields.")
    if len(raw_fields) > 200:
        raise ValidationProblem("A dataset may have at most 200 fields.")
    fields = [FieldDef.parse(f) for f in raw_fields]
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise ValidationProblem("Field names must be unique.")
    key_list = list(key or [])
    by_name = {f.name: f for f in fields}
    for k in key_list:
        if k not in by_name:
            raise ValidationProblem(f"Key field {k!r} is not one of the fields.")
    if len(set(key_list)) != len(key_list):
        raise ValidationProblem("Key fields must be unique.")
    # Key fields identify a row, so they are always required.
    fields = [FieldDef(**{**f.__dict__, "required": True}) if f.name in key_list else f for f in fields]
    return fields, key_list


def normalise_text(value: str) -> str:
    """NFC form, no leading/trailing spaces, runs of white space collapsed to one space."""
    # Fast path (most cells): already NFC, no white space other than single inner spaces.
    if (unicodedata.is_normalized("NFC", value) and "  " not in value and value == value.strip()
            and not _OTHER_SPACE.search(value)):
        return value
    return _SPACES.sub(" ", unicodedata.normalize("NFC", value)).strip()


class CellError(Exception):
    """A value that does not fit its field; ``code`` is a short machine word, the message is English."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _parse_date(text: str) -> date:
    try:
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            return date.fromisoformat(text)
        day, month, year = text.split("/")
        if len(year) == 4:
            return date(int(year), int(month), int(day))
    except ValueError:
        pass
    raise CellError("bad_type", "expected a date YYYY-MM-DD or DD/MM/YYYY")


def convert(field: FieldDef, raw: Any, codes: set[str] | None = None, *, normalised: bool = False) -> Any:
    """Turn one raw cell into the stored value (``None`` when empty) or raise :class:`CellError`.

    ``codes`` is the set of valid codes of the field's category list (``code`` fields only).
    Stored values are JSON-friendly: dates as ISO text. ``normalised`` says text is already normalised.
    """
    if isinstance(raw, str) and not normalised:
        raw = normalise_text(raw)
    if raw is None or raw == "":
        if field.required:
            raise CellError("missing", "a value is required")
        return None
    value: Any
    if field.type == "string":
        value = str(raw)
        if len(value) > 2000:
            raise CellError("too_long", "text longer than 2000 characters")
    elif field.type == "integer":
        if isinstance(raw, bool):
            raise CellError("bad_type", "expected a whole number")
        try:
            number = float(str(raw).replace(" ", "")) if not isinstance(raw, int) else raw
        except ValueError:
            raise CellError("bad_type", "expected a whole number") from None
        if isinstance(number, float) and (not number.is_integer() or abs(number) > 2**53):
            raise CellError("bad_type", "expected a whole number")
        value = int(number)
    elif field.type == "number":
        if isinstance(raw, bool):
            raise CellError("bad_type", "expected a number")
        try:
            value = float(str(raw).replace(" ", "")) if not isinstance(raw, int | float) else float(raw)
        except ValueError:
            raise CellError("bad_type", "expected a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise CellError("bad_type", "expected a finite number")
    elif field.type == "boolean":
        if isinstance(raw, bool):
            value = raw
        else:
            text = str(raw).strip().lower()
            if text in _TRUE:
                value = True
            elif text in _FALSE:
                value = False
            else:
                raise CellError("bad_type", "expected true/false")
    elif field.type == "date":
        if isinstance(raw, datetime):
            value = raw.date().isoformat()
        elif isinstance(raw, date):
            value = raw.isoformat()
        else:
            value = _parse_date(str(raw)).isoformat()
    else:  # code
        value = str(raw)
        if isinstance(raw, float) and raw.is_integer():
            value = str(int(raw))
        if codes is not None and value not in codes:
            raise CellError("not_in_codelist", f"not a code of the category list {field.codelist}")
    if field.type in ("integer", "number"):
        if field.minimum is not None and value < field.minimum:
            raise CellError("out_of_range", f"smaller than the minimum {field.minimum:g}")
        if field.maximum is not None and value > field.maximum:
            raise CellError("out_of_range", f"larger than the maximum {field.maximum:g}")
    return value
