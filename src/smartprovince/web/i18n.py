"""Translation of the user interface: Vietnamese first, English from a catalog.

Every Vietnamese text shown to a user is written in the templates (or in the web code) as
``t(<Vietnamese text>)``. When the language is Vietnamese, ``t`` returns the text as written. When the
language is English, ``t`` looks the text up in ``web/i18n/en.json`` (Vietnamese string → English
string) and returns the English, or the Vietnamese text when no entry exists yet (a test checks
that every string has one).

The language of a request comes from the ``sp_lang`` cookie (set by the language switch link),
else from the browser's ``Accept-Language`` header, else Vietnamese.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request

LANG_COOKIE = "sp_lang"
LANGUAGES = ("vi", "en")
DEFAULT_LANG = "vi"
CATALOG_DIR = Path(__file__).parent / "i18n"

Translator = Callable[..., str]


@lru_cache
def catalog(lang: str) -> dict[str, str]:
    """The catalog for ``lang`` (Vietnamese string → translated string); empty for Vietnamese."""
    if lang == DEFAULT_LANG:
        return {}
    path = CATALOG_DIR / f"{lang}.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_") and isinstance(v, str)}


def translator(lang: str) -> Translator:
    """A ``t(text, **values)`` function for ``lang``; ``values`` fill ``{name}`` placeholders."""
    entries = catalog(lang)

    def t(text: str, **values: Any) -> str:
        out = entries.get(text, text)
        if values:
            try:
                return out.format(**values)
            except (KeyError, IndexError, ValueError):
                return out
        return out

    return t


def _parse_accept_language(header: str) -> str | None:
    """The supported language the browser prefers most, or None."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(header.split(",")):
        piece = part.strip()
        if not piece:
            continue
        tag, _, params = piece.partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES or quality <= 0:
            continue
        key = (quality, -position, primary)
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best else None


def request_lang(request: Request) -> str:
    """The language for this request: cookie ``sp_lang``, else ``Accept-Language``, else Vietnamese."""
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in LANGUAGES:
        return cookie
    header = request.headers.get("accept-language", "")
    return _parse_accept_language(header) or DEFAULT_LANG
