"""Fees: VietQR payload, the payment simulator's signed callback, idempotent repeats, receipts."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartprovince.procedures import vietqr
from smartprovince.procedures.adapters import payment as payment_adapter
from smartprovince.procedures.config import get_procedures_settings

PASSPORT = "1.004194"  # Công an tỉnh; 7 000 đ when submitted online


def _act(client, api, who, dossier_id, verb, **body):
    r = client.post(f"/api/v1/procedures/dossiers/{dossier_id}/actions/{verb}", json=body, headers=api(who))
    assert r.status_code == 200, r.text
    return r.json()


def _fees_due(client, api):
    r = client.post("/api/v1/procedures/dossiers", headers=api("citizen"),
                    json={"procedure_code": PASSPORT, "agency_code": "cong-an-tinh"})
    assert r.status_code == 201, r.text
    d = r.json()
    _act(client, api, "police", d["id"], "claim")
    _act(client, api, "police", d["id"], "receive")
    d = _act(client, api, "police", d["id"], "request_fee")
    assert d["status"] == 6
    return d


def _signed(body: dict) -> tuple[bytes, dict]:
    raw = orjson.dumps(body)
    return raw, {"Content-Type": "application/json",
                 "X-Signature": payment_adapter.sign(get_procedures_settings().payment_secret, raw)}


def test_known_crc_and_a_payload_a_bank_app_reads():
    assert vietqr.crc16_ccitt(b"123456789") == 0x29B1  # the CRC-16/CCITT-FALSE check value
    p = vietqr.build_payload(bank_bin="970415", account="113366668888", amount=79000, purpose="Thanh toán đơn")
    f = vietqr.parse_fields(p)
    assert f["00"] == "01" and f["01"] == "12" and f["53"] == "704" and f["54"] == "79000" and f["58"] == "VN"
    merchant = vietqr.parse_fields(f["38"])
    assert merchant["00"] == "A000000727" and merchant["02"] == "QRIBFTTA"
    assert vietqr.parse_fields(merchant["01"]) == {"00": "970415", "01": "113366668888"}
    assert vietqr.parse_fields(f["62"]) == {"08": "Thanh toan don"}
    assert vietqr.check_crc(p)


@given(amount=st.integers(1, 10**12), account=st.from_regex(r"[0-9]{6,19}", fullmatch=True),
       purpose=st.text(max_size=60), pos=st.integers(0, 10_000), char=st.sampled_from("0123456789ABCXYZ"))
def test_every_payload_checks_and_any_changed_character_is_caught(amount, account, purpose, pos, char):
    p = vietqr.build_payload(bank_bin="970436", account=account, amount=amount, purpose=purpose)
    assert vietqr.check_crc(p)
    fields = vietqr.parse_fields(p)
    assert int(fields["54"]) == amount and vietqr.parse_fields(vietqr.parse_fields(fields["38"])["01"])["01"] == account
    i = pos % (len(p) - 4)
    if p[i] != char:
        assert not vietqr.check_crc(p[:i] + char + p[i + 1:])


def test_citizen_pays_through_the_simulator_once_even_if_called_back_twice(api, client, monkeypatch):
    d = _fees_due(client, api)
    pid = d["payments"][0]["id"]
    order = client.get(f"/api/v1/procedures/dossiers/{d['id']}/payments/{pid}", headers=api("citizen")).json()
    assert order["amount"] == 7000 and vietqr.check_crc(order["vietqr"])
    assert order["pay_url"] == f"/portal/payment-simulator/{pid}"
    assert vietqr.parse_fields(vietqr.parse_fields(order["vietqr"])["62"])["08"] == d["code"]
    svg = client.get(order["qr_url"], headers=api("citizen"))
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    # Another citizen sees nothing of it.
    assert client.get(f"/api/v1/procedures/dossiers/{d['id']}/payments/{pid}",
                      headers=api("other_citizen")).status_code == 404
    # The applicant cannot simply declare the fee paid.
    r = client.post(f"/api/v1/procedures/dossiers/{d['id']}/applicant/pay", json={}, headers=api("citizen"))
    assert r.status_code == 403
    sent = []

    def deliver(url, body, headers):
        sent.append((url, body, headers))
        return client.post("/api/v1/procedures/payments/callback", content=body, headers=headers).status_code

    monkeypatch.setattr(payment_adapter, "deliver_callback", deliver)
    r = client.post(f"/api/v1/procedures/payment-simulator/orders/{pid}/pay", headers=api("citizen"))
    assert r.status_code == 200 and r.json()["callback_status"] == 200, r.text
    assert sent[0][0] == "http://testserver/api/v1/procedures/payments/callback"
    after = client.get(f"/api/v1/procedures/dossiers/{d['id']}", headers=api("citizen")).json()
    assert after["status"] == 4 and after["fee_paid"] == 7000
    receipt = after["payments"][0]["receipt_no"]
    assert after["payments"][0]["method"] == "online" and receipt.startswith("BL-" + d["code"])
    # The platform repeats the same callback: same answer, nothing added.
    again = client.post("/api/v1/procedures/payments/callback", content=sent[0][1], headers=sent[0][2])
    assert again.status_code == 200 and again.json()["receipt_no"] == receipt
    final = client.get(f"/api/v1/procedures/dossiers/{d['id']}", headers=api("citizen")).json()
    assert final["fee_paid"] == 7000 and [a["verb"] for a in final["actions"]].count("pay") == 1
    # A second, different transaction for the settled order is refused so the platform refunds it.
    raw, headers = _signed({"order_id": pid, "provider_ref": "OTHER-1", "amount": 7000, "status": "paid"})
    assert client.post("/api/v1/procedures/payments/callback", content=raw, headers=headers).status_code == 409


@pytest.mark.parametrize(("change", "status"), [
    ("signature", 401), ("amount", 422), ("order", 404), ("shape", 422),
])
def test_bad_callbacks_are_refused_and_change_nothing(api, client, change, status):
    d = _fees_due(client, api)
    pid = d["payments"][0]["id"]
    body = {"order_id": pid, "provider_ref": "BANK-42", "amount": 7000, "status": "paid"}
    if change == "amount":
        body["amount"] = 1000
    if change == "order":
        body["order_id"] = "0" * 32
    if change == "shape":
        body.pop("provider_ref")
    raw, headers = _signed(body)
    if change == "signature":
        headers["X-Signature"] = "00" * 32
    r = client.post("/api/v1/procedures/payments/callback", content=raw, headers=headers)
    assert r.status_code == status and r.headers["content-type"].startswith("application/problem+json")
    after = client.get(f"/api/v1/procedures/dossiers/{d['id']}", headers=api("citizen")).json()
    assert after["status"] == 6 and after["fee_paid"] == 0


def test_http_platform_client_signs_orders():
    import httpx

    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["sig"] = request.headers["X-Signature"]
        seen["body"] = request.content
        return httpx.Response(201, json={"order_id": "abc", "pay_url": "https://pay.example/abc"})

    client = payment_adapter.HttpPaymentPlatform("https://pay.example", "M1", "k",
                                                 transport=httpx.MockTransport(handler))
    out = client.create_order(payment_adapter.PaymentOrder("abc", 5000, "TTHC X", "https://us/cb"))
    assert out.pay_url == "https://pay.example/abc"
    assert payment_adapter.verify("k", seen["body"], seen["sig"])
    assert orjson.loads(seen["body"])["amount"] == 5000
    down = payment_adapter.HttpPaymentPlatform("https://pay.example", "M1", "k", transport=httpx.MockTransport(
        lambda r: httpx.Response(503)))
    with pytest.raises(payment_adapter.PaymentError):
        down.create_order(payment_adapter.PaymentOrder("abc", 5000, "TTHC X", "https://us/cb"))


def _pdf_text(data: bytes) -> str:
    import shutil
    import subprocess

    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True)  # noqa: S603, S607 - fixed argv
    return out.stdout.decode()


def test_forms_and_fee_receipt_are_vietnamese_pdfs(api, client, monkeypatch):
    d = _fees_due(client, api)
    pid = d["payments"][0]["id"]
    base = f"/api/v1/procedures/dossiers/{d['id']}"
    r = client.get(f"{base}/forms/receipt.pdf", headers=api("citizen"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf" and r.content[:5] == b"%PDF-"
    text = _pdf_text(r.content)
    assert "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in text and d["code"] in text and d["lookup_key"] in text
    control = _pdf_text(client.get(f"{base}/forms/control.pdf", headers=api("police")).content)
    assert "PHIẾU KIỂM SOÁT" in control and "Tiếp nhận hồ sơ" in control
    # Forms that do not apply answer 404; so does someone else's dossier.
    assert client.get(f"{base}/forms/refusal.pdf", headers=api("citizen")).status_code == 404
    assert client.get(f"{base}/forms/receipt.pdf", headers=api("other_citizen")).status_code == 404
    assert client.get(f"{base}/payments/{pid}/receipt.pdf", headers=api("citizen")).status_code == 404
    raw, headers = _signed({"order_id": pid, "provider_ref": "BANK-7", "amount": 7000, "status": "paid"})
    assert client.post("/api/v1/procedures/payments/callback", content=raw, headers=headers).status_code == 200
    receipt = client.get(f"{base}/payments/{pid}/receipt.pdf", headers=api("citizen"))
    assert receipt.status_code == 200
    text = _pdf_text(receipt.content)
    assert "BIÊN LAI THU PHÍ, LỆ PHÍ" in text and "7.000 đồng" in text and "BANK-7" in text
