"""Logs: JSON lines with request ids, personal data masked in every record."""

from __future__ import annotations

import io
import json
import logging
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartprovince.core.logs import JsonFormatter, configure_logging, mask_pii, request_id_var


@pytest.fixture
def captured(capsys: pytest.CaptureFixture[str]):
    """Configure logging as the app does and return a function giving the JSON lines written so far."""
    handler = configure_logging(SimpleNamespace(log_level="DEBUG", log_json=True))
    yield lambda: [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    logging.getLogger().removeHandler(handler)


def test_known_examples_are_masked() -> None:
    assert mask_pii("CCCD 030095001234") == "CCCD *********234"
    assert mask_pii("gọi 0912345678 hoặc 0912 345 678 hoặc 0912.345.678") == (
        "gọi *******678 hoặc *******678 hoặc *******678"
    )
    assert mask_pii("+84912345678, (+84) 912 345 678") == "********678, ********678"
    assert mask_pii("số bàn 02203 852 123") == "số bàn ********123"
    assert mask_pii("thư an.nguyen@haiduong.gov.vn") == "thư a***@haiduong.gov.vn"


def test_ids_dates_and_amounts_are_left_alone() -> None:
    text = "dossier 0193a8b2c3d4e5f60718293a4b5c6d7e at 2026-03-02T09:15:00+07:00 fee 150000 VND, year 2026"
    assert mask_pii(text) == text
    assert mask_pii("order 1234567890123 items") == "order 1234567890123 items"  # 13 digits: not a CCCD


def test_masking_twice_changes_nothing() -> None:
    once = mask_pii("030095001234 0912345678 a.b@c.vn")
    assert mask_pii(once) == once


cccd = st.from_regex(r"\A0[0-9]{11}\Z", fullmatch=True)
mobile = st.from_regex(r"\A0[35789][0-9]{8}\Z", fullmatch=True)
intl = st.from_regex(r"\A\+84[35789][0-9]{8}\Z", fullmatch=True)
email = st.from_regex(r"\A[a-z][a-z0-9._]{0,15}@[a-z]{2,10}\.(vn|com|gov\.vn)\Z", fullmatch=True)
filler = st.text(alphabet=st.sampled_from(list("abc xyzđươ,.:;()-")), max_size=20)


@given(st.lists(st.tuples(filler, st.one_of(cccd, mobile, intl, email)), min_size=1, max_size=4), filler)
def test_any_personal_data_in_text_is_masked(parts: list[tuple[str, str]], tail: str) -> None:
    # Separate each value from its neighbours the way real text does (a space).
    text = " ".join(f"{before} {value}" for before, value in parts) + " " + tail
    masked = mask_pii(text)
    for _, value in parts:
        assert value not in masked


def test_json_lines_have_the_fields_and_request_id(captured) -> None:
    log = logging.getLogger("smartprovince.test")
    token = request_id_var.set("req-123")
    try:
        log.info("dossier %s received", "HS-1", extra={"dossier_id": "HS-1"})
    finally:
        request_id_var.reset(token)
    log.warning("outside any request")
    first, second = [line for line in captured() if line["logger"] == "smartprovince.test"]
    assert first["msg"] == "dossier HS-1 received"
    assert first["level"] == "INFO"
    assert first["request_id"] == "req-123"
    assert first["dossier_id"] == "HS-1"
    assert first["ts"].endswith("+00:00")
    assert second["request_id"] is None and second["level"] == "WARNING"


def test_filter_masks_message_args_extras_and_exceptions(captured) -> None:
    log = logging.getLogger("smartprovince.test")
    log.info("citizen %s phone %s", "030095001234", 912345678)
    log.info("payload %s", {"email": "an.nguyen@gmail.com", "phone": "0987654321"})
    log.info("user updated", extra={"contact": "0987654321", "nested": {"cccd": "030095001234"}})
    try:
        raise ValueError("bad CCCD 030095001234")
    except ValueError:
        log.exception("failed for an.nguyen@gmail.com")
    output = json.dumps(captured(), ensure_ascii=False)
    for secret in ("030095001234", "0987654321", "an.nguyen@gmail.com"):
        assert secret not in output
    assert "*********234" in output


def test_children_loggers_are_masked_too(captured) -> None:
    logging.getLogger("uvicorn.error").warning("client sent 0912345678")
    logging.getLogger("some.library.deep").error("mail a.b@example.com")
    text = json.dumps(captured())
    assert "0912345678" not in text and "a.b@example.com" not in text


def test_level_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr", io.StringIO())
    handler = configure_logging(SimpleNamespace(log_level="WARNING", log_json=False))
    try:
        assert logging.getLogger().level == logging.WARNING
        record = logging.LogRecord("x", logging.ERROR, "f", 1, "call 0912345678", None, None)
        for f in handler.filters:
            f.filter(record)
        line = handler.format(record)
        assert "0912345678" not in line and "*******678" in line
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)


def test_configure_twice_keeps_one_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr", io.StringIO())
    settings = SimpleNamespace(log_level="INFO", log_json=True)
    configure_logging(settings)
    handler = configure_logging(settings)
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_smartprovince_handler", False)]
    assert ours == [handler]
    logging.getLogger().removeHandler(handler)


def test_formatter_is_valid_json_for_odd_values() -> None:
    record = logging.LogRecord("x", logging.INFO, "f", 1, "hello %s", (object(),), None)
    record.request_id = None
    data = json.loads(JsonFormatter().format(record))
    assert data["msg"].startswith("hello <object")
