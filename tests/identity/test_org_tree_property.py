"""Property test: after any sequence of moves the materialised paths match the parent links.

Invariants checked after every step: ``path == parent.path + id + "/"`` (``"/" + id + "/"`` for a
root), ``depth == number of ancestors``, and a move below the node's own subtree is refused (409)
without changing anything.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from smartprovince import identity
from smartprovince.core.errors import Conflict
from smartprovince.core.security import SYSTEM


@st.composite
def scripts(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(2, 8))
    parents = [None] + [draw(st.one_of(st.none(), st.integers(0, i - 1))) for i in range(1, n)]
    moves = draw(st.lists(st.tuples(st.integers(0, n - 1), st.one_of(st.none(), st.integers(0, n - 1))),
                          max_size=8))
    return parents, moves


def _model_path(parents: dict[int, int | None], ids: list[str], i: int) -> str:
    chain = []
    node: int | None = i
    while node is not None:
        chain.append(ids[node])
        node = parents[node]
    return "/" + "/".join(reversed(chain)) + "/"


@pytest.fixture
def counter() -> list[int]:
    return [0]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=scripts())
def test_paths_follow_moves(script, database, counter) -> None:  # type: ignore[no-untyped-def]
    parents_list, moves = script
    counter[0] += 1
    prefix = f"t{counter[0]}-"
    ids: list[str] = []
    with database.session() as s:
        for i, p in enumerate(parents_list):
            org = identity.create_organisation(s, actor=SYSTEM, code=f"{prefix}{i}", name=f"Đơn vị {i}", level="unit",
                                               parent_id=ids[p] if p is not None else None)
            ids.append(org.id)
    parents = dict(enumerate(parents_list))
    for node, new_parent in moves:
        in_subtree = new_parent is not None and _model_path(parents, ids, new_parent).startswith(
            _model_path(parents, ids, node))
        try:
            with database.session() as s:
                identity.move_organisation(s, actor=SYSTEM, org_id=ids[node],
                                           new_parent_id=ids[new_parent] if new_parent is not None else None)
            assert not in_subtree
            parents[node] = new_parent
        except Conflict:
            assert in_subtree
        with database.session() as s:
            rows = {o.id: o for o in s.scalars(select(identity.Organisation).where(
                identity.Organisation.code.startswith(prefix)))}
        for i, org_id in enumerate(ids):
            row = rows[org_id]
            assert row.path == _model_path(parents, ids, i)
            assert row.depth == row.path.count("/") - 2
            assert row.parent_id == (ids[parents[i]] if parents[i] is not None else None)
