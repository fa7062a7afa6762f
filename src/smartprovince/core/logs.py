"""Logs: one JSON object per line, the request id on every line, personal data masked.

``configure_logging(settings)`` installs one handler on the root logger. The handler carries two
filters, so they apply to every record of every logger (records of child loggers pass through the
root handler):

* ``RequestIdFilter`` puts the id of the current HTTP request (``request_id_var``) on the record;
* ``PiiMaskingFilter`` masks personal data — CCCD numbers (căn cước công dân, 12 digits),
  Vietnamese phone numbers and e-mail addresses — in the message and its arguments.

Never log the content of an audit entry or a form: log ids and actions, not what people wrote.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("smartprovince_request_id", default=None)
"""The id of the HTTP request being served in this context (set by ``core.http``)."""

# A CCCD is exactly 12 digits. ``\b`` keeps us away from digits inside hex ids (``0a12…``), because a
# digit next to a letter is not a word boundary.
_CCCD = re.compile(r"\b\d{12}\b")
# Vietnamese phone numbers: 0 + 9 or 10 digits (mobile 0912345678, landline 02203xxxxxx), or +84 / (+84)
# + 9 or 10 digits, with optional spaces, dots or dashes between the digits.
_PHONE = re.compile(r"(?<![\w+])(?:\(\+84\)|\+84|0)(?:[ .-]?\d){9,10}(?!\w)")
_EMAIL = re.compile(r"(?<![\w.+-])([A-Za-z0-9._%+-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")


def _mask_digits(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "*" * (len(digits) - 3) + digits[-3:]


def _mask_email(match: re.Match[str]) -> str:
    return f"{match.group(1)[0]}***@{match.group(2)}"


def mask_pii(text: str) -> str:
    """Return ``text`` with CCCD numbers, Vietnamese phone numbers and e-mail addresses masked.

    Only the last three digits of a number and the first letter of an e-mail's local part stay
    readable, enough to tell two people apart in a log, not enough to identify anyone:

    >>> mask_pii("CCCD 030095001234, tel 0912 345 678, mail an.nguyen@haiduong.gov.vn")
    'CCCD *********234, tel *******678, mail a***@haiduong.gov.vn'
    """
    if not text:
        return text
    text = _EMAIL.sub(_mask_email, text)
    text = _CCCD.sub(_mask_digits, text)
    return _PHONE.sub(_mask_digits, text)


def get_request_id() -> str | None:
    """The id of the current HTTP request, or ``None`` outside a request."""
    return request_id_var.get()


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (``None`` outside a request); never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get()
        return True


# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is written out.
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class PiiMaskingFilter(logging.Filter):
    """Masks personal data in the message, its arguments and ``extra`` string fields of every record.

    The message is formatted once here (``msg % args``) and the arguments dropped, so no argument
    of any type (a dict, an exception, a number) can bring personal data past the filter.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a wrong format string must not lose the record
            message = f"{record.msg} {record.args!r}"
        record.msg = mask_pii(message)
        record.args = None
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, name, mask_pii(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg``, ``request_id``, then extras."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD_ATTRS and name not in body and not name.startswith("_"):
                body[name] = value
        if record.exc_info:
            body["exc"] = mask_pii(self.formatException(record.exc_info))
        if record.stack_info:
            body["stack"] = mask_pii(record.stack_info)
        # Masking the whole line also covers values nested in ``extra`` dicts and lists.
        return mask_pii(json.dumps(body, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    """Human-readable lines for development (``SMARTPROVINCE_LOG_JSON=false``), still masked."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = None
        return mask_pii(super().format(record))


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (test runners swap it between tests)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


_HANDLER_MARK = "_smartprovince_handler"


def configure_logging(settings: Any) -> logging.Handler:
    """Install the platform's log handler on the root logger (idempotent; replaces only our own handler).

    ``settings.log_level`` sets the level, ``settings.log_json`` chooses JSON lines or plain text.
    Returns the handler.
    """
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, _HANDLER_MARK, False):
            root.removeHandler(existing)
    handler = _StderrHandler()
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(PiiMaskingFilter())
    handler.setFormatter(JsonFormatter() if getattr(settings, "log_json", True) else TextFormatter())
    root.addHandler(handler)
    level = str(getattr(settings, "log_level", "INFO")).upper()
    root.setLevel(logging.getLevelNamesMapping().get(level, logging.INFO))
    # Uvicorn's own access log would duplicate ours (core.http writes one line per request).
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        uv = logging.getLogger(name)
        uv.handlers.clear()
        uv.propagate = True
    return handler
