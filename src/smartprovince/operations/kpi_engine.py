"""Chỉ số KPI — the KPI engine of the IOC: KPI definitions as data, computed values per period and area.

A KPI definition (:class:`KpiDefinition`) says *what* to compute, never *how* in code:

* ``formula`` — arithmetic over named **data sources**, e.g.
  ``100 * dossiers.finished_on_time / dossiers.finished``; the names are registered functions
  (:func:`data_source`) that read other modules' figures through public interfaces or events
  (procedures' dossiers and feedback's reports arrive as daily counts fed by the bus; incidents are this
  module's own records), plus ``reference`` — the static value written in the definition itself (the
  figures of the provincial plan, a statistics-office release …);
* ``unit``, ``direction`` (``up``: higher is better; ``down``: lower is better), ``frequency``
  (``year``, ``quarter``, ``month``, ``day``), ``owner`` (the responsible body's code);
* ``targets`` — a list of ``{"period": "2022" | "*", "org": <code> | null, "value": 82.8}``;
* ``amber_band`` — how far (as a share of the target) below an ``up`` target (above a ``down`` one) a value is
  still *amber* rather than *red*;
* ``source_note`` — where the definition and its reference figures come from.

Definitions ship as JSON files in ``kpi_data/`` (loaded by :func:`load_definitions`) and administrators
change them through the API (:func:`define_kpi`). :func:`compute_kpi` evaluates one KPI for one period
and area and stores a :class:`KpiValue` with its status (green / amber / red against the target). When the
status gets worse than the area's previous value, the value is marked as an alarm and the event
``operations.kpi.alarm`` is published (payload: ``code``, ``name``, ``period``, ``org_id``, ``value``,
``target``, ``status``, ``previous_status``).
"""

from __future__ import annotations

import ast
import calendar
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from smartprovince import identity
from smartprovince.core import audit, bus
from smartprovince.core.clock import VN_TZ, now
from smartprovince.core.db import Base, UTCDateTime
from smartprovince.core.errors import NotFound, ValidationProblem
from smartprovince.core.ids import new_id
from smartprovince.core.security import SYSTEM, Actor
from smartprovince.operations.models import Incident

DATA_DIR = Path(__file__).with_name("kpi_data")
READ = "operations.analytics.read"
MANAGE = "operations.kpi.manage"
STATUS_RANK = {"none": 0, "green": 0, "amber": 1, "red": 2}
STATUS_LABELS = {"green": "Đạt", "amber": "Cần chú ý", "red": "Không đạt", "none": "Chưa có mục tiêu"}
FREQUENCIES = ("year", "quarter", "month", "day")


class KpiDefinition(Base):
    """Định nghĩa chỉ số — one KPI: its formula over data sources, unit, direction, targets and owner."""

    __tablename__ = "operations_kpi_definition"

    code: Mapped[str] = mapped_column(String(60), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str] = mapped_column(String(300), default="")
    group: Mapped[str] = mapped_column(String(60), default="")
    unit: Mapped[str] = mapped_column(String(40), default="")
    direction: Mapped[str] = mapped_column(String(4))  # up | down
    frequency: Mapped[str] = mapped_column(String(10))  # year | quarter | month | day
    owner: Mapped[str] = mapped_column(String(64), default="")
    formula: Mapped[str] = mapped_column(Text)
    targets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    reference: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    amber_band: Mapped[float] = mapped_column(Float, default=0.05)
    source_note: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class KpiValue(Base):
    """Giá trị chỉ số — the value of one KPI for one period (``2022``, ``2022-Q3``, ``2022-07``,
    ``2022-07-15``) and one area (``org_id``; ``""`` = the whole province), with its target and status.

    ``alarm`` is true when this value made the status worse than the area's previous value.
    """

    __tablename__ = "operations_kpi_value"
    __table_args__ = (
        UniqueConstraint("kpi_code", "period", "org_id", name="uq_operations_kpi_value_kpi_code"),
        Index("ix_operations_kpi_value_lookup", "kpi_code", "org_id", "period"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kpi_code: Mapped[str] = mapped_column(ForeignKey("operations_kpi_definition.code"))
    period: Mapped[str] = mapped_column(String(10))
    org_id: Mapped[str] = mapped_column(String(32))
    org_path: Mapped[str] = mapped_column(String(1024), default="")
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    target: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(10))
    alarm: Mapped[bool] = mapped_column(Boolean, default=False)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())


# ------------------------------------------------------------------------------------------ periods


@dataclass(frozen=True)
class Period:
    """A reporting period: its ``code`` and the Vietnamese calendar days ``[start, end)`` it covers."""

    code: str
    frequency: str
    start: date
    end: date

    @property
    def since(self) -> datetime:
        """The first instant of the period (Vietnam time), as an aware datetime."""
        return datetime.combine(self.start, time(), tzinfo=VN_TZ)

    @property
    def until(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.end, time(), tzinfo=VN_TZ)


_PERIOD = re.compile(r"^(\d{4})(?:-(Q[1-4]|\d{2})(?:-(\d{2}))?)?$")


def parse_period(code: str) -> Period:
    """Read ``2022`` (year), ``2022-Q3`` (quarter), ``2022-07`` (month) or ``2022-07-15`` (day).

    Raises :class:`ValidationProblem` for anything else.
    """
    m = _PERIOD.match(code or "")
    if not m:
        raise ValidationProblem(f"Kỳ báo cáo không hợp lệ: {code!r} (ví dụ 2022, 2022-Q3, 2022-07, 2022-07-15).")
    year, part, day = int(m.group(1)), m.group(2), m.group(3)
    try:
        if part is None:
            return Period(code, "year", date(year, 1, 1), date(year + 1, 1, 1))
        if part.startswith("Q"):
            if day is not None:
                raise ValueError(code)
            q = int(part[1])
            start = date(year, 3 * q - 2, 1)
            end = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
            return Period(code, "quarter", start, end)
        month = int(part)
        if day is None:
            start = date(year, month, 1)
            return Period(code, "month", start, start + timedelta(days=calendar.monthrange(year, month)[1]))
        start = date(year, month, int(day))
        return Period(code, "day", start, start + timedelta(days=1))
    except ValueError as exc:
        raise ValidationProblem(f"Kỳ báo cáo không hợp lệ: {code!r}.") from exc


