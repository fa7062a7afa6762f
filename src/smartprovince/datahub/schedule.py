"""Lịch kéo dữ liệu — when the next scheduled pull of a source is due.

A source runs either every N minutes or on a five-field cron expression read in Vietnam time
(``minute hour day-of-month month day-of-week``; each field ``*``, ``5``, ``1-5``, ``*/15``,
``1-30/2`` or a comma list of these; day of week 0–6 with 0 = Sunday, 7 also Sunday). As in cron,
when both day fields are restricted a day matching either one is a match.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from smartprovince.core.clock import VN_TZ
from smartprovince.core.errors import ValidationProblem

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NAMES = ("minute", "hour", "day of month", "month", "day of week")


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression: the allowed values of each field."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    def day_matches(self, moment: datetime) -> bool:
        weekday = (moment.weekday() + 1) % 7
        if self.any_day or self.any_weekday:
            return moment.day in self.days and weekday in self.weekdays
        return moment.day in self.days or weekday in self.weekdays


def _field(text: str, low: int, high: int, name: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValidationProblem(f"Bad step in the cron {name} field.", field="cron")
            step = int(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            if not (a.isdigit() and b.isdigit()):
                raise ValidationProblem(f"Bad range in the cron {name} field.", field="cron")
            start, end = int(a), int(b)
        elif part.isdigit():
            start = end = int(part)
            if step > 1:
                end = high
        else:
            raise ValidationProblem(f"Bad value {part!r} in the cron {name} field.", field="cron")
        if not (low <= start <= end <= high):
            raise ValidationProblem(f"The cron {name} field must be within {low}–{high}.", field="cron")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse_cron(expression: str) -> Cron:
    """Read a five-field cron expression; ``ValidationProblem`` says which field is wrong."""
    parts = expression.split()
    if len(parts) != 5:
        raise ValidationProblem("A cron expression has five fields: minute hour day month weekday.", field="cron")
    sets = [_field(p, lo, hi, n) for p, (lo, hi), n in zip(parts, _RANGES, _NAMES, strict=True)]
    weekdays = frozenset(d % 7 for d in sets[4])
    return Cron(minutes=sets[0], hours=sets[1], days=sets[2], months=sets[3], weekdays=weekdays,
                any_day=parts[2] == "*", any_weekday=parts[4] == "*")


def next_cron(cron: Cron, after: datetime) -> datetime:
    """The first minute strictly after ``after`` that matches (UTC); looks at most four years ahead."""
    moment = after.astimezone(VN_TZ).replace(second=0, microsecond=0) + timedelta(minutes=1)
    limit = moment + timedelta(days=4 * 366)
    while moment < limit:
        if moment.month not in cron.months or not cron.day_matches(moment):
            moment = (moment + timedelta(days=1)).replace(hour=0, minute=0)
            continue
        if moment.hour not in cron.hours:
            moment = (moment + timedelta(hours=1)).replace(minute=0)
            continue
        if moment.minute not in cron.minutes:
            moment += timedelta(minutes=1)
            continue
        return moment.astimezone(UTC)
    raise ValidationProblem("The cron expression never matches a real day.", field="cron")


def next_run(*, every_minutes: int | None, cron: str, after: datetime) -> datetime:
    """When a source with this schedule runs next after ``after``."""
    if cron:
        return next_cron(parse_cron(cron), after)
    if every_minutes:
        return after + timedelta(minutes=every_minutes)
    raise ValidationProblem("A source needs a schedule: every_minutes or cron.", field="every_minutes")
