"""Every Vietnamese text shown through t("…") has an English entry; language choice rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import smartprovince
from smartprovince.web.i18n import CATALOG_DIR, _parse_accept_language, translator

SRC = Path(smartprovince.__file__).parent
CALL = re.compile(r"""\bt\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")


def _literal_strings() -> dict[str, str]:
    """Every literal t("…") text in the templates of every module and in the web module's Python code."""
    files = list(SRC.rglob("templates/**/*.html")) + list((SRC / "web").glob("*.py"))
    found: dict[str, str] = {}
    for path in files:
        for m in CALL.finditer(path.read_text(encoding="utf-8")):
            text = m.group(1) if m.group(1) is not None else m.group(2)
            found.setdefault(text, str(path.relative_to(SRC)))
    return found


def test_every_template_string_has_an_english_entry() -> None:
    catalog = json.loads((CATALOG_DIR / "en.json").read_text(encoding="utf-8"))
    strings = _literal_strings()
    assert len(strings) > 100, "the scan found too few strings: the pattern is broken"
    missing = sorted(f"{text!r} ({where})" for text, where in strings.items() if text not in catalog)
    assert not missing, "add these to web/i18n/en.json:\n" + "\n".join(missing)


def test_catalog_entries_are_non_empty_and_keep_placeholders() -> None:
    catalog = json.loads((CATALOG_DIR / "en.json").read_text(encoding="utf-8"))
    for vi, en in catalog.items():
        assert isinstance(en, str) and en.strip(), vi
        assert set(re.findall(r"{(\w+)}", vi)) == set(re.findall(r"{(\w+)}", en)), vi


def test_translator_returns_vietnamese_or_english() -> None:
    assert translator("vi")("Đăng nhập") == "Đăng nhập"
    assert translator("en")("Đăng nhập") == "Log in"
    assert translator("en")("Cây tổ chức gồm {n} đơn vị.", n=3) == "The organisation tree has 3 organisations."
    assert translator("en")("Chuỗi chưa dịch") == "Chuỗi chưa dịch"


def test_accept_language_examples() -> None:
    assert _parse_accept_language("en-US,en;q=0.9") == "en"
    assert _parse_accept_language("vi-VN,vi;q=0.9,en;q=0.8") == "vi"
    assert _parse_accept_language("fr-FR,en;q=0.5,vi;q=0.7") == "vi"
    assert _parse_accept_language("fr, de") is None
    assert _parse_accept_language("en;q=0") is None


@given(st.text(max_size=200))
def test_accept_language_never_fails(header: str) -> None:
    assert _parse_accept_language(header) in (None, "vi", "en")
