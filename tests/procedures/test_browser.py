"""The whole path in headless Chromium: citizen submits → one-stop officer receives → specialist processes
and asks for the fee → citizen pays on the payment simulator (signed callback over HTTP) → leader approves →
result returned → citizen sees it, and the portal simulator got every status.

Skipped (not failed) only when Chromium or Playwright is absent. Screenshots go to a temporary folder, or
to ``SMARTPROVINCE_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smartprovince.core.migrate import upgrade

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "mat-khau-thu-nghiem-1"  # noqa: S105 - test accounts in a temporary database
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def live(tmp_path: Path, serve) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    from smartprovince import identity
    from smartprovince.app import create_app
    from smartprovince.core.bus import begin_write
    from smartprovince.core.db import Database
    from smartprovince.core.security import SYSTEM
    from smartprovince.procedures import catalog
    from smartprovince.settings import Settings

    url = f"sqlite:///{tmp_path / 'browser.db'}"
    upgrade(url)
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=url, load_demo=False,
                        secret_key="browser-test-secret", log_json=True)
    db = Database(url)
    with db.session() as s:
        begin_write(s)
        identity.sync_builtin_roles(s)
        province = identity.create_organisation(s, actor=SYSTEM, code="30", name="Tỉnh Hải Dương", level="province")
        district = identity.create_organisation(s, actor=SYSTEM, code="296", name="Huyện Cẩm Giàng",
                                                level="district", parent_id=province.id)
        commune = identity.create_organisation(s, actor=SYSTEM, code="10792", name="Thị trấn Lai Cách",
                                               level="commune", parent_id=district.id)
        for username, name, kind, role, org in [
            ("congdan", "Nguyễn Thị Hoa", "citizen", "citizen", None),
            ("motcua", "Lê Thị Mai", "officer", "onestop_officer", commune),
            ("chuyenvien", "Trần Văn Nam", "officer", "specialist", commune),
            ("lanhdao", "Phạm Văn Đức", "officer", "district_leader", district),
        ]:
            identity.create_user(s, actor=SYSTEM, username=username, password=PASSWORD, full_name=name, kind=kind,
                                 org_id=org.id if org else None, roles=[(role, org.id if org else None)],
                                 cccd="030190001234" if kind == "citizen" else None)
        catalog.load_essential_services(s, actor=SYSTEM)
    app = create_app(settings, db=db)
    yield {"base": serve(app), "app": app, "db": db}
    db.dispose()


@pytest.fixture
def browser(chromium):  # type: ignore[no-untyped-def]
    return chromium


def _login(browser: Any, sign_in: Any, base: str, username: str) -> Any:
    page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN").new_page()
    page.set_default_timeout(15000)
    sign_in(page, base, username, PASSWORD)
    return page


def _officer_does(page: Any, base: str, dossier_id: str, *verbs: str, fill: dict[str, str] | None = None,
                  files: dict[str, str] | None = None) -> None:
    for verb in verbs:
        page.goto(f"{base}/console/procedures/dossiers/{dossier_id}")
        form = page.locator(f"form[data-action='{verb}']")
        for selector, value in (fill or {}).items():
            if form.locator(selector).count():
                form.locator(selector).fill(value)
        for selector, path in (files or {}).items():
            if form.locator(selector).count():
                form.locator(selector).set_input_files(path)
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        assert "Đã thực hiện" in page.inner_text("main"), (verb, page.inner_text("main")[:500])


def test_citizen_to_result_with_online_payment(live: dict[str, Any], browser: Any, sign_in: Any, shots: Path,
                                                tmp_path: Path):
    from smartprovince.procedures.adapters import portal

    portal.SIMULATOR.records.clear()
    base = live["base"]

    # The citizen submits a birth registration online with the birth certificate.
    citizen = _login(browser, sign_in, base, "congdan")
    citizen.goto(base + "/portal/procedures/1.001193/submit")
    citizen.locator("#f-agency").select_option("10792")
    (tmp_path / "giay-chung-sinh.png").write_bytes(PNG)
    citizen.locator("#doc-1").set_input_files(str(tmp_path / "giay-chung-sinh.png"))
    citizen.locator("#submit-button").click()
    citizen.wait_for_url(re.compile(r".*/portal/dossiers/\w+"))
    dossier_id = citizen.url.rsplit("/", 1)[1].split("?")[0]
    code = re.search(r"Hồ sơ (\S+)", citizen.inner_text("h1")).group(1)  # type: ignore[union-attr]
    citizen.screenshot(path=str(shots / "procedures-1-submitted.png"), full_page=True)

    # The one-stop officer receives it and hands it to processing; the receipt slip is printable.
    onestop = _login(browser, sign_in, base, "motcua")
    onestop.goto(base + "/console/procedures")
    assert code in onestop.inner_text("main")
    _officer_does(onestop, base, dossier_id, "claim", "receive", "forward")
    onestop.goto(f"{base}/console/procedures/dossiers/{dossier_id}")
    assert onestop.locator("#forms a", has_text="Giấy tiếp nhận").count() == 1
    onestop.screenshot(path=str(shots / "procedures-2-received.png"), full_page=True)

    # The specialist claims it and asks for a fee of 8 000 đ.
    specialist = _login(browser, sign_in, base, "chuyenvien")
    _officer_does(specialist, base, dossier_id, "claim", "request_fee", fill={"input[name=amount]": "8000"})

    # The citizen pays: dossier page → payment page with the VietQR → payment simulator → back.
    citizen.goto(f"{base}/portal/dossiers/{dossier_id}")
    assert "Chờ thanh toán" in citizen.inner_text("main")
    citizen.locator("a.payment-link").click()
    citizen.wait_for_selector("#vietqr")
    # The QR is a separate request (qr.svg): wait until the image has loaded, not only the <img> tag.
    citizen.wait_for_function(
        "() => { const i = document.querySelector('#vietqr'); return i.complete && i.naturalWidth > 0; }")
    assert citizen.locator("#vietqr").evaluate("img => img.naturalWidth") > 100
    assert "8.000 đ" in citizen.inner_text("#amount")
    citizen.screenshot(path=str(shots / "procedures-3-payment.png"), full_page=True)
    citizen.locator("#pay-online").click()
    citizen.locator("#confirm-payment").click()
    citizen.wait_for_url(re.compile(rf".*/portal/dossiers/{dossier_id}.*"))
    assert "Thanh toán thành công" in citizen.inner_text("main"), citizen.inner_text("main")[:400]
    assert "Đã thanh toán" in citizen.inner_text("main") and "BL-" in citizen.inner_text("main")
    citizen.screenshot(path=str(shots / "procedures-4-paid.png"), full_page=True)

    # The specialist forwards for approval; the leader approves; the one-stop desk returns the result.
    _officer_does(specialist, base, dossier_id, "claim", "forward")
    leader = _login(browser, sign_in, base, "lanhdao")
    result_pdf = b"%PDF-1.4\n% ban dien tu giay khai sinh\n%%EOF\n"
    (tmp_path / "giay-khai-sinh.pdf").write_bytes(result_pdf)
    _officer_does(leader, base, dossier_id, "claim", "finish", fill={"#n-finish": "Đã ký giấy khai sinh"},
                  files={"#res-f": str(tmp_path / "giay-khai-sinh.pdf")})
    onestop.goto(f"{base}/console/procedures/dossiers/{dossier_id}")
    _officer_does(onestop, base, dossier_id, "claim")
    onestop.goto(f"{base}/console/procedures/dossiers/{dossier_id}")
    onestop.locator("form[data-action='return_result'] select[name=method]").select_option("electronic")
    onestop.locator("form[data-action='return_result'] button[type=submit]").click()
    onestop.wait_for_load_state()

    # The citizen sees the result returned, with the whole timeline.
    citizen.goto(f"{base}/portal/dossiers/{dossier_id}")
    assert citizen.inner_text("#dossier-status") == "Đã trả kết quả"
    # … and downloads the electronic result the leader attached.
    href = citizen.locator("a", has_text="Kết quả").first.get_attribute("href")
    assert citizen.request.get(base + href).body() == result_pdf
    citizen.screenshot(path=str(shots / "procedures-5-returned.png"), full_page=True)
    receipt = citizen.request.get(f"{base}/api/v1/procedures/dossiers/{dossier_id}/forms/receipt.pdf")
    assert receipt.status == 200 and receipt.body()[:5] == b"%PDF-"

    # Every status change reached the national portal (simulator) through the bus.
    from smartprovince.core.bus import bus_of

    bus_of(live["app"]).drain()
    assert portal.SIMULATOR.records[code]["TrangThaiHoSo"] == 10
    assert portal.SIMULATOR.records[code]["ThanhToanTrucTuyen"] == 1

    # The leader downloads the statistics as Excel from the statistics page; the file has the dossier.
    import io

    from openpyxl import load_workbook

    leader.goto(f"{base}/console/procedures/stats?from=2026-01-01&to=2026-12-31&by=procedure")
    leader.screenshot(path=str(shots / "procedures-6-stats.png"), full_page=True)
    with leader.expect_download() as download:
        leader.locator("#xlsx-link").click()
    sheet = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
    total = [c.value for c in list(sheet.iter_rows(min_row=6))[-1]]
    assert total[0] == "Tất cả" and total[3] == 1 and total[4] == 1  # received, received online