def period_of(day: date, frequency: str) -> str:
    """The code of the ``frequency`` period that contains ``day``."""
    if frequency == "year":
        return f"{day.year}"
    if frequency == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    if frequency == "month":
        return f"{day.year}-{day.month:02d}"
    return day.isoformat()


# ------------------------------------------------------------------------------------------ sources


@dataclass
class SourceContext:
    """What a data source is asked for: the KPI, the period and the area (``org`` ``None`` = province).

    ``settings`` locate the warehouse; ``cache`` keeps warehouse answers for one batch of computations
    (one query per source and period serves the province and every area below it).
    """

    kpi: KpiDefinition
    period: Period
    org: Any
    settings: Any = None
    cache: dict[tuple[str, date, date, str], Any] = field(default_factory=dict)


DataSource = Callable[[Session, SourceContext], float | None]
SOURCES: dict[str, DataSource] = {}
SOURCE_LABELS: dict[str, str] = {}
SOURCE_KINDS: dict[str, str] = {}


def data_source(name: str, label: str, kind: str = "code") -> Callable[[DataSource], DataSource]:
    """Register a data source under a dotted ``name`` usable in formulas (``label``: Vietnamese description)."""

    def deco(fn: DataSource) -> DataSource:
        SOURCES[name] = fn
        SOURCE_LABELS[name] = label
        SOURCE_KINDS[name] = kind
        return fn

    return deco


def _match(entries: list[dict[str, Any]], period: str, org_code: str | None) -> float | None:
    """The entry value for (period, org), falling back to the whole province, then to ``*`` periods."""
    for p in (period, "*"):
        for o in ((org_code, None) if org_code else (None,)):
            for e in entries or []:
                if str(e.get("period")) == p and (e.get("org") or None) == o and e.get("value") is not None:
                    return float(e["value"])
    return None


@data_source("reference", "Giá trị tham chiếu ghi trong định nghĩa (số liệu báo cáo, kế hoạch)", "reference")
def _reference(session: Session, ctx: SourceContext) -> float | None:
    return _match(ctx.kpi.reference, ctx.period.code, ctx.org.code if ctx.org is not None else None)


# ------------------------------------------------------------------------------------------ warehouse sources

SOURCE_DIR = DATA_DIR / "sources"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WarehouseQuery:
    """Truy vấn kho dữ liệu — a named SQL query over the data hub's warehouse views, defined as data
    (``kpi_data/sources/*.json``), usable as a data source in KPI formulas.

    The SQL receives ``:period_start`` and ``:period_end`` (the period's first instant and the first
    instant after it, Vietnam time) and ``:org_path`` (the area's path prefix, ``""`` = province), and
    answers rows ``(org_path, value)``: an **additive** figure (a count or a sum) per organisation path.
    The engine adds the rows under an area, so one answer serves the province and every district and
    commune below it. Averages and rates are written in the formula (``sum / count``), never in SQL.

    * ``by_day`` — the rows also carry ``day`` (the Vietnamese calendar day, ``CAST(x AS DATE)``) and the
      figure adds over days too: one query over many months then serves every day, week, month, quarter
      and year inside them (:func:`prefetch`).
    * ``additive`` false — a figure that cannot be added over areas (a count of distinct things) answers
      one row for ``:org_path`` and is asked again for every area and period.
    * ``months`` — a query answering the months the view holds data for (column ``month``; backfill).
    """

    name: str
    label: str
    sql: str
    view: str = ""
    months: str = ""
    additive: bool = True
    by_day: bool = False


WAREHOUSE_QUERIES: dict[str, WarehouseQuery] = {}
Rows = list[tuple[str, Any, float]]  # (org_path, day or None, value)


