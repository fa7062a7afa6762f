"""Categories are data: a sector pack adds its own file (``categories.add_category_file``) and its
categories are routed, timed and offered to Open311 clients like the shipped ones."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from smartprovince.core.security import SYSTEM
from smartprovince.feedback import categories, service
from smartprovince.feedback.models import Report

SECTOR_FILE = {
    "categories": [{
        "code": "clinic-hygiene", "name": "Vệ sinh cơ sở khám bệnh", "name_en": "Clinic hygiene",
        "group": "Y tế", "keywords": "trạm y tế,phòng khám", "unit": "so-tai-nguyen-va-moi-truong",
        "areas": {"295": "so-xay-dung"}, "sla": {"hours": 12}, "duplicate_radius_m": 50, "duplicate_hours": 6,
    }],
}


@pytest.fixture
def sector_categories(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "health-categories.json"
    path.write_text(json.dumps(SECTOR_FILE, ensure_ascii=False), "utf-8")
    categories.add_category_file(path)
    try:
        yield path
    finally:  # the category list is process-wide: leave it as the other tests expect it
        categories._extra_files.remove(path)
        categories._cache = None


def test_a_sector_adds_its_categories(sector_categories: Path, client: TestClient, orgs: Any, database: Any,
                                      frozen_clock: list[datetime]) -> None:
    assert categories.get_category("road-damage") is not None  # the shipped ones stay
    assert "clinic-hygiene" in {c["code"] for c in client.get("/api/v1/feedback/categories").json()}
    assert "clinic-hygiene" in {s["service_code"] for s in client.get("/open311/v2/services.json").json()}
    assert client.get("/open311/v2/services/clinic-hygiene.json").status_code == 200

    with database.session() as s:
        city = service.submit_report(s, actor=SYSTEM, report=service.NewReport(
            category_code="clinic-hygiene", description="Rác y tế để ngoài sân", area_code="10507"))
        cam_giang = service.submit_report(s, actor=SYSTEM, report=service.NewReport(
            category_code="clinic-hygiene", description="Nước thải chảy ra đường", area_code="10891"))
        # the category's unit, and its override for district 295; the category's own SLA in hours
        assert city.unit_id == orgs["so-tai-nguyen-va-moi-truong"].id
        assert cam_giang.unit_id == orgs["so-xay-dung"].id
        assert city.due_at == frozen_clock[0] + timedelta(hours=12)
        ids = (city.id, cam_giang.id)
    with database.session() as s:
        assert {s.get(Report, i).category_code for i in ids} == {"clinic-hygiene"}


def test_a_category_file_needs_one_kind_of_sla(tmp_path: Path) -> None:
    bad = {"categories": [{**SECTOR_FILE["categories"][0], "sla": {"hours": 4, "working_days": 1}}]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), "utf-8")
    categories.add_category_file(path)
    try:
        with pytest.raises(ValueError, match="exactly one"):
            categories.all_categories()
    finally:
        categories._extra_files.remove(path)
        categories._cache = None
    assert categories.get_category("clinic-hygiene") is None
