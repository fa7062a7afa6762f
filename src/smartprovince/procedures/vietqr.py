"""VietQR — the NAPAS payment QR code (EMVCo Merchant-Presented Mode) for fee payments.

A VietQR payload is a list of ``ID (2 digits) + length (2 digits) + value`` fields. The fields we
write:

* ``00`` payload format ``01``; ``01`` point of initiation ``12`` (dynamic: the amount is fixed);
* ``38`` merchant account information, a nested template: ``00`` the NAPAS GUID ``A000000727``,
  ``01`` the beneficiary (``00`` bank BIN, ``01`` account number), ``02`` service ``QRIBFTTA``
  (transfer to an account);
* ``53`` currency ``704`` (VND), ``54`` amount, ``58`` country ``VN``;
* ``62`` additional data, ``08`` purpose of the transfer (we put the dossier code there so the
  bank statement can be matched);
* ``63`` CRC16-CCITT (polynomial 0x1021, start 0xFFFF) over everything before it, ``6304`` included.
"""

from __future__ import annotations

import re
import unicodedata

import segno

NAPAS_GUID = "A000000727"
SERVICE_TO_ACCOUNT = "QRIBFTTA"


def crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (the checksum EMVCo QR codes use)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def _field(tag: str, value: str) -> str:
    if len(value) > 99:
        raise ValueError(f"EMVCo field {tag} is longer than 99 characters")
    return f"{tag}{len(value):02d}{value}"


def ascii_text(text: str, limit: int) -> str:
    """Text without Vietnamese diacritics, only letters, digits, space and ``-``, cut to ``limit``."""
    text = text.replace("đ", "d").replace("Đ", "D")
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9 \-]", "", plain)[:limit].strip()


def build_payload(*, bank_bin: str, account: str, amount: int, purpose: str = "") -> str:
    """The VietQR text for a transfer of ``amount`` VND to ``account`` at the bank ``bank_bin``."""
    if not re.fullmatch(r"\d{6}", bank_bin):
        raise ValueError("bank BIN must be 6 digits")
    if not re.fullmatch(r"[0-9A-Za-z]{1,19}", account):
        raise ValueError("account must be 1-19 letters or digits")
    if amount <= 0 or amount > 9_999_999_999_999:
        raise ValueError("amount must be a positive whole number of VND")
    beneficiary = _field("00", bank_bin) + _field("01", account)
    merchant = _field("00", NAPAS_GUID) + _field("01", beneficiary) + _field("02", SERVICE_TO_ACCOUNT)
    body = (_field("00", "01") + _field("01", "12") + _field("38", merchant) + _field("53", "704")
            + _field("54", str(int(amount))) + _field("58", "VN"))
    purpose = ascii_text(purpose, 25)
    if purpose:
        body += _field("62", _field("08", purpose))
    body += "6304"
    return body + f"{crc16_ccitt(body.encode('ascii')):04X}"


def parse_fields(payload: str) -> dict[str, str]:
    """Split an EMVCo payload into ``{tag: value}`` (one level); raises ``ValueError`` when malformed."""
    out: dict[str, str] = {}
    i = 0
    while i < len(payload):
        if i + 4 > len(payload):
            raise ValueError("truncated field header")
        tag, length = payload[i:i + 2], int(payload[i + 2:i + 4])
        value = payload[i + 4:i + 4 + length]
        if len(value) != length:
            raise ValueError("truncated field value")
        out[tag] = value
        i += 4 + length
    return out


def check_crc(payload: str) -> bool:
    """True when the last field is a CRC that matches the rest of the payload."""
    if len(payload) < 8 or payload[-8:-4] != "6304":
        return False
    return f"{crc16_ccitt(payload[:-4].encode('ascii')):04X}" == payload[-4:]


def qr_svg(payload: str, *, scale: int = 5) -> bytes:
    """The payload as a QR code image (SVG), medium error correction, with a quiet zone."""
    import io

    buf = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(buf, kind="svg", scale=scale, border=4, xmldecl=False)
    return buf.getvalue()


def qr_png(payload: str, *, scale: int = 5) -> bytes:
    """The payload (or any text, e.g. a tracking URL) as a PNG QR code image."""
    import io

    buf = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(buf, kind="png", scale=scale, border=4)
    return buf.getvalue()
