"""Web module manifest."""

from __future__ import annotations

from smartprovince.core.modules import Module

module = Module(name="web", title="Giao diện web")