def _warehouse_call(settings: Any, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Ask the data hub's warehouse (its public interface). A missing warehouse raises :class:`LookupError`."""
    from smartprovince import datahub

    query = getattr(datahub, "warehouse_query", None)
    if query is None:
        raise LookupError("the data hub has no warehouse")
    if settings is None:
        from smartprovince.settings import get_settings

        settings = get_settings()
    used = set(_PARAM.findall(sql))
    return list(query(settings, _PARAM.sub(r"$\1", sql), {k: v for k, v in params.items() if k in used}))


# ``:name`` parameters (as the definitions write them) become DuckDB's ``$name``; ``::`` casts are left alone.
_PARAM = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


def _ask(settings: Any, q: WarehouseQuery, start: date, end: date, path: str) -> Rows | None:
    params = {"period_start": datetime.combine(start, time(), tzinfo=VN_TZ),
              "period_end": datetime.combine(end, time(), tzinfo=VN_TZ), "org_path": path}
    try:
        raw = _warehouse_call(settings, q.sql, params)
    except Exception as exc:  # noqa: BLE001 - any warehouse failure means "no value", never a crash
        log.warning("warehouse query %s failed: %s", q.name, exc)
        return None
    out: Rows = []
    for r in raw:
        day = r.get("day") if q.by_day else None
        if isinstance(day, datetime):
            day = day.astimezone(VN_TZ).date()
        out.append((str(r.get("org_path") or ""), day, float(r.get("value") or 0)))
    return out


def prefetch(cache: dict[Any, Any], settings: Any, names: set[str], start: date, end: date, *,
             exact: bool = False) -> None:
    """Ask the additive queries among ``names`` for the days ``[start, end)`` of the whole province in **one**
    warehouse call (their SQL joined with ``UNION ALL``); computations sharing ``cache`` then read every
    period inside from it. Day-by-day queries serve any period inside; the others only that exact window
    (``exact``). When the joined query fails (a view is missing), each query is asked on its own."""
    qs = [WAREHOUSE_QUERIES[n] for n in sorted(names) if n in WAREHOUSE_QUERIES]
    qs = [q for q in qs if q.additive and (q.by_day or exact) and (q.name, start, end, "") not in cache]
    if not qs:
        return
    parts = []
    for q in qs:
        day = "day" if q.by_day else "CAST(NULL AS DATE)"
        # Names are checked at registration (letters, digits, _ and .); the SQL is the definitions' own.
        parts.append(f"SELECT '{q.name}' AS source, org_path, {day} AS day, value FROM ({q.sql}) AS q")  # noqa: S608
    both = WarehouseQuery(name="_prefetch", label="", sql=" UNION ALL ".join(parts), by_day=True)
    params = {"period_start": datetime.combine(start, time(), tzinfo=VN_TZ),
              "period_end": datetime.combine(end, time(), tzinfo=VN_TZ), "org_path": ""}
    try:
        raw = _warehouse_call(settings, both.sql, params)
    except Exception as exc:  # noqa: BLE001 - ask one by one below
        log.info("joined warehouse query failed (%s); asking each source", exc)
        for q in qs:
            cache[(q.name, start, end, "")] = _ask(settings, q, start, end, "")
        return
    rows: dict[str, Rows] = {q.name: [] for q in qs}
    for r in raw:
        d = r.get("day")
        rows[str(r["source"])].append((str(r.get("org_path") or ""), d.astimezone(VN_TZ).date()
                                       if isinstance(d, datetime) else d, float(r.get("value") or 0)))
    for q in qs:
        cache[(q.name, start, end, "")] = rows[q.name]


def warehouse_rows(ctx: SourceContext, q: WarehouseQuery) -> Rows | None:
    """The rows of ``q`` for the context's period that cover the context's area (``None``: no answer).

    Answers are cached in the context per (query, first day, end day, path): a cached answer covers a
    period inside its days (day-by-day queries) or the same period, and an ancestor's path covers its
    descendants (additive queries).
    """
    want = ctx.org.path if ctx.org is not None else ""
    start, end = ctx.period.start, ctx.period.end
    for key in ((q.name, start, end, want), (q.name, start, end, "")):
        if key in ctx.cache and (key[3] == want or q.additive):
            return ctx.cache[key]  # type: ignore[no-any-return]
    for (name, c_start, c_end, path), rows in list(ctx.cache.items()):
        if name != q.name or not (want == path or (q.additive and want.startswith(path))):
            continue
        if q.by_day and c_start <= start and end <= c_end:
            inside = None
            if rows is not None:
                by_path: dict[str, float] = {}
                for p, d, v in rows:  # the days of the period, added up per organisation
                    if d is not None and start <= d < end:
                        by_path[p] = by_path.get(p, 0.0) + v
                inside = [(p, None, v) for p, v in by_path.items()]
            ctx.cache[(q.name, start, end, path)] = inside  # the next area of this period finds it at once
            return inside
    rows = _ask(ctx.settings, q, start, end, want)
    ctx.cache[(q.name, start, end, want)] = rows
    return rows


def _warehouse_source(q: WarehouseQuery) -> DataSource:
    def read(session: Session, ctx: SourceContext) -> float | None:
        rows = warehouse_rows(ctx, q)
        if rows is None:
            return None
        prefix = ctx.org.path if ctx.org is not None else ""
        if not q.additive:
            return float(sum(v for _, _, v in rows))
        return float(sum(v for p, _, v in rows if p.startswith(prefix)))

    return read


def register_warehouse_query(spec: dict[str, Any]) -> WarehouseQuery:
    """Register one warehouse query (``name``, ``label``, ``sql``; optional ``view``, ``months``, ``additive``)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*", str(spec.get("name", ""))):
        raise ValueError(f"bad warehouse source name {spec.get('name')!r}")
    q = WarehouseQuery(name=str(spec["name"]), label=str(spec.get("label", spec["name"])), sql=str(spec["sql"]),
                       view=str(spec.get("view", "")), months=str(spec.get("months", "")),
                       additive=bool(spec.get("additive", True)), by_day=bool(spec.get("by_day", False)))
    WAREHOUSE_QUERIES[q.name] = q
    data_source(q.name, q.label, "warehouse")(_warehouse_source(q))
    return q


def load_warehouse_queries() -> int:
    """Register every query of ``kpi_data/sources/*.json`` (each file holds a list); returns how many."""
    n = 0
    for path in sorted(SOURCE_DIR.glob("*.json")):
        for spec in json.loads(path.read_text(encoding="utf-8")):
            register_warehouse_query(spec)
            n += 1
    return n


load_warehouse_queries()


# ------------------------------------------------------------------------------------------ formulas

_BINOPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def parse_formula(formula: str) -> tuple[ast.Expression, set[str]]:
    """Check ``formula`` and return its tree and the data-source names it uses.

    Allowed: numbers, registered source names, ``+ - * /``, unary minus and brackets. Anything else
    (function calls, unknown names, comparisons …) raises :class:`ValidationProblem` with the reason.
    """
    try:
        tree = ast.parse(formula or "", mode="eval")
    except SyntaxError as exc:
        raise ValidationProblem(f"Công thức không hợp lệ: {exc.msg}.") from exc
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Expression):
            visit(node.body)
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            visit(node.left)
            visit(node.right)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            visit(node.operand)
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
            pass
        elif (name := _dotted(node)) is not None:
            if name not in SOURCES:
                raise ValidationProblem(f"Nguồn dữ liệu không tồn tại trong công thức: {name}.")
            names.add(name)
        else:
            raise ValidationProblem("Công thức chỉ được dùng số, tên nguồn dữ liệu, + - * / và dấu ngoặc.")

    visit(tree)
    return tree, names


def evaluate(formula: str, values: dict[str, float | None]) -> float | None:
    """Evaluate ``formula`` with the source ``values``; ``None`` when a source has no value or on division by 0."""
    tree, _ = parse_formula(formula)

    def ev(node: ast.AST) -> float | None:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            if a is None or b is None or (isinstance(node.op, ast.Div) and b == 0):
                return None
            return _BINOPS[type(node.op)](a, b)
        if isinstance(node, ast.UnaryOp):
            v = ev(node.operand)
            return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        return values.get(_dotted(node) or "")

    return ev(tree)


# ------------------------------------------------------------------------------------------ status


def status_of(value: float | None, target: float | None, direction: str, amber_band: float) -> str:
    """``green`` when ``value`` meets ``target`` in the KPI's ``direction``; ``amber`` when it misses by at most
    ``amber_band`` × |target|; ``red`` otherwise; ``none`` without a value or a target."""
    if value is None or target is None:
        return "none"
    band = abs(target) * max(amber_band, 0.0)
    if direction == "down":
        return "green" if value <= target else ("amber" if value <= target + band else "red")
    return "green" if value >= target else ("amber" if value >= target - band else "red")


# ------------------------------------------------------------------------------------------ writes

_FIELDS = ("name", "name_en", "group", "unit", "direction", "frequency", "owner", "formula", "targets", "reference",
           "amber_band", "source_note")


def _validate(data: dict[str, Any]) -> None:
    if data.get("direction") not in ("up", "down"):
        raise ValidationProblem("direction phải là 'up' hoặc 'down'.")
    if data.get("frequency") not in FREQUENCIES:
        raise ValidationProblem(f"frequency phải là một trong {', '.join(FREQUENCIES)}.")
    parse_formula(str(data.get("formula", "")))
    for key in ("targets", "reference"):
        for e in data.get(key) or []:
            if str(e.get("period")) != "*":
                parse_period(str(e.get("period")))


def define_kpi(session: Session, *, actor: Actor, code: str, data: dict[str, Any]) -> KpiDefinition:
    """Create or change the KPI ``code`` from ``data`` (the fields of :class:`KpiDefinition`).

    Checks the direction, frequency, formula (only registered sources) and the periods of targets and
    reference values; writes an audit row and publishes ``operations.kpi.defined``.
    """
    _validate(data)
    row = session.get(KpiDefinition, code)
    created = row is None
    if row is None:
        row = KpiDefinition(code=code)
        session.add(row)
    for f in _FIELDS:
        if f in data:
            setattr(row, f, data[f])
    row.updated_at = now()
    session.flush()
    audit.record(session, actor=actor, action="operations.kpi.defined", object_type="operations.kpi",
                 object_id=code, data={"created": created, "formula": row.formula, "targets": row.targets})
    bus.publish(session, "operations.kpi.defined", {"code": code, "created": created}, key=code)
    return row


def _bundled() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(DATA_DIR.glob("*.json")):
        out.extend(json.loads(path.read_text(encoding="utf-8")))
    return out


def bundled_definitions() -> list[dict[str, Any]]:
    """Every KPI definition shipped in ``kpi_data/*.json`` (each file holds a list of definitions)."""
    return [d for d in _bundled() if "unavailable" not in d]


def unavailable_indicators() -> list[dict[str, Any]]:
    """Indicators of the international sets (ISO 37120, ISO 37122, ITU-T Y.4903) the platform cannot compute
    yet, each with ``standard``, ``number``, ``name`` and the reason (``unavailable``); listed on the KPI page."""
    return [d for d in _bundled() if "unavailable" in d]


def load_definitions(session: Session, *, actor: Actor, overwrite: bool = False) -> int:
    """Load the bundled definitions; existing ones are kept unless ``overwrite`` (admins may have edited them).

    Returns how many were written.
    """
    n = 0
    for d in bundled_definitions():
        if overwrite or session.get(KpiDefinition, d["code"]) is None:
            define_kpi(session, actor=actor, code=d["code"], data={k: v for k, v in d.items() if k != "code"})
            n += 1
    return n


def get_definition(session: Session, code: str) -> KpiDefinition:
    """The KPI ``code``, or :class:`NotFound`."""
    row = session.get(KpiDefinition, code)
    if row is None:
        raise NotFound("Không tìm thấy chỉ số.")
    return row


def _org(session: Session, org_id: str | None) -> Any:
    if not org_id:
        return None
    org = identity.get_org(session, org_id)
    if org is None:
        raise NotFound("Không tìm thấy đơn vị.")
    return org


def evaluate_kpi(session: Session, kpi: KpiDefinition, per: Period, org: Any, *, settings: Any = None,
                 cache: dict[Any, Any] | None = None) -> dict[str, Any]:
    """Evaluate ``kpi`` for the period and area without storing anything.

    Returns ``value`` (rounded, ``None`` when a source has no value), ``target``, ``status`` and the
    ``sources`` values. Pass the same ``cache`` to evaluate many areas or KPIs with one warehouse
    query per source and period.
    """
    ctx = SourceContext(kpi=kpi, period=per, org=org, settings=settings, cache=cache if cache is not None else {})
    _, names = parse_formula(kpi.formula)
    values = {n: SOURCES[n](session, ctx) for n in sorted(names)}
    value = evaluate(kpi.formula, values)
    value = None if value is None else round(value, 4)
    target = _match(kpi.targets, per.code, org.code if org is not None else None)
    return {"value": value, "target": target, "status": status_of(value, target, kpi.direction, kpi.amber_band),
            "sources": values}


def compute_kpi(session: Session, *, actor: Actor, code: str, period: str, org_id: str | None = None,
                settings: Any = None, cache: dict[Any, Any] | None = None) -> KpiValue:
    """Compute KPI ``code`` for ``period`` in the area ``org_id`` (``None`` = province) and store the value.

    Reads every source of the formula (warehouse sources through ``settings``), evaluates it, finds the
    target, sets the status, compares it with the area's previous value and, when it got worse, marks an
    alarm and publishes ``operations.kpi.alarm``. Always writes an audit row and publishes
    ``operations.kpi.computed``.
    """
    kpi = get_definition(session, code)
    per = parse_period(period)
    org = _org(session, org_id)
    result = evaluate_kpi(session, kpi, per, org, settings=settings, cache=cache)
    value, target, status = result["value"], result["target"], result["status"]
    key_org = org.id if org is not None else ""
    prev = session.scalars(
        select(KpiValue).where(KpiValue.kpi_code == code, KpiValue.org_id == key_org, KpiValue.period < per.code)
        .order_by(KpiValue.period.desc()).limit(1)
    ).first()
    previous_status = prev.status if prev is not None else "none"
    alarm = STATUS_RANK[status] > STATUS_RANK[previous_status]
    row = session.scalars(
        select(KpiValue).where(KpiValue.kpi_code == code, KpiValue.org_id == key_org, KpiValue.period == per.code)
    ).first()
    if row is None:
        row = KpiValue(kpi_code=code, period=per.code, org_id=key_org)
        session.add(row)
    row.org_path = org.path if org is not None else ""
    row.value, row.target, row.status, row.alarm, row.computed_at = value, target, status, alarm, now()
    session.flush()
    payload = {"code": code, "name": kpi.name, "period": per.code, "org_id": key_org, "value": value,
               "target": target, "status": status, "previous_status": previous_status}
    audit.record(session, actor=actor, action="operations.kpi.computed", object_type="operations.kpi",
                 object_id=code, data={**payload, "sources": result["sources"]}, org_path=row.org_path or None)
    bus.publish(session, "operations.kpi.computed", payload, key=code)
    if alarm:
        bus.publish(session, "operations.kpi.alarm", payload, key=code)
    return row


def child_areas(session: Session, parent_org_id: str | None) -> tuple[Any, list[Any]]:
    """The area ``parent_org_id`` (``None`` = the province, root of the tree) and its active child areas.

    Child areas are the administrative units below it (districts, communes …); bodies and departments
    are not areas.
    """
    Org = identity.Organisation
    if parent_org_id:
        parent = _org(session, parent_org_id)
    else:
        parent = session.scalars(select(Org).where(Org.parent_id.is_(None)).order_by(Org.depth, Org.code)).first()
    if parent is None:
        return None, []
    children = session.scalars(
        select(Org).where(Org.parent_id == parent.id, Org.active.is_(True), Org.level.in_(AREA_LEVELS))
        .order_by(Org.code)
    ).all()
    return parent, list(children)


AREA_LEVELS = ("province", "city", "district", "town", "commune", "ward")


def values_by_area(session: Session, code: str, period: str, parent_org_id: str | None = None, *,
                   settings: Any = None, actor: Actor | None = None) -> dict[str, Any]:
    """The value of KPI ``code`` for ``period`` in an area and in each of its child areas — the wall's drill-down
    (province → districts → communes).

    Evaluated from the sources (the warehouse: one query per source for the whole list), not stored.
    Returns ``{"kpi", "period", "area": {...}, "children": [{...}, ...]}``; each item holds ``org_id``,
    ``code``, ``name``, ``level``, ``value``, ``target``, ``status``. With ``actor``, children outside the
    actor's scope are left out (the area itself must be readable, else :class:`NotFound`).
    """
    kpi = get_definition(session, code)
    per = parse_period(period)
    parent, children = child_areas(session, parent_org_id)
    if actor is not None and parent is not None and parent_org_id and not actor.can(READ, parent.path):
        raise NotFound("Không tìm thấy đơn vị.")
    cache: dict[Any, Any] = {}
    root = parent if parent_org_id else None
    _, names = parse_formula(kpi.formula)
    prefetch(cache, settings, names, per.start, per.end, exact=True)

    def item(org: Any) -> dict[str, Any]:
        r = evaluate_kpi(session, kpi, per, org, settings=settings, cache=cache)
        return {"org_id": org.id if org is not None else "", "code": org.code if org is not None else "",
                "name": org.name if org is not None else (parent.name if parent is not None else ""),
                "level": org.level if org is not None else "province", "value": r["value"],
                "target": r["target"], "status": r["status"]}

    area = item(root)
    rows = [item(c) for c in children if actor is None or actor.can(READ, c.path)]
    return {"kpi": code, "period": per.code, "area": area, "children": rows}


def compute_for_areas(session: Session, *, actor: Actor, code: str, periods: list[str], depth: int = 1,
                      settings: Any = None, cache: dict[Any, Any] | None = None) -> int:
    """Compute and store ``code`` for every period, for the province and its areas ``depth`` levels down
    (1 = districts, 2 = communes too). Returns how many values were stored. The day-by-day sources are
    asked once for all the periods (pass ``cache`` to share the answers with other KPIs)."""
    cache = {} if cache is None else cache
    if periods:
        pers = [parse_period(p) for p in periods]
        _, names = parse_formula(get_definition(session, code).formula)
        missing = {n for n in names if not any(k[0] == n for k in cache)}
        prefetch(cache, settings, missing, min(p.start for p in pers), max(p.end for p in pers))
    return store_values(session, actor=actor, code=code, periods=periods, areas=area_levels(session, depth),
                        settings=settings, cache=cache)


def area_levels(session: Session, depth: int) -> list[Any]:
    """``None`` (the province) and the areas ``depth`` levels below it (1 = districts, 2 = communes too)."""
    _, level = child_areas(session, None)
    areas: list[Any] = [None]
    for _ in range(depth):
        areas.extend(level)
        level = [g for c in level for g in child_areas(session, c.id)[1]]
    return areas


def store_values(session: Session, *, actor: Actor, code: str, periods: list[str], areas: list[Any],
                 settings: Any = None, cache: dict[Any, Any] | None = None) -> int:
    """Compute ``code`` for many periods and areas (``None`` = province) and store the values in bulk — the
    same values, statuses and alarms as :func:`compute_kpi` one by one, written as one import: one audit
    row for the batch, ``operations.kpi.alarm`` for each alarm, one ``operations.kpi.computed`` with the
    counts. Returns how many values were stored."""
    kpi = get_definition(session, code)
    pers = sorted((parse_period(p) for p in set(periods)), key=lambda x: x.code)
    if not pers or not areas:
        return 0
    cache = {} if cache is None else cache
    keys = {(org.id if org is not None else "") for org in areas}
    existing = {(r.org_id, r.period): r for r in session.scalars(
        select(KpiValue).where(KpiValue.kpi_code == code, KpiValue.org_id.in_(keys)))}
    at = now()
    alarms = 0
    for org in areas:
        key = org.id if org is not None else ""
        before = [r for (o, p), r in existing.items() if o == key and p < pers[0].code]
        previous_status = max(before, key=lambda r: r.period).status if before else "none"
        for per in pers:
            result = evaluate_kpi(session, kpi, per, org, settings=settings, cache=cache)
            status = result["status"]
            alarm = STATUS_RANK[status] > STATUS_RANK[previous_status]
            row = existing.get((key, per.code))
            if row is None:
                row = KpiValue(kpi_code=code, period=per.code, org_id=key)
                session.add(row)
                existing[(key, per.code)] = row
            row.org_path = org.path if org is not None else ""
            row.value, row.target, row.status, row.alarm, row.computed_at = (
                result["value"], result["target"], status, alarm, at)
            if alarm:
                alarms += 1
                bus.publish(session, "operations.kpi.alarm", {
                    "code": code, "name": kpi.name, "period": per.code, "org_id": key, "value": result["value"],
                    "target": result["target"], "status": status, "previous_status": previous_status}, key=code)
            previous_status = status
    session.flush()
    n = len(pers) * len(areas)
    summary = {"code": code, "periods": [p.code for p in pers], "areas": len(areas), "values": n, "alarms": alarms}
    audit.record(session, actor=actor, action="operations.kpi.computed", object_type="operations.kpi",
                 object_id=code, data=summary)
    bus.publish(session, "operations.kpi.computed", summary, key=code)
    return n


ALARM_SEVERITY = {"red": "high", "amber": "medium"}
ALARM_RECENT_DAYS = 40


@bus.subscribe("operations.kpi.alarm", name="operations.kpi_alarm_incident")
def on_kpi_alarm(session: Session, event: bus.Event) -> None:
    """A KPI got worse than its previous period: raise it as an IOC event (an incident of category
    ``kpi_alarm`` in the area's unit) so the operators see it on the wall and follow it up.

    Linked by ``kpi_value`` = ``code/period/org`` so a value computed again joins the same incident. Only
    current periods raise one (the period ended less than :data:`ALARM_RECENT_DAYS` ago): a backfill of old
    months marks its alarms on the chart without flooding the operators. Incidents of source ``kpi`` are
    left out of the incident KPIs.
    """
    from smartprovince.operations import service

    p = event.payload if isinstance(event.payload, dict) else {}
    code, period, org_id = str(p.get("code", ""))[:60], str(p.get("period", ""))[:10], str(p.get("org_id") or "")
    if not code or not period:
        return
    try:
        per = parse_period(period)
    except ValidationProblem:
        return
    if per.end < now().astimezone(VN_TZ).date() - timedelta(days=ALARM_RECENT_DAYS):
        return
    value, target = p.get("value"), p.get("target")
    previous = STATUS_LABELS.get(str(p.get("previous_status")), "")
    title = f"Chỉ số «{str(p.get('name') or code)[:200]}» kỳ {period}: {STATUS_LABELS.get(str(p.get('status')), '')}"
    service.open_incident(session, actor=SYSTEM, data=service.IncidentInput(
        source="kpi", category="kpi_alarm", title=title[:300],
        description=f"Giá trị {value} so với mục tiêu {target} (kỳ trước: {previous}).",
        severity=ALARM_SEVERITY.get(str(p.get("status")), "medium"), org_id=org_id[:32] or None,
        links=[("kpi_value", f"{code}/{period}/{org_id}"[:200])],
    ))


# ------------------------------------------------------------------------------------------ reads


def visible(actor: Actor, org_path: str) -> bool:
    """Province-wide values (no area) are visible to every analytics reader; an area's only in scope."""
    return org_path == "" or actor.can(READ, org_path)


def definitions(session: Session) -> list[KpiDefinition]:
    """Every KPI definition, by group then code."""
    return list(session.scalars(select(KpiDefinition).order_by(KpiDefinition.group, KpiDefinition.code)))


def history(session: Session, actor: Actor, code: str, *, org_id: str = "") -> list[KpiValue]:
    """The stored values of ``code`` for one area (``""`` = province), oldest period first."""
    rows = session.scalars(
        select(KpiValue).where(KpiValue.kpi_code == code, KpiValue.org_id == org_id).order_by(KpiValue.period)
    ).all()
    return [r for r in rows if visible(actor, r.org_path)]


def tiles(session: Session, actor: Actor, *, org_id: str = "") -> list[dict[str, Any]]:
    """One tile per KPI for an area: definition, latest value, target, status, trend and the last 12 values."""
    defs = definitions(session)
    rows = session.scalars(select(KpiValue).where(KpiValue.org_id == org_id).order_by(KpiValue.period)).all()
    by_code: dict[str, list[KpiValue]] = {}
    for r in rows:
        if visible(actor, r.org_path):
            by_code.setdefault(r.kpi_code, []).append(r)
    out = []
    for d in defs:
        vals = by_code.get(d.code, [])
        last = vals[-1] if vals else None
        prev = vals[-2] if len(vals) > 1 else None
        trend = None
        if last is not None and prev is not None and last.value is not None and prev.value is not None:
            trend = "up" if last.value > prev.value else ("down" if last.value < prev.value else "flat")
        out.append({"definition": d, "last": last, "trend": trend, "spark": [v.value for v in vals[-12:]]})
    return out


EXPORT_COLUMNS = ("kpi_code", "kpi_name", "unit", "period", "area_code", "area_name", "value", "target", "status",
                  "alarm", "computed_at")


def export_rows(session: Session, actor: Actor, code: str, *, org_id: str | None = None) -> list[dict[str, Any]]:
    """Every stored value of ``code`` the actor may read — all areas, or only ``org_id`` (``""`` = province) —
    by period then area, as flat rows (:data:`EXPORT_COLUMNS`) for CSV / XLSX."""
    d = get_definition(session, code)
    stmt = select(KpiValue).where(KpiValue.kpi_code == code)
    if org_id is not None:
        stmt = stmt.where(KpiValue.org_id == org_id)
    rows = [r for r in session.scalars(stmt.order_by(KpiValue.period, KpiValue.org_path)) if visible(actor, r.org_path)]
    orgs: dict[str, Any] = {}
    for oid in {r.org_id for r in rows if r.org_id}:
        orgs[oid] = identity.get_org(session, oid)
    out = []
    for r in rows:
        org = orgs.get(r.org_id)
        out.append({"kpi_code": d.code, "kpi_name": d.name, "unit": d.unit, "period": r.period,
                    "area_code": org.code if org is not None else "", "area_name": org.name if org is not None else "",
                    "value": r.value, "target": r.target, "status": r.status, "alarm": r.alarm,
                    "computed_at": r.computed_at.astimezone(VN_TZ).isoformat(timespec="seconds")})
    return out


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    """CSV (UTF-8 with BOM so spreadsheet programs read the Vietnamese letters) of :func:`export_rows`."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(EXPORT_COLUMNS), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r[k] is None else r[k]) for k in EXPORT_COLUMNS})
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(rows: list[dict[str, Any]], *, title: str = "KPI") -> bytes:
    """An XLSX workbook (one sheet, typed numbers) of :func:`export_rows`."""
    import io

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None  # noqa: S101 - a new workbook always has a sheet
    ws.title = re.sub(r"[\[\]:*?/\\]", "_", title)[:31] or "KPI"
    ws.append(list(EXPORT_COLUMNS))
    for r in rows:
        ws.append([r[k] for k in EXPORT_COLUMNS])
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------ manifest parts

PERMISSIONS = {
    READ: "Xem chỉ số KPI, bản đồ điểm nóng và dự báo của Trung tâm điều hành",
    MANAGE: "Định nghĩa chỉ số KPI (công thức, mục tiêu) và tính giá trị theo kỳ",
}
ROLE_GRANTS = {
    "provincial_leader": [READ],
    "department_leader": [READ],
    "district_leader": [READ],
    "ioc_operator": [READ],
    "data_officer": [READ, MANAGE],
}


# ------------------------------------------------------------------------------------------ demo

DEMO_SEED = 20221231
# Places where demo incidents gather (lat, lon, spread in degrees, weight, first month it starts, 0 = always):
# the city centre, the Chí Linh industrial area (growing), a flood-prone stretch in Ninh Giang (recent).
DEMO_CLUSTERS = [
    (20.9400, 106.3300, 0.010, 0.22, 0),
    (21.1120, 106.3950, 0.008, 0.12, 5),
    (20.7300, 106.3900, 0.006, 0.08, 10),
]
DEMO_CATEGORIES = ["road_damage", "environment_waste", "flooding", "traffic_accident", "public_order", "air_pollution"]


def _demo_history(session: Session, *, count: int = 3000) -> int:
    """Bulk-insert a year of closed historical incidents (imported records, no timeline) for the analytics."""
    import random

    from sqlalchemy import insert

    if session.scalar(select(func.count()).select_from(Incident).where(Incident.source == "history")):
        return 0
    rnd = random.Random(DEMO_SEED)  # noqa: S311 - demo data, not security
    districts = {}
    from smartprovince.operations.demo import DISTRICTS

    for code in DISTRICTS:
        org = identity.get_org_by_code(session, code)
        if org is not None:
            districts[code] = org
    if not districts:
        return 0
    end = now()
    rows = []
    for _ in range(count):
        age_days = rnd.uniform(0, 365)
        month_index = int((365 - age_days) / 30.4)
        r = rnd.random()
        acc = 0.0
        lat: float | None = None
        lon: float | None = None
        for clat, clon, spread, weight, first in DEMO_CLUSTERS:
            acc += weight
            if r < acc:
                if month_index >= first:
                    lat, lon = rnd.gauss(clat, spread), rnd.gauss(clon, spread)
                break
        code = rnd.choice(list(districts))
        if lat is None or lon is None:
            dlat, dlon, _ = DISTRICTS[code]
            lat, lon = dlat + rnd.uniform(-0.05, 0.05), dlon + rnd.uniform(-0.05, 0.05)
        else:
            here = (lat, lon)
            code = min(DISTRICTS, key=lambda c: (DISTRICTS[c][0] - here[0]) ** 2 + (DISTRICTS[c][1] - here[1]) ** 2)
            code = code if code in districts else next(iter(districts))
        opened = end - timedelta(days=age_days)
        # Weekends are quieter: a weekly rhythm the seasonal forecast should find.
        if opened.astimezone(VN_TZ).weekday() >= 5 and rnd.random() < 0.4:
            opened -= timedelta(days=2)
        resolved = opened + timedelta(hours=rnd.uniform(1, 72))
        org = districts[code]
        rows.append({
            "id": new_id(), "title": "Sự cố đã xử lý (dữ liệu lịch sử)", "description": "", "source": "history",
            "category": rnd.choice(DEMO_CATEGORIES), "severity": rnd.choice(["low", "medium", "medium", "high"]),
            "status": "closed", "lat": lat, "lon": lon, "address": f"{DISTRICTS[code][2]}, Hải Dương",
            "org_id": org.id, "org_path": org.path, "dedup_key": None, "escalations": 0, "opened_at": opened,
            "acknowledged_at": opened + timedelta(minutes=20), "resolved_at": resolved,
            "closed_at": resolved + timedelta(hours=1), "updated_at": resolved + timedelta(hours=1),
        })
    session.execute(insert(Incident), rows)
    return len(rows)


def data_months(settings: Any, names: set[str], *, limit: int = 24,
                known: dict[str, set[str]] | None = None) -> list[str]:
    """The months (at most the last ``limit``) in which the warehouse views behind ``names`` hold data
    (``known`` keeps each view's answer for the next call)."""
    views = {WAREHOUSE_QUERIES[n].view for n in names if n in WAREHOUSE_QUERIES}
    months: set[str] = set()
    known = {} if known is None else known
    for view in sorted(views):
        if view in known:
            months |= known[view]
            continue
        known[view] = set()
        sql = next((w.months for w in WAREHOUSE_QUERIES.values() if w.view == view and w.months), "")
        if not sql:
            continue
        try:
            rows = _warehouse_call(settings, sql, {})
        except Exception as exc:  # noqa: BLE001 - no warehouse, no months
            log.warning("warehouse months of %s failed: %s", view, exc)
            continue
        for r in rows:
            m = r.get("month")
            if isinstance(m, datetime):
                known[view].add(period_of(m.astimezone(VN_TZ).date(), "month"))
        months |= known[view]
    return sorted(months)[-limit:]


def refresh_values(db: Any, settings: Any, *, depth: int = 2, progress: Callable[..., Any] | None = None,
                   recent: int | None = None) -> int:
    """The KPI run: compute and store every warehouse KPI for every month the warehouse has data for (only the
    last ``recent`` of them when given), for the province and its areas ``depth`` levels down (1 = districts,
    2 = communes too: the wall's drill-down reads the stored values). The day-by-day sources are asked once,
    together, for the whole span. Returns how many values were stored."""
    with db.session(write=False) as s:
        defs = [(d.code, d.formula) for d in definitions(s)]
    known: dict[str, set[str]] = {}
    plan: list[tuple[str, list[str]]] = []
    used: set[str] = set()
    for code, formula in defs:
        try:
            _, names = parse_formula(formula)
        except ValidationProblem:
            continue
        if not names or any(SOURCE_KINDS.get(x) != "warehouse" for x in names):
            continue
        months = data_months(settings, names, known=known)
        if recent is not None:
            months = months[-recent:] if recent > 0 else []
        if months:
            plan.append((code, months))
            used |= names
    cache: dict[Any, Any] = {}
    if plan:
        pers = [parse_period(m) for _, months in plan for m in months]
        prefetch(cache, settings, used, min(p.start for p in pers), max(p.end for p in pers))
    with db.session(write=False) as s:
        areas = area_levels(s, depth)
    n = 0
    for i, (code, months) in enumerate(plan, start=1):
        if progress is not None:
            progress("Chỉ số KPI từ kho dữ liệu", i, len(plan))
        with db.session() as s:
            _, names = parse_formula(get_definition(s, code).formula)
            # Distinct counts are asked per area: the backfill keeps them to the province (areas on demand).
            whole = all(WAREHOUSE_QUERIES[x].additive for x in names if x in WAREHOUSE_QUERIES)
            n += store_values(s, actor=SYSTEM, code=code, periods=months, areas=areas if whole else [None],
                              settings=settings, cache=cache)
    return n


def load_demo(db: Any, settings: Any, progress: Callable[..., Any]) -> None:
    """Demo analytics: the bundled KPI definitions, a year of historical incidents (for hotspots and
    forecasts), the reference values, then a warehouse sync and the warehouse KPIs for every month the
    warehouse holds data for (province, districts and communes)."""
    progress("Chỉ số KPI và dữ liệu phân tích", None, None)
    with db.session() as s:
        load_definitions(s, actor=SYSTEM)
        _demo_history(s)
    for kd in bundled_definitions():
        if kd["formula"] != "reference":
            continue
        periods = sorted({str(e["period"]) for e in kd.get("reference", []) if e.get("period") != "*"})
        with db.session() as s:
            for p in periods:
                compute_kpi(s, actor=SYSTEM, code=kd["code"], period=p, settings=settings)
    from smartprovince import datahub

    sync = getattr(datahub, "sync_warehouse", None)
    if sync is not None:
        progress("Đồng bộ kho dữ liệu", None, None)
        try:
            sync(db, settings)
        except Exception as exc:  # noqa: BLE001 - the demo goes on; the KPIs then show "no data"
            log.warning("warehouse sync failed in the demo: %s", exc)
    refresh_values(db, settings, progress=progress)


def with_demo(first: Callable[..., Any] | None) -> Callable[..., Any]:
    """The module's demo hook: ``first`` (the incidents' own demo), then the analytics demo."""

    def load(db: Any, settings: Any, progress: Callable[..., Any]) -> None:
        if first is not None:
            first(db, settings, progress)
        load_demo(db, settings, progress)

    return load
