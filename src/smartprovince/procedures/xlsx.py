"""Xuất Excel — the statistics and the officer worklist as XLSX workbooks (openpyxl).

Headers are Vietnamese (the people who open these files read Vietnamese); counts are numbers and
rates are numbers with a ``%`` format, so a spreadsheet can add them up. Instants are written in
Vietnam time without a zone (spreadsheets have none). The worklist holds the applicant's name, as
the worklist page does, but no citizen id, phone or e-mail.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from smartprovince.core.clock import VN_TZ
from smartprovince.procedures.lifecycle import STATUS_LABELS, Status
from smartprovince.procedures.schemas import StatsOut

if TYPE_CHECKING:  # openpyxl is imported where a workbook is written: the app starts without it (memory)
    from openpyxl import Workbook
    from openpyxl.worksheet.worksheet import Worksheet

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

STATS_COLUMNS: list[tuple[str, str]] = [
    ("agency_code", "Mã đơn vị"),
    ("procedure_code", "Mã thủ tục"),
    ("procedure_name", "Tên thủ tục"),
    ("received", "Tiếp nhận"),
    ("received_online", "Tiếp nhận trực tuyến"),
    ("finished", "Đã giải quyết"),
    ("finished_early", "Trước hạn"),
    ("finished_on_time", "Đúng hạn"),
    ("finished_late", "Quá hạn"),
    ("open_within_due", "Đang xử lý trong hạn"),
    ("open_overdue", "Đang xử lý quá hạn"),
    ("stopped_or_refused", "Từ chối / dừng xử lý"),
    ("fee_dossiers", "Hồ sơ có phí, lệ phí"),
    ("paid_online", "Thanh toán trực tuyến"),
    ("digitised", "Hồ sơ số hóa"),
    ("avg_processing_days", "Thời gian xử lý TB (ngày)"),
    ("online_rate", "Tỷ lệ trực tuyến (%)"),
    ("on_time_rate", "Tỷ lệ trước và đúng hạn (%)"),
    ("online_payment_rate", "Tỷ lệ thanh toán trực tuyến (%)"),
    ("digitisation_rate", "Tỷ lệ số hóa (%)"),
]
"""(field of :class:`StatsRow`, column header) in sheet order."""

_RATES = {"online_rate", "on_time_rate", "online_payment_rate", "digitisation_rate"}
_HEAD_COLOUR = "DDE7F3"


def _header(ws: Worksheet, row: int, titles: Sequence[str]) -> None:
    from openpyxl.styles import Font, PatternFill

    for i, title in enumerate(titles, start=1):
        cell = ws.cell(row=row, column=i, value=title)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor=_HEAD_COLOUR)


def _widths(ws: Worksheet, widths: Sequence[int]) -> None:
    from openpyxl.utils import get_column_letter

    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w


def _save(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def stats_workbook(result: StatsOut) -> bytes:
    """The statistics table (rows and the total line) as an XLSX file."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Thống kê TTHC"
    ws["A1"] = "Thống kê giải quyết thủ tục hành chính (Quyết định 766/QĐ-TTg)"
    ws["A1"].font = Font(bold=True, size=13)
    ws["A2"] = f"Từ ngày {result.date_from} đến ngày {result.date_to}"
    ws["A3"] = f"Đơn vị: {result.agency}" if result.agency else "Đơn vị: tất cả đơn vị được xem"
    _header(ws, 5, [title for _, title in STATS_COLUMNS])
    r = 6
    for item in [*result.rows, result.total]:
        d = item.model_dump()
        for c, (name, _) in enumerate(STATS_COLUMNS, start=1):
            value = d[name]
            if name == "agency_code" and value == "*":
                value = "Tất cả"
            cell = ws.cell(row=r, column=c, value=value)
            if name in _RATES:
                cell.number_format = "0.00"
            if item is result.total:
                cell.font = Font(bold=True)
        r += 1
    ws.freeze_panes = "D6"
    _widths(ws, [12, 12, 48] + [14] * (len(STATS_COLUMNS) - 3))
    return _save(wb)


WORKLIST_SHEETS = (("processing", "Đang xử lý"), ("intake", "Chờ tiếp nhận"), ("finished", "Chờ trả kết quả"))
WORKLIST_HEADERS = ["Mã hồ sơ", "Mã thủ tục", "Tên thủ tục", "Người nộp", "Kênh", "Ngày nộp", "Ngày tiếp nhận",
                    "Hạn xử lý", "Trạng thái", "Tình trạng", "Cán bộ đang xử lý"]
CHANNELS = {"online": "Trực tuyến", "counter": "Trực tiếp", "post": "Bưu chính"}
URGENCY = {"late": "Quá hạn", "nearly_late": "Sắp đến hạn", "ok": ""}


def _local(at: datetime | None) -> datetime | None:
    return at.astimezone(VN_TZ).replace(tzinfo=None) if at is not None else None


def worklist_workbook(lists: Mapping[str, Sequence[Any]], marks: Mapping[str, str], names: Mapping[str, str]) -> bytes:
    """The officer's worklist — one sheet per list, in the order of the page — as an XLSX file."""
    from openpyxl import Workbook
    from openpyxl.styles import PatternFill

    wb = Workbook()
    first = wb.active
    assert first is not None
    wb.remove(first)
    late_fill = PatternFill("solid", fgColor="FDECEC")
    nearly_fill = PatternFill("solid", fgColor="FFF6E0")
    for key, title in WORKLIST_SHEETS:
        ws = wb.create_sheet(title)
        _header(ws, 1, WORKLIST_HEADERS)
        for r, d in enumerate(lists.get(key, []), start=2):
            mark = marks.get(d.id, "ok")
            values = [d.code, d.procedure_code, names.get(d.procedure_id, d.procedure_code), d.applicant_name,
                      CHANNELS.get(d.channel, d.channel), _local(d.submitted_at), _local(d.received_at),
                      _local(d.extended_due_at or d.due_at), STATUS_LABELS.get(Status(d.status), str(d.status)),
                      URGENCY.get(mark, ""), d.claimed_by_name or ""]
            for c, value in enumerate(values, start=1):
                cell = ws.cell(row=r, column=c, value=value)
                if isinstance(value, datetime):
                    cell.number_format = "dd/mm/yyyy hh:mm"
                if mark == "late":
                    cell.fill = late_fill
                elif mark == "nearly_late":
                    cell.fill = nearly_fill
        ws.freeze_panes = "B2"
        _widths(ws, [20, 12, 48, 24, 12, 17, 17, 17, 22, 14, 22])
    return _save(wb)
