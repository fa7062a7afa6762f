"""Settings of the procedures module (environment variables ``SMARTPROVINCE_PROCEDURES_…``).

They live here rather than in the platform's ``settings.py`` because only this module reads them.
The defaults run everything against local simulators, so a fresh installation works offline.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProceduresSettings(BaseSettings):
    """Payment platform, VietQR account and national public-service portal settings."""

    model_config = SettingsConfigDict(env_prefix="SMARTPROVINCE_PROCEDURES_", extra="ignore")

    payment_backend: str = Field(
        "simulator", description="'simulator' (built-in platform simulator) or 'http' (the real payment platform).")
    payment_url: str = Field(
        "", description="Base URL of the payment platform API (PayGov / a bank gateway), used when backend is 'http'.")
    payment_merchant_id: str = Field("HAIDUONG-TTHC", description="Our merchant id at the payment platform.")
    payment_secret: str = Field(
        "dev-payment-secret-change-me",
        description="Shared HMAC-SHA256 key: signs our orders and verifies the platform's callbacks.")
    payment_callback_url: str = Field(
        "", description="Absolute URL of our callback endpoint given to the platform; empty = derived from the "
                        "request (http://host/api/v1/procedures/payments/callback).")
    payment_timeout_seconds: float = Field(10.0, description="HTTP timeout towards the payment platform.")
    vietqr_bank_bin: str = Field("970415", description="NAPAS BIN of the bank holding the fee account (6 digits).")
    vietqr_account: str = Field("113000006100", description="Account number that receives fees (State Treasury).")
    vietqr_account_name: str = Field("KHO BAC NHA NUOC HAI DUONG", description="Account holder shown to payers.")
    portal_backend: str = Field(
        "simulator", description="'simulator' (records pushes locally) or 'http' (the national portal's API).")
    portal_url: str = Field("", description="Base URL of the national public-service portal sync API.")
    portal_token: str = Field("", description="Bearer token for the national portal API.")
    portal_unit_code: str = Field("000.00.00.H23", description="Our unit code at the national portal (mã đơn vị).")


@lru_cache(maxsize=1)
def get_procedures_settings() -> ProceduresSettings:
    """The module settings, read once from the environment."""
    return ProceduresSettings()
