"""``smartprovince open311 create-key NAME`` prints a key that the Open311 API then accepts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from smartprovince.cli import mount_module_commands
from smartprovince.settings import get_settings


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> Iterator[CliRunner]:
    monkeypatch.setenv("SMARTPROVINCE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SMARTPROVINCE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


@pytest.mark.parametrize("group", ["open311", "feedback"])
def test_create_key_prints_a_key_the_api_accepts(runner: CliRunner, client: TestClient, orgs: Any, group: str) -> None:
    result = runner.invoke(mount_module_commands(), [group, "create-key", "Ứng dụng Hải Dương S"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    data: dict[str, Any] = {"service_code": "street-lighting", "lat": "20.9401", "long": "106.3302",
                            "description": "Đèn tắt cả tuần", "attribute[area_code]": "10507", "api_key": key}
    accepted = client.post("/open311/v2/requests.json", data=data)
    refused = client.post("/open311/v2/requests.json", data={**data, "api_key": key + "x"})
    assert refused.status_code == 403
    assert accepted.status_code == 200, accepted.text  # GeoReport v2 answers a created request with 200
    assert accepted.json()[0]["service_request_id"]


def test_rebuild_stats_recounts(runner: CliRunner, client: TestClient, orgs: Any) -> None:
    body = {"category": "waste", "description": "Rác", "area_code": "10891"}
    assert client.post("/api/v1/feedback/reports", json=body).status_code == 201
    result = runner.invoke(mount_module_commands(), ["feedback", "rebuild-stats"])
    assert result.exit_code == 0, result.output
    assert "1 (unit, category) rows" in result.output
