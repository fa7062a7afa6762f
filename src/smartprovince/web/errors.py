"""Error pages for browsers: the same problem the API would return, as a readable Vietnamese page."""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from smartprovince.core.errors import Problem
from smartprovince.web.i18n import request_lang, translator

log = logging.getLogger("smartprovince.web")

HEADINGS: dict[int, tuple[str, str]] = {
    400: ("Yêu cầu không hợp lệ", "Thông tin gửi lên chưa đúng. Vui lòng kiểm tra và thử lại."),
    403: ("Không có quyền truy cập", "Tài khoản của bạn không được phép xem trang này."),
    404: ("Không tìm thấy trang", "Trang bạn tìm không tồn tại hoặc đã được chuyển đi."),
    405: ("Thao tác không được hỗ trợ", "Trang này không hỗ trợ thao tác bạn vừa thực hiện."),
    409: ("Dữ liệu bị trùng hoặc xung đột", "Thao tác không thực hiện được vì xung đột với dữ liệu hiện có."),
    422: ("Thông tin chưa hợp lệ", "Một số thông tin nhập vào chưa đúng. Vui lòng kiểm tra và thử lại."),
    429: ("Quá nhiều yêu cầu", "Bạn thao tác quá nhanh. Vui lòng đợi một lát rồi thử lại."),
    500: ("Đã xảy ra lỗi", "Hệ thống gặp sự cố ngoài ý muốn; lỗi đã được ghi lại. Vui lòng thử lại sau."),
}


def render_error(request: Request, problem: Problem) -> Response:
    """Render ``problem`` as an HTML error page with the same status code (installed on ``app.state``)."""
    from smartprovince.web.rendering import render

    status = problem.status
    heading, explanation = HEADINGS.get(status, HEADINGS[500] if status >= 500 else HEADINGS[400])
    t = translator(request_lang(request))
    detail = problem.detail if status < 500 else None
    try:
        return render(
            request,
            "web/error.html",
            {
                "status": status,
                "heading": t(heading),
                "explanation": t(explanation),
                "detail": detail,
            },
            status=status,
        )
    except Exception:  # noqa: BLE001 - the error page itself must never fail
        log.exception("could not render the error page")
        return HTMLResponse(
            f"<!doctype html><title>{status}</title><h1>{status}</h1><p>{t(heading)}</p>", status_code=status
        )
