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
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smartprovince.core.errors import ValidationProblem
from smartprovince.datahub.fields import DUCKDB_TYPES, FieldDef

if TYPE_CHECKING:  # duckdb is imported where it is used: the app starts without it (memory)
    import duckdb

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


_SNAPSHOT_FILE = re.compile(r"^(\d+)-(full|public)(\.by-[a-z0-9_]+)?\.parquet$")


def prune_snapshots(data_dir: Path, dataset_id: str, keep_from: int) -> int:
    """Delete the dataset's snapshot files numbered below ``keep_from``; return how many.

    A load keeps the snapshot that was current when it started (a reader that opened it just before
    the commit can finish) and its own new one; older ones are no longer read by anyone.
    """
    folder = dataset_dir(data_dir, dataset_id)
    removed = 0
    if not folder.is_dir():
        return 0
    for path in folder.iterdir():
        match = _SNAPSHOT_FILE.match(path.name)
        if match and int(match.group(1)) < keep_from:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def connect(path: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection: in memory for queries (cheap; one per query keeps threads independent), or
    on a scratch file for loads, so a 10-million-row load spills to disk instead of filling memory."""
    import duckdb

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
        key_expr = _key_expr(key)
        con.execute(f"ALTER TABLE staged ADD COLUMN _key VARCHAR; UPDATE staged SET _key = {key_expr}")  # noqa: S608
        duplicates = [(int(r), str(k)) for r, k in con.execute(
            "SELECT _row, _key FROM (SELECT _row, _key, row_number() OVER (PARTITION BY _key ORDER BY _row) AS n "
            "FROM staged) WHERE n > 1 ORDER BY _row").fetchall()]
    else:
        con.execute("ALTER TABLE staged ADD COLUMN _key VARCHAR DEFAULT ''")
    return Prepared(con=con, duplicate_rows=duplicates)


def _previous_select(previous: Path, fields: list[FieldDef], key: list[str]) -> str:
    """SELECT of the stored rows of the previous full snapshot, in the current definition's columns.

    A field added to the definition after that snapshot was written reads as NULL.
    """
    con = connect()
    try:
        present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({_lit(previous)})").fetchall()}  # noqa: S608
    finally:
        con.close()
    cols = [_q(f.name) if f.name in present else f"CAST(NULL AS {DUCKDB_TYPES[f.type]}) AS {_q(f.name)}"
            for f in fields]
    key_expr = _key_expr(key) if key else "''"
    return (f"SELECT _id, {', '.join(cols)}, {key_expr} AS _key "  # noqa: S608 - names checked
            f"FROM read_parquet({_lit(previous)})")


def _key_expr(key: list[str]) -> str:
    return " || '|' || ".join(f"coalesce(CAST({_q(k)} AS VARCHAR), '')" for k in key)


def existing_keys(prep: Prepared, fields: list[FieldDef], key: list[str],
                  previous: Path | None) -> list[tuple[int, str]]:
    """Rows of the new file whose key is already stored (an error for an append-only load)."""
    if not key or previous is None:
        return []
    prep.con.execute(f"CREATE OR REPLACE VIEW previous AS {_previous_select(previous, fields, key)}")
    return [(int(r), str(k)) for r, k in prep.con.execute(
        "SELECT s._row, s._key FROM staged s WHERE s._key IN (SELECT _key FROM previous) ORDER BY s._row").fetchall()]


def write_snapshot(prep: Prepared, fields: list[FieldDef], exclude_rows: set[int], target_full: Path,
                   target_public: Path, *, mode: str = "replace", key: list[str] | None = None,
                   previous: Path | None = None) -> int:
    """Write the two Parquet files from the staged rows (minus ``exclude_rows``); return the row count.

    ``mode`` ``replace``: the staged rows are the whole dataset, numbered 1, 2, …
    ``append`` / ``upsert``: the rows of the ``previous`` full snapshot stay with their ``_id``; a
    staged row whose key is stored replaces that row and keeps its ``_id`` (upsert), other staged
    rows get the next numbers. ``final._changed`` marks the rows the records table must (re)write.
    """
    con = prep.con
    if exclude_rows:
        con.execute("CREATE TEMP TABLE excluded(_row BIGINT)")
        con.executemany("INSERT INTO excluded VALUES (?)", [(r,) for r in sorted(exclude_rows)])
        con.execute("DELETE FROM staged WHERE _row IN (SELECT _row FROM excluded)")
    names = ", ".join(_q(f.name) for f in fields)
    if mode == "replace" or previous is None:
        con.execute("CREATE TABLE final AS SELECT row_number() OVER (ORDER BY _row) AS _id, *, true AS _changed "
                    "FROM staged ORDER BY _row")
    else:
        con.execute(f"CREATE OR REPLACE VIEW previous AS {_previous_select(previous, fields, key or [])}")
        top = int(con.execute("SELECT coalesce(max(_id), 0) FROM previous").fetchone()[0])  # type: ignore[index]
        if mode == "upsert" and key:
            con.execute("CREATE TABLE matched AS SELECT s._row, p._id FROM staged s JOIN previous p ON s._key = p._key")
        else:
            con.execute("CREATE TABLE matched (_row BIGINT, _id BIGINT)")
        con.execute(
            f"CREATE TABLE final AS "  # noqa: S608 - names checked
            f"SELECT _id, {names}, _key, false AS _changed FROM previous "
            f"WHERE _id NOT IN (SELECT _id FROM matched) "
            f"UNION ALL SELECT m._id, {', '.join('s.' + _q(f.name) for f in fields)}, s._key, true "
            f"FROM staged s JOIN matched m USING (_row) "
            f"UNION ALL SELECT {top} + row_number() OVER (ORDER BY _row), {names}, _key, true "
            f"FROM staged WHERE _row NOT IN (SELECT _row FROM matched)")
    target_full.parent.mkdir(parents=True, exist_ok=True)
    all_cols = ", ".join(["_id"] + [_q(f.name) for f in fields])
    public_cols = ", ".join(["_id"] + [_q(f.name) for f in fields if not f.personal])
    con.execute(f"COPY (SELECT {all_cols} FROM final ORDER BY _id) TO {_lit(target_full)} "  # noqa: S608
                "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)")
    con.execute(f"COPY (SELECT {public_cols} FROM final ORDER BY _id) TO {_lit(target_public)} "  # noqa: S608
                "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)")
    for f in fields:
        if f.filter_index or (f.name in (key or []) and not f.personal):
            # The public rows again, ordered by the field: a filter on it reads only the row groups
            # whose min/max can hold the value (a clustered index; see ``search``).
            con.execute(f"COPY (SELECT {public_cols} FROM final ORDER BY {_q(f.name)}, _id) TO "  # noqa: S608
                        f"{_lit(index_path(target_public, f.name))} "
                        f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {INDEX_ROW_GROUP})")
    return int(con.execute("SELECT count(*) FROM final").fetchone()[0])  # type: ignore[index]


INDEX_ROW_GROUP = 32_768
"""Rows per row group of an index copy: small groups make a filter read little beyond its matches."""


def index_path(public: Path, field: str) -> Path:
    """The index copy of a public snapshot for filters on ``field``."""
    return public.with_name(f"{public.stem}.by-{field}.parquet")


def replaced_ids(prep: Prepared) -> list[int]:
    """``_id`` of stored rows an upsert replaced (their records are rewritten)."""
    import duckdb

    try:
        return [int(r[0]) for r in prep.con.execute("SELECT _id FROM matched ORDER BY _id").fetchall()]
    except duckdb.CatalogException:
        return []


def iter_final(prep: Prepared, fields: list[FieldDef], batch: int = 10_000) -> Iterator[list[dict[str, Any]]]:
    """The rows to write to the records table, in batches: ``{"row_no", "key_text", "data"}`` with ``data``
    already JSON text. A replace writes every row; an append or upsert only the new and replaced rows.

    DuckDB writes the JSON (dates as ISO text), which is much faster than building it in Python.
    """
    struct = ", ".join(f"{_q(f.name)} := {_q(f.name)}" for f in fields)
    cur = prep.con.execute(f"SELECT _id, coalesce(_key, ''), CAST(to_json(struct_pack({struct})) AS VARCHAR) "  # noqa: S608
                           "FROM final WHERE _changed ORDER BY _id")
    while True:
        rows = cur.fetchmany(batch)
        if not rows:
            return
        yield [{"row_no": int(r[0]), "key_text": r[1][:500], "data": r[2]} for r in rows]


# ----------------------------------------------------------------------------------------- queries


@dataclass
class QueryResult:
    """One page of records and the number of matches (``total``; ``None`` when not asked for)."""

    records: list[dict[str, Any]]
    total: int | None
    fields: list[str]
    total_was_estimated: bool = False


ESTIMATE_SAMPLE_ROWS = 250_000
"""Rows (the first ``_id`` range of a snapshot) counted to estimate a total (``total_estimation_threshold``)."""

FEW_MATCHES = 1_000
"""Up to this many matches on an index copy, the page is read in one query (no two steps)."""

_query_lock = threading.Lock()
_query_db: dict[int, duckdb.DuckDBPyConnection] = {}


def _query_cursor() -> duckdb.DuckDBPyConnection:
    """A cursor on the process's one in-memory DuckDB for searches.

    Opening a DuckDB and applying its settings costs about 20–30 ms, more than a filtered search
    of 10 M rows on an index copy; a cursor of an open database costs nothing and is independent
    of other threads' cursors (each query takes its own). Parquet footers are cached between
    queries. Keyed by process id, so a forked worker opens its own.
    """
    import os

    with _query_lock:
        con = _query_db.get(os.getpid())
        if con is None:
            _query_db.clear()
            con = connect()
            con.execute("SET parquet_metadata_cache = true")
            _query_db[os.getpid()] = con
        return con.cursor()


def _row_count(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Rows of a Parquet file from its footer (no data read)."""
    return int(con.execute(f"SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata({_lit(path)})"  # noqa: S608
                           ).fetchone()[0])  # type: ignore[index]


def search(path: Path | None, allowed: list[FieldDef], *, filters: dict[str, Any] | None = None,
           q: str | None = None, fields: list[str] | None = None, sort: str | None = None,
           limit: int = 100, offset: int = 0, include_total: bool = True,
           total_estimation_threshold: int | None = None) -> QueryResult:
    """Filter, search, sort and page the records of one snapshot.

    ``allowed`` are the fields the caller may see (personal fields removed for the public).
    ``filters`` maps a field to a value or a list of values (equality); ``q`` looks for the words in
    any text field (case-insensitive); ``sort`` is ``"field [asc|desc], …"``.

    ``include_total`` and ``total_estimation_threshold`` are CKAN's: without ``include_total`` no
    count is made (``total`` is ``None``); with a threshold, a count that would read the whole
    snapshot (a ``q`` or a filter on a field without an index copy) is first estimated from the
    first ``ESTIMATE_SAMPLE_ROWS`` rows, and the estimate is returned (``total_was_estimated``)
    when it is above the threshold. Without filters the total is the row count of the file's
    footer (exact and free). A filter on a field with an index copy is counted exactly (it reads
    only the value's row groups).
    """
    import duckdb

    by_name = {f.name: f for f in allowed}
    names = ["_id"] + [f.name for f in allowed]
    wanted = fields if fields else names
    for name in wanted:
        if name not in names:
            raise ValidationProblem(f"Unknown field {name!r}.", field=name)
    if path is None or not path.exists():
        return QueryResult(records=[], total=0 if include_total else None, fields=wanted)
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
    select = ", ".join(_q(n) for n in wanted)
    # A filter on a field with an index copy (a code field, the key, a field declared ``indexed``:
    # see ``write_snapshot``) reads that copy (the same rows ordered by that field), so only the row
    # groups that can hold the value are read; the page is then found in two steps.
    indexed = [name for name in (filters or {}) if name in by_name and not by_name[name].personal
               and index_path(path, name).exists()]
    two_step = order != "_id"
    if indexed and path.name.endswith("-public.parquet"):
        source = f"read_parquet({_lit(index_path(path, indexed[0]))})"
        two_step = True
    con = _query_cursor()
    try:
        total: int | None = None
        estimated = False
        if include_total and not where:
            total = _row_count(con, path)
        elif include_total:
            if total_estimation_threshold is not None and not indexed:
                rows = _row_count(con, path)
                sample = min(ESTIMATE_SAMPLE_ROWS, rows)
                if sample and rows > sample:
                    got = int(con.execute(f"SELECT count(*) FROM {source}{clause} AND _id <= ?",  # noqa: S608
                                          [*params, sample]).fetchone()[0])  # type: ignore[index]
                    guess = round(got * rows / sample)
                    if guess > total_estimation_threshold:
                        total, estimated = guess, True
            if total is None:
                # The count and the page are two queries: a window count over the matches would make
                # DuckDB keep every matching row (all columns) in memory before it can cut the page.
                total = int(con.execute(f"SELECT count(*) FROM {source}{clause}", params).fetchone()[0])  # type: ignore[index]  # noqa: S608
        if total is not None and not estimated and (total == 0 or offset >= total):
            rows_out: list[Any] = []
        elif indexed and total is not None and not estimated and total <= FEW_MATCHES:
            # Few matches on an index copy (a key): they lie together, sorting them costs nothing.
            rows_out = con.execute(f"SELECT {select} FROM {source}{clause} ORDER BY {order} LIMIT ? OFFSET ?",  # noqa: S608
                                   [*params, int(limit), int(offset)]).fetchall()
        elif not two_step:
            # The snapshot is written in ``_id`` order and DuckDB keeps a file's order without ORDER BY
            # (``preserve_insertion_order``), so the scan stops at the page instead of sorting every
            # match (a word search over 10 M rows: 1.3 s → the rows up to the page).
            rows_out = con.execute(f"SELECT {select} FROM {source}{clause} LIMIT ? OFFSET ?",  # noqa: S608
                                   [*params, int(limit), int(offset)]).fetchall()
        else:
            # Late materialisation: sort only the sort columns and _id, then read the page's rows.
            ids = [int(r[0]) for r in con.execute(
                f"SELECT _id FROM {source}{clause} ORDER BY {order} LIMIT ? OFFSET ?",  # noqa: S608
                [*params, int(limit), int(offset)]).fetchall()]
            rows_out = []
            if ids:
                marks = ", ".join("?" for _ in ids)
                # Repeating the filter lets an index copy skip to the value's row groups again.
                extra = (" AND " + " AND ".join(where)) if where else ""
                got_rows = con.execute(f"SELECT _id AS __id, {select} FROM {source} "  # noqa: S608
                                       f"WHERE _id BETWEEN ? AND ? AND _id IN ({marks}){extra}",
                                       [min(ids), max(ids), *ids, *params]).fetchall()
                by_id = {int(r[0]): r[1:] for r in got_rows}
                rows_out = [by_id[i] for i in ids if i in by_id]
    except (duckdb.ConversionException, duckdb.InvalidInputException):
        raise ValidationProblem("A filter value does not fit its field's type.") from None
    finally:
        con.close()
    records = [{n: (v.isoformat() if hasattr(v, "isoformat") else v) for n, v in zip(wanted, row, strict=True)}
               for row in rows_out]
    return QueryResult(records=records, total=total, fields=wanted, total_was_estimated=estimated)


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


EXPORT_BATCH_ROWS = 32_768
"""Rows per piece of a streamed CSV / JSON download: a quarter of a snapshot row group (the server's
peak at 10 M rows was 71 MB above its idle HWM with whole row groups and 1 MB reads, 52 MB with this)."""
EXPORT_MEMORY_MB = 32
"""DuckDB's memory limit while it writes one piece (a download's peak RSS is about this above idle)."""


def export_stream(path: Path, fmt: str, columns: list[str], *, batch_rows: int = EXPORT_BATCH_ROWS,
                  chunk_bytes: int = 1 << 18) -> Iterator[bytes]:
    """The snapshot as CSV or a JSON array, in pieces, for a streamed HTTP response.

    The snapshot is in ``_id`` order in row groups, so each piece is one DuckDB ``COPY`` of an ``_id``
    range (row-group pruning reads only those rows) to a small temporary file, read back in 1 MB
    chunks and deleted. Memory is bounded by one piece, whatever the size of the dataset, and the
    first bytes leave before the whole file is written.
    """
    if fmt not in ("csv", "json"):
        raise ValidationProblem("Streamed downloads are CSV or JSON.")
    select = ", ".join(_q(c) for c in columns)
    con = connect()
    con.execute("SET threads TO 1")
    con.execute(f"SET memory_limit = '{EXPORT_MEMORY_MB}MB'")
    con.execute("SET preserve_insertion_order = true")
    tmpdir = tempfile.TemporaryDirectory(prefix="datahub-export-")
    piece = Path(tmpdir.name) / f"piece.{fmt}"
    try:
        top = int(con.execute(f"SELECT coalesce(max(_id), 0) FROM read_parquet({_lit(path)})").fetchone()[0])  # type: ignore[index]  # noqa: S608
        if fmt == "json":
            yield b"["
        first = True
        start = 1
        while start <= top or (first and fmt == "csv"):
            end = start + batch_rows - 1
            header = "true" if first else "false"
            options = f"(FORMAT csv, HEADER {header})" if fmt == "csv" else "(FORMAT json)"
            con.execute(f"COPY (SELECT {select} FROM read_parquet({_lit(path)}) WHERE _id BETWEEN {start} AND {end} "  # noqa: S608
                        f"ORDER BY _id) TO {_lit(piece)} {options}")
            with piece.open("rb") as fh:
                if fmt == "csv":
                    while chunk := fh.read(chunk_bytes):
                        yield chunk
                else:
                    # newline-delimited objects → elements of one array (DuckDB escapes newlines in values)
                    pending = b""
                    while chunk := fh.read(chunk_bytes):
                        data = pending + chunk
                        cut = data.rfind(b"\n")
                        if cut < 0:
                            pending = data
                            continue
                        pending = data[cut + 1:]
                        body = data[:cut].replace(b"\n", b",\n")
                        if body:
                            yield (b"\n" if first else b",\n") + body
                            first = False
                    if pending.strip():
                        yield (b"\n" if first else b",\n") + pending
                        first = False
            if fmt == "csv":
                first = False
            start = end + 1
            if top == 0:
                break
        if fmt == "json":
            yield b"\n]\n"
    finally:
        con.close()
        tmpdir.cleanup()
