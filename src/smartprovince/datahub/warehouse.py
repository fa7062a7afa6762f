"""Kho phân tích — the analytics warehouse: other modules' data copied incrementally into Parquet, read with DuckDB.

Layout under ``DATA_DIR/warehouse/`` (see ``docs/warehouse.md``)::

    _state.json                       watermarks and the committed part files of every feed
    .lock                             held while a sync runs (one sync at a time, across processes)
    <feed>/part-<sync>-<rand>.parquet one file per sync that found changed rows

Each part file has the feed's columns plus ``_wh_sync`` (the sync number that wrote it). A view per feed
keeps the newest copy of each key (``QUALIFY row_number() OVER (PARTITION BY key ORDER BY _wh_sync DESC)
= 1``). Only the parts listed in the state file are read: a sync writes its part under a temporary
name, renames it, and only then writes the new state (itself through a temporary file and a rename),
so a sync that fails half-way leaves the previous state readable and the next sync reads the same
changes again. :func:`compact` rewrites a feed's parts into one file with one row per key.
"""

# S608: the SQL below is built from identifiers checked by _q() and paths quoted by _lit(); the only
# SQL from outside is warehouse_query's, which must parse as one SELECT and runs without file access.
# ruff: noqa: S608

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smartprovince.core.clock import now
from smartprovince.core.db import Database
from smartprovince.core.errors import Conflict, ValidationProblem
from smartprovince.core.warehouse import WarehouseFeed

if TYPE_CHECKING:  # imported where used: the app starts without DuckDB and pandas (memory)
    import duckdb
    import pandas as pd

log = logging.getLogger("smartprovince.datahub.warehouse")

DELETIONS_EVERY_SECONDS = 3600
"""How often a sync looks for deleted rows (reading every key of 1 M dossiers takes 5–15 s), unless asked."""
BATCH_ROWS = 25_000  # Python rows held at once; 100 k rows of 26 columns took ~400 MB
STATE_VERSION = 1
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,127}$")
Progress = Callable[..., Any]


class SyncBusy(Conflict):
    """Another process is syncing the warehouse right now."""


# --- layout and state ---------------------------------------------------------------------------


def warehouse_dir(settings: Any) -> Path:
    return Path(settings.data_dir) / "warehouse"


def _state_path(root: Path) -> Path:
    return root / "_state.json"


def load_state(root: Path) -> dict[str, Any]:
    """The committed state: ``{"version", "sync", "feeds": {name: {...}}}`` (empty when never synced)."""
    path = _state_path(root)
    if not path.exists():
        return {"version": STATE_VERSION, "sync": 0, "feeds": {}}
    state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return state


def _save_state(root: Path, state: dict[str, Any]) -> None:
    """Write the state atomically: a temporary file, flushed to disk, renamed over the old one."""
    tmp = root / f"._state.{secrets.token_hex(4)}.tmp"
    with tmp.open("w", encoding="utf-8") as f:
        # compact separators keep json's C encoder (indent would fall back to the slow Python one)
        f.write(json.dumps(state, ensure_ascii=False, separators=(",", ":"), default=str))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, _state_path(root))


