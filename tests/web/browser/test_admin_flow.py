"""A person in headless Chromium: home page, login, create an organisation and a user with a role, logout.

Skipped (not failed) only when Chromium or Playwright is absent. Screenshots (1280×800) go to a
temporary folder, or to ``SMARTPROVINCE_SCREENSHOTS`` when set (``docs/screenshots`` keeps a copy).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from smartprovince.core.migrate import upgrade

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN_PASSWORD = "quan-tri-thu-nghiem-1"  # noqa: S105 - a test account in a temporary database


@pytest.fixture
def live_server(tmp_path: Path, serve) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app on a free local port with a migrated temporary SQLite database and an administrator."""

    from smartprovince import identity
    from smartprovince.app import create_app
    from smartprovince.core.bus import begin_write
    from smartprovince.core.db import Database
    from smartprovince.core.security import SYSTEM
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
        district = identity.create_organisation(s, actor=SYSTEM, code="288", name="Thành phố Hải Dương",
                                                level="district", parent_id=province.id)
        identity.create_organisation(s, actor=SYSTEM, code="10507", name="Phường Cẩm Thượng", level="commune",
                                     parent_id=district.id)
        identity.create_organisation(s, actor=SYSTEM, code="so-y-te", name="Sở Y tế", level="department",
                                     parent_id=province.id)
        identity.create_user(s, actor=SYSTEM, username="quantri", password=ADMIN_PASSWORD,
                             full_name="Quản trị hệ thống", kind="officer", org_id=province.id,
                             roles=[("admin", None)])
    yield serve(create_app(settings, db=db))
    db.dispose()


def test_admin_creates_an_organisation_and_a_user(live_server: str, page, shots: Path) -> None:  # type: ignore[no-untyped-def]
    base = live_server
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(base) and
            not r.url.startswith("data:") else None)

    # Home: the three faces in Vietnamese, facts from the organisation tree.
    page.goto(base + "/")
    for label in ["Cổng dịch vụ công", "Bàn làm việc cán bộ", "Trung tâm điều hành IOC"]:
        assert page.get_by_role("heading", name=label).is_visible()
    assert page.locator(".fact .value").first.inner_text() == "Tỉnh Hải Dương"
    page.evaluate("document.fonts.ready")
    page.screenshot(path=str(shots / "home.png"))

    # Login (a wrong password first: the message is Vietnamese).
    page.get_by_role("link", name="Đăng nhập").first.click()
    page.get_by_label("Tên đăng nhập").fill("quantri")
    page.get_by_label("Mật khẩu").fill("sai-mat-khau")
    page.get_by_role("button", name="Đăng nhập").click()
    assert "Tên đăng nhập hoặc mật khẩu không đúng." in page.locator("#login-error").inner_text()
    page.screenshot(path=str(shots / "login.png"))
    page.get_by_label("Mật khẩu").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(base + "/")
    assert page.locator(".user-chip").inner_text().strip() == "Quản trị hệ thống"

    # Administration → organisations: create a commune under the district.
    page.get_by_role("link", name="Quản trị", exact=True).click()
    page.wait_for_url(base + "/admin")
    page.get_by_role("link", name="Tổ chức, đơn vị").click()
    page.wait_for_url("**/admin/organisations")
    form = page.locator("#org-create")
    form.get_by_label("Đơn vị cấp trên").select_option(label="\u00a0\u00a0Thành phố Hải Dương")
    form.get_by_label("Tên", exact=True).fill("Phường Trần Hưng Đạo")
    form.get_by_label("Mã", exact=True).fill("10510")
    form.get_by_label("Cấp", exact=True).select_option("commune")
    form.get_by_role("button", name="Thêm tổ chức").click()
    assert "Đã tạo tổ chức Phường Trần Hưng Đạo." in page.locator(".alert-success").inner_text()
    assert page.locator(".tree .node.selected .name").inner_text() == "Phường Trần Hưng Đạo"
    page.screenshot(path=str(shots / "admin-organisations.png"))
    # Live search (htmx) in the tree.
    page.get_by_label("Tìm tổ chức").fill("trần hưng")
    page.locator("#org-results").wait_for()
    assert "Phường Trần Hưng Đạo" in page.locator("#org-results").inner_text()
    assert "Sở Y tế" not in page.locator("#org-results").inner_text()

    # Users → new user: a one-stop officer of the new ward.
    page.goto(base + "/admin/users")
    page.get_by_role("link", name="Thêm người dùng").click()
    form = page.locator("#user-create")
    form.get_by_label("Tên đăng nhập").fill("motcua.thd")
    form.get_by_label("Họ và tên").fill("Lê Thị Mai")
    form.get_by_label("Đơn vị", exact=True).select_option(label="\u00a0\u00a0\u00a0\u00a0Phường Trần Hưng Đạo")
    form.get_by_label("Mật khẩu ban đầu").fill("mat-khau-mot-cua-1")
    form.get_by_label("Vai trò", exact=True).select_option("onestop_officer")
    form.get_by_role("button", name="Tạo người dùng").click()
    assert "Đã tạo người dùng motcua.thd." in page.locator(".alert-success").inner_text()
    roles = page.locator("#user-roles").inner_text()
    assert "Cán bộ một cửa" in roles and "Phường Trần Hưng Đạo" in roles
    page.goto(base + "/admin/users")
    assert "Lê Thị Mai" in page.locator("#users-table").inner_text()
    page.screenshot(path=str(shots / "admin-users.png"))
    # Live search (htmx): typing filters the list without pressing Enter.
    page.get_by_label("Tìm người dùng").fill("mai")
    page.wait_for_function("!document.querySelector('#users-table').innerText.includes('quantri')")
    assert "motcua.thd" in page.locator("#users-table").inner_text()
    assert "q=mai" in page.url

    # Logout.
    page.get_by_role("button", name="Đăng xuất").click()
    page.wait_for_url(base + "/")
    assert "Bạn đã đăng xuất." in page.locator(".alert-success").inner_text()
    assert page.get_by_role("link", name="Đăng nhập").first.is_visible()
    assert not external, f"the pages loaded files from outside the site: {external}"
