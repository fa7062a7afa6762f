"""One error shape: RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

from typing import Any


class Problem(Exception):
    """A failure the client can act on; rendered as problem+json with ``status``."""

    status = 400
    title = "Bad request"
    type = "about:blank"

    def __init__(self, detail: str | None = None, *, title: str | None = None, status: int | None = None, **extra: Any):
        super().__init__(detail or title or self.title)
        self.detail = detail
        if title:
            self.title = title
        if status:
            self.status = status
        self.extra = extra

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class BadRequest(Problem):
    status = 400
    title = "Bad request"


class ValidationProblem(Problem):
    status = 422
    title = "Invalid input"


class Unauthorized(Problem):
    status = 401
    title = "Authentication required"


class Forbidden(Problem):
    status = 403
    title = "Forbidden"


class NotFound(Problem):
    """Raised both for missing objects and for objects the actor may not see (same message)."""

    status = 404
    title = "Not found"


class Conflict(Problem):
    status = 409
    title = "Conflict"


class PayloadTooLarge(Problem):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(Problem):
    status = 415
    title = "Unsupported media type"


class TooManyRequests(Problem):
    status = 429
    title = "Too many requests"


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "required": ["title", "status"],
}
