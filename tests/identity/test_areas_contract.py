"""Schemathesis over the two area operations with the reference province loaded (the whole-API contract
test runs on an empty database, where every collection is empty and every lookup a 404)."""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from smartprovince import identity
from smartprovince.core.db import Database
from smartprovince.core.security import SYSTEM


def test_area_operations_honour_their_contract_with_data(app: Any, database: Database) -> None:
    with database.session() as s:
        identity.load_organisations(s, "hai-duong", actor=SYSTEM)
    failures: list[str] = []
    with TestClient(app):
        schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
        for path in ("/api/v1/areas", "/api/v1/areas/locate"):
            operation = schema[path]["GET"]

            @hsettings(
                max_examples=40,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate],
            )
            @given(case=operation.as_strategy())
            def run(case: Any) -> None:
                case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])

            try:
                run()
            except Exception as exc:  # noqa: BLE001 - report both operations
                inner = "\n".join(str(e) for e in getattr(exc, "exceptions", ()))
                failures.append(f"GET {path}: {exc}\n{inner}")
    assert not failures, "\n\n".join(failures)
