"""Fixtures of the operations tests: a small organisation tree, IOC users with bearer tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from smartprovince.core import bus
from smartprovince.core.db import Database


@dataclass
class Env:
    """The places and people of an operations test; ``headers[name]`` holds a bearer token header."""

    db: Database
    users: dict[str, Any]
    headers: dict[str, dict[str, str]]
    orgs: dict[str, Any]

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Publish one event as another module would (committed, then delivered by ``drain``)."""
        with self.db.session() as s:
            bus.publish(s, topic, payload)


@pytest.fixture
def env(database: Database, make_org, make_user, frozen_clock) -> Env:  # type: ignore[no-untyped-def]
    """Province 30 → district 295 → commune 10891; province → UBND → Sở GTVT; district 296 beside 295."""
    from smartprovince import identity

    frozen_clock[0] = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    orgs = {
        "30": make_org("30", "Tỉnh Hải Dương", "province"),
        "295": make_org("295", "Huyện Cẩm Giàng", "district", parent="30"),
        "10891": make_org("10891", "Thị trấn Lai Cách", "commune", parent="295"),
        "296": make_org("296", "Huyện Bình Giang", "district", parent="30"),
        "ubnd-tinh": make_org("ubnd-tinh", "UBND tỉnh", "body", parent="30"),
    }
    orgs["so-giao-thong-van-tai"] = make_org(
        "so-giao-thong-van-tai", "Sở Giao thông vận tải", "department", parent="ubnd-tinh"
    )
    orgs["so-tai-nguyen-va-moi-truong"] = make_org(
        "so-tai-nguyen-va-moi-truong", "Sở Tài nguyên và Môi trường", "department", parent="ubnd-tinh"
    )
    users = {
        "operator": make_user("ioc", role="ioc_operator", org="30", password=None, full_name="Vũ Thị Lan"),
        "district": make_user("huyen295", role="district_leader", org="295", password=None),
        "other_district": make_user("huyen296", role="district_leader", org="296", password=None),
        "citizen": make_user("dan", role="citizen", kind="citizen", cccd="030190001234", password=None),
    }
    headers = {}
    with database.session() as s:
        for name, user in users.items():
            token = identity.issue_token(s, user_id=user.id, name="test", days=0)
            headers[name] = {"Authorization": f"Bearer {token}"}
    return Env(db=database, users=users, headers=headers, orgs=orgs)
