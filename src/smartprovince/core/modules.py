"""Module manifest: what each module plugs into the platform (Decidim-style, one object per module)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class NavLink:
    """A link in a face's navigation: ``face`` is portal, console, ioc or admin."""

    face: str
    label: str  # Vietnamese; translated through the i18n catalog
    href: str
    permission: str | None = None


@dataclass
class Module:
    """Manifest of one module.

    ``api_routers`` are mounted under ``/api/v1``; ``page_routers`` at the root. ``permissions`` maps
    permission code → Vietnamese description. ``demo`` loads the module's demo data
    (``fn(db, settings, progress)``). ``cli`` is a Typer app mounted as ``smartprovince <name>``, or
    its place as ``"package.module:attribute"``, imported only when the command line is built (an API
    process then never imports Typer and Rich); the same for the values of ``extra_cli``.
    ``on_startup`` runs once when the app starts (e.g. connect an MQTT listener).
    """

    name: str
    title: str
    api_routers: list[Any] = field(default_factory=list)
    page_routers: list[Any] = field(default_factory=list)
    raw_routers: list[Any] = field(default_factory=list)  # mounted at their own prefix (e.g. /sta/v1.1)
    permissions: dict[str, str] = field(default_factory=dict)
    # built-in role code -> permissions of this module that the role gets (identity merges them)
    role_grants: dict[str, list[str]] = field(default_factory=dict)
    nav: list[NavLink] = field(default_factory=list)
    demo: Callable[..., Any] | None = None
    demo_order: int = 100
    cli: Any = None
    extra_cli: dict[str, Any] = field(default_factory=dict)  # more top-level command groups: name -> Typer
    on_startup: list[Callable[..., Any]] = field(default_factory=list)
    on_shutdown: list[Callable[..., Any]] = field(default_factory=list)
    template_dirs: list[str] = field(default_factory=list)
    setup_app: Callable[[Any], None] | None = None  # called once with the FastAPI app (middleware, hooks)
    # tables copied into the analytics warehouse: core.warehouse.WarehouseFeed, or fn(session) -> feeds
    warehouse_feeds: list[Any] = field(default_factory=list)
