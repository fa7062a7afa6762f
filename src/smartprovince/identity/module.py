"""Identity module manifest: API routes, permissions, the actor resolver, built-in roles at start-up."""

from __future__ import annotations

from typing import Any

from smartprovince.core.modules import Module
from smartprovince.core.security import set_actor_resolver
from smartprovince.identity.api import router
from smartprovince.identity.api_areas import router as areas_router
from smartprovince.identity.api_oidc import router as oidc_router
from smartprovince.identity.roles import PERMISSIONS, ROLE_GRANTS


def _setup_app(app: Any) -> None:
    """Install the resolver that turns cookies, bearer tokens and Basic credentials into an Actor."""
    from smartprovince.identity.auth import carries_credentials, resolve_actor

    set_actor_resolver(resolve_actor, carries_credentials=carries_credentials)


def _sync_roles(app: Any) -> None:
    """Refresh the built-in roles' permissions from every module manifest (modules may have changed)."""
    from smartprovince.identity.roles import sync_builtin_roles

    with app.state.db.session() as session:
        sync_builtin_roles(session)


def _ensure_areas(app: Any) -> None:
    """Derive the administrative areas once for a database that has the tree but no areas yet (upgrade)."""
    from smartprovince.identity.areas import ensure_areas

    with app.state.db.session() as session:
        ensure_areas(session)


module = Module(
    name="identity",
    title="Định danh và tổ chức",
    api_routers=[router, areas_router],
    page_routers=[oidc_router],  # GET /auth/oidc/login, /auth/oidc/callback (identity/api_oidc.py)
    permissions=dict(PERMISSIONS),
    role_grants={code: list(perms) for code, perms in ROLE_GRANTS.items()},
    setup_app=_setup_app,
    on_startup=[_sync_roles, _ensure_areas],
)
