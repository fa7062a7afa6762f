"""An administrator in headless Chromium opens /admin/calendar, adds a day off with the form, removes it.

Skipped (not failed) only when Chromium or Playwright is absent. The screenshot goes to a temporary
folder, or to ``SMARTPROVINCE_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartprovince.core import calendar
from smartprovince.core.migrate import upgrade

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
PASSWORD = "lich-thu-nghiem-1"  # noqa: S105 - a test account in a temporary database


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The app on a free local port, with a migrated SQLite database and one administrator."""
    import uvicorn

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
    app = create_app(settings, db=db)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", log_config=None))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)
    db.dispose()
    calendar.bind_database(None)


@pytest.fixture
def page():  # type: ignore[no-untyped-def]
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="vi-VN")
        pg = context.new_page()
        pg.set_default_timeout(15000)
        yield pg
        context.close()
        browser.close()


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