@contextlib.contextmanager
def _sync_lock(root: Path, *, wait: bool) -> Iterator[None]:
    """An exclusive lock on ``.lock``: two processes (API workers, the CLI) never sync at once."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("a+") as f:
        flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(f.fileno(), flags)
        except BlockingIOError as exc:
            raise SyncBusy("Another warehouse sync is running.") from exc
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _connect() -> duckdb.DuckDBPyConnection:
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET threads TO 2")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET memory_limit = '512MB'")
    return con


def _lit(path: Path | str) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _q(name: str) -> str:
    if not _NAME.match(name):
        raise ValidationProblem(f"Bad warehouse identifier {name!r}.")
    return f'"{name}"'


# --- feeds --------------------------------------------------------------------------------------


def all_feeds(session: Any) -> dict[str, WarehouseFeed]:
    """Every feed the installed modules declare (fixed ones and those made from data, e.g. datasets)."""
    from smartprovince.registry import load_modules  # the composition root; imported late (no cycle)

    feeds: dict[str, WarehouseFeed] = {}
    for module in load_modules():
        for source in module.warehouse_feeds:
            items = [source] if isinstance(source, WarehouseFeed) else list(source(session))
            for feed in items:
                if not _NAME.match(feed.name):
                    raise ValueError(f"bad warehouse feed name {feed.name!r}")
                feeds[feed.name] = feed
    return feeds


def _source_fingerprint(session: Any) -> str | None:
    """Identifies the operational database: the id of its first organisation (new on every reset)."""
    from sqlalchemy import func, select

    from smartprovince import identity

    value = session.scalar(select(func.min(identity.Organisation.id)))
    return str(value) if value is not None else None


def _static_feeds() -> dict[str, WarehouseFeed]:
    from smartprovince.registry import load_modules

    return {f.name: f for m in load_modules() for f in m.warehouse_feeds if isinstance(f, WarehouseFeed)}


def _kept_columns(feed: WarehouseFeed) -> list[tuple[str, str]]:
    return [(c, t) for c, t in feed.columns if c not in feed.personal]


# --- sync ---------------------------------------------------------------------------------------


def _batches(rows: Iterable[Any], names: list[str]) -> Iterator[pd.DataFrame]:
    import pandas as pd

    it = iter(rows)
    while True:
        chunk = list(islice(it, BATCH_ROWS))
        if not chunk:
            return
        if isinstance(chunk[0], Mapping):
            yield pd.DataFrame.from_records([[r.get(n) for n in names] for r in chunk], columns=names)
        else:
            yield pd.DataFrame.from_records(chunk, columns=names)


def _stage(con: duckdb.DuckDBPyConnection, feed: WarehouseFeed, rows: Iterable[Any],
           progress: Progress | None) -> int:
    """Load the feed's rows into the table ``stage`` (typed columns + ``_wh_row`` order); return the count."""
    names = feed.column_names
    kept = _kept_columns(feed)
    cols = ", ".join(f"{_q(c)} {t}" for c, t in kept)
    con.execute(f"CREATE TABLE stage ({cols}, _wh_row BIGINT, _wh_deleted BOOLEAN DEFAULT false)")
    select = ", ".join(f"CAST({_q(c)} AS {t})" for c, t in kept)
    n = 0
    for df in _batches(rows, names):
        con.register("batch", df)
        con.execute(f"INSERT INTO stage SELECT {select}, {n} + row_number() OVER (), false FROM batch")
        con.unregister("batch")
        n += len(df)
        if progress:
            progress(f"Kho phân tích: {feed.name}", done=n, total=None)
    return n


def _write_part(con: duckdb.DuckDBPyConnection, feed: WarehouseFeed, folder: Path, sync_no: int) -> str:
    """Write ``stage`` (one row per key, the last one read) to a new part file; return its file name.

    ``_wh_deleted`` is true on a tombstone (the key was deleted from the source; other columns empty).
    """
    folder.mkdir(parents=True, exist_ok=True)
    name = f"part-{sync_no:08d}-{secrets.token_hex(4)}.parquet"
    tmp = folder / f".{name}.tmp"
    cols = ", ".join(_q(c) for c, _ in _kept_columns(feed))
    key = ", ".join(_q(k) for k in feed.key)
    con.execute(
        f"COPY (SELECT {cols}, CAST({sync_no} AS BIGINT) AS _wh_sync, _wh_deleted FROM stage "
        f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _wh_row DESC) = 1) "
        f"TO {_lit(tmp)} (FORMAT parquet, COMPRESSION zstd)"
    )
    os.replace(tmp, folder / name)
    return name


