"""Demo data of the procedures module (dữ liệu mẫu).

1. The catalog: the 25 essential online services of Project 06 (``data/essential_services.json``).
2. History: every dossier of those services received in Hải Dương from 1 January to 15 June 2023,
   with exactly the totals of the adjusted plan, Part III §V.3 (``data/demo_2023h1.json``): e.g.
   permanent residence 51,985 online of 55,029; all services 209,404 online of 270,448. The
   statistics page for that period shows these figures. Dates, agencies and timing (mostly early or
   on time, a few late) are drawn from a fixed random seed, so every load gives the same data.
   These 270 k historical dossiers are bulk-inserted (with their action logs) in a few seconds; they
   are an import of past records, so one audit entry records the import instead of one per dossier,
   and no events are published for them.
3. Live work: a few dozen current dossiers for the demo accounts (one-stop desk of Thị trấn Lai
   Cách, the Department of Justice), made through the normal service functions so their timelines,
   audit entries and events are real; some are late or nearly late.
"""

from __future__ import annotations

import functools
import json
import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from operator import itemgetter
from typing import Any

from sqlalchemy import func, select

from smartprovince.core import audit, calendar, clock
from smartprovince.core.clock import VN_TZ
from smartprovince.core.db import Database
from smartprovince.core.ids import new_id
from smartprovince.core.security import SYSTEM
from smartprovince.procedures import catalog, daily, service
from smartprovince.procedures.models import Dossier, DossierAction, DossierCounter, Procedure
from smartprovince.procedures.service import LOOKUP_ALPHABET

SEED = 20230615
BATCH = 10_000
FIRST_NAMES = ["Nguyễn Văn", "Trần Thị", "Lê Văn", "Phạm Thị", "Hoàng Văn", "Vũ Thị", "Đỗ Văn", "Bùi Thị",
               "Đặng Văn", "Ngô Thị"]
LAST_NAMES = ["An", "Bình", "Cường", "Dung", "Giang", "Hà", "Hải", "Hạnh", "Hùng", "Lan", "Long", "Mai", "Minh",
              "Nam", "Ngọc", "Phương", "Quang", "Sơn", "Thảo", "Trang", "Tuấn", "Yến"]


def demo_figures() -> dict[str, Any]:
    """The plan's table: period and, per procedure code, dossiers received online and in total."""
    raw = resources.files("smartprovince.procedures").joinpath("data/demo_2023h1.json").read_text("utf-8")
    return json.loads(raw)


def _working_days(first: date, last: date) -> list[date]:
    out, d = [], first
    while d <= last:
        if calendar.is_working_day(None, d):
            out.append(d)
        d += timedelta(days=1)
    return out


