"""Cursor pagination: every row exactly once and in order, even with inserts between pages."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Integer, MetaData, String, delete, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from smartprovince.core.db import Database, UTCDateTime
from smartprovince.core.errors import BadRequest
from smartprovince.core.pagination import CursorParams, Page, decode_cursor, encode_cursor, paginate


class _TestBase(DeclarativeBase):
    metadata = MetaData()


class Row(_TestBase):
    __tablename__ = "test_pagination_row"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    name: Mapped[str] = mapped_column(String(50))


@pytest.fixture
def db(database: Database):
    _TestBase.metadata.create_all(database.engine)
    yield database
    _TestBase.metadata.drop_all(database.engine)


_ids = itertools.count()
T0 = datetime(2026, 3, 2, tzinfo=UTC)


def make_row(rank: int) -> Row:
    n = next(_ids)
    return Row(id=f"{n:032d}", rank=rank, at=T0 + timedelta(minutes=rank), name=f"hàng {n}")


def walk(db: Database, limit: int, *, key=None, descending=False, between=None) -> list[Row]:
    """All pages in order; ``between(page_number)`` may insert rows before the next page is read."""
    seen: list[Row] = []
    cursor = None
    for page_number in itertools.count():
        with db.session() as s:
            page = paginate(s, select(Row), CursorParams(cursor=cursor, limit=limit), key=key, descending=descending)
        assert len(page.items) <= limit
        seen.extend(page.items)
        if page.next_cursor is None:
            return seen
        assert len(page.items) == limit
        cursor = page.next_cursor
        if between:
            between(page_number)
    raise AssertionError("unreachable")


def order_key(row: Row, key: str) -> tuple:
    return (getattr(row, key), row.id)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ranks=st.lists(st.integers(0, 6), max_size=25),
    inserts=st.lists(st.lists(st.integers(-2, 8), max_size=3), max_size=6),
    limit=st.integers(1, 7),
    descending=st.booleans(),
    key_name=st.sampled_from(["rank", "at", "id"]),
)
def test_walking_pages_returns_every_row_once_in_order(db, ranks, inserts, limit, descending, key_name) -> None:
    with db.session() as s:
        s.execute(delete(Row))
        s.add_all(make_row(r) for r in ranks)
    with db.session() as s:
        original = {r.id for r in s.scalars(select(Row))}
    key = getattr(Row, key_name)
    inserted_after_position: set[str] = set()
    inserted_before_position: set[str] = set()
    position: list[tuple] = []

    def between(page_number: int) -> None:
        if page_number >= len(inserts):
            return
        new = [make_row(r) for r in inserts[page_number]]
        with db.session() as s:
            s.add_all(new)
        last = position[-1]
        for row in new:
            # New ids are larger than every id so far; what counts is where the row sorts.
            later = order_key(row, key_name) < last if descending else order_key(row, key_name) > last
            (inserted_after_position if later else inserted_before_position).add(row.id)

    seen: list[Row] = []
    cursor = None
    for page_number in itertools.count():
        with db.session() as s:
            page = paginate(s, select(Row), CursorParams(cursor=cursor, limit=limit), key=key, descending=descending)
        seen.extend(page.items)
        if page.next_cursor is None:
            break
        position.append(order_key(page.items[-1], key_name))
        cursor = page.next_cursor
        between(page_number)

    ids = [r.id for r in seen]
    assert len(ids) == len(set(ids)), "a row appeared twice"
    keys = [order_key(r, key_name) for r in seen]
    assert keys == sorted(keys, reverse=descending), "rows out of order"
    assert original <= set(ids), "a row that existed from the start was skipped"
    assert inserted_after_position <= set(ids), "a row inserted ahead of the cursor was skipped"
    assert not (inserted_before_position & set(ids)), "a row inserted behind the cursor was shown"


def test_pages_and_last_page(db) -> None:
    with db.session() as s:
        s.add_all(make_row(r) for r in [3, 1, 2, 2, 5])
    rows = walk(db, 2, key=Row.rank)
    assert [r.rank for r in rows] == [1, 2, 2, 3, 5]
    with db.session() as s:
        page = paginate(s, select(Row), CursorParams(limit=5), key=Row.rank)
    assert page.next_cursor is None and len(page.items) == 5


def test_default_key_is_the_primary_key_and_into_converts(db) -> None:
    from pydantic import BaseModel

    class RowPublic(BaseModel):
        id: str
        name: str

    with db.session() as s:
        s.add_all(make_row(r) for r in [1, 1, 1])
    with db.session() as s:
        page = paginate(s, select(Row).where(Row.rank == 1), CursorParams(limit=2), into=RowPublic)
    assert all(isinstance(i, RowPublic) for i in page.items)
    assert [i.id for i in page.items] == sorted(i.id for i in page.items)
    assert page.next_cursor is not None
    dumped = Page[RowPublic].model_validate(page.model_dump()).model_dump()
    assert set(dumped) == {"items", "next_cursor"}


def test_cursor_roundtrip_of_key_types() -> None:
    from datetime import date
    from decimal import Decimal

    for value in [1, "abc", T0, date(2026, 1, 2), Decimal("1.50"), 2.5, True]:
        assert decode_cursor(encode_cursor(value, "x")) == (value, "x")


@pytest.mark.parametrize(
    "bad", ["nonsense", "e30", "!!!", encode_cursor(1, "x")[:-3], "eyJrIjpbInoiLDFdLCJpIjpbInMiLCJ4Il19"]
)
def test_bad_cursor_is_a_400(bad: str) -> None:
    with pytest.raises(BadRequest):
        decode_cursor(bad)


def test_limit_bounds() -> None:
    with pytest.raises(BadRequest):
        CursorParams(limit=0)
    with pytest.raises(BadRequest):
        CursorParams(limit=501)
    assert CursorParams().limit == 50
