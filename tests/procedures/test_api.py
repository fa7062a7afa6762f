"""The procedures API as a client uses it: catalog, submit, officer actions, tracking, problem+json errors."""

from __future__ import annotations

import io

BIRTH = "1.001193"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _submit(client, api, **extra):
    body = {"procedure_code": BIRTH, "agency_code": "10792", **extra}
    r = client.post("/api/v1/procedures/dossiers", json=body, headers=api("citizen"))
    assert r.status_code == 201, r.text
    return r.json()


def _act(client, api, who, dossier_id, verb, **body):
    return client.post(f"/api/v1/procedures/dossiers/{dossier_id}/actions/{verb}", json=body, headers=api(who))


def test_catalog_is_public_and_searchable(env, client):
    r = client.get("/api/v1/procedures/catalog", params={"q": "khai sinh", "limit": 50})
    assert r.status_code == 200
    codes = [p["code"] for p in r.json()["items"]]
    assert BIRTH in codes
    r = client.get("/api/v1/procedures/catalog", params={"essential": True, "limit": 100})
    assert len(r.json()["items"]) == 25
    detail = client.get(f"/api/v1/procedures/catalog/{BIRTH}").json()
    assert detail["cutoff_hour"] == 15 and detail["documents"][0]["name"] == "Tờ khai đăng ký khai sinh"
    r = client.get("/api/v1/procedures/catalog/NO-SUCH")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")


def test_citizen_submits_officer_handles_anyone_tracks(api, client):
    d = _submit(client, api, applicant={"name": "Nguyễn Thị Hoa", "cccd": "030190001234"})
    assert d["status"] == 1 and d["code"].startswith("10792-")
    r = client.post(f"/api/v1/procedures/dossiers/{d['id']}/attachments", headers=api("citizen"),
                    files={"file": ("giay-chung-sinh.png", io.BytesIO(PNG), "image/png")},
                    data={"document_name": "Giấy chứng sinh"})
    assert r.status_code == 201, r.text
    assert r.json()["digitised"] is True
    # Receiving without a claim is refused; with a claim it works.
    assert _act(client, api, "onestop", d["id"], "receive").status_code == 409
    assert _act(client, api, "onestop", d["id"], "claim").status_code == 200
    r = _act(client, api, "onestop", d["id"], "receive")
    assert r.status_code == 200 and r.json()["status"] == 2 and r.json()["due_at"]
    assert _act(client, api, "onestop", d["id"], "forward").json()["status"] == 4
    _act(client, api, "leader", d["id"], "claim")
    assert _act(client, api, "leader", d["id"], "finish", note="Đã ký").json()["status"] == 9
    _act(client, api, "onestop", d["id"], "claim")
    r = _act(client, api, "onestop", d["id"], "return_result", method="electronic")
    assert r.json()["status"] == 10
    t = client.get("/api/v1/procedures/lookup", params={"code": d["code"], "key": d["lookup_key"]})
    assert t.status_code == 200
    body = t.json()
    assert body["status_label"] == "Đã trả kết quả" and body["applicant_initials"] == "N.T.H."
    assert [e["verb"] for e in body["timeline"]] == ["submit", "receive", "forward", "finish", "return_result"]
    assert "Nguyễn" not in t.text
    wrong = client.get("/api/v1/procedures/lookup", params={"code": d["code"], "key": "WRONGKEY"})
    assert wrong.status_code == 404


def test_illegal_action_is_409_problem(api, client):
    d = _submit(client, api)
    _act(client, api, "onestop", d["id"], "claim")
    r = _act(client, api, "onestop", d["id"], "finish")
    assert r.status_code in (403, 409)
    r = _act(client, api, "onestop", d["id"], "return_result", method="post")
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")


