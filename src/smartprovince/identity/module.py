"""Identity module manifest."""

from __future__ import annotations

from smartprovince.core.modules import Module

module = Module(name="identity", title="Định danh và tổ chức")
