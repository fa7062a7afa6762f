"""Lĩnh vực phản ánh — report categories, read from JSON data files (never from code).

The shipped file is ``data/categories.json``. A sector pack adds its own categories with
:func:`add_category_file` (same shape). Each category says:

* ``unit`` — who handles a report: ``"commune"`` (the commune where the problem is), ``"district"``
  (the district of that commune) or the code of an organisation (``"so-y-te"``);
* ``areas`` — overrides of ``unit`` for one district or commune code (``{"288": "so-xay-dung"}``);
* ``sla`` — time allowed to resolve: ``{"hours": N}`` (clock hours) or ``{"working_days": N}``
  (working days of the government calendar, ``core.calendar``);
* ``duplicate_radius_m`` / ``duplicate_hours`` — two reports of the same category closer than this
  distance and time are suggested as duplicates (0 = never).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

_extra_files: list[Path] = []
_cache: dict[str, Any] | None = None


@dataclass(frozen=True)
class Category:
    """One category of citizen report (loại phản ánh), the Open311 "service"."""

    code: str
    name: str
    name_en: str
    group: str
    keywords: str
    unit: str
    areas: dict[str, str] = field(default_factory=dict)
    sla_hours: int | None = None
    sla_working_days: int | None = None
    duplicate_radius_m: float = 0.0
    duplicate_hours: float = 0.0


def _parse(raw: dict[str, Any]) -> Category:
    sla = raw.get("sla") or {}
    if ("hours" in sla) == ("working_days" in sla):
        raise ValueError(f"category {raw.get('code')!r}: sla needs exactly one of 'hours' or 'working_days'")
    return Category(
        code=str(raw["code"]), name=str(raw["name"]), name_en=str(raw.get("name_en") or raw["name"]),
        group=str(raw.get("group") or ""), keywords=str(raw.get("keywords") or ""), unit=str(raw["unit"]),
        areas={str(k): str(v) for k, v in (raw.get("areas") or {}).items()},
        sla_hours=int(sla["hours"]) if "hours" in sla else None,
        sla_working_days=int(sla["working_days"]) if "working_days" in sla else None,
        duplicate_radius_m=float(raw.get("duplicate_radius_m") or 0),
        duplicate_hours=float(raw.get("duplicate_hours") or 0),
    )


def _load() -> dict[str, Any]:
    global _cache
    if _cache is None:
        texts = [resources.files("smartprovince.feedback").joinpath("data/categories.json").read_text("utf-8")]
        texts += [p.read_text("utf-8") for p in _extra_files]
        cats: dict[str, Category] = {}
        dispatcher = ""
        for text in texts:
            data = json.loads(text)
            dispatcher = data.get("dispatcher") or dispatcher
            for raw in data.get("categories", []):
                cat = _parse(raw)
                cats[cat.code] = cat
        _cache = {"dispatcher": dispatcher, "categories": cats}
    return _cache


def add_category_file(path: str | Path) -> None:
    """Add the categories of another JSON file (a sector pack); a category with the same code replaces one."""
    _extra_files.append(Path(path))
    global _cache
    _cache = None


def all_categories() -> list[Category]:
    """Every category, in file order."""
    return list(_load()["categories"].values())


def get_category(code: str) -> Category | None:
    """The category with ``code``, or ``None``."""
    return _load()["categories"].get(code)


def dispatcher_code() -> str:
    """Code of the organisation that receives reports no unit could be found for (the IOC centre)."""
    return str(_load()["dispatcher"])
