"""Cursor pagination — the one way every list endpoint pages its results.

A page is read with *keyset* pagination: rows are ordered by a sort key and then by the primary key
(to break ties), and the next page starts strictly after the last row shown. The position is given
to the client as an opaque ``next_cursor`` (URL-safe base64 of the last row's sort key and id).
Unlike ``OFFSET``, rows inserted or deleted between two requests never make a row appear twice or
be skipped, and deep pages cost the same as the first.

Usage in a route::

    @router.get("/dossiers", response_model=Page[DossierPublic])
    def list_dossiers(session: DbSession, params: CursorParams = Depends(), ...):
        stmt = select(Dossier).where(...)
        return paginate(session, stmt, params, key=Dossier.received_at, descending=True, into=DossierPublic)

The sort key must be a non-null column; the tie-breaker defaults to the primary key of the first
entity of the statement.
"""

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import Select, and_, inspect, or_
from sqlalchemy.orm import Session

from smartprovince.core.errors import BadRequest

T = TypeVar("T")
U = TypeVar("U")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    """One page of a list: the ``items`` and, when more rows follow, the cursor of the next page."""

    items: list[T] = Field(description="The rows of this page, in order.")
    next_cursor: str | None = Field(None, description="Pass as ?cursor= to get the next page; null on the last page.")

    def map(self, fn: Callable[[Any], U]) -> "Page[U]":
        """The same page with ``fn`` applied to every item (e.g. a model → its public schema)."""
        return Page[Any](items=[fn(item) for item in self.items], next_cursor=self.next_cursor)  # type: ignore[return-value]


class CursorParams:
    """Query parameters of every paginated endpoint: ``cursor`` (opaque) and ``limit`` (1–500, default 50).

    Use as ``params: CursorParams = Depends()`` in a route, or build one directly in code and tests:
    ``CursorParams(limit=10)``.
    """

    # This module has no ``from __future__ import annotations``: FastAPI reads these annotations at
    # runtime from the class signature, where string annotations could not be resolved.
    def __init__(
        self,
        cursor: Annotated[
            str | None, Query(description="Opaque cursor from a previous page's next_cursor.", max_length=2000)
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page (1–500).")] = DEFAULT_LIMIT,
    ) -> None:
        if not 1 <= limit <= MAX_LIMIT:
            raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}.")
        self.cursor = cursor or None
        self.limit = limit

    def __repr__(self) -> str:
        return f"CursorParams(cursor={self.cursor!r}, limit={self.limit})"


# --- cursor encoding -------------------------------------------------------------------------------


def _encode_value(value: Any) -> list[Any]:
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, int):
        return ["i", value]
    if isinstance(value, float):
        return ["f", value]
    if isinstance(value, Decimal):
        return ["d", str(value)]
    if isinstance(value, datetime):
        return ["t", value.isoformat()]
    if isinstance(value, date):
        return ["D", value.isoformat()]
    if isinstance(value, str):
        return ["s", value]
    raise TypeError(f"cannot paginate on a sort key of type {type(value).__name__}")


def _decode_value(tagged: Any) -> Any:
    if not (isinstance(tagged, list) and len(tagged) == 2 and isinstance(tagged[0], str)):
        raise ValueError("bad value")
    tag, raw = tagged
    if tag == "b" and isinstance(raw, bool):
        return raw
    if tag == "i" and isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if tag == "f" and isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    if tag == "d" and isinstance(raw, str):
        return Decimal(raw)
    if tag == "t" and isinstance(raw, str):
        return datetime.fromisoformat(raw)
    if tag == "D" and isinstance(raw, str):
        return date.fromisoformat(raw)
    if tag == "s" and isinstance(raw, str):
        return raw
    raise ValueError("bad value")


def encode_cursor(sort_value: Any, row_id: Any) -> str:
    """The opaque cursor for "after the row with this sort key and id"."""
    payload = json.dumps({"k": _encode_value(sort_value), "i": _encode_value(row_id)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, Any]:
    """``(sort_value, row_id)`` from a cursor; raises ``BadRequest`` (400) when it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return _decode_value(data["k"]), _decode_value(data["i"])
    except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error) as exc:
        raise BadRequest("The cursor is not valid; start again from the first page.", title="Invalid cursor") from exc


# --- paginate ---------------------------------------------------------------------------------------


def _default_tiebreak(stmt: Select[Any]) -> Any:
    descriptions = stmt.column_descriptions
    entity = descriptions[0].get("entity") if descriptions else None
    if entity is None:
        raise TypeError("paginate() needs tiebreak= when the statement selects no mapped entity")
    primary_key = inspect(entity).primary_key
    if len(primary_key) != 1:
        raise TypeError("paginate() needs tiebreak= for an entity with a composite primary key")
    return primary_key[0]


def _value_of(item: Any, column: Any) -> Any:
    name = getattr(column, "key", None) or getattr(column, "name", None)
    if not isinstance(name, str):
        raise TypeError(f"cannot read the sort key {column!r} from a row")
    return getattr(item, name)


def paginate(
    session: Session,
    stmt: Select[Any],
    params: CursorParams,
    *,
    key: Any = None,
    descending: bool = False,
    tiebreak: Any = None,
    into: type[BaseModel] | None = None,
) -> Page[Any]:
    """Run ``stmt`` for one page after ``params.cursor``, ordered by ``key`` then ``tiebreak``.

    * ``key`` — the sort column (default: the primary key); it must never be null;
    * ``descending`` — newest / largest first;
    * ``tiebreak`` — a unique column (default: the primary key of the statement's first entity);
    * ``into`` — a pydantic model to convert each row into (validated ``from_attributes``).

    ``stmt`` must not carry its own ``ORDER BY`` or ``LIMIT``. It may select one entity
    (``select(Dossier)``) or columns; ``key`` and ``tiebreak`` must be among the selected values.
    """
    tiebreak = tiebreak if tiebreak is not None else _default_tiebreak(stmt)
    key = key if key is not None else tiebreak
    same = key is tiebreak or (hasattr(key, "compare") and key.compare(tiebreak))
    if params.cursor:
        after_key, after_id = decode_cursor(params.cursor)
        if same:
            cond = key < after_id if descending else key > after_id
        elif descending:
            cond = or_(key < after_key, and_(key == after_key, tiebreak < after_id))
        else:
            cond = or_(key > after_key, and_(key == after_key, tiebreak > after_id))
        stmt = stmt.where(cond)
    if descending:
        stmt = stmt.order_by(key.desc(), *(() if same else (tiebreak.desc(),)))
    else:
        stmt = stmt.order_by(key.asc(), *(() if same else (tiebreak.asc(),)))
    stmt = stmt.limit(params.limit + 1)
    descriptions = stmt.column_descriptions
    single_entity = (
        len(descriptions) == 1
        and descriptions[0].get("entity") is not None
        and (descriptions[0].get("expr") is descriptions[0].get("entity"))
    )
    rows: Sequence[Any] = list(session.scalars(stmt) if single_entity else session.execute(stmt))
    next_cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        last = rows[-1]
        next_cursor = encode_cursor(_value_of(last, key), _value_of(last, tiebreak))
    items: list[Any] = [into.model_validate(r, from_attributes=True) for r in rows] if into else list(rows)
    return Page[Any](items=items, next_cursor=next_cursor)