def test_other_agency_and_other_citizen_see_nothing(api, client):
    d = _submit(client, api)
    assert client.get(f"/api/v1/procedures/dossiers/{d['id']}", headers=api("other_commune")).status_code == 404
    assert client.get(f"/api/v1/procedures/dossiers/{d['id']}", headers=api("other_citizen")).status_code == 404
    assert _act(client, api, "other_commune", d["id"], "claim").status_code == 404
    assert client.get(f"/api/v1/procedures/dossiers/{d['id']}", headers=api("leader")).status_code == 200
    assert client.get(f"/api/v1/procedures/dossiers/{d['id']}").status_code == 401
    lst = client.get("/api/v1/procedures/dossiers", headers=api("other_commune")).json()
    assert lst["items"] == []
    mine = client.get("/api/v1/procedures/my-dossiers", headers=api("citizen")).json()
    assert [x["id"] for x in mine["items"]] == [d["id"]]


def test_bad_input_is_422_never_500(api, client):
    r = client.post("/api/v1/procedures/dossiers", json={"procedure_code": BIRTH}, headers=api("citizen"))
    assert r.status_code == 422  # a commune must be chosen
    r = client.post("/api/v1/procedures/dossiers", json={"procedure_code": BIRTH, "agency_code": "296"},
                    headers=api("citizen"))
    assert r.status_code == 422  # a district is not a commune
    r = client.post("/api/v1/procedures/dossiers", json={"procedure_code": "NOPE"}, headers=api("citizen"))
    assert r.status_code == 404
    d = _submit(client, api)
    r = client.post(f"/api/v1/procedures/dossiers/{d['id']}/attachments", headers=api("citizen"),
                    files={"file": ("virus.exe", io.BytesIO(b"MZ" + b"\x00" * 100), "application/pdf")})
    assert r.status_code == 415


def test_counter_intake_and_supplement_and_fee(api, client):
    r = client.post("/api/v1/procedures/intake", headers=api("police"), json={
        "procedure_code": "1.004194", "channel": "counter", "applicant": {"name": "Trần Văn Bình"}})
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["channel"] == "counter" and d["code"].startswith("cong-an-tinh-")
    _act(client, api, "police", d["id"], "claim")
    _act(client, api, "police", d["id"], "receive")
    r = _act(client, api, "police", d["id"], "request_fee")
    assert r.json()["status"] == 6 and r.json()["fee_total"] == 15000
    r = client.post(f"/api/v1/procedures/dossiers/{d['id']}/applicant/pay", json={"method": "counter"},
                    headers=api("police"))
    assert r.status_code == 200 and r.json()["status"] == 4 and r.json()["fee_paid"] == 15000


def test_catalog_import_versions_a_changed_procedure(api, client):
    csv_text = ("code,name,field,agency_code,agency_name,level,online_level,processing_time,processing_unit,"
                "documents,fees\n"
                f"{BIRTH},Đăng ký khai sinh,Hộ tịch,,UBND cấp xã,commune,full,2,working_days,Tờ khai;Giấy chứng sinh,\n"
                "HD-X-1,Thủ tục thử,Thử nghiệm,so-tu-phap,Sở Tư pháp,province,none,5,working_days,,\n")
    r = client.post("/api/v1/procedures/catalog/import", headers=api("data"),
                    files={"file": ("catalog.csv", io.BytesIO(csv_text.encode()), "text/csv")})
    assert r.status_code == 200, r.text
    assert r.json() == {"created": ["HD-X-1"], "updated": [BIRTH], "unchanged": [], "superseded": []}
    assert client.get(f"/api/v1/procedures/catalog/{BIRTH}").json()["version"] == 2
    assert client.get(f"/api/v1/procedures/catalog/{BIRTH}", params={"version": 1}).json()["processing_time"] == 1
    bad = client.post("/api/v1/procedures/catalog/import", headers=api("data"),
                      files={"file": ("c.json", io.BytesIO(b'[{"code": "x"}]'), "application/json")})
    assert bad.status_code == 422 and bad.json()["errors"]
    assert client.post("/api/v1/procedures/catalog/import", headers=api("citizen"),
                       files={"file": ("c.json", io.BytesIO(b"[]"), "application/json")}).status_code == 403


