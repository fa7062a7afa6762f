"""What keeps a public GET cheap (issue #3): the process's long-lived objects are frozen for the collector, …"""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient


def test_startup_freezes_the_long_lived_objects_and_shutdown_thaws_them(app) -> None:
    before = gc.get_freeze_count()
    with TestClient(app) as client:
        # Routes, tables and schemas are out of the collector's view while the app serves.
        assert gc.get_freeze_count() > before + 10_000
        assert client.get("/healthz").status_code == 200
    assert gc.get_freeze_count() == 0  # a test process builds many apps; none stays frozen
