"""Payment platform adapter (nền tảng thanh toán) — create a payment order, verify signed callbacks.

Protocol with the platform (the same for the real HTTP client and the built-in simulator):

1. **Create an order.** We ``POST {payment_url}/v1/orders`` a JSON body ``{"merchant_id", "order_id"
   (our payment id), "amount" (VND), "currency": "VND", "description", "callback_url"}`` with the
   header ``X-Signature: hex(HMAC-SHA256(secret, raw body))``. The platform answers ``201`` with
   ``{"order_id", "pay_url"}``: the page where the payer chooses a bank or scans the VietQR.
2. **Callback.** When the money arrives the platform ``POST``s to ``callback_url`` the JSON
   ``{"order_id", "provider_ref" (its unique transaction id), "amount", "status": "paid",
   "paid_at"}``, signed the same way in ``X-Signature``. We verify the signature, the amount and the
   order, then record the payment. The platform repeats the callback until it gets a ``2xx``; a
   repeat with the same ``provider_ref`` changes nothing (idempotent).

``SimulatedPaymentPlatform`` plays the platform inside our own app (routes under
``/portal/payment-simulator`` and ``/api/v1/procedures/payment-simulator``) so the whole path runs
with no outside system.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from smartprovince.core.clock import now

if TYPE_CHECKING:  # httpx is imported where a request is made: the app starts without it (memory)
    import httpx

SIGNATURE_HEADER = "X-Signature"


def sign(secret: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of the raw body with the shared secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    """True when ``signature`` is the HMAC of ``body`` (compared in constant time)."""
    return bool(signature) and hmac.compare_digest(sign(secret, body), str(signature).strip().lower())


@dataclass(frozen=True)
class PaymentOrder:
    """What we ask the platform to collect: one fee payment request of one dossier."""

    order_id: str
    amount: int
    description: str
    callback_url: str


@dataclass(frozen=True)
class CreatedOrder:
    """The platform's answer: its id for the order and the page where the payer pays."""

    order_id: str
    pay_url: str


class PaymentError(Exception):
    """The platform could not be reached or refused the order."""


class PaymentPlatform(Protocol):
    """The interface of a payment platform."""

    name: str

    def create_order(self, order: PaymentOrder) -> CreatedOrder:
        """Register the order at the platform; raises :class:`PaymentError`."""
        ...


class HttpPaymentPlatform:
    """The real platform over HTTPS (configured by ``SMARTPROVINCE_PROCEDURES_PAYMENT_*``)."""

    name = "http"

    def __init__(self, base_url: str, merchant_id: str, secret: str, *, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.merchant_id = merchant_id
        self.secret = secret
        self.timeout = timeout
        self.transport = transport

    def create_order(self, order: PaymentOrder) -> CreatedOrder:
        import httpx

        body = orjson.dumps({"merchant_id": self.merchant_id, "order_id": order.order_id, "amount": order.amount,
                             "currency": "VND", "description": order.description,
                             "callback_url": order.callback_url})
        try:
            with httpx.Client(timeout=self.timeout, transport=self.transport) as client:
                r = client.post(f"{self.base_url}/v1/orders", content=body, headers={
                    "Content-Type": "application/json", SIGNATURE_HEADER: sign(self.secret, body)})
        except httpx.HTTPError as exc:
            raise PaymentError(f"payment platform unreachable: {exc.__class__.__name__}") from exc
        if r.status_code not in (200, 201):
            raise PaymentError(f"payment platform answered {r.status_code}")
        data = r.json()
        return CreatedOrder(order_id=str(data.get("order_id") or order.order_id), pay_url=str(data["pay_url"]))


class SimulatedPaymentPlatform:
    """The built-in simulator: the pay page is our own simulator route."""

    name = "simulator"

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def create_order(self, order: PaymentOrder) -> CreatedOrder:
        return CreatedOrder(order_id=order.order_id,
                            pay_url=f"/portal/payment-simulator/{order.order_id}")

    def build_callback(self, *, order_id: str, amount: int) -> tuple[bytes, dict[str, str]]:
        """The signed callback the platform sends once the payer has paid: (body, headers)."""
        body = orjson.dumps({"order_id": order_id, "provider_ref": "SIM" + secrets.token_hex(8).upper(),
                             "amount": amount, "status": "paid", "paid_at": now().isoformat()})
        return body, {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self.secret, body)}


def deliver_callback(url: str, body: bytes, headers: dict[str, str]) -> int:
    """Post a callback like the platform does (a few attempts); returns the last HTTP status (0 = unreachable).

    Tests replace this function to send through their in-process client.
    """
    import httpx

    status = 0
    for _ in range(3):
        try:
            status = httpx.post(url, content=body, headers=headers, timeout=10.0).status_code
        except httpx.HTTPError:
            status = 0
        if 200 <= status < 300:
            break
    return status


def parse_callback(body: bytes) -> dict[str, Any]:
    """Decode a callback body; raises ``ValueError`` when it is not the expected JSON object."""
    data = orjson.loads(body)
    if not isinstance(data, dict):
        raise ValueError("callback must be a JSON object")
    for key in ("order_id", "provider_ref", "amount", "status"):
        if key not in data:
            raise ValueError(f"callback lacks '{key}'")
    if not isinstance(data["amount"], int) or isinstance(data["amount"], bool):
        raise ValueError("amount must be a whole number")
    if not isinstance(data["order_id"], str) or not isinstance(data["provider_ref"], str):
        raise ValueError("order_id and provider_ref must be text")
    if not 1 <= len(data["provider_ref"]) <= 100 or not 1 <= len(data["order_id"]) <= 32:
        raise ValueError("order_id or provider_ref has a bad length")
    return data


def platform_from_settings(settings: Any) -> PaymentPlatform:
    """The adapter chosen by ``payment_backend`` (the one place where it is wired)."""
    if settings.payment_backend == "http":
        return HttpPaymentPlatform(settings.payment_url, settings.payment_merchant_id, settings.payment_secret,
                                   timeout=settings.payment_timeout_seconds)
    return SimulatedPaymentPlatform(settings.payment_secret)
