"""Load an organisation tree (cây tổ chức) from a CSV file or a shipped dataset.

A file has one organisation per line with the columns ``code, name, level, parent_code`` (the
header line names them; other columns such as ``unit_type`` or ``short_name`` are kept too). The
codes of administrative units are the statistics office's codes (mã đơn vị hành chính); bodies and
departments use a stable slug such as ``so-y-te``. The shipped datasets are listed in
``identity/data/datasets.json`` (see ``identity/data/README.md`` for their sources and licences).

Loading is idempotent: an organisation is matched by its code, created when missing and updated
when its name, level, parent or extra columns differ. Loading the same file twice changes nothing
the second time. The whole file is checked before anything is written: an unknown parent, a
duplicate code, a bad level or a cycle raises :class:`OrganisationFileError` naming every bad line,
and nothing is written.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartprovince.core.errors import ValidationProblem
from smartprovince.core.ids import new_id
from smartprovince.core.security import Actor
from smartprovince.identity.areas import areas_exist, rebuild_areas
from smartprovince.identity.events import record_change
from smartprovince.identity.models import ORG_LEVELS, Organisation

REQUIRED_COLUMNS = ("code", "name", "level")
KNOWN_COLUMNS = ("code", "name", "level", "parent_code", "short_name")
MAX_REPORTED_ERRORS = 50
_CHUNK = 500

Progress = Callable[[int, int], Any]
"""``progress(done, total)`` is called while a file loads (for a progress bar)."""


class OrganisationFileError(ValidationProblem):
    """The organisation file is not valid; ``errors`` lists ``{"line": n, "message": …}``; nothing was written."""

    title = "Invalid organisation file"


@dataclass(frozen=True)
class Dataset:
    """A dataset shipped with the platform (bộ dữ liệu tổ chức có sẵn)."""

    name: str
    file: str
    title: str
    title_en: str = ""
    as_of: str = ""
    source: str = ""
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class OrgRow:
    """One checked line of an organisation file."""

    line: int
    code: str
    name: str
    level: str
    parent_code: str | None
    short_name: str | None
    attributes: dict[str, str]


@dataclass
class LoadResult:
    """What a load did: how many organisations were created, updated or left as they were."""

    source: str
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    created_codes: list[str] = field(default_factory=list)
    updated_codes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


def _data_dir() -> Any:
    return resources.files("smartprovince.identity").joinpath("data")


def list_datasets() -> list[Dataset]:
    """Every dataset shipped in ``identity/data`` (read from ``datasets.json``), sorted by name."""
    raw = json.loads(_data_dir().joinpath("datasets.json").read_text("utf-8"))
    out = []
    for name, spec in raw.items():
        out.append(
            Dataset(
                name=name,
                file=spec["file"],
                title=spec.get("title", name),
                title_en=spec.get("title_en", ""),
                as_of=spec.get("as_of", ""),
                source=spec.get("source", ""),
                aliases=tuple(spec.get("aliases", ())),
            )
        )
    return sorted(out, key=lambda d: d.name)


def find_dataset(name: str) -> Dataset | None:
    """The shipped dataset called ``name`` (or with ``name`` among its aliases), else None."""
    for ds in list_datasets():
        if name == ds.name or name in ds.aliases:
            return ds
    return None


def read_source(source: str | Path) -> tuple[str, str]:
    """Return ``(label, text)`` for a dataset name or a path to a CSV file.

    Raises :class:`OrganisationFileError` when ``source`` is neither a known dataset nor a readable file.
    """
    if isinstance(source, str):
        ds = find_dataset(source)
        if ds is not None:
            return ds.name, _data_dir().joinpath(ds.file).read_text("utf-8-sig")
    path = Path(source)
    if not path.is_file():
        names = ", ".join(d.name for d in list_datasets())
        raise OrganisationFileError(
            f"'{source}' is neither a dataset ({names}) nor a readable file.",
            errors=[{"line": 0, "message": "unknown dataset or file"}],
        )
    try:
        return str(path), path.read_text("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise OrganisationFileError(
            f"{path} is not UTF-8 text.", errors=[{"line": 0, "message": "the file must be UTF-8"}]
        ) from exc


def parse_rows(text: str) -> list[OrgRow]:
    """Parse and check the CSV text on its own (header, levels, duplicate codes, cycles).

    Parents are checked against the database later, in :func:`load_organisations`.
    """
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise OrganisationFileError(
            f"Line 1: the header must name the columns {', '.join(REQUIRED_COLUMNS)} (missing: {', '.join(missing)}).",
            errors=[{"line": 1, "message": f"missing columns: {', '.join(missing)}"}],
        )
    reader.fieldnames = header
    errors: list[dict[str, Any]] = []
    rows: list[OrgRow] = []
    seen: dict[str, int] = {}
    for raw in reader:
        line = reader.line_num
        if None in raw:  # more cells than header columns
            errors.append({"line": line, "message": "more cells than the header has columns"})
            continue
        values = {k: (v or "").strip() for k, v in raw.items()}
        if not any(values.values()):
            continue  # blank line
        code, name, level = values.get("code", ""), values.get("name", ""), values.get("level", "")
        parent = values.get("parent_code") or None
        problems = []
        if not code:
            problems.append("the code is empty")
        elif len(code) > 64:
            problems.append("the code is longer than 64 characters")
        if not name:
            problems.append("the name is empty")
        elif len(name) > 255:
            problems.append("the name is longer than 255 characters")
        if level not in ORG_LEVELS:
            problems.append(f"level '{level}' is not one of {', '.join(ORG_LEVELS)}")
        if code and code in seen:
            problems.append(f"code '{code}' is already used on line {seen[code]}")
        if code and parent == code:
            problems.append("an organisation cannot be its own parent")
        if problems:
            errors.extend({"line": line, "message": p} for p in problems)
            continue
        seen[code] = line
        extra = {k: v for k, v in values.items() if k not in KNOWN_COLUMNS and v}
        rows.append(OrgRow(line, code, name, level, parent, values.get("short_name") or None, extra))
    errors.extend(_cycle_errors(rows))
    if errors:
        _raise(errors)
    return rows


def _cycle_errors(rows: list[OrgRow]) -> list[dict[str, Any]]:
    parent_of = {r.code: r.parent_code for r in rows}
    line_of = {r.code: r.line for r in rows}
    errors = []
    reported: set[str] = set()
    for start in parent_of:
        seen: list[str] = []
        code: str | None = start
        while code is not None and code in parent_of and code not in seen:
            seen.append(code)
            code = parent_of[code]
        if code is not None and code in seen and code not in reported:
            cycle = seen[seen.index(code) :]
            reported.update(cycle)
            errors.append({"line": line_of[code], "message": f"the parents form a cycle: {' → '.join([*cycle, code])}"})
    return errors


def _raise(errors: list[dict[str, Any]]) -> None:
    errors = sorted(errors, key=lambda e: e["line"])
    first = errors[0]
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    raise OrganisationFileError(
        f"Line {first['line']}: {first['message']}{more}. Nothing was written.",
        errors=errors[:MAX_REPORTED_ERRORS],
    )


def _topological(rows: list[OrgRow]) -> list[OrgRow]:
    """Parents before their children (parents outside the file count as already there)."""
    by_code = {r.code: r for r in rows}
    depth: dict[str, int] = {}

    def depth_of(code: str) -> int:
        chain = []
        c: str | None = code
        while c is not None and c in by_code and c not in depth:
            chain.append(c)
            c = by_code[c].parent_code
        base = depth[c] + 1 if c is not None and c in depth else 0
        for i, item in enumerate(reversed(chain)):
            depth[item] = base + i
        return depth[code]

    return sorted(rows, key=lambda r: (depth_of(r.code), r.line))


def _existing_by_code(session: Session, codes: Iterable[str]) -> dict[str, Organisation]:
    codes = list(codes)
    found: dict[str, Organisation] = {}
    for i in range(0, len(codes), _CHUNK):
        chunk = codes[i : i + _CHUNK]
        for org in session.scalars(select(Organisation).where(Organisation.code.in_(chunk))):
            found[org.code] = org
    return found


def _audit_and_publish(session: Session, actor: Actor, org: Organisation, verb: str, data: dict[str, Any]) -> None:
    record_change(
        session,
        actor=actor,
        topic=f"identity.organisation.{verb}",
        object_type="organisation",
        object_id=org.id,
        data=data,
        org_path=org.path,
    )


def load_organisations(
    session: Session,
    source: str | Path,
    *,
    actor: Actor,
    progress: Progress | None = None,
) -> LoadResult:
    """Create or update the organisations of ``source`` (a dataset name or a CSV path); return the counts.

    Every created or changed organisation gets an audit row and an ``identity.organisation.created``
    / ``.updated`` event in the caller's transaction. Nothing is written when the file is invalid.
    """
    label, text = read_source(source)
    rows = _topological(parse_rows(text))
    total = len(rows)
    file_codes = {r.code for r in rows}
    outside_parents = {r.parent_code for r in rows if r.parent_code and r.parent_code not in file_codes}
    existing = _existing_by_code(session, file_codes | outside_parents)
    unknown = [r for r in rows if r.parent_code and r.parent_code not in file_codes and r.parent_code not in existing]
    if unknown:
        _raise([{"line": r.line, "message": f"parent code '{r.parent_code}' is unknown"} for r in unknown])

    if existing:
        cycles = _tree_cycle_errors(session, rows)
        if cycles:
            _raise(cycles)

    result = LoadResult(source=label, total=total)
    by_code = dict(existing)
    moved = False
    if progress:
        progress(0, total)
    for i, row in enumerate(rows, start=1):
        parent = by_code[row.parent_code] if row.parent_code else None
        parent_id = parent.id if parent else None
        depth = parent.depth + 1 if parent else 0
        org = by_code.get(row.code)
        if org is None:
            org_id = new_id()
            org = Organisation(
                id=org_id,
                code=row.code,
                name=row.name,
                short_name=row.short_name,
                level=row.level,
                parent_id=parent_id,
                path=f"{parent.path if parent else '/'}{org_id}/",
                depth=depth,
                active=True,
                attributes=dict(row.attributes),
            )
            session.add(org)
            by_code[row.code] = org
            result.created += 1
            result.created_codes.append(row.code)
            _audit_and_publish(session, actor, org, "created", _snapshot(org, row.parent_code))
        else:
            changes = _apply(org, row, parent, depth)
            if changes:
                moved = moved or "parent_code" in changes
                result.updated += 1
                result.updated_codes.append(row.code)
                _audit_and_publish(
                    session, actor, org, "updated", {**_snapshot(org, row.parent_code), "changes": changes}
                )
            else:
                result.unchanged += 1
        if progress and (i % 50 == 0 or i == total):
            progress(i, total)
    session.flush()
    if moved:
        _recompute_paths(session)
    if result.changed or not areas_exist(session):
        rebuild_areas(session)  # commune cells and district outlines follow the tree (identity/areas.py)
    return result


def _tree_cycle_errors(session: Session, rows: list[OrgRow]) -> list[dict[str, Any]]:
    """Cycles the file would make together with the organisations already in the database.

    Example: the database has A → B; a file that puts A under B (and does not mention B) would make
    A its own ancestor.
    """
    current = session.execute(select(Organisation.id, Organisation.code, Organisation.parent_id)).all()
    code_of_id = {r.id: r.code for r in current}
    parent: dict[str, str | None] = {r.code: code_of_id.get(r.parent_id) if r.parent_id else None for r in current}
    for row in rows:
        parent[row.code] = row.parent_code
    errors = []
    for row in rows:
        seen = {row.code}
        code = parent.get(row.code)
        while code is not None:
            if code in seen:
                errors.append(
                    {
                        "line": row.line,
                        "message": f"with the organisations already loaded, '{row.code}' "
                        "would become its own ancestor (cycle)",
                    }
                )
                break
            seen.add(code)
            code = parent.get(code)
    return errors


def _snapshot(org: Organisation, parent_code: str | None) -> dict[str, Any]:
    return {"code": org.code, "name": org.name, "level": org.level, "parent_code": parent_code}


def _apply(org: Organisation, row: OrgRow, parent: Organisation | None, depth: int) -> dict[str, Any]:
    """Bring ``org`` in line with ``row``; return ``{field: [old, new]}`` for what changed."""
    changes: dict[str, Any] = {}
    parent_id = parent.id if parent else None
    if org.name != row.name:
        changes["name"] = [org.name, row.name]
        org.name = row.name
    if org.level != row.level:
        changes["level"] = [org.level, row.level]
        org.level = row.level
    if row.short_name is not None and org.short_name != row.short_name:
        changes["short_name"] = [org.short_name, row.short_name]
        org.short_name = row.short_name
    merged = {**(org.attributes or {}), **row.attributes}
    if merged != (org.attributes or {}):
        changes["attributes"] = [org.attributes, merged]
        org.attributes = merged
    if org.parent_id != parent_id:
        old_parent = org.parent.code if org.parent is not None else None
        changes["parent_code"] = [old_parent, row.parent_code]
        org.parent_id = parent_id
        org.path = f"{parent.path if parent else '/'}{org.id}/"
        org.depth = depth
    if not org.active:
        changes["active"] = [False, True]
        org.active = True
    return changes


def _recompute_paths(session: Session) -> None:
    """Rebuild every materialised path and depth from the parent links (after a unit moved)."""
    rows = session.execute(select(Organisation.id, Organisation.parent_id, Organisation.path, Organisation.depth)).all()
    children: dict[str | None, list[str]] = {}
    current = {r.id: (r.path, r.depth) for r in rows}
    for r in rows:
        children.setdefault(r.parent_id, []).append(r.id)
    stack: list[tuple[str, str, int]] = [(oid, "/", 0) for oid in children.get(None, [])]
    wanted: dict[str, tuple[str, int]] = {}
    while stack:
        oid, prefix, depth = stack.pop()
        path = f"{prefix}{oid}/"
        wanted[oid] = (path, depth)
        stack.extend((child, path, depth + 1) for child in children.get(oid, []))
    for oid, (path, depth) in wanted.items():
        if current[oid] != (path, depth):
            org = session.get(Organisation, oid)
            if org is not None:
                org.path = path
                org.depth = depth
    session.flush()
