"""In a real browser: an officer declares the agency API of a dataset, pulls it now, reads the report;
the public dataset page shows the automatic updates; an officer creates a category list and publishes
versions. Screenshots go to the ``shots`` folder."""

from __future__ import annotations

import re

from .test_sources import CONFIG


def test_officer_declares_a_source_and_pulls_now(app, serve, page, sign_in, shots, make_user, schools,
                                                  agency) -> None:
    url, _state = agency
    app.state.datahub_config = CONFIG
    make_user("dulieu.gd", role="data_officer", org="so-gd")
    base = serve(app)
    sign_in(page, base, "dulieu.gd")
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


def test_officer_creates_a_category_list_and_publishes_a_version(app, serve, page, sign_in, shots, make_user,
                                                                 units_list) -> None:
    make_user("dulieu.dm", role="data_officer", org="so-gd")
    base = serve(app)
    sign_in(page, base, "dulieu.dm")
    page.goto(base + "/console/datahub/codelists")
    page.locator("#cl-new summary").click()
    page.get_by_label("Mã danh mục").fill("dan-toc")
    page.get_by_label("Tên danh mục").fill("Dân tộc")
    page.get_by_label("Tên tiếng Anh").fill("Ethnic groups")
    page.locator("#cl-new").get_by_role("button", name="Tạo danh mục").click()
    page.wait_for_selector("#cl-dan-toc")
    assert "Đã tạo danh mục dan-toc" in page.inner_text("main")
    page.locator("#publish-dan-toc summary").click()
    page.locator("#v-from-dan-toc").fill("2025-01-01")
    page.locator("#v-items-dan-toc").fill("01,Kinh\n02,Tày\n03,Thái\n04,Mường")
    page.locator("#publish-dan-toc").get_by_label("Ghi chú (căn cứ ban hành)").fill("Quyết định 121-TCTK/PPCĐ")
    page.locator("#publish-dan-toc").get_by_role("button", name="Công bố phiên bản").click()
    page.wait_for_selector("text=Đã công bố phiên bản 1 của danh mục dan-toc")
    # Version 2 of the administrative units, copied from version 1 and edited.
    page.goto(base + "/console/datahub/codelists?copy=don-vi-hanh-chinh#publish-don-vi-hanh-chinh")
    items = page.locator("#v-items-don-vi-hanh-chinh")
    assert "290,Thành phố Chí Linh" in items.input_value()
    items.fill(items.input_value().replace("Thành phố Chí Linh", "Thành phố Chí Linh (mới)"))
    page.locator("#v-from-don-vi-hanh-chinh").fill("2025-07-01")
    page.locator("#publish-don-vi-hanh-chinh").get_by_role("button", name="Công bố phiên bản").click()
    page.wait_for_selector("text=Đã công bố phiên bản 2 của danh mục don-vi-hanh-chinh")
    text = page.inner_text("#cl-don-vi-hanh-chinh")
    assert "30/06/2025" in text and "01/07/2025" in text
    page.locator("#publish-dan-toc summary").click()  # the screenshot shows the form too
    page.evaluate("document.fonts.ready")
    page.screenshot(path=str(shots / "datahub-codelists.png"), full_page=True)
    page.goto(base + "/console/datahub/codelists/don-vi-hanh-chinh?version=1")
    assert "Thành phố Chí Linh" in page.inner_text("#items") and "(mới)" not in page.inner_text("#items")
