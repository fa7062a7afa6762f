"""Chất lượng dữ liệu — the province's four words "đúng, đủ, sạch, sống" as scores from 0 to 100.

* **đúng** (correct): share of rows of the last upload whose every value is valid (type, range,
  category list);
* **đủ** (complete): share of filled cells among all cells of the stored rows;
* **sạch** (clean): 100 minus the share of rows with a repeated key and the share of text cells that
  needed normalising (extra spaces, non-NFC Vietnamese);
* **sống** (live): 100 while the last data update is within the declared frequency, then falling
  linearly to 0 at twice the period.

The overall score is the mean of the four.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

FREQUENCY_DAYS = {"daily": 1, "weekly": 7, "monthly": 31, "quarterly": 92, "annual": 366, "irregular": 366}
FREQUENCY_LABELS = {"daily": "Hằng ngày", "weekly": "Hằng tuần", "monthly": "Hằng tháng", "quarterly": "Hằng quý",
                    "annual": "Hằng năm", "irregular": "Không định kỳ"}


@dataclass(frozen=True)
class Scores:
    """The four scores and their mean, each 0–100 rounded to one decimal."""

    correct: float
    complete: float
    clean: float
    live: float

    @property
    def overall(self) -> float:
        return round((self.correct + self.complete + self.clean + self.live) / 4, 1)


def _pct(part: float, whole: float) -> float:
    if whole <= 0:
        return 100.0
    return round(max(0.0, min(100.0, 100.0 * part / whole)), 1)


def live_score(last_update: datetime | None, at: datetime, frequency: str) -> float:
    """100 within the period, linear down to 0 at twice the period; 0 when never updated."""
    if last_update is None:
        return 0.0
    period = FREQUENCY_DAYS.get(frequency, 31) * 86400.0
    age = max(0.0, (at - last_update).total_seconds())
    if age <= period:
        return 100.0
    return round(max(0.0, 100.0 * (1 - (age - period) / period)), 1)


def compute(*, total_rows: int, valid_rows: int, filled_cells: int, total_cells: int, duplicate_rows: int,
            normalised_cells: int, text_cells: int, last_update: datetime | None, at: datetime,
            frequency: str) -> Scores:
    """The four scores from the counts of one load (see the module docstring)."""
    correct = _pct(valid_rows, total_rows)
    complete = _pct(filled_cells, total_cells)
    dup_share = duplicate_rows / total_rows if total_rows else 0.0
    norm_share = normalised_cells / text_cells if text_cells else 0.0
    clean = round(max(0.0, 100.0 * (1 - dup_share - norm_share)), 1)
    return Scores(correct=correct, complete=complete, clean=clean, live=live_score(last_update, at, frequency))