class _DueCache:
    """Due dates depend only on (receipt day, before/after cutoff, amount, unit): compute each once."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], datetime] = {}

    def due(self, received: datetime, proc: Procedure) -> datetime:
        local = received.astimezone(VN_TZ)
        late = proc.cutoff_hour is not None and local.hour >= proc.cutoff_hour
        key = (local.date(), late, float(proc.processing_time), proc.processing_unit)
        if proc.processing_unit != "working_days":
            return service.timing.compute_due(received, proc.processing_time, proc.processing_unit,
                                              cutoff_hour=proc.cutoff_hour)
        if key not in self._cache:
            self._cache[key] = service.timing.compute_due(received, proc.processing_time, proc.processing_unit,
                                                          cutoff_hour=proc.cutoff_hour)
        return self._cache[key]


def _agencies(
    session: Any, proc: Procedure, communes: list[tuple[str, str | None, str]]
) -> list[tuple[str, str | None, str]]:
    if proc.agency_code:
        return [service.resolve_agency(session, proc, None)]
    return communes


class _Ids:
    """Fast unique ids for bulk rows: one random time-ordered prefix plus a counter (32 hex)."""

    def __init__(self) -> None:
        self.prefix = new_id()[:16]
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"{self.prefix}{self.n:016x}"


def _historical_rows(
    procs: list[Procedure], figures: dict[str, Any], agencies: dict[str, list[tuple[str, str | None, str]]],
    days: list[date], period_end: datetime, rng: random.Random,
    fmt: Callable[[datetime | None], Any] = lambda v: v, empty_json: Any = None,
    stats: daily.Accumulator | None = None,
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Yield (dossier row, action rows) for every historical dossier (all finished and returned by now).

    ``fmt`` turns instants into what the database driver takes and ``empty_json`` is the empty JSON
    object, so that on SQLite the rows are ready for the driver without another pass. ``stats``
    collects each dossier's contribution to the daily statistics table.
    """
    empty = {} if empty_json is None else empty_json
    dues = _DueCache()
    new_row_id = _Ids()
    counters: dict[tuple[str, date], int] = defaultdict(int)
    for proc in procs:
        fig = figures["services"].get(proc.code, {"online": 0, "received": 0})
        total, online = int(fig["received"]), int(fig["online"])
        if total == 0:
            continue
        flags = [True] * online + [False] * (total - online)
        rng.shuffle(flags)
        fee = sum(int(f.get("amount_vnd", 0) or 0) for f in proc.fees or [])
        fee_online = sum(int(f.get("online_amount_vnd", f.get("amount_vnd", 0)) or 0) for f in proc.fees or [])
        places = agencies[proc.code]
        steps = proc.steps or []
        n_days = int(proc.processing_time) if proc.processing_unit == "working_days" else 1
        for is_online in flags:
            day = days[rng.randrange(len(days))]
            agency_code, org_id, path = places[rng.randrange(len(places))]
            minute = rng.randrange(7 * 60 + 30, 16 * 60 + 45)
            submitted = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=VN_TZ).astimezone(UTC)
            received = submitted + timedelta(minutes=rng.randrange(5, 90) if is_online else 0)
            if received >= period_end:
                received = submitted
            due = dues.due(received, proc)
            roll = rng.random()
            if roll < 0.03:  # a few late ones
                finished = due + timedelta(days=rng.randint(1, 4), hours=rng.randint(0, 5))
            elif roll < 0.15:  # on the due day
                finished = due - timedelta(hours=rng.randint(1, 6))
            else:  # early: a share of the allowed time
                span = max((due - received).total_seconds(), 3600.0)
                finished = received + timedelta(seconds=span * rng.uniform(0.15, 0.8))
                if n_days >= 1 and finished.astimezone(VN_TZ).date() >= due.astimezone(VN_TZ).date():
                    finished = due - timedelta(days=1)
            if finished <= received:
                finished = received + timedelta(hours=1)
            finished = finished.replace(second=0, microsecond=0)
            counters[(agency_code, day)] += 1
            seq = counters[(agency_code, day)]
            did = new_row_id()
            # Every historical dossier is finished and returned by now; those finished after the
            # period end still count as open at the period end in the statistics.
            is_finished = True
            returned = finished + timedelta(hours=rng.randint(1, 30))
            status = 10
            has_fee = fee > 0
            # Random draws in the same order as always, so the demo data stays the same.
            lookup_key = "".join(rng.choices(LOOKUP_ALPHABET, k=8))
            applicant_name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            fee_total = (fee_online if is_online else fee) if has_fee else 0
            paid_online = bool(has_fee and is_online and rng.random() < 0.72)
            digitised = is_online or rng.random() < 0.55
            if stats is not None:
                stats.add(daily.Facts(
                    agency_code=agency_code, procedure_code=proc.code, agency_path=path,
                    channel="online" if is_online else "counter", received_at=received, due_at=due,
                    finished_at=finished, closed_at=None, supplement_requests=0, fee_total=fee_total,
                    paid_online=paid_online, digitised=digitised))
            dossier = {
                "id": did, "code": service.format_code(agency_code, day, seq),
                "lookup_key": lookup_key,
                "procedure_id": proc.id, "procedure_code": proc.code, "agency_code": agency_code,
                "agency_org_id": org_id, "agency_path": path, "channel": "online" if is_online else "counter",
                "status": status, "applicant_user_id": None,
                "applicant_name": applicant_name, "applicant_cccd": None,
                "applicant_phone": None, "applicant_email": None, "applicant_address": "", "form_data": empty,
                "note": "", "submitted_at": fmt(submitted), "received_at": fmt(received), "due_at": fmt(due),
                "extended_due_at": None, "finished_at": fmt(finished) if is_finished else None,
                "returned_at": fmt(returned),
                "closed_at": None, "supplement_requested_at": None, "supplement_requests": 0, "supplement_days": 0,
                "current_step": max(len(steps) - 1, 0), "current_unit": steps[-1]["unit"] if steps else "",
                "claimed_by": None, "claimed_by_name": "", "claimed_at": None,
                "fee_total": fee_total,
                "fee_paid": fee_total if is_finished else 0,
                "paid_online": paid_online,
                "digitised": digitised,
                "return_method": ("electronic" if is_online else "counter") if returned else None,
                "result_note": "", "version": 1,
            }
            verbs = [("submit", None, 1, submitted), ("receive", 1, 2, received),
                     ("forward", 2, 4, received + timedelta(minutes=30))]
            if is_finished:
                verbs.append(("finish", 4, 9, finished))
            if returned:
                verbs.append(("return_result", 9, 10, returned))
            actions = [
                {"id": new_row_id(), "dossier_id": did, "seq": i + 1, "verb": v, "from_status": a, "to_status": b,
                 "actor_id": None, "actor_name": "Dữ liệu lịch sử", "at": fmt(at), "note": "", "data": empty}
                for i, (v, a, b, at) in enumerate(verbs)
            ]
            yield dossier, actions
    yield {"__counters__": counters}, []


