"""Reading uploaded files (CSV, XLSX, JSON) row by row, and checking each row (báo cáo kiểm tra).

Reading streams: a file is never turned into one big list, so a 10-million-row CSV needs little
memory. Each row becomes a dictionary ``column → raw value``; :func:`validate_rows` checks it against
the dataset's fields and writes the valid rows to a newline-delimited JSON file that
``datahub.store`` turns into records and a Parquet snapshot.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from smartprovince.core.errors import UnsupportedMediaType, ValidationProblem
from smartprovince.datahub.fields import CellError, FieldDef, convert, normalise_text

FORMATS = ("csv", "xlsx", "json")
MAX_REPORTED_ERRORS = 1000
# Values that look like a citizen identity number (CCCD: 12 digits, province code first) or a mobile
# phone number. Found in a field not declared personal, they get a warning once per field: the officer
# should flag the field personal before the data is published (the value shown is masked).
_PERSONAL_LIKE = re.compile(r"0\d{11}|(?:\+?84|0)[35789]\d{8}")
_SEPARATORS = str.maketrans("", "", " .-")


def looks_personal(value: str) -> bool:
    """Whether a text value looks like a CCCD number or a Vietnamese mobile phone number."""
    return len(value) <= 20 and _PERSONAL_LIKE.fullmatch(value.translate(_SEPARATORS)) is not None


def _mask(value: str) -> str:
    return value[:3] + "*" * max(len(value) - 6, 3) + value[-3:] if len(value) > 6 else "***"


def detect_format(filename: str, head: bytes) -> str:
    """Guess the format from the name, then from the first bytes (XLSX files are ZIP archives)."""
    name = filename.lower()
    for fmt in FORMATS:
        if name.endswith("." + fmt):
            return fmt
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] in (b"[", b"{"):
        return "json"
    if head and b"\x00" not in head:
        return "csv"
    raise UnsupportedMediaType("Upload a CSV, XLSX or JSON file.")


def _csv_rows(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline="")
    first = text.readline()
    if not first.strip():
        return
    delimiter = ";" if first.count(";") > first.count(",") else ","
    header = [normalise_text(h) for h in next(csv.reader([first], delimiter=delimiter))]
    try:
        for cells in csv.reader(text, delimiter=delimiter):
            if not cells or all(not c.strip() for c in cells):
                continue
            row: dict[str, Any] = dict(zip(header, cells, strict=False))
            if len(cells) > len(header):
                row["__extra__"] = cells[len(header):]
            yield row
    except UnicodeDecodeError:
        raise ValidationProblem("The CSV file is not UTF-8 text; save it as 'CSV UTF-8'.") from None


def _xlsx_rows(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds (zip, xml, key errors) for broken files
        raise ValidationProblem(f"The XLSX file cannot be read: {type(exc).__name__}.") from None
    try:
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header_row = next(rows, None)
        if header_row is None:
            return
        header = [normalise_text(str(h)) if h is not None else "" for h in header_row]
        for cells in rows:
            if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
                continue
            yield dict(zip(header, cells, strict=False))
    finally:
        book.close()


def _json_rows(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    data = stream.read()
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        # newline-delimited JSON: one object per line
        parsed = []
        for line_no, line in enumerate(data.splitlines(), start=1):
            if line.strip():
                try:
                    parsed.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    raise ValidationProblem(f"Line {line_no} is not valid JSON.") from None
    if isinstance(parsed, dict):
        parsed = parsed.get("records", parsed.get("data"))
    if not isinstance(parsed, list):
        raise ValidationProblem("JSON must be a list of objects, or {\"records\": [...]}.")
    for item in parsed:
        yield item if isinstance(item, dict) else {"__not_object__": item}


def read_rows(stream: IO[bytes], fmt: str) -> Iterator[dict[str, Any]]:
    """Rows of an uploaded file as dictionaries (raw values, header names as written)."""
    if fmt == "csv":
        return _csv_rows(stream)
    if fmt == "xlsx":
        return _xlsx_rows(stream)
    if fmt == "json":
        return _json_rows(stream)
    raise UnsupportedMediaType("Upload a CSV, XLSX or JSON file.")


@dataclass
class Report:
    """Báo cáo kiểm tra — the result of checking every row of one file."""

    total_rows: int = 0
    valid_rows: int = 0
    error_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    filled_cells: int = 0
    total_cells: int = 0
    normalised_cells: int = 0
    text_cells: int = 0
    bad_rows: set[int] = field(default_factory=set)

    def add(self, row: int, field_name: str | None, code: str, message: str, value: Any = None, *,
            warning: bool = False) -> None:
        """Note one problem; a ``warning`` (an ignored column) is shown but does not fail the load."""
        if not warning:
            self.error_count += 1
            self.bad_rows.add(row)
        if len(self.errors) < MAX_REPORTED_ERRORS:
            shown = None if value is None else str(value)[:100]
            self.errors.append({"row": row, "field": field_name, "code": code, "message": message, "value": shown,
                                "level": "warning" if warning else "error"})


def _column_map(header: list[str], fields: list[FieldDef]) -> dict[str, str]:
    """Map file columns to field names: by name, or by Vietnamese / English title (case-insensitive)."""
    lookup: dict[str, str] = {}
    for f in fields:
        for alias in (f.name, f.title, f.title_en):
            if alias:
                lookup[normalise_text(alias).casefold()] = f.name
    return {h: lookup[h.casefold()] for h in header if h.casefold() in lookup}


def validate_rows(
    rows: Iterator[dict[str, Any]],
    fields: list[FieldDef],
    codes: dict[str, set[str]],
    out: IO[bytes],
) -> Report:
    """Check every row; write each valid row as one JSON line ``{"_row": n, field: value …}`` to ``out``.

    Rows are numbered from 1 as a spreadsheet user sees them under the header (row 1 = first data
    row). ``codes`` maps a category list code to its valid codes. Duplicate keys are found later by
    ``store`` (they need all rows).
    """
    report = Report()
    mapping: dict[str, str] | None = None
    columns: list[tuple[str, str, FieldDef, set[str] | None]] = []
    absent: list[str] = []
    by_name = {f.name: f for f in fields}
    warned_personal: set[str] = set()
    for row_no, raw in enumerate(rows, start=1):
        report.total_rows = row_no
        if "__not_object__" in raw:
            report.add(row_no, None, "not_object", "the row is not a JSON object")
            continue
        if mapping is None:
            header = [k for k in raw if k != "__extra__"]
            mapping = _column_map(header, fields)
            missing = [f.name for f in fields if f.name not in mapping.values()]
            unknown = [h for h in header if h not in mapping and h]
            for name in missing:
                if by_name[name].required:
                    report.add(0, name, "missing_column", "a required column is missing from the file")
            for col in unknown:
                report.add(0, col, "unknown_column", "the column is not a field of the dataset (ignored)",
                           warning=True)
            columns = [(col, name, by_name[name], codes.get(by_name[name].codelist or ""))
                       for col, name in mapping.items()]
            absent = [n for n in by_name if n not in mapping.values()]
            if any(by_name[n].required for n in missing):
                report.total_rows = sum(1 for _ in rows) + 1
                report.bad_rows = set(range(1, report.total_rows + 1))
                return report
        values: dict[str, Any] = {"_row": row_no}
        ok = True
        if raw.get("__extra__"):
            report.add(row_no, None, "extra_cells", "the row has more cells than the header")
            ok = False
        for col, name, f, valid in columns:
            cell = raw.get(col)
            if isinstance(cell, str):
                report.text_cells += 1
                clean = normalise_text(cell)
                if clean is not cell and clean != cell:
                    report.normalised_cells += 1
                cell = clean
            try:
                value = convert(f, cell, valid, normalised=True)
            except CellError as exc:
                report.add(row_no, name, exc.code, exc.message, raw.get(col))
                ok = False
                continue
            values[name] = value
            if value is not None:
                report.filled_cells += 1
                if (f.type == "string" and not f.personal and name not in warned_personal
                        and looks_personal(value)):
                    warned_personal.add(name)
                    report.add(row_no, name, "looks_personal",
                               "the value looks like a CCCD or phone number: mark the field personal if it is one",
                               _mask(value), warning=True)
        report.total_cells += len(by_name)
        for name in absent:
            values[name] = None
        if ok:
            report.valid_rows += 1
            out.write(orjson.dumps(values))
            out.write(b"\n")
    return report


def open_upload(data: bytes | Path) -> IO[bytes]:
    """A binary stream over uploaded bytes or a file on disk."""
    if isinstance(data, Path):
        return data.open("rb")
    return io.BytesIO(data)
