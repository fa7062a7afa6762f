"""Storage of records as Parquet snapshots read with DuckDB (lưu trữ và truy vấn).

Why: the transactional database keeps every record (``datahub_record``, typed JSON), which is the
source of truth and what a backup contains. Reading 10 million JSON rows back for a filter or an
export would be slow, so every load also writes two Parquet files, read by DuckDB:

* ``<data_dir>/datahub/<dataset id>/<snapshot>-full.parquet`` — every field (internal use);
* ``<data_dir>/datahub/<dataset id>/<snapshot>-public.parquet`` — without personal-data fields.
  Public callers only ever open this file, so personal data cannot leak through a query bug.

Both files carry ``_id`` (the row number, as CKAN's DataStore does). A new load writes a new
snapshot number; the dataset row points to the current one only when the transaction commits, so
a failed load leaves the old snapshot in use.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from smartprovince.core.errors import ValidationProblem
from smartprovince.datahub.fields import DUCKDB_TYPES, FieldDef

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def _q(name: str) -> str:
    """Quote an identifier that was already checked against the dataset's field names."""
    if not _IDENT.match(name):
        raise ValidationProblem(f"Unknown field {name!r}.")
    return f'"{name}"'


def _lit(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def dataset_dir(data_dir: Path, dataset_id: str) -> Path:
    return Path(data_dir) / "datahub" / dataset_id


def snapshot_path(data_dir: Path, dataset_id: str, snapshot: int, *, public: bool) -> Path:
    return dataset_dir(data_dir, dataset_id) / f"{snapshot}-{'public' if public else 'full'}.parquet"


def connect(path: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection: in memory for queries (cheap; one per query keeps threads independent), or
    on a scratch file for loads, so a 10-million-row load spills to disk instead of filling memory."""
    con = duckdb.connect(str(path) if path else ":memory:")
    con.execute("SET threads TO 2")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET memory_limit = '512MB'")
    return con


def _columns_spec(fields: list[FieldDef]) -> str:
    parts = ["'_row': 'BIGINT'"] + [f"'{f.name}': '{DUCKDB_TYPES[f.type]}'" for f in fields]
    return "{" + ", ".join(parts) + "}"


@dataclass
class Prepared:
    """Valid rows of a load ready to be stored: duplicates found, final row order fixed."""

    con: duckdb.DuckDBPyConnection
    duplicate_rows: list[tuple[int, str]]


def prepare(ndjson: Path, fields: list[FieldDef], key: list[str]) -> Prepared:
    """Read the checked rows into DuckDB and find rows whose key repeats an earlier row.

    The staging database is a scratch file beside ``ndjson`` (deleted with the load's temporary folder).
    """
    con = connect(ndjson.with_suffix(".duckdb"))
    cols = ", ".join(["_row"] + [_q(f.name) for f in fields])
    con.execute(f"CREATE TABLE staged AS SELECT {cols} FROM read_json({_lit(ndjson)}, "  # noqa: S608 - names checked
                f"format='newline_delimited', columns={_columns_spec(fields)})")
    duplicates: list[tuple[int, str]] = []
    if key:
        key_expr = " || '|' || ".join(f"coalesce(CAST({_q(k)} AS VARCHAR), '')" for k in key)
        con.execute(f"ALTER TABLE staged ADD COLUMN _key VARCHAR; UPDATE staged SET _key = {key_expr}")  # noqa: S608
        duplicates = [(int(r), str(k)) for r, k in con.execute(
            "SELECT _row, _key FROM (SELECT _row, _key, row_number() OVER (PARTITION BY _key ORDER BY _row) AS n "
            "FROM staged) WHERE n > 1 ORDER BY _row").fetchall()]
    else:
        con.execute("ALTER TABLE staged ADD COLUMN _key VARCHAR DEFAULT ''")
    return Prepared(con=con, duplicate_rows=duplicates)


def write_snapshot(prep: Prepared, fields: list[FieldDef], exclude_rows: set[int], target_full: Path,
                   target_public: Path) -> int:
    """Write the two Parquet files from the staged rows (minus ``exclude_rows``); return the row count."""
    con = prep.con
    if exclude_rows:
        con.execute("CREATE TEMP TABLE excluded(_row BIGINT)")
        con.executemany("INSERT INTO excluded VALUES (?)", [(r,) for r in sorted(exclude_rows)])
        con.execute("DELETE FROM staged WHERE _row IN (SELECT _row FROM excluded)")
    con.execute("CREATE TABLE final AS SELECT row_number() OVER (ORDER BY _row) AS _id, * FROM staged ORDER BY _row")
    target_full.parent.mkdir(parents=True, exist_ok=True)
    all_cols = ", ".join(["_id"] + [_q(f.name) for f in fields])
    public_cols = ", ".join(["_id"] + [_q(f.name) for f in fields if not f.personal])
    con.execute(f"COPY (SELECT {all_cols} FROM final ORDER BY _id) TO {_lit(target_full)} "  # noqa: S608
                "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)")
    con.execute(f"COPY (SELECT {public_cols} FROM final ORDER BY _id) TO {_lit(target_public)} "  # noqa: S608
                "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)")
    return int(con.execute("SELECT count(*) FROM final").fetchone()[0])  # type: ignore[index]


def iter_final(prep: Prepared, fields: list[FieldDef], batch: int = 10_000) -> Iterator[list[dict[str, Any]]]:
    """The stored rows in batches: ``{"row_no", "key_text", "data"}`` with ``data`` already JSON text.

    DuckDB writes the JSON (dates as ISO text), which is much faster than building it in Python.
    """
    struct = ", ".join(f"{_q(f.name)} := {_q(f.name)}" for f in fields)
    cur = prep.con.execute(f"SELECT _id, coalesce(_key, ''), CAST(to_json(struct_pack({struct})) AS VARCHAR) "  # noqa: S608
                           "FROM final ORDER BY _id")
    while True:
        rows = cur.fetchmany(batch)
        if not rows:
            return
        yield [{"row_no": int(r[0]), "key_text": r[1][:500], "data": r[2]} for r in rows]


# ----------------------------------------------------------------------------------------- queries


@dataclass
class QueryResult:
    """One page of records and the total number of matches."""

    records: list[dict[str, Any]]
    total: int
    fields: list[str]


def search(path: Path | None, allowed: list[FieldDef], *, filters: dict[str, Any] | None = None,
           q: str | None = None, fields: list[str] | None = None, sort: str | None = None,
           limit: int = 100, offset: int = 0) -> QueryResult:
    """Filter, search, sort and page the records of one snapshot.

    ``allowed`` are the fields the caller may see (personal fields removed for the public).
    ``filters`` maps a field to a value or a list of values (equality); ``q`` looks for the words in
    any text field (case-insensitive); ``sort`` is ``"field [asc|desc], …"``.
    """
    by_name = {f.name: f for f in allowed}
    names = ["_id"] + [f.name for f in allowed]
    wanted = fields if fields else names
    for name in wanted:
        if name not in names:
            raise ValidationProblem(f"Unknown field {name!r}.", field=name)
    if path is None or not path.exists():
        return QueryResult(records=[], total=0, fields=wanted)
    where: list[str] = []
    params: list[Any] = []
    for name, value in (filters or {}).items():
        if name not in names:
            raise ValidationProblem(f"Unknown filter field {name!r}.", field=name)
        values = value if isinstance(value, list) else [value]
        if not values:
            continue
        ftype = "integer" if name == "_id" else by_name[name].type
        typed = [t for t in (_typed_value(ftype, v) for v in values) if t is not _NO_MATCH]
        if not typed:
            where.append("FALSE")
            continue
        placeholders = ", ".join("CAST(? AS DATE)" if ftype == "date" else "?" for _ in typed)
        # Comparing in the column's own type lets DuckDB skip Parquet row groups by their min/max.
        where.append(f"{_q(name)} IN ({placeholders})")
        params.extend(typed)
    if q:
        text_cols = [f.name for f in allowed if f.type in ("string", "code")]
        for word in q.split()[:10]:
            if text_cols:
                where.append("(" + " OR ".join(f"{_q(c)} ILIKE ?" for c in text_cols) + ")")
                params.extend([f"%{word}%"] * len(text_cols))
            else:
                where.append("FALSE")
    order = "_id"
    if sort:
        parts = []
        for item in sort.split(",")[:5]:
            bits = item.strip().split()
            if not bits:
                continue
            if bits[0] not in names:
                raise ValidationProblem(f"Unknown sort field {bits[0]!r}.", field=bits[0])
            direction = bits[1].lower() if len(bits) > 1 else "asc"
            if direction not in ("asc", "desc") or len(bits) > 2:
                raise ValidationProblem(f"Bad sort {item.strip()!r}: use 'field asc' or 'field desc'.")
            parts.append(f"{_q(bits[0])} {direction.upper()}")
        if parts:
            order = ", ".join(parts + ["_id"])
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    source = f"read_parquet({_lit(path)})"
    con = connect()
    try:
        select = ", ".join(_q(n) for n in wanted)
        # One pass: the page and the number of matches (a window count) together.
        rows = con.execute(f"SELECT {select}, count(*) OVER () FROM {source}{clause} ORDER BY {order} "  # noqa: S608
                           "LIMIT ? OFFSET ?", [*params, int(limit), int(offset)]).fetchall()
        if rows:
            total = int(rows[0][-1])
        else:
            total = int(con.execute(f"SELECT count(*) FROM {source}{clause}", params).fetchone()[0])  # type: ignore[index]  # noqa: S608
    except (duckdb.ConversionException, duckdb.InvalidInputException):
        raise ValidationProblem("A filter value does not fit its field's type.") from None
    finally:
        con.close()
    records = []
    for row in rows:
        row = row[:-1]
        records.append({n: (v.isoformat() if hasattr(v, "isoformat") else v) for n, v in zip(wanted, row, strict=True)})
    return QueryResult(records=records, total=total, fields=wanted)


_NO_MATCH = object()


def _typed_value(ftype: str, value: Any) -> Any:
    """A filter value in the field's type; ``_NO_MATCH`` when it cannot equal any value of the field."""
    try:
        if ftype == "integer":
            number = float(value)
            return int(number) if number.is_integer() else _NO_MATCH
        if ftype == "number":
            return float(value)
        if ftype == "boolean":
            text = str(value).strip().lower()
            return True if text in ("true", "1") else False if text in ("false", "0") else _NO_MATCH
    except (TypeError, ValueError, OverflowError):
        return _NO_MATCH
    if isinstance(value, dict | list):
        return _NO_MATCH
    return str(value)


def export(path: Path, fmt: str, columns: list[str]) -> Path:
    """Write the snapshot as CSV or JSON (or a Parquet copy) to a temporary file and return its path.

    DuckDB streams the rows from Parquet to the file, so memory stays bounded; the caller streams
    the file to the client and deletes it afterwards.
    """
    suffix = {"csv": ".csv", "json": ".json", "parquet": ".parquet"}[fmt]
    handle = tempfile.NamedTemporaryFile(prefix="datahub-", suffix=suffix, delete=False)  # noqa: SIM115
    handle.close()
    target = Path(handle.name)
    options = {"csv": "(FORMAT csv, HEADER true)", "json": "(FORMAT json, ARRAY true)",
               "parquet": "(FORMAT parquet, COMPRESSION zstd)"}[fmt]
    select = ", ".join(_q(c) for c in columns)
    con = connect()
    try:
        # No ORDER BY: the snapshot is already in _id order and DuckDB keeps insertion order, so the
        # copy streams row group by row group instead of sorting everything in memory.
        con.execute("SET memory_limit = '128MB'")
        con.execute(f"COPY (SELECT {select} FROM read_parquet({_lit(path)})) TO {_lit(target)} {options}")  # noqa: S608
    finally:
        con.close()
    return target
