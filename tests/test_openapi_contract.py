"""Schemathesis over the app's whole OpenAPI description (``/api/v1/openapi.json``), in-process.

For every operation, generated requests (authenticated as the administrator with a bearer token)
must never produce a server error, and every response must match the schema the operation
declares (status code, content type and body). The run is derandomised and small per operation so
the suite stays fast; it grows by itself as modules add endpoints.
"""

from __future__ import annotations

import uuid
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

MAX_EXAMPLES = 12
CHECKS = [not_a_server_error, response_schema_conformance]


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every documented operation, read from an app built without a database."""
    from smartprovince.app import create_app
    from smartprovince.settings import Settings

    app = create_app(Settings(environment="test", database_url="sqlite://", secret_key="openapi", load_demo=False))
    spec = app.openapi()
    app.state.db.dispose()
    found = []
    for path, item in spec.get("paths", {}).items():
        for method in item:
            if method.upper() in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
                found.append((method.upper(), path))
    return sorted(found)


OPERATIONS = _operations()


def test_the_description_covers_the_api() -> None:
    assert len(OPERATIONS) >= 10, OPERATIONS


def _admin_token(db: Database) -> str:
    with db.session() as session:
        identity.sync_builtin_roles(session)
        user = identity.create_user(
            session, actor=SYSTEM, username="admin.contract", password=f"pw-{uuid.uuid4().hex}",
            full_name="Contract Admin", kind="officer", roles=[("admin", None)],
        )
        return identity.issue_token(session, user_id=user.id, name="schemathesis", actor=SYSTEM, days=0)


def test_every_operation_honours_its_contract(app: Any, database: Database) -> None:
    """One app and one administrator for the whole run (fast); failures are collected per operation."""
    token = _admin_token(database)
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    with TestClient(app):  # runs the app's startup (bus dispatcher, actor resolver) and shutdown
        schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
        for method, path in OPERATIONS:
            operation = schema[path][method]

            @hsettings(
                max_examples=MAX_EXAMPLES,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: report, don't minimise
            )
            @given(case=operation.as_strategy())
            def run(case: Any) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except Exception as exc:  # noqa: BLE001 - gather every operation's failure, then fail once
                inner = "\n".join(str(e) for e in getattr(exc, "exceptions", ()))
                failures.append(f"{method} {path}: {exc}\n{inner}")
    assert not failures, f"{len(failures)} operation(s) break their contract:\n\n" + "\n\n".join(failures)
