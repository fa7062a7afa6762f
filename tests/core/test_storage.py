"""File storage: content addresses, size limit, real type by magic bytes, atomic writes."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from smartprovince.core import storage as st
from smartprovince.core.errors import BadRequest, NotFound, PayloadTooLarge, UnsupportedMediaType
from smartprovince.core.storage import Storage, detect_type, safe_filename

PDF_BYTES = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 20
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20


def office_zip(kind: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml" if kind == "docx" else "xl/workbook.xml", "<x/>")
    return buf.getvalue()


def plain_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("payload.exe", "MZ")
    return buf.getvalue()


@pytest.fixture
def storage(settings) -> Storage:
    return Storage(settings)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (PDF_BYTES, st.PDF),
        (PNG_BYTES, st.PNG),
        (JPEG_BYTES, st.JPEG),
        (office_zip("docx"), st.DOCX),
        (office_zip("xlsx"), st.XLSX),
        (b'<?xml version="1.0" encoding="UTF-8"?><hoSo/>', st.XML),
        ('{"tên": "Nguyễn Văn An"}'.encode(), st.JSON),
        (b"[1, 2, 3]", st.JSON),
        ("mã,tên\n30,Hải Dương\n".encode(), st.TEXT),
        (b"\xef\xbb\xbfma,ten\n1,2\n", st.TEXT),
        (b"{not json", st.TEXT),
        (b"MZ\x90\x00\x03\x00\x00\x00", None),  # a Windows program
        (plain_zip(), None),
        (b"\x00\x01\x02binary", None),
        ("café".encode("latin-1"), None),  # not UTF-8
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00isommp42", st.MP4),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ", st.MOV),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm\x42\x87\x81\x02", st.WEBM),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska", None),  # Matroska, not WebM
    ],
    # zip bytes carry a timestamp: stable ids so the xdist workers collect the same tests
    ids=lambda v: f"{v[:8].hex()}-{len(v)}" if isinstance(v, bytes) else str(v),
)
def test_detect_type(data: bytes, expected: str | None) -> None:
    assert detect_type(data) == expected


def test_save_and_open_by_content_address(storage: Storage, settings) -> None:
    saved = storage.save(PDF_BYTES, filename="don-de-nghi.pdf", content_type="application/pdf", allowed_types=[st.PDF])
    assert saved.size == len(PDF_BYTES)
    assert saved.content_type == st.PDF
    assert saved.filename == "don-de-nghi.pdf"
    assert len(saved.key) == 64
    assert storage.open(saved.key) == PDF_BYTES
    assert storage.path(saved.key).is_relative_to(Path(settings.data_dir) / "files")
    again = storage.save(PDF_BYTES, filename="copy.pdf", content_type=None, allowed_types=[st.PDF])
    assert again.key == saved.key  # same bytes, stored once
    assert storage.exists(saved.key)


def test_too_large_is_413(storage: Storage) -> None:
    with pytest.raises(PayloadTooLarge) as info:
        storage.save(PDF_BYTES, filename="a.pdf", content_type=st.PDF, allowed_types=[st.PDF], max_bytes=10)
    assert info.value.status == 413
    assert info.value.extra["max_bytes"] == 10


def test_setting_is_the_default_limit(settings) -> None:
    small = Storage(settings.model_copy(update={"max_upload_bytes": 20}))
    with pytest.raises(PayloadTooLarge):
        small.save(PDF_BYTES, filename="a.pdf", content_type=st.PDF, allowed_types=[st.PDF])
    assert small.save(b"%PDF-1.4 tiny", filename="a.pdf", content_type=st.PDF, allowed_types=[st.PDF]).size == 13


def test_type_not_allowed_is_415(storage: Storage) -> None:
    with pytest.raises(UnsupportedMediaType) as info:
        storage.save(PNG_BYTES, filename="a.png", content_type="image/png", allowed_types=[st.PDF])
    assert info.value.status == 415
    assert info.value.extra["detected_type"] == st.PNG


def test_lying_about_the_type_is_415(storage: Storage) -> None:
    with pytest.raises(UnsupportedMediaType):
        storage.save(b"MZ\x90\x00 evil", filename="scan.pdf", content_type="application/pdf", allowed_types=[st.PDF])
    with pytest.raises(UnsupportedMediaType):
        storage.save(PNG_BYTES, filename="x.pdf", content_type=st.PDF, allowed_types=[st.PDF, st.PNG])
    with pytest.raises(UnsupportedMediaType):  # any zip is not a docx
        storage.save(plain_zip(), filename="x.docx", content_type=st.DOCX, allowed_types=[st.DOCX])


def test_text_formats(storage: Storage) -> None:
    csv = "mã,tên\n30,Hải Dương\n".encode()
    assert (
        storage.save(csv, filename="dvhc.csv", content_type="text/csv", allowed_types=[st.CSV]).content_type == st.CSV
    )
    undeclared = storage.save(csv, filename="dvhc.csv", content_type="application/octet-stream", allowed_types=[st.CSV])
    assert undeclared.content_type == st.CSV
    as_text = storage.save(b'{"a": 1}', filename="a.txt", content_type="text/plain", allowed_types=[st.TEXT])
    assert as_text.content_type == st.TEXT
    with pytest.raises(UnsupportedMediaType):  # plain text is not JSON
        storage.save(b"hello", filename="a.json", content_type="application/json", allowed_types=[st.JSON])
    jpeg = storage.save(JPEG_BYTES, filename="anh.jpg", content_type="image/jpg; q=1", allowed_types=[st.JPEG])
    assert jpeg.content_type == st.JPEG


def test_empty_file_is_400(storage: Storage) -> None:
    with pytest.raises(BadRequest):
        storage.save(b"", filename="a.pdf", content_type=st.PDF, allowed_types=[st.PDF])


@pytest.mark.parametrize("key", ["../../etc/passwd", "abc", "A" * 64, "0" * 63 + "/"])
def test_bad_keys_are_not_found(storage: Storage, key: str) -> None:
    with pytest.raises(NotFound):
        storage.open(key)
    assert not storage.exists(key)


def test_missing_file_is_not_found(storage: Storage) -> None:
    with pytest.raises(NotFound):
        storage.open("0" * 64)


def test_filenames_are_sanitised() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\an\\Đơn đề nghị.pdf") == "Đơn đề nghị.pdf"
    assert safe_filename("a\x00b<>.pdf") == "ab.pdf"
    assert safe_filename("") == "file"
    assert safe_filename(None) == "file"


def test_failed_write_leaves_no_file(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        storage.save(PDF_BYTES, filename="a.pdf", content_type=st.PDF, allowed_types=[st.PDF])
    monkeypatch.undo()
    leftovers = [p for p in storage.root.rglob("*") if p.is_file()]
    assert leftovers == []
