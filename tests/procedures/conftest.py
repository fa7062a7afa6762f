"""Fixtures of the procedures tests: a small organisation tree, the essential-services catalog, users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from smartprovince.core.db import Database
from smartprovince.core.security import SYSTEM, Actor

CITIZEN_CCCD = "030190001234"


def _without_password(make_user):  # type: ignore[no-untyped-def]
    # Hashing passwords (argon2) is slow; these tests authenticate with bearer tokens instead.
    return lambda *a, **kw: make_user(*a, password=None, **kw)


@dataclass
class Env:
    """The people and places of a procedures test."""

    db: Database
    users: dict[str, Any]

    def actor(self, name: str) -> Actor:
        from smartprovince import identity

        with self.db.session() as s:
            user = identity.get_user_by_username(s, name)
            assert user is not None
            return identity.actor_for_user(s, user)


@pytest.fixture
def env(database: Database, make_org, make_user, frozen_clock) -> Env:  # type: ignore[no-untyped-def]
    """Province 30 → district 296 → commune 10792; Công an tỉnh and Sở Tư pháp; the 25 services loaded."""
    from smartprovince.procedures import catalog

    frozen_clock[0] = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 09:00 in Vietnam
    make_org("30", "Tỉnh Hải Dương", "province")
    make_org("296", "Huyện Cẩm Giàng", "district", parent="30")
    make_org("10792", "Thị trấn Lai Cách", "commune", parent="296")
    make_org("10795", "Xã Cẩm Hưng", "commune", parent="296")
    make_org("cong-an-tinh", "Công an tỉnh Hải Dương", "body", parent="30")
    make_org("so-tu-phap", "Sở Tư pháp", "department", parent="30")
    make_user = _without_password(make_user)
    users = {
        "citizen": make_user("congdan", role="citizen", kind="citizen", cccd=CITIZEN_CCCD,
                             full_name="Nguyễn Thị Hoa"),
        "other_citizen": make_user("congdan2", role="citizen", kind="citizen", cccd="030190005678",
                                   full_name="Trần Văn Bình"),
        "onestop": make_user("motcua", role="onestop_officer", org="10792", full_name="Lê Thị Mai"),
        "onestop2": make_user("motcua2", role="onestop_officer", org="10792", full_name="Đỗ Văn Tâm"),
        "other_commune": make_user("motcua.khac", role="onestop_officer", org="10795"),
        "leader": make_user("lanhdao", role="district_leader", org="296", full_name="Phạm Văn Đức"),
        "police": make_user("congan", role="onestop_officer", org="cong-an-tinh"),
        "province": make_user("tinh", role="provincial_leader", org="30"),
        "data": make_user("dulieu", role="data_officer", org="30"),
    }
    with database.session() as s:
        catalog.load_essential_services(s, actor=SYSTEM)
    return Env(db=database, users=users)



@pytest.fixture
def api(env):  # type: ignore[no-untyped-def]
    """``api(name)`` → headers with a bearer token for the test user ``name`` (see ``env.users``).

    Tokens are issued before the app (and its event-bus thread) starts: request ``api`` before ``client``.
    """
    from smartprovince import identity

    cache: dict[str, dict[str, str]] = {}
    with env.db.session() as s:
        for name, user in env.users.items():
            token = identity.issue_token(s, user_id=user.id, name="test", days=0)
            cache[name] = {"Authorization": f"Bearer {token}"}
    return cache.__getitem__


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    """A test client that does not start the app's background event-bus thread.

    On SQLite a request that reads and then writes fails with "database is locked" when the bus
    thread commits in between (a known limit of deferred transactions in WAL mode, reported to the
    kernel owners). These tests check the procedures module, so events stay in the outbox, where
    the tests read them.
    """
    from fastapi.testclient import TestClient

    return TestClient(app)
