"""Retired local codes (issue #3): HD-06-03/04/09 of the first catalog give way to the national codes
2.001159, 1.003677 and 1.001456 on a re-seed or an upgrade — hidden from the public catalog, no new
dossiers, the old dossiers kept (tracking, statistics), each old entry pointing to its national code."""

from __future__ import annotations

import io
import json
from pathlib import Path

from sqlalchemy import func, select, text

from smartprovince.core.audit import AuditEntry
from smartprovince.core.db import Database
from smartprovince.core.migrate import upgrade
from smartprovince.core.security import SYSTEM
from smartprovince.procedures import catalog, service
from smartprovince.procedures.models import Procedure

RETIRED = {"HD-06-03": "2.001159", "HD-06-04": "1.003677", "HD-06-09": "1.001456"}
HTML = {"accept": "text/html"}


def _old_local_entries(db: Database) -> None:
    """What an installation seeded before the codes were checked holds: the same services under local codes."""
    rows = [r.model_copy(update={"code": old, "national_code": None})
            for r in catalog.essential_services_rows() for old, new in RETIRED.items() if r.code == new]
    with db.session() as s:
        assert catalog.import_procedures(s, actor=SYSTEM, rows=rows).created == list(RETIRED)


def _old_dossier(env) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with env.db.session() as s:
        d = service.submit_dossier(s, actor=env.actor("congdan"), submission=service.Submission(
            procedure_code="HD-06-04", applicant=service.Applicant(name="Nguyễn Thị Hoa")))
        return {"code": d.code, "key": d.lookup_key}


def test_reseed_retires_the_old_local_entries_and_keeps_their_dossiers(env, api, client) -> None:
    _old_local_entries(env.db)
    old = _old_dossier(env)
    with env.db.session() as s:
        result = catalog.load_essential_services(s, actor=SYSTEM)
    assert sorted(result.superseded) == sorted(RETIRED) and not result.created

    # Hidden from the public catalog; the 25 essential services are the national codes.
    items = client.get("/api/v1/procedures/catalog", params={"essential": True, "limit": 100}).json()["items"]
    codes = {p["code"] for p in items}
    assert len(items) == 25 and set(RETIRED.values()) <= codes and not set(RETIRED) & codes
    assert not client.get("/api/v1/procedures/catalog", params={"q": "HD-06-04"}).json()["items"]

    # Each old entry is still readable and points to its national code.
    for old_code, new_code in RETIRED.items():
        detail = client.get(f"/api/v1/procedures/catalog/{old_code}").json()
        assert detail["superseded_by"] == new_code
    assert client.get("/api/v1/procedures/catalog/1.003677").json()["superseded_by"] is None

    # No new dossier under an old code: 409 naming the new one; the new code takes them.
    r = client.post("/api/v1/procedures/dossiers", json={"procedure_code": "HD-06-04"}, headers=api("citizen"))
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["superseded_by"] == "1.003677"
    r = client.post("/api/v1/procedures/dossiers", json={"procedure_code": "1.003677"}, headers=api("citizen"))
    assert r.status_code == 201, r.text

    # The dossier received under the old code keeps it.
    t = client.get("/api/v1/procedures/lookup", params=old)
    assert t.status_code == 200 and t.json()["procedure_code"] == "HD-06-04"
    assert t.json()["procedure_name"] == "Khai báo tạm vắng"


def test_reseeding_again_changes_nothing(env) -> None:
    _old_local_entries(env.db)
    with env.db.session() as s:
        assert len(catalog.load_essential_services(s, actor=SYSTEM).superseded) == 3
    with env.db.session() as s:
        again = catalog.load_essential_services(s, actor=SYSTEM)
        assert again.superseded == [] and not again.created and not again.updated
        entries = s.scalar(select(func.count()).select_from(AuditEntry)
                           .where(AuditEntry.action == "procedures.procedure.superseded"))
        assert entries == 3


def test_portal_page_of_an_old_code_points_to_the_new_one(env, make_user, client, login) -> None:
    _old_local_entries(env.db)
    with env.db.session() as s:
        catalog.load_essential_services(s, actor=SYSTEM)
    r = client.get("/portal/procedures/HD-06-03", headers=HTML)
    assert r.status_code == 200
    assert "Thủ tục này đã được thay bằng thủ tục mã 2.001159" in r.text
    assert 'href="/portal/procedures/2.001159"' in r.text and 'id="submit-link"' not in r.text
    r = client.get("/portal/procedures", params={"q": "lưu trú"}, headers=HTML)
    assert "HD-06-03" not in r.text and "2.001159" in r.text
    r = client.get("/portal/procedures/HD-06-03", headers={**HTML, "cookie": "sp_lang=en"})
    assert "This procedure was replaced by procedure 2.001159" in r.text
    login(make_user("hoa.web", role="citizen", kind="citizen", cccd="030190009999", full_name="Phạm Thị Hoa"))
    r = client.get("/portal/procedures/HD-06-03/submit", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/portal/procedures/2.001159/submit"


def test_an_imported_file_can_retire_codes_and_bad_mappings_are_refused(env, api, client) -> None:
    _old_local_entries(env.db)
    row = catalog.essential_services_rows()[0].model_dump(mode="json")
    good = {"procedures": [row], "superseded": {"HD-06-09": "1.001456"}}
    r = client.post("/api/v1/procedures/catalog/import", headers=api("data"),
                    files={"file": ("c.json", io.BytesIO(json.dumps(good).encode()), "application/json")})
    assert r.status_code == 200, r.text
    assert r.json()["superseded"] == ["HD-06-09"]
    for bad in ({"HD-06-03": 5}, ["HD-06-03"], {"HD-06-03": "HD-06-03"}, {"HD 06": "1.001456"}):
        body = json.dumps({"procedures": [row], "superseded": bad}).encode()
        r = client.post("/api/v1/procedures/catalog/import", headers=api("data"),
                        files={"file": ("c.json", io.BytesIO(body), "application/json")})
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), bad
    with env.db.session() as s:  # a refused file wrote nothing
        assert s.scalar(select(Procedure.superseded_by).where(Procedure.code == "HD-06-03")) is None


def test_upgrade_retires_the_old_entries_whose_national_code_is_there(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "procedures@procedures_0003")
    db = Database(url)
    columns = ("id, code, version, is_current, national_code, name, field, agency_code, agency_name, level, "
               "online_level, processing_time, processing_unit, fees, documents, result_kind, result_name, steps, "
               "legal_basis, is_essential, sort_order, created_at")
    with db.session() as s:
        for i, (code, national) in enumerate((("HD-06-03", None), ("2.001159", "2.001159"), ("HD-06-04", None))):
            s.execute(text(f"INSERT INTO procedure ({columns}) VALUES (:id, :code, 1, 1, :national, 'Thủ tục', "
                           "'Cư trú', 'cong-an-tinh', '', 'commune', 'full', 1, 'working_days', '[]', '[]', 'paper', "
                           "'', '[]', '', 1, 0, '2023-01-01 00:00:00')"), {"id": f"p{i}", "code": code,
                                                                           "national": national})
    db.dispose()
    upgrade(url)
    db = Database(url)
    with db.session() as s:
        got = dict(s.execute(select(Procedure.code, Procedure.superseded_by)).all())
    db.dispose()
    # HD-06-04's national code 1.003677 is not there yet: the next load of the catalog retires it.
    assert got == {"HD-06-03": "2.001159", "2.001159": None, "HD-06-04": None}