def test_citizen_follows_a_counter_dossier_after_login_with_their_cccd(api, client):
    """A dossier handed in at the desk with the citizen's CCCD and name shows in their dossiers after
    login; a mistyped name links nobody, and another citizen never sees it."""
    CITIZEN_CCCD = "030190001234"  # the test citizen (conftest)

    def intake(name: str) -> dict:
        r = client.post("/api/v1/procedures/intake", headers=api("onestop"), json={
            "procedure_code": BIRTH, "channel": "counter", "agency_code": "10792",
            "applicant": {"name": name, "cccd": CITIZEN_CCCD}})
        assert r.status_code == 201, r.text
        return r.json()

    linked = intake("  nguyễn thị   HOA ")
    unlinked = intake("Nguyễn Thị Hòa")
    mine = client.get("/api/v1/procedures/my-dossiers", headers=api("citizen")).json()["items"]
    assert [d["code"] for d in mine] == [linked["code"]]
    r = client.get(f"/api/v1/procedures/dossiers/{linked['id']}", headers=api("citizen"))
    assert r.status_code == 200 and r.json()["channel"] == "counter"
    assert client.get(f"/api/v1/procedures/dossiers/{unlinked['id']}", headers=api("citizen")).status_code == 404
    assert client.get("/api/v1/procedures/my-dossiers", headers=api("other_citizen")).json()["items"] == []
    assert client.get(f"/api/v1/procedures/dossiers/{linked['id']}", headers=api("other_citizen")).status_code == 404


def test_leader_approves_with_the_electronic_result_and_only_the_applicant_downloads_it(api, client):
    """The result as a file (phê duyệt kèm kết quả điện tử): the applicant downloads it after the dossier
    is returned electronically; another citizen cannot; a finish that is not allowed yet is 409."""
    result_pdf = b"%PDF-1.4\n% giay khai sinh ban dien tu\n%%EOF\n"
    d = _submit(client, api)
    files = {"files": ("giay-khai-sinh.pdf", io.BytesIO(result_pdf), "application/pdf")}
    early = client.post(f"/api/v1/procedures/dossiers/{d['id']}/result", headers=api("leader"), files=files)
    assert early.status_code == 409 and early.headers["content-type"].startswith("application/problem+json")
    _act(client, api, "onestop", d["id"], "claim")
    _act(client, api, "onestop", d["id"], "receive")
    # Forwarded to another unit than the step's own: the unit is recorded on the dossier and in the log.
    r = _act(client, api, "onestop", d["id"], "forward", to_unit="Phòng Tư pháp huyện")
    assert r.json()["status"] == 4 and r.json()["current_unit"] == "Phòng Tư pháp huyện"
    _act(client, api, "leader", d["id"], "claim")
    files = {"files": ("giay-khai-sinh.pdf", io.BytesIO(result_pdf), "application/pdf")}
    r = client.post(f"/api/v1/procedures/dossiers/{d['id']}/result", headers=api("leader"), files=files,
                    data={"note": "Đã ký số"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == 9
    results = [a for a in r.json()["attachments"] if a["kind"] == "result"]
    assert [a["filename"] for a in results] == ["giay-khai-sinh.pdf"]
    _act(client, api, "onestop", d["id"], "claim")
    assert _act(client, api, "onestop", d["id"], "return_result", method="electronic").json()["status"] == 10
    url = f"/api/v1/procedures/dossiers/{d['id']}/attachments/{results[0]['id']}"
    got = client.get(url, headers=api("citizen"))
    assert got.status_code == 200 and got.content == result_pdf
    assert client.get(url, headers=api("other_citizen")).status_code == 404
    assert client.post(f"/api/v1/procedures/dossiers/{d['id']}/result", headers=api("citizen"),
                       files=files).status_code == 403
