"""An administrator in headless Chromium opens /admin/calendar, adds a day off with the form, removes it.

Skipped (not failed) only when Chromium or Playwright is absent. The screenshot goes to a temporary
folder, or to ``SMARTPROVINCE_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartprovince.core import calendar
from smartprovince.core.migrate import upgrade

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "lich-thu-nghiem-1"  # noqa: S105 - a test account in a temporary database


@pytest.fixture
def server(tmp_path: Path, serve) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app on a free local port, with a migrated SQLite database and one administrator."""
    from smartprovince import identity
    from smartprovince.app import create_app
    from smartprovince.core.bus import begin_write
    from smartprovince.core.db import Database
    from smartprovince.core.security import SYSTEM
    from smartprovince.settings import Settings

    url = f"sqlite:///{tmp_path / 'calendar.db'}"
    upgrade(url)
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=url, load_demo=False,
                        secret_key="calendar-browser-secret", log_json=True)
    db = Database(url)
    with db.session() as s:
        begin_write(s)
        identity.sync_builtin_roles(s)
        org = identity.create_organisation(s, actor=SYSTEM, code="30", name="Tỉnh Hải Dương", level="province")
        identity.create_user(s, actor=SYSTEM, username="lich", password=PASSWORD, full_name="Quản trị lịch",
                             kind="officer", org_id=org.id, roles=[("admin", None)])
    yield serve(create_app(settings, db=db))
    db.dispose()
    calendar.bind_database(None)


def test_admin_adds_and_removes_a_day_off(server: str, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shots = Path(os.environ.get("SMARTPROVINCE_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page.goto(server + "/login")
    page.get_by_label("Tên đăng nhập").fill("lich")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(server + "/")

    page.goto(server + "/admin/calendar?year=2025")
    assert page.get_by_role("heading", name="Lịch ngày nghỉ, ngày làm bù 2025").is_visible()
    assert page.locator('td[data-date="2025-04-26"]').get_attribute("data-working") == "true"
    assert page.locator('td[data-date="2025-05-02"]').get_attribute("data-working") == "false"
    page.evaluate("document.fonts.ready")
    page.screenshot(path=str(shots / "admin-calendar.png"), full_page=True)

    form = page.locator("#override-form")
    form.get_by_label("Ngày", exact=True).fill("2025-12-31")
    form.get_by_label("Loại").select_option("off")
    form.get_by_label("Lý do").fill("Nghỉ cuối năm theo quyết định của tỉnh")
    form.get_by_role("button", name="Lưu").click()
    assert "Đã lưu ngày 31/12/2025." in page.locator(".alert-success").inner_text()
    assert page.locator('td[data-date="2025-12-31"]').get_attribute("data-working") == "false"

    page.on("dialog", lambda d: d.accept())
    page.locator('#overrides-table tr[data-date="2025-12-31"] button').click()
    assert "Đã xóa quyết định của ngày 31/12/2025." in page.locator(".alert-success").inner_text()
    assert page.locator('td[data-date="2025-12-31"]').get_attribute("data-working") == "true"
