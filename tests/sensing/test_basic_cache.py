"""HTTP Basic on the SensorThings API: one full password check, then a short-lived verified-credential
cache — which never lets a wrong, changed or locked password through."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from .conftest import STA, THING, basic, create_thing

OBS = {"phenomenonTime": "2026-03-02T00:00:00Z", "result": 5}


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    from smartprovince.sensing import basic_cache

    basic_cache.clear()
    yield
    basic_cache.clear()


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the full (argon2) password checks made by the identity module."""
    from smartprovince.identity import service as identity_service

    calls: list[str] = []
    real = identity_service.verify_password

    def counting(stored: Any, password: str) -> bool:
        calls.append(password)
        return real(stored, password)

    monkeypatch.setattr(identity_service, "verify_password", counting)
    return calls


@pytest.fixture
def stream(client, writer) -> int:  # type: ignore[no-untyped-def]
    return int(create_thing(client, writer, {**THING, "Locations": []})["Datastreams"][0]["@iot.id"])


def test_a_verified_password_is_checked_once_then_cached(client, make_user, stream, checks) -> None:  # type: ignore[no-untyped-def]
    make_user("quan.trac", role="data_officer")
    for _ in range(3):
        r = client.post(f"{STA}/Datastreams({stream})/Observations", json=OBS, headers=basic("quan.trac"))
        assert r.status_code == 201, r.text
        assert client.get(f"{STA}/Datastreams({stream})", headers=basic("quan.trac")).status_code == 200
    assert len(checks) == 1


def test_a_wrong_password_is_still_refused_after_the_right_one(client, make_user, stream, checks) -> None:  # type: ignore[no-untyped-def]
    make_user("quan.trac", role="data_officer")
    assert client.post(f"{STA}/Datastreams({stream})/Observations", json=OBS,
                       headers=basic("quan.trac")).status_code == 201
    for _ in range(2):
        r = client.post(f"{STA}/Datastreams({stream})/Observations", json=OBS, headers=basic("quan.trac", "sai"))
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
    assert checks == ["mat-khau-thu-nghiem-1", "sai", "sai"]


def test_a_changed_password_stops_working_at_once(client, make_user, database, stream) -> None:  # type: ignore[no-untyped-def]
    from smartprovince import identity
    from smartprovince.core.security import SYSTEM

    user = make_user("quan.trac", role="data_officer")
    assert client.post(f"{STA}/Datastreams({stream})/Observations", json=OBS,
                       headers=basic("quan.trac")).status_code == 201
    with database.session() as s:
        identity.set_password(s, actor=SYSTEM, user_id=user.id, password="mat-khau-moi-2026")
    r = client.post(f"{STA}/Datastreams({stream})/Observations", json=OBS, headers=basic("quan.trac"))
    assert r.status_code == 401
    r = client.post(f"{STA}/Datastreams({stream})/Observations", json=OBS,
                    headers=basic("quan.trac", "mat-khau-moi-2026"))
    assert r.status_code == 201


def test_a_locked_or_deactivated_account_stops_working_at_once(client, make_user, database, stream) -> None:  # type: ignore[no-untyped-def]
    from smartprovince import identity
    from smartprovince.core import clock
    from smartprovince.core.security import SYSTEM

    user = make_user("quan.trac", role="data_officer")
    assert client.post(f"{STA}/Datastreams({stream})/Observations", json=OBS,
                       headers=basic("quan.trac")).status_code == 201
    with database.session() as s:
        s.get(identity.User, user.id).locked_until = clock.now() + timedelta(minutes=10)
    r = client.post(f"{STA}/Datastreams({stream})/Observations", json=OBS, headers=basic("quan.trac"))
    assert r.status_code == 429
    with database.session() as s:
        row = s.get(identity.User, user.id)
        row.locked_until = None
    assert client.post(f"{STA}/Datastreams({stream})/Observations", json=OBS,
                       headers=basic("quan.trac")).status_code == 201
    with database.session() as s:
        identity.deactivate_user(s, actor=SYSTEM, user_id=user.id)
    assert client.post(f"{STA}/Datastreams({stream})/Observations", json=OBS,
                       headers=basic("quan.trac")).status_code == 401


def test_a_revoked_role_stops_writes_at_once(client, make_user, database, stream) -> None:  # type: ignore[no-untyped-def]
    from smartprovince import identity
    from smartprovince.core.security import SYSTEM

    user = make_user("quan.trac", role="data_officer")
    assert client.post(f"{STA}/Datastreams({stream})/Observations", json=OBS,
                       headers=basic("quan.trac")).status_code == 201
    with database.session() as s:
        for a in s.query(identity.RoleAssignment).filter_by(user_id=user.id).all():
            identity.revoke_role(s, actor=SYSTEM, user_id=user.id, assignment_id=a.id)
    assert client.post(f"{STA}/Datastreams({stream})/Observations", json=OBS,
                       headers=basic("quan.trac")).status_code == 403