def _stage_tombstones(con: duckdb.DuckDBPyConnection, feed: WarehouseFeed, keys: Iterable[Any], root: Path,
                      entry: dict[str, Any], staged: int) -> int:
    """Add to ``stage`` a tombstone for every key the warehouse (or this sync) has that ``keys`` lacks.

    ``keys`` are read after the changed rows, so a row changed and then deleted during the sync gets
    its tombstone after its new copy (the last row of a key in ``stage`` wins). Returns the count.
    """
    import pandas as pd

    kept = dict(_kept_columns(feed))
    names = list(feed.key)
    key_cols = ", ".join(f"{_q(k)} {kept[k]}" for k in names)
    key_list = ", ".join(_q(k) for k in names)
    con.execute("DROP TABLE IF EXISTS source_keys")
    con.execute(f"CREATE TABLE source_keys ({key_cols})")
    cast = ", ".join(f"CAST({_q(k)} AS {kept[k]})" for k in names)
    it = iter(keys)
    while chunk := list(islice(it, BATCH_ROWS * 8)):
        columns = list(zip(*chunk, strict=True))  # column lists: much faster than a frame of tuples
        con.register("batch", pd.DataFrame({k: list(columns[i]) for i, k in enumerate(names)}))
        con.execute(f"INSERT INTO source_keys SELECT {cast} FROM batch")
        con.unregister("batch")
    # Keys the warehouse or this sync has that the source lacks: an anti-join over the keys only ...
    stored = f"SELECT {key_list} FROM stage"
    files = "[" + ", ".join(_lit(root / feed.name / p) for p in entry.get("parts", [])) + "]"
    if entry.get("parts"):
        stored += f" UNION ALL SELECT {key_list} FROM read_parquet({files})"
    con.execute(f"CREATE OR REPLACE TEMP TABLE gone AS SELECT DISTINCT {key_list} FROM ({stored}) k "
                f"ANTI JOIN source_keys USING ({key_list})")
    if entry.get("parts"):
        # ... minus those whose newest stored copy is a tombstone already (and not written again by this sync).
        con.execute(
            f"DELETE FROM gone WHERE ({key_list}) IN (SELECT ({key_list}) FROM ("
            f"SELECT {key_list}, _wh_deleted FROM read_parquet({files}) SEMI JOIN gone USING ({key_list}) "
            f"QUALIFY row_number() OVER (PARTITION BY {key_list} ORDER BY _wh_sync DESC) = 1) "
            f"WHERE _wh_deleted) AND ({key_list}) NOT IN (SELECT ({key_list}) FROM stage)")
    count = int(con.execute("SELECT count(*) FROM gone").fetchone()[0])  # type: ignore[index]
    if count:
        con.execute(f"INSERT INTO stage ({key_list}, _wh_row, _wh_deleted) "
                    f"SELECT {key_list}, {staged} + row_number() OVER (), true FROM gone")
    con.execute("DROP TABLE source_keys")
    con.execute("DROP TABLE gone")
    return count


def _remove_files(folder: Path, keep: set[str]) -> None:
    """Delete part files no longer in the state (superseded, or left by a failed sync)."""
    if not folder.exists():
        return
    for p in folder.iterdir():
        if p.name not in keep and (p.suffix == ".parquet" or p.name.endswith(".tmp")):
            with contextlib.suppress(OSError):
                p.unlink()


