"""Load the reference province's demo data (dữ liệu mẫu) on the first start of ``smartprovince run``.

What ``ensure_demo`` does, in order:

1. loads the organisation tree (dataset ``hai-duong-2023``) with the identity module's loader;
2. creates or updates the built-in roles (``sync_builtin_roles``);
3. creates the demo accounts listed in ``demo/data/accounts.json`` — one per kind of user. Their
   passwords are generated here with :mod:`secrets` (never written in code) and kept in
   ``DATA_DIR/demo-accounts.json``, readable only by the owner (mode 0600);
4. runs the ``demo`` hook of every module manifest, sorted by ``demo_order``.

A module's hook is called as ``hook(db, settings, progress)``; ``progress`` is a
:class:`DemoProgress` that the hook may call as ``progress(message, done=None, total=None)`` to show
how far it is. Loading happens once: when the demo administrator already exists, nothing is done.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from smartprovince import identity
from smartprovince.core.db import Database
from smartprovince.core.security import SYSTEM
from smartprovince.registry import load_modules
from smartprovince.settings import Settings

ACCOUNTS_FILE = "demo-accounts.json"

ROLE_LABELS: dict[str, str] = {
    "admin": "Quản trị hệ thống",
    "provincial_leader": "Lãnh đạo tỉnh",
    "department_leader": "Lãnh đạo sở",
    "district_leader": "Lãnh đạo huyện",
    "onestop_officer": "Cán bộ một cửa",
    "specialist": "Chuyên viên",
    "ioc_operator": "Vận hành IOC",
    "security_analyst": "Phân tích an ninh mạng (SOC)",
    "data_officer": "Cán bộ dữ liệu",
    "citizen": "Công dân",
}


@dataclass
class DemoAccount:
    """One demo account as described in ``demo/data/accounts.json`` (without its password)."""

    username: str
    full_name: str
    kind: str
    role: str
    org_code: str | None = None
    org_name: str | None = None
    cccd: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass
class DemoSpec:
    """The whole demo description: which organisation dataset and which accounts."""

    dataset: str
    accounts: list[DemoAccount] = field(default_factory=list)


def load_spec() -> DemoSpec:
    """Read ``demo/data/accounts.json`` shipped with the package."""
    raw = json.loads(resources.files("smartprovince.demo").joinpath("data/accounts.json").read_text("utf-8"))
    accounts = []
    for item in raw["accounts"]:
        org = item.get("org") or {}
        accounts.append(
            DemoAccount(
                username=item["username"],
                full_name=item["full_name"],
                kind=item["kind"],
                role=item["role"],
                org_code=org.get("code"),
                org_name=org.get("name"),
                cccd=item.get("cccd"),
                email=item.get("email"),
                phone=item.get("phone"),
            )
        )
    return DemoSpec(dataset=raw["dataset"], accounts=accounts)


class DemoProgress:
    """Progress reporting handed to every demo hook: ``progress("message", done, total)``.

    The first call with a new ``message`` starts a new line in the progress display; later calls
    with the same message move its bar. ``total=None`` shows a spinner only.
    """

    def __init__(self, progress: Progress | None, prefix: str = ""):
        self._progress = progress
        self._prefix = prefix
        self._tasks: dict[str, TaskID] = {}

    def child(self, prefix: str) -> DemoProgress:
        """The same display, with each message prefixed by ``prefix`` (the module's name)."""
        child = DemoProgress(self._progress, prefix)
        child._tasks = self._tasks
        return child

    def __call__(self, message: str, done: int | None = None, total: int | None = None) -> None:
        if self._progress is None:
            return
        label = f"{self._prefix}{message}"
        task = self._tasks.get(label)
        if task is None:
            task = self._progress.add_task(label, total=total)
            self._tasks[label] = task
        self._progress.update(task, completed=done if done is not None else 0, total=total)
        if total is not None and done is not None and done >= total:
            self._progress.update(task, completed=total)


def accounts_path(settings: Settings) -> Path:
    """Where the generated demo passwords are kept: ``DATA_DIR/demo-accounts.json``."""
    return settings.data_dir / ACCOUNTS_FILE


def _write_private(path: Path, data: Any) -> None:
    """Write JSON readable by the owner only (0600), created with that mode from the start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_accounts(settings: Settings) -> list[dict[str, Any]]:
    """The demo accounts with their passwords, as saved at first start (empty when not loaded)."""
    path = accounts_path(settings)
    if not path.exists():
        return []
    return list(json.loads(path.read_text("utf-8")).get("accounts", []))


def demo_loaded(db: Database, spec: DemoSpec | None = None) -> bool:
    """True when the demo administrator account already exists in the database."""
    spec = spec or load_spec()
    first = spec.accounts[0].username
    with db.session() as session:
        return session.scalar(select(identity.User.id).where(identity.User.username == first)) is not None


def _find_org(session: Any, account: DemoAccount) -> Any:
    """The account's organisation: by code first, then by exact name; ``None`` when it has none."""
    if account.org_code is None and account.org_name is None:
        return None
    if account.org_code:
        org = identity.get_org_by_code(session, account.org_code)
        if org is not None:
            return org
    if account.org_name:
        org = session.scalars(
            select(identity.Organisation).where(identity.Organisation.name == account.org_name)
        ).first()
        if org is not None:
            return org
    raise LookupError(
        f"Demo account {account.username!r}: organisation {account.org_code!r} / {account.org_name!r} "
        f"is not in the loaded organisation data"
    )


def _create_accounts(session: Any, spec: DemoSpec, progress: DemoProgress) -> list[dict[str, Any]]:
    """Create each demo account with a fresh random password; return them with the passwords."""
    created: list[dict[str, Any]] = []
    total = len(spec.accounts)
    for i, account in enumerate(spec.accounts, start=1):
        org = _find_org(session, account)
        org_id = org.id if org is not None else None
        password = secrets.token_urlsafe(12)
        identity.create_user(
            session,
            actor=SYSTEM,
            username=account.username,
            password=password,
            full_name=account.full_name,
            kind=account.kind,
            org_id=org_id,
            roles=[(account.role, org_id)],
            cccd=account.cccd,
            email=account.email,
            phone=account.phone,
        )
        created.append(
            {
                "username": account.username,
                "password": password,
                "role": account.role,
                "role_label": ROLE_LABELS.get(account.role, account.role),
                "organisation": org.name if org is not None else "—",
                "kind": account.kind,
            }
        )
        progress("Tài khoản mẫu (demo accounts)", i, total)
    return created


def module_hooks() -> list[tuple[int, str, Callable[..., Any]]]:
    """Every module's demo hook with its order, sorted (stable for equal orders)."""
    hooks = [(m.demo_order, m.name, m.demo) for m in load_modules() if m.demo is not None]
    return sorted(hooks, key=lambda h: h[0])


def load_demo(settings: Settings, db: Database, progress: DemoProgress) -> list[dict[str, Any]]:
    """Load all demo data into ``db`` (no check whether it was loaded before); return the accounts.

    Organisations, roles and accounts are written in one transaction; each module's hook then runs
    with the database (hooks open their own transactions).
    """
    spec = load_spec()
    with db.session() as session:
        progress("Tổ chức (organisations)", 0, None)
        identity.load_organisations(session, spec.dataset, actor=SYSTEM)
        progress("Tổ chức (organisations)", 1, 1)
        identity.sync_builtin_roles(session)
        progress("Vai trò (roles)", 1, 1)
        accounts = _create_accounts(session, spec, progress)
    _write_private(accounts_path(settings), {"dataset": spec.dataset, "accounts": accounts})
    for _order, name, hook in module_hooks():
        hook(db, settings, progress.child(f"[{name}] "))
    return accounts


def _progress_display(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def ensure_demo(settings: Settings, console: Console, *, db: Database | None = None) -> bool:
    """Load the demo data when this database has none yet (first start); return True when it loaded.

    The database must already be migrated. Progress is shown on ``console``.
    """
    own_db = db is None
    db = db or Database(settings.db_url)
    try:
        spec = load_spec()
        if demo_loaded(db, spec):
            if not accounts_path(settings).exists():
                console.print(
                    f"[yellow]Demo data is loaded but {accounts_path(settings)} is missing; "
                    "use `smartprovince demo reset` to create new demo passwords.[/yellow]"
                )
            return False
        console.print("[bold]Đang nạp dữ liệu mẫu tỉnh Hải Dương[/bold] (loading demo data, first start)…")
        with _progress_display(console) as display:
            load_demo(settings, db, DemoProgress(display))
        return True
    finally:
        if own_db:
            db.dispose()


def print_accounts(settings: Settings, console: Console) -> None:
    """Print the demo accounts as a table (username, role, organisation, password), then the demo API keys."""
    accounts = read_accounts(settings)
    if not accounts:
        console.print("No demo accounts in this data folder (demo not loaded).")
    else:
        table = Table(title=f"Tài khoản mẫu — demo accounts (kept in {accounts_path(settings)})")
        # Usernames and passwords are copied by hand: never wrap them, squeeze the other columns instead.
        table.add_column("Tên đăng nhập\nusername", no_wrap=True)
        table.add_column("Vai trò\nrole")
        table.add_column("Tổ chức\norganisation")
        table.add_column("Mật khẩu\npassword", no_wrap=True)
        for a in accounts:
            table.add_row(a["username"], a["role_label"], a["organisation"], a["password"])
        console.print(table)
    # API keys that modules' demo hooks issued to demo client applications, one file each
    # (DATA_DIR/<name>-demo-key.txt, mode 0600; the feedback module's Open311 key is "open311").
    for path in sorted(settings.data_dir.glob("*-demo-key.txt")):
        key = path.read_text("utf-8").strip()
        if key:
            name = path.name.removesuffix("-demo-key.txt")
            console.print(f"Khóa API {name} (demo) — {name} API key: {key}  ({path})", soft_wrap=True)


def reset_database(settings: Settings) -> None:
    """Delete every table (PostgreSQL) or the SQLite file, and the saved demo passwords.

    The caller migrates again afterwards. This destroys all data: the CLI asks for confirmation.
    """
    from sqlalchemy import MetaData
    from sqlalchemy.engine import make_url

    url = make_url(settings.db_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        base = Path(url.database)
        for suffix in ("", "-wal", "-shm", "-journal"):
            candidate = base.with_name(base.name + suffix)
            if candidate.exists():
                candidate.unlink()
    else:
        db = Database(settings.db_url)
        try:
            meta = MetaData()
            meta.reflect(db.engine)
            with db.engine.begin() as conn:
                if db.engine.dialect.name == "postgresql":
                    from sqlalchemy import text

                    for table in meta.sorted_tables:
                        conn.execute(text(f'DROP TABLE IF EXISTS "{table.name}" CASCADE'))
                else:
                    meta.drop_all(conn)
        finally:
            db.dispose()
    path = accounts_path(settings)
    if path.exists():
        path.unlink()
