"""The organisation loader: shipped datasets, idempotence, bad files, two-level trees, the CLI."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, select

from smartprovince.core.db import Database
from smartprovince.core.security import SYSTEM
from smartprovince.identity.models import Organisation
from smartprovince.identity.orgs_loader import (
    OrganisationFileError,
    list_datasets,
    load_organisations,
    parse_rows,
)


def _orgs(database: Database) -> dict[str, Organisation]:
    with database.session() as s:
        return {o.code: o for o in s.scalars(select(Organisation))}


def _levels(database: Database) -> Counter[str]:
    return Counter(o.level for o in _orgs(database).values())


def test_hai_duong_has_one_province_12_districts_207_communes(database: Database) -> None:
    with database.session() as s:
        result = load_organisations(s, "hai-duong", actor=SYSTEM)
    assert (result.created, result.updated, result.unchanged) == (243, 0, 0)
    levels = _levels(database)
    assert levels["province"] == 1
    assert levels["district"] == 12
    assert levels["commune"] == 207
    assert levels["department"] == 16  # Văn phòng UBND tỉnh + 15 sở
    orgs = _orgs(database)
    province = orgs["30"]
    assert province.name == "Tỉnh Hải Dương" and province.parent_id is None and province.depth == 0
    assert orgs["288"].name == "Thành phố Hải Dương"
    lai_cach = orgs["10891"]
    assert lai_cach.name == "Thị trấn Lai Cách"
    assert lai_cach.parent_id == orgs["295"].id  # Huyện Cẩm Giàng
    assert lai_cach.path == f"/{province.id}/{orgs['295'].id}/{lai_cach.id}/"
    assert lai_cach.depth == 2
    assert lai_cach.attributes["unit_type"] == "thị trấn"
    assert orgs["so-y-te"].path.startswith(orgs["ubnd-tinh"].path)
    assert orgs["trung-tam-giam-sat-dieu-hanh-thong-minh"].parent_id == orgs["so-thong-tin-va-truyen-thong"].id
    # every path starts with its parent's path
    by_id = {o.id: o for o in orgs.values()}
    for o in orgs.values():
        if o.parent_id:
            assert o.path.startswith(by_id[o.parent_id].path)
            assert o.depth == by_id[o.parent_id].depth + 1


def test_reloading_changes_nothing(database: Database) -> None:
    with database.session() as s:
        load_organisations(s, "hai-duong-2023", actor=SYSTEM)
    before = {c: (o.id, o.path, o.name, o.updated_at) for c, o in _orgs(database).items()}
    with database.session() as s:
        again = load_organisations(s, "hai-duong", actor=SYSTEM)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 243)
    assert not again.changed
    after = {c: (o.id, o.path, o.name, o.updated_at) for c, o in _orgs(database).items()}
    assert after == before


def test_changed_name_and_parent_are_updated(database: Database, tmp_path: Path) -> None:
    with database.session() as s:
        load_organisations(s, "hai-duong", actor=SYSTEM)
    f = tmp_path / "fix.csv"
    # move Sở Y tế under the province directly and rename it; its unchanged child keeps a right path
    f.write_text(
        "code,name,level,parent_code\n"
        "so-y-te,Sở Y tế tỉnh Hải Dương,department,30\n"
        "bv-da-khoa,Bệnh viện Đa khoa tỉnh,unit,so-y-te\n",
        encoding="utf-8",
    )
    with database.session() as s:
        r = load_organisations(s, f, actor=SYSTEM)
    assert (r.created, r.updated) == (1, 1)
    orgs = _orgs(database)
    assert orgs["so-y-te"].name == "Sở Y tế tỉnh Hải Dương"
    assert orgs["so-y-te"].path == f"{orgs['30'].path}{orgs['so-y-te'].id}/"
    assert orgs["bv-da-khoa"].path == f"{orgs['so-y-te'].path}{orgs['bv-da-khoa'].id}/"
    assert orgs["bv-da-khoa"].depth == 2
    # move the department back under UBND tỉnh: the hospital (not in this file) follows
    f.write_text("code,name,level,parent_code\nso-y-te,Sở Y tế,department,ubnd-tinh\n", encoding="utf-8")
    with database.session() as s:
        load_organisations(s, f, actor=SYSTEM)
    orgs = _orgs(database)
    assert orgs["bv-da-khoa"].path == f"{orgs['ubnd-tinh'].path}{orgs['so-y-te'].id}/{orgs['bv-da-khoa'].id}/"
    assert orgs["bv-da-khoa"].depth == 3


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("code,name,level,parent_code\n30,Tỉnh,province,\n31,Xã A,commune,99\n", 3, "parent code '99' is unknown"),
        ("code,name,level,parent_code\n30,Tỉnh,province,\n30,Tỉnh khác,province,\n", 3, "already used on line 2"),
        ("code,name,level,parent_code\n30,Tỉnh,province,\n301,Huyện,county,30\n", 3, "level 'county'"),
        ("code,name,level,parent_code\n30,Tỉnh,province,\n301,,district,30\n", 3, "the name is empty"),
        ("code,name,level,parent_code\n30,Tỉnh,province,\n,Huyện,district,30\n", 3, "the code is empty"),
        ("code,name,level,parent_code\n1,A,unit,2\n2,B,unit,1\n", 2, "cycle"),
        ("code,name\n30,Tỉnh\n", 1, "missing columns: level"),
    ],
)
def test_bad_file_names_the_line_and_writes_nothing(
    database: Database, tmp_path: Path, content: str, line: int, message: str
) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(OrganisationFileError) as info, database.session() as s:
        load_organisations(s, f, actor=SYSTEM)
    err = info.value
    assert err.status == 422
    assert any(e["line"] == line and message in e["message"] for e in err.extra["errors"]), err.extra
    assert f"Line {line}" in str(err.detail)
    assert _orgs(database) == {}


def test_bad_line_late_in_a_big_file_leaves_no_partial_write(database: Database, tmp_path: Path) -> None:
    from importlib import resources

    text = resources.files("smartprovince.identity").joinpath("data/hai-duong.csv").read_text("utf-8")
    f = tmp_path / "almost.csv"
    f.write_text(text + "99999,Xã lạc,commune,000\n", encoding="utf-8")
    with pytest.raises(OrganisationFileError) as info, database.session() as s:
        load_organisations(s, f, actor=SYSTEM)
    assert info.value.extra["errors"][0]["line"] == 245
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Organisation)) == 0


def test_unknown_dataset_is_a_clear_error(database: Database) -> None:
    with pytest.raises(OrganisationFileError, match="neither a dataset"), database.session() as s:
        load_organisations(s, "no-such-province", actor=SYSTEM)


def test_two_level_dataset_loads_with_no_district_level(database: Database) -> None:
    with database.session() as s:
        r = load_organisations(s, "hai-phong-2025", actor=SYSTEM)
    assert r.created == 115
    levels = _levels(database)
    assert levels == Counter({"province": 1, "commune": 114})
    orgs = _orgs(database)
    assert orgs["31"].name == "Thành phố Hải Phòng"
    assert all(o.depth == 1 and o.parent_id == orgs["31"].id for o in orgs.values() if o.level == "commune")
    types = Counter(o.attributes.get("unit_type") for o in orgs.values() if o.level == "commune")
    assert types == Counter({"xã": 67, "phường": 45, "đặc khu": 2})


def test_two_level_dataset_over_the_old_tree_updates_reused_codes(database: Database) -> None:
    with database.session() as s:
        load_organisations(s, "hai-duong", actor=SYSTEM)
    with database.session() as s:
        r = load_organisations(s, "hai-phong-2025", actor=SYSTEM)
    assert (r.created, r.updated) == (51, 64)
    orgs = _orgs(database)
    assert orgs["10525"].name == "Phường Hải Dương"
    assert orgs["10525"].path == f"{orgs['31'].path}{orgs['10525'].id}/"


def test_progress_is_reported(database: Database) -> None:
    calls: list[tuple[int, int]] = []
    with database.session() as s:
        load_organisations(s, "hai-phong-2025", actor=SYSTEM, progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 115) and calls[-1] == (115, 115)


def test_datasets_are_listed() -> None:
    names = {d.name for d in list_datasets()}
    assert {"hai-duong", "hai-phong-2025"} <= names


_code = st.text(alphabet="abcdefghij0123456789-", min_size=1, max_size=6)


@hsettings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(_code, st.integers(min_value=-1, max_value=30)), min_size=1, max_size=25, unique_by=lambda t: t[0]
    )
)
def test_any_forest_parses_in_parent_first_order(nodes: list[tuple[str, int]]) -> None:
    """A random forest (each node's parent comes earlier or is none) always parses, parents first."""
    lines = ["code,name,level,parent_code"]
    for i, (code, parent_index) in enumerate(nodes):
        parent = nodes[parent_index % i][0] if i and parent_index >= 0 else ""
        lines.append(f"{code},Đơn vị {code},unit,{parent}")
    # shuffle the order deterministically: reversed is the worst case for a naive loader
    text = "\n".join([lines[0], *reversed(lines[1:])]) + "\n"
    rows = parse_rows(text)
    assert len(rows) == len(nodes)
    from smartprovince.identity.orgs_loader import _topological

    ordered = _topological(rows)
    seen: set[str] = set()
    for r in ordered:
        assert r.parent_code is None or r.parent_code in seen
        seen.add(r.code)


_small_code = st.sampled_from([f"u{i}" for i in range(12)])


@hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.lists(st.tuples(_small_code, st.integers(min_value=-1, max_value=11)), min_size=1, max_size=12),
        min_size=1,
        max_size=3,
    )
)
def test_loading_random_trees_keeps_paths_right_and_reloads_change_nothing(
    database: Database, tmp_path: Path, files: list[list[tuple[str, int]]]
) -> None:
    """Load several random trees over each other (units move between parents), each one twice.

    After every load each path is the parent's path plus the own id, and the second load of the
    same file reports no change.
    """
    f = tmp_path / "random.csv"
    for nodes in files:
        lines, seen = ["code,name,level,parent_code"], []
        for code, parent_index in nodes:
            if code in seen:
                continue
            parent = seen[parent_index % len(seen)] if seen and parent_index >= 0 else ""
            seen.append(code)
            lines.append(f"{code},Đơn vị {code},unit,{parent}")
        f.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with database.session() as s:
            load_organisations(s, f, actor=SYSTEM)
        with database.session() as s:
            again = load_organisations(s, f, actor=SYSTEM)
        assert (again.created, again.updated) == (0, 0)
        orgs = _orgs(database)
        by_id = {o.id: o for o in orgs.values()}
        for o in orgs.values():
            parent = by_id.get(o.parent_id) if o.parent_id else None
            assert o.path == f"{parent.path if parent else '/'}{o.id}/"
            assert o.depth == (parent.depth + 1 if parent else 0)


def test_a_cycle_through_the_database_is_refused(database: Database, tmp_path: Path) -> None:
    f = tmp_path / "tree.csv"
    f.write_text("code,name,level,parent_code\na,A,unit,\nb,B,unit,a\n", encoding="utf-8")
    with database.session() as s:
        load_organisations(s, f, actor=SYSTEM)
    f.write_text("code,name,level,parent_code\na,A,unit,b\n", encoding="utf-8")
    with pytest.raises(OrganisationFileError, match="own ancestor") as info, database.session() as s:
        load_organisations(s, f, actor=SYSTEM)
    assert info.value.extra["errors"][0]["line"] == 2
    assert _orgs(database)["a"].parent_id is None
