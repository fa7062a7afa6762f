"""A citizen and an officer in headless Chromium: report on the map → routed to the district → accepted and
resolved → the citizen's e-mail arrives (local SMTP server) → the citizen follows its link and rates.

Skipped (not failed) only when Chromium or Playwright is absent. Screenshots go to a temporary folder, or
to ``SMARTPROVINCE_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from smartprovince.core.migrate import upgrade

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OFFICER_PASSWORD = "can-bo-thu-nghiem-1"  # noqa: S105 - a test account in a temporary database


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's API
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Controller, _Mailbox]]:
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, box
    controller.stop()


@pytest.fixture
def live(tmp_path: Path, mailbox: Any) -> Iterator[dict[str, Any]]:
    import uvicorn

    from smartprovince import identity
    from smartprovince.app import create_app
    from smartprovince.core.bus import begin_write
    from smartprovince.core.db import Database
    from smartprovince.core.security import SYSTEM
    from smartprovince.feedback import events
    from smartprovince.settings import Settings

    url = f"sqlite:///{tmp_path / 'browser.db'}"
    upgrade(url)
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=url, load_demo=False,
                        secret_key="browser-test-secret", log_json=True)
    db = Database(url)
    with db.session() as s:
        begin_write(s)
        identity.sync_builtin_roles(s)
        # The shipped tree of Hải Dương with its commune areas, so the map draws the district outlines and
        # the point clicked on the map finds its commune (no tile server: SMARTPROVINCE_MAP_TILE_URL unset).
        identity.load_organisations(s, "hai-duong", actor=SYSTEM)
        district = identity.get_org_by_code(s, "295")
        lai_cach = identity.get_org_by_code(s, "10891")
        assert district is not None and lai_cach is not None
        centre = identity.area_centre(s, lai_cach.id)
        assert centre is not None
        identity.create_user(s, actor=SYSTEM, username="cb.camgiang", password=OFFICER_PASSWORD,
                             full_name="Phạm Văn Đức", kind="officer", org_id=district.id,
                             roles=[("district_leader", district.id)])
    app = create_app(settings, db=db)
    controller, box = mailbox
    port = _free_port()
    app.state.feedback_config = app.state.feedback_config.model_copy(update={
        "smtp_host": controller.hostname, "smtp_port": controller.port,
        "public_url": f"http://127.0.0.1:{port}"})
    events.CONFIG = app.state.feedback_config
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield {"base": f"http://127.0.0.1:{port}", "app": app, "db": db, "box": box, "lai_cach": centre}
    server.should_exit = True
    thread.join(10)
    db.dispose()


@pytest.fixture
def browser_viewport() -> dict[str, int]:
    return {"width": 1280, "height": 900}


def _deliver(live: dict[str, Any], count: int) -> list[Any]:
    from smartprovince.core.bus import bus_of
    from smartprovince.feedback import notify

    deadline = time.monotonic() + 15
    while len(live["box"].messages) < count:
        assert time.monotonic() < deadline, f"only {len(live['box'].messages)} e-mails arrived"
        bus_of(live["app"]).drain()
        notify.deliver_pending(live["db"], live["app"].state.feedback_config)
        time.sleep(0.1)
    return list(live["box"].messages)


def test_report_routed_resolved_emailed_rated(live: dict[str, Any], page: Any, shots: Path) -> None:
    base = live["base"]
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(base) and
            not r.url.startswith("data:") else None)

    # The citizen reports a broken street light, clicking the place on the map (a point in Lai Cách): the
    # commune containing the point is picked by itself, and routing uses it.
    page.goto(base + "/portal/feedback/new")
    page.get_by_label("Loại phản ánh").select_option("street-lighting")
    page.get_by_label("Nội dung phản ánh").fill("Đèn đường trước trường tiểu học không sáng ba hôm nay")
    page.wait_for_selector("#picker-map path.leaflet-interactive, #picker-map svg path")  # district outlines
    page.wait_for_timeout(400)  # the view fits the province once the outlines are in
    lon, lat = live["lai_cach"]
    x, y = page.evaluate("([lat, lon]) => { const p = document.getElementById('picker-map').spMap"
                         ".latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }", [lat, lon])
    box = page.locator("#picker-map").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    assert page.locator("#f-lat").input_value() != ""
    page.wait_for_function("document.getElementById('f-area').value === '10891'")
    assert "Thị trấn Lai Cách" in page.inner_text("#picked")
    page.get_by_label("Thư điện tử (để nhận thông báo)").fill("nguoidan@example.vn")
    # A short phone video with its GPS position in the tags (fixtures/make_videos.sh); WebM: Chromium here
    # has no H.264 / MPEG-4 decoder.
    page.set_input_files("#f-photos", str(Path(__file__).parent / "fixtures" / "phone_gps.webm"))
    page.evaluate("document.fonts.ready")
    page.screenshot(path=str(shots / "feedback-new.png"), full_page=True)
    page.get_by_role("button", name="Gửi phản ánh").click()
    page.wait_for_url(re.compile(r".*/portal/feedback/PA\w+\?key=.*"))
    assert "Huyện Cẩm Giàng" in page.inner_text("main")
    code = page.url.split("/portal/feedback/")[1].split("?")[0]
    # The cleaned video plays in the page: the browser reads its header and decodes a frame.
    page.wait_for_function("(() => { const v = document.querySelector('main video');"
                           " return v && v.readyState >= 2; })()", timeout=15000)
    assert abs(page.evaluate("document.querySelector('main video').duration") - 1.0) < 0.1
    assert page.evaluate("document.querySelector('main video').videoWidth") == 64
    page.screenshot(path=str(shots / "feedback-report.png"), full_page=True)

    # The district officer sees it in the worklist, accepts and resolves it.
    officer = page.context.browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN").new_page()
    officer.goto(base + "/login")
    officer.get_by_label("Tên đăng nhập").fill("cb.camgiang")
    officer.get_by_label("Mật khẩu").fill(OFFICER_PASSWORD)
    officer.get_by_role("button", name="Đăng nhập").click()
    officer.wait_for_url(base + "/**")
    officer.goto(base + "/console/feedback")
    officer.screenshot(path=str(shots / "feedback-worklist.png"), full_page=True)
    officer.get_by_role("link", name=code).click()
    assert "nguoidan@example.vn" in officer.inner_text("main")
    officer.locator("#accept-button").click()
    officer.locator("#rs-note").fill("Đã thay bóng đèn LED mới")
    officer.locator("#resolve-button").click()
    officer.wait_for_selector("text=Đã xử lý xong")
    officer.screenshot(path=str(shots / "feedback-officer.png"), full_page=True)

    # E-mails: sent, accepted, resolved; the last one carries the link to rate.
    mails = _deliver(live, 3)
    assert all(m["To"] == "nguoidan@example.vn" for m in mails)
    resolved = next(m for m in mails if "Đã xử lý xong" in str(m["Subject"]))
    link = re.search(r"(http://\S+\?key=\S+)", resolved.get_content()).group(1)  # type: ignore[union-attr]

    page.goto(link)
    page.get_by_label("Mức độ hài lòng").select_option("5")
    page.get_by_label("Ý kiến").fill("Xử lý nhanh, cảm ơn")
    page.locator("#rate-button").click()
    page.wait_for_selector("text=Cảm ơn bạn đã đánh giá.")
    assert page.locator("#report-status").get_attribute("data-status") == "closed"
    page.screenshot(path=str(shots / "feedback-rated.png"), full_page=True)

    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base + "/portal/feedback")
    page.wait_for_function("document.getElementById('map-count').innerText.length > 0")
    assert page.locator(".leaflet-marker-icon").count() >= 1
    assert not errors, errors
    page.screenshot(path=str(shots / "feedback-map.png"), full_page=True)
    assert not external, f"the pages loaded files from outside the site: {external}"
