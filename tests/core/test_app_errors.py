"""Values the database refuses (NUL characters on PostgreSQL, out-of-range numbers) are bad input: 422."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from sqlalchemy.exc import DataError

from smartprovince.app import create_app
from smartprovince.core.security import public


def test_a_value_the_database_refuses_is_a_422_problem(settings, database) -> None:
    app = create_app(settings, db=database)
    router = APIRouter()

    @router.post("/_test/data-error", dependencies=[Depends(public("test only"))])
    def boom() -> None:
        raise DataError("INSERT …", {}, Exception("A string literal cannot contain NUL (0x00) characters."))

    app.include_router(router)
    with TestClient(app) as c:
        r = c.post("/_test/data-error")
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["title"] == "Invalid input"
