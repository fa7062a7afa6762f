"""Helpers for the web shell's tests: log in through the HTML form, read the CSRF token."""

from __future__ import annotations

import re

import pytest

from smartprovince.core.security import CSRF_COOKIE

PASSWORD = "mat-khau-thu-nghiem-1"  # noqa: S105 - make_user's default password (tests/conftest.py)


def csrf_of(client) -> str:  # type: ignore[no-untyped-def]
    """The CSRF token the browser holds (set by the first page it opened)."""
    token = client.cookies.get(CSRF_COOKIE)
    if not token:
        client.get("/login")
        token = client.cookies.get(CSRF_COOKIE)
    assert token
    return token


def form_csrf(html: str) -> str:
    """The csrf_token hidden field of the first form in ``html``."""
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no csrf_token field in the page"
    return m.group(1)


@pytest.fixture
def page_login(client):  # type: ignore[no-untyped-def]
    """Log ``client`` in through the /login form; returns the CSRF token of the new session."""

    def _login(username: str, password: str = PASSWORD) -> str:
        token = csrf_of(client)
        r = client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": token, "next": "/console"},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        return client.cookies.get(CSRF_COOKIE)

    return _login


@pytest.fixture
def org(database):  # type: ignore[no-untyped-def]
    """Create an organisation: ``org("30", "Tỉnh Hải Dương", "province", parent=None)``.

    Takes SQLite's write lock first (``begin_write``) so the event dispatcher's commits in between
    cannot make the transaction fail.
    """
    from smartprovince import identity
    from smartprovince.core.bus import begin_write
    from smartprovince.core.security import SYSTEM

    def _make(code: str, name: str, level: str = "unit", *, parent: str | None = None):  # type: ignore[no-untyped-def]
        with database.session() as s:
            begin_write(s)
            parent_row = identity.get_org_by_code(s, parent) if parent else None
            return identity.create_organisation(
                s, actor=SYSTEM, code=code, name=name, level=level, parent_id=parent_row.id if parent_row else None
            )

    return _make


@pytest.fixture
def user(database):  # type: ignore[no-untyped-def]
    """Create a user with one role scoped to its organisation (code) or the whole tree, password ``PASSWORD``."""
    from smartprovince import identity
    from smartprovince.core.bus import begin_write
    from smartprovince.core.security import SYSTEM

    def _make(
        username: str,
        *,
        role: str | None = "specialist",
        org: str | None = None,
        kind: str = "officer",
        full_name: str | None = None,
        whole_tree: bool = False,
        **extra,
    ):  # type: ignore[no-untyped-def]
        with database.session() as s:
            begin_write(s)
            identity.sync_builtin_roles(s)
            org_row = identity.get_org_by_code(s, org) if org else None
            org_id = org_row.id if org_row else None
            return identity.create_user(
                s,
                actor=SYSTEM,
                username=username,
                password=PASSWORD,
                full_name=full_name or username,
                kind=kind,
                org_id=org_id,
                roles=[(role, None if whole_tree else org_id)] if role else [],
                **extra,
            )

    return _make
