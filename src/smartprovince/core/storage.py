"""File storage — uploaded documents (dossier attachments, report photos, data files).

Files live in a local folder (``DATA_DIR/files``). Each file is stored under its *content address*:
the SHA-256 of its bytes, written as 64 hex characters (``key``). The same bytes uploaded twice are
stored once. The storage keeps only bytes; the module that accepts an upload keeps the file name,
the type and the key in its own table.

Before a file is stored ``Storage.save`` checks:

* the size: more than ``max_bytes`` (default ``settings.max_upload_bytes``) → ``PayloadTooLarge`` (413);
* the *real* type, read from the first bytes ("magic bytes"), not from the name or the client's
  header: it must be one of ``allowed_types`` and agree with the declared ``content_type``, else
  ``UnsupportedMediaType`` (415). Known types: PDF, PNG, JPEG, DOCX and XLSX (ZIP containers), XML,
  JSON, CSV, plain UTF-8 text, and MP4 / QuickTime (an ISO-BMFF ``ftyp`` box first) and WebM (an EBML
  header naming the ``webm`` document type) videos. Only the header is read here: a module that accepts
  videos checks the rest of the file itself.

Writes are atomic: the bytes go to a temporary file in the same folder, are flushed to disk, then
renamed into place, so a reader never sees half a file.

Serving files back is the calling module's job: send them with ``Content-Disposition: attachment`` and
``X-Content-Type-Options: nosniff`` (an XML file may be an SVG image with a script inside).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from smartprovince.core.errors import BadRequest, NotFound, PayloadTooLarge, UnsupportedMediaType

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XML = "application/xml"
JSON = "application/json"
CSV = "text/csv"
TEXT = "text/plain"
MP4 = "video/mp4"
MOV = "video/quicktime"
WEBM = "video/webm"

DEFAULT_ALLOWED_TYPES: frozenset[str] = frozenset({PDF, PNG, JPEG, DOCX, XLSX, XML, JSON, CSV, TEXT})
"""The document types a module accepts by default (videos must be allowed by name); a module usually
allows a smaller set."""

# Declared types that mean the same as a detected one (clients are not consistent about these).
_ALIASES: dict[str, str] = {
    "image/jpg": JPEG,
    "image/pjpeg": JPEG,
    "text/xml": XML,
    "application/x-pdf": PDF,
    "text/json": JSON,
    "application/csv": CSV,
    "video/x-m4v": MP4,
    "audio/webm": WEBM,
}
# Declared types that tell us nothing: the detected type is used.
_GENERIC = frozenset({"", "application/octet-stream", "binary/octet-stream"})
# Text formats are also valid plain text: a detected JSON / XML / CSV file may be declared text/plain and
# a plain-text file may be declared text/csv (CSV has no magic bytes).
_TEXT_FAMILY = frozenset({TEXT, CSV, JSON, XML})

_KEY = re.compile(r"^[0-9a-f]{64}$")
_SNIFF_TEXT_BYTES = 64 * 1024


@dataclass(frozen=True)
class StoredFile:
    """A stored file: its ``key`` (SHA-256 hex), ``size`` in bytes, real ``content_type`` and ``filename``."""

    key: str
    size: int
    content_type: str
    filename: str


def _is_text(data: bytes) -> bool:
    head = data[:_SNIFF_TEXT_BYTES]
    if data.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The sample may end in the middle of a multi-byte character; only that is acceptable.
        if len(data) <= _SNIFF_TEXT_BYTES or exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    return not any(ord(c) < 32 and c not in "\t\n\r\f" for c in text)


def _zip_type(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    if "word/document.xml" in names:
        return DOCX
    if "xl/workbook.xml" in names:
        return XLSX
    return None


def _video_type(data: bytes) -> str | None:
    # ISO-BMFF (MP4, QuickTime, 3GP): the first box is ``ftyp`` with the major brand; "qt  " is QuickTime.
    if data[4:8] == b"ftyp" and len(data) >= 12:
        return MOV if data[8:12] == b"qt  " else MP4
    # Matroska / WebM: the EBML header; its DocType element (0x4282) says "webm" within the first bytes.
    if data.startswith(b"\x1a\x45\xdf\xa3") and b"\x42\x82\x84webm" in data[:64]:
        return WEBM
    return None


def detect_type(data: bytes) -> str | None:
    """The real type of ``data`` from its first bytes, or ``None`` when it is none of the known types."""
    video = _video_type(data)
    if video is not None:
        return video
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"PK\x03\x04"):
        return _zip_type(data)
    if not _is_text(data):
        return None
    stripped = data.lstrip(b"\xef\xbb\xbf").lstrip()
    lowered = stripped[:20].lower()
    if stripped.startswith(b"<") and not lowered.startswith((b"<!doctype html", b"<html")):
        return XML
    if stripped[:1] in (b"{", b"["):
        try:
            json.loads(data.decode("utf-8-sig"))
            return JSON
        except (ValueError, UnicodeDecodeError):
            pass
    return TEXT


def _normalise(content_type: str | None) -> str:
    value = (content_type or "").split(";", 1)[0].strip().lower()
    return _ALIASES.get(value, value)


def _accepted_type(detected: str, declared: str, allowed: frozenset[str]) -> str | None:
    """The type to record, or ``None`` when the file must be refused."""
    if declared in _GENERIC:
        # CSV has no magic bytes: an undeclared text file is CSV where only CSV is allowed.
        declared = CSV if detected == TEXT and TEXT not in allowed else detected
    if declared == detected and detected in allowed:
        return detected
    # A text file declared as another text format we can't tell apart by its bytes (CSV vs plain text,
    # JSON sent as text/plain): accept it as the declared type when that type is allowed.
    if detected in _TEXT_FAMILY and declared in (TEXT, CSV) and declared in allowed:
        return declared
    return None


def safe_filename(filename: str | None) -> str:
    """The last part of a client-sent file name, without folders or control characters (never empty)."""
    name = PureWindowsPath(PurePosixPath(filename or "").name).name
    name = "".join(c for c in name if ord(c) >= 32 and c not in '<>:"/\\|?*').strip(" .")
    return name[:255] or "file"


class Storage:
    """Content-addressed files in ``settings.data_dir / "files"`` (see the module docstring)."""

    def __init__(self, settings: Any, *, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else Path(settings.data_dir) / "files"
        self.max_bytes: int = int(settings.max_upload_bytes)

    def save(
        self,
        data: bytes,
        *,
        filename: str | None,
        content_type: str | None,
        allowed_types: Iterable[str] = DEFAULT_ALLOWED_TYPES,
        max_bytes: int | None = None,
    ) -> StoredFile:
        """Check and store ``data``; return its key, size and real type.

        Raises ``PayloadTooLarge`` (413) above ``max_bytes`` (default: the setting), ``UnsupportedMediaType``
        (415) when the real type is not allowed or differs from ``content_type``, ``BadRequest`` (400)
        for an empty file.
        """
        limit = self.max_bytes if max_bytes is None else max_bytes
        if len(data) > limit:
            raise PayloadTooLarge(
                f"The file is {len(data)} bytes; the limit is {limit} bytes.", max_bytes=limit, size=len(data)
            )
        if not data:
            raise BadRequest("The file is empty.", title="Empty file")
        allowed = frozenset(_normalise(t) for t in allowed_types)
        detected = detect_type(data)
        declared = _normalise(content_type)
        accepted = _accepted_type(detected, declared, allowed) if detected else None
        if accepted is None:
            raise UnsupportedMediaType(
                f"This file's content is {detected or 'of an unknown type'}"
                + (f" (declared {declared})" if declared and declared != detected else "")
                + "; accepted types: "
                + ", ".join(sorted(allowed))
                + ".",
                detected_type=detected,
                allowed_types=sorted(allowed),
            )
        key = hashlib.sha256(data).hexdigest()
        target = self.path(key)
        if not target.exists():
            self._write_atomically(target, data)
        return StoredFile(key=key, size=len(data), content_type=accepted, filename=safe_filename(filename))

    def _write_atomically(self, target: Path, data: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".upload-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.chmod(tmp_name, 0o640)
            os.replace(tmp_name, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise

    def path(self, key: str) -> Path:
        """Where the file with ``key`` lives (it may not exist); ``NotFound`` for a malformed key."""
        if not isinstance(key, str) or not _KEY.match(key):
            raise NotFound("No such file.")
        return self.root / key[:2] / key[2:4] / key

    def exists(self, key: str) -> bool:
        """Whether a file with ``key`` is stored."""
        try:
            return self.path(key).is_file()
        except NotFound:
            return False

    def open(self, key: str) -> bytes:
        """The bytes of the file with ``key``; ``NotFound`` (404) when there is none."""
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound("No such file.") from exc
