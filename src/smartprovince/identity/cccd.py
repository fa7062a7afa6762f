"""Căn cước công dân (CCCD) — the 12-digit Vietnamese citizen identity number.

Layout (Thông tư 59/2021/TT-BCA): ``PPP G YY NNNNNN``

* ``PPP`` — code of the province or city where the citizen was born (001–096, 63 official codes);
* ``G`` — century and sex: 0/1 = 20th century male/female, 2/3 = 21st, 4/5 = 22nd, 6/7 = 23rd, 8/9 = 24th;
* ``YY`` — the last two digits of the year of birth;
* ``NNNNNN`` — a random serial number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from smartprovince.core import clock

# Birth-place codes of the 63 provinces and cities (the codes that appear on CCCD cards).
PROVINCE_CODES: frozenset[str] = frozenset(
    f"{n:03d}"
    for n in (
        1, 2, 4, 6, 8, 10, 11, 12, 14, 15, 17, 19, 20, 22, 24, 25, 26, 27, 30, 31, 33, 34, 35, 36, 37, 38,
        40, 42, 44, 45, 46, 48, 49, 51, 52, 54, 56, 58, 60, 62, 64, 66, 67, 68, 70, 72, 74, 75, 77, 79, 80,
        82, 83, 84, 86, 87, 89, 91, 92, 93, 94, 95, 96,
    )
)

_PATTERN = re.compile(r"^\d{12}$")


class InvalidCccd(ValueError):
    """The text is not a valid 12-digit CCCD; the message says which part is wrong."""


@dataclass(frozen=True)
class CccdInfo:
    """What a CCCD number says about its holder."""

    number: str
    province_code: str
    sex: str  # "male" | "female"
    birth_year: int
    serial: str


def parse_cccd(value: str) -> CccdInfo:
    """Check ``value`` and return what it encodes; raise ``InvalidCccd`` when it is not valid.

    Spaces around the number are ignored. A birth year in the future is refused.
    """
    number = (value or "").strip()
    if not _PATTERN.match(number):
        raise InvalidCccd("Số CCCD phải gồm đúng 12 chữ số (a CCCD has exactly 12 digits).")
    province = number[:3]
    if province not in PROVINCE_CODES:
        raise InvalidCccd(f"Mã tỉnh nơi đăng ký khai sinh {province} không hợp lệ (unknown province code).")
    gender_digit = int(number[3])
    century = 1900 + 100 * (gender_digit // 2)
    birth_year = century + int(number[4:6])
    if birth_year > clock.now().year:
        raise InvalidCccd("Năm sinh trong số CCCD ở tương lai (the birth year is in the future).")
    return CccdInfo(
        number=number,
        province_code=province,
        sex="male" if gender_digit % 2 == 0 else "female",
        birth_year=birth_year,
        serial=number[6:],
    )


def is_valid_cccd(value: str) -> bool:
    """True when ``value`` is a valid CCCD number."""
    try:
        parse_cccd(value)
    except InvalidCccd:
        return False
    return True


def make_cccd(province_code: str, sex: str, birth_year: int, serial: str) -> str:
    """Build a CCCD number from its parts (demo data, tests). The inverse of ``parse_cccd``."""
    if not 1900 <= birth_year <= 2399:
        raise InvalidCccd("birth year must be between 1900 and 2399")
    gender_digit = 2 * ((birth_year - 1900) // 100) + (0 if sex == "male" else 1)
    return f"{province_code}{gender_digit}{birth_year % 100:02d}{serial}"