def sync_warehouse(
    db: Database, settings: Any, *, feeds: Iterable[str] | None = None, full: bool = False,
    progress: Progress | None = None, wait: bool = True, deletions: bool | None = None,
) -> dict[str, int]:
    """Copy what changed since the last sync into the warehouse; return ``{feed: rows written}``.

    ``feeds`` limits the sync to some feeds (by name); ``full`` reads them again from the start and
    replaces what the warehouse had. ``wait=False`` raises :class:`SyncBusy` (409) instead of waiting
    when another process is syncing. Each feed is committed on its own: a failure in one leaves the
    others synced and that one as it was (the error is raised after the other feeds ran).

    ``deletions``: look for rows deleted at the source (feeds with ``keys``) and write tombstones —
    ``True`` now, ``False`` not, ``None`` (default) when the last look is ``DELETIONS_EVERY_SECONDS`` old.
    """
    root = warehouse_dir(settings)
    wanted = set(feeds) if feeds is not None else None
    result: dict[str, int] = {}
    errors: list[tuple[str, BaseException]] = []
    with _sync_lock(root, wait=wait):
        with db.session(write=False) as s:
            available = all_feeds(s)
            source = _source_fingerprint(s)
        if wanted is not None:
            unknown = wanted - set(available)
            if unknown:
                raise ValidationProblem(f"Unknown warehouse feed(s): {', '.join(sorted(unknown))}.")
        state = load_state(root)
        if state.get("source") != source:
            # Another database (a demo reset, a restore): nothing in the warehouse belongs to it any more.
            # The old files become orphans, removed when their feed is next synced.
            state["feeds"] = {}
            state["source"] = source
        con = _connect()  # one DuckDB connection for the whole run (opening one costs ~0.1 s)
        try:
            for name, feed in sorted(available.items()):
                if wanted is not None and name not in wanted:
                    continue
                try:
                    result[name] = _sync_feed(db, con, root, state, feed, full=full, progress=progress,
                                              deletions=deletions)
                except Exception as exc:  # noqa: BLE001 - one broken feed must not stop the others; re-raised
                    log.exception("warehouse sync of %s failed", name)
                    errors.append((name, exc))
        finally:
            con.close()
        if wanted is None:
            # feeds that no longer exist (a dataset was removed): drop their files and state
            for gone in set(state["feeds"]) - set(available):
                del state["feeds"][gone]
                _save_state(root, state)
                _remove_files(root / gone, set())
    if errors:
        raise errors[0][1]
    return result


def _sync_feed(db: Database, con: duckdb.DuckDBPyConnection, root: Path, state: dict[str, Any],
               feed: WarehouseFeed, *, full: bool, progress: Progress | None, deletions: bool | None = None) -> int:
    started = time.monotonic()
    columns = [list(c) for c in _kept_columns(feed)]
    previous = state["feeds"].get(feed.name)
    # Parts written before tombstones existed have no ``_wh_deleted``: such a feed is read again once.
    restart = (full or previous is None or previous.get("columns") != columns or previous.get("key") != list(feed.key)
               or (bool(previous.get("parts")) and not previous.get("tombstones")))
    after = None if restart else previous.get("watermark")
    con.execute("DROP TABLE IF EXISTS stage")
    deleted = 0
    try:
        with db.session(write=False) as s:
            rows, watermark = feed.rows(s, after)
            n = _stage(con, feed, rows, progress)
            checked = None if restart else (previous or {}).get("deletions_checked_at")
            if deletions is None:
                deletions = checked is None or (
                    now() - datetime.fromisoformat(checked)).total_seconds() >= DELETIONS_EVERY_SECONDS
            if restart:
                checked = now().isoformat()  # a full read has no deleted rows
            elif feed.keys is not None and feed.mode == "upsert" and deletions:
                deleted = _stage_tombstones(con, feed, feed.keys(s), root, previous or {}, n)
                checked = now().isoformat()
        sync_no = int(state.get("sync", 0)) + 1
        parts: list[str] = [] if restart or previous is None else list(previous.get("parts", []))
        if n or deleted:
            part = _write_part(con, feed, root / feed.name, sync_no)
            parts = [part] if feed.mode == "replace" else [*parts, part]
            state["sync"] = sync_no
        elif restart and feed.mode == "replace":
            parts = []
        entry = {
            "columns": columns, "key": list(feed.key), "mode": feed.mode, "description": feed.description,
            "watermark": watermark, "parts": parts, "synced_at": now().isoformat(),
            "rows_last_sync": n, "deleted_last_sync": deleted, "tombstones": True, "deletions_checked_at": checked,
            "rows_written": (0 if restart or previous is None else previous.get("rows_written", 0)) + n,
        }
        state["feeds"][feed.name] = entry
        _save_state(root, state)
    finally:
        con.execute("DROP TABLE IF EXISTS stage")
    _remove_files(root / feed.name, set(state["feeds"][feed.name]["parts"]))
    log.info("warehouse feed %s: %d rows, %d deleted, in %.2f s", feed.name, n, deleted, time.monotonic() - started)
    return n


