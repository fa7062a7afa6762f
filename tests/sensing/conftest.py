"""Fixtures of the sensing tests: a SensorThings writer, HTTP Basic headers, a live server for real clients."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

TEST_PASSWORD = "mat-khau-thu-nghiem-1"  # noqa: S105 - the password make_user gives in tests

STA = "/sta/v1.1"


def basic(username: str, password: str = TEST_PASSWORD) -> dict[str, str]:
    """HTTP Basic header, the way SensorThings clients authenticate."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def writer(make_user, database):  # type: ignore[no-untyped-def]
    """A data officer (holds sensing.sta.write) and a bearer header (Basic costs an argon2 check per call)."""
    from smartprovince import identity
    from smartprovince.core.security import SYSTEM

    user = make_user("sta.writer", role="data_officer")
    with database.session() as s:
        token = identity.issue_token(s, user_id=user.id, name="sta tests", actor=SYSTEM)
    return {"Authorization": f"Bearer {token}"}


THING = {
    "name": "Trạm không khí Thanh Bình",
    "description": "Quan trắc không khí tự động",
    "properties": {"kind": "air", "owner": "Sở TN&MT"},
    "Locations": [{"name": "Thanh Bình", "description": "Phường Thanh Bình", "encodingType": "application/geo+json",
                   "location": {"type": "Point", "coordinates": [106.3146, 20.9373]}}],
    "Datastreams": [{
        "name": "PM2.5 Thanh Bình", "description": "Bụi mịn",
        "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
        "unitOfMeasurement": {"name": "microgram per cubic metre", "symbol": "µg/m³", "definition": "ucum:ug/m3"},
        "ObservedProperty": {"name": "PM2.5", "definition": "http://example.org/pm25", "description": "Bụi mịn",
                             "properties": {"code": "PM2.5"}},
        "Sensor": {"name": "Máy đo bụi", "description": "Beta", "encodingType": "application/pdf",
                   "metadata": "https://example.org/sensor.pdf"},
    }],
}


def create_thing(client: Any, headers: dict[str, str], body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Deep-insert a Thing and return it with its Datastreams expanded."""
    r = client.post(f"{STA}/Things", json=body or THING, headers=headers)
    assert r.status_code == 201, r.text
    thing_id = r.json()["@iot.id"]
    return client.get(f"{STA}/Things({thing_id})?$expand=Datastreams,Locations").json()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(app: Any) -> Iterator[str]:
    """The test app served by uvicorn on a free port (for clients that speak real HTTP)."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
