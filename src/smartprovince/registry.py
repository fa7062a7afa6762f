"""The modules this platform is built from, in load order.

Add a module here (see docs/development/adding-a-module.md).
"""

from __future__ import annotations

import importlib
from functools import lru_cache

from smartprovince.core.modules import Module

MODULE_PATHS: list[str] = [
    "smartprovince.core.module",
    "smartprovince.identity.module",
    "smartprovince.web.module",
    "smartprovince.procedures.module",
    "smartprovince.feedback.module",
    "smartprovince.operations.module",
    "smartprovince.datahub.module",
    "smartprovince.sensing.module",
]


@lru_cache
def load_modules() -> tuple[Module, ...]:
    """Import every module's manifest (``<package>.module.module``)."""
    return tuple(importlib.import_module(path).module for path in MODULE_PATHS)


def import_all_models() -> None:
    """Import every module's ``models`` so ``Base.metadata`` knows all tables (Alembic, tests)."""
    for path in MODULE_PATHS:
        package = path.rsplit(".", 1)[0]
        try:
            importlib.import_module(f"{package}.models")
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.models":
                raise