def compact(settings: Any, *, feeds: Iterable[str] | None = None) -> dict[str, int]:
    """Rewrite each feed's parts as one file with one row per key; return ``{feed: rows kept}``."""
    root = warehouse_dir(settings)
    out: dict[str, int] = {}
    with _sync_lock(root, wait=True):
        state = load_state(root)
        for name, entry in sorted(state["feeds"].items()):
            if feeds is not None and name not in set(feeds):
                continue
            if len(entry["parts"]) <= 1:
                out[name] = _count(root, name, entry)
                continue
            sync_no = int(state.get("sync", 0)) + 1
            folder = root / name
            part = f"part-{sync_no:08d}-{secrets.token_hex(4)}.parquet"
            tmp = folder / f".{part}.tmp"
            con = _connect()
            try:
                con.execute(f"COPY (SELECT * REPLACE (CAST({sync_no} AS BIGINT) AS _wh_sync) "
                            f"FROM ({_latest_sql(root, name, entry)})) "
                            f"TO {_lit(tmp)} (FORMAT parquet, COMPRESSION zstd)")
                out[name] = int(con.execute(f"SELECT count(*) FROM read_parquet({_lit(tmp)})").fetchone()[0])  # type: ignore[index]
            finally:
                con.close()
            os.replace(tmp, folder / part)
            entry["parts"] = [part]
            state["sync"] = sync_no
            _save_state(root, state)
            _remove_files(folder, {part})
    return out


def _count(root: Path, name: str, entry: dict[str, Any]) -> int:
    if not entry["parts"]:
        return 0
    con = _connect()
    try:
        return int(con.execute(f"SELECT count(*) FROM ({_latest_sql(root, name, entry)})").fetchone()[0])  # type: ignore[index]
    finally:
        con.close()


# --- read ---------------------------------------------------------------------------------------


def _latest_sql(root: Path, name: str, entry: dict[str, Any]) -> str:
    """SQL of the newest copy of each key over the committed parts (``_wh_sync`` kept), without the
    keys whose newest copy is a tombstone."""
    files = "[" + ", ".join(_lit(root / name / p) for p in entry["parts"]) + "]"
    src = f"read_parquet({files})"
    live = " WHERE NOT _wh_deleted" if entry.get("tombstones") else ""
    if len(entry["parts"]) == 1:
        return f"SELECT * FROM {src}{live}"  # one part: written with one row per key
    key = ", ".join(_q(k) for k in entry["key"])
    latest = f"SELECT * FROM {src} QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _wh_sync DESC) = 1"
    return f"SELECT * FROM ({latest}){live}" if live else latest


def _empty_sql(columns: list[list[str]]) -> str:
    cols = ", ".join(f"CAST(NULL AS {t}) AS {_q(c)}" for c, t in columns)
    return f"SELECT {cols} WHERE false"


_views_cache: dict[Path, tuple[tuple[int, int], dict[str, tuple[list[list[str]], str]]]] = {}


def _views(root: Path) -> dict[str, tuple[list[list[str]], str]]:
    """``{view: (columns, SQL)}`` for every feed: synced ones from the state, the others empty.

    Cached until the state file changes (the KPI engine runs many small queries)."""
    try:
        st = _state_path(root).stat()
        stamp = (st.st_mtime_ns, st.st_size)
    except FileNotFoundError:
        stamp = (0, 0)
    cached = _views_cache.get(root)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    views = _build_views(root)
    _views_cache[root] = (stamp, views)
    return views


def _build_views(root: Path) -> dict[str, tuple[list[list[str]], str]]:
    state = load_state(root)
    views: dict[str, tuple[list[list[str]], str]] = {}
    for name, feed in _static_feeds().items():
        cols = [list(c) for c in _kept_columns(feed)]
        views[name] = (cols, _empty_sql(cols))
    for name, entry in state["feeds"].items():
        cols = entry["columns"]
        if entry["parts"]:
            names = ", ".join(_q(c) for c, _ in cols)
            views[name] = (cols, f"SELECT {names} FROM ({_latest_sql(root, name, entry)})")
        else:
            views[name] = (cols, _empty_sql(cols))
    return views


