"""Vòng đời phản ánh — the statuses of a report and which action moves it where.

Pure functions, no database: the service asks :func:`next_status` before every change, and the
property tests check the table as a state machine.

Statuses: ``submitted`` (mới, waiting for the unit), ``accepted`` (đã tiếp nhận), ``in_progress``
(đang xử lý), ``resolved`` (đã xử lý, the reporter may rate or reopen), ``closed`` (đã đóng) and
``merged`` (gộp vào phản ánh khác; a merged report then follows the status of the report it was
merged into).
"""

from __future__ import annotations

from smartprovince.core.errors import Conflict

STATUSES = ("submitted", "accepted", "in_progress", "resolved", "closed")
OPEN_STATUSES = frozenset({"submitted", "accepted", "in_progress"})
DONE_STATUSES = frozenset({"resolved", "closed"})

STATUS_LABELS = {
    "submitted": "Mới tiếp nhận",
    "accepted": "Đã tiếp nhận",
    "in_progress": "Đang xử lý",
    "resolved": "Đã xử lý",
    "closed": "Đã đóng",
}

ACTION_LABELS = {
    "created": "Gửi phản ánh",
    "accepted": "Đơn vị tiếp nhận",
    "sent_back": "Trả lại (không đúng đơn vị)",
    "assigned": "Chuyển đơn vị xử lý",
    "updated": "Cập nhật tiến độ",
    "resolved": "Đã xử lý xong",
    "merged": "Gộp phản ánh trùng",
    "rated": "Người phản ánh đánh giá",
    "reopened": "Người phản ánh mở lại",
    "closed": "Đóng phản ánh",
    "sla_warning": "Cảnh báo sắp quá hạn",
    "escalated": "Quá hạn, chuyển lên đơn vị cấp trên",
}

# action -> (statuses it may start from, status after it; None = unchanged)
TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "accept": (frozenset({"submitted"}), "accepted"),
    "send_back": (frozenset({"submitted", "accepted"}), "submitted"),
    "assign": (frozenset({"submitted", "accepted", "in_progress"}), "submitted"),
    "update": (frozenset({"accepted", "in_progress"}), "in_progress"),
    "resolve": (frozenset({"accepted", "in_progress"}), "resolved"),
    "rate": (frozenset({"resolved", "closed"}), "closed"),
    "reopen": (frozenset({"resolved", "closed"}), "in_progress"),
    "close": (frozenset({"resolved"}), "closed"),
    "merge": (OPEN_STATUSES, None),
    "escalate": (OPEN_STATUSES, None),
}


def next_status(status: str, action: str) -> str:
    """The status after ``action`` on a report in ``status``; ``Conflict`` (409) when not allowed."""
    if action not in TRANSITIONS:
        raise ValueError(f"unknown action {action!r}")
    sources, target = TRANSITIONS[action]
    if status not in sources:
        label = STATUS_LABELS.get(status, status)
        raise Conflict(f"Không thể thực hiện '{action}' khi phản ánh ở trạng thái '{label}' "
                       f"(action not allowed in status {status}).")
    return target or status


def open311_status(status: str) -> str:
    """GeoReport v2 knows only ``open`` and ``closed``: resolved and closed reports are ``closed``."""
    return "closed" if status in DONE_STATUSES else "open"
