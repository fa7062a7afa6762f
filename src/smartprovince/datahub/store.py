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


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection (cheap; one per query keeps threads independent)."""
    con = duckdb.connect(":memory:")
    con.execute("SET threads TO 2")
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
    """Read the checked rows into DuckDB and find rows whose key repeats an earlier row."""
    con = connect()
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
    """The stored rows in batches, as dictionaries for the ``datahub_record`` table."""
    names = [f.name for f in fields]
    cur = prep.con.execute(f"SELECT _id, _key, {', '.join(_q(n) for n in names)} FROM final ORDER BY _id")  # noqa: S608
    while True:
        rows = cur.fetchmany(batch)
        if not rows:
            return
        out = []
        for row in rows:
            data = {}
            for name, value in zip(names, row[2:], strict=True):
                data[name] = value.isoformat() if hasattr(value, "isoformat") else value
            out.append({"row_no": int(row[0]), "key_text": str(row[1] or "")[:500], "data": data})
        yield out


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
        col = "CAST(_id AS VARCHAR)" if name == "_id" else f"CAST({_q(name)} AS VARCHAR)"
        placeholders = ", ".join("?" for _ in values)
        where.append(f"{col} IN ({placeholders})")
        params.extend(_filter_text(by_name.get(name), v) for v in values)
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
        total = int(con.execute(f"SELECT count(*) FROM {source}{clause}", params).fetchone()[0])  # type: ignore[index]  # noqa: S608
        select = ", ".join(_q(n) for n in wanted)
        rows = con.execute(f"SELECT {select} FROM {source}{clause} ORDER BY {order} LIMIT ? OFFSET ?",  # noqa: S608
                           [*params, int(limit), int(offset)]).fetchall()
    finally:
        con.close()
    records = []
    for row in rows:
        records.append({n: (v.isoformat() if hasattr(v, "isoformat") else v) for n, v in zip(wanted, row, strict=True)})
    return QueryResult(records=records, total=total, fields=wanted)


def _filter_text(field: FieldDef | None, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if field is not None and field.type == "number":
        try:
            return str(float(value))
        except (TypeError, ValueError):
            return str(value)
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
        con.execute(f"COPY (SELECT {select} FROM read_parquet({_lit(path)}) ORDER BY _id) TO {_lit(target)} {options}")  # noqa: S608
    finally:
        con.close()
    return target