class _SqliteRows:
    """Turn row dicts into driver tuples in SQLite's text format (the one SQLAlchemy writes), fast.

    Each column gets its converter once; datetimes are formatted through a cache because the demo's
    instants repeat a lot (rounded to the minute).
    """

    def __init__(self, table: Any) -> None:
        from sqlalchemy import JSON, Date

        from smartprovince.core.db import UTCDateTime

        self.cols = [c.name for c in table.columns]
        self.sql = (f"INSERT INTO {table.name} ({', '.join(self.cols)}) "  # noqa: S608 - our own table's names
                    f"VALUES ({', '.join('?' for _ in self.cols)})")
        self._dt_cache: dict[datetime, str] = {}
        convs: list[Callable[[Any], Any] | None] = []
        for c in table.columns:
            if isinstance(c.type, UTCDateTime):
                convs.append(self._dt)
            elif isinstance(c.type, JSON):
                convs.append(self._json)
            elif isinstance(c.type, Date):
                convs.append(lambda v: v.isoformat() if v is not None else None)
            else:
                convs.append(None)
        self.plan = list(zip(self.cols, convs, strict=True))

    def _dt(self, v: datetime | None) -> str | None:
        if v is None:
            return None
        out = self._dt_cache.get(v)
        if out is None:
            out = v.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
            if len(self._dt_cache) < 500_000:
                self._dt_cache[v] = out
        return out

    @staticmethod
    def _json(v: Any) -> str:
        return "{}" if not v else json.dumps(v, ensure_ascii=False)

    def tuples(self, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        plan = self.plan
        return [tuple(r.get(c) if f is None else f(r.get(c)) for c, f in plan) for r in rows]


def _identity(value: datetime | None) -> datetime | None:
    return value


def _shifted(at: datetime, delta: timedelta) -> datetime:
    """A frozen clock reading ``at + delta`` (demo history is written as of past instants)."""
    return at + delta


_CONVERTERS: dict[str, _SqliteRows] = {}


def _bulk_insert(session: Any, model: Any, rows: list[dict[str, Any]], *, ready: bool = False) -> None:
    """Insert many rows fast: on SQLite straight to the driver's ``executemany``; elsewhere a Core
    executemany (psycopg batches it)."""
    table = model.__table__
    if session.get_bind().dialect.name != "sqlite":
        session.execute(table.insert(), rows)
        return
    conv = _CONVERTERS.setdefault(table.name, _SqliteRows(table))
    if ready:  # values already in SQLite's text format
        session.connection().exec_driver_sql(conv.sql, list(map(itemgetter(*conv.cols), rows)))
    else:
        session.connection().exec_driver_sql(conv.sql, conv.tuples(rows))


def load_history(db: Database, progress: Callable[..., Any] | None = None) -> int:
    """Bulk-insert the 1 Jan – 15 Jun 2023 dossiers of the 25 services; returns how many were written."""
    from smartprovince import identity

    figures = demo_figures()
    first = date.fromisoformat(figures["period"]["from"])
    last = date.fromisoformat(figures["period"]["to"])
    period_end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=VN_TZ).astimezone(UTC)
    total = sum(int(v["received"]) for v in figures["services"].values())
    rng = random.Random(SEED)  # noqa: S311 - reproducible demo data, not security
    with db.session() as s:
        procs = list(s.scalars(
            select(Procedure)
            .where(Procedure.is_current.is_(True), Procedure.is_essential.is_(True), Procedure.superseded_by.is_(None))
            .order_by(Procedure.sort_order)))
        communes: list[tuple[str, str | None, str]] = [(o.code, o.id, o.path) for o in s.scalars(
            select(identity.Organisation).where(identity.Organisation.level == "commune")
            .order_by(identity.Organisation.code))]
        if not communes:
            communes = [("xa-mau", None, "")]
        agencies = {p.code: _agencies(s, p, communes) for p in procs}
    days = _working_days(first, last)
    done = 0
    counters: dict[tuple[str, date], int] = {}
    dossiers: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []

    def flush() -> None:
        if not dossiers:
            return
        with db.session() as s:
            _bulk_insert(s, Dossier, dossiers, ready=sqlite)
            _bulk_insert(s, DossierAction, actions, ready=sqlite)
        dossiers.clear()
        actions.clear()

    sqlite = db.is_sqlite
    fmt: Callable[[datetime | None], Any] = _identity
    if sqlite:
        fmt = _CONVERTERS.setdefault(Dossier.__tablename__, _SqliteRows(Dossier.__table__))._dt
    stats = daily.Accumulator()
    rows_iter = _historical_rows(procs, figures, agencies, days, period_end, rng, fmt=fmt,
                                 empty_json="{}" if sqlite else None, stats=stats)
    for row, acts in rows_iter:
        if "__counters__" in row:
            counters = row["__counters__"]
            continue
        dossiers.append(row)
        actions.extend(acts)
        if len(dossiers) >= BATCH:
            flush()
            done += BATCH
            if progress:
                progress("Hồ sơ TTHC 01/01–15/6/2023", done, total)
    done += len(dossiers)
    flush()
    with db.session() as s:
        rows = [{"agency_code": a, "day": d, "last_seq": n} for (a, d), n in counters.items()]
        for i in range(0, len(rows), BATCH):
            _bulk_insert(s, DossierCounter, rows[i:i + BATCH])
        # The rows bypassed the ORM, so the daily statistics get their contributions here.
        stats.write(s)
        audit.record(s, actor=SYSTEM, action="procedures.demo.history_loaded", object_type="procedures.dossier",
                     object_id="demo-2023h1", data={"dossiers": done, "period": figures["period"]})
    if progress:
        progress("Hồ sơ TTHC 01/01–15/6/2023", done, total)
    return done


