"""Vòng đời hồ sơ — the dossier lifecycle as a pure state machine (no database, no HTTP).

The national public-service portal uses ten status codes; they are our external contract:

====  ======================  =========================================
code  name                    Vietnamese
====  ======================  =========================================
1     submitted               Mới đăng ký (đã nộp, chờ tiếp nhận)
2     received                Đã tiếp nhận
3     refused                 Từ chối tiếp nhận
4     processing              Đang xử lý
5     supplement_requested    Yêu cầu bổ sung hồ sơ
6     fees_due                Chờ thanh toán phí, lệ phí
7     withdrawal_requested    Công dân yêu cầu rút hồ sơ
8     stopped                 Dừng xử lý
9     finished                Đã xử lý xong
10    returned                Đã trả kết quả
====  ======================  =========================================

Every change is an *action* (a verb) appended to the dossier's action log. The status is never
stored on its own authority: :func:`replay` folds the log and gives the status back, so the stored
status column is only a cache that tests compare with the replay.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum


class Status(IntEnum):
    """The ten national dossier statuses (the integer is the national code)."""

    SUBMITTED = 1
    RECEIVED = 2
    REFUSED = 3
    PROCESSING = 4
    SUPPLEMENT_REQUESTED = 5
    FEES_DUE = 6
    WITHDRAWAL_REQUESTED = 7
    STOPPED = 8
    FINISHED = 9
    RETURNED = 10


STATUS_LABELS: dict[Status, str] = {
    Status.SUBMITTED: "Mới đăng ký",
    Status.RECEIVED: "Đã tiếp nhận",
    Status.REFUSED: "Từ chối tiếp nhận",
    Status.PROCESSING: "Đang xử lý",
    Status.SUPPLEMENT_REQUESTED: "Yêu cầu bổ sung",
    Status.FEES_DUE: "Chờ thanh toán phí",
    Status.WITHDRAWAL_REQUESTED: "Yêu cầu rút hồ sơ",
    Status.STOPPED: "Dừng xử lý",
    Status.FINISHED: "Đã xử lý xong",
    Status.RETURNED: "Đã trả kết quả",
}

TERMINAL = frozenset({Status.REFUSED, Status.STOPPED, Status.RETURNED})
"""Statuses after which nothing can change."""

OPEN = frozenset(
    {
        Status.SUBMITTED,
        Status.RECEIVED,
        Status.PROCESSING,
        Status.SUPPLEMENT_REQUESTED,
        Status.FEES_DUE,
        Status.WITHDRAWAL_REQUESTED,
    }
)
"""Statuses of a dossier that is still being worked on (not finished, not closed)."""

S = Status

# verb -> statuses it may start from. The target is given by _target() because a few verbs go back
# to where the dossier was before (supplement given, fee paid, withdrawal refused).
ALLOWED_FROM: dict[str, frozenset[Status]] = {
    "submit": frozenset(),  # creates the dossier; never from an existing status
    "receive": frozenset({S.SUBMITTED}),
    "refuse": frozenset({S.SUBMITTED}),
    "forward": frozenset({S.RECEIVED, S.PROCESSING}),
    "request_supplement": frozenset({S.SUBMITTED, S.RECEIVED, S.PROCESSING}),
    "supplement": frozenset({S.SUPPLEMENT_REQUESTED}),
    "request_fee": frozenset({S.RECEIVED, S.PROCESSING}),
    "pay": frozenset({S.FEES_DUE}),
    "request_withdrawal": frozenset({S.SUBMITTED, S.RECEIVED, S.PROCESSING, S.SUPPLEMENT_REQUESTED, S.FEES_DUE}),
    "refuse_withdrawal": frozenset({S.WITHDRAWAL_REQUESTED}),
    "stop": frozenset({S.RECEIVED, S.PROCESSING, S.SUPPLEMENT_REQUESTED, S.FEES_DUE, S.WITHDRAWAL_REQUESTED}),
    "finish": frozenset({S.PROCESSING}),
    "return_result": frozenset({S.FINISHED}),
    # verbs that never change the status but are logged (claim / release the lock, extension letter)
    "claim": frozenset(OPEN | {S.FINISHED}),
    "release": frozenset(OPEN | {S.FINISHED}),
    "extend": frozenset({S.RECEIVED, S.PROCESSING, S.SUPPLEMENT_REQUESTED, S.FEES_DUE}),
}

STATUS_CHANGING = frozenset(v for v in ALLOWED_FROM if v not in {"claim", "release", "extend"})
OFFICER_VERBS = frozenset(
    {"receive", "refuse", "forward", "request_supplement", "request_fee", "refuse_withdrawal", "stop", "finish",
     "return_result", "extend", "claim", "release"}
)
"""Verbs done by an officer; those except ``claim``/``release`` need the officer to hold the claim."""
APPLICANT_VERBS = frozenset({"submit", "supplement", "pay", "request_withdrawal"})
"""Verbs done by the applicant (citizen or business), or by an officer at the counter for them."""


class IllegalTransition(Exception):
    """The verb is not allowed from the dossier's current status (the API answers 409)."""

    def __init__(self, verb: str, status: Status | None):
        self.verb = verb
        self.status = status
        where = "a new dossier" if status is None else f"status {int(status)} ({status.name.lower()})"
        super().__init__(f"Action '{verb}' is not allowed from {where}.")


