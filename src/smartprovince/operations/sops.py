"""SOP templates (quy trình ứng phó mẫu) per incident category, read from ``data/sops.json``.

A template gives the category's Vietnamese and English names, its default severity, the code of the
organisation that handles it by default, the deduplication radius and time window, the codes other
modules use for the same category (``aliases``) and the ordered checklist steps with the role that
does each. Adding a category is adding an entry to the file; no code changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from smartprovince.operations.lifecycle import SEVERITIES

FALLBACK = "other"


@dataclass(frozen=True)
class SopStep:
    """One checklist step: what to do (Vietnamese, English) and the built-in role that does it."""

    title: str
    title_en: str
    role: str


@dataclass(frozen=True)
class Sop:
    """Quy trình ứng phó — the template of one incident category."""

    code: str
    name: str
    name_en: str
    severity: str
    responsible_unit: str
    dedup_radius_m: float
    dedup_window_minutes: int
    aliases: tuple[str, ...]
    steps: tuple[SopStep, ...]


def parse_sops(raw: dict) -> dict[str, Sop]:
    """Check and read an SOP file's content; raises ``ValueError`` naming the first problem."""
    out: dict[str, Sop] = {}
    for item in raw.get("sops", []):
        code = item["code"]
        if code in out:
            raise ValueError(f"SOP {code!r} is defined twice")
        if item["severity"] not in SEVERITIES:
            raise ValueError(f"SOP {code!r}: unknown severity {item['severity']!r}")
        steps = tuple(SopStep(s["title"], s.get("title_en", ""), s["role"]) for s in item["steps"])
        if not steps:
            raise ValueError(f"SOP {code!r} has no steps")
        out[code] = Sop(
            code=code,
            name=item["name"],
            name_en=item.get("name_en", ""),
            severity=item["severity"],
            responsible_unit=item.get("responsible_unit", ""),
            dedup_radius_m=float(item.get("dedup_radius_m", 0)),
            dedup_window_minutes=int(item.get("dedup_window_minutes", 0)),
            aliases=tuple(a.lower() for a in item.get("aliases", [])),
            steps=steps,
        )
    if FALLBACK not in out:
        raise ValueError(f"the SOP file needs an {FALLBACK!r} entry for unknown categories")
    return out


@lru_cache
def all_sops() -> dict[str, Sop]:
    """Every SOP template shipped with the platform, by category code."""
    text = resources.files("smartprovince.operations").joinpath("data/sops.json").read_text("utf-8")
    return parse_sops(json.loads(text))


def sop_for(category: str | None) -> Sop:
    """The template of ``category`` — by code, else by alias, else the ``other`` template."""
    sops = all_sops()
    key = (category or "").strip().lower()
    if key in sops:
        return sops[key]
    for sop in sops.values():
        if key and key in sop.aliases:
            return sop
    return sops[FALLBACK]


def match_category(*texts: object) -> str:
    """The SOP code for the first text that names a category: a code, an alias, or a name containing an alias.

    Feeds name categories their own way (a report category code, a sensor's observed property, a
    threshold's name such as "Mực nước sông Sặt vượt báo động 2"); texts that match nothing give ``other``.
    """
    sops = all_sops()
    words = [str(t).strip().lower() for t in texts if t not in (None, "")]
    for w in words:
        sop = sop_for(w)
        if sop.code != FALLBACK:
            return sop.code
    for w in words:
        for sop in sops.values():
            if any(len(a) >= 3 and a in w for a in sop.aliases):
                return sop.code
    return FALLBACK