def warehouse_tables(settings: Any) -> dict[str, list[tuple[str, str]]]:
    """``{view name: [(column, type), …]}`` of every view :func:`warehouse_query` offers."""
    return {name: [(c, t) for c, t in cols] for name, (cols, _) in sorted(_views(warehouse_dir(settings)).items())}


_local = threading.local()


def _query_connection(root: Path) -> duckdb.DuckDBPyConnection:
    """This thread's query connection, made again when the state changes (opening one and creating the
    views costs more than most KPI queries)."""
    views = _views(root)
    cached = getattr(_local, "cons", {}).get(root)
    if cached is not None and cached[0] is views:
        return cached[1]
    if cached is not None:
        cached[1].close()
    con = _new_query_connection(root, views)
    _local.__dict__.setdefault("cons", {})[root] = (views, con)
    return con


def _new_query_connection(root: Path, views: dict[str, tuple[list[list[str]], str]]) -> duckdb.DuckDBPyConnection:
    con = _connect()
    con.execute("SET TimeZone = 'Asia/Ho_Chi_Minh'")
    for name, (_, sql) in views.items():
        con.execute(f"CREATE VIEW {_q(name)} AS {sql}")
    # From here on the connection reads files under the warehouse folder only and cannot be re-opened up.
    con.execute(f"SET allowed_directories = [{_lit(str(root) + os.sep)}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def warehouse_query(settings: Any, sql: str, params: Any = None) -> list[dict[str, Any]]:
    """Run one read-only ``SELECT`` over the warehouse views; return the rows as dicts.

    ``params`` are DuckDB parameters (a list for ``?``, a dict for ``$name``). Instants come back as
    aware UTC datetimes; inside SQL the session time zone is Asia/Ho_Chi_Minh, so ``CAST(received_at
    AS DATE)`` and ``date_trunc('month', received_at)`` give Vietnamese local days and months. Anything
    but a single SELECT (COPY, ATTACH, SET, INSERT …) is refused with a 422, and so is a query that
    fails (unknown column, bad syntax).
    """
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ValidationProblem(f"Bad warehouse query: {exc}") from exc
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise ValidationProblem("A warehouse query is a single SELECT statement.")
    con = _query_connection(warehouse_dir(settings))
    try:
        inner = sql.strip().rstrip(";")
        described = con.execute(f"DESCRIBE {inner}", params).fetchall()
        names = [str(r[0]) for r in described]
        tz_cols = {i for i, r in enumerate(described) if str(r[1]).startswith("TIMESTAMP WITH TIME ZONE")}
        if tz_cols:
            # DuckDB needs pytz to return aware instants; give them as UTC wall time and attach UTC here.
            outer = ", ".join(
                f"timezone('UTC', \"{i}\")" if i in tz_cols else f'"{i}"' for i in range(len(names)))
            renamed = ", ".join(f'"{i}"' for i in range(len(names)))
            inner = f"SELECT {outer} FROM ({inner}) AS _q({renamed})"
        rows = con.execute(inner, params).fetchall()
    except duckdb.Error as exc:
        raise ValidationProblem(f"Bad warehouse query: {exc}") from exc
    out = []
    for row in rows:
        values = list(row)
        for i in tz_cols:
            if values[i] is not None:
                values[i] = values[i].replace(tzinfo=UTC)
        out.append(dict(zip(names, values, strict=True)))
    return out


def status(settings: Any) -> dict[str, Any]:
    """What the warehouse holds: per feed the last sync time, rows last written, parts and watermark."""
    state = load_state(warehouse_dir(settings))
    return {"sync": state.get("sync", 0), "feeds": {
        name: {k: e.get(k) for k in ("synced_at", "rows_last_sync", "rows_written", "watermark")} | {
            "parts": len(e.get("parts", []))} for name, e in sorted(state["feeds"].items())}}


def synced_at(settings: Any) -> datetime | None:
    """When the last sync committed anything (None when never)."""
    times = [e.get("synced_at") for e in load_state(warehouse_dir(settings))["feeds"].values()]
    return max((datetime.fromisoformat(t) for t in times if t), default=None)
