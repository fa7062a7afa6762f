"""Biểu mẫu — the printable forms of a dossier as PDF, in Vietnamese (ReportLab with the DejaVu fonts).

* ``receipt`` — Giấy tiếp nhận hồ sơ và hẹn trả kết quả, with a QR code that opens the tracking page;
* ``supplement`` — Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ;
* ``refusal`` — Phiếu từ chối tiếp nhận giải quyết hồ sơ;
* ``apology`` — Phiếu xin lỗi và hẹn lại ngày trả kết quả;
* ``control`` — Phiếu kiểm soát quá trình giải quyết hồ sơ: every hand-over, with on time / late;
* :func:`fee_receipt` — Biên lai thu phí, lệ phí for one paid fee.

The shapes follow the forms of Circular 01/2023/TT-VPCP (headings, the fields and the signature
block); each function returns the PDF bytes. The fonts must contain Vietnamese letters: DejaVu Sans
(Debian package ``fonts-dejavu-core``) is looked up in the usual places.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from smartprovince.core.clock import VN_TZ
from smartprovince.procedures import vietqr

FORM_TITLES = {
    "receipt": "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
    "supplement": "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ",
    "refusal": "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ",
    "apology": "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ",
    "control": "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ",
}
"""Form kind → the title printed on it."""

_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/local/share/fonts")
_fonts_ready = False


class FontMissing(RuntimeError):
    """No font with Vietnamese letters was found (install ``fonts-dejavu-core``)."""


def _register_fonts() -> None:
    global _fonts_ready
    if _fonts_ready:
        return
    for folder in _FONT_DIRS:
        regular, bold = Path(folder, "DejaVuSans.ttf"), Path(folder, "DejaVuSans-Bold.ttf")
        if regular.exists() and bold.exists():
            pdfmetrics.registerFont(TTFont("DejaVu", str(regular)))
            pdfmetrics.registerFont(TTFont("DejaVu-Bold", str(bold)))
            _fonts_ready = True
            return
    raise FontMissing("DejaVu Sans not found; install the Debian package fonts-dejavu-core")


def _styles() -> dict[str, ParagraphStyle]:
    _register_fonts()
    base = ParagraphStyle("base", fontName="DejaVu", fontSize=10.5, leading=14)
    return {
        "base": base,
        "center": ParagraphStyle("center", parent=base, alignment=TA_CENTER),
        "bold_center": ParagraphStyle("bc", parent=base, fontName="DejaVu-Bold", alignment=TA_CENTER),
        "title": ParagraphStyle("title", parent=base, fontName="DejaVu-Bold", fontSize=13.5, leading=18,
                                alignment=TA_CENTER, spaceBefore=6, spaceAfter=8),
        "small": ParagraphStyle("small", parent=base, fontSize=8.5, leading=11),
    }


def _esc(text: object) -> str:
    return str(text if text is not None else "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def vn_time(at: datetime | None) -> str:
    """``HH:MM ngày DD/MM/YYYY`` in Vietnam time, or an empty string."""
    if at is None:
        return ""
    local = at.astimezone(VN_TZ)
    return f"{local:%H:%M} ngày {local:%d/%m/%Y}"


@dataclass(frozen=True)
class FormDossier:
    """What a form prints about a dossier (filled by the caller from the database)."""

    code: str
    lookup_key: str
    procedure_name: str
    agency_name: str
    applicant_name: str
    applicant_cccd: str | None
    applicant_phone: str | None
    applicant_address: str
    channel: str
    submitted_at: datetime
    received_at: datetime | None
    due_at: datetime | None
    extended_due_at: datetime | None
    documents: Sequence[str]
    officer_name: str = ""


@dataclass(frozen=True)
class HandOver:
    """One line of the process-control sheet."""

    step: str
    actor_name: str
    at: datetime
    due: datetime | None
    note: str = ""


def _header(st: dict[str, ParagraphStyle], agency: str) -> Table:
    left = [Paragraph(_esc(agency.upper()), st["bold_center"])]
    right = [Paragraph("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", st["bold_center"]),
             Paragraph("Độc lập - Tự do - Hạnh phúc", st["bold_center"])]
    t = Table([[left, right]], colWidths=[70 * mm, 105 * mm])
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return t


def _props(st: dict[str, ParagraphStyle], rows: Sequence[tuple[str, str]]) -> Table:
    data = [[Paragraph(_esc(k), st["base"]), Paragraph(_esc(v), st["base"])] for k, v in rows]
    t = Table(data, colWidths=[50 * mm, 125 * mm])
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]))
    return t


def _signature(st: dict[str, ParagraphStyle], left: str, right: str, right_name: str = "") -> Table:
    t = Table([[Paragraph(_esc(left), st["bold_center"]),
                [Paragraph(_esc(right), st["bold_center"]), Spacer(1, 18 * mm),
                 Paragraph(_esc(right_name), st["center"])]]], colWidths=[87 * mm, 88 * mm])
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return t


def _build(flowables: list[object], title: str) -> bytes:
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=18 * mm, rightMargin=17 * mm, topMargin=15 * mm,
                            bottomMargin=15 * mm, title=title, author="Hệ thống giải quyết TTHC", lang="vi")
    doc.build(flowables)  # type: ignore[arg-type]
    return buf.getvalue()


def _common(st: dict[str, ParagraphStyle], d: FormDossier, kind: str) -> list[object]:
    return [_header(st, d.agency_name), Spacer(1, 4 * mm), Paragraph(FORM_TITLES[kind], st["title"]),
            Paragraph(f"Mã hồ sơ: <b>{_esc(d.code)}</b>", st["center"]), Spacer(1, 4 * mm)]


def _applicant(d: FormDossier) -> list[tuple[str, str]]:
    rows = [("Thủ tục", d.procedure_name), ("Người nộp", d.applicant_name)]
    if d.applicant_cccd:
        rows.append(("Số CCCD", d.applicant_cccd))
    if d.applicant_phone:
        rows.append(("Điện thoại", d.applicant_phone))
    if d.applicant_address:
        rows.append(("Địa chỉ", d.applicant_address))
    return rows


def receipt(d: FormDossier, *, tracking_url: str) -> bytes:
    """Giấy tiếp nhận hồ sơ và hẹn trả kết quả, with the tracking QR code and the lookup key."""
    st = _styles()
    out = _common(st, d, "receipt")
    channel = {"online": "Trực tuyến", "counter": "Trực tiếp", "post": "Bưu chính"}.get(d.channel, d.channel)
    out.append(_props(st, [*_applicant(d), ("Kênh nộp", channel), ("Nộp lúc", vn_time(d.submitted_at)),
                           ("Tiếp nhận lúc", vn_time(d.received_at)),
                           ("Hẹn trả kết quả", vn_time(d.extended_due_at or d.due_at))]))
    out.append(Spacer(1, 3 * mm))
    out.append(Paragraph("<b>Thành phần hồ sơ đã nhận:</b>", st["base"]))
    for i, name in enumerate(d.documents or ["(theo danh mục của thủ tục)"], 1):
        out.append(Paragraph(f"{i}. {_esc(name)}", st["base"]))
    out.append(Spacer(1, 4 * mm))
    qr = Image(io.BytesIO(vietqr.qr_png(tracking_url, scale=4)), width=32 * mm, height=32 * mm)
    note = Paragraph(f"Tra cứu tình trạng hồ sơ: quét mã QR hoặc vào trang tra cứu, nhập mã hồ sơ "
                     f"<b>{_esc(d.code)}</b> và mã tra cứu <b>{_esc(d.lookup_key)}</b>.", st["base"])
    t = Table([[qr, note]], colWidths=[38 * mm, 137 * mm])
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    out += [t, Spacer(1, 6 * mm), _signature(st, "NGƯỜI NỘP HỒ SƠ", "NGƯỜI TIẾP NHẬN HỒ SƠ", d.officer_name)]
    return _build(out, FORM_TITLES["receipt"])


def supplement(d: FormDossier, *, reason: str, asked_at: datetime | None) -> bytes:
    """Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ: what is missing and why."""
    st = _styles()
    out = _common(st, d, "supplement")
    out.append(_props(st, [*_applicant(d), ("Ngày yêu cầu", vn_time(asked_at))]))
    out += [Spacer(1, 3 * mm), Paragraph("<b>Nội dung yêu cầu bổ sung, hoàn thiện:</b>", st["base"]),
            Paragraph(_esc(reason), st["base"]), Spacer(1, 3 * mm),
            Paragraph("Thời gian bổ sung hồ sơ không tính vào thời hạn giải quyết. Xin ông/bà bổ sung hồ sơ "
                      "trực tuyến hoặc tại Bộ phận Một cửa.", st["base"]), Spacer(1, 6 * mm),
            _signature(st, "", "NGƯỜI HƯỚNG DẪN", d.officer_name)]
    return _build(out, FORM_TITLES["supplement"])


def refusal(d: FormDossier, *, reason: str, refused_at: datetime | None) -> bytes:
    """Phiếu từ chối tiếp nhận giải quyết hồ sơ, with the reason."""
    st = _styles()
    out = _common(st, d, "refusal")
    out.append(_props(st, [*_applicant(d), ("Ngày từ chối", vn_time(refused_at))]))
    out += [Spacer(1, 3 * mm), Paragraph("<b>Lý do từ chối:</b>", st["base"]), Paragraph(_esc(reason), st["base"]),
            Spacer(1, 6 * mm), _signature(st, "", "NGƯỜI TIẾP NHẬN HỒ SƠ", d.officer_name)]
    return _build(out, FORM_TITLES["refusal"])


def apology(d: FormDossier, *, reason: str, old_due: datetime | None, new_due: datetime | None) -> bytes:
    """Phiếu xin lỗi và hẹn lại ngày trả kết quả (the one extension of a late dossier)."""
    st = _styles()
    out = _common(st, d, "apology")
    out.append(_props(st, [*_applicant(d), ("Hẹn trả lần đầu", vn_time(old_due)),
                           ("Hẹn trả lại", vn_time(new_due))]))
    out += [Spacer(1, 3 * mm),
            Paragraph(f"Hồ sơ của ông/bà chưa giải quyết xong đúng hẹn. Lý do: {_esc(reason)}", st["base"]),
            Paragraph("Cơ quan giải quyết thành thật xin lỗi ông/bà vì sự chậm trễ này và hẹn trả kết quả vào "
                      "ngày ghi ở trên.", st["base"]),
            Spacer(1, 6 * mm), _signature(st, "", "THỦ TRƯỞNG CƠ QUAN", d.officer_name)]
    return _build(out, FORM_TITLES["apology"])


def control_sheet(d: FormDossier, handovers: Sequence[HandOver]) -> bytes:
    """Phiếu kiểm soát quá trình giải quyết hồ sơ: one line per hand-over, judged on time or late."""
    st = _styles()
    out = _common(st, d, "control")
    out.append(_props(st, [*_applicant(d)[:2], ("Tiếp nhận lúc", vn_time(d.received_at)),
                           ("Hẹn trả kết quả", vn_time(d.extended_due_at or d.due_at))]))
    out.append(Spacer(1, 3 * mm))
    rows: list[list[object]] = [[Paragraph(f"<b>{h}</b>", st["small"]) for h in
                                 ("STT", "Bước / việc", "Người thực hiện", "Thời điểm", "Hạn", "Kết quả")]]
    late_rows = []
    for i, h in enumerate(handovers, 1):
        late = h.due is not None and h.at > h.due
        if late:
            late_rows.append(i)
        rows.append([Paragraph(str(i), st["small"]), Paragraph(_esc(h.step), st["small"]),
                     Paragraph(_esc(h.actor_name), st["small"]), Paragraph(vn_time(h.at), st["small"]),
                     Paragraph(vn_time(h.due), st["small"]),
                     Paragraph("Trễ hạn" if late else "Đúng hạn", st["small"])])
    t = Table(rows, colWidths=[10 * mm, 45 * mm, 35 * mm, 32 * mm, 32 * mm, 21 * mm], repeatRows=1)
    style = [("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP"),
             ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f7"))]
    style += [("TEXTCOLOR", (5, r), (5, r), colors.HexColor("#b42318")) for r in late_rows]
    t.setStyle(TableStyle(style))
    out += [t, Spacer(1, 6 * mm), _signature(st, "", "BỘ PHẬN MỘT CỬA", d.officer_name)]
    return _build(out, FORM_TITLES["control"])


def fee_receipt(d: FormDossier, *, receipt_no: str, amount: int, description: str, method: str | None,
                paid_at: datetime | None, provider_ref: str | None) -> bytes:
    """Biên lai thu phí, lệ phí — for one paid fee request."""
    st = _styles()
    out = [_header(st, d.agency_name), Spacer(1, 4 * mm), Paragraph("BIÊN LAI THU PHÍ, LỆ PHÍ", st["title"]),
           Paragraph(f"Số: <b>{_esc(receipt_no)}</b>", st["center"]), Spacer(1, 4 * mm)]
    how = {"online": "Trực tuyến (cổng thanh toán)", "counter": "Tiền mặt tại Bộ phận Một cửa"}.get(method or "", "")
    rows = [("Mã hồ sơ", d.code), *_applicant(d), ("Nội dung thu", description or "Phí, lệ phí"),
            ("Số tiền", f"{amount:,} đồng".replace(",", ".")), ("Hình thức", how), ("Thời điểm", vn_time(paid_at))]
    if provider_ref:
        rows.append(("Mã giao dịch", provider_ref))
    out += [_props(st, rows), Spacer(1, 8 * mm), _signature(st, "NGƯỜI NỘP TIỀN", "NGƯỜI THU TIỀN")]
    return _build(out, "BIÊN LAI THU PHÍ, LỆ PHÍ")
