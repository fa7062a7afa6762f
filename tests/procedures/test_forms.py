"""The letters to the applicant as PDF in Vietnamese: supplement request, refusal, apology-and-extension;
the receipt carries the tracking QR code."""

from __future__ import annotations

import shutil
import subprocess

import pytest

BIRTH = "1.001193"


def _pdf_text(data: bytes) -> str:
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True)  # noqa: S603, S607 - fixed argv
    return out.stdout.decode()


def _submit(client, api) -> dict:
    r = client.post("/api/v1/procedures/dossiers", headers=api("citizen"), json={
        "procedure_code": BIRTH, "agency_code": "10792", "applicant": {"name": "Nguyễn Thị Hoa"}})
    assert r.status_code == 201, r.text
    return r.json()


def _act(client, api, who, dossier_id, verb, **body) -> dict:
    r = client.post(f"/api/v1/procedures/dossiers/{dossier_id}/actions/{verb}", json=body, headers=api(who))
    assert r.status_code == 200, r.text
    return r.json()


def _form(client, api, dossier_id: str, kind: str, who: str = "citizen") -> str:
    r = client.get(f"/api/v1/procedures/dossiers/{dossier_id}/forms/{kind}.pdf", headers=api(who))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.content[:5] == b"%PDF-"
    return _pdf_text(r.content)


def test_refusal_letter_names_the_reason(api, client):
    d = _submit(client, api)
    _act(client, api, "onestop", d["id"], "claim")
    _act(client, api, "onestop", d["id"], "refuse", reason="Giấy chứng sinh không hợp lệ")
    text = _form(client, api, d["id"], "refusal")
    assert "Lý do từ chối" in text and "Giấy chứng sinh không hợp lệ" in text and d["code"] in text


def test_supplement_request_and_apology_letters(api, client):
    d = _submit(client, api)
    _act(client, api, "onestop", d["id"], "claim")
    received = _act(client, api, "onestop", d["id"], "receive")
    # The receipt carries the tracking QR code (an image) beside the code and the lookup key.
    receipt = client.get(f"/api/v1/procedures/dossiers/{d['id']}/forms/receipt.pdf", headers=api("citizen"))
    assert b"/Subtype /Image" in receipt.content
    _act(client, api, "onestop", d["id"], "claim")
    _act(client, api, "onestop", d["id"], "request_supplement", reason="Thiếu bản sao giấy đăng ký kết hôn")
    text = _form(client, api, d["id"], "supplement")
    assert "Thiếu bản sao giấy đăng ký kết hôn" in text and "không tính vào thời hạn giải quyết" in text
    client.post(f"/api/v1/procedures/dossiers/{d['id']}/applicant/supplement", headers=api("citizen"),
                json={"note": "Đã bổ sung"})
    _act(client, api, "onestop", d["id"], "claim")
    new_due = received["due_at"].replace("2026-03-03", "2026-03-10")
    _act(client, api, "onestop", d["id"], "extend", new_due_at=new_due, reason="Cần xác minh thêm")
    text = _form(client, api, d["id"], "apology")
    assert "xin lỗi" in text and "Cần xác minh thêm" in text and "Hẹn trả lại" in text
    # The citizen cannot read another applicant's letters.
    assert client.get(f"/api/v1/procedures/dossiers/{d['id']}/forms/apology.pdf",
                      headers=api("other_citizen")).status_code == 404
