"""The incident state machine (vòng đời sự cố), without any database: the service applies it.

Statuses: ``new`` (mới) → ``acknowledged`` (đã tiếp nhận) → ``in_progress`` (đang xử lý) →
``resolved`` (đã xử lý xong) → ``closed`` (đã đóng). ``escalated`` (đã chuyển cấp trên) means the
incident went to the parent unit, which must acknowledge it again. A resolved incident can be
reopened (back to ``in_progress``) until it is closed; ``closed`` is final.

:func:`apply` returns the new :class:`Times` and never changes its input, so property tests can run
long random sequences of verbs cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

STATUSES = ("new", "acknowledged", "in_progress", "escalated", "resolved", "closed")
OPEN_STATUSES = ("new", "acknowledged", "in_progress", "escalated")
SEVERITIES = ("low", "medium", "high", "critical")

STATUS_LABELS = {
    "new": "Mới",
    "acknowledged": "Đã tiếp nhận",
    "in_progress": "Đang xử lý",
    "escalated": "Đã chuyển cấp trên",
    "resolved": "Đã xử lý xong",
    "closed": "Đã đóng",
}
SEVERITY_LABELS = {"low": "Thấp", "medium": "Trung bình", "high": "Cao", "critical": "Khẩn cấp"}

# verb -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "acknowledge": (frozenset({"new", "escalated"}), "acknowledged"),
    "start": (frozenset({"new", "acknowledged", "escalated"}), "in_progress"),
    "escalate": (frozenset(OPEN_STATUSES), "escalated"),
    "resolve": (frozenset(OPEN_STATUSES), "resolved"),
    "reopen": (frozenset({"resolved"}), "in_progress"),
    "close": (frozenset({"resolved"}), "closed"),
}
VERBS = tuple(TRANSITIONS)
VERB_LABELS = {
    "acknowledge": "Tiếp nhận",
    "start": "Bắt đầu xử lý",
    "escalate": "Chuyển cấp trên",
    "resolve": "Đã xử lý xong",
    "reopen": "Mở lại",
    "close": "Đóng sự cố",
}
EVENT_OF_VERB = {
    "acknowledge": "acknowledged",
    "start": "started",
    "escalate": "escalated",
    "resolve": "resolved",
    "reopen": "reopened",
    "close": "closed",
}


class InvalidTransition(ValueError):
    """The verb is not allowed from the incident's current status."""


@dataclass(frozen=True)
class Times:
    """The status of an incident and the moments that the statistics need."""

    status: str
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    escalations: int = 0


def allowed_verbs(status: str) -> list[str]:
    """The verbs an operator may use on an incident in ``status`` (in display order)."""
    return [v for v, (sources, _) in TRANSITIONS.items() if status in sources]


def apply(state: Times, verb: str, at: datetime) -> Times:
    """The state after ``verb`` at ``at``; raises :class:`InvalidTransition` when not allowed.

    * the first ``acknowledge`` or ``start`` sets ``acknowledged_at`` (time to acknowledge);
    * ``resolve`` sets ``resolved_at``; ``reopen`` clears it (the incident was not really resolved);
    * ``close`` sets ``closed_at``; ``escalate`` counts one escalation.
    """
    if verb not in TRANSITIONS:
        raise InvalidTransition(f"unknown verb {verb!r}")
    sources, target = TRANSITIONS[verb]
    if state.status not in sources:
        raise InvalidTransition(f"cannot {verb} an incident that is {state.status}")
    new = replace(state, status=target)
    if verb in ("acknowledge", "start") and state.acknowledged_at is None:
        new = replace(new, acknowledged_at=at)
    if verb == "resolve":
        new = replace(new, resolved_at=at)
    elif verb == "reopen":
        new = replace(new, resolved_at=None)
    elif verb == "close":
        new = replace(new, closed_at=at)
    elif verb == "escalate":
        new = replace(new, escalations=state.escalations + 1)
    return new