def _with_clock(at: datetime) -> Callable[[], None]:
    clock.set_clock(lambda: at)
    return lambda: clock.set_clock(None)


def load_live_work(db: Database) -> int:
    """Current dossiers for the demo accounts, made through the service functions (real timelines)."""
    from smartprovince import identity

    with db.session() as s:
        def actor(username: str) -> Any:
            user = identity.get_user_by_username(s, username)
            return identity.actor_for_user(s, user) if user else None

        citizen, desk, leader = actor("congdan"), actor("motcua.xa"), actor("lanhdao.huyen")
        desk_org = identity.get_org(s, desk.org_id) if desk is not None and desk.org_id else None
        if desk_org is None or desk_org.level != "commune" or citizen is None or desk is None:
            return 0
        desk_code, desk_path = desk_org.code, desk_org.path
    if leader is not None and not leader.can("procedures.dossier.approve", desk_path):
        leader = None  # the demo district leader does not lead this commune's district
    real_now = clock.now()
    made = 0
    # (procedure, received by the commune desk?, hours ago submitted, steps). The Department of
    # Justice's dossiers stay waiting at its desk (no demo account works there; the specialist sees them).
    plan = [
        ("1.001193", True, 2, []), ("1.000894", True, 5, []), ("1.000656", True, 20, []),
        ("1.001193", True, 30, ["receive", "forward"]), ("1.000894", True, 50, ["receive", "forward"]),
        ("1.001193", True, 80, ["receive", "forward"]), ("1.000656", True, 120, ["receive", "forward"]),
        ("1.001193", True, 8, ["receive", "supplement?"]), ("1.000894", True, 26, ["receive", "forward", "finish"]),
        ("HD-06-15", False, 300, ["receive", "forward"]), ("HD-06-15", False, 200, ["receive", "forward"]),
        ("HD-06-15", False, 24, []),
    ]
    for code, commune, hours, steps in plan:
        at = real_now - timedelta(hours=hours)
        restore = _with_clock(at)
        try:
            with db.session() as s:
                d = service.submit_dossier(s, actor=citizen, submission=service.Submission(
                    procedure_code=code, agency_code=desk_code if commune else None,
                    applicant=service.Applicant(name="Nguyễn Thị Hoa", cccd="030190001234", phone="0912345678"),
                    note="Hồ sơ mẫu"))
                did = d.id
            officer = desk
            for i, step in enumerate(steps if commune else []):
                clock.set_clock(functools.partial(_shifted, at, timedelta(minutes=20 * (i + 1))))
                with db.session() as s:
                    if step == "finish":
                        if leader is None:
                            continue
                        service.claim_dossier(s, actor=leader, dossier_id=did)
                        service.finish_dossier(s, actor=leader, dossier_id=did, result_note="Đã ký kết quả")
                        continue
                    if step == "supplement?":
                        service.claim_dossier(s, actor=officer, dossier_id=did)
                        service.request_supplement(s, actor=officer, dossier_id=did,
                                                   reason="Bổ sung bản chụp giấy chứng sinh rõ nét")
                        continue
                    service.claim_dossier(s, actor=officer, dossier_id=did)
                    getattr(service, {"receive": "receive_dossier", "forward": "forward_dossier"}[step])(
                        s, actor=officer, dossier_id=did)
            made += 1
        finally:
            restore()
    return made


def load(db: Database, settings: Any, progress: Callable[..., Any]) -> None:
    """The module's demo hook: catalog, the 2023 history, current work."""
    with db.session() as s:
        catalog.load_essential_services(s, actor=SYSTEM)
        already = s.scalar(select(func.count()).select_from(Dossier))
    progress("Danh mục 25 dịch vụ công thiết yếu", 25, 25)
    if already:
        return
    load_history(db, progress)
    load_live_work(db)
    progress("Hồ sơ đang xử lý (live demo)", 1, 1)
