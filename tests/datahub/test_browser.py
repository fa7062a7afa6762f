"""In a real browser: an officer declares the agency API of a dataset, pulls it now, reads the report;
the public dataset page shows the automatic updates. Screenshots go to the ``shots`` folder."""

from __future__ import annotations

import re

from .test_sources import CONFIG

PASSWORD = "mat-khau-thu-nghiem-1"  # noqa: S105 - make_user's test password (tests/conftest.py)


def test_officer_declares_a_source_and_pulls_now(app, serve, page, shots, make_user, schools, agency) -> None:
    url, _state = agency
    app.state.datahub_config = CONFIG
    make_user("dulieu.gd", role="data_officer", org="so-gd")
    base = serve(app)
    page.goto(base + "/login")
    page.get_by_label("Tên đăng nhập").fill("dulieu.gd")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(base + "/**")
    page.goto(base + "/console/datahub/truong-hoc/upload")
    page.get_by_label("Địa chỉ API").fill(url)
    page.get_by_label("Tiêu đề xác thực").fill("Authorization")
    page.get_by_label("Tên thiết lập bí mật").fill("so-gd-api")
    page.get_by_label("Kéo mỗi (phút)").fill("")
    page.get_by_label("Hoặc lịch cron (giờ Việt Nam)").fill("30 2 * * *")
    page.locator("#s-mode").select_option("upsert")
    page.get_by_role("button", name="Lưu nguồn").click()
    page.wait_for_selector("#pull-now")
    page.get_by_role("button", name="Kéo ngay").click()
    page.wait_for_url(re.compile(r".*/loads/\w+"))
    assert "Đã nạp" in page.inner_text("main")
    page.goto(base + "/console/datahub/truong-hoc/upload")
    page.evaluate("document.fonts.ready")
    assert "Theo lịch" not in page.inner_text("#runs") and "Kéo ngay" in page.inner_text("#runs")
    page.screenshot(path=str(shots / "datahub-source.png"), full_page=True)
    page.goto(base + "/opendata/truong-hoc")
    text = page.inner_text("main")
    assert "Các lần cập nhật tự động" in text and "/api/truong-hoc" not in text and "so-gd-api" not in text
    page.evaluate("document.fonts.ready")
    page.screenshot(path=str(shots / "datahub-dataset.png"), full_page=True)