@dataclass(frozen=True)
class State:
    """What the log says about a dossier: its status and where a pause returns to."""

    status: Status
    resume: tuple[Status, ...] = ()  # stack of statuses to go back to (supplement, payment, refused withdrawal)
    supplement_requests: int = 0
    extended: bool = False


def can(verb: str, status: Status | None) -> bool:
    """True when ``verb`` may be applied to a dossier in ``status`` (``None`` = not yet created)."""
    if verb not in ALLOWED_FROM:
        return False
    if verb == "submit":
        return status is None
    return status is not None and status in ALLOWED_FROM[verb]


def apply(state: State | None, verb: str) -> State:
    """The state after ``verb``; raises :class:`IllegalTransition` when not allowed.

    Rules that are not visible in :data:`ALLOWED_FROM`:

    * ``extend`` (apology-and-extension letter) is allowed once per dossier;
    * ``supplement`` goes back to the status before the request (submitted → submitted,
      otherwise processing); ``pay`` and ``refuse_withdrawal`` also go back.
    """
    status = state.status if state else None
    if not can(verb, status):
        raise IllegalTransition(verb, status)
    if verb == "submit":
        return State(Status.SUBMITTED)
    assert state is not None
    if verb == "extend":
        if state.extended:
            raise IllegalTransition(verb, status)
        return State(state.status, state.resume, state.supplement_requests, True)
    if verb in ("claim", "release"):
        return state
    if verb == "receive":
        return State(S.RECEIVED, (), state.supplement_requests, state.extended)
    if verb == "refuse":
        return State(S.REFUSED, (), state.supplement_requests, state.extended)
    if verb == "forward":
        return State(S.PROCESSING, (), state.supplement_requests, state.extended)
    if verb == "request_supplement":
        back = S.SUBMITTED if state.status == S.SUBMITTED else S.PROCESSING
        return State(S.SUPPLEMENT_REQUESTED, (*state.resume, back), state.supplement_requests + 1, state.extended)
    if verb == "request_fee":
        return State(S.FEES_DUE, (*state.resume, S.PROCESSING), state.supplement_requests, state.extended)
    if verb in ("supplement", "pay", "refuse_withdrawal"):
        back = state.resume[-1] if state.resume else S.PROCESSING
        return State(back, state.resume[:-1], state.supplement_requests, state.extended)
    if verb == "request_withdrawal":
        return State(S.WITHDRAWAL_REQUESTED, (*state.resume, state.status), state.supplement_requests, state.extended)
    if verb == "stop":
        return State(S.STOPPED, (), state.supplement_requests, state.extended)
    if verb == "finish":
        return State(S.FINISHED, (), state.supplement_requests, state.extended)
    if verb == "return_result":
        return State(S.RETURNED, (), state.supplement_requests, state.extended)
    raise IllegalTransition(verb, status)  # pragma: no cover - every verb is handled above


def replay(verbs: Iterable[str]) -> State:
    """Fold an action log (verbs in order) into the dossier's state."""
    state: State | None = None
    for verb in verbs:
        state = apply(state, verb)
    if state is None:
        raise ValueError("an action log starts with 'submit'")
    return state


def allowed_verbs(state: State) -> list[str]:
    """Verbs that may follow ``state`` (used by the officer page to show buttons)."""
    out = []
    for verb in ALLOWED_FROM:
        if verb == "submit":
            continue
        if verb == "extend" and state.extended:
            continue
        if can(verb, state.status):
            out.append(verb)
    return out
