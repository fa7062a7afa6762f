"""CCCD (12-digit citizen ID) validation: property tests over its layout, and the API's answers."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from smartprovince.core import clock
from smartprovince.identity.cccd import PROVINCE_CODES, InvalidCccd, is_valid_cccd, make_cccd, parse_cccd

provinces = st.sampled_from(sorted(PROVINCE_CODES))
not_provinces = st.integers(0, 999).map(lambda n: f"{n:03d}").filter(lambda c: c not in PROVINCE_CODES)
sexes = st.sampled_from(["male", "female"])
past_years = st.integers(1900, 2025)
serials = st.integers(0, 999_999).map(lambda n: f"{n:06d}")


@given(provinces, sexes, past_years, serials)
def test_valid_numbers_round_trip(province: str, sex: str, year: int, serial: str) -> None:
    number = make_cccd(province, sex, year, serial)
    info = parse_cccd(number)
    assert len(number) == 12 and number.isdigit()
    assert (info.province_code, info.sex, info.birth_year, info.serial) == (province, sex, year, serial)
    assert parse_cccd(f"  {number} ").number == number


@given(not_provinces, sexes, past_years, serials)
def test_unknown_birth_province_is_refused(province: str, sex: str, year: int, serial: str) -> None:
    assert not is_valid_cccd(make_cccd(province, sex, year, serial))


@given(provinces, sexes, st.integers(clock.now().year + 1, 2399), serials)
def test_birth_year_in_the_future_is_refused(province: str, sex: str, year: int, serial: str) -> None:
    assert not is_valid_cccd(make_cccd(province, sex, year, serial))


@given(st.text(alphabet=string.digits, max_size=20).filter(lambda t: len(t) != 12))
def test_wrong_length_is_refused(text: str) -> None:
    assert not is_valid_cccd(text)


@given(st.text(min_size=12, max_size=12).filter(lambda t: not t.isascii() or not t.isdigit()))
def test_non_digits_are_refused(text: str) -> None:
    try:
        parse_cccd(text)
    except InvalidCccd:
        return
    raise AssertionError(f"accepted {text!r}")


def test_known_examples() -> None:
    # Born 1990 in Hải Dương (030), male.
    info = parse_cccd("030090001234")
    assert (info.province_code, info.sex, info.birth_year) == ("030", "male", 1990)
    # Born 2005 in Hà Nội (001), female.
    assert parse_cccd("001305123456").birth_year == 2005
    assert parse_cccd("001305123456").sex == "female"
    assert not is_valid_cccd("003090001234")  # 003 is not a province code
    assert not is_valid_cccd("03009000123")


def test_api_validates_and_keeps_cccd_unique(client, make_user, login) -> None:
    make_user("qt", role="admin")
    login("qt")
    base = {"password": "mat-khau-dai-1", "full_name": "Phạm Văn Công", "kind": "citizen"}
    bad = client.post("/api/v1/users", json={**base, "username": "dan1", "cccd": "099090001234"})
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    ok = client.post("/api/v1/users", json={**base, "username": "dan1", "cccd": "030090001234"})
    assert ok.status_code == 201 and ok.json()["cccd"] == "030090001234"
    assert [r["role"] for r in ok.json()["roles"]] == ["citizen"]  # the default role of a citizen
    dup = client.post("/api/v1/users", json={**base, "username": "dan2", "cccd": "030090001234"})
    assert dup.status_code == 409
    taken = client.post("/api/v1/users", json={**base, "username": "DAN1", "cccd": "030090001235"})
    assert taken.status_code == 409
